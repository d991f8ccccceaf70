// The HTTP-01 responder (RFC 8555 §8.3): GET /.well-known/acme-challenge/<token> → the key
// authorization as text/plain; everything else 404. It faces the internet on port 80, so it is
// strict: a token charset, small header limits, no request bodies, short timeouts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListenError } from '../errors.js';
import type { ChallengeLookup } from '../ports.js';

export const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
/** ACME tokens are base64url (RFC 8555 §8.1) with at least 128 bits of entropy (22+ characters). */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
/** Validators send short GETs; anything with a body is not a validator. */
const MAX_BODY = 0;

/** Extra routes served by the same server (health, metrics). Return true when handled. */
export type ExtraRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface ResponderOptions {
  lookup: ChallengeLookup;
  extraRoutes?: ExtraRoute[];
  /** Called for each challenge request, answered or not (host, token, whether it was known). */
  onChallenge?: (e: { token: string; found: boolean; host: string | undefined; remote: string | undefined }) => void;
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

export function handleChallengeRequest(opts: ResponderOptions, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const path = url.split('?', 1)[0] ?? '/';
  const declared = Number(req.headers['content-length'] ?? '0');
  if (req.headers['transfer-encoding'] !== undefined || !Number.isFinite(declared) || declared > MAX_BODY) {
    // Close: we will not read a body we did not ask for.
    send(res, 413, 'request bodies are not accepted\n', { connection: 'close' });
    req.socket.destroySoon?.();
    return;
  }
  for (const route of opts.extraRoutes ?? []) {
    if (route(req, res)) return;
  }
  if (!path.startsWith(CHALLENGE_PREFIX)) {
    send(res, 404, 'not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    return;
  }
  const token = path.slice(CHALLENGE_PREFIX.length);
  if (!TOKEN.test(token)) {
    send(res, 404, 'not found\n');
    return;
  }
  const answer = opts.lookup.lookup(token);
  opts.onChallenge?.({ token, found: answer !== undefined, host: req.headers.host, remote: req.socket.remoteAddress });
  if (answer === undefined) {
    send(res, 404, 'unknown challenge token\n');
    return;
  }
  if (req.method === 'HEAD') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(answer)), 'cache-control': 'no-store' });
    res.end();
    return;
  }
  // RFC 8555 §8.3: the body is the key authorization; validators trim whitespace, we add none.
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(answer)), 'cache-control': 'no-store' });
  res.end(answer);
}

export interface Responder {
  server: Server;
  address: AddressInfo;
  close(): Promise<void>;
}

/** Starts the responder; listen failures become a ListenError with a hint (port 80 in use, no privileges). */
export async function startResponder(opts: ResponderOptions & { port: number; host?: string }): Promise<Responder> {
  const server = createServer(
    {
      // Validators send a handful of short headers; 8 KiB is generous and caps memory per socket.
      maxHeaderSize: 8 * 1024,
      requestTimeout: 10_000,
      headersTimeout: 5_000,
      keepAliveTimeout: 5_000,
    },
    (req, res) => handleChallengeRequest(opts, req, res),
  );
  server.maxRequestsPerSocket = 100;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(new ListenError(opts.host ?? '0.0.0.0', opts.port, e.code ?? 'ERROR', { cause: e }));
    };
    server.once('error', onError);
    server.listen({ port: opts.port, host: opts.host }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
