// How much validation traffic can the HTTP-01 responder answer on one core, and does its memory
// stay flat? startResponder with a lookup holding 10,000 live tokens runs in a child process
// pinned to core 0 (taskset, when present); autocannon drives it from this process, pinned to
// core 1, with GETs for random known tokens (90%) and unknown ones (10%, answered 404). After a
// warm-up, each round sends a fixed number of requests (default 1,000,000); the responder's VmRSS
// is read from /proc before and after every round.
//
// Run: npm run bench:responder [requests per round=1000000] [rounds=3] [connections=50]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MemoryChallengeStore } from '../src/http/memory-store.js';
import { CHALLENGE_PREFIX, startResponder } from '../src/http/responder.js';

/** The part of autocannon's programmatic API used here (it ships no types). */
interface AutocannonRequest {
  method?: string;
  path: string;
}
interface AutocannonOptions {
  url: string;
  connections: number;
  pipelining?: number;
  amount?: number;
  duration?: number;
  timeout?: number;
  reconnectRate?: number;
  requests?: AutocannonRequest[];
}
interface AutocannonHistogram {
  average: number;
  p50: number;
  p99: number;
  max: number;
}
interface AutocannonResult {
  /** `total` counts recorded responses; `sent` every request written. */
  requests: AutocannonHistogram & { total: number; sent: number };
  latency: AutocannonHistogram;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
}
type Autocannon = (opts: AutocannonOptions, cb: (err: Error | null, result: AutocannonResult) => void) => unknown;

// autocannon is CommonJS without type declarations; require it and give it the shape above.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function run(opts: AutocannonOptions): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

const b64url = (s: string) => createHash('sha256').update(s).digest('base64url');
/** Deterministic, so both processes know the tokens without passing 10,000 of them around. */
const token = (i: number) => b64url(`certkeeper-bench-token-${i}`);
const THUMBPRINT = b64url('certkeeper-bench-account');
/**
 * startResponder sets server.maxRequestsPerSocket = 100: the 100th response on a connection says
 * "Connection: close" and Node answers anything after it with 503. autocannon ignores that header,
 * so it must reconnect on its own every 100 requests or it measures 503s. (autocannon drops the
 * response that triggers its reconnect from its statistics: 1% of responses are served but not
 * counted by status or latency; requests/s below counts every request sent and answered.)
 */
const RECONNECT_EVERY = 100;

/** The responder process: 10,000 live answers in the same store `issue` and `renew` use. */
async function worker(tokens: number): Promise<void> {
  const store = new MemoryChallengeStore();
  await store.publish(Array.from({ length: tokens }, (_, i) => ({ token: token(i), keyAuthorization: `${token(i)}.${THUMBPRINT}`, host: `h${i}.example.test` })));
  const responder = await startResponder({ lookup: store, port: 0, host: '127.0.0.1' });
  process.stdout.write(`${JSON.stringify({ port: responder.address.port, size: store.size })}\n`);
  // Stops when the parent closes stdin (or dies).
  process.stdin.resume();
  process.stdin.on('end', () => {
    void responder.close().then(() => process.exit(0));
  });
}

async function startWorker(tokens: number, pin: boolean): Promise<{ child: ChildProcess; port: number }> {
  const args = [fileURLToPath(import.meta.url), 'worker', String(tokens)];
  const child = pin ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }) : spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`the responder exited with ${code} before listening`)));
  });
  return { child, port };
}

/** CPU time (user + system) of a process so far, in ms, from /proc/<pid>/stat. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15, in clock ticks (USER_HZ = 100).
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

/** 90% known tokens, 10% unknown (well-formed, never published), in random order. */
function requestMix(tokens: number, count: number): AutocannonRequest[] {
  return Array.from({ length: count }, (_, i) => ({
    method: 'GET',
    path: `${CHALLENGE_PREFIX}${i % 10 === 9 ? b64url(`unknown-${i}`) : token(randomInt(tokens))}`,
  }));
}

async function wrkFigure(port: number): Promise<string | undefined> {
  const { which } = await import('./issue.js');
  const wrk = await which('wrk');
  if (!wrk) return undefined;
  const r = spawnSync(wrk, ['-t1', '-c50', '-d10s', '--latency', `http://127.0.0.1:${port}${CHALLENGE_PREFIX}${token(0)}`], { encoding: 'utf8' });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1];
  const p99 = /99%\s+([\d.]+\w+)/.exec(r.stdout)?.[1];
  return `wrk -t1 -c50 -d10s (one known token): ${rps ?? '?'} requests/s, p99 ${p99 ?? '?'}`;
}

export interface ResponderBenchOptions {
  requests?: number;
  rounds?: number;
  connections?: number;
  tokens?: number;
}

export async function benchResponder(options: ResponderBenchOptions = {}): Promise<void> {
  const amount = options.requests ?? 1_000_000;
  const rounds = options.rounds ?? 3;
  const connections = options.connections ?? 50;
  const tokens = options.tokens ?? 10_000;
  // Imported here, not at the top: the responder process must not load the ACME stack the
  // issue benchmark's helpers pull in, or its RSS would not be the responder's.
  const { machineLine, median, mib, printTable, rssOf, which } = await import('./issue.js');
  const pin = (await which('taskset')) !== undefined && cpus().length >= 2;
  if (pin) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  console.log(`certkeeper responder benchmark: ${machineLine()}`);
  console.log(
    `${tokens} live tokens; autocannon ${connections} connections, no pipelining; ${rounds} rounds of ${amount} requests; ` +
      (pin ? 'responder pinned to core 0, load generator to core 1 (taskset)' : 'not pinned (taskset missing or one core)'),
  );
  const { child, port } = await startWorker(tokens, pin);
  const pid = child.pid ?? 0;
  try {
    const mix = requestMix(tokens, 2000);
    const url = `http://127.0.0.1:${port}`;
    const rssStart = rssOf(pid) ?? NaN;
    await run({ url, connections, amount: Math.min(100_000, amount), reconnectRate: RECONNECT_EVERY, requests: mix });
    const rssWarm = rssOf(pid) ?? NaN;
    const rows: string[][] = [];
    const rps: number[] = [];
    const p99s: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`round ${round}/${rounds}: ${amount} requests…\n`);
      const before = rssOf(pid) ?? NaN;
      const cpu0 = cpuMsOf(pid);
      const own0 = process.cpuUsage();
      const r = await run({ url, connections, amount, reconnectRate: RECONNECT_EVERY, requests: mix, timeout: 10 });
      const after = rssOf(pid) ?? NaN;
      const busy = (cpuMsOf(pid) - cpu0) / (r.duration * 1000);
      const own = process.cpuUsage(own0);
      const generator = (own.user + own.system) / 1000 / (r.duration * 1000);
      const total = r.requests.sent;
      const perSecond = total / r.duration;
      const found = r.statusCodeStats['200']?.count ?? 0;
      const missing = r.statusCodeStats['404']?.count ?? 0;
      const other = Object.entries(r.statusCodeStats).filter(([code]) => code !== '200' && code !== '404');
      if (other.length > 0) throw new Error(`unexpected responses: ${JSON.stringify(Object.fromEntries(other))}`);
      rps.push(perSecond);
      p99s.push(r.latency.p99);
      rows.push([
        `round ${round}`,
        String(total),
        Math.round(perSecond).toLocaleString('en'),
        `${r.latency.p50} ms`,
        `${r.latency.p99} ms`,
        `${found} / ${missing} / ${r.errors + r.timeouts}`,
        `${Math.round(busy * 100)}% / ${Math.round(generator * 100)}%`,
        Math.round(perSecond / busy).toLocaleString('en'),
        mib(before),
        mib(after),
      ]);
    }
    printTable(
      `HTTP-01 responder, ${tokens} live tokens, one core`,
      ['round', 'requests', 'requests/s', 'p50', 'p99', '200 / 404 / errors*', 'CPU responder / autocannon', 'requests per responder CPU-second', 'RSS before', 'RSS after'],
      rows,
    );
    console.log('The other processes on this machine take CPU from both cores; requests per responder CPU-second is the figure least affected by them.');
    console.log(`* recorded by autocannon; it leaves out the response that triggers its reconnect every ${RECONNECT_EVERY} requests (1%).`);
    const med = median(rps);
    console.log(`median: ${Math.round(med).toLocaleString('en')} requests/s (target > 10,000: ${med > 10_000 ? 'yes' : 'no'}), p99 ${median(p99s)} ms`);
    console.log(`responder RSS: ${mib(rssStart)} at start, ${mib(rssWarm)} after the warm-up, ${mib(rssOf(pid) ?? NaN)} after ${rounds} × ${amount} requests`);
    const wrk = await wrkFigure(port);
    console.log(wrk ?? 'wrk is not installed here (`command -v wrk` found nothing); autocannon only.');
  } finally {
    child.stdin?.end();
    await new Promise((resolve) => {
      if (child.exitCode !== null) resolve(undefined);
      else child.once('exit', resolve);
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === 'worker') {
    await worker(Number(process.argv[3] ?? 10_000));
  } else {
    const [requests, rounds, connections] = process.argv.slice(2).map(Number);
    await benchResponder({ ...(requests ? { requests } : {}), ...(rounds ? { rounds } : {}), ...(connections ? { connections } : {}) });
  }
}
