// What channels receive, and the wording they share, so that a subject line, a Slack message and
// an Event say the same thing in the same words.
import { formatDuration, isoTime, relativeTime, type Alert, type AlertLevel } from '../core/alerts.js';
import { describeObject } from '../core/findings.js';

export interface Notification {
  /**
   * firing: new, escalated, or changed to another code. resolved: cleared, or dropped to a lower
   * level (then `alert` is the alert at its new level and `previousLevel` the one that ended).
   */
  kind: 'firing' | 'resolved';
  alert: Alert;
  /** firing: when this pass saw it; resolved: when it cleared (not when delivery finally succeeded). */
  at: Date;
  /** The level this channel was told before, when it was told anything. */
  previousLevel?: AlertLevel;
  /** Start of the episode (first firing), for "lasted 3 hours". */
  since: Date;
}

/** A channel. send() resolves when delivered and throws when not; the dispatcher retries next pass. */
export interface Notifier {
  readonly name: string;
  /**
   * `signal` fires at the delivery's deadline or at shutdown: stop at once (abort the request,
   * close the connection) and throw. The dispatcher stops waiting then either way.
   */
  send(n: Notification, signal?: AbortSignal): Promise<void>;
}

/** Whether a resolved notification ends the alert or only lowers its level. */
export function isFullyResolved(n: Notification): boolean {
  return n.kind === 'resolved' && (n.previousLevel === undefined || n.previousLevel === n.alert.level);
}

/** "shop/shop-tls" for namespaced objects, the bare name otherwise. */
export function shortName(a: Alert): string {
  return a.object.namespace !== undefined ? `${a.object.namespace}/${a.object.name}` : a.object.name;
}

/** "CRITICAL", "WARNING", "RESOLVED", "RESOLVED (was CRITICAL, still WARNING)". */
export function statusLabel(n: Notification): string {
  if (n.kind === 'firing') return n.alert.level.toUpperCase();
  if (isFullyResolved(n)) return 'RESOLVED';
  return `RESOLVED (was ${(n.previousLevel ?? n.alert.level).toUpperCase()}, still ${n.alert.level.toUpperCase()})`;
}

/** "lasted 3 hours" — from the first firing until it cleared. */
export function lasted(n: Notification): string {
  return formatDuration(n.at.getTime() - n.since.getTime());
}

/** One line: "CRITICAL CertificateExpiringSoon shop/shop-tls expires in 2 days". */
export function title(n: Notification): string {
  const a = n.alert;
  if (n.kind === 'firing') return `${statusLabel(n)} ${a.code} ${shortName(a)} ${a.summary}`;
  return `${statusLabel(n)} ${a.code} ${shortName(a)} after ${lasted(n)}`;
}

/** The facts below the message, one "Label: value" per line. */
export function detailLines(n: Notification): string[] {
  const a = n.alert;
  const lines = [`Object: ${describeObject(a.object)}`];
  if (a.hosts.length > 0) lines.push(`Hosts: ${a.hosts.join(', ')}`);
  const ingresses = a.ingresses.filter((i) => (i.kind ?? 'Ingress') === 'Ingress');
  const others = a.ingresses.filter((i) => (i.kind ?? 'Ingress') !== 'Ingress');
  if (ingresses.length > 0) lines.push(`Ingresses: ${ingresses.map((i) => `${i.namespace}/${i.name}`).join(', ')}`);
  if (others.length > 0) lines.push(`Gateways: ${others.map((i) => `${i.kind === 'ListenerSet' ? 'ListenerSet ' : ''}${i.namespace}/${i.name}`).join(', ')}`);
  if (a.notAfter) lines.push(`Not after: ${isoTime(a.notAfter)} (${relativeTime(a.notAfter, n.at)})`);
  lines.push(`Level: ${a.level}${n.previousLevel && n.previousLevel !== a.level ? ` (was ${n.previousLevel})` : ''}`);
  lines.push(`Firing since: ${isoTime(n.since)}`);
  if (n.kind === 'resolved') lines.push(`${isFullyResolved(n) ? 'Cleared' : `${n.previousLevel ?? ''} cleared`} at: ${isoTime(n.at)} (lasted ${lasted(n)})`);
  lines.push(`Alert key: ${a.key}`);
  return lines;
}

/** The sentence that opens a resolved notification. */
export function resolvedSentence(n: Notification): string {
  const a = n.alert;
  return isFullyResolved(n)
    ? `${a.code} for ${describeObject(a.object)} cleared at ${isoTime(n.at)} after ${lasted(n)}.`
    : `${a.code} for ${describeObject(a.object)} is no longer ${n.previousLevel ?? ''} (since ${isoTime(n.at)}, after ${lasted(n)}) but still ${a.level}.`;
}
