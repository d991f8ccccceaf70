// The ACME adapter against a real Pebble: orders for 1, 2 and 20 names, RSA and EC keys, account
// reuse, concurrent orders, and failures that name the host and the ACME problem type.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID, X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAccountStore } from '../../src/acme/account-file-store.js';
import { AcmeIssuer, FetchWatch } from '../../src/acme/issuer.js';
import { configureAcmeTransport, onAcmeResponse, type AcmeRequestInfo } from '../../src/acme/transport.js';
import { checkKeyMatches } from '../../src/core/cert.js';
import { AcmeError, CaUnreachableError } from '../../src/errors.js';
import { MemoryChallengeStore } from '../../src/http/memory-store.js';
import { startResponder, type Responder } from '../../src/http/responder.js';
import { silentLogger } from '../../src/log.js';
import { startPebble, PEBBLE_EAB, type Pebble } from '../support/pebble.js';

const FAST = { intervalMs: 50, maxIntervalMs: 250, timeoutMs: 30_000 };
const name = (label = 'h') => `${label}-${randomUUID().slice(0, 8)}.certkeeper.test`;

let pebble: Pebble;
let responder: Responder;
let accountDir: string;
const store = new MemoryChallengeStore();
const fetches = new FetchWatch();

beforeAll(async () => {
  pebble = await startPebble({ nxdomain: (n) => n.endsWith('.nxdomain.test') });
  configureAcmeTransport({ caBundlePem: pebble.apiCaPem });
  responder = await startResponder({ lookup: store, port: pebble.httpPort, host: '127.0.0.1', onChallenge: (e) => e.found && fetches.saw(e.token) });
  accountDir = await mkdtemp(join(tmpdir(), 'certkeeper-acct-'));
});

afterAll(async () => {
  await responder?.close();
  await pebble?.stop();
  if (accountDir) await rm(accountDir, { recursive: true, force: true });
});

function issuer(dir = accountDir, extra: Partial<ConstructorParameters<typeof AcmeIssuer>[0]> = {}): AcmeIssuer {
  return new AcmeIssuer({
    directoryUrl: pebble.directoryUrl,
    accountStore: new FileAccountStore(dir, pebble.directoryUrl),
    challengeStore: store,
    polling: FAST,
    log: silentLogger,
    ...extra,
  });
}

describe('AcmeIssuer against Pebble', () => {
  it('issues an ECDSA certificate for one name whose SAN and key match', async () => {
    const host = name();
    const cert = await issuer().issue({ hosts: [host], keyType: 'ecdsa-p256' });
    expect(cert.info.sans).toEqual([host]);
    expect(checkKeyMatches(cert.fullchainPem, cert.keyPem)).toMatchObject({ ok: true, keyType: 'ECDSA prime256v1' });
    expect(cert.chainPem).toContain('BEGIN CERTIFICATE');
    // The answers are gone once the order is done.
    expect(store.size).toBe(0);
  });

  it('issues for two names and for twenty names on one certificate', async () => {
    const two = [name('a'), name('b')];
    const c2 = await issuer().issue({ hosts: two, keyType: 'ecdsa-p256' });
    expect([...c2.info.sans].sort()).toEqual([...two].sort());
    const twenty = Array.from({ length: 20 }, (_, i) => name(`n${i}`));
    const c20 = await issuer().issue({ hosts: twenty, keyType: 'ecdsa-p256' });
    expect([...c20.info.sans].sort()).toEqual([...twenty].sort());
  });

  it('issues RSA 2048 and ECDSA P-384 keys on request', async () => {
    const rsa = await issuer().issue({ hosts: [name()], keyType: 'rsa-2048' });
    expect(checkKeyMatches(rsa.fullchainPem, rsa.keyPem)).toMatchObject({ ok: true, keyType: 'RSA 2048' });
    const p384 = await issuer().issue({ hosts: [name()], keyType: 'ecdsa-p384' });
    expect(new X509Certificate(p384.leafPem).publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
  });

  it('reuses the stored account instead of registering a second one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'certkeeper-acct-'));
    try {
      const accounts = new FileAccountStore(dir, pebble.directoryUrl);
      await issuer(dir).issue({ hosts: [name()], keyType: 'ecdsa-p256' });
      const first = await accounts.load();
      expect(first?.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
      await issuer(dir).issue({ hosts: [name()], keyType: 'ecdsa-p256' });
      const second = await accounts.load();
      expect(second).toEqual(first);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('asks the CA for a fresh nonce at most once per order, despite Pebble rejecting 5% of them', async () => {
    const requests: AcmeRequestInfo[] = [];
    const stop = onAcmeResponse((_status, r) => requests.push(r));
    try {
      for (let i = 0; i < 3; i++) await issuer().issue({ hosts: [name()], keyType: 'ecdsa-p256' });
    } finally {
      stop();
    }
    // newOrder, authorization, challenge, order polls, finalize, certificate: all POSTs, each
    // signed with the Replay-Nonce of the response before it.
    expect(requests.filter((r) => r.method === 'POST').length).toBeGreaterThanOrEqual(3 * 6);
    expect(requests.filter((r) => r.method === 'HEAD').length).toBeLessThanOrEqual(3);
  });

  it('polls once the CA has fetched the answer, not when the poll interval has passed', async () => {
    const slowTimer = { intervalMs: 20_000, maxIntervalMs: 20_000, timeoutMs: 50_000 };
    const started = Date.now();
    const cert = await issuer(accountDir, { polling: slowTimer, challengeFetched: (t) => fetches.fetched(t) }).issue({ hosts: [name()], keyType: 'ecdsa-p256' });
    expect(cert.leafPem).toContain('BEGIN CERTIFICATE');
    // The first timed poll would come 20 s after the challenge; Pebble validates in milliseconds.
    expect(Date.now() - started).toBeLessThan(slowTimer.intervalMs);
  });

  it('runs several orders concurrently in one process', async () => {
    const iss = issuer();
    const hosts = Array.from({ length: 6 }, () => name('c'));
    const certs = await Promise.all(hosts.map((h) => iss.issue({ hosts: [h], keyType: 'ecdsa-p256' })));
    expect(certs.map((c) => c.info.sans[0])).toEqual(hosts);
  });

  it('fails for a host that does not resolve, naming the host, the ACME problem type and the DNS fix', async () => {
    const bad = `gone-${randomUUID().slice(0, 8)}.nxdomain.test`;
    const good = name();
    const err = await issuer()
      .issue({ hosts: [good, bad], keyType: 'ecdsa-p256' })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AcmeError);
    const e = err as AcmeError;
    expect(e.problem.host).toBe(bad);
    // Pebble reports an unresolvable name as "connection" (Boulder says "dns"); the hint follows the detail.
    expect(e.problem.type).toBe('connection');
    expect(e.message).toContain(bad);
    expect(e.hint).toMatch(/DNS record/);
    expect(store.size).toBe(0);
  });

  it('fails with unauthorized when nothing answers the challenge correctly', async () => {
    const host = name();
    const wrong = { publish: () => Promise.resolve(), remove: () => Promise.resolve() };
    const err = await issuer(accountDir, { challengeStore: wrong })
      .issue({ hosts: [host], keyType: 'ecdsa-p256' })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AcmeError);
    expect((err as AcmeError).problem).toMatchObject({ type: 'unauthorized', host });
    expect((err as AcmeError).message).toContain(host);
  });

  it('deactivates the pending authorizations of an order it gives up (RFC 8555 §7.5.2)', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const hosts = [name('x'), name('y')];
    const err = await issuer(accountDir, { log })
      .issue({ hosts, keyType: 'ecdsa-p256', beforeValidation: () => Promise.reject(new Error('the order\'s tokens do not reach certkeeper')) })
      .then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toBe('the order\'s tokens do not reach certkeeper');
    const orderUrl = lines.map((l) => JSON.parse(l) as { msg: string; order?: string }).find((l) => l.msg === 'order created')?.order as string;
    const account = (await new FileAccountStore(accountDir, pebble.directoryUrl).load()) as { keyPem: string; url: string };
    const order = await pebble.readOrder(orderUrl, account);
    expect(order.authorizations).toHaveLength(2);
    for (const url of order.authorizations ?? []) expect((await pebble.readResource(url, account)).status).toBe('deactivated');
    expect(lines.some((l) => l.includes('deactivated the pending authorizations of an abandoned order'))).toBe(true);
    expect(store.size).toBe(0);
  });

  it('issues nothing when told to stop right before finalizing: the order stays ready, its validated authorizations stay valid', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const err = await issuer(accountDir, { log })
      .issue({ hosts: [name('f')], keyType: 'ecdsa-p256', beforeFinalize: () => Promise.reject(new Error('the pass lost its lease')) })
      .then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toBe('the pass lost its lease');
    const orderUrl = lines.map((l) => JSON.parse(l) as { msg: string; order?: string }).find((l) => l.msg === 'order created')?.order as string;
    const account = (await new FileAccountStore(accountDir, pebble.directoryUrl).load()) as { keyPem: string; url: string };
    const order = await pebble.readOrder(orderUrl, account);
    expect(order.status).toBe('ready');
    expect(order.certificate).toBeUndefined();
    for (const url of order.authorizations ?? []) expect((await pebble.readResource(url, account)).status).toBe('valid');
  });

  it('reports an unreachable CA with its URL and the socket error', async () => {
    const iss = new AcmeIssuer({
      directoryUrl: 'https://127.0.0.1:1/dir',
      accountStore: new FileAccountStore(accountDir, 'https://127.0.0.1:1/dir'),
      challengeStore: store,
      polling: FAST,
      log: silentLogger,
    });
    const err = await iss.issue({ hosts: [name()], keyType: 'ecdsa-p256' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CaUnreachableError);
    expect((err as Error).message).toMatch(/cannot reach the ACME server at https:\/\/127\.0\.0\.1:1\/dir.*ECONNREFUSED/);
  });
});

describe('external account binding', () => {
  let eabPebble: Pebble;
  let eabResponder: Responder;
  beforeAll(async () => {
    eabPebble = await startPebble({ eab: true });
    eabResponder = await startResponder({ lookup: store, port: eabPebble.httpPort, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await eabResponder?.close();
    await eabPebble?.stop();
  });

  it('registers with EAB credentials and fails clearly without them', async () => {
    configureAcmeTransport({ caBundlePem: eabPebble.apiCaPem });
    const dir = await mkdtemp(join(tmpdir(), 'certkeeper-acct-'));
    try {
      const make = (eab?: typeof PEBBLE_EAB) =>
        new AcmeIssuer({
          directoryUrl: eabPebble.directoryUrl,
          accountStore: new FileAccountStore(dir, eabPebble.directoryUrl),
          challengeStore: store,
          polling: FAST,
          log: silentLogger,
          ...(eab ? { eab } : {}),
        });
      const err = await make().account().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(AcmeError);
      expect((err as AcmeError).problem.type).toBe('externalAccountRequired');
      expect((err as AcmeError).hint).toMatch(/--eab-kid/);
      const cert = await make(PEBBLE_EAB).issue({ hosts: [name()], keyType: 'ecdsa-p256' });
      expect(cert.info.sans).toHaveLength(1);
    } finally {
      configureAcmeTransport({ caBundlePem: pebble.apiCaPem });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
