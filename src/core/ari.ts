// ACME Renewal Information (RFC 9773): how certkeeper names a certificate to its CA, reads the
// CA's suggested renewal window, and picks its moment inside it. Pure: the window comes in from
// the ACME adapter (or the Secret it was recorded on), nothing here reads a clock.
import { createHash } from 'node:crypto';
import { certificateIds, DerError } from './der.js';
import { HOUR } from './time.js';

/** The CA's suggested window (RFC 9773 §4.2), and the page explaining it when the CA gave one. */
export interface AriWindow {
  start: Date;
  end: Date;
  explanationUrl?: string;
}

/** An ARI window as recorded for one certificate (on its Secret, or read for `issue`). */
export interface AriRecord extends AriWindow {
  /** The certificate it was fetched for; a window is never applied to another certificate. */
  certId: string;
  /** When to ask the CA again (its Retry-After, capped to [1 h, 24 h]). */
  nextCheck?: Date;
}

/**
 * RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial DER content octets), both
 * unpadded; the serial keeps its leading zero byte. Undefined for a certificate without an
 * Authority Key Identifier (self-signed test certificates), which ARI cannot name.
 */
export function ariCertId(der: Uint8Array): string | undefined {
  let ids: ReturnType<typeof certificateIds>;
  try {
    ids = certificateIds(der);
  } catch (e) {
    if (e instanceof DerError) return undefined;
    throw e;
  }
  if (!ids.authorityKeyId || ids.authorityKeyId.length === 0 || ids.serial.length === 0) return undefined;
  return `${Buffer.from(ids.authorityKeyId).toString('base64url')}.${Buffer.from(ids.serial).toString('base64url')}`;
}

/** The serial of a certID as upper-case hex without the sign byte (as node:crypto prints it), for messages. */
export function certIdSerialHex(certId: string): string | undefined {
  const serial = certId.split('.')[1];
  if (!serial) return undefined;
  const bytes = Buffer.from(serial, 'base64url');
  const start = bytes[0] === 0 && bytes.length > 1 ? 1 : 0;
  return bytes.subarray(start).toString('hex').toUpperCase();
}

export type RenewalInfoParse = { ok: true; window: AriWindow } | { ok: false; problem: string };

/** Reads a renewalInfo response body (RFC 9773 §4.2). Anything malformed is a problem, never a throw. */
export function parseRenewalInfo(body: unknown): RenewalInfoParse {
  let doc = body;
  if (typeof doc === 'string') {
    try {
      doc = JSON.parse(doc) as unknown;
    } catch {
      return { ok: false, problem: 'the response is not JSON' };
    }
  }
  if (typeof doc !== 'object' || doc === null) return { ok: false, problem: 'the response is not a JSON object' };
  const w = (doc as { suggestedWindow?: unknown }).suggestedWindow;
  if (typeof w !== 'object' || w === null) return { ok: false, problem: 'the response has no suggestedWindow object' };
  const { start, end } = w as { start?: unknown; end?: unknown };
  const s = typeof start === 'string' ? Date.parse(start) : NaN;
  const e = typeof end === 'string' ? Date.parse(end) : NaN;
  if (Number.isNaN(s) || Number.isNaN(e)) return { ok: false, problem: 'suggestedWindow.start or .end is not an RFC 3339 time' };
  // §4.2: "the end ... MUST be later than the start"; a client must not act on a window that is not.
  if (e <= s) return { ok: false, problem: `suggestedWindow ends (${String(end)}) before it starts (${String(start)})` };
  const window: AriWindow = { start: new Date(s), end: new Date(e) };
  const url = (doc as { explanationURL?: unknown }).explanationURL;
  if (typeof url === 'string' && /^https?:\/\//i.test(url)) window.explanationUrl = url;
  return { ok: true, window };
}

/** Bounds for the next renewalInfo request: the CA's Retry-After, but at least 1 h and at most 24 h apart. */
export const ARI_MIN_RECHECK_MS = HOUR;
export const ARI_MAX_RECHECK_MS = 24 * HOUR;
/** RFC 9773 §4.3: without a Retry-After, clients should poll about every 6 hours. */
export const ARI_DEFAULT_RECHECK_MS = 6 * HOUR;

/** When to ask again: the CA's Retry-After clamped to [1 h, 24 h]; 6 h without one. */
export function nextAriCheck(now: Date, retryAfter: Date | undefined): Date {
  const asked = retryAfter ? retryAfter.getTime() - now.getTime() : ARI_DEFAULT_RECHECK_MS;
  return new Date(now.getTime() + Math.min(ARI_MAX_RECHECK_MS, Math.max(ARI_MIN_RECHECK_MS, asked)));
}

/**
 * The moment inside the window at which this certificate renews. RFC 9773 §4.2 asks for a
 * uniformly random time in the window, so that a CA's million certificates do not come back at
 * once. Drawn from a hash of the certID and the window instead of a random generator: the same
 * answer in `renew`, `status`, alerts and metrics, and after a restart, with no state to store;
 * a new window (the CA moved it) draws a new moment.
 */
export function ariMoment(record: Pick<AriRecord, 'certId' | 'start' | 'end'>): Date {
  const digest = createHash('sha256').update(`${record.certId}|${record.start.toISOString()}|${record.end.toISOString()}`).digest();
  const fraction = digest.readUInt32BE(0) / 0x1_0000_0000;
  const span = record.end.getTime() - record.start.getTime();
  return new Date(record.start.getTime() + Math.floor(fraction * span));
}
