// certkeeper.dev/digest: a Secret whose tls.crt and tls.key are what certkeeper wrote (and checked
// when it wrote them) is not re-checked key by key on every pass. Pure, fixed clock, real
// certificates from a test CA. What matters to users: every decision and every finding stays what
// it would be without the digest.
import { describe, expect, it } from 'vitest';
import { auditSecret } from '../../src/core/checks.js';
import { decide } from '../../src/core/policy.js';
import { ANNOTATION, buildTlsSecret, contentDigest, viewSecret, type SecretObject } from '../../src/core/secret.js';
import type { Target } from '../../src/core/targets.js';
import { createCA, generateTestKey, type TestCert } from '../support/certs.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);
const ISSUER = 'https://acme-v02.api.letsencrypt.org/directory';
const HOSTS = ['shop.example.com', 'www.shop.example.com'];

const ca = createCA({ now: at(-400 * DAY), key: 'ecdsa-p384' });
const int = ca.intermediate({ now: at(-400 * DAY), key: 'ecdsa-p256' });
const leaf = (o: { sans?: string[]; from?: number; to?: number } = {}): TestCert =>
  int.issue({ sans: o.sans ?? HOSTS, notBefore: at(o.from ?? -30 * DAY), notAfter: at(o.to ?? 60 * DAY), key: generateTestKey('ecdsa-p256') });

const target: Target = {
  namespace: 'shop',
  secretName: 'shop-tls',
  hosts: HOSTS,
  ingresses: [{ namespace: 'shop', name: 'web' }],
  settings: { keyType: 'ecdsa-p256' },
};

/** What a pass writes for a certificate (buildTlsSecret), with the API's view of it. */
function written(fullchainPem: string, keyPem: string, notAfter = at(60 * DAY), existing?: SecretObject): SecretObject {
  return buildTlsSecret('shop', 'shop-tls', { fullchainPem, keyPem, hosts: HOSTS, notAfter, renewAt: at(30 * DAY), issuerUrl: ISSUER }, existing);
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
/** The Secret after someone edited its data (kubectl edit, a restore, another tool). */
const edited = (s: SecretObject, data: Record<string, string>): SecretObject => ({ ...s, data: { ...s.data, ...data } });
const withoutDigest = (s: SecretObject): SecretObject => {
  const annotations = { ...s.metadata.annotations };
  delete annotations[ANNOTATION.digest];
  return { ...s, metadata: { ...s.metadata, annotations } };
};

describe('certkeeper.dev/digest', () => {
  it('is written with content whose key belongs to the leaf and whose chain parses, and read back as trusted', () => {
    const c = leaf();
    const s = written(c.chain, c.key);
    expect(s.metadata.annotations?.[ANNOTATION.digest]).toBe(contentDigest(c.chain, c.key));
    expect(s.metadata.annotations?.[ANNOTATION.digest]).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(viewSecret(s).trusted).toBe(true);
    expect(viewSecret(withoutDigest(s)).trusted).toBeUndefined();
  });

  it('is not written when the key does not belong to the certificate, so every pass still finds KeyMismatch', () => {
    const c = leaf();
    const s = written(c.chain, generateTestKey('ecdsa-p256').pem);
    expect(s.metadata.annotations?.[ANNOTATION.digest]).toBeUndefined();
    expect(decide({ target, secret: s, now: NOW, issuerUrl: ISSUER })).toMatchObject({ action: 'issue', reason: 'KeyMismatch' });
  });

  it('is not written when a certificate of the chain does not parse', () => {
    const c = leaf();
    const broken = `${c.cert}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`;
    expect(written(broken, c.key).metadata.annotations?.[ANNOTATION.digest]).toBeUndefined();
  });

  it('is dropped, not carried over, when a Secret is rewritten with content that fails the checks', () => {
    const good = leaf();
    const first = written(good.chain, good.key);
    const second = written(leaf().chain, good.key, at(60 * DAY), first);
    expect(second.metadata.annotations?.[ANNOTATION.digest]).toBeUndefined();
    expect(decide({ target, secret: second, now: NOW, issuerUrl: ISSUER })).toMatchObject({ reason: 'KeyMismatch' });
  });

  it('no longer counts once tls.crt or tls.key changed: the key is checked again', () => {
    const c = leaf();
    const s = edited(written(c.chain, c.key), { 'tls.key': b64(generateTestKey('ecdsa-p256').pem) });
    expect(viewSecret(s).trusted).toBeUndefined();
    expect(decide({ target, secret: s, now: NOW, issuerUrl: ISSUER })).toMatchObject({ action: 'issue', reason: 'KeyMismatch' });
  });

  it('tells a moved boundary between tls.crt and tls.key from the content it was written for', () => {
    const c = leaf();
    const s = written(c.chain, c.key);
    // The same bytes in all, one line of the certificate moved into tls.key.
    const cut = c.chain.lastIndexOf('-----END CERTIFICATE-----');
    const moved = edited(s, { 'tls.crt': b64(c.chain.slice(0, cut)), 'tls.key': b64(c.chain.slice(cut) + c.key) });
    expect(viewSecret(moved).trusted).toBeUndefined();
  });

  // Each Secret as a pass wrote it, then as it may look later. With and without the digest
  // annotation, renew decides the same and check reports the same findings.
  const cases: [string, () => SecretObject][] = [
    ['valid, as written', () => {
      const c = leaf();
      return written(c.chain, c.key);
    }],
    ['valid, a leaf without intermediates', () => {
      const c = leaf();
      return written(c.cert, c.key);
    }],
    ['tls.key replaced by another key', () => {
      const c = leaf();
      return edited(written(c.chain, c.key), { 'tls.key': b64(generateTestKey('ecdsa-p256').pem) });
    }],
    ['tls.key replaced by a key that does not parse', () => {
      const c = leaf();
      return edited(written(c.chain, c.key), { 'tls.key': b64('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n') });
    }],
    ['tls.key not base64', () => {
      const c = leaf();
      return edited(written(c.chain, c.key), { 'tls.key': '%%%' });
    }],
    ['tls.crt replaced by a certificate for other hosts', () => {
      const c = leaf();
      return edited(written(c.chain, c.key), { 'tls.crt': b64(leaf({ sans: ['other.example.com'] }).chain) });
    }],
    ['the intermediate of tls.crt damaged', () => {
      const c = leaf();
      return edited(written(c.chain, c.key), { 'tls.crt': b64(`${c.cert}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`) });
    }],
    ['expired', () => {
      const c = leaf({ from: -91 * DAY, to: -DAY });
      return written(c.chain, c.key, c.notAfter);
    }],
    ['due for renewal', () => {
      const c = leaf({ from: -80 * DAY, to: 10 * DAY });
      return written(c.chain, c.key, c.notAfter);
    }],
    ['written for fewer hosts than the Ingress has now', () => {
      const c = leaf({ sans: ['shop.example.com'] });
      return written(c.chain, c.key);
    }],
  ];
  it.each(cases)('decides and audits "%s" exactly as without the digest', (_, make) => {
    const secret = make();
    const plain = withoutDigest(secret);
    expect(decide({ target, secret, now: NOW, issuerUrl: ISSUER })).toEqual(decide({ target, secret: plain, now: NOW, issuerUrl: ISSUER }));
    expect(auditSecret(target, secret, { now: NOW })).toEqual(auditSecret(target, plain, { now: NOW }));
  });
});
