// Alert levels follow the lifetime: one row per level and reason, a fixed `now`, and certificates of
// the lifetimes Let's Encrypt issues in 2026 (90 days classic, 45 days tlsserver, 160 hours shortlived).
import { describe, expect, it } from 'vitest';
import {
  criticalWindowMs,
  defaultGraceMs,
  evaluateAlerts,
  formatDuration,
  FINDING_ALERT_LEVELS,
  type AlertInput,
  type AlertOptions,
  type CertificateState,
} from '../../src/core/alerts.js';
import { finding, type Finding } from '../../src/core/findings.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A certificate of `lifetime` with `left` remaining at NOW; renewAt derived by the policy's rule unless given. */
function cert(lifetime: number, left: number, extra: Partial<CertificateState> = {}): CertificateState {
  const notAfter = new Date(NOW.getTime() + left);
  return {
    namespace: 'shop',
    secretName: 'shop-tls',
    hosts: ['shop.example.com', 'www.shop.example.com'],
    ingresses: [{ namespace: 'shop', name: 'web' }],
    notBefore: new Date(notAfter.getTime() - lifetime),
    notAfter,
    failures: 0,
    ...extra,
  };
}

const secretRef = { kind: 'Secret', namespace: 'shop', name: 'shop-tls' };
const ingressRef = { kind: 'Ingress', namespace: 'shop', name: 'web' };

interface Row {
  name: string;
  certificates?: CertificateState[];
  findings?: Finding[];
  input?: Partial<AlertInput>;
  options?: AlertOptions;
  /** Expected [key, level, code] triples, critical first then by key. */
  want: [string, 'warning' | 'critical', string][];
}

const rows: Row[] = [
  // 90 days: renewal window 1/3 (30 days), grace 2 % (43.2 h), critical below 1/10 (9 days).
  { name: '90d, 60 days left: nothing', certificates: [cert(90 * DAY, 60 * DAY)], want: [] },
  { name: '90d, renewal due 12 h ago, within the 43 h grace: nothing', certificates: [cert(90 * DAY, 30 * DAY - 12 * HOUR)], want: [] },
  {
    name: '90d, renewal due 2 days ago: warning',
    certificates: [cert(90 * DAY, 28 * DAY)],
    want: [['shop/shop-tls:expiry', 'warning', 'CertificateRenewalOverdue']],
  },
  {
    name: '90d, 20 days left but renewBefore 15 days (renewAt not reached): not even a warning',
    certificates: [cert(90 * DAY, 20 * DAY, { renewAt: new Date(NOW.getTime() + 5 * DAY) })],
    want: [],
  },
  { name: '90d, 10 days left: still warning', certificates: [cert(90 * DAY, 10 * DAY)], want: [['shop/shop-tls:expiry', 'warning', 'CertificateRenewalOverdue']] },
  { name: '90d, 8 days left (< 1/10): critical', certificates: [cert(90 * DAY, 8 * DAY)], want: [['shop/shop-tls:expiry', 'critical', 'CertificateExpiringSoon']] },
  // 45 days: window 15 days, grace 21.6 h, critical below 4.5 days.
  { name: '45d, 12 h past renewAt: nothing', certificates: [cert(45 * DAY, 15 * DAY - 12 * HOUR)], want: [] },
  { name: '45d, 1 day past renewAt: warning', certificates: [cert(45 * DAY, 14 * DAY)], want: [['shop/shop-tls:expiry', 'warning', 'CertificateRenewalOverdue']] },
  { name: '45d, 5 days left: warning', certificates: [cert(45 * DAY, 5 * DAY)], want: [['shop/shop-tls:expiry', 'warning', 'CertificateRenewalOverdue']] },
  { name: '45d, 4 days left: critical', certificates: [cert(45 * DAY, 4 * DAY)], want: [['shop/shop-tls:expiry', 'critical', 'CertificateExpiringSoon']] },
  // 160 hours: window 1/2 (80 h), grace 3.2 h, critical below 3 days (72 h).
  { name: '160h, 1 h past renewAt: nothing', certificates: [cert(160 * HOUR, 79 * HOUR)], want: [] },
  { name: '160h, 4 h past renewAt: warning', certificates: [cert(160 * HOUR, 76 * HOUR)], want: [['shop/shop-tls:expiry', 'warning', 'CertificateRenewalOverdue']] },
  { name: '160h, 71 h left (< 3 days): critical', certificates: [cert(160 * HOUR, 71 * HOUR)], want: [['shop/shop-tls:expiry', 'critical', 'CertificateExpiringSoon']] },
  {
    name: '160h with 20 h left is critical while 90d with 20 days left and renewAt ahead is nothing',
    certificates: [
      cert(160 * HOUR, 20 * HOUR, { secretName: 'short-tls' }),
      cert(90 * DAY, 20 * DAY, { secretName: 'long-tls', renewAt: new Date(NOW.getTime() + 5 * DAY) }),
    ],
    want: [['shop/short-tls:expiry', 'critical', 'CertificateExpiringSoon']],
  },
  // 5 days: the 3-day floor is capped at 90 % of the 60 h window, so renewal comes first.
  { name: '5d, 1 h past renewAt: nothing', certificates: [cert(5 * DAY, 59 * HOUR)], want: [] },
  { name: '5d, 55 h left: warning (critical only below 54 h)', certificates: [cert(5 * DAY, 55 * HOUR)], want: [['shop/shop-tls:expiry', 'warning', 'CertificateRenewalOverdue']] },
  { name: '5d, 53 h left: critical', certificates: [cert(5 * DAY, 53 * HOUR)], want: [['shop/shop-tls:expiry', 'critical', 'CertificateExpiringSoon']] },
  // Expired, immediately.
  { name: '90d, expired 1 minute ago', certificates: [cert(90 * DAY, -MIN)], want: [['shop/shop-tls:expiry', 'critical', 'CertificateExpired']] },
  { name: '160h, expired 5 h ago', certificates: [cert(160 * HOUR, -5 * HOUR)], want: [['shop/shop-tls:expiry', 'critical', 'CertificateExpired']] },
  // Issuance failing.
  { name: '2 failures in a row: below the threshold', certificates: [cert(90 * DAY, 60 * DAY, { failures: 2, lastError: 'x' })], want: [] },
  {
    name: '3 failures in a row: critical, even with a valid certificate',
    certificates: [cert(90 * DAY, 60 * DAY, { failures: 3, lastError: 'unauthorized' })],
    want: [['shop/shop-tls:IssuanceFailing', 'critical', 'IssuanceFailing']],
  },
  {
    name: 'failing with no certificate at all',
    certificates: [{ namespace: 'shop', secretName: 'new-tls', hosts: ['new.example.com'], ingresses: [ingressRef], failures: 4, lastError: 'dns' }],
    want: [['shop/new-tls:IssuanceFailing', 'critical', 'IssuanceFailing']],
  },
  {
    name: 'failureThreshold option',
    certificates: [cert(90 * DAY, 60 * DAY, { failures: 1, lastError: 'x' })],
    options: { failureThreshold: 1 },
    want: [['shop/shop-tls:IssuanceFailing', 'critical', 'IssuanceFailing']],
  },
  {
    name: 'graceMs option: 0 warns as soon as renewal is due',
    certificates: [cert(90 * DAY, 30 * DAY - MIN)],
    options: { graceMs: 0 },
    want: [['shop/shop-tls:expiry', 'warning', 'CertificateRenewalOverdue']],
  },
  // Findings.
  {
    name: 'SANs not covering a host: critical immediately',
    certificates: [cert(90 * DAY, 60 * DAY)],
    findings: [finding('SansNotCoveringHosts', secretRef, 'does not cover "www.shop.example.com"', 'reissue', 'www.shop.example.com')],
    want: [['shop/shop-tls:SansNotCoveringHosts', 'critical', 'SansNotCoveringHosts']],
  },
  {
    name: 'default certificate served for two hosts: one critical alert on the certificate',
    certificates: [cert(90 * DAY, 60 * DAY)],
    findings: [
      finding('DefaultCertificateServed', ingressRef, 'serves the fake certificate for shop.example.com', 'h', 'shop.example.com'),
      finding('DefaultCertificateServed', ingressRef, 'serves the fake certificate for www.shop.example.com', 'h', 'www.shop.example.com'),
    ],
    want: [['shop/shop-tls:DefaultCertificateServed', 'critical', 'DefaultCertificateServed']],
  },
  {
    name: 'an expired finding and an expired state are one alert',
    certificates: [cert(90 * DAY, -HOUR)],
    findings: [finding('CertificateExpired', secretRef, 'expired', 'renew')],
    want: [['shop/shop-tls:expiry', 'critical', 'CertificateExpired']],
  },
  {
    name: 'findings that do not alert: near expiry (the ladder decides), spec lint, info',
    certificates: [cert(90 * DAY, 60 * DAY)],
    findings: [
      finding('CertificateNearExpiry', secretRef, 'near', 'h'),
      finding('TlsHostNotRouted', ingressRef, 'not routed', 'h', 'x.example.com'),
      finding('NoSniDefaultCertificate', ingressRef, 'no sni', 'h'),
    ],
    want: [],
  },
  {
    name: 'warning findings: HTTP-01 unreachable, Secret missing',
    certificates: [cert(90 * DAY, 60 * DAY)],
    findings: [
      finding('Http01Unreachable', ingressRef, 'port 80 closed', 'open it', 'shop.example.com'),
      finding('SecretMissing', { kind: 'Secret', namespace: 'shop', name: 'other-tls' }, 'missing', 'h'),
    ],
    want: [
      ['shop/other-tls:SecretMissing', 'warning', 'SecretMissing'],
      ['shop/shop-tls:Http01Unreachable', 'warning', 'Http01Unreachable'],
    ],
  },
  {
    name: 'a finding on an Ingress no managed certificate serves keeps its own key',
    findings: [finding('DefaultCertificateServed', { kind: 'Ingress', namespace: 'blog', name: 'www' }, 'fake', 'h', 'blog.example.com')],
    want: [['ingress:blog/www:DefaultCertificateServed', 'critical', 'DefaultCertificateServed']],
  },
  // No successful pass, with an hourly schedule: warning after 2 h, critical after 24 h.
  { name: 'last success 90 minutes ago: nothing', input: { lastSuccessfulPass: new Date(NOW.getTime() - 90 * MIN) }, options: { scheduleIntervalMs: HOUR }, want: [] },
  {
    name: 'last success 150 minutes ago: warning',
    input: { lastSuccessfulPass: new Date(NOW.getTime() - 150 * MIN) },
    options: { scheduleIntervalMs: HOUR },
    want: [['pass:NoSuccessfulPass', 'warning', 'NoSuccessfulPass']],
  },
  {
    name: 'last success 25 hours ago: critical',
    input: { lastSuccessfulPass: new Date(NOW.getTime() - 25 * HOUR) },
    options: { scheduleIntervalMs: HOUR },
    want: [['pass:NoSuccessfulPass', 'critical', 'NoSuccessfulPass']],
  },
  {
    name: 'never succeeded, watching for 3 hours: warning',
    input: { watchingSince: new Date(NOW.getTime() - 3 * HOUR) },
    options: { scheduleIntervalMs: HOUR },
    want: [['pass:NoSuccessfulPass', 'warning', 'NoSuccessfulPass']],
  },
  { name: 'no schedule (one-shot CLI): never', input: { lastSuccessfulPass: new Date(NOW.getTime() - 30 * DAY) }, want: [] },
  {
    name: 'critical sorts before warning',
    certificates: [cert(90 * DAY, 28 * DAY, { secretName: 'a-tls' }), cert(45 * DAY, 2 * DAY, { secretName: 'z-tls' })],
    want: [
      ['shop/z-tls:expiry', 'critical', 'CertificateExpiringSoon'],
      ['shop/a-tls:expiry', 'warning', 'CertificateRenewalOverdue'],
    ],
  },
];

describe('evaluateAlerts: levels follow the lifetime', () => {
  it.each(rows)('$name', (row) => {
    const alerts = evaluateAlerts({ certificates: row.certificates ?? [], findings: row.findings ?? [], now: NOW, ...row.input }, row.options);
    expect(alerts.map((a) => [a.key, a.level, a.code])).toEqual(row.want);
  });
});

describe('evaluateAlerts: what the alerts say', () => {
  it('an overdue renewal names the Secret, hosts, not-after, time left, the plan and why', () => {
    const s = cert(45 * DAY, 14 * DAY, {
      failures: 2,
      lastError: 'urn:ietf:params:acme:error:connection: Timeout during connect',
      retryAfter: new Date(NOW.getTime() + 2 * HOUR),
    });
    const [a] = evaluateAlerts({ certificates: [s], findings: [], now: NOW });
    expect(a?.message).toBe(
      'the certificate in Secret shop/shop-tls for shop.example.com, www.shop.example.com was not renewed: it expires at 2026-06-15T12:00:00Z, in 14 days (lifetime 45 days); ' +
        'renewal was planned for 2026-05-31T12:00:00Z (1 day ago); 2 attempts in a row failed, last error: urn:ietf:params:acme:error:connection: Timeout during connect; ' +
        'next attempt after 2026-06-01T14:00:00Z (in 2 hours); it turns critical at 2026-06-11T00:00:00Z',
    );
    expect(a?.hint).toContain('`certkeeper renew --ingress shop/web --force`');
    expect(a?.hint).toContain('certkeeper check --probe');
    expect(a?.summary).toBe('renewal overdue by 1 day, expires in 14 days');
    expect(a?.notAfter).toEqual(new Date('2026-06-15T12:00:00Z'));
    expect(a?.hosts).toEqual(['shop.example.com', 'www.shop.example.com']);
    expect(a?.ingresses).toEqual([{ namespace: 'shop', name: 'web' }]);
    expect(a?.object).toEqual(secretRef);
  });

  it('overdue without any failure says that no pass has tried', () => {
    const [a] = evaluateAlerts({ certificates: [cert(90 * DAY, 25 * DAY)], findings: [], now: NOW });
    expect(a?.message).toContain('no failed attempt is recorded, so no pass has tried');
  });

  it('critical and expired messages give the time left or since', () => {
    const [soon] = evaluateAlerts({ certificates: [cert(160 * HOUR, 20 * HOUR)], findings: [], now: NOW });
    expect(soon?.summary).toBe('expires in 20 hours');
    expect(soon?.message).toContain('expires at 2026-06-02T08:00:00Z, in 20 hours (lifetime 6 days 16 hours), less than the 3 days that make it critical');
    const [gone] = evaluateAlerts({ certificates: [cert(90 * DAY, -3 * HOUR)], findings: [], now: NOW });
    expect(gone?.summary).toBe('expired 3 hours ago');
    expect(gone?.message).toContain('expired at 2026-06-01T09:00:00Z (3 hours ago)');
    expect(gone?.message).toContain('clients reject it');
  });

  it('IssuanceFailing gives the count, the last error, the next attempt and what is served meanwhile', () => {
    const [a] = evaluateAlerts({
      certificates: [cert(45 * DAY, 20 * DAY, { failures: 3, lastError: 'rateLimited: too many failed authorizations', retryAfter: new Date(NOW.getTime() + 4 * HOUR) })],
      findings: [],
      now: NOW,
    });
    expect(a?.message).toBe(
      'issuing the certificate for Secret shop/shop-tls (shop.example.com, www.shop.example.com) failed 3 times in a row; renewal was planned for 2026-06-06T12:00:00Z; ' +
        'last error: rateLimited: too many failed authorizations; next attempt after 2026-06-01T16:00:00Z (in 4 hours); ' +
        'the current certificate is valid until 2026-06-21T12:00:00Z (in 20 days)',
    );
    expect(a?.summary).toBe('3 issuance attempts failed');
  });

  it('merged findings keep every host, and the certificate context', () => {
    const [a] = evaluateAlerts({
      certificates: [cert(90 * DAY, 60 * DAY)],
      findings: [
        finding('DefaultCertificateServed', ingressRef, 'fake for shop.example.com', 'fix the Secret', 'shop.example.com'),
        finding('DefaultCertificateServed', ingressRef, 'fake for www.shop.example.com', 'fix the Secret', 'www.shop.example.com'),
      ],
      now: NOW,
    });
    expect(a?.hosts).toEqual(['shop.example.com', 'www.shop.example.com']);
    expect(a?.host).toBeUndefined();
    expect(a?.object).toEqual(ingressRef);
    expect(a?.ingresses).toEqual([{ namespace: 'shop', name: 'web' }]);
    expect(a?.message).toBe(
      'fake for shop.example.com; and 1 more like it (hosts shop.example.com, www.shop.example.com) [Secret shop/shop-tls for shop.example.com, www.shop.example.com: valid until 2026-07-31T12:00:00Z (in 60 days; lifetime 90 days)]',
    );
    expect(a?.summary).toBe('default certificate served for shop.example.com, www.shop.example.com');
    expect(a?.hint).toBe('fix the Secret');
  });

  it('every alerting finding code is a real finding code with an error or warning severity', async () => {
    const { FINDINGS } = await import('../../src/core/findings.js');
    for (const code of Object.keys(FINDING_ALERT_LEVELS)) expect(FINDINGS[code as keyof typeof FINDINGS].severity).not.toBe('info');
  });
});

describe('thresholds', () => {
  it.each([
    ['90 days', 90 * DAY, 43.2 * HOUR],
    ['45 days', 45 * DAY, 21.6 * HOUR],
    ['160 hours', 160 * HOUR, 3.2 * HOUR],
    ['1 day', DAY, HOUR],
    ['unknown', undefined, HOUR],
  ])('grace for %s', (_n, life, want) => {
    expect(defaultGraceMs(life)).toBeCloseTo(want, 0);
  });

  it.each([
    ['90 days', 90 * DAY, 30 * DAY, 9 * DAY],
    ['45 days', 45 * DAY, 15 * DAY, 4.5 * DAY],
    ['160 hours', 160 * HOUR, 80 * HOUR, 72 * HOUR],
    ['5 days (capped by the window)', 5 * DAY, 60 * HOUR, 54 * HOUR],
    ['90 days, renewBefore 1 day', 90 * DAY, DAY, 0.9 * DAY],
  ])('critical window for %s', (_n, life, window, want) => {
    expect(criticalWindowMs(life, window)).toBeCloseTo(want, 0);
  });

  it.each([
    [0, '0 minutes'],
    [59 * 1000, '0 minutes'],
    [MIN, '1 minute'],
    [90 * MIN, '1 hour 30 minutes'],
    [20 * HOUR, '20 hours'],
    [DAY, '1 day'],
    [2 * DAY + 4 * HOUR, '2 days 4 hours'],
    [12 * DAY + 4 * HOUR, '12 days'],
    [-3 * HOUR, '3 hours'],
  ])('formatDuration(%d) = %s', (ms, want) => {
    expect(formatDuration(ms)).toBe(want);
  });
});
