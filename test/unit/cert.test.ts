import { describe, expect, it } from 'vitest';
import {
  CertParseError,
  checkKeyMatches,
  defaultCertificateKind,
  describeDefaultCertificate,
  displayName,
  lifetimeMs,
  parseCertificate,
  parseDerCertificate,
  splitPemCertificates,
} from '../../src/core/cert.js';
import {
  createCA,
  createCert,
  generateTestKey,
  ingressNginxFakeCertificate,
  sharedKey,
  tlsSecret,
  traefikDefaultCertificate,
  type TestKeyType,
} from '../support/certs.js';

const NOW = new Date('2026-03-01T12:00:00Z');

describe('parseCertificate', () => {
  const ca = createCA({ now: NOW, subject: { CN: 'Test Root', O: 'Tests' } });
  const int = ca.intermediate({ now: NOW, subject: { CN: 'Test Intermediate', O: 'Tests' } });
  const leaf = int.issue({
    subject: { CN: 'shop.example.com', O: 'Shop' },
    sans: ['shop.example.com', 'WWW.Shop.Example.com', '203.0.113.7', '2001:db8::1'],
    notBefore: new Date('2026-02-01T00:00:00Z'),
    notAfter: new Date('2026-05-02T00:00:00Z'),
    serial: '0badc0de',
  });

  it('reads the leaf and its chain', () => {
    const info = parseCertificate(leaf.chain);
    expect(info.sans).toEqual(['shop.example.com', 'www.shop.example.com']);
    // Node prints IPv6 SANs fully expanded and upper-case.
    expect(info.ipSans).toEqual(['203.0.113.7', '2001:DB8:0:0:0:0:0:1']);
    expect(info.notBefore.toISOString()).toBe('2026-02-01T00:00:00.000Z');
    expect(info.notAfter.toISOString()).toBe('2026-05-02T00:00:00.000Z');
    expect(info.subjectCN).toBe('shop.example.com');
    expect(info.subjectO).toBe('Shop');
    expect(info.issuerCN).toBe('Test Intermediate');
    expect(info.serial.toLowerCase()).toBe('0badc0de');
    expect(info.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(info.selfSigned).toBe(false);
    expect(info.isCA).toBe(false);
    expect(info.keyType).toBe('RSA 2048');
    expect(info.chain).toHaveLength(1);
    expect(info.chain[0]?.subjectCN).toBe('Test Intermediate');
    expect(info.chain[0]?.isCA).toBe(true);
    expect(lifetimeMs(info)).toBe(90 * 86_400_000);
  });

  it('ignores text around PEM blocks (openssl x509 -text output, bag attributes)', () => {
    const noisy = `Bag Attributes\n    friendlyName: shop\nsubject=CN = shop.example.com\n${leaf.cert}\ntrailing words\n`;
    expect(splitPemCertificates(noisy)).toHaveLength(1);
    expect(parseCertificate(noisy).subjectCN).toBe('shop.example.com');
  });

  it('recognises self-signed certificates (subject = issuer and the signature verifies)', () => {
    expect(parseCertificate(createCert({ sans: ['a.example.com'] }).cert).selfSigned).toBe(true);
    expect(parseCertificate(ca.cert).selfSigned).toBe(true);
    // Same DN as its issuer but signed by another key: not self-signed.
    const other = createCA({ subject: { CN: 'Twin' }, key: generateTestKey('ecdsa-p256') });
    const twin = other.issue({ subject: { CN: 'Twin' }, sans: ['twin.example.com'], key: generateTestKey('ecdsa-p256') });
    expect(parseCertificate(twin.cert).selfSigned).toBe(false);
  });

  it.each<[TestKeyType, string]>([
    ['rsa-2048', 'RSA 2048'],
    ['ecdsa-p256', 'ECDSA prime256v1'],
    ['ecdsa-p384', 'ECDSA secp384r1'],
  ])('describes %s keys as %s', (type, described) => {
    const c = createCert({ sans: ['k.example.com'], key: type });
    expect(parseCertificate(c.cert).keyType).toBe(described);
  });

  it('parses DER the way a TLS peer certificate arrives', () => {
    const info = parseDerCertificate(leaf.der);
    expect(info.sans).toContain('shop.example.com');
    expect(info.pem).toContain('BEGIN CERTIFICATE');
  });

  it.each([
    ['no PEM block', 'hello'],
    ['an empty string', ''],
    ['a private key only', sharedKey('ecdsa-p256').pem],
    ['a corrupted block', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
  ])('throws CertParseError for %s', (_why, pem) => {
    expect(() => parseCertificate(pem)).toThrow(CertParseError);
  });

  it('names the broken block of a bundle', () => {
    const bundle = `${leaf.cert}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`;
    expect(() => parseCertificate(bundle)).toThrow(/certificate 2 of the PEM bundle/);
  });

  it('handles dates past 2049 (GeneralizedTime)', () => {
    const c = createCert({ notBefore: new Date('2049-06-01T00:00:00Z'), notAfter: new Date('2051-06-01T00:00:00Z') });
    const info = parseCertificate(c.cert);
    expect(info.notBefore.toISOString()).toBe('2049-06-01T00:00:00.000Z');
    expect(info.notAfter.toISOString()).toBe('2051-06-01T00:00:00.000Z');
  });
});

describe('certificates without a subject (Let\'s Encrypt tlsserver/shortlived, Pebble 2.10)', () => {
  const ca = createCA({ now: NOW, subject: { CN: 'Test Root', O: 'Tests' } });
  const int = ca.intermediate({ now: NOW, subject: { CN: 'Test Intermediate' } });
  const leaf = int.issue({ subject: {}, sans: ['api.example.com', 'www.example.com'], now: NOW });

  it('are really subject-less (what node:crypto hands us is undefined, not "")', () => {
    expect(leaf.x509.subject as string | undefined).toBeUndefined();
    expect(leaf.x509.issuer).toContain('CN=Test Intermediate');
  });

  it('parse with their chain: SANs, dates and issuer read, subject empty, no CN', () => {
    const info = parseCertificate(leaf.chain);
    expect(info.sans).toEqual(['api.example.com', 'www.example.com']);
    expect(info.subject).toBe('');
    expect(info.subjectCN).toBeUndefined();
    expect(info.subjectO).toBeUndefined();
    expect(info.issuerCN).toBe('Test Intermediate');
    expect(info.selfSigned).toBe(false);
    expect(info.notAfter.getTime() - info.notBefore.getTime()).toBe(90 * 86_400_000);
    expect(info.chain.map((c) => c.subjectCN)).toEqual(['Test Intermediate']);
    expect(displayName(info)).toBe('api.example.com');
  });

  it('parse from DER too (as a TLS handshake delivers them)', () => {
    const info = parseDerCertificate(leaf.der);
    expect(info.subject).toBe('');
    expect(info.sans).toEqual(['api.example.com', 'www.example.com']);
  });

  it('parse when self-signed with an empty subject and issuer, and are recognised as self-signed', () => {
    const c = createCert({ subject: {}, sans: ['lonely.example.com'], key: 'ecdsa-p256' });
    const info = parseCertificate(c.cert);
    expect(info.subject).toBe('');
    expect(info.issuer).toBe('');
    expect(info.issuerCN).toBeUndefined();
    expect(info.selfSigned).toBe(true);
  });
});

describe('displayName', () => {
  it.each<[string, Parameters<typeof displayName>[0], string]>([
    ['the CN when there is one', { subjectCN: 'shop.example.com', sans: ['www.shop.example.com'], ipSans: [], subject: 'CN=shop.example.com' }, 'shop.example.com'],
    ['the first DNS SAN without a CN', { subjectCN: undefined, sans: ['a.example.com', 'b.example.com'], ipSans: ['192.0.2.1'], subject: '' }, 'a.example.com'],
    ['the first IP SAN without CN or DNS SAN', { subjectCN: undefined, sans: [], ipSans: ['192.0.2.1'], subject: '' }, '192.0.2.1'],
    ['the subject DN without CN or SAN', { subjectCN: undefined, sans: [], ipSans: [], subject: 'O=Acme Co' }, 'O=Acme Co'],
    ['a description when nothing names it', { subjectCN: undefined, sans: [], ipSans: [], subject: '' }, 'a certificate without subject or subjectAltName'],
  ])('is %s', (_why, info, expected) => {
    expect(displayName(info)).toBe(expected);
  });

  it('names a parsed IP-only certificate by its address', () => {
    expect(displayName(parseCertificate(createCert({ subject: {}, sans: ['203.0.113.9'] }).cert))).toBe('203.0.113.9');
  });
});

describe('checkKeyMatches', () => {
  const c = createCert({ sans: ['m.example.com'], key: generateTestKey('ecdsa-p256') });
  it('accepts the matching key (PKCS#8, and the PKCS#1/SEC1 forms)', () => {
    expect(checkKeyMatches(c.chain, c.key)).toEqual({ ok: true, keyType: 'ECDSA prime256v1' });
    const sec1 = c.keyPair.privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    expect(checkKeyMatches(c.cert, sec1).ok).toBe(true);
    const rsa = createCert({ sans: ['r.example.com'], key: 'rsa-2048' });
    const pkcs1 = rsa.keyPair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(checkKeyMatches(rsa.cert, pkcs1).ok).toBe(true);
  });
  it.each([
    ['another key of the same type', () => generateTestKey('ecdsa-p256').pem, 'Mismatch'],
    ['a key of another type', () => sharedKey('rsa-2048').pem, 'Mismatch'],
    ['garbage', () => 'not a key', 'Unparsable'],
  ])('rejects %s', (_why, key, reason) => {
    const r = checkKeyMatches(c.cert, key());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });
  it('reports a certificate PEM without blocks as unparsable', () => {
    const r = checkKeyMatches('nothing', c.key);
    expect(r).toMatchObject({ ok: false, reason: 'Unparsable' });
  });
});

describe('defaultCertificateKind', () => {
  it.each([
    ['ingress-nginx fake (look-alike)', () => ingressNginxFakeCertificate(), 'IngressNginxFake'],
    ['O=Acme Co with SAN ingress.local but another CN', () => createCert({ subject: { O: 'Acme Co', CN: 'x' }, sans: ['ingress.local'] }), 'IngressNginxFake'],
    ['the fake CN alone', () => createCert({ subject: { CN: 'Kubernetes Ingress Controller Fake Certificate' }, sans: [] }), 'IngressNginxFake'],
    ['Traefik default (look-alike)', () => traefikDefaultCertificate(), 'TraefikDefault'],
    ['a SAN under .traefik.default', () => createCert({ subject: 'other', sans: ['abc.def.traefik.default'] }), 'TraefikDefault'],
    ['Acme Co without ingress.local', () => createCert({ subject: { O: 'Acme Co', CN: 'shop.example.com' } }), undefined],
    ['an ordinary certificate', () => createCert({ sans: ['shop.example.com'] }), undefined],
  ])('%s → %s', (_why, make, kind) => {
    expect(defaultCertificateKind(parseCertificate(make().cert))).toBe(kind);
  });
  it('describes them the way browsers show them', () => {
    expect(describeDefaultCertificate('IngressNginxFake')).toContain('Kubernetes Ingress Controller Fake Certificate');
    expect(describeDefaultCertificate('TraefikDefault')).toContain('TRAEFIK DEFAULT CERT');
  });
  it('the look-alikes match the real default certificates where it matters', () => {
    const nginx = parseCertificate(ingressNginxFakeCertificate().cert);
    expect(nginx).toMatchObject({ subjectO: 'Acme Co', subjectCN: 'Kubernetes Ingress Controller Fake Certificate', sans: ['ingress.local'], selfSigned: true });
    const traefik = parseCertificate(traefikDefaultCertificate().cert);
    expect(traefik.subjectCN).toBe('TRAEFIK DEFAULT CERT');
    expect(traefik.sans[0]).toMatch(/^[0-9a-f]{32}\.[0-9a-f]{32}\.traefik\.default$/);
  });
});

describe('test certificate factory', () => {
  it('builds chains that node verifies link by link', () => {
    const root = createCA({ key: 'ecdsa-p384' });
    const int = root.intermediate({ key: 'ecdsa-p256' });
    const leaf = int.issue({ sans: ['chain.example.com'], key: generateTestKey('rsa-2048') });
    expect(leaf.x509.verify(int.keyPair.publicKey)).toBe(true);
    expect(int.x509.verify(root.keyPair.publicKey)).toBe(true);
    expect(leaf.x509.checkIssued(int.x509)).toBe(true);
    expect(splitPemCertificates(leaf.chain)).toHaveLength(2);
    expect(splitPemCertificates(leaf.chainWithRoot)).toHaveLength(3);
    expect(leaf.issuer).toBe(int);
  });

  it('defaults: subject CN = first SAN, 90-day validity from an hour before now, serverAuth', () => {
    const c = createCert({ sans: ['d.example.com', 'e.example.com'], now: NOW });
    expect(c.subject.CN).toBe('d.example.com');
    expect(c.notBefore.toISOString()).toBe('2026-03-01T11:00:00.000Z');
    expect(c.notAfter.getTime() - c.notBefore.getTime()).toBe(90 * 86_400_000);
    expect(c.x509.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
  });

  it('no SAN extension when sans is empty', () => {
    const c = createCert({ subject: 'cn-only.example.com', sans: [] });
    expect(c.x509.subjectAltName).toBeUndefined();
    expect(parseCertificate(c.cert).sans).toEqual([]);
  });

  it('builds Secrets as the API returns them (data) or as manifests hold them (stringData)', () => {
    const c = createCert({ sans: ['s.example.com'] });
    const api = tlsSecret({ name: 's-tls', namespace: 'ns', cert: c, managed: true });
    expect(api).toMatchObject({ kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 's-tls', namespace: 'ns', labels: { 'app.kubernetes.io/managed-by': 'certkeeper' } } });
    const data = (api as { data: Record<string, string> }).data;
    expect(Buffer.from(data['tls.crt'] ?? '', 'base64').toString()).toBe(c.chain);
    const manifest = tlsSecret({ name: 's-tls', cert: c, encoding: 'stringData', omit: ['tls.key'] });
    expect(manifest).toMatchObject({ stringData: { 'tls.crt': c.chain } });
    expect((manifest as { stringData: Record<string, string> }).stringData['tls.key']).toBeUndefined();
  });
});
