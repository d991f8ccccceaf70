// certkeeper against Debian sid's Pebble 2.10, the CA that behaves like Let's Encrypt in 2026:
// profiles with their own lifetimes, certificates without a subject CN, ARI renewalInfo windows.
// The CLI part needs `npm run build` first (dist/cli.js runs as a real process).
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAccountStore } from '../../src/acme/account-file-store.js';
import { AcmeIssuer } from '../../src/acme/issuer.js';
import { configureAcmeTransport } from '../../src/acme/transport.js';
import { checkKeyMatches, displayName, lifetimeMs, parseCertificate } from '../../src/core/cert.js';
import { AcmeError } from '../../src/errors.js';
import { MemoryChallengeStore } from '../../src/http/memory-store.js';
import { startResponder, type Responder } from '../../src/http/responder.js';
import { silentLogger } from '../../src/log.js';
import type { IssuedCertificate } from '../../src/ports.js';
import { ariCertId } from '../support/ari.js';
import { createCA } from '../support/certs.js';
import { runCertkeeper } from '../support/cli.js';
import { PEBBLE_PROFILES, startPebble, type Pebble } from '../support/pebble.js';

const FAST = { intervalMs: 50, maxIntervalMs: 250, timeoutMs: 30_000 };
const name = (label = 'p') => `${label}-${randomUUID().slice(0, 8)}.certkeeper.test`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let pebble: Pebble;
let responder: Responder;
let work: string;
let accounts: FileAccountStore;
let issuer: AcmeIssuer;
const store = new MemoryChallengeStore();

beforeAll(async () => {
  pebble = await startPebble({ version: '2.10', profiles: PEBBLE_PROFILES });
  configureAcmeTransport({ caBundlePem: pebble.apiCaPem });
  responder = await startResponder({ lookup: store, port: pebble.httpPort, host: '127.0.0.1' });
  work = await mkdtemp(join(tmpdir(), 'certkeeper-pebble210-'));
  accounts = new FileAccountStore(join(work, 'account'), pebble.directoryUrl);
  issuer = new AcmeIssuer({ directoryUrl: pebble.directoryUrl, accountStore: accounts, challengeStore: store, polling: FAST, log: silentLogger });
});

afterAll(async () => {
  await responder?.close();
  await pebble?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function account(): Promise<{ keyPem: string; url: string }> {
  const stored = await accounts.load();
  if (!stored?.url) throw new Error('no registered account in the test account store');
  return { keyPem: stored.keyPem, url: stored.url };
}

async function orderOf(cert: IssuedCertificate): Promise<Awaited<ReturnType<Pebble['readOrder']>>> {
  return pebble.readOrder(cert.orderUrl, await account());
}

describe('Pebble 2.10 as the ACME peer', () => {
  it('offers the classic, tlsserver and shortlived profiles in its directory, with ARI', async () => {
    const dir = await pebble.directory();
    expect(dir.meta?.profiles).toEqual({
      classic: 'https://letsencrypt.org/docs/profiles#classic',
      tlsserver: 'https://letsencrypt.org/docs/profiles#tlsserver',
      shortlived: 'https://letsencrypt.org/docs/profiles#shortlived',
    });
    expect(dir.renewalInfo).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/.*renewalInfo$/);
  });

  it('AcmeIssuer issues and parses a certificate without a subject, named by its first SAN', async () => {
    const hosts = [name('api'), name('www')];
    const cert = await issuer.issue({ hosts, keyType: 'ecdsa-p256', profile: 'tlsserver' });
    expect(cert.info.subject).toBe('');
    expect(cert.info.subjectCN).toBeUndefined();
    expect([...cert.info.sans].sort()).toEqual([...hosts].sort());
    expect(hosts).toContain(displayName(cert.info));
    expect(cert.info.issuerCN).toMatch(/^Pebble Intermediate CA /);
    expect(checkKeyMatches(cert.fullchainPem, cert.keyPem)).toMatchObject({ ok: true });
    expect(parseCertificate(cert.chainPem).isCA).toBe(true);
    expect(store.size).toBe(0);
  });

  it.each(Object.entries(PEBBLE_PROFILES))('the %s profile gives its own lifetime and CN, and the order carries its name', async (profile, p) => {
    const host = name(profile);
    const cert = await issuer.issue({ hosts: [host], keyType: 'ecdsa-p256', profile });
    // notAfter is inclusive (RFC 5280 §4.1.2.5): Pebble, like Let's Encrypt, ends one second early.
    expect(lifetimeMs(cert.info)).toBe(p.validitySeconds * 1000 - 1000);
    expect(cert.info.subjectCN).toBe(p.commonName ? host : undefined);
    expect((await orderOf(cert)).profile).toBe(profile);
  });

  it('an order naming no profile gets one of the offered profiles, at random (Pebble has no default)', async () => {
    const cert = await issuer.issue({ hosts: [name('none')], keyType: 'ecdsa-p256' });
    const { profile } = await orderOf(cert);
    expect(Object.keys(PEBBLE_PROFILES)).toContain(profile);
    expect(lifetimeMs(cert.info)).toBe(PEBBLE_PROFILES[profile as keyof typeof PEBBLE_PROFILES].validitySeconds * 1000 - 1000);
  });

  it('an unknown profile fails before any validation, as invalidProfile naming the profile', async () => {
    const err = await issuer.issue({ hosts: [name('bad')], keyType: 'ecdsa-p256', profile: 'longlived' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AcmeError);
    expect((err as AcmeError).problem.type).toBe('invalidProfile');
    expect((err as AcmeError).message).toContain('"longlived"');
    expect(store.size).toBe(0);
  });
});

describe('ARI (RFC 9773) on Pebble 2.10', () => {
  it('the test certID is AKI keyIdentifier "." serial as DER integer content, both base64url', () => {
    const ca = createCA();
    // 0x80ab needs a leading zero byte to stay a positive DER INTEGER (RFC 9773 §4.1 keeps it).
    const leaf = ca.issue({ sans: ['id.example.com'], serial: '80ab' });
    const [aki, serial] = ariCertId(leaf.cert).split('.');
    expect(serial).toBe(Buffer.from([0x00, 0x80, 0xab]).toString('base64url'));
    // The test factory's key identifiers are SHA-1 of the issuer's SubjectPublicKeyInfo.
    const caKeyId = createHash('sha1').update(ca.keyPair.publicKey.export({ type: 'spki', format: 'der' })).digest();
    expect(aki).toBe(caKeyId.toString('base64url'));
  });

  it('serves a default window around two thirds of the lifetime, with Retry-After', async () => {
    const cert = await issuer.issue({ hosts: [name('ari')], keyType: 'ecdsa-p256', profile: 'shortlived' });
    const r = await pebble.renewalInfo(cert.leafPem);
    expect(r.status).toBe(200);
    expect(r.retryAfter).toBe(String(6 * 3600));
    const { notBefore, notAfter } = cert.info;
    // Pebble's RenewalInfoSimple: the point 1/3 of the (inclusive) lifetime before notAfter, ±1 day.
    const ideal = notAfter.getTime() - (notAfter.getTime() + 1000 - notBefore.getTime()) / 3;
    const { suggestedWindow } = JSON.parse(r.body) as { suggestedWindow: { start: string; end: string } };
    expect(new Date(suggestedWindow.start).getTime()).toBe(ideal - DAY);
    expect(new Date(suggestedWindow.end).getTime()).toBe(ideal + DAY);
  });

  it('setRenewalInfo moves the window of one certificate and renewalInfo serves it verbatim', async () => {
    const cert = await issuer.issue({ hosts: [name('moved')], keyType: 'ecdsa-p256', profile: 'tlsserver' });
    const other = await issuer.issue({ hosts: [name('other')], keyType: 'ecdsa-p256', profile: 'tlsserver' });
    const before = await pebble.renewalInfo(other.fullchainPem);
    const start = new Date(Math.floor(Date.now() / 1000) * 1000 - 2 * HOUR);
    const end = new Date(start.getTime() + HOUR);
    await pebble.setRenewalInfo(cert.fullchainPem, { start, end, explanationURL: 'https://status.example/incident-1' });
    const after = JSON.parse((await pebble.renewalInfo(cert.leafPem)).body) as unknown;
    expect(after).toEqual({
      suggestedWindow: { start: start.toISOString(), end: end.toISOString() },
      explanationURL: 'https://status.example/incident-1',
    });
    expect((await pebble.renewalInfo(other.leafPem)).body).toBe(before.body);
    // Stored as given, so clients can be tested against a CA that sends garbage.
    await pebble.setRenewalInfo(cert.leafPem, '{"suggestedWindow": "soon"');
    expect((await pebble.renewalInfo(cert.leafPem)).body).toBe('{"suggestedWindow": "soon"');
  });

  it('accepts the test ARI certID as `replaces`, and readOrder shows what the order carried', async () => {
    const host = name('old');
    const old = await issuer.issue({ hosts: [host], keyType: 'ecdsa-p256', profile: 'classic' });
    const certId = ariCertId(old.leafPem);
    const client = await issuer.account();
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: host }], profile: 'shortlived', replaces: certId } as Parameters<typeof client.createOrder>[0]);
    const seen = await pebble.readOrder(order.url, await account());
    expect(seen).toMatchObject({ profile: 'shortlived', replaces: certId, identifiers: [{ type: 'dns', value: host }] });
  });
});

describe('certkeeper issue (the built CLI) against Pebble 2.10', () => {
  // Its own Pebble: the CLI binds the HTTP-01 port itself, which the in-process responder holds.
  let cliPebble: Pebble;
  beforeAll(async () => {
    cliPebble = await startPebble({ version: '2.10', profiles: PEBBLE_PROFILES });
  });
  afterAll(async () => {
    await cliPebble?.stop();
  });

  async function issueWithCli(host: string, extra: string[] = []): Promise<{ fullchain: string; key: string }> {
    const out = join(work, `cli-${randomUUID().slice(0, 8)}`);
    const r = await runCertkeeper([
      'issue',
      '--directory', cliPebble.directoryUrl,
      '--acme-ca-bundle', cliPebble.apiCaFile,
      '--account-dir', join(work, 'cli-accounts'),
      '--http-port', String(cliPebble.httpPort),
      '--http-address', '127.0.0.1',
      '--acme-poll-interval', '50',
      '--out', out,
      '-d', host,
      ...extra,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`issued ECDSA prime256v1 certificate for ${host}`);
    return { fullchain: await readFile(join(out, 'fullchain.pem'), 'utf8'), key: await readFile(join(out, 'privkey.pem'), 'utf8') };
  }

  it('writes a subject-less tlsserver certificate (it used to fail parsing it after issuance)', async () => {
    const host = name('cli');
    const { fullchain, key } = await issueWithCli(host, ['--profile', 'tlsserver']);
    const info = parseCertificate(fullchain);
    expect(info.subject).toBe('');
    expect(info.sans).toEqual([host]);
    expect(checkKeyMatches(fullchain, key).ok).toBe(true);
  });

  it('succeeds without --profile, whichever profile Pebble picks', async () => {
    const host = name('cli');
    const { fullchain } = await issueWithCli(host);
    const info = parseCertificate(fullchain);
    expect(info.sans).toEqual([host]);
    expect(Object.values(PEBBLE_PROFILES).map((p) => p.validitySeconds * 1000 - 1000)).toContain(lifetimeMs(info));
  });
});
