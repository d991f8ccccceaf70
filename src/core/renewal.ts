// The one answer to "when does this certificate renew?". `renew` decides with it, `status` and
// `check` show it, alerts measure lateness from it and metrics export it, so none of them can
// disagree about the same certificate. Pure: `now` is a parameter.
//
// Never a fixed "30 days before": Let's Encrypt certificates last 90 days (classic, 64 from
// 2027-02-10), 45 days (tlsserver) or 160 hours (shortlived). Like certmagic's
// DefaultRenewalWindowRatio, the window is a share of the lifetime. When the CA publishes ACME
// Renewal Information (RFC 9773) for the certificate, its suggested window wins: the CA knows of
// revocations and incidents that no lifetime ratio can.
import { ariMoment, type AriRecord, type AriWindow } from './ari.js';
import { lifetimeMs, type CertInfo } from './cert.js';
import { DAY, HOUR, isoSeconds } from './time.js';

type Validity = Pick<CertInfo, 'notBefore' | 'notAfter'> & { certId?: string | undefined };

/** Why the renewal time is what it is; shown by `status` and carried in the renew line. */
export type RenewalBasis = 'LifetimeRatio' | 'RenewBefore' | 'Ari';

export interface RenewalPlan {
  /** The first pass at or after it renews. */
  renewAt: Date;
  /** notAfter − renewAt. */
  windowMs: number;
  basis: RenewalBasis;
  /** The CA's window this plan follows (or that an earlier renewBefore overrode). */
  ari?: AriWindow;
}

export interface RenewalInputs {
  /** renewBefore in effect (the Target's annotation, else the service's). */
  renewBeforeMs?: number | undefined;
  /** The ARI window recorded for a certificate; ignored unless it was fetched for this one. */
  ari?: AriRecord | undefined;
}

/**
 * Renew when less than 1/3 of the lifetime remains, 1/2 for lifetimes of 10 days or less: a
 * 160-hour certificate then renews with 80 hours left, room for several failed attempts backing
 * off 1 h, 2 h, 4 h … within days, not weeks. `renewBeforeMs` (per Ingress or service) overrides.
 */
export function renewalWindowMs(info: Validity, renewBeforeMs?: number): number {
  if (renewBeforeMs !== undefined) return renewBeforeMs;
  const life = lifetimeMs(info);
  return life <= 10 * DAY ? life / 2 : life / 3;
}

/**
 * When `info` renews. With a usable ARI window: a stable moment inside it (ariMoment), or the
 * renewBefore time when one is set and comes earlier. Without one (the CA has no ARI, the request
 * failed, the certificate is from another CA): the lifetime ratio, or renewBefore. The second
 * argument may still be a bare renewBefore in milliseconds.
 */
export function renewalPlan(info: Validity, opts?: number | RenewalInputs): RenewalPlan {
  const { renewBeforeMs, ari } = typeof opts === 'number' || opts === undefined ? { renewBeforeMs: opts, ari: undefined } : opts;
  const windowMs = renewalWindowMs(info, renewBeforeMs);
  const fallback: RenewalPlan = {
    renewAt: new Date(info.notAfter.getTime() - windowMs),
    windowMs,
    basis: renewBeforeMs !== undefined ? 'RenewBefore' : 'LifetimeRatio',
  };
  if (!ari || !usableAri(info, ari)) return fallback;
  const window: AriWindow = { start: ari.start, end: ari.end };
  if (ari.explanationUrl !== undefined) window.explanationUrl = ari.explanationUrl;
  const moment = ariMoment(ari);
  // An explicit renewBefore is the operator's floor: never renew later than it asks.
  if (renewBeforeMs !== undefined && fallback.renewAt < moment) return { ...fallback, ari: window };
  return { renewAt: moment, windowMs: info.notAfter.getTime() - moment.getTime(), basis: 'Ari', ari: window };
}

/** A window fetched for this very certificate, that starts before it expires. */
function usableAri(info: Validity, ari: AriRecord): boolean {
  if (info.certId === undefined || ari.certId !== info.certId) return false;
  return ari.start < ari.end && ari.start < info.notAfter;
}

/** "renews at 2026-…Z", followed by the CA's window when ARI set it; for skip lines and `issue`. */
export function describePlan(plan: RenewalPlan): string {
  const at = `renews at ${isoSeconds(plan.renewAt)}`;
  if (plan.basis !== 'Ari' || !plan.ari) return at;
  return `${at} (inside the CA's ARI window ${isoSeconds(plan.ari.start)} – ${isoSeconds(plan.ari.end)}${plan.ari.explanationUrl ? `, see ${plan.ari.explanationUrl}` : ''})`;
}

/** When a certificate should be renewed: the start of its renewal window. */
export function renewAtFor(info: Validity, opts?: number | RenewalInputs): Date {
  return renewalPlan(info, opts).renewAt;
}

const MAX_BACKOFF = 32 * HOUR;

/**
 * After the n-th consecutive failure: 1 h, doubling to 32 h. The CA's Retry-After wins when it is
 * later (a rateLimited answer says when the limit frees up; asking earlier only fails again).
 */
export function nextRetry(failures: number, now: Date, caRetryAfter?: Date): Date {
  const delay = Math.min(HOUR * 2 ** Math.max(0, failures - 1), MAX_BACKOFF);
  const ours = new Date(now.getTime() + delay);
  return caRetryAfter && caRetryAfter > ours ? caRetryAfter : ours;
}
