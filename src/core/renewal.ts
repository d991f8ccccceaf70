// The one answer to "when does this certificate renew?". `renew` decides with it, `status` and
// `check` show it, alerts measure lateness from it and metrics export it, so none of them can
// disagree about the same certificate. Pure: `now` is a parameter.
//
// Never a fixed "30 days before": Let's Encrypt certificates last 90 days (classic, 64 from
// 2027-02-10), 45 days (tlsserver) or 160 hours (shortlived). Like certmagic's
// DefaultRenewalWindowRatio, the window is a share of the lifetime.
import { lifetimeMs, type CertInfo } from './cert.js';
import { DAY, HOUR } from './time.js';

type Validity = Pick<CertInfo, 'notBefore' | 'notAfter'>;

/** Why the renewal time is what it is; shown by `status` and carried in the renew line. */
export type RenewalBasis = 'LifetimeRatio' | 'RenewBefore';

export interface RenewalPlan {
  /** The start of the renewal window: the first pass at or after it renews. */
  renewAt: Date;
  /** notAfter − renewAt. */
  windowMs: number;
  basis: RenewalBasis;
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

export function renewalPlan(info: Validity, renewBeforeMs?: number): RenewalPlan {
  const windowMs = renewalWindowMs(info, renewBeforeMs);
  return {
    renewAt: new Date(info.notAfter.getTime() - windowMs),
    windowMs,
    basis: renewBeforeMs !== undefined ? 'RenewBefore' : 'LifetimeRatio',
  };
}

/** When a certificate should be renewed: the start of its renewal window. */
export function renewAtFor(info: Validity, renewBeforeMs?: number): Date {
  return renewalPlan(info, renewBeforeMs).renewAt;
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
