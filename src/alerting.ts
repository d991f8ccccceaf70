// Alerts as a listener of passes: outcomes and findings → evaluateAlerts (pure) → the dispatcher
// (dedupe, per-channel delivery) → log, Kubernetes Events, webhook, email.
import type { Logger } from 'pino';
import { AlertDispatcher, EmailNotifier, EventNotifier, LogNotifier, parseAlertState, serializeAlertState, WebhookNotifier } from './alerts/index.js';
import type { AlertState, AlertStateStore, Notifier } from './alerts/index.js';
import { evaluateAlerts, type Alert, type CertificateState } from './core/alerts.js';
import { ConfigError, errorMessage } from './errors.js';
import type { ConfigMapState } from './kube/state-store.js';
import type { PassListener, PassReport } from './listeners.js';
import type { PassResult } from './pass.js';
import type { EventRecorder } from './ports.js';

export interface AlertChannelConfig {
  webhookUrl?: string | undefined;
  webhookFormat: 'json' | 'slack';
  smtpHost?: string | undefined;
  smtpPort: number;
  smtpSecurity: 'starttls' | 'tls' | 'none';
  smtpUser?: string | undefined;
  smtpPassword?: string | undefined;
  smtpFrom?: string | undefined;
  smtpTo: string[];
}

export function buildNotifiers(cfg: AlertChannelConfig, log: Logger, events?: EventRecorder): Notifier[] {
  const out: Notifier[] = [new LogNotifier(log)];
  if (events) out.push(new EventNotifier(events));
  if (cfg.webhookUrl) out.push(new WebhookNotifier({ url: cfg.webhookUrl, format: cfg.webhookFormat, logger: log }));
  if (cfg.smtpHost) {
    if (!cfg.smtpFrom || cfg.smtpTo.length === 0) {
      throw new ConfigError('alert email needs --smtp-from and at least one --smtp-to', 'set CERTKEEPER_SMTP_FROM and CERTKEEPER_SMTP_TO (comma-separated)');
    }
    out.push(
      new EmailNotifier({
        host: cfg.smtpHost,
        port: cfg.smtpPort,
        ...(cfg.smtpSecurity === 'tls' ? { secure: true } : { starttls: cfg.smtpSecurity === 'none' ? 'disabled' : 'required' }),
        ...(cfg.smtpUser ? { user: cfg.smtpUser } : {}),
        ...(cfg.smtpPassword ? { password: cfg.smtpPassword } : {}),
        from: cfg.smtpFrom,
        to: cfg.smtpTo,
        logger: log,
      }),
    );
  }
  return out;
}

const ALERT_KEY = 'alerts.json';

/** Keys of the certkeeper-state ConfigMap that say since when passes run and when one last succeeded. */
export const PASS_STATE = { lastSuccess: 'pass.last-success', firstSeen: 'pass.first-seen' } as const;

/** What NoSuccessfulPass needs, as the service and earlier `renew` Jobs recorded it. */
export interface PassHistory {
  watchingSince: Date;
  lastSuccessfulPass?: Date | undefined;
}

const storedDate = (raw: string | undefined): Date | undefined => (raw && !Number.isNaN(Date.parse(raw)) ? new Date(raw) : undefined);

/**
 * Reads the pass history, and records `now` as the first pass seen when none is: a CronJob runs a
 * new process each time, so "since this process started" would never be long enough to alert.
 */
export async function readPassHistory(state: ConfigMapState, now: Date): Promise<PassHistory> {
  const all = await state.readAll();
  const firstSeen = storedDate(all[PASS_STATE.firstSeen]);
  if (!firstSeen) await state.write({ [PASS_STATE.firstSeen]: now.toISOString() });
  const h: PassHistory = { watchingSince: firstSeen ?? now };
  const last = storedDate(all[PASS_STATE.lastSuccess]);
  if (last) h.lastSuccessfulPass = last;
  return h;
}

/** The last successful pass, as read at start by the service and by every `renew`. */
export async function readLastSuccess(state: ConfigMapState): Promise<Date | undefined> {
  return storedDate((await state.readAll())[PASS_STATE.lastSuccess]);
}

export async function recordSuccess(state: ConfigMapState, startedAt: Date): Promise<void> {
  await state.write({ [PASS_STATE.lastSuccess]: startedAt.toISOString() });
}

/** True when an alert channel beyond the log and Events is configured (webhook or email). */
export function hasAlertChannels(cfg: Pick<AlertChannelConfig, 'webhookUrl' | 'smtpHost'>): boolean {
  return Boolean(cfg.webhookUrl || cfg.smtpHost);
}

/** Alert state in the certkeeper-state ConfigMap, so "fired once per level" survives restarts. */
export class ConfigMapAlertStateStore implements AlertStateStore {
  constructor(
    private readonly state: ConfigMapState,
    private readonly log: Logger,
  ) {}
  async load(): Promise<AlertState> {
    const raw = (await this.state.readAll())[ALERT_KEY];
    if (!raw) return parseAlertState(undefined).state;
    try {
      const { state, dropped } = parseAlertState(JSON.parse(raw));
      if (dropped > 0) this.log.warn({ dropped }, 'dropped unreadable alert records');
      return state;
    } catch {
      this.log.warn('the stored alert state is damaged; starting afresh (alerts may repeat once)');
      return parseAlertState(undefined).state;
    }
  }
  async save(s: AlertState): Promise<void> {
    await this.state.write({ [ALERT_KEY]: serializeAlertState(s) });
  }
}

/** The alert input of one pass's certificates. */
export function certificateStates(result: PassResult): CertificateState[] {
  return result.outcomes.map((o) => {
    const s: CertificateState = {
      namespace: o.target.namespace,
      secretName: o.target.secretName,
      hosts: o.target.hosts,
      ingresses: o.target.ingresses,
      failures: o.failure?.failures ?? 0,
    };
    if (o.notBefore) s.notBefore = o.notBefore;
    if (o.notAfter) s.notAfter = o.notAfter;
    if (o.renewAt) s.renewAt = o.renewAt;
    if (o.profile) s.profile = o.profile;
    if (o.ari && o.renewalBasis === 'Ari') s.ari = o.ari;
    if (o.failure) {
      s.lastError = o.failure.lastError;
      s.retryAfter = o.failure.retryAfter;
    }
    return s;
  });
}

export class Alerting {
  private readonly dispatcher: AlertDispatcher;

  constructor(
    store: AlertStateStore,
    notifiers: Notifier[],
    private readonly log: Logger,
    private readonly scheduleIntervalMs?: number,
  ) {
    this.dispatcher = new AlertDispatcher({ store, notifiers, logger: log });
  }

  /**
   * SIGTERM, step 1 (returns at once): deliveries in flight end now, later passes only record.
   * What was not delivered stays owed in the saved alert state and goes out after the restart.
   */
  abortDeliveries(): void {
    this.dispatcher.abort();
  }

  /** SIGTERM, last step: abort, then wait up to `timeoutMs` for the alert state to be saved. */
  stop(timeoutMs = 2_000): Promise<boolean> {
    return this.dispatcher.stop(timeoutMs);
  }

  /** Evaluates and delivers; never throws (a failing alert channel must not fail the pass). */
  async afterPass(report: PassReport, opts: { lastSuccessfulPass?: Date | undefined; watchingSince: Date; partial?: boolean }): Promise<Alert[]> {
    const { result, now } = report;
    const input: Parameters<typeof evaluateAlerts>[0] = {
      certificates: result ? certificateStates(result) : [],
      findings: report.findings,
      watchingSince: opts.watchingSince,
      now,
    };
    if (opts.lastSuccessfulPass) input.lastSuccessfulPass = opts.lastSuccessfulPass;
    const alerts = evaluateAlerts(input, this.scheduleIntervalMs ? { scheduleIntervalMs: this.scheduleIntervalMs } : {});
    try {
      // Without a pass result we did not see the certificates, and a pass over one Ingress saw
      // only its own: keep the alerts of what was not seen as they are.
      await this.dispatcher.dispatch(alerts, { now, complete: result !== undefined && !opts.partial });
    } catch (e) {
      this.log.error({ err: errorMessage(e) }, 'alert delivery failed; the next pass retries');
    }
    return alerts;
  }

  /**
   * The pass listener: alerts after every pass. `history` says since when passes are watched and
   * when the last one succeeded (NoSuccessfulPass); `onAlerts` hears what fires (metrics).
   */
  listener(history: () => PassHistory & { partial?: boolean }, onAlerts?: (alerts: readonly Alert[]) => void): PassListener {
    return {
      name: 'alerts',
      afterPass: async (report) => {
        const alerts = await this.afterPass(report, history());
        onAlerts?.(alerts);
      },
    };
  }
}
