// Does `certkeeper run` hold on to anything over time? One `certkeeper run` process (dist/cli.js,
// as the image runs it) against the in-process Kubernetes API with 1,000 opted-in Ingresses whose
// Secrets are all valid, on a 10-second schedule, for 30 minutes by default: a pass (and the live
// audit after it) every 10 seconds, 180 in all, each listing everything, deciding nothing new.
//
// Sampled every few seconds from outside the process: RSS (/proc/PID/status), open file
// descriptors (/proc/PID/fd: sockets and files), and from its /metrics: active handles and
// resources (nodejs_active_handles, nodejs_active_resources_total), the V8 heap in use; from its
// log: how long each pass and its audit took. Printed per interval, then the first quarter (the
// warm-up) left out, the second quarter against the last: flat, or not.
//
// With --heap-snapshots, the service runs with --heapsnapshot-signal=SIGUSR2 and gets the signal
// at the end of the warm-up and at the end: both snapshots (each after a full GC) are summarised
// and compared by constructor, which tells a leak from a heap that merely saws up and down.
//
// Run: npm run bench:soak [-- --minutes 30] [--ingresses 1000] [--namespaces 20]
//        [--schedule-seconds 10] [--sample-seconds 5] [--report-minutes 2] [--heap-snapshots]
// Never part of the tests: it runs for as long as it is told to.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { startKubeApi } from '../test/support/kube-api/index.js';
import { startPebble } from '../test/support/pebble.js';
import { CLI, machineLine, median, printTable, rssOf } from './issue.js';
import { summariseHeapSnapshot, type HeapSummary } from './heap-summary.js';
import { populateValid } from './pass.js';

export interface SoakOptions {
  minutes: number;
  ingresses: number;
  namespaces: number;
  scheduleSeconds: number;
  sampleSeconds: number;
  reportMinutes: number;
  heapSnapshots?: boolean;
}

interface Sample {
  atMs: number;
  rssKb: number;
  fds: number;
  handles?: number;
  resources?: number;
  heapUsedBytes?: number;
}

interface PassLine {
  atMs: number;
  passSeconds: number;
  totalSeconds: number;
  ok: boolean;
  skipped: number;
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.end();
  });
}

/** The value of an unlabelled series, or the sum of a labelled one, in Prometheus text. */
function metric(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;
const round = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));

/** Least-squares slope of y over x (per unit of x). */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

export async function benchSoak(o: SoakOptions): Promise<void> {
  console.log(`certkeeper soak benchmark: ${machineLine()}`);
  console.log(
    `\`certkeeper run\` over ${o.ingresses.toLocaleString('en')} Ingresses in ${o.namespaces} namespaces (all Secrets valid), a pass every ${o.scheduleSeconds} s, for ${o.minutes} min; samples every ${o.sampleSeconds} s`,
  );
  const pebble = await startPebble();
  const api = await startKubeApi({ namespaces: ['certkeeper'] });
  const work = await mkdtemp(join(tmpdir(), 'certkeeper-bench-soak-'));
  const kubeconfig = join(work, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  try {
    const t0 = performance.now();
    populateValid(api, pebble.directoryUrl, { ingresses: o.ingresses, namespaces: o.namespaces });
    console.log(`prepared in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const args = [
      CLI, 'run',
      '--kubeconfig', kubeconfig,
      '--directory', pebble.directoryUrl,
      '--acme-ca-bundle', pebble.apiCaFile,
      '--http-port', '0',
      '--http-address', '127.0.0.1',
      '--admin-port', '0',
      '--admin-address', '127.0.0.1',
      '--schedule', `*/${o.scheduleSeconds} * * * * *`,
      '--log-format', 'json',
    ];
    const nodeArgs = o.heapSnapshots ? ['--heapsnapshot-signal=SIGUSR2'] : [];
    const child = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: work });
    const pid = child.pid ?? 0;
    const started = performance.now();
    const passes: PassLine[] = [];
    const errors: string[] = [];
    let adminPort: number | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /admin port (\d+)/.exec(line);
      if (m) adminPort = Number(m[1]);
    });
    // The service logs a line per certificate and pass at info level, as in production; only the
    // pass summaries and warnings are kept.
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (!line.startsWith('{')) {
        if (errors.length < 20) errors.push(line);
        return;
      }
      const e = JSON.parse(line) as { msg?: string; level?: number; passSeconds?: number; totalSeconds?: number; ok?: boolean; skipped?: number };
      if (e.msg === 'pass finished' && e.passSeconds !== undefined) {
        passes.push({ atMs: performance.now() - started, passSeconds: e.passSeconds, totalSeconds: e.totalSeconds ?? NaN, ok: e.ok ?? false, skipped: e.skipped ?? 0 });
      } else if ((e.level ?? 0) >= 40 && errors.length < 20) errors.push(line.slice(0, 300));
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

    const samples: Sample[] = [];
    const endAt = started + o.minutes * 60_000;
    let nextReport = started + o.reportMinutes * 60_000;
    const reportRows: string[][] = [];
    const rowFor = (from: number, to: number): string[] => {
      const s = samples.filter((x) => x.atMs >= from && x.atMs < to);
      const p = passes.filter((x) => x.atMs >= from && x.atMs < to);
      return [
        `${round(from / 60_000, 1)}–${round(to / 60_000, 1)} min`,
        String(p.length),
        round(median(p.map((x) => x.passSeconds * 1000))),
        round(median(p.map((x) => x.totalSeconds * 1000))),
        round(median(s.map((x) => x.rssKb / 1024)), 1),
        round(Math.max(...s.map((x) => x.rssKb / 1024)), 1),
        round(Math.min(...s.map((x) => (x.heapUsedBytes ?? NaN) / 2 ** 20)), 1),
        round(median(s.map((x) => x.fds))),
        round(median(s.map((x) => x.handles ?? NaN))),
        round(median(s.map((x) => x.resources ?? NaN))),
      ];
    };
    const header = ['minutes', 'passes', 'pass ms (median)', 'pass+audit ms', 'RSS MiB (median)', 'RSS max', 'heap used MiB (lowest)', 'open fds', 'active handles', 'active resources'];
    let lastReportAt = 0;
    const snapshots: { atMin: number; summary: HeapSummary }[] = [];
    const snapshot = async () => {
      const before = new Set(readdirSync(work));
      child.kill('SIGUSR2');
      // The service writes the file synchronously after a full GC; done when its size stops changing.
      let file: string | undefined;
      let size = -1;
      for (;;) {
        await new Promise((r) => setTimeout(r, 1000));
        file ??= readdirSync(work).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
        if (!file) continue;
        const now = statSync(join(work, file)).size;
        if (now > 0 && now === size) break;
        size = now;
      }
      snapshots.push({ atMin: (performance.now() - started) / 60_000, summary: summariseHeapSnapshot(readFileSync(join(work, file), 'utf8'), 400) });
      await rm(join(work, file), { force: true });
    };
    let warmSnapshotAt = o.heapSnapshots ? started + (o.minutes * 60_000) / 4 : Infinity;
    while (performance.now() < endAt && child.exitCode === null) {
      if (performance.now() >= warmSnapshotAt) {
        warmSnapshotAt = Infinity;
        await snapshot();
      }
      await new Promise((r) => setTimeout(r, o.sampleSeconds * 1000));
      const rssKb = rssOf(pid);
      if (rssKb === undefined) break;
      const sample: Sample = { atMs: performance.now() - started, rssKb, fds: fdCount(pid) };
      if (adminPort !== undefined) {
        try {
          const text = await httpGet(adminPort, '/metrics');
          const handles = metric(text, 'nodejs_active_handles');
          const resources = metric(text, 'nodejs_active_resources');
          const heap = metric(text, 'nodejs_heap_size_used_bytes');
          if (handles !== undefined) sample.handles = handles;
          if (resources !== undefined) sample.resources = resources;
          if (heap !== undefined) sample.heapUsedBytes = heap;
        } catch (e) {
          if (errors.length < 20) errors.push(`GET /metrics: ${(e as Error).message}`);
        }
      }
      samples.push(sample);
      if (performance.now() >= nextReport) {
        const row = rowFor(lastReportAt, sample.atMs);
        reportRows.push(row);
        process.stderr.write(`${row.join(' | ')}\n`);
        lastReportAt = sample.atMs;
        nextReport += o.reportMinutes * 60_000;
      }
    }
    if (child.exitCode !== null) throw new Error(`certkeeper run exited early (code ${child.exitCode}):\n${errors.join('\n')}`);
    if (o.heapSnapshots) await snapshot();
    child.kill('SIGTERM');
    await exited;
    if (lastReportAt < (samples.at(-1)?.atMs ?? 0)) reportRows.push(rowFor(lastReportAt, (samples.at(-1)?.atMs ?? 0) + 1));

    printTable(`certkeeper run over ${o.minutes} minutes, every ${o.reportMinutes} min (medians of ${o.sampleSeconds}-second samples)`, header, reportRows);

    // Flat or not: the warm-up (first quarter) left out, the second quarter against the last.
    const total = o.minutes * 60_000;
    const q = (i: number) => [(total * i) / 4, (total * (i + 1)) / 4] as const;
    const [a0, a1] = q(1);
    const [b0, b1] = q(3);
    const second = rowFor(a0, a1);
    const last = rowFor(b0, b1 + 1);
    printTable('second quarter against the last (the first is the warm-up)', header, [second, last]);
    const steady = samples.filter((s) => s.atMs >= a0);
    const rssSlope = slope(steady.map((s) => [s.atMs / 3_600_000, s.rssKb / 1024]));
    // The heap in use saws up and down with each pass; its floor per minute is what a leak raises.
    const floors: [number, number][] = [];
    for (let m = Math.floor(a0 / 60_000); m < o.minutes; m++) {
      const inMinute = steady.filter((s) => s.heapUsedBytes !== undefined && s.atMs >= m * 60_000 && s.atMs < (m + 1) * 60_000);
      if (inMinute.length > 0) floors.push([(m + 0.5) / 60, Math.min(...inMinute.map((s) => (s.heapUsedBytes ?? 0) / 2 ** 20))]);
    }
    const heapSlope = slope(floors);
    const fdSlope = slope(steady.map((s) => [s.atMs / 3_600_000, s.fds]));
    const passSlope = slope(passes.filter((p) => p.atMs >= a0).map((p) => [p.atMs / 3_600_000, p.passSeconds * 1000]));
    console.log(
      `trend after the warm-up (least squares): RSS ${round(rssSlope, 1)} MiB/h, lowest heap used per minute ${round(heapSlope, 1)} MiB/h, open fds ${round(fdSlope, 1)}/h, pass duration ${round(passSlope, 0)} ms/h`,
    );
    const failed = passes.filter((p) => !p.ok).length;
    // One pass at start, then one per tick.
    const expected = Math.floor((o.minutes * 60) / o.scheduleSeconds) + 1;
    console.log(`passes: ${passes.length} (${expected} expected: one at start, one per tick), ${failed} not ok; every pass skipped ${median(passes.map((p) => p.skipped))} certificates (median)`);
    console.log(`peak RSS of the whole run: ${mib(Math.max(...samples.map((s) => s.rssKb)))}; RSS at the end: ${mib(samples.at(-1)?.rssKb ?? NaN)}`);
    if (errors.length > 0) console.log(`warnings and errors logged (first ${errors.length}):\n${errors.join('\n')}`);
    const [first, lastSnap] = snapshots;
    if (first && lastSnap) {
      const mibOf = (b: number) => (b / 2 ** 20).toFixed(1);
      console.log(
        `\nheap snapshots (live objects after a full GC): ${mibOf(first.summary.totalBytes)} MiB in ${first.summary.nodes.toLocaleString('en')} objects at ${first.atMin.toFixed(1)} min, ` +
          `${mibOf(lastSnap.summary.totalBytes)} MiB in ${lastSnap.summary.nodes.toLocaleString('en')} objects at ${lastSnap.atMin.toFixed(1)} min`,
      );
      const before = new Map(first.summary.byConstructor.map((c) => [c.name, c]));
      const rows = lastSnap.summary.byConstructor
        .map((c) => ({ name: c.name, count: c.count - (before.get(c.name)?.count ?? 0), bytes: c.selfBytes - (before.get(c.name)?.selfBytes ?? 0) }))
        .filter((d) => d.count !== 0 || d.bytes !== 0)
        .sort((a, b) => Math.abs(b.bytes) - Math.abs(a.bytes))
        .slice(0, 12);
      printTable(
        'what changed between the two snapshots, by constructor',
        ['constructor', 'objects', 'bytes'],
        rows.map((r) => [r.name, `${r.count > 0 ? '+' : ''}${r.count.toLocaleString('en')}`, `${r.bytes > 0 ? '+' : ''}${Math.round(r.bytes / 1024).toLocaleString('en')} KiB`]),
      );
    }
    const status = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`load average at the end: ${status}`);
  } finally {
    await api.close();
    await pebble.stop();
    await rm(work, { recursive: true, force: true });
  }
}

export function parseSoakArgs(argv: readonly string[]): SoakOptions {
  const o: SoakOptions = { minutes: 30, ingresses: 1000, namespaces: 20, scheduleSeconds: 10, sampleSeconds: 5, reportMinutes: 2 };
  const flags: Record<string, keyof SoakOptions> = {
    '--minutes': 'minutes',
    '--ingresses': 'ingresses',
    '--namespaces': 'namespaces',
    '--schedule-seconds': 'scheduleSeconds',
    '--sample-seconds': 'sampleSeconds',
    '--report-minutes': 'reportMinutes',
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--heap-snapshots') {
      o.heapSnapshots = true;
      continue;
    }
    const key = flags[argv[i] ?? ''];
    const v = Number(argv[i + 1]);
    if (!key || !(v > 0)) {
      throw new Error(`usage: bench:soak [--minutes N] [--ingresses N] [--namespaces N] [--schedule-seconds N] [--sample-seconds N] [--report-minutes N] [--heap-snapshots]; not "${argv[i] ?? ''} ${argv[i + 1] ?? ''}"`);
    }
    (o[key] as number) = v;
    i++;
  }
  if (60 % o.scheduleSeconds !== 0) throw new Error('--schedule-seconds must divide 60 (the schedule is the cron expression */N in the seconds field)');
  return o;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchSoak(parseSoakArgs(process.argv.slice(2)));
}
