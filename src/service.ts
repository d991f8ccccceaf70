// `certkeeper run`: the long-running service. Every replica answers HTTP-01 challenges from the
// ConfigMap; the leader (a Lease) runs a pass on a cron schedule, then alerts. The pass itself is
// exactly the one `renew` runs, and it takes the pass Lease, so a manual `renew` and a scheduled
// pass never run at the same time.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import cron from 'node-cron';
import type { Logger } from 'pino';
import { readLastSuccess, recordSuccess } from './alerting.js';
import type { CertificateRow } from './audit-live.js';
import type { Finding } from './core/findings.js';
import { scheduleFindings } from './core/schedule.js';
import { HOUR } from './core/time.js';
import { ConfigError, errorMessage } from './errors.js';
import { challengeRequestLog } from './http/challenge-log.js';
import { startResponder, type Responder } from './http/responder.js';
import type { ConfigMapChallengeLookup } from './kube/challenges.js';
import type { LeaderElector } from './kube/leader.js';
import type { ConfigMapState } from './kube/state-store.js';
import { mergeFindings, notifyPass, type PassListener, type PassReport } from './listeners.js';
import type { Metrics } from './metrics.js';
import { renderStatusPage } from './output/status-page.js';
import { outcomeFindings, runPass, type PassOptions, type PassPorts, type PassResult } from './pass.js';
import type { StatusHistory } from './status-history.js';

/**
 * The shortest certificates Let's Encrypt issues (the 160-hour "shortlived" profile) are renewed
 * in the last half of their lifetime: an 80-hour window. A schedule must fit several attempts
 * (and the 1 h, 2 h, 4 h backoff) into it, so ticks may be at most a quarter of it apart.
 */
export const SHORTEST_RENEWAL_WINDOW_MS = 80 * HOUR;
export const MAX_TICK_GAP_MS = SHORTEST_RENEWAL_WINDOW_MS / 4;

/** Validates a cron expression and returns its typical interval; refuses schedules too sparse to renew in time. */
export function checkSchedule(expression: string, timezone: string): { intervalMs: number; maxGapMs: number } {
  const v = cron.validateDetailed(expression);
  if (!v.valid) {
    throw new ConfigError(
      `--schedule "${expression}" is not a cron expression: ${v.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
      'use 5 fields (minute hour day month weekday), e.g. "7 * * * *" for hourly, or 6 with seconds first',
    );
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ConfigError(`--timezone "${timezone}" is not an IANA time zone`, 'use a name such as UTC or Europe/Berlin');
  }
  const task = cron.createTask(expression, () => undefined, { timezone });
  const runs = task.getNextRuns(60);
  void task.destroy();
  const gaps: number[] = [];
  for (let i = 1; i < runs.length; i++) gaps.push((runs[i] as Date).getTime() - (runs[i - 1] as Date).getTime());
  if (gaps.length === 0) throw new ConfigError(`--schedule "${expression}" never runs`, 'use a recurring expression such as "7 * * * *"');
  const maxGapMs = Math.max(...gaps);
  const sorted = [...gaps].sort((a, b) => a - b);
  const intervalMs = sorted[Math.floor(sorted.length / 2)] as number;
  if (maxGapMs > MAX_TICK_GAP_MS) {
    throw new ConfigError(
      `--schedule "${expression}" leaves up to ${Math.round(maxGapMs / HOUR)} h between passes; the shortest certificates (160-hour, Let's Encrypt's shortlived profile) are renewed in their last 80 hours, and a gap over ${MAX_TICK_GAP_MS / HOUR} h leaves too few attempts to recover from a failed renewal`,
      'run at least every 20 hours, e.g. "7 * * * *" (hourly) or "7 */6 * * *"',
    );
  }
  return { intervalMs, maxGapMs };
}

/**
 * How long from now until the schedule's next run, as node-cron computes it (real time). A pass
 * adds it to its own clock: the next pass is that far after this one.
 */
export function msUntilNextRun(expression: string, timezone: string): number | undefined {
  const task = cron.createTask(expression, () => undefined, { timezone });
  try {
    // getNextRun() answers null for a task that was never started: ask the matcher instead.
    const next = task.getNextRuns(1)[0];
    return next ? Math.max(0, next.getTime() - Date.now()) : undefined;
  } finally {
    void task.destroy();
  }
}

export interface ServiceOptions {
  schedule: string;
  timezone: string;
  runOnStart: boolean;
  httpPort: number;
  httpAddress?: string | undefined;
  adminPort: number;
  adminAddress?: string | undefined;
  /** Connections the challenge responder holds at once (responder.ts RESPONDER_DEFAULTS otherwise). */
  httpMaxConnections?: number | undefined;
  pass: PassOptions;
}

/** What shutdown needs of the alerts: end deliveries now, then save what is still owed. */
export interface AlertShutdown {
  abortDeliveries(): void;
  stop(timeoutMs: number): Promise<boolean>;
}

/** SIGTERM budget (the chart's grace period is 60 s, Kubernetes' default 30 s): exit within 10 s. */
export const SHUTDOWN = { passWaitMs: 7_000, alertSaveMs: 1_000, leaderReleaseMs: 1_000 } as const;

export interface ServiceDeps {
  ports: PassPorts;
  lookup: ConfigMapChallengeLookup;
  leader?: LeaderElector | undefined;
  /** Admin port counters (challenge requests, leadership, skipped ticks) and /metrics. */
  metrics: Metrics;
  /**
   * Told after every pass, in order. Built with the service's history (`history()`), so that the
   * alert listener can say since when no pass succeeded.
   */
  listeners: (history: () => ServiceHistory) => readonly PassListener[];
  state: ConfigMapState;
  log: Logger;
  /** The live audit after each pass (Secrets of unmanaged Ingresses; the probe when enabled). */
  audit?: (now: Date) => Promise<{ findings: Finding[]; certificates: CertificateRow[] }>;
  alerts?: AlertShutdown;
  /** What the status page on the admin port (`/`) shows; attach its listener() to `listeners`. */
  status?: StatusHistory;
}

/** What the service remembers across passes. */
export interface ServiceHistory {
  watchingSince: Date;
  lastSuccessfulPass?: Date | undefined;
}

export class CertkeeperService {
  private responder: Responder | undefined;
  private admin: Server | undefined;
  private task: ReturnType<typeof cron.schedule> | undefined;
  private running: Promise<void> | undefined;
  private ready = false;
  private readonly startedAt: Date;
  private lastSuccessfulPass: Date | undefined;
  private stopping = false;
  private readonly listeners: readonly PassListener[];
  /** Aborted on SIGTERM: the running pass orders nothing more and winds down. */
  private readonly shutdown = new AbortController();
  private challengeLog: ReturnType<typeof challengeRequestLog> | undefined;
  /** The schedule's largest gap between two passes, measured at start. */
  private maxGapMs = 0;

  constructor(
    private readonly opts: ServiceOptions,
    private readonly deps: ServiceDeps,
  ) {
    this.startedAt = deps.ports.clock();
    this.listeners = deps.listeners(() => ({ watchingSince: this.startedAt, lastSuccessfulPass: this.lastSuccessfulPass }));
  }

  get adminAddress(): AddressInfo | undefined {
    return this.admin?.address() as AddressInfo | undefined;
  }

  get challengeAddress(): AddressInfo | undefined {
    return this.responder?.address;
  }

  async start(): Promise<void> {
    const { deps, opts } = this;
    const { intervalMs, maxGapMs } = checkSchedule(opts.schedule, opts.timezone);
    this.maxGapMs = maxGapMs;
    // Unknown tokens (scanners, validators retrying old orders) are summed up once a minute, as `serve` does.
    const challengeLog = challengeRequestLog(deps.log);
    this.challengeLog = challengeLog;
    this.responder = await startResponder({
      lookup: deps.lookup,
      port: opts.httpPort,
      ...(opts.httpAddress ? { host: opts.httpAddress } : {}),
      ...(opts.httpMaxConnections !== undefined ? { maxConnections: opts.httpMaxConnections } : {}),
      onChallenge: (e) => {
        deps.metrics.challengeRequest(e.found);
        challengeLog.record(e);
      },
    });
    this.admin = await this.startAdmin();
    await deps.lookup.start();
    const stored = await readLastSuccess(deps.state).catch(() => undefined);
    if (stored) this.lastSuccessfulPass = stored;
    this.ready = true;
    deps.metrics.setLeader(false);
    if (deps.leader) deps.status?.setLeader(false);
    this.task = cron.schedule(opts.schedule, () => this.tick('schedule'), { timezone: opts.timezone, name: 'certkeeper-pass' });
    deps.log.info(
      {
        schedule: opts.schedule,
        timezone: opts.timezone,
        everyMinutes: Math.round(intervalMs / 60_000),
        challengePort: this.responder.address.port,
        adminPort: this.adminAddress?.port,
      },
      'certkeeper is running',
    );
    if (deps.leader) {
      deps.leader.start();
    } else if (opts.runOnStart) {
      this.tick('start');
    }
  }

  /** Leadership changes come from the elector; the first pass runs as soon as we lead. */
  onLeaderChange(leader: boolean): void {
    this.deps.metrics.setLeader(leader);
    this.deps.status?.setLeader(leader);
    if (leader && this.opts.runOnStart && !this.stopping) this.tick('leader');
  }

  private tick(why: 'schedule' | 'start' | 'leader'): void {
    const { deps } = this;
    if (this.stopping) return;
    if (deps.leader && !deps.leader.isLeader) {
      deps.log.debug({ why }, 'not leader; this replica only answers challenges');
      return;
    }
    if (this.running) {
      deps.metrics.skippedTick();
      deps.log.warn({ why }, 'skipping a scheduled pass: the previous one is still running');
      return;
    }
    this.running = this.scheduledPass().finally(() => {
      this.running = undefined;
    });
  }

  /** One scheduled pass and everything that listens to it. Never throws. */
  private async scheduledPass(): Promise<void> {
    const { deps } = this;
    let result: PassResult | undefined;
    let error: unknown;
    const started = performance.now();
    let passMs = 0;
    try {
      const nextPassInMs = msUntilNextRun(this.opts.schedule, this.opts.timezone);
      result = await runPass(deps.ports, { ...this.opts.pass, signal: this.shutdown.signal, ...(nextPassInMs !== undefined ? { nextPassInMs } : {}) });
      passMs = performance.now() - started;
    } catch (e) {
      error = e;
      if (this.shutdown.signal.aborted) deps.log.info('shutting down before the pass began');
      else deps.log.error({ err: errorMessage(e), hint: (e as { hint?: string }).hint }, 'pass failed');
    }
    // Shutting down: alerts and the audit of a pass cut short wait for the next replica's pass.
    if (this.shutdown.signal.aborted) return;
    let audited: Finding[] = [];
    let certificates: CertificateRow[] | undefined;
    if (result && deps.audit) {
      try {
        ({ findings: audited, certificates } = await deps.audit(deps.ports.clock()));
      } catch (e) {
        deps.log.warn({ err: errorMessage(e) }, 'the live audit failed; alerting on the pass findings only');
      }
    }
    // The schedule against the certificates in use now: a 160-hour certificate needs passes every 20 h.
    const sparse = result
      ? scheduleFindings({
          schedule: this.opts.schedule,
          maxGapMs: this.maxGapMs,
          certificates: result.outcomes.map((o) => ({ namespace: o.target.namespace, secretName: o.target.secretName, notAfter: o.notAfter, renewAt: o.renewAt, profile: o.profile })),
          now: deps.ports.clock(),
        })
      : [];
    for (const f of sparse) deps.log.warn({ code: f.code, hint: f.hint }, f.message);
    const report: PassReport = {
      findings: result ? mergeFindings(result.findings, outcomeFindings(result.outcomes), audited, sparse) : [],
      now: deps.ports.clock(),
    };
    if (result) report.result = result;
    if (error !== undefined) report.error = error;
    if (certificates) report.certificates = certificates;
    if (result?.ok) {
      this.lastSuccessfulPass = result.startedAt;
      await recordSuccess(deps.state, result.startedAt).catch(() => undefined);
    }
    if (result) {
      const counts = result.outcomes.reduce<Record<string, number>>((m, o) => ({ ...m, [o.result]: (m[o.result] ?? 0) + 1 }), {});
      // Durations of the pass and of the live audit after it, as a service's operator (and
      // bench:soak) follows them over weeks.
      const seconds = (ms: number) => Math.round(ms) / 1000;
      deps.log.info(
        {
          ok: result.ok,
          ...counts,
          orders: result.ordersPlaced,
          writes: result.secretsWritten,
          findings: report.findings.length,
          passSeconds: seconds(passMs),
          totalSeconds: seconds(performance.now() - started),
          ...(result.stopped ? { stopped: result.stopped } : {}),
        },
        'pass finished',
      );
    }
    await notifyPass(report, this.listeners, deps.log);
  }

  private async startAdmin(): Promise<Server> {
    const { deps, opts } = this;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/' && deps.status) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('the status page is read-only\n');
          return;
        }
        const html = renderStatusPage(deps.status.snapshot(), { now: deps.ports.clock(), schedule: opts.schedule, timezone: opts.timezone });
        res
          .writeHead(200, {
            'content-type': 'text/html; charset=utf-8',
            // Everything is inline and nothing is fetched (air-gapped clusters): the policy says so,
            // and no script can run even if a name from the cluster slipped past the escaping.
            'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            'x-content-type-options': 'nosniff',
            'referrer-policy': 'no-referrer',
            'cache-control': 'no-store',
          })
          .end(req.method === 'HEAD' ? undefined : html);
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        // Ready once the challenge ConfigMap has been read: before that a replica would 404 tokens.
        res.writeHead(this.ready && !this.stopping ? 200 : 503, { 'content-type': 'text/plain' }).end(this.ready ? 'ready\n' : 'starting\n');
      } else if (path === '/metrics') {
        deps.metrics.text().then(
          (text) => res.writeHead(200, { 'content-type': deps.metrics.contentType }).end(text),
          (e: unknown) => res.writeHead(500).end(errorMessage(e)),
        );
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: opts.adminPort, ...(opts.adminAddress ? { host: opts.adminAddress } : {}) }, () => resolve());
    });
    return server;
  }

  /**
   * SIGTERM, within 10 s whatever the alert channels or the API server do: alert deliveries end
   * at once (what they owed stays in the saved alert state and goes out after the restart), the
   * running pass is told to stop (no new order; its writes are whole Secrets, never half-written)
   * and waited for up to 7 s, the alert state is saved (1 s), the lead is handed over (1 s), the
   * ports close. Returns false when the pass was still running at the deadline.
   */
  async stop(): Promise<boolean> {
    const { deps } = this;
    this.stopping = true;
    deps.alerts?.abortDeliveries();
    this.shutdown.abort(new Error('certkeeper is shutting down (SIGTERM)'));
    await this.task?.stop();
    await this.task?.destroy();
    let finished = true;
    if (this.running) {
      deps.log.info('stopping the running pass: no new order, orders under way are abandoned before their certificate is issued');
      finished = await within(this.running.then(() => true), SHUTDOWN.passWaitMs, false);
      if (!finished) deps.log.warn({ waitedMs: SHUTDOWN.passWaitMs }, 'the pass did not stop in time; exiting anyway (its leftovers are removed by the next pass)');
    }
    await deps.alerts?.stop(SHUTDOWN.alertSaveMs);
    await within(deps.leader?.stop() ?? Promise.resolve(), SHUTDOWN.leaderReleaseMs, undefined);
    deps.lookup.stop();
    await this.responder?.close();
    this.challengeLog?.stop();
    await new Promise<void>((resolve) => (this.admin ? this.admin.close(() => resolve()) : resolve()));
    this.admin?.closeAllConnections();
    return finished;
  }
}

/** `p`, or `fallback` once `ms` have passed (the timer does not keep the process alive). */
function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise<T>((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(fallback);
      },
    );
  });
}
