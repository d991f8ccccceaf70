// Turns the alerts of each pass into notifications: once per level per key, again on escalation,
// once more when it clears. Delivery is tracked per channel, so a webhook outage does not lose an
// alert that email already delivered; an undelivered notification is retried on the next pass.
import { byCodeUnits, levelRank, type Alert } from '../core/alerts.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Notification, Notifier } from './notification.js';
import { emptyAlertState, fromStoredAlert, toStoredAlert, type AlertRecord, type AlertState, type AlertStateStore } from './state.js';

export interface DispatcherOptions {
  store: AlertStateStore;
  notifiers: readonly Notifier[];
  logger: Logger;
  /**
   * After this many failures in a row on one channel within a pass, its remaining notifications
   * wait for the next pass: a dead endpoint must not hold the pass for (alerts × retries × timeout).
   */
  maxConsecutiveFailures?: number;
}

export interface DispatchOptions {
  now: Date;
  /**
   * False when the pass could not look at everything (the cluster was unreachable): alerts missing
   * from the list are then kept, not resolved. Default true.
   */
  complete?: boolean;
}

export interface Delivery {
  channel: string;
  kind: Notification['kind'];
  key: string;
  code: string;
  level: Alert['level'];
  error?: string;
}

export interface DispatchResult {
  sent: Delivery[];
  failed: Delivery[];
  /** Notifications not attempted this pass because their channel kept failing. */
  deferred: Delivery[];
  /** Keys firing after this pass. */
  firing: string[];
}

interface Planned {
  notification: Notification;
  record: AlertRecord;
}

const DEFAULT_MAX_CONSECUTIVE_FAILURES = 3;

export class AlertDispatcher {
  private state: AlertState | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly maxConsecutiveFailures: number;

  constructor(private readonly opts: DispatcherOptions) {
    const names = opts.notifiers.map((n) => n.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    // Delivery state is keyed by channel name; two channels with one name would share it.
    if (dup !== undefined) throw new Error(`two alert channels are named "${dup}"; give each a distinct name`);
    this.maxConsecutiveFailures = opts.maxConsecutiveFailures ?? DEFAULT_MAX_CONSECUTIVE_FAILURES;
  }

  /** One pass's alerts in, notifications out. Calls are serialized: overlapping passes queue. */
  dispatch(alerts: readonly Alert[], opts: DispatchOptions): Promise<DispatchResult> {
    const run = this.queue.then(() => this.dispatchNow(alerts, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The state as the dispatcher holds it (a copy), for `certkeeper status` and tests. */
  async snapshot(): Promise<AlertState> {
    return structuredClone(await this.loadState());
  }

  private async loadState(): Promise<AlertState> {
    this.state ??= await this.opts.store.load().catch((e: unknown) => {
      // Without its memory the dispatcher re-sends what is firing once; better than not alerting.
      this.opts.logger.error({ err: errorMessage(e) }, 'cannot load the alert state; firing alerts will be notified again');
      return emptyAlertState();
    });
    return this.state;
  }

  private async dispatchNow(alerts: readonly Alert[], opts: DispatchOptions): Promise<DispatchResult> {
    const state = await this.loadState();
    const nowIso = opts.now.toISOString();
    const current = new Map<string, Alert>();
    for (const a of alerts) {
      const had = current.get(a.key);
      if (!had || levelRank(a.level) > levelRank(had.level)) current.set(a.key, a);
    }

    for (const [key, a] of current) {
      const rec = state.alerts[key];
      if (!rec) {
        state.alerts[key] = { level: a.level, code: a.code, firstFiredAt: nowIso, message: a.message, alert: toStoredAlert(a), delivered: {} };
        continue;
      }
      if (rec.clearedAt !== undefined) {
        // Back before every channel heard it cleared: a new episode. Channels still holding the old
        // level are not told twice; the others hear it fire again.
        delete rec.clearedAt;
        rec.firstFiredAt = nowIso;
      }
      rec.level = a.level;
      rec.code = a.code;
      rec.message = a.message;
      rec.alert = toStoredAlert(a);
    }
    if (opts.complete !== false) {
      for (const [key, rec] of Object.entries(state.alerts)) {
        if (!current.has(key) && rec.clearedAt === undefined) rec.clearedAt = nowIso;
      }
    }

    const result: DispatchResult = { sent: [], failed: [], deferred: [], firing: [...current.keys()].sort() };
    await Promise.all(this.opts.notifiers.map((ch) => this.deliver(ch, this.plan(ch.name, state, opts.now), nowIso, result)));

    // Forget what every configured channel has been told is over; entries of channels no longer
    // configured cannot be delivered and must not keep a record alive.
    const names = new Set(this.opts.notifiers.map((n) => n.name));
    for (const [key, rec] of Object.entries(state.alerts)) {
      for (const ch of Object.keys(rec.delivered)) if (!names.has(ch)) delete rec.delivered[ch];
      if (rec.clearedAt !== undefined && Object.keys(rec.delivered).length === 0) delete state.alerts[key];
    }

    try {
      await this.opts.store.save(state);
    } catch (e) {
      // The state stays in memory; only a restart before the next successful save repeats alerts.
      this.opts.logger.error({ err: errorMessage(e) }, 'cannot save the alert state; a restart now would notify firing alerts again');
    }
    return result;
  }

  /** What one channel still has to hear, critical first. */
  private plan(channel: string, state: AlertState, now: Date): Planned[] {
    const out: Planned[] = [];
    for (const rec of Object.values(state.alerts)) {
      const told = rec.delivered[channel];
      const alert = fromStoredAlert(rec.alert);
      const since = new Date(rec.firstFiredAt);
      let n: Notification | undefined;
      if (rec.clearedAt !== undefined) {
        if (told) n = { kind: 'resolved', alert: { ...alert, level: told.level }, at: new Date(rec.clearedAt), previousLevel: told.level, since };
      } else if (!told) {
        n = { kind: 'firing', alert, at: now, since };
      } else if (levelRank(rec.level) > levelRank(told.level) || (rec.level === told.level && rec.code !== told.code)) {
        n = { kind: 'firing', alert, at: now, previousLevel: told.level, since };
      } else if (levelRank(rec.level) < levelRank(told.level)) {
        n = { kind: 'resolved', alert, at: now, previousLevel: told.level, since };
      }
      if (n) out.push({ notification: n, record: rec });
    }
    return out.sort(
      (a, b) =>
        levelRank(b.notification.alert.level) - levelRank(a.notification.alert.level) || byCodeUnits(a.notification.alert.key, b.notification.alert.key),
    );
  }

  /** Sends one channel's notifications in order (ordering and rate limits), channels run in parallel. */
  private async deliver(ch: Notifier, planned: Planned[], nowIso: string, result: DispatchResult): Promise<void> {
    let failuresInARow = 0;
    for (const [i, { notification: n, record }] of planned.entries()) {
      const d: Delivery = { channel: ch.name, kind: n.kind, key: n.alert.key, code: n.alert.code, level: n.alert.level };
      if (failuresInARow >= this.maxConsecutiveFailures) {
        const rest = planned.slice(i);
        for (const p of rest) {
          const a = p.notification.alert;
          result.deferred.push({ channel: ch.name, kind: p.notification.kind, key: a.key, code: a.code, level: a.level });
        }
        this.opts.logger.warn({ channel: ch.name, deferred: rest.length }, `alert channel ${ch.name} failed ${failuresInARow} times in a row; the remaining notifications wait for the next pass`);
        return;
      }
      try {
        await ch.send(n);
      } catch (e) {
        failuresInARow++;
        d.error = errorMessage(e);
        result.failed.push(d);
        this.opts.logger.warn(
          { channel: ch.name, key: d.key, code: d.code, alertLevel: d.level, status: n.kind, err: d.error },
          `alert notification via ${ch.name} failed; retrying on the next pass`,
        );
        continue;
      }
      failuresInARow = 0;
      result.sent.push(d);
      if (n.kind === 'resolved' && record.clearedAt !== undefined) {
        delete record.delivered[ch.name];
      } else {
        record.delivered[ch.name] = { level: record.level, code: record.code, at: nowIso };
        if (n.kind === 'firing') record.lastFiredAt = nowIso;
      }
    }
  }
}
