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

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-problems-'));
  server = createServer((req, res) => {
    const nonce = { 'replay-nonce': `n${Math.random().toString(36).slice(2)}` };
    if (req.url === '/dir') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ newNonce: `${base}/nonce`, newAccount: `${base}/account`, newOrder: `${base}/order` }));
    } else if (req.url === '/nonce') {
      res.writeHead(200, nonce).end();
    } else if (req.url === '/account') {
      req.resume();
      res.writeHead(201, { ...nonce, location: `${base}/account/1`, 'content-type': 'application/json' }).end(JSON.stringify({ status: 'valid' }));
    } else if (req.url === '/order') {
      req.resume();
      orderCalls++;
      newOrder(res);
    } else {
      res.writeHead(404).end();
    }
  });
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
});
