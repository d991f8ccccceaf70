// Let's Encrypt's profile rules, the rate-limit ledger and the schedule check: pure, fixed clock.
import { describe, expect, it } from 'vitest';
import { checkProfileOffered, checkProfileRules, defaultProfile, type OrderIdentifier } from '../../src/core/profiles.js';
import {
  bucketState,
  checkRateLimits,
  emptyLedger,
  LETS_ENCRYPT_LIMITS,
  nameSetKey,
  parseLedger,
  pruneLedger,
  recordCertificate,
  recordFailedValidation,
  recordOrder,
} from '../../src/core/ratelimits.js';
import { scheduleFindings, scheduleFor } from '../../src/core/schedule.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);
const LE = 'https://acme-v02.api.letsencrypt.org/directory';
const STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';
const OTHER = 'https://acme.example.net/directory';
const dns = (n: number): OrderIdentifier[] => Array.from({ length: n }, (_, i) => ({ type: 'dns', value: `h${i}.example.com` }));
const ip: OrderIdentifier = { type: 'ip', value: '203.0.113.10' };

describe("Let's Encrypt's profile rules, before the CA", () => {
  it.each([
    ['classic, 100 names', 'classic', dns(100), LE, undefined],
    ['classic, 101 names', 'classic', dns(101), LE, 'at most 100 names'],
    ['tlsserver, 25 names', 'tlsserver', dns(25), LE, undefined],
    ['tlsserver, 26 names', 'tlsserver', dns(26), STAGING, 'at most 25 names on a certificate; this one has 26'],
    ['shortlived, 26 names', 'shortlived', dns(26), LE, 'at most 25'],
    ['shortlived, an IP address', 'shortlived', [ip], LE, undefined],
    ['tlsserver, an IP address', 'tlsserver', [ip], LE, 'issues no certificates for IP addresses (203.0.113.10); only shortlived does'],
    ['no profile (classic), an IP address', undefined, [ip], LE, 'profile classic (the default when none is named)'],
    ['another CA, anything', 'tlsserver', [...dns(40), ip], OTHER, undefined],
    ["a profile Let's Encrypt's rules do not know", 'future', dns(200), LE, undefined],
  ] as const)('%s', (_, profile, ids, url, refusal) => {
    const r = checkProfileRules(profile, ids, url);
    if (refusal === undefined) expect(r).toBeUndefined();
    else expect(r).toMatchObject({ code: 'ProfileNotAllowed', message: expect.stringContaining(refusal) });
  });

  it('orders IP addresses on shortlived at Let\'s Encrypt when no profile is asked for', () => {
    expect(defaultProfile([ip], LE)).toBe('shortlived');
    expect(defaultProfile(dns(1), LE)).toBeUndefined();
    expect(defaultProfile([ip], OTHER)).toBeUndefined();
  });

  it('refuses a profile the CA does not offer, listing the ones it does, and any profile at a CA without profiles', () => {
    const offered = { classic: 'https://letsencrypt.org/docs/profiles#classic', shortlived: 'https://letsencrypt.org/docs/profiles#shortlived' };
    expect(checkProfileOffered('classic', offered, LE)).toBeUndefined();
    expect(checkProfileOffered(undefined, undefined, LE)).toBeUndefined();
    expect(checkProfileOffered('longlived', offered, LE)).toEqual({
      code: 'ProfileUnknown',
      message: `profile "longlived" is not offered by the CA at ${LE}; it offers classic (https://letsencrypt.org/docs/profiles#classic), shortlived (https://letsencrypt.org/docs/profiles#shortlived)`,
      hint: 'set certkeeper.dev/profile (or --profile) to one of: classic, shortlived',
    });
    expect(checkProfileOffered('tlsserver', undefined, OTHER)?.message).toBe(`profile "tlsserver" was asked for, but the CA at ${OTHER} offers no profiles (its directory has no meta.profiles)`);
  });
});

describe('the rate-limit ledger', () => {
  const names = ['b.example.com', 'A.example.com'];

  it('counts the same names in any order and case as one set', () => {
    expect(nameSetKey(names)).toBe(nameSetKey(['a.example.com', 'b.example.com', 'a.example.com']));
  });

  it('refuses a sixth certificate for one name set within the week, with the count and when it frees up', () => {
    const ledger = emptyLedger();
    for (let i = 0; i < 5; i++) recordCertificate(ledger, LE, names, at(-i * HOUR));
    const hit = checkRateLimits(ledger, { directoryUrl: LE, names }, LETS_ENCRYPT_LIMITS, NOW);
    expect(hit).toMatchObject({ count: 5, limit: { name: 'New Certificates per Exact Set of Identifiers' } });
    // One token refills every 7 days / 5 = 33.6 h after the last; 4 h of refill have passed.
    expect(hit?.freesAt.getTime()).toBe(NOW.getTime() + Math.ceil((1 - (4 * HOUR) / ((7 * DAY) / 5)) * ((7 * DAY) / 5)) - 0);
    expect(hit?.message).toMatch(/"New Certificates per Exact Set of Identifiers" \(5 per 7 days\): 5 certificates for exactly a\.example\.com, b\.example\.com in that window, and the next one is allowed at 2026-06-02T05:36:00Z/);
    // Another name set, or the same one once the bucket refilled, may order.
    expect(checkRateLimits(ledger, { directoryUrl: LE, names: ['c.example.com'] }, LETS_ENCRYPT_LIMITS, NOW)).toBeUndefined();
    expect(checkRateLimits(ledger, { directoryUrl: LE, names }, LETS_ENCRYPT_LIMITS, at(30 * HOUR))).toBeUndefined();
  });

  it('never holds back an order that names the certificate it replaces (ARI renewals are exempt)', () => {
    const ledger = emptyLedger();
    for (let i = 0; i < 5; i++) recordCertificate(ledger, LE, names, NOW);
    expect(checkRateLimits(ledger, { directoryUrl: LE, names, replaces: 'aki.serial' }, LETS_ENCRYPT_LIMITS, NOW)).toBeUndefined();
  });

  it('refuses a host after 5 failed validations within the hour, and an account after 300 orders in 3 hours', () => {
    const ledger = emptyLedger();
    for (let i = 0; i < 5; i++) recordFailedValidation(ledger, LE, ['bad.example.com'], at(-i * 60_000));
    expect(checkRateLimits(ledger, { directoryUrl: LE, names: ['ok.example.com', 'bad.example.com'] }, LETS_ENCRYPT_LIMITS, NOW)?.limit.name).toBe('Authorization Failures per Identifier per Account');
    const busy = emptyLedger();
    for (let i = 0; i < 300; i++) recordOrder(busy, LE, at(-i * 10));
    expect(checkRateLimits(busy, { directoryUrl: LE, names: ['new.example.com'] }, LETS_ENCRYPT_LIMITS, NOW)).toMatchObject({ count: 300, limit: { name: 'New Orders per Account' } });
    // Each CA counts on its own.
    expect(checkRateLimits(busy, { directoryUrl: STAGING, names: ['new.example.com'] }, LETS_ENCRYPT_LIMITS, NOW)).toBeUndefined();
  });

  it('is a token bucket: spaced-out requests keep refilling it', () => {
    const limit = LETS_ENCRYPT_LIMITS.certificatesPerNameSet;
    // Ten certificates 34 hours apart never run the bucket dry.
    const spaced = Array.from({ length: 10 }, (_, i) => at(-i * 34 * HOUR).toISOString());
    expect(bucketState(spaced, limit, NOW).freesAt).toBeUndefined();
  });

  it('forgets what no limit counts any more, and survives a damaged document', () => {
    const ledger = emptyLedger();
    recordOrder(ledger, LE, at(-7 * HOUR));
    recordCertificate(ledger, LE, names, at(-15 * DAY));
    recordCertificate(ledger, LE, ['kept.example.com'], at(-DAY));
    pruneLedger(ledger, LETS_ENCRYPT_LIMITS, NOW);
    expect(ledger.cas[LE]).toEqual({ certificates: { 'kept.example.com': [at(-DAY).toISOString()] }, failures: {}, orders: [] });
    expect(parseLedger(JSON.parse(JSON.stringify(ledger)))).toEqual(ledger);
    expect(parseLedger({ cas: { [LE]: { orders: ['not a time'], certificates: 'x' } } })).toEqual({ version: 1, cas: { [LE]: { certificates: {}, failures: {}, orders: [] } } });
    expect(parseLedger('garbage')).toEqual(emptyLedger());
  });
});

describe('the schedule against the shortest renewal window in use', () => {
  const cert = (name: string, lifetimeMs: number, windowMs: number) => ({ namespace: 'shop', secretName: name, notAfter: at(lifetimeMs / 2), renewAt: at(lifetimeMs / 2 - windowMs), profile: 'shortlived' });

  it('names the certificate with the shortest window when passes come more than a quarter of it apart', () => {
    const f = scheduleFindings({ schedule: '7 */12 * * *', maxGapMs: 12 * HOUR, certificates: [cert('long-tls', 90 * DAY, 30 * DAY), cert('short-tls', 160 * HOUR, 40 * HOUR), cert('mid-tls', 160 * HOUR, 44 * HOUR)], now: NOW });
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ code: 'ScheduleTooSparse', severity: 'warning', object: { kind: 'Secret', namespace: 'shop', name: 'short-tls' } });
    expect(f[0]?.message).toBe(
      '--schedule "7 */12 * * *" leaves up to 12 hours between passes, but the certificate in Secret shop/short-tls (profile shortlived) renews with only 40 hours left before it expires (and 1 more certificate): passes must come at least every 10 hours to leave room for retries after a failed renewal',
    );
    expect(f[0]?.hint).toBe('run passes at least every 10 hours, e.g. --schedule "7 */8 * * *"');
  });

  it('is quiet when every window holds four passes', () => {
    expect(scheduleFindings({ schedule: '7 * * * *', maxGapMs: HOUR, certificates: [cert('short-tls', 160 * HOUR, 80 * HOUR)], now: NOW })).toEqual([]);
  });

  it.each([
    [30 * HOUR, '7 3 * * *'],
    [20 * HOUR, '7 */12 * * *'],
    [HOUR, '7 * * * *'],
    [25 * 60_000, '*/20 * * * *'],
    [2 * DAY, '7 3 * * *'],
  ])('suggests a schedule at least every %d ms: %s', (ms, want) => {
    expect(scheduleFor(ms)).toBe(want);
  });
});
