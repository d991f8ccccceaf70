// ACME Renewal Information in the core: the certID against an independent implementation, the CA's
// window as the renewal basis, and the decisions and findings it leads to. Fixed clock.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ariCertId, ariMoment, certIdSerialHex, nextAriCheck, parseRenewalInfo, type AriRecord } from '../../src/core/ari.js';
import { parseCertificate } from '../../src/core/cert.js';
import { auditSecret } from '../../src/core/checks.js';
import { certificateIds, DerError } from '../../src/core/der.js';
import { decide } from '../../src/core/policy.js';
import { describePlan, renewalPlan } from '../../src/core/renewal.js';
import { ariAnnotations, buildTlsSecret, readAriRecord, viewSecret, type SecretObject } from '../../src/core/secret.js';
import type { Target } from '../../src/core/targets.js';
import { ariCertId as referenceCertId } from '../support/ari.js';
import { createCA, createCert, tlsSecret, type TestKeyType } from '../support/certs.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);
const PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';

const root = createCA({ now: at(-400 * DAY), key: 'ecdsa-p384' });
const int = root.intermediate({ now: at(-400 * DAY), key: 'ecdsa-p256' });
const HOSTS = ['shop.example.com', 'www.shop.example.com'];
const leaf = (o: { from?: number; to?: number; serial?: string } = {}) =>
  int.issue({ sans: HOSTS, notBefore: at(o.from ?? -30 * DAY), notAfter: at(o.to ?? 60 * DAY), key: 'ecdsa-p256', keySlot: 'ari-leaf', ...(o.serial ? { serial: o.serial } : {}) });

describe('the ARI certificate identifier (RFC 9773 §4.1)', () => {
  it('matches the independent forge-based implementation on 300 certificates of every key type and serial shape', () => {
    const keys: TestKeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048'];
    for (let i = 0; i < 300; i++) {
      // Serials of 1 to 20 bytes, a third of them with the top bit set (DER adds a 0x00 sign byte).
      let serial = randomBytes(1 + (i % 20)).toString('hex');
      if (i % 3 === 0) serial = `8${serial.slice(1)}`;
      serial = serial.replace(/^0+/, '') || '1';
      const cert = int.issue({ sans: [`n${i}.example.com`], serial, key: keys[i % keys.length], keySlot: `ari-${i % 3}` });
      expect(ariCertId(cert.der), serial).toBe(referenceCertId(cert.cert));
      expect(parseCertificate(cert.chain).certId).toBe(referenceCertId(cert.cert));
    }
  });

  it('keeps the sign byte of a serial whose first byte is 0x80 or more, and prints the serial back as node does', () => {
    const cert = leaf({ serial: '80ab' });
    const id = ariCertId(cert.der) as string;
    expect(id.split('.')[1]).toBe(Buffer.from([0x00, 0x80, 0xab]).toString('base64url'));
    expect(certIdSerialHex(id)).toBe(parseCertificate(cert.cert).serial);
  });

  it('is undefined for a certificate without an Authority Key Identifier, which ARI cannot name', () => {
    const selfSigned = createCert({ sans: ['self.example.com'] });
    expect(ariCertId(selfSigned.der)).toBeUndefined();
    expect(parseCertificate(selfSigned.cert).certId).toBeUndefined();
  });

  it('rejects DER that is not a certificate with a DerError, and ariCertId turns it into undefined', () => {
    expect(() => certificateIds(Buffer.from([0x30, 0x82, 0xff]))).toThrow(DerError);
    expect(() => certificateIds(Buffer.from([0x02, 0x01, 0x05]))).toThrow(/Certificate: expected tag 0x30/);
    expect(ariCertId(Buffer.from('not der at all'))).toBeUndefined();
  });
});

describe('renewalInfo responses', () => {
  it.each([
    ['a window', '{"suggestedWindow":{"start":"2026-07-01T00:00:00Z","end":"2026-07-03T00:00:00Z"}}', { ok: true }],
    ['a window with an explanation', '{"suggestedWindow":{"start":"2026-07-01T00:00:00Z","end":"2026-07-03T00:00:00Z"},"explanationURL":"https://status.example/i/1"}', { ok: true }],
    ['malformed JSON', '{"suggestedWindow": "soon"', { ok: false, problem: 'the response is not JSON' }],
    ['no window', '{}', { ok: false, problem: 'the response has no suggestedWindow object' }],
    ['times that are not times', '{"suggestedWindow":{"start":"soon","end":"later"}}', { ok: false }],
    ['an end before the start', '{"suggestedWindow":{"start":"2026-07-03T00:00:00Z","end":"2026-07-01T00:00:00Z"}}', { ok: false }],
  ])('%s', (_, body, want) => {
    expect(parseRenewalInfo(body)).toMatchObject(want);
  });

  it('keeps an explanationURL only when it is a web address', () => {
    const r = parseRenewalInfo({ suggestedWindow: { start: '2026-07-01T00:00:00Z', end: '2026-07-02T00:00:00Z' }, explanationURL: 'javascript:alert(1)' });
    expect(r.ok && r.window.explanationUrl).toBeUndefined();
  });

  it('asks again after the CA\'s Retry-After, but not sooner than 1 hour nor later than 24', () => {
    expect(nextAriCheck(NOW, at(6 * HOUR))).toEqual(at(6 * HOUR));
    expect(nextAriCheck(NOW, at(60_000))).toEqual(at(HOUR));
    expect(nextAriCheck(NOW, at(7 * DAY))).toEqual(at(24 * HOUR));
    expect(nextAriCheck(NOW, undefined)).toEqual(at(6 * HOUR));
  });
});

describe('the renewal plan with an ARI window', () => {
  const cert = parseCertificate(leaf().chain);
  const record = (start: number, end: number, extra: Partial<AriRecord> = {}): AriRecord => ({ certId: cert.certId as string, start: at(start), end: at(end), ...extra });

  it('renews at one moment inside the window, the same every time, and another when the window moves', () => {
    const r = record(20 * DAY, 22 * DAY);
    const plan = renewalPlan(cert, { ari: r });
    expect(plan.basis).toBe('Ari');
    expect(plan.renewAt.getTime()).toBeGreaterThanOrEqual(r.start.getTime());
    expect(plan.renewAt.getTime()).toBeLessThan(r.end.getTime());
    expect(renewalPlan(cert, { ari: { ...r } }).renewAt).toEqual(plan.renewAt);
    expect(renewalPlan(cert, { ari: record(20 * DAY + HOUR, 22 * DAY + HOUR) }).renewAt).not.toEqual(plan.renewAt);
    expect(plan.windowMs).toBe(cert.notAfter.getTime() - plan.renewAt.getTime());
  });

  it('spreads certificates over the whole window (not all at its start)', () => {
    const fractions = Array.from({ length: 400 }, (_, i) => {
      const m = ariMoment({ certId: `key.${i}`, start: at(0), end: at(DAY) });
      return (m.getTime() - NOW.getTime()) / DAY;
    });
    const quarters = [0, 1, 2, 3].map((q) => fractions.filter((f) => f >= q / 4 && f < (q + 1) / 4).length);
    for (const n of quarters) expect(n).toBeGreaterThan(60);
  });

  it('ignores a window fetched for another certificate, or one that starts after expiry', () => {
    expect(renewalPlan(cert, { ari: { ...record(DAY, 2 * DAY), certId: 'other.id' } }).basis).toBe('LifetimeRatio');
    expect(renewalPlan(cert, { ari: record(61 * DAY, 62 * DAY) }).basis).toBe('LifetimeRatio');
  });

  it('lets an explicit renewBefore win when it comes earlier, and keeps the window for display', () => {
    const plan = renewalPlan(cert, { renewBeforeMs: 50 * DAY, ari: record(20 * DAY, 22 * DAY) });
    expect(plan).toMatchObject({ basis: 'RenewBefore', renewAt: at(10 * DAY) });
    expect(plan.ari?.start).toEqual(at(20 * DAY));
    expect(renewalPlan(cert, { renewBeforeMs: DAY, ari: record(20 * DAY, 22 * DAY) }).basis).toBe('Ari');
  });

  it('says the window in the skip line', () => {
    const plan = renewalPlan(cert, { ari: record(20 * DAY, 22 * DAY, { explanationUrl: 'https://status.example/x' }) });
    expect(describePlan(plan)).toMatch(/^renews at 2026-06-2\dT[\d:]+Z \(inside the CA's ARI window 2026-06-21T00:00:00Z – 2026-06-23T00:00:00Z, see https:\/\/status\.example\/x\)$/);
  });
});

describe('ARI on the Secret, in renew and check', () => {
  const target: Target = { namespace: 'shop', secretName: 'shop-tls', hosts: HOSTS, ingresses: [{ namespace: 'shop', name: 'web' }], settings: { keyType: 'ecdsa-p256' } };
  const cert = leaf();
  const certId = parseCertificate(cert.chain).certId as string;
  const secret = (window: { start: Date; end: Date; explanationUrl?: string } | undefined, id = certId): SecretObject => {
    const ann: Record<string, string> = { 'certkeeper.dev/hosts': HOSTS.join(','), 'certkeeper.dev/issuer': PRODUCTION };
    for (const [k, v] of Object.entries(ariAnnotations({ certId: id, nextCheck: at(6 * HOUR), window }))) if (v !== null) ann[k] = v;
    return tlsSecret({ name: 'shop-tls', namespace: 'shop', cert, managed: true, annotations: ann }) as unknown as SecretObject;
  };

  it('reads back what it writes', () => {
    const w = { start: at(DAY), end: at(2 * DAY), explanationUrl: 'https://status.example/x' };
    expect(readAriRecord(secret(w).metadata.annotations)).toEqual({ certId, ...w, nextCheck: at(6 * HOUR) });
    expect(viewSecret(secret(undefined)).ari).toBeUndefined();
  });

  it('renews with its own reason once the CA\'s window is in the past, and names the explanation', () => {
    const d = decide({ target, secret: secret({ start: at(-2 * DAY), end: at(-DAY), explanationUrl: 'https://status.example/incident-7' }), now: NOW, issuerUrl: PRODUCTION });
    expect(d).toMatchObject({ action: 'issue', reason: 'AriRenewalDue' });
    expect(d.message).toContain("the CA's renewal window (ARI) is 2026-05-30T00:00:00Z – 2026-05-31T00:00:00Z");
    expect(d.message).toContain('https://status.example/incident-7');
    const findings = auditSecret(target, secret({ start: at(-2 * DAY), end: at(-DAY), explanationUrl: 'https://status.example/incident-7' }), { now: NOW });
    expect(findings).toEqual([expect.objectContaining({ code: 'CertificateNearExpiry', message: expect.stringContaining('the CA asks for the certificate in Secret shop/shop-tls to be renewed within') })]);
  });

  it('does not renew while the window is in the future, though the lifetime ratio alone would', () => {
    // 30 of 90 days gone: not due by the ratio either; 70 gone: due by the ratio, but the CA says later.
    expect(decide({ target, secret: secret({ start: at(5 * DAY), end: at(7 * DAY) }), now: NOW, issuerUrl: PRODUCTION }).reason).toBe('UpToDate');
    const late = leaf({ from: -70 * DAY, to: 20 * DAY });
    const lateId = parseCertificate(late.chain).certId as string;
    const s = tlsSecret({ name: 'shop-tls', namespace: 'shop', cert: late, managed: true, annotations: { 'certkeeper.dev/hosts': HOSTS.join(',') } }) as unknown as SecretObject;
    Object.assign(s.metadata.annotations ?? {}, ariAnnotations({ certId: lateId, nextCheck: at(HOUR), window: { start: at(10 * DAY), end: at(12 * DAY) } }));
    expect(decide({ target, secret: s, now: NOW, issuerUrl: PRODUCTION }).reason).toBe('UpToDate');
    expect(decide({ target, secret: tlsSecret({ name: 'shop-tls', namespace: 'shop', cert: late, managed: true, annotations: { 'certkeeper.dev/hosts': HOSTS.join(',') } }) as unknown as SecretObject, now: NOW, issuerUrl: PRODUCTION }).reason).toBe('RenewalDue');
  });

  it('renews in this pass when the moment chosen inside the window comes before the next scheduled pass (RFC 9773 §4.2)', () => {
    // A window two to three hours ahead: the moment inside it is before a pass 6 h away, after one 1 h away.
    const w = { start: at(2 * HOUR), end: at(3 * HOUR) };
    const d = decide({ target, secret: secret(w), now: NOW, issuerUrl: PRODUCTION, nextPassAt: at(6 * HOUR) });
    expect(d).toMatchObject({ action: 'issue', reason: 'AriRenewalDue' });
    expect(d.message).toContain(`comes before the next scheduled pass at ${at(6 * HOUR).toISOString().replace('.000Z', 'Z')}, so this pass renews`);
    expect(decide({ target, secret: secret(w), now: NOW, issuerUrl: PRODUCTION, nextPassAt: at(HOUR) }).reason).toBe('UpToDate');
    // Run by hand, nothing is known of a next pass: the moment itself decides.
    expect(decide({ target, secret: secret(w), now: NOW, issuerUrl: PRODUCTION }).reason).toBe('UpToDate');
    // check and status (no next pass) do not call it due before its moment either.
    expect(auditSecret(target, secret(w), { now: NOW })).toEqual([]);
  });

  it('never applies the window of the certificate a renewal replaced', () => {
    expect(decide({ target, secret: secret({ start: at(-2 * DAY), end: at(-DAY) }, 'AAAA.AQ'), now: NOW, issuerUrl: PRODUCTION }).reason).toBe('UpToDate');
  });

  it('a newly written Secret drops the old certificate\'s window and records the profile', () => {
    const old = secret({ start: at(-2 * DAY), end: at(-DAY) });
    const next = buildTlsSecret('shop', 'shop-tls', { fullchainPem: cert.chain, keyPem: cert.key, hosts: HOSTS, notAfter: at(60 * DAY), renewAt: at(30 * DAY), issuerUrl: PRODUCTION, profile: 'tlsserver' }, old);
    const ann = next.metadata.annotations ?? {};
    expect(Object.keys(ann).filter((k) => k.startsWith('certkeeper.dev/ari-'))).toEqual([]);
    expect(ann['certkeeper.dev/profile']).toBe('tlsserver');
  });

  it('reissues when the Ingress asks for another profile than the Secret records (ProfileChanged)', () => {
    const s = secret(undefined);
    (s.metadata.annotations as Record<string, string>)['certkeeper.dev/profile'] = 'classic';
    expect(decide({ target, secret: s, now: NOW, issuerUrl: PRODUCTION, profile: 'shortlived' }).reason).toBe('ProfileChanged');
    expect(decide({ target, secret: s, now: NOW, issuerUrl: PRODUCTION, profile: 'classic' }).reason).toBe('UpToDate');
    expect(decide({ target, secret: s, now: NOW, issuerUrl: PRODUCTION }).reason).toBe('UpToDate');
  });
});
