// certkeeper against its peers, measured here, in the same run, against the same CA: certbot
// (Debian 12: 2.1), lego (Debian 12: 4.9; Debian sid: 4.35) and `certkeeper issue`, each with its
// default settings (all three default to ECDSA P-256 keys), against one Pebble (Debian 12: 2.4,
// PEBBLE_VA_NOSLEEP=1, 5% of nonces rejected). Every client answers HTTP-01 itself on the port
// Pebble validates on, one process at a time.
//
// Scenarios, each run round-robin (tool A run 1, tool B run 1, …, then run 2), so that a change in
// the machine's load hits every tool alike:
//   register   first certificate with a new account (a fresh folder each run)
//   existing   one certificate with an existing account
//   names20    one certificate with 20 names
//   seq        N certificates (default 20) as N sequential processes, interleaved process by
//              process; and certkeeper's one-process mode (N concurrent orders, as `renew` runs them)
//   renew      the idle renewal check over those N certificates, as each tool's cron job runs it:
//              `certbot renew` (one process), `lego renew` (one process per certificate), and
//              `certkeeper issue` re-run on each existing --out (it orders nothing for a
//              certificate that is not due, as a cron job runs it)
//   nonce      10 issuances with an existing account, counting failures (Pebble rejects 5% of
//              nonces: a client that does not retry badNonce fails about one request in twenty)
//
// Per process: wall time, CPU (user+sys) and peak RSS from GNU time (wait4 of the child). Figures
// are medians with min–max; "ck/peer" is certkeeper's figure divided by the peer's, both from the
// same runs (0.25 = certkeeper needs a quarter of the peer's time).
//
// Run: npm run bench:peers
//   BENCH_RUNS=3        runs of register and existing, and of the version/help timings
//   BENCH_NAMES20_RUNS=1 runs of names20 (lego validates 20 names one by one, ~100 s a run)
//   BENCH_N=20          certificates in seq and renew
//   BENCH_NONCE_RUNS=10 issuances in nonce
//   BENCH_TOOLS=certkeeper,certbot,lego-4.9,lego-4.35   (a subset; certkeeper is always run)
//   BENCH_SCENARIOS=register,existing,names20,seq,renew,nonce
// With every tool and the defaults this takes about 12 minutes on a 2-core machine, most of it
// lego's fixed 5 s wait per validation (Pebble sends no Retry-After); without the legos, about 4.
// Everything the tools write goes to one temporary folder, removed at the end.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_POLLING } from '../src/acme/issuer.js';
import { startPebble, type Pebble } from '../test/support/pebble.js';
import { CLI, ROOT, inProcess, machineLine, median, mib, printTable, runMeasured, seconds, type Measured } from './issue.js';

const SID_LEGO = join(ROOT, '.tools', 'sid', 'usr', 'bin', 'lego');
const DEB_LEGO = '/usr/bin/lego';
const CERTBOT = '/usr/bin/certbot';

interface Invocation {
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

interface Tool {
  /** Name in tables and in BENCH_TOOLS. */
  id: string;
  version: string;
  /** One certificate for `names`; `dir` is the tool's folder (account, certificates, logs). */
  issue(dir: string, names: readonly string[]): Invocation;
  /** The idle renewal check over every certificate issued into `dir`, as its user runs it. */
  renewCheck(dir: string, certs: readonly (readonly string[])[]): Invocation[];
  renewLabel: string;
  /** Copies the ACME account (not the certificates) of `from` into the empty folder `to`. */
  copyAccount(from: string, to: string): Promise<void>;
}

/** The environment without anything that would change a tool's defaults or trust. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(CERTKEEPER_|LEGO_|REQUESTS_CA_BUNDLE$|SSL_CERT_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function output(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

function debVersion(pkg: string): string {
  return output('dpkg-query', ['-W', '-f=${Version}', pkg]) || 'unknown';
}

function certkeeperTool(pebble: Pebble): Tool {
  const rev = output('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']) || 'unknown';
  const issue = (dir: string, names: readonly string[]): Invocation => ({
    cmd: process.execPath,
    args: [
      CLI, 'issue',
      ...names.flatMap((n) => ['-d', n]),
      '--out', join(dir, 'out', names[0] ?? 'none'),
      '--directory', pebble.directoryUrl,
      '--acme-ca-bundle', pebble.apiCaFile,
      '--account-dir', join(dir, 'account'),
      '--http-port', String(pebble.httpPort),
      '--http-address', '127.0.0.1',
    ],
    env: cleanEnv({}),
  });
  return {
    id: 'certkeeper',
    version: `certkeeper ${rev} (node ${process.version})`,
    issue,
    renewCheck: (dir, certs) => certs.map((names) => issue(dir, names)),
    renewLabel: '`certkeeper issue` again on each --out (not due: nothing ordered)',
    copyAccount: (from, to) => cp(join(from, 'account'), join(to, 'account'), { recursive: true }),
  };
}

function certbotTool(pebble: Pebble): Tool {
  const dirs = (dir: string) => ['--config-dir', join(dir, 'config'), '--work-dir', join(dir, 'work'), '--logs-dir', join(dir, 'logs')];
  const env = () => cleanEnv({ REQUESTS_CA_BUNDLE: pebble.apiCaFile });
  return {
    id: 'certbot',
    version: `certbot ${debVersion('certbot')}`,
    issue: (dir, names) => ({
      cmd: CERTBOT,
      args: [
        'certonly', '--standalone', '--non-interactive', '--agree-tos', '--register-unsafely-without-email',
        '--server', pebble.directoryUrl,
        '--http-01-port', String(pebble.httpPort), '--http-01-address', '127.0.0.1',
        ...dirs(dir),
        ...names.flatMap((n) => ['-d', n]),
      ],
      env: env(),
    }),
    // Without --no-random-sleep-on-renew, a non-interactive `certbot renew` first sleeps up to 8 minutes.
    renewCheck: (dir) => [{ cmd: CERTBOT, args: ['renew', '--non-interactive', '--no-random-sleep-on-renew', ...dirs(dir)], env: env() }],
    renewLabel: '`certbot renew` (one process for all)',
    copyAccount: (from, to) => cp(join(from, 'config', 'accounts'), join(to, 'config', 'accounts'), { recursive: true }),
  };
}

function legoTool(pebble: Pebble, id: string, bin: string, version: string): Tool {
  const globals = (dir: string, names: readonly string[]) => [
    '--accept-tos', '--email', 'bench@certkeeper.test',
    '--server', pebble.directoryUrl,
    '--http', '--http.port', `127.0.0.1:${pebble.httpPort}`,
    '--path', dir,
    ...names.flatMap((n) => ['--domains', n]),
  ];
  const env = () => cleanEnv({ LEGO_CA_CERTIFICATES: pebble.apiCaFile });
  return {
    id,
    version,
    issue: (dir, names) => ({ cmd: bin, args: [...globals(dir, names), 'run'], env: env() }),
    renewCheck: (dir, certs) => certs.map((names) => ({ cmd: bin, args: [...globals(dir, names), 'renew', '--no-random-sleep'], env: env() })),
    renewLabel: '`lego renew` (one process per certificate)',
    copyAccount: (from, to) => cp(join(from, 'accounts'), join(to, 'accounts'), { recursive: true }),
  };
}

// ---------------------------------------------------------------------------------------------

interface Sample {
  wallMs: number;
  cpuMs: number;
  peakRssKb: number;
  /** Processes that exited non-zero. */
  failed: number;
  processes: number;
}

function sampleOf(ms: readonly Measured[]): Sample {
  return {
    wallMs: ms.reduce((a, m) => a + m.wallMs, 0),
    cpuMs: ms.reduce((a, m) => a + m.userMs + m.sysMs, 0),
    peakRssKb: Math.max(...ms.map((m) => m.peakRssKb)),
    failed: ms.filter((m) => m.code !== 0).length,
    processes: ms.length,
  };
}

const failureNotes = new Map<string, string>();

async function measure(tool: string, inv: Invocation): Promise<Measured> {
  const m = await runMeasured(inv.cmd, inv.args, { env: inv.env, timeoutMs: 300_000 });
  if (m.code !== 0 && !failureNotes.has(tool)) {
    const tail = `${m.stderr}\n${m.stdout}`.trim().split('\n').slice(-4).join('\n  ');
    failureNotes.set(tool, `${tool} exited ${m.code}: ${inv.cmd} ${inv.args.join(' ')}\n  ${tail}`);
  }
  return m;
}

let nameCounter = 0;
const uniqueName = (tool: string, what: string) => `${tool.replace(/[^a-z0-9]/g, '')}-${what}-${++nameCounter}-${randomUUID().slice(0, 6)}.peers.certkeeper.test`;

const fmt = (xs: readonly number[], f: (x: number) => string): string => {
  const fin = xs.filter(Number.isFinite);
  if (fin.length === 0) return '–';
  if (fin.length === 1) return f(fin[0] as number);
  return `${f(median(fin))} (${f(Math.min(...fin))}–${f(Math.max(...fin))})`;
};
const ratio = (xs: readonly number[]): string => fmt(xs, (x) => x.toFixed(2));

class Results {
  private readonly samples = new Map<string, Sample[]>();

  add(scenario: string, tool: string, s: Sample): void {
    const k = `${scenario}|${tool}`;
    this.samples.set(k, [...(this.samples.get(k) ?? []), s]);
  }

  get(scenario: string, tool: string): Sample[] {
    return this.samples.get(`${scenario}|${tool}`) ?? [];
  }

  /** Rows for one scenario; ratios pair certkeeper's i-th sample with the peer's i-th (same run). */
  table(scenario: string, title: string, tools: readonly string[], labels: Record<string, string> = {}): void {
    const ck = this.get(scenario, 'certkeeper');
    const rows = tools
      .filter((t) => this.get(scenario, t).length > 0)
      .map((t) => {
        const s = this.get(scenario, t);
        // certkeeper's own rows (its one-process mode too) are what the ratios divide.
        const own = t.startsWith('certkeeper');
        const paired = (f: (x: Sample) => number) => ratio(s.map((x, i) => (ck[i] ? f(ck[i]) / f(x) : NaN)));
        return [
          labels[t] ?? t,
          fmt(s.map((x) => x.wallMs), seconds),
          fmt(s.map((x) => x.cpuMs), seconds),
          fmt(s.map((x) => x.peakRssKb), mib),
          `${s.reduce((a, x) => a + x.failed, 0)}/${s.reduce((a, x) => a + x.processes, 0)}`,
          own ? '' : paired((x) => x.wallMs),
          own ? '' : paired((x) => x.cpuMs),
          own ? '' : paired((x) => x.peakRssKb),
        ];
      });
    printTable(title, ['tool', 'wall', 'CPU (user+sys)', 'peak RSS', 'failed', 'ck/peer wall', 'ck/peer CPU', 'ck/peer RSS'], rows);
  }
}

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number of at least 1, got "${v}"`);
  return n;
}

export async function benchPeers(): Promise<void> {
  const runs = envInt('BENCH_RUNS', 3);
  const names20Runs = envInt('BENCH_NAMES20_RUNS', 1);
  const n = envInt('BENCH_N', 20);
  const nonceRuns = envInt('BENCH_NONCE_RUNS', 10);
  const scenarios = new Set((process.env.BENCH_SCENARIOS ?? 'register,existing,names20,seq,renew,nonce').split(',').map((s) => s.trim()));
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\``);

  const work = await mkdtemp(join(tmpdir(), 'certkeeper-bench-peers-'));
  // Pebble's defaults, spelled out: 5% of nonces rejected as badNonce, no validation sleeps.
  const pebble = await startPebble({ env: { PEBBLE_WFE_NONCEREJECT: '5', PEBBLE_VA_NOSLEEP: '1' } });
  try {
    const wanted = new Set((process.env.BENCH_TOOLS ?? 'certkeeper,certbot,lego-4.9,lego-4.35').split(',').map((s) => s.trim()));
    let all: Tool[] = [certkeeperTool(pebble)];
    const missing: string[] = [];
    if (wanted.has('certbot')) {
      if (existsSync(CERTBOT)) all.push(certbotTool(pebble));
      else missing.push(`certbot (${CERTBOT})`);
    }
    if (wanted.has('lego-4.9')) {
      if (existsSync(DEB_LEGO)) all.push(legoTool(pebble, 'lego-4.9', DEB_LEGO, `lego ${debVersion('lego')} (Debian 12)`));
      else missing.push(`lego 4.9 (${DEB_LEGO})`);
    }
    if (wanted.has('lego-4.35')) {
      if (existsSync(SID_LEGO)) all.push(legoTool(pebble, 'lego-4.35', SID_LEGO, `${output(SID_LEGO, ['--version'])} (Debian sid)`));
      else missing.push(`lego 4.35 (${SID_LEGO})`);
    }
    console.log(`certkeeper against its peers: ${machineLine()}`);
    console.log(`Pebble ${debVersion('pebble')} (PEBBLE_VA_NOSLEEP=1, 5% nonce rejection); each tool with its defaults (ECDSA P-256)`);
    for (const t of all) console.log(`  ${t.id}: ${t.version}`);
    if (missing.length > 0) console.log(`  not installed, left out: ${missing.join(', ')}`);
    console.log(`BENCH_RUNS=${runs} BENCH_NAMES20_RUNS=${names20Runs} BENCH_N=${n} BENCH_NONCE_RUNS=${nonceRuns}; scenarios: ${[...scenarios].join(', ')}`);

    const results = new Results();
    const started = performance.now();
    const progress = (s: string) => process.stderr.write(`[${Math.round((performance.now() - started) / 1000)} s] ${s}\n`);
    const dir = (tool: string, what: string) => join(work, tool, what);

    // Unmeasured warm-up: the account each "existing account" scenario copies, and the first
    // reads of every program from disk.
    progress('warm-up: one registration and certificate per tool…');
    const working: Tool[] = [];
    for (const t of all) {
      const d = dir(t.id, 'account');
      await mkdir(d, { recursive: true });
      const m = await measure(t.id, t.issue(d, [uniqueName(t.id, 'warmup')]));
      if (m.code === 0) working.push(t);
      else if (t.id === 'certkeeper') throw new Error(`certkeeper could not get a first certificate from Pebble:\n${failureNotes.get(t.id) ?? ''}`);
      else console.log(`  ${t.id} could not get a first certificate from Pebble and is left out:\n  ${failureNotes.get(t.id) ?? ''}`);
    }
    all = working;
    const tools = all.map((t) => t.id);
    const withAccount = async (t: Tool, what: string): Promise<string> => {
      const d = dir(t.id, `${what}-${randomUUID().slice(0, 8)}`);
      await mkdir(d, { recursive: true });
      await t.copyAccount(dir(t.id, 'account'), d);
      return d;
    };

    // Start-up alone, for the targets of issue #12.
    const startup = { version: [] as Measured[], help: [] as Measured[], node: [] as Measured[] };

    for (let run = 1; run <= runs; run++) {
      progress(`run ${run}/${runs}: register, existing…`);
      startup.node.push(await runMeasured(process.execPath, ['-e', '0']));
      startup.version.push(await runMeasured(process.execPath, [CLI, '--version']));
      startup.help.push(await runMeasured(process.execPath, [CLI, '--help']));
      for (const t of all) {
        if (scenarios.has('register')) {
          const d = dir(t.id, `register-${run}`);
          await mkdir(d, { recursive: true });
          results.add('register', t.id, sampleOf([await measure(t.id, t.issue(d, [uniqueName(t.id, 'reg')]))]));
        }
      }
      for (const t of all) {
        if (scenarios.has('existing')) {
          results.add('existing', t.id, sampleOf([await measure(t.id, t.issue(await withAccount(t, 'existing'), [uniqueName(t.id, 'one')]))]));
        }
      }
    }
    for (let run = 1; run <= names20Runs && scenarios.has('names20'); run++) {
      progress(`names20 ${run}/${names20Runs}…`);
      for (const t of all) {
        const names = Array.from({ length: 20 }, (_, i) => uniqueName(t.id, `n${i}`));
        results.add('names20', t.id, sampleOf([await measure(t.id, t.issue(await withAccount(t, 'names20'), names))]));
      }
    }

    if (scenarios.has('seq') || scenarios.has('renew')) {
      progress(`seq: ${n} certificates per tool, interleaved process by process…`);
      const seqDirs = new Map<string, string>();
      const certs = new Map<string, string[][]>();
      const seq = new Map<string, Measured[]>();
      for (const t of all) {
        seqDirs.set(t.id, await withAccount(t, 'seq'));
        certs.set(t.id, []);
        seq.set(t.id, []);
      }
      for (let i = 0; i < n; i++) {
        for (const t of all) {
          const names = [uniqueName(t.id, 'seq')];
          const m = await measure(t.id, t.issue(seqDirs.get(t.id) as string, names));
          seq.get(t.id)?.push(m);
          if (m.code === 0) certs.get(t.id)?.push(names);
        }
      }
      for (const t of all) results.add('seq', t.id, sampleOf(seq.get(t.id) ?? []));
      // certkeeper's one-process mode: N concurrent orders from one AcmeIssuer, default polling.
      const concurrent = await inProcess(pebble, join(await withAccount(all[0] as Tool, 'concurrent'), 'account'), n, DEFAULT_POLLING.intervalMs);
      results.add('seq', 'certkeeper-concurrent', sampleOf([concurrent]));

      if (scenarios.has('renew')) {
        progress('renew: idle renewal check over those certificates…');
        for (const t of all) {
          const ms: Measured[] = [];
          for (const inv of t.renewCheck(seqDirs.get(t.id) as string, certs.get(t.id) ?? [])) ms.push(await measure(t.id, inv));
          results.add('renew', t.id, sampleOf(ms));
        }
      }
    }

    if (scenarios.has('nonce')) {
      progress(`nonce: ${nonceRuns} issuances per tool…`);
      const dirs = new Map<string, string>();
      for (const t of all) dirs.set(t.id, await withAccount(t, 'nonce'));
      for (let i = 0; i < nonceRuns; i++) {
        for (const t of all) results.add('nonce', t.id, sampleOf([await measure(t.id, t.issue(dirs.get(t.id) as string, [uniqueName(t.id, 'nonce')]))]));
      }
    }

    // -------------------------------------------------------------------------------------------
    const legoLabels = { 'lego-4.9': 'lego 4.9', 'lego-4.35': 'lego 4.35' };
    if (scenarios.has('register')) results.table('register', 'register: first certificate with a new account (one process)', tools, legoLabels);
    if (scenarios.has('existing')) results.table('existing', 'existing: one certificate with an existing account (one process)', tools, legoLabels);
    if (scenarios.has('names20')) results.table('names20', 'names20: one certificate with 20 names, existing account', tools, legoLabels);
    if (scenarios.has('seq')) {
      results.table('seq', `seq: ${n} certificates of one name as ${n} sequential processes (wall and CPU summed, RSS of the largest)`, [...tools, 'certkeeper-concurrent'], {
        ...legoLabels,
        'certkeeper-concurrent': `certkeeper, one process, ${n} concurrent orders`,
      });
    }
    if (scenarios.has('renew')) {
      results.table('renew', `renew: idle renewal check over the ${n} certificates of seq (nothing is due)`, tools, Object.fromEntries(all.map((t) => [t.id, `${t.id}: ${t.renewLabel}`])));
    }
    if (scenarios.has('nonce')) results.table('nonce', `nonce: ${nonceRuns} issuances with an existing account, 5% of nonces rejected ("failed" counts the issuances that failed)`, tools, legoLabels);

    const wallOf = (ms: Measured[]) => ms.map((m) => m.wallMs);
    printTable(
      'start-up: certkeeper without talking to a CA',
      ['what', 'wall', 'CPU (user+sys)', 'peak RSS', 'target'],
      [
        ['`node -e 0` (node alone)', fmt(wallOf(startup.node), seconds), fmt(startup.node.map((m) => m.userMs + m.sysMs), seconds), fmt(startup.node.map((m) => m.peakRssKb), mib), ''],
        ['`certkeeper --version`', fmt(wallOf(startup.version), seconds), fmt(startup.version.map((m) => m.userMs + m.sysMs), seconds), fmt(startup.version.map((m) => m.peakRssKb), mib), `< 0.15 s: ${median(wallOf(startup.version)) < 150 ? 'yes' : 'no'}`],
        ['`certkeeper --help`', fmt(wallOf(startup.help), seconds), fmt(startup.help.map((m) => m.userMs + m.sysMs), seconds), fmt(startup.help.map((m) => m.peakRssKb), mib), `< 0.15 s: ${median(wallOf(startup.help)) < 150 ? 'yes' : 'no'}`],
      ],
    );

    const ck = results.get('existing', 'certkeeper');
    const cb = results.get('existing', 'certbot');
    if (ck.length > 0) {
      console.log('\nTargets (existing account, one certificate, medians of the same runs):');
      console.log(`  whole \`certkeeper issue\` process under 0.5 s: ${seconds(median(ck.map((s) => s.wallMs)))} → ${median(ck.map((s) => s.wallMs)) < 500 ? 'yes' : 'no'}`);
      if (cb.length > 0) {
        const [ckCpu, cbCpu] = [median(ck.map((s) => s.cpuMs)), median(cb.map((s) => s.cpuMs))];
        const [ckRss, cbRss] = [median(ck.map((s) => s.peakRssKb)), median(cb.map((s) => s.peakRssKb))];
        console.log(`  less CPU than certbot: ${seconds(ckCpu)} vs ${seconds(cbCpu)} → ${ckCpu < cbCpu ? 'yes' : 'no'}`);
        console.log(`  lower peak RSS than certbot: ${mib(ckRss)} vs ${mib(cbRss)} → ${ckRss < cbRss ? 'yes' : 'no'}`);
      }
    }
    for (const note of failureNotes.values()) console.log(`\nfirst failure seen: ${note}`);
  } finally {
    await pebble.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchPeers();
}
