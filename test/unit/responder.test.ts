// The HTTP-01 responder faces the internet on port 80: it answers known tokens exactly and
// refuses everything else cheaply. Real sockets, raw requests where clients would normalise them.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryChallengeStore } from '../../src/http/memory-store.js';
import { startResponder, type Responder } from '../../src/http/responder.js';
import { ListenError } from '../../src/errors.js';

const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const KEY_AUTH = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
let responder: Responder;
const store = new MemoryChallengeStore();
const seen: { token: string; found: boolean }[] = [];

/** Sends raw bytes and returns the whole response text (the server closes or we time out). */
function raw(request: string, port = responder.address.port): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
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

describe('the HTTP-01 responder under slow and greedy clients', () => {
  // Short limits, so each case ends in well under a second; the defaults are 5 s, 10 s, 5 s, 10 s.
  const limits = { maxConnections: 3, headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300, idleTimeoutMs: 500 };
  let strict: Responder;
  const open: Socket[] = [];

  beforeAll(async () => {
    strict = await startResponder({
      lookup: store,
      port: 0,
      host: '127.0.0.1',
      ...limits,
      // An answer far larger than the socket buffers (as /metrics can grow), so an unread one stalls the writes.
      extraRoutes: [
        (req, res) => {
          if (req.url !== '/big') return false;
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(Buffer.alloc(32 * 1024 * 1024, 'x'));
          return true;
        },
      ],
    });
  });
  afterAll(async () => {
    for (const s of open) s.destroy();
    await strict?.close();
  });

  const connections = () => new Promise<number>((resolve, reject) => strict.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

  /** A connection that records what comes back and when it closed. */
  function client(): { socket: Socket; text: () => string; closed: Promise<number> } {
    const started = performance.now();
    const socket = connect(strict.address.port, '127.0.0.1');
    open.push(socket);
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (out += c));
    socket.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now() - started)));
    return { socket, text: () => out, closed };
  }

  it('answers 408 Request Timeout when the headers do not arrive in time, and closes', async () => {
    const c = client();
    c.socket.write(`GET /.well-known/acme-challenge/${TOKEN} HTTP/1.1\r\nHost: shop.example.com\r\n`);
    const after = await c.closed;
    expect(status(c.text())).toBe(408);
    expect(after).toBeGreaterThanOrEqual(limits.headersTimeoutMs - 20);
    expect(after).toBeLessThan(3_000);
  });

  it('drops a client that sends its headers a byte at a time', async () => {
    const c = client();
    const request = `GET /.well-known/acme-challenge/${TOKEN} HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: ${'x'.repeat(200)}\r\n\r\n`;
    let sent = 0;
    // Every byte keeps the socket busy, so only the deadline for the whole header can end it.
    const drip = setInterval(() => {
      if (sent < request.length && !c.socket.destroyed) c.socket.write(request[sent++] ?? '');
    }, 20);
    try {
      const after = await c.closed;
      expect(sent).toBeLessThan(request.length);
      expect(status(c.text())).toBe(408);
      expect(after).toBeLessThan(3_000);
    } finally {
      clearInterval(drip);
    }
  });

  it('closes a connection that never sends anything', async () => {
    const c = client();
    expect(await c.closed).toBeLessThan(3_000);
    expect(c.text()).not.toContain(KEY_AUTH);
  });

  it('does not keep the socket of a client that never reads its answer', async () => {
    const c = client();
    c.socket.pause();
    c.socket.write('GET /big HTTP/1.1\r\nHost: shop.example.com\r\n\r\n');
    await vi.waitFor(async () => expect(await connections()).toBe(1), { timeout: 2_000, interval: 10 });
    // The writes stall on the unread answer; only the inactivity deadline ends it.
    await vi.waitFor(async () => expect(await connections()).toBe(0), { timeout: 3_000, interval: 20 });
  });

  it('closes connections beyond the cap at once, and serves again when there is room', async () => {
    const held = [client(), client(), client()];
    await vi.waitFor(async () => expect(await connections()).toBe(3), { timeout: 2_000, interval: 10 });
    const before = strict.refusedConnections;
    const extra = client();
    expect(await extra.closed).toBeLessThan(limits.headersTimeoutMs);
    expect(extra.text()).toBe('');
    expect(strict.refusedConnections).toBe(before + 1);
    for (const h of held) h.socket.destroy();
    await vi.waitFor(async () => expect(await connections()).toBe(0), { timeout: 2_000, interval: 10 });
    expect(status(await raw(`GET /.well-known/acme-challenge/${TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, strict.address.port))).toBe(200);
  });
});
