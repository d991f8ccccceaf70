// What does a pass cost? On the in-process Kubernetes API (test/support/kube-api):
//
//   (a) a pass over N opted-in Ingresses in M namespaces whose N managed TLS Secrets are all valid
//       (built with a test CA and buildTlsSecret, so nothing is due), by default 1,000 in 20
//       namespaces and 10,000 in 100: runPass in a child process through createKubeRuntime
//       (bench/pass-worker.ts, bundled like dist/cli.js; its peak RSS is certkeeper's alone, not
//       the API server's), cold and warm, and a real `certkeeper renew` process. Wall time, CPU
//       time, peak RSS and every API request by verb and resource, next to the targets of issue
//       #12. A pass must cost a constant number of paginated lists, never one GET per object.
//       Objects look like a real cluster's: Ingresses carry kubectl's last-applied annotation and
//       managedFields, Secrets the managedFields of their writer (--bare leaves both out).
//       --heap-snapshot writes V8 heap snapshots of the largest size (once both lists are read,
//       and after the last warm pass) and prints their summary (bench/heap-summary.ts);
//       --cpu-profile prints where a cold and a warm pass of the largest size spend their CPU.
//   (b) a pass that issues 50 certificates from Pebble (50 Ingresses, one host each), at
//       --concurrency 5 (the default) and 10, against 50 sequential `certkeeper issue` processes.
//
// Run: npm run bench:pass [-- --sizes 1000x20,10000x100] [--runs 3] [--warm-passes 4]
//        [--issuing-runs 2 | --skip-issuing] [--heap-snapshot] [--cpu-profile] [--bare]
//        [--node-args "--max-semi-space-size=2"] (flags for the runPass worker, to compare)
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_POLLING } from '../src/acme/issuer.js';
import { renewAtFor } from '../src/core/renewal.js';
import { buildTlsSecret } from '../src/core/secret.js';
import { createCA, generateTestKey } from '../test/support/certs.js';
import { ingress } from '../test/support/cluster-env.js';
import { startKubeApi, type KubeApi, type RequestRecord } from '../test/support/kube-api/index.js';
import { startPebble, type Pebble } from '../test/support/pebble.js';
import { summariseHeapSnapshot } from './heap-summary.js';
import { CLI, machineLine, median, mib, millis, printTable, ROOT, runMeasured, seconds, times, type Measured } from './issue.js';
import type { PassFigures, WorkerRequest, WorkerResult } from './pass-worker.js';

const SECRETS = { group: '', version: 'v1', resource: 'secrets' };

/** Issue #12's targets for a pass over valid Secrets, by number of Ingresses. MB are 10^6 bytes. */
const TARGETS: Record<number, { coldMs?: number; warmMs?: number; rssMB?: number }> = {
  1000: { warmMs: 1000, rssMB: 150 },
  10000: { coldMs: 5000, warmMs: 1000, rssMB: 250 },
};

export interface Size {
  ingresses: number;
  namespaces: number;
}

export interface PassBenchOptions {
  sizes?: Size[];
  /** Runs of each cold figure (fresh processes); the median is shown. */
  runs?: number;
  /** Passes in the warm process: the first is cold, the rest show steady state and leaks. */
  warmPasses?: number;
  issuingRuns?: number;
  skipIssuing?: boolean;
  heapSnapshot?: boolean;
  cpuProfile?: boolean;
  /** Leave out last-applied annotations and managedFields. */
  bare?: boolean;
  /** Extra node flags for the worker processes (e.g. V8 heap flags), to compare. */
  nodeArgs?: string[];
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
const nsName = (n: number) => `team-${String(n).padStart(3, '0')}`;

/** What `kubectl apply` leaves on an object it created: the whole object as JSON, and its field set. */
function kubectlApplied(obj: Record<string, unknown>): Record<string, unknown> {
  const meta = obj.metadata as { annotations?: Record<string, string> };
  const applied = JSON.stringify(obj);
  meta.annotations = { ...meta.annotations, 'kubectl.kubernetes.io/last-applied-configuration': `${applied}\n` };
  (meta as Record<string, unknown>).managedFields = [
    {
      manager: 'kubectl-client-side-apply',
      operation: 'Update',
      apiVersion: 'networking.k8s.io/v1',
      time: '2026-11-01T10:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {}, 'f:kubernetes.io/tls-acme': {} } },
        'f:spec': {
          'f:ingressClassName': {},
          'f:rules': {},
          'f:tls': {},
        },
      },
    },
    {
      manager: 'nginx-ingress-controller',
      operation: 'Update',
      apiVersion: 'networking.k8s.io/v1',
      time: '2026-11-01T10:00:03Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:status': { 'f:loadBalancer': { 'f:ingress': {} } } },
      subresource: 'status',
    },
  ];
  return obj;
}

function writerFields(secret: { metadata: Record<string, unknown> }): void {
  secret.metadata.managedFields = [
    {
      manager: 'certkeeper',
      operation: 'Update',
      apiVersion: 'v1',
      time: '2026-11-01T10:00:05Z',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:data': { '.': {}, 'f:tls.crt': {}, 'f:tls.key': {} },
        'f:metadata': {
          'f:annotations': Object.fromEntries(['.', ...Object.keys((secret.metadata.annotations as Record<string, string>) ?? {}).map((k) => `f:${k}`)].map((k) => [k, {}])),
          'f:labels': { '.': {}, 'f:app.kubernetes.io/managed-by': {} },
        },
        'f:type': {},
      },
    },
  ];
}

/** N Ingresses in M namespaces, each with a valid Secret as certkeeper would have written it. */
export function populateValid(api: KubeApi, directoryUrl: string, size: Size, bare = false): void {
  const root = createCA({ key: 'ecdsa-p256' });
  const intermediate = root.intermediate({ key: 'ecdsa-p256' });
  for (let n = 0; n < size.namespaces; n++) api.ensureNamespace(nsName(n));
  for (let i = 0; i < size.ingresses; i++) {
    const ns = nsName(i % size.namespaces);
    const name = host(i, 'valid');
    // Each leaf its own key, like real issuance: the pass checks that tls.key matches tls.crt.
    const leaf = intermediate.issue({ sans: [name], key: generateTestKey('ecdsa-p256') });
    const ing = ingress(ns, `web-${i}`, `web-${i}-tls`, [name]);
    api.create(bare ? ing : kubectlApplied(ing));
    const secret = buildTlsSecret(ns, `web-${i}-tls`, {
      fullchainPem: leaf.chain,
      keyPem: leaf.key,
      hosts: [name],
      notAfter: leaf.notAfter,
      renewAt: renewAtFor(leaf),
      issuerUrl: directoryUrl,
    });
    if (!bare) writerFields(secret);
    api.create(secret);
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

/** bench/pass-worker.ts bundled as dist/cli.js is (scripts/build.mjs), once per benchmark run. */
async function bundleWorker(): Promise<string> {
  const build = (await import(pathToFileURL(join(ROOT, 'scripts', 'build.mjs')).href)) as { bundleEntry(name: string, entry: string, outdir: string): Promise<string> };
  return build.bundleEntry('pass-worker', join(ROOT, 'bench', 'pass-worker.ts'), join(ROOT, '.tmp', 'bench-pass-worker'));
}

const MB = 1e6 / 1024; // KiB per MB
const verdict = (value: number, target: number | undefined) => (target === undefined ? '–' : value < target ? 'yes' : '**no**');

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
}

/**
 * The CPU profile's hottest functions (node --cpu-prof), as table rows: by self time, and by total
 * time (with what they call; a function that calls itself counts once).
 */
async function profileRows(dir: string, top: number): Promise<{ self: string[][]; total: string[][] }> {
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return { self: [], total: [] };
  const prof = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
  const totalMs = (prof.endTime - prof.startTime) / 1000;
  const perSample = totalMs / Math.max(1, prof.samples.length);
  const label = (n: CpuProfile['nodes'][number]) => {
    const url = n.callFrame.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/(\.tmp|dist)\//, '').replace(/^.*\/(chunks\/)?/, '');
    return `${n.callFrame.functionName || '(anonymous)'}${url ? ` ${url}` : ''}`;
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  // Depth-first from the root, with the labels on the current path, so that recursion counts once.
  const walk = (id: number, onPath: Map<string, number>): number => {
    const n = byId.get(id);
    if (!n) return 0;
    const key = label(n);
    const own = (n.hitCount ?? 0) * perSample;
    self.set(key, (self.get(key) ?? 0) + own);
    onPath.set(key, (onPath.get(key) ?? 0) + 1);
    let sum = own;
    for (const c of n.children ?? []) sum += walk(c, onPath);
    const depth = (onPath.get(key) ?? 1) - 1;
    if (depth === 0) onPath.delete(key);
    else onPath.set(key, depth);
    if (depth === 0) total.set(key, (total.get(key) ?? 0) + sum);
    return sum;
  };
  const root = prof.nodes[0];
  if (root) walk(root.id, new Map());
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .filter(([k]) => !k.startsWith('(root)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, ms]) => [k.length > 90 ? `${k.slice(0, 87)}…` : k, millis(ms), `${((ms / totalMs) * 100).toFixed(1)}%`]);
  return { self: rows(self), total: rows(total) };
}

async function benchValidPass(pebble: Pebble, work: string, workerJs: string, size: Size, opts: Required<Pick<PassBenchOptions, 'runs' | 'warmPasses'>> & PassBenchOptions, deepDive: boolean): Promise<void> {
  const COUNT = size.ingresses;
  const api = await startKubeApi({ namespaces: ['certkeeper'] });
  const kubeconfig = join(work, `kubeconfig-valid-${COUNT}`);
  await api.writeKubeconfig(kubeconfig);
  try {
    const t0 = performance.now();
    populateValid(api, pebble.directoryUrl, size, opts.bare);
    console.log(`\nprepared ${COUNT} Ingresses and ${COUNT} valid managed Secrets in ${size.namespaces} namespaces in ${seconds(performance.now() - t0)}${opts.bare ? ' (bare objects)' : ' (with last-applied annotations and managedFields)'}`);
    const req = (passes: number, extra: Partial<WorkerRequest> = {}): WorkerRequest => ({ kubeconfig, directoryUrl: pebble.directoryUrl, caFile: pebble.apiCaFile, passes, ...extra });
    const runWorker = async (passes: number, nodeArgs: string[] = [], extra: Partial<WorkerRequest> = {}) => {
      const r = await runMeasured(process.execPath, ['--expose-gc', ...(opts.nodeArgs ?? []), ...nodeArgs, workerJs, JSON.stringify(req(passes, extra))], { timeoutMs: 900_000 });
      if (r.code !== 0) throw new Error(`the runPass worker failed (exit ${r.code}):\n${r.stderr}`);
      return { process: r, result: JSON.parse(r.stdout) as WorkerResult };
    };

    const cold: { pass: PassFigures; rssKb: number; loadMs: number; runtimeMs: number; requests: RequestRecord[] }[] = [];
    const warm: PassFigures[] = [];
    const warmRss: number[] = [];
    const warmRequests: number[][] = [];
    const heapTrail: string[] = [];
    const warmPeaks: WorkerResult['peak'][] = [];
    const cli: { m: Measured; requests: RequestRecord[]; json: RenewJson }[] = [];
    for (let run = 1; run <= opts.runs; run++) {
      process.stderr.write(`(a) ${COUNT} Ingresses, run ${run}/${opts.runs}…\n`);
      api.resetRequests();
      const one = await runWorker(1);
      const pass = one.result.passes[0];
      if (!pass) throw new Error('the worker ran no pass');
      cold.push({ pass, rssKb: one.result.maxRssKb, loadMs: one.result.loadMs, runtimeMs: one.result.runtimeMs, requests: [...api.requests] });

      api.resetRequests();
      const several = await runWorker(opts.warmPasses);
      warm.push(...several.result.passes.slice(1));
      warmRss.push(several.result.maxRssKb);
      warmPeaks.push(several.result.peak);
      warmRequests.push([api.requests.length]);
      heapTrail.push(several.result.passes.map((p) => `${mib(p.heapUsedKb)} heap used of ${mib(p.heapTotalKb)}, ${mib(p.externalKb)} external, ${mib(p.rssKb)} RSS`).join(' → '));

      api.resetRequests();
      const m = await runMeasured(process.execPath, [CLI, 'renew', '--kubeconfig', kubeconfig, '--directory', pebble.directoryUrl, '--acme-ca-bundle', pebble.apiCaFile, '-o', 'json'], {
        env: { ...process.env, CERTKEEPER_LOG_LEVEL: 'info' },
        timeoutMs: 900_000,
      });
      const json = renewJson(m);
      if (m.code !== 0 || json.ordersPlaced !== 0) throw new Error(`certkeeper renew over valid Secrets: exit ${m.code}, ${json.ordersPlaced} orders: ${tally(json)}`);
      cli.push({ m, requests: [...api.requests], json });
    }
    const outcome = JSON.stringify(cold[0]?.pass.results);
    console.log(`outcomes of each pass: ${outcome}; renew -o json: ${cli[0] ? tally(cli[0].json) : '?'}`);

    const target = TARGETS[COUNT] ?? {};
    const row = (label: string, wall: number, cpu: number, rss: number, requests: string, wallTarget: number | undefined) => [
      label,
      millis(wall),
      millis(cpu),
      mib(rss),
      requests,
      wallTarget === undefined ? '–' : `< ${seconds(wallTarget)}: ${verdict(wall, wallTarget)}`,
      target.rssMB === undefined ? '–' : `< ${target.rssMB} MB: ${verdict(rss, target.rssMB * MB)}`,
    ];
    printTable(
      `a) one pass over ${COUNT.toLocaleString('en')} opted-in Ingresses in ${size.namespaces} namespaces, all Secrets valid (nothing to issue); median of ${opts.runs}`,
      ['what', 'wall', 'CPU (user+sys)', 'peak RSS', 'API requests', 'wall target', 'RSS target'],
      [
        row(
          'runPass, first pass in a fresh process (cold)',
          median(cold.map((c) => c.pass.wallMs)),
          median(cold.map((c) => c.pass.userMs + c.pass.sysMs)),
          median(cold.map((c) => c.rssKb)),
          String(median(cold.map((c) => c.requests.length))),
          target.coldMs,
        ),
        row(
          `runPass, passes 2–${opts.warmPasses} of one process (warm)`,
          median(warm.map((p) => p.wallMs)),
          median(warm.map((p) => p.userMs + p.sysMs)),
          median(warmRss),
          `${median(warmRequests.map((r) => r[0] ?? 0)) / opts.warmPasses} each`,
          target.warmMs,
        ),
        row(
          '`certkeeper renew -o json`, whole process',
          median(cli.map((c) => c.m.wallMs)),
          median(cli.map((c) => c.m.userMs + c.m.sysMs)),
          median(cli.map((c) => c.m.peakRssKb)),
          String(median(cli.map((c) => c.requests.length))),
          target.coldMs,
        ),
      ],
    );
    console.log(
      `before the first pass: node start and module loading ${millis(median(cold.map((c) => c.loadMs)))}, createKubeRuntime (kubeconfig, clients) ${millis(median(cold.map((c) => c.runtimeMs)))}`,
    );
    const phaseRow = (label: string, ps: PassFigures[]) => [label, ...['lists', 'plan', 'decide', 'audit'].map((k) => millis(median(ps.map((p) => p.phases[k] ?? NaN))))];
    printTable(
      'where the time of a pass goes (medians; lists include the lease, decide includes a log line per Target)',
      ['pass', 'lists (lease, GC, Ingresses, Secrets, failures)', 'plan (Targets and spec findings)', 'decide (and log)', 'audit'],
      [phaseRow('cold', cold.map((c) => c.pass)), phaseRow('warm', warm)],
    );
    console.log(`memory after each pass of one process, after a forced GC (first run): ${heapTrail[0] ?? '?'}`);
    const pk = warmPeaks[0];
    if (pk) console.log(`highest during those passes (5 ms samples): ${mib(pk.heapUsedKb)} heap used of ${mib(pk.heapTotalKb)}, ${mib(pk.externalKb)} external, ${mib(pk.rssKb)} RSS`);

    const inproc = countRequests(cold[0]?.requests ?? []);
    const proc = countRequests(cli[0]?.requests ?? []);
    const keys = [...new Set([...inproc.keys(), ...proc.keys()])].sort();
    printTable(
      `API requests of one pass over ${COUNT.toLocaleString('en')} Ingresses, by verb and resource (first run)`,
      ['request', 'runPass', 'certkeeper renew'],
      keys.map((k) => [k, String(inproc.get(k) ?? 0), String(proc.get(k) ?? 0)]),
    );
    const pages = (cli[0]?.requests ?? []).filter((r) => r.verb === 'list').map((r) => `${r.resource}${r.query.continue ? '+' : ''}`);
    const pageCounts = new Map<string, number>();
    for (const p of pages) pageCounts.set(p, (pageCounts.get(p) ?? 0) + 1);
    console.log(`list calls (+ = a continued page, limit=${cli[0]?.requests.find((r) => r.verb === 'list')?.query.limit ?? '-'}): ${[...pageCounts].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    const perObject = [...perObjectRequests(cold[0]?.requests ?? []), ...perObjectRequests(cli[0]?.requests ?? [])];
    console.log(
      perObject.length === 0
        ? `per-object requests for the ${COUNT} Ingresses/Secrets: none`
        : `PER-OBJECT REQUESTS (a bug): ${perObject.length}, e.g. ${perObject.slice(0, 5).map((r) => `${r.verb} ${r.path}`).join(', ')}`,
    );
    const counts = new Set([...cold.map((c) => c.requests.length), ...cli.map((c) => c.requests.length)]);
    console.log(`request count per pass across runs: ${[...counts].join(', ')}`);

    if (deepDive && opts.heapSnapshot) {
      // BENCH_KEEP_SNAPSHOTS=DIR keeps the snapshot files there, for a closer look in DevTools.
      const dir = process.env.BENCH_KEEP_SNAPSHOTS ?? join(work, `heap-${COUNT}`);
      await mkdir(dir, { recursive: true });
      process.stderr.write(`(a) ${COUNT} Ingresses: heap snapshots…\n`);
      const r = await runWorker(opts.warmPasses, [], { heapSnapshot: { dir, at: ['lists', 'audit', 'end'], targets: COUNT } });
      for (const [at, file] of Object.entries(r.result.snapshots)) {
        const summary = summariseHeapSnapshot(await readFile(file, 'utf8'), 15);
        const label =
          at === 'lists'
            ? 'pass 1, once both lists are read'
            : at === 'audit'
              ? 'pass 1, halfway through the audit (every decision made: the high-water mark of live data)'
              : `after pass ${opts.warmPasses} and a forced GC (what stays between passes)`;
        console.log(`\nheap snapshot of ${COUNT.toLocaleString('en')} Ingresses, ${label}: ${mib(summary.totalBytes / 1024)} in ${summary.nodes.toLocaleString('en')} objects`);
        printTable('by constructor (shallow size)', ['constructor', 'objects', 'size'], summary.byConstructor.map((c) => [c.name, c.count.toLocaleString('en'), mib(c.selfBytes / 1024)]));
        printTable(
          'strings by what holds them (the first object that refers to each)',
          ['held by', 'strings', 'size'],
          summary.stringsByHolder.map((h) => [h.holder.length > 70 ? `${h.holder.slice(0, 67)}…` : h.holder, h.count.toLocaleString('en'), mib(h.bytes / 1024)]),
        );
        printTable(
          'top retainers (retained size: what freeing the object would free)',
          ['object', 'held by', 'retained', 'own'],
          summary.topRetainers.map((t) => [t.name, t.heldBy.length > 70 ? `${t.heldBy.slice(0, 67)}…` : t.heldBy, mib(t.retainedBytes / 1024), `${Math.round(t.selfBytes / 1024)} KiB`]),
        );
        if (!process.env.BENCH_KEEP_SNAPSHOTS) await rm(file, { force: true });
        else console.log(`kept ${file}`);
      }
    }
    if (deepDive && opts.cpuProfile) {
      for (const [label, passes] of [['cold: the first pass and everything before it', 1], [`${opts.warmPasses} passes in one process`, opts.warmPasses]] as const) {
        const dir = join(work, `prof-${COUNT}-${passes}`);
        await mkdir(dir, { recursive: true });
        process.stderr.write(`(a) ${COUNT} Ingresses: CPU profile (${passes} pass(es))…\n`);
        await runWorker(passes, ['--cpu-prof', '--cpu-prof-dir', dir]);
        const rows = await profileRows(dir, 25);
        printTable(`CPU profile of one worker process over ${COUNT.toLocaleString('en')} Ingresses, ${label}: functions by self time`, ['function', 'self', 'share'], rows.self);
        printTable(`… and by total time (what they call included)`, ['function', 'total', 'share'], rows.total);
      }
    }
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

export async function benchPass(options: PassBenchOptions = {}): Promise<void> {
  const sizes = options.sizes ?? [
    { ingresses: 1000, namespaces: 20 },
    { ingresses: 10000, namespaces: 100 },
  ];
  const runs = options.runs ?? 3;
  const warmPasses = options.warmPasses ?? 4;
  // 50 sequential `issue` processes take minutes on a busy two-core machine.
  const issuingRuns = options.issuingRuns ?? 2;
  console.log(`certkeeper pass benchmark: ${machineLine()}`);
  console.log(
    `(a) ${sizes.map((s) => `${s.ingresses}×${s.namespaces} namespaces`).join(', ')}: ${runs} runs per figure (median), ${warmPasses} passes in the warm process` +
      (options.skipIssuing ? '' : `; (b) ${issuingRuns} runs; Pebble with PEBBLE_VA_NOSLEEP=1 and 5% nonce rejection`),
  );
  const pebble = await startPebble();
  const work = await mkdtemp(join(tmpdir(), 'certkeeper-bench-pass-'));
  try {
    const workerJs = await bundleWorker();
    const largest = Math.max(...sizes.map((s) => s.ingresses));
    for (const size of sizes) await benchValidPass(pebble, work, workerJs, size, { ...options, runs, warmPasses }, size.ingresses === largest);
    if (!options.skipIssuing) await benchIssuingPass(pebble, work, issuingRuns);
  } finally {
    await pebble.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** `--sizes 1000x20,10000x100 --runs 3 --warm-passes 4 --issuing-runs 2 --skip-issuing --heap-snapshot --cpu-profile --bare` */
export function parsePassArgs(argv: readonly string[]): PassBenchOptions {
  const opts: PassBenchOptions = {};
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive whole number, not ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--sizes') {
      opts.sizes = (next() ?? '').split(',').map((s) => {
        const m = /^(\d+)x(\d+)$/.exec(s.trim());
        if (!m) throw new Error(`--sizes takes INGRESSESxNAMESPACES[,…], e.g. 1000x20,10000x100; not "${s}"`);
        return { ingresses: Number(m[1]), namespaces: Number(m[2]) };
      });
    } else if (a === '--runs') opts.runs = num(a, next());
    else if (a === '--warm-passes') opts.warmPasses = Math.max(2, num(a, next()));
    else if (a === '--issuing-runs') opts.issuingRuns = num(a, next());
    else if (a === '--skip-issuing') opts.skipIssuing = true;
    else if (a === '--heap-snapshot') opts.heapSnapshot = true;
    else if (a === '--cpu-profile') opts.cpuProfile = true;
    else if (a === '--bare') opts.bare = true;
    else if (a === '--node-args') opts.nodeArgs = (next() ?? '').split(' ').filter(Boolean);
    else throw new Error(`unknown argument ${a ?? ''}; see the header of bench/pass.ts`);
  }
  return opts;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchPass(parsePassArgs(process.argv.slice(2)));
}
