// Turns the alerts of each pass into notifications: once per level per key, again on escalation,
// once more when it clears. Delivery is tracked per channel, so a webhook outage does not lose an
// alert that email already delivered; an undelivered notification is retried on the next pass.
//
// Delivery can never hold up a shutdown: each notification has a deadline, stop() aborts what is
// in flight, and the state is saved before anything is sent and again after, so what was not
// delivered is still owed in the saved state and goes out after the restart.
import { levelRank, type Alert } from '../core/alerts.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Notification, Notifier } from './notification.js';
import {
  emptyAlertState,
  planNotifications,
  serializeAlertState,
  toStoredAlert,
  type AlertState,
  type AlertStateStore,
  type PlannedNotification,
} from './state.js';

export interface DispatcherOptions {
  store: AlertStateStore;
  notifiers: readonly Notifier[];
  logger: Logger;
  /**
   * After this many failures in a row on one channel within a pass, its remaining notifications
   * wait for the next pass: a dead endpoint must not hold the pass for (alerts × retries × timeout).
   */
  maxConsecutiveFailures?: number;
  /**
   * How long one notification may take, its channel's own retries included; then it is abandoned
   * for this pass (and stays owed). Default 20 s.
   */
  deliveryTimeoutMs?: number;
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

const DEFAULT_MAX_CONSECUTIVE_FAILURES = 3;
const DEFAULT_DELIVERY_TIMEOUT_MS = 20_000;

class DeliveryAborted extends Error {
  override name = 'DeliveryAborted';
}

/** Settles with the notifier, or rejects as soon as `signal` fires (a notifier that ignores it cannot hold us). */
function raceSignal<T>(p: Promise<T>, signal: AbortSignal, why: () => string): Promise<T> {
  if (signal.aborted) return Promise.reject(new DeliveryAborted(why()));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new DeliveryAborted(why()));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export class AlertDispatcher {
  private state: AlertState | undefined;
  /** The state as last written, to skip writes that would change nothing. */
  private lastSaved: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly maxConsecutiveFailures: number;
  private readonly deliveryTimeoutMs: number;
  /** Fires on abort(): deliveries in flight end, later dispatches only record and save. */
  private readonly stopping = new AbortController();

  constructor(private readonly opts: DispatcherOptions) {
    const names = opts.notifiers.map((n) => n.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    // Delivery state is keyed by channel name; two channels with one name would share it.
    if (dup !== undefined) throw new Error(`two alert channels are named "${dup}"; give each a distinct name`);
    this.maxConsecutiveFailures = opts.maxConsecutiveFailures ?? DEFAULT_MAX_CONSECUTIVE_FAILURES;
    this.deliveryTimeoutMs = opts.deliveryTimeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS;
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /**
   * Ends deliveries in flight now and sends nothing more; returns at once. A dispatch in progress
   * (or started later) still records its alerts and saves the state, so what was not delivered
   * stays owed and is sent after the restart.
   */
  abort(reason = 'certkeeper is stopping'): void {
    if (!this.stopping.signal.aborted) this.stopping.abort(new Error(reason));
  }

  /**
   * abort(), then waits up to `timeoutMs` for the dispatch in progress to save the state. Returns
   * false when the save did not finish in time (a hung state store): the previous saved state,
   * written before that dispatch began delivering, then still holds what is owed.
   */
  async stop(timeoutMs = 2_000): Promise<boolean> {
    this.abort();
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      this.queue.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return settled;
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
    if (!this.state) {
      const loaded = await this.opts.store.load().then(
        (s) => ({ s, ok: true }),
        (e: unknown) => {
          // Without its memory the dispatcher re-sends what is firing once; better than not alerting.
          this.opts.logger.error({ err: errorMessage(e) }, 'cannot load the alert state; firing alerts will be notified again');
          return { s: emptyAlertState(), ok: false };
        },
      );
      this.state = loaded.s;
      if (loaded.ok) this.lastSaved = serializeAlertState(loaded.s);
    }
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

    // Written ahead: if delivery is cut short (SIGTERM, SIGKILL after it), the saved state already
    // says what each channel is owed.
    await this.save(state);

    const result: DispatchResult = { sent: [], failed: [], deferred: [], firing: [...current.keys()].sort() };
    await Promise.all(this.opts.notifiers.map((ch) => this.deliver(ch, planNotifications(state, ch.name, opts.now), nowIso, result)));

    // Forget what every configured channel has been told is over; entries of channels no longer
    // configured cannot be delivered and must not keep a record alive.
    const names = new Set(this.opts.notifiers.map((n) => n.name));
    for (const [key, rec] of Object.entries(state.alerts)) {
      for (const ch of Object.keys(rec.delivered)) if (!names.has(ch)) delete rec.delivered[ch];
      if (rec.clearedAt !== undefined && Object.keys(rec.delivered).length === 0) delete state.alerts[key];
    }

    await this.save(state);
    const owed = result.failed.length + result.deferred.length;
    if (this.stopped && owed > 0) {
      this.opts.logger.info({ pending: owed }, `stopping: ${owed} alert notification${owed === 1 ? '' : 's'} stay owed in the saved alert state and go out after the restart`);
    }
    return result;
  }

  /** Writes the state when it differs from what was last written. */
  private async save(state: AlertState): Promise<void> {
    const text = serializeAlertState(state);
    if (text === this.lastSaved) return;
    try {
      await this.opts.store.save(state);
      this.lastSaved = text;
    } catch (e) {
      // The state stays in memory; only a restart before the next successful save repeats alerts.
      this.opts.logger.error({ err: errorMessage(e) }, 'cannot save the alert state; a restart now would notify firing alerts again');
    }
  }

  /** Sends one channel's notifications in order (ordering and rate limits), channels run in parallel. */
  private async deliver(ch: Notifier, planned: PlannedNotification[], nowIso: string, result: DispatchResult): Promise<void> {
    let failuresInARow = 0;
    const defer = (from: number) => {
      for (const p of planned.slice(from)) {
        const a = p.notification.alert;
        result.deferred.push({ channel: ch.name, kind: p.notification.kind, key: a.key, code: a.code, level: a.level });
      }
    };
    for (const [i, { notification: n, record }] of planned.entries()) {
      const d: Delivery = { channel: ch.name, kind: n.kind, key: n.alert.key, code: n.alert.code, level: n.alert.level };
      if (this.stopped) {
        defer(i);
        return;
      }
      if (failuresInARow >= this.maxConsecutiveFailures) {
        defer(i);
        this.opts.logger.warn(
          { channel: ch.name, deferred: planned.length - i },
          `alert channel ${ch.name} failed ${failuresInARow} times in a row; the remaining notifications wait for the next pass`,
        );
        return;
      }
      const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.deliveryTimeoutMs)]);
      try {
        await raceSignal(ch.send(n, signal), signal, () =>
          this.stopped ? 'abandoned: certkeeper is stopping' : `no delivery within the ${Math.round(this.deliveryTimeoutMs / 100) / 10} s deadline`,
        );
      } catch (e) {
        failuresInARow++;
        d.error = errorMessage(e);
        result.failed.push(d);
        this.opts.logger.warn(
          { channel: ch.name, key: d.key, code: d.code, alertLevel: d.level, status: n.kind, err: d.error },
          this.stopped
            ? `alert notification via ${ch.name} abandoned at shutdown; it is sent after the restart`
            : `alert notification via ${ch.name} failed; retrying on the next pass`,
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
