// ACME problems Pebble never produces (rate limits, server errors), from a small ACME endpoint
// at the HTTP boundary: the error must carry the problem type and Retry-After, and certkeeper must
// not sleep through a long Retry-After inside a pass.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAccountStore } from '../../src/acme/account-file-store.js';
import { AcmeIssuer } from '../../src/acme/issuer.js';
import { configureAcmeTransport } from '../../src/acme/transport.js';
import { AcmeError } from '../../src/errors.js';
import { MemoryChallengeStore } from '../../src/http/memory-store.js';
import { silentLogger } from '../../src/log.js';
import { nextRetry } from '../../src/core/renewal.js';

let server: Server;
let base: string;
let dir: string;
let newOrder: (res: import('node:http').ServerResponse) => void;
let orderCalls = 0;

/**
 * Nonce bookkeeping as a CA does it (RFC 8555 §6.5), switched on by the test that needs it:
 * every response carries a fresh nonce, and a POST whose nonce was never issued or was already
 * used gets badNonce.
 */
const nonces = { strict: false, issued: new Set<string>(), heads: 0, rejectOnce: false, signedWith: [] as string[] };
let nonceCounter = 0;
function freshNonce(): string {
  const n = `nonce-${++nonceCounter}`;
  nonces.issued.add(n);
  return n;
}
function jwsNonce(body: string): string | undefined {
  try {
    const protectedHeader = (JSON.parse(body) as { protected: string }).protected;
    return (JSON.parse(Buffer.from(protectedHeader, 'base64url').toString()) as { nonce?: string }).nonce;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-problems-'));
  server = createServer((req, res) => {
    if (nonces.strict) {
      if (req.method === 'HEAD') nonces.heads++;
      if (req.method === 'POST') {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => {
          const used = jwsNonce(body) ?? '';
          nonces.signedWith.push(used);
          const valid = nonces.issued.delete(used);
          if (!valid || nonces.rejectOnce) {
            nonces.rejectOnce = false;
            res.writeHead(400, { 'content-type': 'application/problem+json', 'replay-nonce': freshNonce() });
            res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:badNonce', detail: `JWS has an invalid anti-replay nonce: "${used}"` }));
            return;
          }
          route(req, res, { 'replay-nonce': freshNonce() });
        });
        return;
      }
    }
    route(req, res, { 'replay-nonce': nonces.strict ? freshNonce() : `n${Math.random().toString(36).slice(2)}` });
  });
  const route = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, nonce: Record<string, string>) => {
    // URLs on the host the client asked for, so that one test can be another origin.
    const here = `http://${req.headers.host ?? '127.0.0.1'}`;
    if (req.url === '/dir') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ newNonce: `${here}/nonce`, newAccount: `${here}/account`, newOrder: `${here}/order` }));
    } else if (req.url === '/nonce') {
      res.writeHead(200, nonce).end();
    } else if (req.url === '/account') {
      req.resume();
      res.writeHead(201, { ...nonce, location: `${here}/account/1`, 'content-type': 'application/json' }).end(JSON.stringify({ status: 'valid' }));
    } else if (req.url === '/order') {
      req.resume();
      orderCalls++;
      newOrder(res);
    } else {
      res.writeHead(404).end();
    }
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  configureAcmeTransport({});
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

const issuer = () =>
  new AcmeIssuer({
    directoryUrl: `${base}/dir`,
    accountStore: new FileAccountStore(dir, `${base}/dir`),
    challengeStore: new MemoryChallengeStore(),
    polling: { intervalMs: 20, maxIntervalMs: 50, timeoutMs: 5000 },
    log: silentLogger,
  });

describe('ACME problems', () => {
  it('reports rateLimited with the CA\'s Retry-After at once, instead of sleeping through it', async () => {
    newOrder = (res) => {
      res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '3600', 'replay-nonce': 'x1' });
      res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s' }));
    };
    const started = Date.now();
    const err = await issuer().issue({ hosts: ['shop.example.com'], keyType: 'ecdsa-p256' }).then(() => undefined, (e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(30_000); // a sleep of 3600 s would time the test out long before
    expect(err).toBeInstanceOf(AcmeError);
    const e = err as AcmeError;
    expect(e.problem.type).toBe('rateLimited');
    expect(e.message).toContain('too many certificates (5) already issued');
    const wait = (e.problem.retryAfter?.getTime() ?? 0) - Date.now();
    expect(wait).toBeGreaterThan(3500_000);
    expect(wait).toBeLessThanOrEqual(3600_000);
    expect(e.hint).toMatch(/retry time/);
    // The backoff takes the CA's word when it is longer than ours.
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 3600_000);
    expect(nextRetry(1, now, later)).toEqual(later);
    expect(nextRetry(1, now, new Date(now.getTime() + 60_000)).getTime()).toBe(now.getTime() + 3600_000);
  });

  it('names rejectedIdentifier and the host the CA refused', async () => {
    newOrder = (res) => {
      res.writeHead(400, { 'content-type': 'application/problem+json', 'replay-nonce': 'x2' });
      res.end(
        JSON.stringify({
          type: 'urn:ietf:params:acme:error:rejectedIdentifier',
          detail: 'Error creating new order :: Cannot issue for "intranet.local": Domain name does not end with a valid public suffix (TLD)',
          subproblems: [{ type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'no public suffix', identifier: { type: 'dns', value: 'intranet.local' } }],
        }),
      );
    };
    const err = (await issuer().issue({ hosts: ['intranet.local'], keyType: 'ecdsa-p256' }).then(() => undefined, (e: unknown) => e)) as AcmeError;
    expect(err.problem).toMatchObject({ type: 'rejectedIdentifier', host: 'intranet.local', status: 400 });
    expect(err.hint).toMatch(/public domain/);
  });

  it('retries a brief server error and then succeeds past it', async () => {
    let n = 0;
    newOrder = (res) => {
      n++;
      if (n === 1) {
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1', 'replay-nonce': 'x3' });
        res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:serverInternal', detail: 'maintenance' }));
        return;
      }
      res.writeHead(400, { 'content-type': 'application/problem+json', 'replay-nonce': 'x4' });
      res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: 'second answer' }));
    };
    orderCalls = 0;
    const err = (await issuer().issue({ hosts: ['shop.example.com'], keyType: 'ecdsa-p256' }).then(() => undefined, (e: unknown) => e)) as AcmeError;
    expect(orderCalls).toBe(2);
    expect(err.problem).toMatchObject({ type: 'malformed', detail: 'second answer' });
  });

  it('signs each request with the nonce of the previous response, and recovers from badNonce', async () => {
    // A fresh server origin: no nonce of the earlier tests can be in the pool for it.
    const strictServer = server;
    Object.assign(nonces, { strict: true, heads: 0, signedWith: [] as string[] });
    nonces.issued.clear();
    newOrder = (res) => {
      res.writeHead(403, { 'content-type': 'application/problem+json', 'replay-nonce': freshNonce() });
      res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:unauthorized', detail: 'stop here' }));
    };
    try {
      const strictDir = await mkdtemp(join(tmpdir(), 'certkeeper-nonces-'));
      const port = (strictServer.address() as AddressInfo).port;
      // localhost instead of 127.0.0.1: another origin than the other tests used, same server.
      const directoryUrl = `http://localhost:${port}/dir`;
      const strictIssuer = new AcmeIssuer({
        directoryUrl,
        accountStore: new FileAccountStore(strictDir, directoryUrl),
        challengeStore: new MemoryChallengeStore(),
        polling: { intervalMs: 20, maxIntervalMs: 50, timeoutMs: 5000 },
        log: silentLogger,
      });
      // Registration (newAccount), then newOrder: two signed requests, and the CA rejects the
      // first nonce it sees as a CA may (expired, or Pebble's random 5%).
      nonces.rejectOnce = true;
      const err = (await strictIssuer.issue({ hosts: ['shop.example.com'], keyType: 'ecdsa-p256' }).then(() => undefined, (e: unknown) => e)) as AcmeError;
      expect(err.problem).toMatchObject({ type: 'unauthorized', detail: 'stop here' });
      // One newNonce for the whole exchange; every later request used the last response's nonce.
      expect(nonces.heads).toBe(1);
      expect(nonces.signedWith).toHaveLength(3); // newAccount (badNonce), newAccount again, newOrder
      expect(new Set(nonces.signedWith).size).toBe(3); // no nonce was sent twice
      await rm(strictDir, { recursive: true, force: true });
    } finally {
      nonces.strict = false;
    }
  });
});
