// What every fault scenario shares: a namespace of opted-in Ingresses next to Secrets certkeeper
// must never touch, real `renew` and `run` processes, and the checks the issue asks of every
// scenario, made from what the API server and Pebble hold (never from what certkeeper says):
//
// - orders: Pebble's own log ("Added order", "Issued certificate serial …"), so a killed process
//   cannot hide an order; every certificate Pebble issued in the scenario must end up in a Secret
//   unless the scenario says why not (nothing wasted);
// - no Secret is ever half-written: every Secret certkeeper manages holds a certificate that
//   parses, matches its key and covers its hosts, and its annotations say so;
// - no foreign Secret changes: same resourceVersion, and no write request reached one;
// - leftovers: solver Ingresses, challenge tokens, kept certificates, a pass Lease held by a
//   process that is gone: none after the scenario's last pass;
// - every exit code matches the certificates: renew exits 0 only when every one is valid, and 1
//   whenever one is not.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import { expect } from 'vitest';
import { checkKeyMatches, parseCertificate } from '../../src/core/cert.js';
import { auditSecret } from '../../src/core/checks.js';
import { CLI } from '../support/cli.js';
import { ingress, type ClusterEnv, type RenewJson } from '../support/cluster-env.js';

export const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
export const INGRESSES = { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses' };
export const CONFIGMAPS = { group: '', version: 'v1', resource: 'configmaps' };
export const LEASES = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' };

interface SecretLike {
  type?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

export interface FaultTarget {
  namespace: string;
  secretName: string;
  ingress: string;
  hosts: string[];
}

/** One certkeeper process of a scenario, as it ended. */
export interface ProcessRun {
  kind: 'renew' | 'run';
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Spawn to exit. */
  ms: number;
  /** From the moment the scenario's fault or signal hit to exit, when it has one. */
  exitAfterMs?: number;
  json?: RenewJson;
  stdout: string;
  stderr: string;
  /** Every Target's Secret valid right after the process exited (read from the API server). */
  validAfter: boolean;
}

/** One row of the printed table. */
export interface Row {
  scenario: string;
  passes: number;
  orders: number;
  issued: number;
  written: number;
  foreignTouched: number;
  leftovers: string;
  exitCodes: string;
  timeToExit: string;
}

const decode = (s: SecretLike | undefined, key: string): string => Buffer.from(s?.data?.[key] ?? '', 'base64').toString('utf8');
const normalSerial = (s: string): string => s.toLowerCase().replace(/^0+/, '');
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export class FaultScenario {
  readonly runs: ProcessRun[] = [];
  readonly targets: FaultTarget[] = [];
  /** Passes made by `run` processes (their "pass finished" lines); renew processes count one each. */
  runPasses = 0;
  private readonly foreign: { name: string; resourceVersion: string | undefined }[] = [];
  private readonly pebbleStart: number;
  private readonly leftoverNotes: string[] = [];
  private readonly startedAt = Date.now();

  constructor(
    readonly name: string,
    readonly env: ClusterEnv,
    readonly namespace: string,
    targetCount: number,
  ) {
    env.api.ensureNamespace(namespace);
    for (let i = 0; i < targetCount; i++) {
      const t: FaultTarget = { namespace, secretName: `site-${i}-tls`, ingress: `site-${i}`, hosts: [`site-${i}-${randomUUID().slice(0, 8)}.${namespace}.example.test`] };
      env.api.create(ingress(namespace, t.ingress, t.secretName, t.hosts));
      this.targets.push(t);
    }
    // Secrets certkeeper has no business with, in the same namespace: an Opaque one, a TLS one no
    // Ingress names, and the Secret of an Ingress that did not opt in.
    env.api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name: 'app-credentials' }, type: 'Opaque', data: { password: Buffer.from('hunter2').toString('base64') } });
    env.api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name: 'legacy-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } });
    const manual = ingress(namespace, 'manual', 'manual-tls', [`manual.${namespace}.example.test`]);
    delete (manual.metadata as { annotations?: unknown }).annotations;
    env.api.create(manual);
    env.api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name: 'manual-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } });
    for (const name of ['app-credentials', 'legacy-tls', 'manual-tls']) {
      this.foreign.push({ name, resourceVersion: env.api.get<SecretLike>(SECRETS, namespace, name)?.metadata.resourceVersion });
    }
    this.pebbleStart = env.pebble.output().length;
    env.api.resetRequests();
  }

  /** Every Target's Secret holds a certificate that works for its hosts (no audit error). */
  allValid(): boolean {
    return this.targets.every((t) => {
      const s = this.env.api.get<SecretLike>(SECRETS, t.namespace, t.secretName);
      return s !== undefined && !auditSecret({ namespace: t.namespace, secretName: t.secretName, hosts: t.hosts }, s, { now: new Date() }).some((f) => f.severity === 'error');
    });
  }

  keptCertificates(): SecretLike[] {
    return this.env.api
      .list<SecretLike>(SECRETS, 'certkeeper', { labelSelector: 'certkeeper.dev/issued-certificate=true' })
      .filter((s) => s.metadata.annotations?.['certkeeper.dev/target']?.startsWith(`${this.namespace}/`));
  }

  /** Solver Ingresses, challenge tokens, a pass Lease nobody will release: what a pass must not leave. */
  leftovers(): string[] {
    const out: string[] = [];
    const solvers = this.env.api.list(INGRESSES, 'certkeeper', { labelSelector: 'certkeeper.dev/solver=true' }).length;
    if (solvers > 0) out.push(`${solvers} solver Ingress${solvers === 1 ? '' : 'es'}`);
    const tokens = Object.keys(this.env.api.get<{ data?: Record<string, string> }>(CONFIGMAPS, 'certkeeper', 'certkeeper-challenges')?.data ?? {}).length;
    if (tokens > 0) out.push(`${tokens} token${tokens === 1 ? '' : 's'}`);
    const holder = this.env.api.get<{ spec: { holderIdentity?: string } }>(LEASES, 'certkeeper', 'certkeeper-pass')?.spec.holderIdentity;
    if (holder) out.push('pass Lease held');
    return out;
  }

  private noteLeftovers(): void {
    const l = this.leftovers();
    if (l.length > 0) this.leftoverNotes.push(l.join(', '));
  }

  /** `renew -o json` for this scenario's namespace. */
  async renew(extra: string[] = []): Promise<ProcessRun> {
    const started = Date.now();
    const r = await this.env.renew(['--namespace', this.namespace, ...extra]);
    return this.record({ kind: 'renew', code: r.code, signal: null, ms: Date.now() - started, stdout: r.stdout, stderr: r.stderr, ...(r.json ? { json: r.json } : {}) });
  }

  /** Starts `renew -o json` without waiting; `finish` records it. */
  startRenew(extra: string[] = []): { child: ChildProcess; started: number; finish: (triggerAt?: () => number | undefined) => Promise<ProcessRun> } {
    const started = Date.now();
    const running = this.env.startRenew(['--namespace', this.namespace, ...extra]);
    return {
      child: running.child,
      started,
      finish: async (triggerAt) => {
        const r = await running.result;
        const ended = Date.now();
        const trigger = triggerAt?.();
        return this.record({
          kind: 'renew',
          code: r.code,
          signal: running.child.signalCode,
          ms: ended - started,
          ...(trigger !== undefined ? { exitAfterMs: ended - trigger } : {}),
          stdout: r.stdout,
          stderr: r.stderr,
          ...(r.json ? { json: r.json } : {}),
        });
      },
    };
  }

  record(run: Omit<ProcessRun, 'validAfter'>): ProcessRun {
    const full: ProcessRun = { ...run, validAfter: this.allValid() };
    this.runs.push(full);
    this.noteLeftovers();
    return full;
  }

  /** Pebble's own account of the scenario: orders added, certificate serials issued. */
  pebbleFigures(): { orders: number; issued: string[] } {
    const log = this.env.pebble.output().slice(this.pebbleStart);
    return {
      orders: (log.match(/Added order "/g) ?? []).length,
      issued: [...log.matchAll(/Issued certificate serial ([0-9a-f]+) for order/g)].map((m) => normalSerial(m[1] as string)),
    };
  }

  /**
   * The checks every scenario must pass, then its row. `maxOrders`: one per certificate needed plus
   * the retries the scenario's backoff (or an abandoned order) allows; `wasted`: issued certificates
   * allowed never to reach a Secret (only when even the kept copy could not be stored).
   */
  finish(opts: { maxOrders: number; wasted?: number; timeToExit?: string }): Row {
    const { env, namespace } = this;
    // Every Target ends valid, its Secret whole and consistent.
    expect(this.allValid(), `${this.name}: every certificate valid at the end`).toBe(true);
    for (const s of env.api.list<SecretLike>(SECRETS, namespace)) {
      if (s.metadata.labels?.['app.kubernetes.io/managed-by'] !== 'certkeeper') continue;
      const crt = decode(s, 'tls.crt');
      const info = parseCertificate(crt);
      expect(s.type, `${this.name}: ${s.metadata.name} type`).toBe('kubernetes.io/tls');
      expect(checkKeyMatches(crt, decode(s, 'tls.key')).ok, `${this.name}: ${s.metadata.name} key matches`).toBe(true);
      expect(s.metadata.annotations?.['certkeeper.dev/hosts']).toBe([...info.sans].sort().join(','));
      expect(Date.parse(s.metadata.annotations?.['certkeeper.dev/not-after'] ?? '')).toBe(info.notAfter.getTime());
    }
    // Kept certificates are whole too, and none is left once its Secret is written.
    expect(this.keptCertificates(), `${this.name}: kept certificates left`).toEqual([]);
    // Foreign Secrets: untouched.
    let foreignTouched = 0;
    for (const f of this.foreign) {
      const now = env.api.get<SecretLike>(SECRETS, namespace, f.name);
      const writes = env.api.requests.filter((q) => q.resource === 'secrets' && q.namespace === namespace && q.name === f.name && q.method !== 'GET');
      if (now?.metadata.resourceVersion !== f.resourceVersion || writes.length > 0) foreignTouched++;
    }
    expect(foreignTouched, `${this.name}: foreign Secrets touched`).toBe(0);
    // Nothing left behind by the last pass.
    const final = this.leftovers();
    expect(final, `${this.name}: leftovers`).toEqual([]);
    // Exit codes tell the truth.
    for (const r of this.runs) {
      if (r.kind === 'run') {
        if (r.signal === null) expect(r.code, `${this.name}: run exit code after SIGTERM`).toBe(0);
        continue;
      }
      if (r.code === null) continue;
      if (r.code === 0) expect(r.validAfter, `${this.name}: renew exited 0 with a certificate not valid\n${r.stderr}`).toBe(true);
      if (!r.validAfter) expect(r.code, `${this.name}: renew must exit 1 while a certificate is not valid\n${r.stdout}`).toBe(1);
    }
    // Orders and certificates, as Pebble counts them.
    const { orders, issued } = this.pebbleFigures();
    const inSecrets = new Set(this.targets.map((t) => normalSerial(parseCertificate(decode(env.api.get<SecretLike>(SECRETS, t.namespace, t.secretName), 'tls.crt')).serial)));
    const written = issued.filter((s) => inSecrets.has(s)).length;
    expect(orders, `${this.name}: orders`).toBeLessThanOrEqual(opts.maxOrders);
    expect(issued.length - written, `${this.name}: certificates issued and never written`).toBeLessThanOrEqual(opts.wasted ?? 0);
    const renewTimes = this.runs.filter((r) => r.kind === 'renew').map((r) => r.ms);
    return {
      scenario: this.name,
      passes: this.runs.filter((r) => r.kind === 'renew').length + this.runPasses,
      orders,
      issued: issued.length,
      written,
      foreignTouched,
      leftovers: this.leftoverNotes.length > 0 ? `${this.leftoverNotes[0] ?? ''} → none` : 'none',
      exitCodes: this.runs.map((r) => (r.code === null ? (r.signal ?? '?') : String(r.code))).join(' '),
      timeToExit: opts.timeToExit ?? `≤ ${seconds(Math.max(0, ...renewTimes))} per pass`,
    };
  }

  /** Scenario wall time, for the log. */
  elapsed(): number {
    return Date.now() - this.startedAt;
  }
}

/** Waits (polling) until `probe` holds; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | undefined | null | false, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A `certkeeper run` replica. */
export interface RunProcess {
  child: ChildProcess;
  out: () => string;
  challengePort: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

export async function startRun(env: ClusterEnv, identity: string, extra: string[]): Promise<RunProcess> {
  const args = [
    CLI, 'run',
    '--kubeconfig', env.kubeconfig,
    '--directory', env.directoryUrl,
    '--acme-ca-bundle', env.pebble.apiCaFile,
    '--http-port', '0',
    '--http-address', '127.0.0.1',
    '--admin-port', '0',
    '--admin-address', '127.0.0.1',
    '--self-check-address', `127.0.0.1:${env.pebble.httpPort}`,
    '--acme-poll-interval', '50',
    '--schedule', '*/1 * * * * *',
    '--identity', identity,
    '--log-format', 'json',
    ...extra,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) => child.once('exit', (code, signal) => r({ code, signal, at: Date.now() })));
  const m = await waitFor(() => /listening on challenge port (\d+) and admin port (\d+)/.exec(out), 30_000, () => `run ${identity} did not start:\n${out}`);
  return { child, out: () => out, challengePort: Number(m[1]), exited };
}

/** The Service in front of the replicas: round robin, skipping a replica that refuses (a dead pod). */
export function startBalancer(port: number, backends: () => number[]): Promise<Server> {
  let next = 0;
  const server = createServer((client) => {
    const start = next++;
    const list = backends();
    const tryBackend = (attempt: number): void => {
      const upstream = connect(list[(start + attempt) % list.length] as number, '127.0.0.1');
      upstream.once('connect', () => client.pipe(upstream).pipe(client));
      upstream.once('error', () => (attempt + 1 < list.length ? tryBackend(attempt + 1) : client.destroy()));
      client.once('close', () => upstream.destroy());
    };
    client.on('error', () => undefined);
    tryBackend(0);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

/** The figures as a Markdown table. */
export function table(rows: readonly Row[]): string {
  const head = ['scenario', 'passes', 'orders', 'certificates issued', 'certificates written', 'foreign Secrets touched', 'leftovers', 'exit codes', 'time to exit'];
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${[r.scenario, r.passes, r.orders, r.issued, r.written, r.foreignTouched, r.leftovers, r.exitCodes, r.timeToExit].join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}
