// What the dispatcher remembers between passes and restarts: which alerts are firing, since when,
// and what each channel has been told. Without it a restart would page everyone again, and a
// webhook outage would lose the alert that email already delivered.
//
// Pending deliveries are not a separate queue: a channel that has not been told what a record
// says (no entry, an older level, or a clear it has not heard) still owes that notification, and
// planNotifications() derives it. Saving the state therefore saves what is pending, and a restart
// — or a shutdown that aborted a delivery — sends it exactly where it stopped.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { byCodeUnits, levelRank, type Alert, type AlertCode, type AlertLevel } from '../core/alerts.js';
import { IoError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Notification } from './notification.js';

/** An Alert as JSON: dates as ISO strings. */
export type StoredAlert = Omit<Alert, 'notAfter'> & { notAfter?: string };

/** What one channel has acknowledged for one key: the last firing it delivered. */
export interface ChannelDelivery {
  level: AlertLevel;
  code: AlertCode;
  at: string;
}

export interface AlertRecord {
  level: AlertLevel;
  code: AlertCode;
  /** Start of the episode: the pass that first saw this key firing (ISO). */
  firstFiredAt: string;
  /** Last time a firing notification for it was delivered to any channel (ISO). */
  lastFiredAt?: string;
  message: string;
  /** When it stopped firing; the record stays until every channel has been told (ISO). */
  clearedAt?: string;
  /** The alert as last evaluated, so a resolved message can still name it after a restart. */
  alert: StoredAlert;
  /** Channel name → what it was told. A channel missing here has not delivered anything yet. */
  delivered: Record<string, ChannelDelivery>;
}

export interface AlertState {
  version: 1;
  alerts: Record<string, AlertRecord>;
}

/** Where the dispatcher keeps its state: a file, memory, or a ConfigMap (src/kube/). */
export interface AlertStateStore {
  load(): Promise<AlertState>;
  save(state: AlertState): Promise<void>;
}

export function emptyAlertState(): AlertState {
  return { version: 1, alerts: {} };
}

export function toStoredAlert(a: Alert): StoredAlert {
  const s: StoredAlert = {
    key: a.key,
    level: a.level,
    code: a.code,
    object: { ...a.object },
    hosts: [...a.hosts],
    ingresses: a.ingresses.map((i) => ({ namespace: i.namespace, name: i.name, ...(i.kind !== undefined ? { kind: i.kind } : {}) })),
    summary: a.summary,
    message: a.message,
    hint: a.hint,
  };
  if (a.host !== undefined) s.host = a.host;
  if (a.notAfter) s.notAfter = a.notAfter.toISOString();
  return s;
}

export function fromStoredAlert(s: StoredAlert): Alert {
  const { notAfter, ...rest } = s;
  const a: Alert = { ...rest, object: { ...s.object }, hosts: [...s.hosts], ingresses: s.ingresses.map((i) => ({ ...i })) };
  if (notAfter !== undefined) a.notAfter = new Date(notAfter);
  return a;
}

/** One notification a channel still owes, and the record it speaks for. */
export interface PlannedNotification {
  notification: Notification;
  record: AlertRecord;
}

/** What one channel still has to hear, critical first. Pure: `now` is the time of a new firing. */
export function planNotifications(state: AlertState, channel: string, now: Date): PlannedNotification[] {
  const out: PlannedNotification[] = [];
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

/** Every notification still owed, per channel: what a restart will send. */
export function pendingDeliveries(
  state: AlertState,
  channels: readonly string[],
  now: Date,
): { channel: string; kind: Notification['kind']; key: string; code: AlertCode; level: AlertLevel }[] {
  return channels.flatMap((channel) =>
    planNotifications(state, channel, now).map(({ notification: n }) => ({ channel, kind: n.kind, key: n.alert.key, code: n.alert.code, level: n.alert.level })),
  );
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isLevel = (v: unknown): v is AlertLevel => v === 'warning' || v === 'critical';
const isIso = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

function validRecord(v: unknown): v is AlertRecord {
  if (!isRecord(v) || !isLevel(v.level) || typeof v.code !== 'string' || !isIso(v.firstFiredAt) || typeof v.message !== 'string') return false;
  if (v.clearedAt !== undefined && !isIso(v.clearedAt)) return false;
  const a = v.alert;
  if (!isRecord(a) || typeof a.key !== 'string' || !isLevel(a.level) || !isRecord(a.object) || !Array.isArray(a.hosts) || !Array.isArray(a.ingresses)) return false;
  if (!isRecord(v.delivered)) return false;
  return Object.values(v.delivered).every((d) => isRecord(d) && isLevel(d.level) && typeof d.code === 'string' && isIso(d.at));
}

/**
 * Reads stored state written by any version of this module. Records that do not fit are dropped
 * (their alerts fire once more, which beats never firing); `dropped` counts them.
 */
export function parseAlertState(json: unknown): { state: AlertState; dropped: number } {
  const state = emptyAlertState();
  if (!isRecord(json) || json.version !== 1 || !isRecord(json.alerts)) return { state, dropped: isRecord(json) && isRecord(json.alerts) ? Object.keys(json.alerts).length : 0 };
  let dropped = 0;
  for (const [key, rec] of Object.entries(json.alerts)) {
    if (validRecord(rec)) state.alerts[key] = rec;
    else dropped++;
  }
  return { state, dropped };
}

export function serializeAlertState(state: AlertState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

export class MemoryAlertStateStore implements AlertStateStore {
  private state: AlertState;
  constructor(initial: AlertState = emptyAlertState()) {
    this.state = structuredClone(initial);
  }
  async load(): Promise<AlertState> {
    return structuredClone(this.state);
  }
  async save(state: AlertState): Promise<void> {
    this.state = structuredClone(state);
  }
}

/** A JSON file, replaced atomically (write a temporary file beside it, then rename). */
export class FileAlertStateStore implements AlertStateStore {
  constructor(
    readonly path: string,
    private readonly logger?: Logger,
  ) {}

  async load(): Promise<AlertState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyAlertState();
      throw new IoError(`cannot read the alert state file ${this.path}: ${errorMessage(e)}`, 'check that the file is readable by certkeeper');
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      // A corrupt file must not stop alerting: start over and say so; alerts fire once more.
      this.logger?.warn({ path: this.path, err: errorMessage(e) }, 'alert state file is not valid JSON; starting with empty alert state');
      return emptyAlertState();
    }
    const { state, dropped } = parseAlertState(json);
    if (dropped > 0) this.logger?.warn({ path: this.path, dropped }, 'dropped unreadable records from the alert state file');
    return state;
  }

  async save(state: AlertState): Promise<void> {
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFile(tmp, serializeAlertState(state), { encoding: 'utf8', mode: 0o600, flush: true });
      // rename(2) replaces the target atomically: a crash leaves the old or the new file, never half.
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new IoError(`cannot write the alert state file ${this.path}: ${errorMessage(e)}`, 'check that the directory exists and is writable by certkeeper');
    }
  }
}
