// The HTTP-01 responder faces the internet on port 80: it answers known tokens exactly and
// refuses everything else cheaply. Real sockets, raw requests where clients would normalise them.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryChallengeStore } from '../../src/http/memory-store.js';
import { startResponder, type Responder } from '../../src/http/responder.js';
import { ListenError } from '../../src/errors.js';

const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const KEY_AUTH = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
let responder: Responder;
const store = new MemoryChallengeStore();
const seen: { token: string; found: boolean }[] = [];

/** Sends raw bytes and returns the whole response text (the server closes or we time out). */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(responder.address.port, '127.0.0.1');
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', (e) => (out ? resolve(out) : reject(e)));
    s.setTimeout(3000, () => {
      s.destroy();
      resolve(out);
    });
    s.end(request);
  });
}

const get = (path: string, extra = '') => raw(`GET ${path} HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n${extra}\r\n`);
const status = (response: string) => Number(response.split(' ', 2)[1]);
const body = (response: string) => response.slice(response.indexOf('\r\n\r\n') + 4);

beforeAll(async () => {
  await store.publish([{ token: TOKEN, keyAuthorization: KEY_AUTH, host: 'shop.example.com' }]);
  responder = await startResponder({ lookup: store, port: 0, host: '127.0.0.1', onChallenge: (e) => seen.push({ token: e.token, found: e.found }) });
});
afterAll(async () => {
  await responder?.close();
});

describe('the HTTP-01 responder', () => {
  it('answers a known token with the key authorization as text/plain, nothing added', async () => {
    const r = await get(`/.well-known/acme-challenge/${TOKEN}`);
    expect(status(r)).toBe(200);
    expect(r).toMatch(/content-type: text\/plain/i);
    expect(body(r)).toBe(KEY_AUTH);
    expect(seen).toContainEqual({ token: TOKEN, found: true });
  });

  it('answers HEAD with the length and no body', async () => {
    const r = await raw(`HEAD /.well-known/acme-challenge/${TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(status(r)).toBe(200);
    expect(r).toMatch(new RegExp(`content-length: ${KEY_AUTH.length}`, 'i'));
    expect(body(r)).toBe('');
  });

  it('404s an unknown token, a removed token and every other path', async () => {
    expect(status(await get('/.well-known/acme-challenge/unknownToken_123'))).toBe(404);
    expect(status(await get('/'))).toBe(404);
    expect(status(await get('/.well-known/acme-challenge/'))).toBe(404);
    await store.publish([{ token: 'gone', keyAuthorization: 'gone.x', host: 'h' }]);
    await store.remove(['gone']);
    expect(status(await get('/.well-known/acme-challenge/gone'))).toBe(404);
  });

  it('404s tokens outside the base64url charset, without looking them up', async () => {
    const before = seen.length;
    for (const bad of ['abc%2F..%2Fetc', 'abc.def', 'a'.repeat(129), '..', 'tok$en']) {
      expect(status(await get(`/.well-known/acme-challenge/${bad}`))).toBe(404);
    }
    expect(seen.length).toBe(before);
  });

  it('refuses other methods with 405 and the allowed ones', async () => {
    const r = await raw(`DELETE /.well-known/acme-challenge/${TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(status(r)).toBe(405);
    expect(r).toMatch(/allow: GET, HEAD/i);
  });

  it('refuses request bodies with 413 before reading them', async () => {
    const r = await raw(`POST /.well-known/acme-challenge/${TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(100)}`);
    expect(status(r)).toBe(413);
    const chunked = await raw(`GET /.well-known/acme-challenge/${TOKEN} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    expect(status(chunked)).toBe(413);
  });

  it('refuses oversized headers instead of buffering them', async () => {
    const r = await get(`/.well-known/acme-challenge/${TOKEN}`, `X-Big: ${'a'.repeat(16 * 1024)}\r\n`);
    expect(status(r)).toBe(431);
    expect(body(r)).not.toContain(KEY_AUTH);
  });

  it('says which port is taken and how to get around it', async () => {
    const err = await startResponder({ lookup: store, port: responder.address.port, host: '127.0.0.1' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ListenError);
    expect((err as ListenError).message).toBe(`port ${responder.address.port} is already in use on 127.0.0.1 (another web server or a second certkeeper?)`);
    expect((err as ListenError).hint).toContain('--http-port 8080');
  });
});
