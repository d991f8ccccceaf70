// `certkeeper run`: the long-running service. Every replica answers HTTP-01 challenges from the
// ConfigMap; the leader (a Lease) runs a pass on a cron schedule, then alerts. The pass itself is
// exactly the one `renew` runs, and it takes the pass Lease, so a manual `renew` and a scheduled
// pass never run at the same time.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import cron from 'node-cron';
import type { Logger } from 'pino';
import type { Finding } from './core/findings.js';
import { HOUR } from './core/time.js';
import { ConfigError, errorMessage } from './errors.js';
import { startResponder, type Responder } from './http/responder.js';
import type { ConfigMapChallengeLookup } from './kube/challenges.js';
import type { LeaderElector } from './kube/leader.js';
import type { ConfigMapState } from './kube/state-store.js';
import { mergeFindings, notifyPass, type PassListener, type PassReport } from './listeners.js';
import type { Metrics } from './metrics.js';
import { outcomeFindings, runPass, type PassOptions, type PassPorts, type PassResult } from './pass.js';

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

export interface ServiceOptions {
  schedule: string;
  timezone: string;
  runOnStart: boolean;
  httpPort: number;
  httpAddress?: string | undefined;
  adminPort: number;
  adminAddress?: string | undefined;
  pass: PassOptions;
}

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
  audit?: (now: Date) => Promise<Finding[]>;
}

/** What the service remembers across passes. */
export interface ServiceHistory {
  watchingSince: Date;
  lastSuccessfulPass?: Date | undefined;
}

const LAST_SUCCESS_KEY = 'pass.last-success';

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
    const { intervalMs } = checkSchedule(opts.schedule, opts.timezone);
    this.responder = await startResponder({
      lookup: deps.lookup,
      port: opts.httpPort,
      ...(opts.httpAddress ? { host: opts.httpAddress } : {}),
      onChallenge: (e) => {
        deps.metrics.challengeRequest(e.found);
        deps.log.info({ token: e.token, found: e.found, host: e.host, remote: e.remote }, e.found ? 'answered challenge' : 'unknown challenge token');
      },
    });
    this.admin = await this.startAdmin();
    await deps.lookup.start();
    const stored = (await deps.state.readAll().catch(() => ({}) as Record<string, string>))[LAST_SUCCESS_KEY];
    if (stored && !Number.isNaN(Date.parse(stored))) this.lastSuccessfulPass = new Date(stored);
    this.ready = true;
    deps.metrics.setLeader(false);
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
      result = await runPass(deps.ports, this.opts.pass);
      passMs = performance.now() - started;
    } catch (e) {
      error = e;
      deps.log.error({ err: errorMessage(e), hint: (e as { hint?: string }).hint }, 'pass failed');
    }
    let audited: Finding[] = [];
    if (result && deps.audit) {
      try {
        audited = await deps.audit(deps.ports.clock());
      } catch (e) {
        deps.log.warn({ err: errorMessage(e) }, 'the live audit failed; alerting on the pass findings only');
      }
    }
    const report: PassReport = {
      findings: result ? mergeFindings(result.findings, outcomeFindings(result.outcomes), audited) : [],
      now: deps.ports.clock(),
    };
    if (result) report.result = result;
    if (error !== undefined) report.error = error;
    if (result?.ok) {
      this.lastSuccessfulPass = result.startedAt;
      await deps.state.write({ [LAST_SUCCESS_KEY]: result.startedAt.toISOString() }).catch(() => undefined);
    }
    if (result) {
      const counts = result.outcomes.reduce<Record<string, number>>((m, o) => ({ ...m, [o.result]: (m[o.result] ?? 0) + 1 }), {});
      // Durations of the pass and of the live audit after it, as a service's operator (and
      // bench:soak) follows them over weeks.
      const seconds = (ms: number) => Math.round(ms) / 1000;
      deps.log.info(
        { ok: result.ok, ...counts, orders: result.ordersPlaced, writes: result.secretsWritten, findings: report.findings.length, passSeconds: seconds(passMs), totalSeconds: seconds(performance.now() - started) },
        'pass finished',
      );
    }
    await notifyPass(report, this.listeners, deps.log);
  }

  private async startAdmin(): Promise<Server> {
    const { deps, opts } = this;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') {
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
   * SIGTERM: stop scheduling, let a pass in progress finish (its writes are whole Secrets, never
   * half-written), hand the leader lease over, close the ports.
   */
  async stop(graceMs = 60_000): Promise<void> {
    this.stopping = true;
    await this.task?.stop();
    await this.task?.destroy();
    if (this.running) {
      this.deps.log.info('waiting for the running pass to finish');
      await Promise.race([this.running, new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
    await this.deps.leader?.stop();
    this.deps.lookup.stop();
    await this.responder?.close();
    await new Promise<void>((resolve) => (this.admin ? this.admin.close(() => resolve()) : resolve()));
    this.admin?.closeAllConnections();
  }
}
