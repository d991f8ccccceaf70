// What does a pass cost? On the in-process Kubernetes API (test/support/kube-api):
//
//   (a) a pass over 1,000 opted-in Ingresses in 20 namespaces whose 1,000 managed TLS Secrets are
//       all valid (built with a test CA and buildTlsSecret, so nothing is due): runPass in a child
//       process through createKubeRuntime (so its peak RSS is certkeeper's alone, not the API
//       server's), cold and warm, and a real `certkeeper renew` process. Wall time, CPU time, peak
//       RSS and every API request by verb and resource. A pass must cost a constant number of
//       paginated lists, never one GET per object.
//   (b) a pass that issues 50 certificates from Pebble (50 Ingresses, one host each), at
//       --concurrency 5 (the default) and 10, against 50 sequential `certkeeper issue` processes.
//
// Run: npm run bench:pass [runs of (a)=3] [runs of (b)=2]
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_POLLING } from '../src/acme/issuer.js';
import { CLUSTER_SETTINGS } from '../src/commands/renew.js';
import { resolveSettings } from '../src/config.js';
import { renewAtFor } from '../src/core/renewal.js';
import { buildTlsSecret } from '../src/core/secret.js';
import { createLogger } from '../src/log.js';
import { runPass, type PassResult } from '../src/pass.js';
import { createKubeRuntime, passOptionsFrom } from '../src/wiring.js';
import { createCA, generateTestKey } from '../test/support/certs.js';
import { ingress } from '../test/support/cluster-env.js';
import { startKubeApi, type KubeApi, type RequestRecord } from '../test/support/kube-api/index.js';
import { startPebble, type Pebble } from '../test/support/pebble.js';
import { CLI, machineLine, median, mib, millis, printTable, runMeasured, seconds, times, type Measured } from './issue.js';

const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
/** Passes in the "warm" process: the first is cold, the rest show steady state and leaks. */
const WARM_PASSES = 4;

interface WorkerRequest {
  kubeconfig: string;
  directoryUrl: string;
  caFile: string;
  passes: number;
}

interface PassFigures {
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** After the pass and a forced GC: what the pass leaves behind. */
  heapUsedKb: number;
  rssKb: number;
  results: Record<string, number>;
}

interface WorkerResult {
  runtimeMs: number;
  passes: PassFigures[];
  maxRssKb: number;
}

/** runPass as `renew` builds it, without the CLI around it, `passes` times in one process. */
async function worker(req: WorkerRequest): Promise<WorkerResult> {
  const cfg = resolveSettings([...CLUSTER_SETTINGS, 'concurrency'], { kubeconfig: req.kubeconfig, directory: req.directoryUrl, acmeCaBundle: req.caFile }, {});
  // Log lines are formatted as `renew` formats them (one per Target), then dropped.
  const log = createLogger({ level: cfg.logLevel, format: cfg.logFormat, destination: createWriteStream('/dev/null') });
  const t0 = performance.now();
  const runtime = await createKubeRuntime(cfg, log);
  const runtimeMs = performance.now() - t0;
  const passes: PassFigures[] = [];
  try {
    for (let i = 0; i < req.passes; i++) {
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      const result: PassResult = await runPass(runtime.ports, passOptionsFrom(runtime.directoryUrl, cfg));
      const wallMs = performance.now() - t;
      const cpu = process.cpuUsage(cpu0);
      const results: Record<string, number> = {};
      for (const o of result.outcomes) results[`${o.result}/${o.reason}`] = (results[`${o.result}/${o.reason}`] ?? 0) + 1;
      (globalThis as { gc?: () => void }).gc?.();
      const mem = process.memoryUsage();
      passes.push({ wallMs, userMs: cpu.user / 1000, sysMs: cpu.system / 1000, heapUsedKb: mem.heapUsed / 1024, rssKb: mem.rss / 1024, results });
    }
  } finally {
    await runtime.close();
  }
  return { runtimeMs, passes, maxRssKb: process.resourceUsage().maxRSS };
}

function countRequests(requests: readonly RequestRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of requests) {
    const key = r.verb ? `${r.verb} ${r.resource ?? '?'}${r.subresource ? `/${r.subresource}` : ''}` : `${r.method} ${r.path}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/** Requests a pass over N objects should not make: a GET (or write) per Ingress or Secret. */
function perObjectRequests(requests: readonly RequestRecord[]): RequestRecord[] {
  return requests.filter((r) => r.verb !== 'list' && (r.resource === 'secrets' || r.resource === 'ingresses') && r.namespace !== 'certkeeper');
}

const host = (i: number, tag: string) => `h${i}-${tag}.bench.certkeeper.test`;

/** 1,000 Ingresses in 20 namespaces, each with a valid Secret as certkeeper would have written it. */
export function populateValid(api: KubeApi, directoryUrl: string, count: number, namespaces: number): void {
  const root = createCA({ key: 'ecdsa-p256' });
  const intermediate = root.intermediate({ key: 'ecdsa-p256' });
  for (let n = 0; n < namespaces; n++) api.ensureNamespace(`team-${String(n).padStart(2, '0')}`);
  for (let i = 0; i < count; i++) {
    const ns = `team-${String(i % namespaces).padStart(2, '0')}`;
    const name = host(i, 'valid');
    // Each leaf its own key, like real issuance: the pass checks that tls.key matches tls.crt.
    const leaf = intermediate.issue({ sans: [name], key: generateTestKey('ecdsa-p256') });
    api.create(ingress(ns, `web-${i}`, `web-${i}-tls`, [name]));
    api.create(
      buildTlsSecret(ns, `web-${i}-tls`, {
        fullchainPem: leaf.chain,
        keyPem: leaf.key,
        hosts: [name],
        notAfter: leaf.notAfter,
        renewAt: renewAtFor(leaf),
        issuerUrl: directoryUrl,
      }),
    );
  }
}

interface RenewJson {
  ok: boolean;
  ordersPlaced: number;
  secretsWritten: number;
  certificates: { result: string; reason: string }[];
}

function renewJson(r: Measured): RenewJson {
  try {
    return JSON.parse(r.stdout) as RenewJson;
  } catch {
    throw new Error(`certkeeper renew printed no JSON (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  }
}

function tally(json: RenewJson): string {
  const t: Record<string, number> = {};
  for (const c of json.certificates) t[`${c.result}/${c.reason}`] = (t[`${c.result}/${c.reason}`] ?? 0) + 1;
  return JSON.stringify(t);
}

async function benchValidPass(pebble: Pebble, work: string, runs: number): Promise<void> {
  const COUNT = 1000;
  const api = await startKubeApi({ namespaces: ['certkeeper'] });
  const kubeconfig = join(work, 'kubeconfig-valid');
  await api.writeKubeconfig(kubeconfig);
  try {
    const t0 = performance.now();
    populateValid(api, pebble.directoryUrl, COUNT, 20);
    console.log(`\nprepared ${COUNT} Ingresses and ${COUNT} valid managed Secrets in 20 namespaces in ${millis(performance.now() - t0)}`);
    const req = (passes: number): WorkerRequest => ({ kubeconfig, directoryUrl: pebble.directoryUrl, caFile: pebble.apiCaFile, passes });
    const runWorker = async (passes: number) => {
      const r = await runMeasured(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), 'worker', JSON.stringify(req(passes))]);
      if (r.code !== 0) throw new Error(`the runPass worker failed (exit ${r.code}):\n${r.stderr}`);
      return { process: r, result: JSON.parse(r.stdout) as WorkerResult };
    };

    const cold: { pass: PassFigures; rssKb: number; runtimeMs: number; requests: RequestRecord[] }[] = [];
    const warm: PassFigures[] = [];
    const warmRss: number[] = [];
    const heapTrail: string[] = [];
    const cli: { m: Measured; requests: RequestRecord[]; json: RenewJson }[] = [];
    for (let run = 1; run <= runs; run++) {
      process.stderr.write(`(a) run ${run}/${runs}…\n`);
      api.resetRequests();
      const one = await runWorker(1);
      const pass = one.result.passes[0];
      if (!pass) throw new Error('the worker ran no pass');
      cold.push({ pass, rssKb: one.result.maxRssKb, runtimeMs: one.result.runtimeMs, requests: [...api.requests] });

      const several = await runWorker(WARM_PASSES);
      warm.push(...several.result.passes.slice(1));
      warmRss.push(several.result.maxRssKb);
      heapTrail.push(several.result.passes.map((p) => `${mib(p.heapUsedKb)} heap / ${mib(p.rssKb)} RSS`).join(' → '));

      api.resetRequests();
      const m = await runMeasured(process.execPath, [CLI, 'renew', '--kubeconfig', kubeconfig, '--directory', pebble.directoryUrl, '--acme-ca-bundle', pebble.apiCaFile, '-o', 'json'], {
        env: { ...process.env, CERTKEEPER_LOG_LEVEL: 'info' },
      });
      const json = renewJson(m);
      if (m.code !== 0 || json.ordersPlaced !== 0) throw new Error(`certkeeper renew over valid Secrets: exit ${m.code}, ${json.ordersPlaced} orders: ${tally(json)}`);
      cli.push({ m, requests: [...api.requests], json });
    }
    const outcome = JSON.stringify(cold[0]?.pass.results);
    console.log(`outcomes of each pass: ${outcome}; renew -o json: ${cli[0] ? tally(cli[0].json) : '?'}`);

    const row = (label: string, wall: number, cpu: number, rss: number, requests: number) => [
      label,
      millis(wall),
      millis(cpu),
      mib(rss),
      String(requests),
      wall < 1000 ? 'yes' : 'no',
      rss < 150 * 1024 ? 'yes' : 'no',
    ];
    printTable(
      `a) one pass over ${COUNT} opted-in Ingresses, all Secrets valid (nothing to issue)`,
      ['what', 'wall', 'CPU (user+sys)', 'peak RSS', 'API requests', '< 1 s', '< 150 MB'],
      [
        row(
          'runPass, first pass in a fresh process',
          median(cold.map((c) => c.pass.wallMs)),
          median(cold.map((c) => c.pass.userMs + c.pass.sysMs)),
          median(cold.map((c) => c.rssKb)),
          median(cold.map((c) => c.requests.length)),
        ),
        row(
          `runPass, passes 2–${WARM_PASSES} of one process (warm)`,
          median(warm.map((p) => p.wallMs)),
          median(warm.map((p) => p.userMs + p.sysMs)),
          median(warmRss),
          NaN,
        ).map((c, i) => (i === 4 ? '(same)' : c)),
        row(
          '`certkeeper renew -o json`, whole process',
          median(cli.map((c) => c.m.wallMs)),
          median(cli.map((c) => c.m.userMs + c.m.sysMs)),
          median(cli.map((c) => c.m.peakRssKb)),
          median(cli.map((c) => c.requests.length)),
        ),
      ],
    );
    console.log(`createKubeRuntime (kubeconfig, clients) before the first pass: ${millis(median(cold.map((c) => c.runtimeMs)))}`);
    console.log(`memory after each pass of one process, after a forced GC (first run): ${heapTrail[0] ?? '?'}`);

    const inproc = countRequests(cold[0]?.requests ?? []);
    const proc = countRequests(cli[0]?.requests ?? []);
    const keys = [...new Set([...inproc.keys(), ...proc.keys()])].sort();
    printTable(
      'API requests of one pass, by verb and resource (first run)',
      ['request', 'runPass', 'certkeeper renew'],
      keys.map((k) => [k, String(inproc.get(k) ?? 0), String(proc.get(k) ?? 0)]),
    );
    const pages = (cli[0]?.requests ?? []).filter((r) => r.verb === 'list').map((r) => `${r.resource}${r.query.continue ? ' (continue)' : ''} limit=${r.query.limit ?? '-'}`);
    console.log(`list calls: ${pages.join(', ')}`);
    const perObject = [...perObjectRequests(cold[0]?.requests ?? []), ...perObjectRequests(cli[0]?.requests ?? [])];
    console.log(
      perObject.length === 0
        ? `per-object requests for the ${COUNT} Ingresses/Secrets: none`
        : `PER-OBJECT REQUESTS (a bug): ${perObject.length}, e.g. ${perObject.slice(0, 5).map((r) => `${r.verb} ${r.path}`).join(', ')}`,
    );
    const counts = new Set([...cold.map((c) => c.requests.length), ...cli.map((c) => c.requests.length)]);
    console.log(`request count per pass across runs: ${[...counts].join(', ')}`);
  } finally {
    await api.close();
  }
}

async function benchIssuingPass(pebble: Pebble, work: string, runs: number): Promise<void> {
  const COUNT = 50;
  const accountDir = join(work, 'accounts');
  const routing = (p: Pebble) => [
    '--answer-locally',
    '--http-port', String(p.httpPort),
    '--http-address', '127.0.0.1',
    '--self-check-address', `127.0.0.1:${p.httpPort}`,
    '--lease-wait', '60s',
  ];
  const renewOnce = async (concurrency: number, pollMs: number | undefined) => {
    const api = await startKubeApi({ namespaces: ['certkeeper'] });
    const kubeconfig = join(work, `kubeconfig-${randomUUID().slice(0, 8)}`);
    await api.writeKubeconfig(kubeconfig);
    try {
      const tag = randomUUID().slice(0, 8);
      for (let n = 0; n < 5; n++) api.ensureNamespace(`shop-${n}`);
      for (let i = 0; i < COUNT; i++) api.create(ingress(`shop-${i % 5}`, `web-${i}`, `web-${i}-tls`, [host(i, tag)]));
      const m = await runMeasured(
        process.execPath,
        [
          CLI, 'renew', '--kubeconfig', kubeconfig, '--directory', pebble.directoryUrl, '--acme-ca-bundle', pebble.apiCaFile,
          ...routing(pebble), '--concurrency', String(concurrency), ...(pollMs === undefined ? [] : ['--acme-poll-interval', String(pollMs)]), '-o', 'json',
        ],
        { env: { ...process.env, CERTKEEPER_LOG_LEVEL: 'info' } },
      );
      const json = renewJson(m);
      const written = api.list(SECRETS).filter((s) => (s as { metadata: { name: string } }).metadata.name.startsWith('web-')).length;
      if (m.code !== 0 || json.secretsWritten !== COUNT || written !== COUNT) {
        throw new Error(`renew --concurrency ${concurrency}: exit ${m.code}, ${json.secretsWritten} written (${written} in the API): ${tally(json)}\n${m.stderr.slice(-3000)}`);
      }
      return { m, requests: api.requests.length };
    } finally {
      await api.close();
    }
  };
  const issueOnce = async (i: number, tag: string) => {
    const out = join(work, `out-${tag}-${i}`);
    const m = await runMeasured(
      process.execPath,
      [
        CLI, 'issue', '-d', host(i, tag), '--out', out, '--directory', pebble.directoryUrl, '--acme-ca-bundle', pebble.apiCaFile, '--account-dir', accountDir,
        '--http-port', String(pebble.httpPort), '--http-address', '127.0.0.1', '--acme-poll-interval', '50',
      ],
      { env: { ...process.env, CERTKEEPER_LOG_LEVEL: 'info' } },
    );
    if (m.code !== 0) throw new Error(`certkeeper issue failed (exit ${m.code}):\n${m.stderr}`);
    await rm(out, { recursive: true, force: true });
    return m;
  };

  // Unmeasured warm-up: creates the account file the measured `issue` processes reuse. Each
  // renew runs against a fresh API, so it registers its account Secret every time, as the first
  // pass in a new cluster does (a few requests of the ~500 a 50-certificate pass makes).
  await issueOnce(0, 'warmup');

  const variants = [
    { label: 'renew --concurrency 5 (default), --acme-poll-interval 50', c: 5, poll: 50 as number | undefined },
    { label: 'renew --concurrency 10, --acme-poll-interval 50', c: 10, poll: 50 as number | undefined },
    { label: `renew --concurrency 5, default polling (${DEFAULT_POLLING.intervalMs} ms, doubling)`, c: 5, poll: undefined },
  ];
  const figures = new Map<string, { m: Measured; requests: number }[]>();
  const seq: { wallMs: number; cpuMs: number; rssKb: number }[] = [];
  for (let run = 1; run <= runs; run++) {
    for (const v of variants) {
      process.stderr.write(`(b) run ${run}/${runs}: ${v.label}…\n`);
      figures.set(v.label, [...(figures.get(v.label) ?? []), await renewOnce(v.c, v.poll)]);
    }
    process.stderr.write(`(b) run ${run}/${runs}: ${COUNT} sequential issue processes…\n`);
    const tag = randomUUID().slice(0, 8);
    const t0 = performance.now();
    let cpu = 0;
    let rss = 0;
    for (let i = 0; i < COUNT; i++) {
      const m = await issueOnce(i, tag);
      cpu += m.userMs + m.sysMs;
      rss = Math.max(rss, m.peakRssKb);
    }
    seq.push({ wallMs: performance.now() - t0, cpuMs: cpu, rssKb: rss });
  }
  const seqWall = median(seq.map((s) => s.wallMs));
  const rows = variants.map((v) => {
    const fs = figures.get(v.label) ?? [];
    const wall = median(fs.map((f) => f.m.wallMs));
    return [
      v.label,
      seconds(wall),
      (COUNT / (wall / 1000)).toFixed(1),
      millis(median(fs.map((f) => f.m.userMs + f.m.sysMs))),
      mib(median(fs.map((f) => f.m.peakRssKb))),
      String(median(fs.map((f) => f.requests))),
      times(seqWall / wall),
    ];
  });
  rows.push([
    `${COUNT} sequential \`certkeeper issue\` processes, --acme-poll-interval 50`,
    seconds(seqWall),
    (COUNT / (seqWall / 1000)).toFixed(1),
    millis(median(seq.map((s) => s.cpuMs))),
    `${mib(median(seq.map((s) => s.rssKb)))} each`,
    '–',
    '1.0×',
  ]);
  printTable(
    `b) ${COUNT} certificates from Pebble (one host each), one pass vs ${COUNT} processes`,
    ['how', 'wall', 'certs/s', 'CPU (user+sys)', 'peak RSS', 'API requests', 'vs sequential'],
    rows,
  );
  console.log('Each renew runs against a fresh API, so it also registers its ACME account (one extra request pair); the issue processes reuse one account file.');
}

export async function benchPass(options: { runs?: number; issuingRuns?: number } = {}): Promise<void> {
  const runs = options.runs ?? 3;
  // 50 sequential `issue` processes take minutes on a busy two-core machine.
  const issuingRuns = options.issuingRuns ?? 2;
  console.log(`certkeeper pass benchmark: ${machineLine()}`);
  console.log(`${runs} runs per figure of (a), ${issuingRuns} of (b) (median); Pebble with PEBBLE_VA_NOSLEEP=1 and 5% nonce rejection`);
  const pebble = await startPebble();
  const work = await mkdtemp(join(tmpdir(), 'certkeeper-bench-pass-'));
  try {
    await benchValidPass(pebble, work, runs);
    await benchIssuingPass(pebble, work, issuingRuns);
  } finally {
    await pebble.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === 'worker') {
    const result = await worker(JSON.parse(process.argv[3] ?? '{}') as WorkerRequest);
    // Keep-alive sockets to the API would hold the process open for their idle timeout.
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  } else {
    const [runs, issuingRuns] = process.argv.slice(2).map(Number);
    await benchPass({ ...(runs ? { runs } : {}), ...(issuingRuns ? { issuingRuns } : {}) });
  }
}
