// The child process of bench:pass: runPass as `renew` builds it (createKubeRuntime, the same
// settings), `passes` times in one process, with figures per pass. bench/pass.ts bundles this file
// with the options of dist/cli.js (scripts/build.mjs), so the code that loads and the memory it
// takes are what a `certkeeper renew` or `run` process loads, not tsc's one-file-per-module output.
//
// Optional: a V8 heap snapshot at the pass's high-water mark (every list read, nothing decided
// yet) or after the last pass (what stays between passes), for bench/heap-summary.ts.
import { openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { writeHeapSnapshot } from 'node:v8';
import { CLUSTER_SETTINGS } from '../src/commands/renew.js';
import { resolveSettings } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { runPass, type PassPorts, type PassResult } from '../src/pass.js';
import type { ClusterPort } from '../src/ports.js';
import { createKubeRuntime, passOptionsFrom } from '../src/wiring.js';

export interface WorkerRequest {
  kubeconfig: string;
  directoryUrl: string;
  caFile: string;
  passes: number;
  /**
   * Write heap snapshots into this folder: `lists` (pass 1, once both lists are read), `audit`
   * (pass 1, halfway through the audit of `targets` Targets: every decision made, its outcome
   * and views held), `end` (after the last pass and a GC).
   */
  heapSnapshot?: { dir: string; at: ('lists' | 'audit' | 'end')[]; targets?: number };
}

export interface PassFigures {
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** After the pass and a forced GC: what the pass leaves behind. */
  heapUsedKb: number;
  /** V8's heap as reserved (it grows for a big pass and gives little back). */
  heapTotalKb: number;
  /** Memory of Buffers and other objects outside V8's heap. */
  externalKb: number;
  rssKb: number;
  results: Record<string, number>;
  /** Where the pass's time went (phaseTimer), in ms. */
  phases: Record<string, number>;
}

export interface WorkerResult {
  /** Module loading up to the first line of this worker (node start excluded). */
  loadMs: number;
  runtimeMs: number;
  passes: PassFigures[];
  maxRssKb: number;
  /** Highest values seen by a 5 ms sampler during the passes (it cannot see inside synchronous stretches). */
  peak: { heapUsedKb: number; heapTotalKb: number; externalKb: number; rssKb: number };
  snapshots: Record<string, string>;
}

const loadedAt = performance.now();

/**
 * Snapshots the heap once the first pass has read both lists and the failure records (its peak of
 * live data). Nothing is in flight then, so no request deadline runs out while V8 writes the file.
 */
function snapshotAfterLists(ports: PassPorts, file: string, taken: Record<string, string>): PassPorts {
  let ingresses: Promise<unknown> | undefined;
  let failures: Promise<unknown> | undefined;
  const cluster: ClusterPort = Object.create(ports.cluster) as ClusterPort;
  cluster.listIngresses = (ns) => (taken.lists ? ports.cluster.listIngresses(ns) : (ingresses ??= ports.cluster.listIngresses(ns))) as ReturnType<ClusterPort['listIngresses']>;
  cluster.listTlsSecrets = async (ns) => {
    const secrets = await ports.cluster.listTlsSecrets(ns);
    if (!taken.lists) {
      await Promise.all([ingresses, failures]);
      taken.lists = writeHeapSnapshot(file);
      // Held only until now: the pass itself lets go of the Ingresses once it has planned.
      ingresses = undefined;
      failures = undefined;
    }
    return secrets;
  };
  const load = () => (taken.lists ? ports.failures.load() : (failures ??= ports.failures.load())) as ReturnType<PassPorts['failures']['load']>;
  return { ...ports, cluster, failures: { ...ports.failures, load } };
}

/**
 * Snapshots the heap halfway through the first pass's audit. The pass reads the clock once per
 * Target to decide and once per Target to audit, so that is its 1.5 × targets-th reading.
 */
function snapshotInAudit(ports: PassPorts, file: string, targets: number, taken: Record<string, string>): PassPorts {
  let calls = 0;
  const clock = () => {
    calls++;
    if (calls === Math.round(targets * 1.5) && !taken.audit) taken.audit = writeHeapSnapshot(file);
    return ports.clock();
  };
  return { ...ports, clock };
}

/**
 * Times the phases of a pass from the outside, by when it calls its ports: the lists (lease and
 * solver garbage collection included) end when both lists and the failure records are in; then
 * runPass reads the clock once per Target to decide, once per Target to audit, and once at the end.
 */
function phaseTimer(ports: PassPorts): { ports: PassPorts; start(): void; phases(targets: number): Record<string, number> } {
  let t0 = 0;
  let listed = 0;
  let pending = 0;
  const clockAt: number[] = [];
  const done = () => {
    if (--pending === 0) listed = performance.now();
  };
  const cluster: ClusterPort = Object.create(ports.cluster) as ClusterPort;
  cluster.listIngresses = (ns) => {
    pending++;
    return ports.cluster.listIngresses(ns).finally(done);
  };
  cluster.listTlsSecrets = (ns) => {
    pending++;
    return ports.cluster.listTlsSecrets(ns).finally(done);
  };
  const load = () => {
    pending++;
    return ports.failures.load().finally(done);
  };
  const clock = () => {
    clockAt.push(performance.now());
    return ports.clock();
  };
  return {
    ports: { ...ports, cluster, failures: { ...ports.failures, load }, clock },
    start: () => {
      t0 = performance.now();
      clockAt.length = 0;
    },
    phases: (targets) => {
      const at = (i: number) => clockAt[i] ?? NaN;
      const decideStart = at(1);
      const auditStart = at(1 + targets);
      const end = at(1 + 2 * targets);
      return { lists: listed - t0, plan: decideStart - listed, decide: auditStart - decideStart, audit: end - auditStart };
    },
  };
}

async function worker(req: WorkerRequest): Promise<WorkerResult> {
  const loadMs = loadedAt;
  const cfg = resolveSettings([...CLUSTER_SETTINGS, 'concurrency'], { kubeconfig: req.kubeconfig, directory: req.directoryUrl, acmeCaBundle: req.caFile }, {});
  // Log lines are formatted as `renew` formats them (one per Target) and written to /dev/null one
  // write(2) each, synchronously as Node writes to stderr when it is a file or a pipe. (An
  // fs.WriteStream would queue a pass's 10,000 lines in memory, which certkeeper never does.)
  const devNull = openSync('/dev/null', 'w');
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writeSync(devNull, chunk);
      done();
    },
  });
  const log = createLogger({ level: cfg.logLevel, format: cfg.logFormat, destination });
  const t0 = performance.now();
  const runtime = await createKubeRuntime(cfg, log);
  const runtimeMs = performance.now() - t0;
  const snapshots: Record<string, string> = {};
  const snap = req.heapSnapshot;
  let ports = snap?.at.includes('lists') ? snapshotAfterLists(runtime.ports, join(snap.dir, 'lists.heapsnapshot'), snapshots) : runtime.ports;
  if (snap?.at.includes('audit') && snap.targets) ports = snapshotInAudit(ports, join(snap.dir, 'audit.heapsnapshot'), snap.targets, snapshots);
  const gc = (globalThis as { gc?: () => void }).gc;
  const passes: PassFigures[] = [];
  const peak = { heapUsedKb: 0, heapTotalKb: 0, externalKb: 0, rssKb: 0 };
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peak.heapUsedKb = Math.max(peak.heapUsedKb, m.heapUsed / 1024);
    peak.heapTotalKb = Math.max(peak.heapTotalKb, m.heapTotal / 1024);
    peak.externalKb = Math.max(peak.externalKb, m.external / 1024);
    peak.rssKb = Math.max(peak.rssKb, m.rss / 1024);
  }, 5);
  try {
    for (let i = 0; i < req.passes; i++) {
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      const timer = phaseTimer(i === 0 ? ports : runtime.ports);
      timer.start();
      const result: PassResult = await runPass(timer.ports, passOptionsFrom(runtime.directoryUrl, cfg));
      const wallMs = performance.now() - t;
      const cpu = process.cpuUsage(cpu0);
      const results: Record<string, number> = {};
      for (const o of result.outcomes) results[`${o.result}/${o.reason}`] = (results[`${o.result}/${o.reason}`] ?? 0) + 1;
      gc?.();
      const mem = process.memoryUsage();
      passes.push({
        wallMs,
        userMs: cpu.user / 1000,
        sysMs: cpu.system / 1000,
        heapUsedKb: mem.heapUsed / 1024,
        heapTotalKb: mem.heapTotal / 1024,
        externalKb: mem.external / 1024,
        rssKb: mem.rss / 1024,
        results,
        phases: timer.phases(result.outcomes.length),
      });
    }
    if (snap?.at.includes('end')) {
      gc?.();
      snapshots.end = writeHeapSnapshot(join(snap.dir, 'end.heapsnapshot'));
    }
  } finally {
    clearInterval(sampler);
    await runtime.close();
  }
  return { loadMs, runtimeMs, passes, maxRssKb: process.resourceUsage().maxRSS, peak, snapshots };
}

const result = await worker(JSON.parse(process.argv[2] ?? '{}') as WorkerRequest);
// Keep-alive sockets to the API would hold the process open for their idle timeout.
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
