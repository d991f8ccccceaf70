import { describe, expect, it } from 'vitest';
import { auditSecret, type AuditOptions, type AuditSubject } from '../../src/core/checks.js';
import { renewalWindowMs } from '../../src/core/renewal.js';
import { FINDINGS, type Finding, type FindingCode } from '../../src/core/findings.js';
import { createCA, createCert, generateTestKey, ingressNginxFakeCertificate, tlsSecret, traefikDefaultCertificate, type TestCert, type TlsSecretSpec } from '../support/certs.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const HOUR = 3_600_000;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);

const ca = createCA({ now: at(-400 * DAY), key: 'ecdsa-p384' });
const int = ca.intermediate({ now: at(-400 * DAY), key: 'ecdsa-p256' });
const HOSTS = ['shop.example.com', 'www.shop.example.com'];
const leaf = (o: { sans?: string[]; from?: number; to?: number } = {}): TestCert =>
  int.issue({ sans: o.sans ?? HOSTS, notBefore: at(o.from ?? -30 * DAY), notAfter: at(o.to ?? 60 * DAY), key: 'ecdsa-p256', keySlot: 'audit-leaf' });
const good = leaf();

const subject: AuditSubject = { namespace: 'shop', secretName: 'shop-tls', hosts: HOSTS, ingresses: [{ namespace: 'shop', name: 'web' }] };
const secret = (s: Partial<TlsSecretSpec> = {}): Record<string, unknown> => tlsSecret({ name: 'shop-tls', namespace: 'shop', cert: good, managed: true, ...s });
const codes = (fs: readonly Finding[]): FindingCode[] => fs.map((f) => f.code).sort();

type Row = [string, unknown, FindingCode[], { subject?: Partial<AuditSubject>; opts?: Partial<AuditOptions> }?];

describe('auditSecret: one row per reason', () => {
  const rows: Row[] = [
    ['a correct managed Secret', secret(), []],
    ['stringData instead of data', secret({ encoding: 'stringData' }), []],
    ['stringData wins over data, as the API server merges it', { ...secret({ crt: 'garbage' }), stringData: { 'tls.crt': good.chain } }, []],
    ['a wildcard SAN covering the hosts', secret({ cert: int.issue({ sans: ['*.example.com', 'shop.example.com'], notBefore: at(-DAY), notAfter: at(89 * DAY), key: 'ecdsa-p256', keySlot: 'audit-leaf' }) }), [], { subject: { hosts: ['shop.example.com', 'api.example.com'] } }],
    ['missing', undefined, ['SecretMissing']],
    ['missing (null)', null, ['SecretMissing']],
    ['missing, but present in another namespace', undefined, ['SecretInOtherNamespace'], { opts: { secretsElsewhere: [{ namespace: 'certs' }] } }],
    ['missing, "elsewhere" being the same namespace', undefined, ['SecretMissing'], { opts: { secretsElsewhere: [{ namespace: 'shop' }] } }],
    ['not an object', 'oops', ['InvalidManifest']],
    ['no managed-by label', secret({ managed: false }), ['SecretNotManaged']],
    ['another managed-by value', secret({ managed: false, labels: { 'app.kubernetes.io/managed-by': 'cert-manager' } }), ['SecretNotManaged']],
    ['no label, but the Ingress is not managed either', secret({ managed: false }), [], { subject: { managed: false } }],
    ['a custom managed-by value', secret({ managed: false, labels: { 'app.kubernetes.io/managed-by': 'ck' } }), [], { opts: { managedByLabel: 'ck' } }],
    ['type Opaque', secret({ type: 'Opaque' }), ['SecretWrongType']],
    ['no type', { ...secret(), type: undefined }, ['SecretWrongType']],
    ['no tls.key', secret({ omit: ['tls.key'] }), ['SecretKeysMissing']],
    ['no tls.crt', secret({ omit: ['tls.crt'] }), ['SecretKeysMissing']],
    ['no data at all', { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'shop-tls', labels: { 'app.kubernetes.io/managed-by': 'certkeeper' } } }, ['SecretKeysMissing']],
    ['empty tls.crt', secret({ crt: '' }), ['SecretKeysMissing']],
    ['tls.crt not a certificate', secret({ crt: 'hello' }), ['CertificateUnparsable']],
    ['tls.key not a key', secret({ key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }), ['CertificateUnparsable']],
    ['PEM under data (not base64)', { ...secret(), data: { 'tls.crt': good.chain, 'tls.key': Buffer.from(good.key).toString('base64') } }, ['CertificateUnparsable']],
    ['key of another certificate', secret({ key: generateTestKey('ecdsa-p256').pem }), ['KeyMismatch']],
    ['leaf without intermediate', secret({ leafOnly: true }), ['ChainIncomplete']],
    ['self-signed', secret({ cert: createCert({ sans: HOSTS, notBefore: at(-DAY), notAfter: at(364 * DAY) }) }), ['SelfSignedCertificate']],
    ['expired', secret({ cert: leaf({ from: -91 * DAY, to: -DAY }) }), ['CertificateExpired']],
    ['expiring this very moment', secret({ cert: leaf({ from: -90 * DAY, to: 0 }) }), ['CertificateExpired']],
    ['not yet valid', secret({ cert: leaf({ from: HOUR, to: 90 * DAY }) }), ['CertificateNotYetValid']],
    ['90-day cert, 29 days left (< 1/3)', secret({ cert: leaf({ from: -61 * DAY, to: 29 * DAY }) }), ['CertificateNearExpiry']],
    ['90-day cert, 31 days left (> 1/3)', secret({ cert: leaf({ from: -59 * DAY, to: 31 * DAY }) }), []],
    ['160-hour cert, 79 hours left (< 1/2)', secret({ cert: leaf({ from: -81 * HOUR, to: 79 * HOUR }) }), ['CertificateNearExpiry']],
    ['160-hour cert, 81 hours left (> 1/2)', secret({ cert: leaf({ from: -79 * HOUR, to: 81 * HOUR }) }), []],
    ['renew-before 45d, 40 days left', secret({ cert: leaf({ from: -50 * DAY, to: 40 * DAY }) }), ['CertificateNearExpiry'], { subject: { settings: { renewBeforeMs: 45 * DAY } } }],
    ['renew-before 7d, 20 days left', secret({ cert: leaf({ from: -70 * DAY, to: 20 * DAY }) }), [], { subject: { settings: { renewBeforeMs: 7 * DAY } } }],
    ['SANs missing one host', secret({ cert: leaf({ sans: ['shop.example.com'] }) }), ['SansNotCoveringHosts']],
    ['SANs missing two hosts', secret({ cert: leaf({ sans: ['other.example.com'] }) }), ['SansNotCoveringHosts', 'SansNotCoveringHosts']],
    ["ingress-nginx's fake certificate", secret({ cert: ingressNginxFakeCertificate({ now: NOW }) }), ['DefaultCertificateInSecret']],
    ["Traefik's default certificate", secret({ cert: traefikDefaultCertificate({ now: NOW }) }), ['DefaultCertificateInSecret']],
    ['several problems at once', secret({ managed: false, type: 'Opaque', leafOnly: true, cert: leaf({ sans: ['shop.example.com'], from: -91 * DAY, to: -DAY }) }), ['CertificateExpired', 'ChainIncomplete', 'SansNotCoveringHosts', 'SecretNotManaged', 'SecretWrongType']],
  ];

  it.each(rows)('%s', (_why, s, expected, o) => {
    const fs = auditSecret({ ...subject, ...(o?.subject ?? {}) }, s, { now: NOW, ...(o?.opts ?? {}) });
    expect(codes(fs)).toEqual([...expected].sort());
    for (const f of fs) {
      expect(f.severity).toBe(FINDINGS[f.code].severity);
      expect(f.object).toMatchObject({ kind: 'Secret', namespace: 'shop', name: 'shop-tls' });
      expect(f.message).toContain('shop');
      expect(f.hint.length).toBeGreaterThan(10);
    }
  });
});

describe('auditSecret messages', () => {
  const one = (s: unknown, o: Partial<AuditOptions> = {}, sub: Partial<AuditSubject> = {}): Finding => {
    const [f] = auditSecret({ ...subject, ...sub }, s, { now: NOW, ...o });
    if (!f) throw new Error('expected a finding');
    return f;
  };

  it('SecretInOtherNamespace explains the namespace rule and the fix', () => {
    const f = one(undefined, { secretsElsewhere: [{ namespace: 'lily-ns' }] }, { managed: false });
    expect(f.message).toContain('an Ingress can only use Secrets of its own namespace');
    expect(f.message).toContain('lily-ns');
    expect(f.hint).toBe('create the Secret in namespace shop, or move the Ingress to namespace lily-ns');
  });

  it('CertificateNearExpiry gives not-after and days left', () => {
    const f = one(secret({ cert: leaf({ from: -80 * DAY, to: 10 * DAY }) }));
    expect(f.message).toContain(at(10 * DAY).toISOString());
    expect(f.message).toContain('in 10 days');
  });

  it('SansNotCoveringHosts names the host and lists every uncovered one', () => {
    const fs = auditSecret(subject, secret({ cert: leaf({ sans: ['other.example.com'] }) }), { now: NOW });
    expect(fs.map((f) => f.host)).toEqual(HOSTS);
    expect(fs[0]?.message).toContain('uncovered: shop.example.com, www.shop.example.com');
    expect(fs[0]?.message).toContain('its names: other.example.com');
  });

  it('SecretNotManaged mentions --adopt', () => {
    expect(one(secret({ managed: false })).hint).toContain('--adopt');
  });

  it('copies the location into findings', () => {
    expect(one(secret({ type: 'Opaque' }), { location: { file: 'k8s/secret.yaml', line: 3 } }).object).toMatchObject({ file: 'k8s/secret.yaml', line: 3 });
  });
});

describe('renewalWindowMs', () => {
  it.each([
    [90 * DAY, undefined, 30 * DAY],
    [45 * DAY, undefined, 15 * DAY],
    [10 * DAY, undefined, 5 * DAY],
    [160 * HOUR, undefined, 80 * HOUR],
    [90 * DAY, 7 * DAY, 7 * DAY],
  ])('lifetime %d ms, renewBefore %s → %d ms', (life, rb, window) => {
    expect(renewalWindowMs({ notBefore: new Date(0), notAfter: new Date(life) }, rb)).toBe(window);
  });
});
