// How long does certkeeper take to get certificates from an ACME CA? Against a local Pebble
// (PEBBLE_VA_NOSLEEP=1, its 5% nonce rejection left on, so badNonce retries are part of the cost):
//
//   (a) one `certkeeper issue -d NAME --out DIR` as a whole process (node start to exit), with a
//       fresh account folder (registration included) and with an existing account;
//   (b) N certificates of one name each: as one process with N concurrent orders (AcmeIssuer in a
//       child `node` process of its own, so its peak RSS is certkeeper's alone), and as N sequential
//       `certkeeper issue` processes.
//
// Each figure is the median of several runs. Both are measured with the default status polling
// (as a user runs it) and with --acme-poll-interval 50. certbot and lego against the same Pebble:
// npm run bench:peers.
//
// Run: npm run bench:issue [N=20] [runs=3]
//
// The helpers below (runMeasured, median, printTable, …) are shared with bench/pass.ts and
// bench/responder.ts.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FileAccountStore } from '../src/acme/account-file-store.js';
import { AcmeIssuer, DEFAULT_POLLING, FetchWatch } from '../src/acme/issuer.js';
import { configureAcmeTransport } from '../src/acme/transport.js';
import { MemoryChallengeStore } from '../src/http/memory-store.js';
import { startResponder } from '../src/http/responder.js';
import { createLogger } from '../src/log.js';
import { startPebble, type Pebble } from '../test/support/pebble.js';

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** The repository root: benches run from .tmp/bench/bench/, sources from bench/. */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'certkeeper') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the certkeeper repository root above the benchmark');
    dir = up;
  }
})();

/** The built CLI (npm run build), the program users run. */
export const CLI = join(ROOT, 'dist', 'cli.js');

const GNU_TIME = '/usr/bin/time';
export const HAS_GNU_TIME = existsSync(GNU_TIME);

export interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** Peak resident set size of the process, KiB. */
  peakRssKb: number;
  userMs: number;
  sysMs: number;
}

/** Clock ticks of children this process has waited for (/proc/self/stat cutime + cstime). */
function childCpuTicks(): { user: number; sys: number } {
  // Fields after the ")" of the command name; cutime and cstime are fields 16 and 17.
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[13]), sys: Number(f[14]) };
}

function vmField(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS of a running process in KiB (undefined once it has gone). */
export function rssOf(pid: number): number | undefined {
  return vmField(pid, 'VmRSS');
}

/**
 * Runs a command to completion and measures it: wall time from spawn to exit, and peak RSS and
 * CPU time from GNU time's wait4() figures. Without /usr/bin/time, VmHWM is polled from /proc and
 * CPU time read from this process's waited-for-children counters (runs must then be sequential).
 */
export async function runMeasured(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Measured> {
  const report = HAS_GNU_TIME ? join(tmpdir(), `certkeeper-bench-time-${process.pid}-${randomUUID().slice(0, 8)}`) : undefined;
  const before = report ? undefined : childCpuTicks();
  const started = performance.now();
  const child = report
    ? spawn(GNU_TIME, ['-v', '-o', report, cmd, ...args], { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let hwm = 0;
  const poll = report
    ? undefined
    : setInterval(() => {
        hwm = Math.max(hwm, vmField(child.pid ?? 0, 'VmHWM') ?? 0);
      }, 10);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  const wallMs = performance.now() - started;
  clearTimeout(timer);
  if (poll) clearInterval(poll);
  if (report) {
    const text = await readFile(report, 'utf8');
    await rm(report, { force: true });
    const num = (label: string) => Number(new RegExp(`${label}: ([\\d.]+)`).exec(text)?.[1] ?? NaN);
    return { code, stdout, stderr, wallMs, peakRssKb: num('Maximum resident set size \\(kbytes\\)'), userMs: num('User time \\(seconds\\)') * 1000, sysMs: num('System time \\(seconds\\)') * 1000 };
  }
  const after = childCpuTicks();
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  return { code, stdout, stderr, wallMs, peakRssKb: hwm, userMs: (after.user - (before?.user ?? 0)) * tick, sysMs: (after.sys - (before?.sys ?? 0)) * tick };
}

/** Whether an executable is on PATH (`command -v`). */
export async function which(name: string): Promise<string | undefined> {
  const child = spawn('sh', ['-c', `command -v ${name}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return code === 0 && out.trim() ? out.trim() : undefined;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const seconds = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '–');
export const millis = (ms: number): string => (Number.isFinite(ms) ? `${Math.round(ms)} ms` : '–');
export const mib = (kb: number): string => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(0)} MiB` : '–');
export const times = (x: number): string => (Number.isFinite(x) ? `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}×` : '–');

/** Prints a plain, aligned table (readable in a terminal and pasteable into Markdown). */
export function printTable(title: string, headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  console.log(`\n${title}`);
  console.log(line(headers));
  console.log(`|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

/** Machine facts printed with every result, since figures mean little without them. */
export function machineLine(): string {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 0;
  return `${new Date().toISOString()} · node ${process.version} · ${cores} cores (${cpu}) · load average ${load} at start`;
}

// ---------------------------------------------------------------------------------------------
// The issue benchmark

interface WorkerRequest {
  directoryUrl: string;
  caFile: string;
  httpPort: number;
  accountDir: string;
  n: number;
  pollMs: number;
}

export interface WorkerResult {
  /** Loading or registering the account (before the orders). */
  accountMs: number;
  /** N orders, concurrently, from the first createOrder to the last certificate. */
  issueMs: number;
  issued: number;
  maxRssKb: number;
  userMs: number;
  sysMs: number;
}

const host = (label: string) => `${label}-${randomUUID().slice(0, 8)}.bench.certkeeper.test`;

/** The in-process part: one process, one account, N orders at once (what `renew` does with many Targets). */
async function worker(req: WorkerRequest): Promise<WorkerResult> {
  const caBundlePem = await readFile(req.caFile, 'utf8');
  configureAcmeTransport({ caBundlePem });
  const store = new MemoryChallengeStore();
  // As `certkeeper issue` does: poll once Pebble has fetched the answers.
  const fetches = new FetchWatch();
  const responder = await startResponder({ lookup: store, port: req.httpPort, host: '127.0.0.1', onChallenge: (e) => e.found && fetches.saw(e.token) });
  // Logs are formatted as the CLI formats them, then dropped.
  const log = createLogger({ level: 'info', format: 'text', destination: createWriteStream('/dev/null') });
  const issuer = new AcmeIssuer({
    directoryUrl: req.directoryUrl,
    accountStore: new FileAccountStore(req.accountDir, req.directoryUrl),
    challengeStore: store,
    // As `issue` and `renew` derive it from --acme-poll-interval.
    polling: { intervalMs: req.pollMs, maxIntervalMs: req.pollMs * 32, timeoutMs: 180_000 },
    challengeFetched: (token) => fetches.fetched(token),
    log,
  });
  try {
    const t0 = performance.now();
    await issuer.account();
    const t1 = performance.now();
    const cpu0 = process.cpuUsage();
    const certs = await Promise.all(Array.from({ length: req.n }, () => issuer.issue({ hosts: [host('inproc')], keyType: 'ecdsa-p256' })));
    const t2 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    return {
      accountMs: t1 - t0,
      issueMs: t2 - t1,
      issued: certs.filter((c) => c.leafPem.includes('BEGIN CERTIFICATE')).length,
      maxRssKb: process.resourceUsage().maxRSS,
      userMs: cpu.user / 1000,
      sysMs: cpu.system / 1000,
    };
  } finally {
    await responder.close();
  }
}

function issueArgs(pebble: Pebble, accountDir: string, out: string, pollMs: number | undefined, name: string): string[] {
  return [
    CLI,
    'issue',
    '-d', name,
    '--out', out,
    '--directory', pebble.directoryUrl,
    '--acme-ca-bundle', pebble.apiCaFile,
    '--account-dir', accountDir,
    '--http-port', String(pebble.httpPort),
    '--http-address', '127.0.0.1',
    ...(pollMs === undefined ? [] : ['--acme-poll-interval', String(pollMs)]),
  ];
}

async function cliIssue(pebble: Pebble, accountDir: string, work: string, pollMs: number | undefined): Promise<Measured> {
  const out = join(work, `out-${randomUUID().slice(0, 8)}`);
  const r = await runMeasured(process.execPath, issueArgs(pebble, accountDir, out, pollMs, host('cli')), { env: { ...process.env, CERTKEEPER_LOG_LEVEL: 'info' } });
  if (r.code !== 0) throw new Error(`certkeeper issue failed (exit ${r.code}):\n${r.stderr}`);
  await rm(out, { recursive: true, force: true });
  return r;
}

/** N concurrent orders in one child process through AcmeIssuer (what `renew` does with many Targets). */
export async function inProcess(pebble: Pebble, accountDir: string, n: number, pollMs: number): Promise<Measured & WorkerResult> {
  const req: WorkerRequest = { directoryUrl: pebble.directoryUrl, caFile: pebble.apiCaFile, httpPort: pebble.httpPort, accountDir, n, pollMs };
  const r = await runMeasured(process.execPath, [fileURLToPath(import.meta.url), 'worker', JSON.stringify(req)]);
  if (r.code !== 0) throw new Error(`the in-process issuance worker failed (exit ${r.code}):\n${r.stderr}`);
  const result = JSON.parse(r.stdout) as WorkerResult;
  if (result.issued !== n) throw new Error(`the worker issued ${result.issued} of ${n} certificates`);
  return { ...r, ...result };
}

export interface IssueBenchOptions {
  n?: number;
  runs?: number;
}

export async function benchIssue(options: IssueBenchOptions = {}): Promise<void> {
  const n = options.n ?? 20;
  const runs = options.runs ?? 3;
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\``);
  console.log(`certkeeper issue benchmark: ${machineLine()}`);
  console.log(`Pebble with PEBBLE_VA_NOSLEEP=1 and 5% nonce rejection; N=${n}; ${runs} runs per figure (median); ECDSA P-256 keys`);
  const pebble = await startPebble();
  const work = await mkdtemp(join(tmpdir(), 'certkeeper-bench-issue-'));
  try {
    const shared = join(work, 'accounts-shared');
    // Warm-up, unmeasured: first reads of dist/ from disk, and the account the "existing" rows use.
    await cliIssue(pebble, shared, work, 50);

    const defaultPolling = `default polling (${DEFAULT_POLLING.intervalMs} ms, doubling)`;
    const polls: { label: string; ms: number | undefined; inproc: number }[] = [
      { label: defaultPolling, ms: undefined, inproc: DEFAULT_POLLING.intervalMs },
      { label: '--acme-poll-interval 50', ms: 50, inproc: 50 },
    ];
    const one = new Map<string, Measured[]>();
    const conc = new Map<string, (Measured & WorkerResult)[]>();
    const seq = new Map<string, { wallMs: number; peakRssKb: number; cpuMs: number }[]>();
    const version: Measured[] = [];
    const bare: Measured[] = [];
    const kubeClient: Measured[] = [];
    const push = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v]);
    for (let run = 1; run <= runs; run++) {
      process.stderr.write(`run ${run}/${runs}…\n`);
      version.push(await runMeasured(process.execPath, [CLI, '--version']));
      bare.push(await runMeasured(process.execPath, ['-e', '0']));
      // For scale: what loading the Kubernetes client costs (`issue` and `lint` do not load it).
      kubeClient.push(await runMeasured(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(ROOT, 'node_modules', '@kubernetes', 'client-node', 'dist', 'index.js')).href)})`]));
      for (const p of polls) {
        push(one, `fresh|${p.label}`, await cliIssue(pebble, join(work, `accounts-${randomUUID()}`), work, p.ms));
        push(one, `existing|${p.label}`, await cliIssue(pebble, shared, work, p.ms));
        push(conc, p.label, await inProcess(pebble, shared, n, p.inproc));
      }
      // N sequential processes, only with fast polling: with the default they take N × the
      // one-certificate figure above, which the table extrapolates instead of spending minutes.
      const t0 = performance.now();
      let peak = 0;
      let cpu = 0;
      for (let i = 0; i < n; i++) {
        const r = await cliIssue(pebble, shared, work, 50);
        peak = Math.max(peak, r.peakRssKb);
        cpu += r.userMs + r.sysMs;
      }
      push(seq, '--acme-poll-interval 50', { wallMs: performance.now() - t0, peakRssKb: peak, cpuMs: cpu });
    }

    const oneRows: string[][] = [];
    for (const p of polls) {
      for (const account of ['fresh', 'existing'] as const) {
        const rs = one.get(`${account}|${p.label}`) ?? [];
        const wall = median(rs.map((r) => r.wallMs));
        oneRows.push([
          `issue, ${account === 'fresh' ? 'new account (registers)' : 'existing account'}, ${p.label}`,
          seconds(wall),
          millis(median(rs.map((r) => r.userMs + r.sysMs))),
          mib(median(rs.map((r) => r.peakRssKb))),
          wall < 500 ? 'yes' : 'no',
        ]);
      }
    }
    oneRows.push([
      '`certkeeper --version` (node start + loading the CLI, no ACME)',
      seconds(median(version.map((r) => r.wallMs))),
      millis(median(version.map((r) => r.userMs + r.sysMs))),
      mib(median(version.map((r) => r.peakRssKb))),
      '',
    ]);
    for (const [label, rs] of [
      ['`node -e 0` (node start alone)', bare],
      ['node + `import(\'@kubernetes/client-node\')` alone', kubeClient],
    ] as const) {
      oneRows.push([label, seconds(median(rs.map((r) => r.wallMs))), millis(median(rs.map((r) => r.userMs + r.sysMs))), mib(median(rs.map((r) => r.peakRssKb))), '']);
    }
    printTable(
      'a) one certificate, whole `certkeeper issue` process (node start → files written → exit)',
      ['run', 'wall', 'CPU (user+sys)', 'peak RSS', '< 0.5 s'],
      oneRows,
    );

    const nRows: string[][] = [];
    for (const p of polls) {
      const rs = conc.get(p.label) ?? [];
      const wall = median(rs.map((r) => r.wallMs));
      nRows.push([
        `one process, ${n} concurrent orders, ${p.label}`,
        seconds(wall),
        seconds(median(rs.map((r) => r.issueMs))),
        (n / (median(rs.map((r) => r.wallMs)) / 1000)).toFixed(1),
        millis(median(rs.map((r) => r.userMs + r.sysMs))),
        mib(median(rs.map((r) => r.maxRssKb))),
      ]);
    }
    const sq = seq.get('--acme-poll-interval 50') ?? [];
    const sqWall = median(sq.map((r) => r.wallMs));
    nRows.push([
      `${n} sequential \`certkeeper issue\` processes, --acme-poll-interval 50`,
      seconds(sqWall),
      '–',
      (n / (sqWall / 1000)).toFixed(1),
      millis(median(sq.map((r) => r.cpuMs))),
      `${mib(median(sq.map((r) => r.peakRssKb)))} each`,
    ]);
    const defaultOne = median((one.get(`existing|${defaultPolling}`) ?? []).map((r) => r.wallMs));
    nRows.push([
      `${n} sequential processes, default polling (extrapolated: ${n} × one)`,
      seconds(defaultOne * n),
      '–',
      (n / ((defaultOne * n) / 1000)).toFixed(1),
      '–',
      '–',
    ]);
    printTable(
      `b) ${n} certificates, one name each (target: 20 in under 3 s)`,
      ['how', 'wall (whole process)', 'orders only', 'certs/s', 'CPU (user+sys)', 'peak RSS'],
      nRows,
    );
    console.log('\ncertbot and lego, measured against the same Pebble: npm run bench:peers');
  } finally {
    await pebble.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === 'worker') {
    const result = await worker(JSON.parse(process.argv[3] ?? '{}') as WorkerRequest);
    // Keep-alive sockets to the CA would hold the process open for their idle timeout.
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  } else {
    const [n, runs] = process.argv.slice(2).map(Number);
    await benchIssue({ ...(n ? { n } : {}), ...(runs ? { runs } : {}) });
  }
}
