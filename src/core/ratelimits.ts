// Rate limits before the CA. Let's Encrypt limits orders with token buckets
// (https://letsencrypt.org/docs/rate-limits/); an order that would hit one fails at the CA, and
// a duplicate-certificate limit hit blocks that name set for days. certkeeper keeps a small ledger
// of what it asked for and refuses, with the limit, the count and the time it frees up, an order
// it knows the CA would refuse. Renewals that name the certificate they replace (ARI `replaces`)
// are exempt from every limit, so the ledger never holds those back. The CA's own rateLimited
// answer still wins (the backoff honours its Retry-After). Pure: the ledger is a plain document
// that an adapter loads and saves; `now` is a parameter.

/** One token bucket: `capacity` requests, one more every `refillMs`. */
export interface BucketLimit {
  /** The name Let's Encrypt gives the limit. */
  name: string;
  capacity: number;
  refillMs: number;
  /** "5 per 7 days", for messages. */
  text: string;
}

export interface RateLimits {
  certificatesPerNameSet: BucketLimit;
  failedValidationsPerHost: BucketLimit;
  ordersPerAccount: BucketLimit;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Let's Encrypt's published limits (as of June 2025). */
export const LETS_ENCRYPT_LIMITS: RateLimits = {
  certificatesPerNameSet: { name: 'New Certificates per Exact Set of Identifiers', capacity: 5, refillMs: (7 * DAY) / 5, text: '5 per 7 days' },
  failedValidationsPerHost: { name: 'Authorization Failures per Identifier per Account', capacity: 5, refillMs: HOUR / 5, text: '5 per hour' },
  ordersPerAccount: { name: 'New Orders per Account', capacity: 300, refillMs: (3 * HOUR) / 300, text: '300 per 3 hours' },
};

/** What certkeeper asked of one CA (one account), each list of ISO times oldest first. */
export interface CaLedger {
  /** Issued certificates by exact name set (sorted, comma-joined). */
  certificates: Record<string, string[]>;
  /** Failed validations by identifier. */
  failures: Record<string, string[]>;
  /** Orders placed (new-order requests). */
  orders: string[];
}

/** The ledger document: one section per ACME directory URL. */
export interface Ledger {
  version: 1;
  cas: Record<string, CaLedger>;
}

export function emptyLedger(): Ledger {
  return { version: 1, cas: {} };
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string' && !Number.isNaN(Date.parse(x)));

/** Reads a stored ledger; whatever is unreadable is dropped (the CA's own limits still hold). */
export function parseLedger(raw: unknown): Ledger {
  const out = emptyLedger();
  if (typeof raw !== 'object' || raw === null) return out;
  const cas = (raw as { cas?: unknown }).cas;
  if (typeof cas !== 'object' || cas === null) return out;
  for (const [url, v] of Object.entries(cas as Record<string, unknown>)) {
    if (typeof v !== 'object' || v === null) continue;
    const c = v as Partial<Record<keyof CaLedger, unknown>>;
    const section: CaLedger = { certificates: {}, failures: {}, orders: isStringArray(c.orders) ? [...c.orders] : [] };
    for (const key of ['certificates', 'failures'] as const) {
      const m = c[key];
      if (typeof m !== 'object' || m === null) continue;
      for (const [k, times] of Object.entries(m as Record<string, unknown>)) if (isStringArray(times)) section[key][k] = [...times];
    }
    out.cas[url] = section;
  }
  return out;
}

/** The key of an exact name set: the CA counts the same names in any order as one set. */
export function nameSetKey(names: readonly string[]): string {
  return [...new Set(names.map((n) => n.toLowerCase()))].sort().join(',');
}

/**
 * Tokens left in a bucket at `now`, and when the next token arrives when none is left. The bucket
 * starts full; each event takes a token after refilling for the time since the previous one.
 */
export function bucketState(events: readonly string[], limit: BucketLimit, now: Date): { tokens: number; freesAt?: Date } {
  let tokens = limit.capacity;
  let last: number | undefined;
  for (const e of [...events].sort()) {
    const t = Date.parse(e);
    if (last !== undefined) tokens = Math.min(limit.capacity, tokens + (t - last) / limit.refillMs);
    tokens -= 1;
    last = t;
  }
  if (last !== undefined) tokens = Math.min(limit.capacity, tokens + (now.getTime() - last) / limit.refillMs);
  if (tokens >= 1) return { tokens };
  return { tokens, freesAt: new Date(now.getTime() + Math.ceil((1 - tokens) * limit.refillMs)) };
}

export interface PlannedOrder {
  directoryUrl: string;
  names: readonly string[];
  /** The order names the certificate it replaces (ARI): exempt from every limit. */
  replaces?: string | undefined;
}

export interface RateLimitHit {
  limit: BucketLimit;
  /** Requests counted in the bucket's window. */
  count: number;
  freesAt: Date;
  /** The name set or identifier the limit counts, when it is not the whole account. */
  subject?: string;
  message: string;
  hint: string;
}

function windowCount(events: readonly string[], limit: BucketLimit, now: Date): number {
  const since = now.getTime() - limit.capacity * limit.refillMs;
  return events.filter((e) => Date.parse(e) > since).length;
}

/** The first limit `order` would exceed, or undefined. Orders that carry `replaces` never hit one. */
export function checkRateLimits(ledger: Ledger, order: PlannedOrder, limits: RateLimits, now: Date): RateLimitHit | undefined {
  if (order.replaces) return undefined;
  const ca = ledger.cas[order.directoryUrl];
  if (!ca) return undefined;
  const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const key = nameSetKey(order.names);
  const checks: { limit: BucketLimit; events: string[]; subject?: string; what: string }[] = [
    { limit: limits.certificatesPerNameSet, events: ca.certificates[key] ?? [], subject: key, what: `certificates for exactly ${key.split(',').join(', ')}` },
    ...order.names.map((n) => ({ limit: limits.failedValidationsPerHost, events: ca.failures[n.toLowerCase()] ?? [], subject: n.toLowerCase(), what: `failed validations of ${n.toLowerCase()}` })),
    { limit: limits.ordersPerAccount, events: ca.orders, what: 'orders by this account' },
  ];
  for (const c of checks) {
    const state = bucketState(c.events, c.limit, now);
    if (!state.freesAt) continue;
    const count = windowCount(c.events, c.limit, now);
    const hit: RateLimitHit = {
      limit: c.limit,
      count,
      freesAt: state.freesAt,
      message: `ordering now would exceed the CA's limit "${c.limit.name}" (${c.limit.text}): ${count} ${c.what} in that window, and the next one is allowed at ${iso(state.freesAt)}`,
      hint:
        c.limit === limits.failedValidationsPerHost
          ? `fix why validation fails (\`certkeeper check --probe\` tests the HTTP-01 route); certkeeper orders again after ${iso(state.freesAt)}`
          : `certkeeper orders again after ${iso(state.freesAt)}; renewals inside the CA's ARI window name the certificate they replace and are exempt`,
    };
    if (c.subject !== undefined) hit.subject = c.subject;
    return hit;
  }
  return undefined;
}

function section(ledger: Ledger, directoryUrl: string): CaLedger {
  let s = ledger.cas[directoryUrl];
  if (!s) {
    s = { certificates: {}, failures: {}, orders: [] };
    ledger.cas[directoryUrl] = s;
  }
  return s;
}

/** An order was placed. */
export function recordOrder(ledger: Ledger, directoryUrl: string, now: Date): void {
  section(ledger, directoryUrl).orders.push(now.toISOString());
}

/** A certificate was issued for `names`. */
export function recordCertificate(ledger: Ledger, directoryUrl: string, names: readonly string[], now: Date): void {
  const s = section(ledger, directoryUrl);
  const key = nameSetKey(names);
  (s.certificates[key] ??= []).push(now.toISOString());
}

/** The CA failed to validate `hosts`. */
export function recordFailedValidation(ledger: Ledger, directoryUrl: string, hosts: readonly string[], now: Date): void {
  const s = section(ledger, directoryUrl);
  for (const h of hosts) (s.failures[h.toLowerCase()] ??= []).push(now.toISOString());
}

/**
 * Drops what no limit counts any more: events older than twice a bucket's full refill time. A
 * bucket is full again one refill time after its last event; only a chain of events spanning more
 * than that could have left it emptier, and then the CA's own answer still decides.
 */
export function pruneLedger(ledger: Ledger, limits: RateLimits, now: Date): void {
  const keep = (limit: BucketLimit) => (e: string) => Date.parse(e) > now.getTime() - 2 * limit.capacity * limit.refillMs;
  for (const [url, s] of Object.entries(ledger.cas)) {
    s.orders = s.orders.filter(keep(limits.ordersPerAccount));
    for (const [k, v] of Object.entries(s.certificates)) {
      const kept = v.filter(keep(limits.certificatesPerNameSet));
      if (kept.length > 0) s.certificates[k] = kept;
      else delete s.certificates[k];
    }
    for (const [k, v] of Object.entries(s.failures)) {
      const kept = v.filter(keep(limits.failedValidationsPerHost));
      if (kept.length > 0) s.failures[k] = kept;
      else delete s.failures[k];
    }
    if (s.orders.length === 0 && Object.keys(s.certificates).length === 0 && Object.keys(s.failures).length === 0) delete ledger.cas[url];
  }
}
