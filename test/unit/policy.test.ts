// decide(): one row per reason it can give. Pure, fixed clock, real certificates from a test CA.
import { describe, expect, it } from 'vitest';
import { auditSecret } from '../../src/core/checks.js';
import { decide, judgeKept, type Decision, type PolicyInput } from '../../src/core/policy.js';
import type { SecretObject } from '../../src/core/secret.js';
import type { Target } from '../../src/core/targets.js';
import { createCA, createCert, generateTestKey, ingressNginxFakeCertificate, tlsSecret, type TestCert, type TlsSecretSpec } from '../support/certs.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const HOUR = 3_600_000;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);
const STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';
const PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';

const ca = createCA({ now: at(-400 * DAY), key: 'ecdsa-p384' });
const int = ca.intermediate({ now: at(-400 * DAY), key: 'ecdsa-p256' });
const HOSTS = ['shop.example.com', 'www.shop.example.com'];
const leaf = (o: { sans?: string[]; from?: number; to?: number } = {}): TestCert =>
  int.issue({ sans: o.sans ?? HOSTS, notBefore: at(o.from ?? -30 * DAY), notAfter: at(o.to ?? 60 * DAY), key: 'ecdsa-p256', keySlot: 'policy-leaf' });

const target: Target = {
  namespace: 'shop',
  secretName: 'shop-tls',
  hosts: HOSTS,
  ingresses: [{ namespace: 'shop', name: 'web' }],
  settings: { keyType: 'ecdsa-p256' },
};
/** A Secret certkeeper wrote: its label and the annotations it records. */
const written = (s: Partial<TlsSecretSpec> = {}): SecretObject =>
  tlsSecret({
    name: 'shop-tls',
    namespace: 'shop',
    cert: leaf(),
    managed: true,
    annotations: { 'certkeeper.dev/hosts': HOSTS.join(','), 'certkeeper.dev/issuer': PRODUCTION },
    ...s,
  }) as unknown as SecretObject;
const failed = (retryAfter: Date): Record<string, string> => ({
  'certkeeper.dev/hosts': HOSTS.join(','),
  'certkeeper.dev/issuer': PRODUCTION,
  'certkeeper.dev/failures': '2',
  'certkeeper.dev/retry-after': retryAfter.toISOString(),
  'certkeeper.dev/last-error': 'connection refused',
});

type Row = [reason: Decision['reason'], action: Decision['action'], secret: SecretObject | undefined, extra?: Partial<PolicyInput>];

describe('decide: one row per reason', () => {
  const rows: Row[] = [
    ['UpToDate', 'skip', written()],
    ['SecretNotManaged', 'refuse', written({ managed: false })],
    ['SecretWrongType', 'refuse', written({ type: 'Opaque' })],
    ['InBackoff', 'skip', written({ annotations: failed(at(HOUR)) })],
    ['SecretDoesNotExist', 'issue', undefined],
    ['SecretKeysMissing', 'issue', written({ omit: ['tls.key'] })],
    ['CertificateUnparsable', 'issue', written({ crt: 'not a certificate' })],
    ['KeyMismatch', 'issue', written({ key: generateTestKey('ecdsa-p256').pem })],
    ['DefaultCertificateInSecret', 'issue', written({ cert: ingressNginxFakeCertificate({ now: at(-DAY) }) })],
    ['SansNotCoveringHosts', 'issue', written({ cert: leaf({ sans: ['shop.example.com'] }) })],
    ['HostsChanged', 'issue', written({ annotations: { 'certkeeper.dev/hosts': 'shop.example.com,www.shop.example.com,old.example.com', 'certkeeper.dev/issuer': PRODUCTION } })],
    ['IssuerChanged', 'issue', written({ annotations: { 'certkeeper.dev/hosts': HOSTS.join(','), 'certkeeper.dev/issuer': STAGING } })],
    ['CertificateExpired', 'issue', written({ cert: leaf({ from: -91 * DAY, to: -DAY }) })],
    ['RenewalDue', 'issue', written({ cert: leaf({ from: -61 * DAY, to: 29 * DAY }) })],
    ['Forced', 'issue', written(), { force: true }],
  ];
  it.each(rows)('%s → %s', (reason, action, secret, extra) => {
    const d = decide({ target, secret, now: NOW, issuerUrl: PRODUCTION, ...extra });
    expect({ reason: d.reason, action: d.action }).toEqual({ reason, action });
    expect(d.message.length).toBeGreaterThan(10);
  });

  it('renews only once the renewal window opened: 31 days left of 90 is UpToDate, 29 is RenewalDue', () => {
    expect(decide({ target, secret: written({ cert: leaf({ from: -59 * DAY, to: 31 * DAY }) }), now: NOW, issuerUrl: PRODUCTION }).reason).toBe('UpToDate');
    expect(decide({ target, secret: written({ cert: leaf({ from: -61 * DAY, to: 29 * DAY }) }), now: NOW, issuerUrl: PRODUCTION }).reason).toBe('RenewalDue');
  });

  it('takes the Target\'s renew-before over the service\'s', () => {
    const secret = written({ cert: leaf({ from: -50 * DAY, to: 40 * DAY }) });
    expect(decide({ target, secret, now: NOW, issuerUrl: PRODUCTION, renewBeforeMs: 45 * DAY }).reason).toBe('RenewalDue');
    const own: Target = { ...target, settings: { ...target.settings, renewBeforeMs: 7 * DAY } };
    expect(decide({ target: own, secret, now: NOW, issuerUrl: PRODUCTION, renewBeforeMs: 45 * DAY }).reason).toBe('UpToDate');
  });

  it('lets --adopt take over a Secret certkeeper did not create, and --force skip the backoff', () => {
    expect(decide({ target, secret: written({ managed: false }), now: NOW, issuerUrl: PRODUCTION, adopt: true }).reason).toBe('UpToDate');
    expect(decide({ target, secret: written({ annotations: failed(at(HOUR)) }), now: NOW, issuerUrl: PRODUCTION, force: true }).reason).toBe('Forced');
    // A backoff that has run out no longer holds the Target back.
    expect(decide({ target, secret: written({ annotations: failed(at(-HOUR)) }), now: NOW, issuerUrl: PRODUCTION }).reason).toBe('UpToDate');
  });

  it('says when it renews, in the skip line', () => {
    const d = decide({ target, secret: written(), now: NOW, issuerUrl: PRODUCTION });
    expect(d.action === 'skip' && d.renewAt?.toISOString()).toBe(at(30 * DAY).toISOString());
    expect(d.message).toBe(`valid until ${at(60 * DAY).toISOString().replace('.000', '')}, renews at ${at(30 * DAY).toISOString().replace('.000', '')}`);
  });
});

describe('renew and check cannot disagree about one Secret', () => {
  // Every Secret renew issues for must be one the audit reports; every Secret renew skips as
  // UpToDate must be one the audit finds nothing wrong with (bar the chain-of-trust checks renew
  // has no reason to act on).
  const cases: [string, SecretObject | undefined][] = [
    ['missing', undefined],
    ['keys missing', written({ omit: ['tls.crt'] })],
    ['unparsable', written({ crt: 'garbage' })],
    ['key not base64', { ...written(), data: { 'tls.crt': Buffer.from(leaf().chain).toString('base64'), 'tls.key': '%%%' } } as SecretObject],
    ['key unparsable', written({ key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' })],
    ['key mismatch', written({ key: generateTestKey('ecdsa-p256').pem })],
    ['default certificate', written({ cert: ingressNginxFakeCertificate({ now: at(-DAY) }) })],
    ['SANs short', written({ cert: leaf({ sans: ['www.shop.example.com'] }) })],
    ['expired', written({ cert: leaf({ from: -91 * DAY, to: -DAY }) })],
    ['near expiry', written({ cert: leaf({ from: -80 * DAY, to: 10 * DAY }) })],
    ['160-hour certificate in its last half', written({ cert: leaf({ from: -81 * HOUR, to: 79 * HOUR }) })],
    ['valid', written()],
    ['valid 160-hour certificate', written({ cert: leaf({ from: -79 * HOUR, to: 81 * HOUR }) })],
    ['self-signed but valid', written({ cert: createCert({ sans: HOSTS, notBefore: at(-DAY), notAfter: at(89 * DAY) }) })],
  ];
  it.each(cases)('%s', (_, secret) => {
    const d = decide({ target, secret, now: NOW, issuerUrl: PRODUCTION });
    const findings = auditSecret(target, secret, { now: NOW }).filter((f) => f.code !== 'SelfSignedCertificate' && f.code !== 'ChainIncomplete');
    if (d.action === 'issue') expect(findings.length, `renew issues (${d.reason}) but check finds nothing`).toBeGreaterThan(0);
    else expect(findings.map((f) => f.code), `renew skips (${d.reason}) but check reports problems`).toEqual([]);
  });
});

describe('judgeKept: may a certificate issued earlier be written instead of ordering?', () => {
  const kept = (o: { cert?: TestCert; key?: string; hosts?: string[]; issuerUrl?: string } = {}) => {
    const c = o.cert ?? leaf({ from: -HOUR, to: 90 * DAY });
    return { fullchainPem: c.chain, keyPem: o.key ?? c.key, hosts: o.hosts ?? HOSTS, issuerUrl: o.issuerUrl ?? PRODUCTION };
  };
  type KeptRow = [why: string, reason: string | undefined, k: ReturnType<typeof kept>];
  const rows: KeptRow[] = [
    ['issued an hour ago for these hosts by this CA', undefined, kept()],
    ['unparsable', 'CertificateUnparsable', { ...kept(), fullchainPem: 'not a certificate' }],
    ['its key does not match', 'KeyMismatch', kept({ key: generateTestKey('ecdsa-p256').pem })],
    ['a host was added since', 'SansNotCoveringHosts', kept({ cert: leaf({ sans: ['shop.example.com'], from: -HOUR, to: 90 * DAY }), hosts: ['shop.example.com'] })],
    ['a host was removed since', 'HostsChanged', kept({ cert: leaf({ sans: [...HOSTS, 'old.example.com'], from: -HOUR, to: 90 * DAY }), hosts: [...HOSTS, 'old.example.com'] })],
    ['the CA changed since (staging → production)', 'IssuerChanged', kept({ issuerUrl: STAGING })],
    ['it expired while it waited', 'CertificateExpired', kept({ cert: leaf({ from: -91 * DAY, to: -DAY }) })],
    ['it waited into its renewal window', 'RenewalDue', kept({ cert: leaf({ from: -61 * DAY, to: 29 * DAY }) })],
  ];
  it.each(rows)('%s → %s', (_, reason, k) => {
    const v = judgeKept({ target, kept: k, now: NOW, issuerUrl: PRODUCTION });
    if (reason === undefined) {
      expect(v).toMatchObject({ use: true });
      expect(v.use && v.info.sans).toEqual(HOSTS);
    } else {
      expect(v).toMatchObject({ use: false, reason });
    }
  });
});
