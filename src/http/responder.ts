// The HTTP-01 responder (RFC 8555 §8.3): GET /.well-known/acme-challenge/<token> → the key
// authorization as text/plain; everything else 404. It faces the internet on port 80, so it is
// strict: a token charset, small header limits, no request bodies, short timeouts, a cap on
// connections, and no socket kept for a client that sends or reads too slowly.
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

/** One challenge request, answered or not. */
export interface ChallengeRequest {
  token: string;
  found: boolean;
  host: string | undefined;
  remote: string | undefined;
}

export interface ResponderOptions {
  lookup: ChallengeLookup;
  extraRoutes?: ExtraRoute[];
  /** Called for each challenge request, answered or not (host, token, whether it was known). */
  onChallenge?: (e: ChallengeRequest) => void;
}

/** How much of itself the responder lends to one client. */
export interface ResponderLimits {
  /**
   * Connections held at once; one more is closed as soon as it is accepted. Validators open a
   * handful per challenge (Let's Encrypt asks from several perspectives), so the default leaves
   * room for hundreds of concurrent orders while keeping file descriptors for everything else.
   */
  maxConnections?: number;
  /** Time to send the complete request headers (408 after it). Counted from the connection for the first request. */
  headersTimeoutMs?: number;
  /** Time to send the complete request. */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs?: number;
  /** A socket with no bytes moving either way (a client that stopped reading its answer) is destroyed after this. */
  idleTimeoutMs?: number;
}

export const RESPONDER_DEFAULTS: Required<ResponderLimits> = {
  maxConnections: 1000,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 10_000,
};

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
  /** Connections closed at once because `maxConnections` were open. */
  readonly refusedConnections: number;
  close(): Promise<void>;
}

/** The status line for a client error Node's parser or timers raised. */
function clientErrorStatus(code: string | undefined): string {
  if (code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  // Node raises this when headersTimeout or requestTimeout runs out (RFC 9110 §15.5.9).
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  return '400 Bad Request';
}

/** Starts the responder; listen failures become a ListenError with a hint (port 80 in use, no privileges). */
export async function startResponder(opts: ResponderOptions & ResponderLimits & { port: number; host?: string }): Promise<Responder> {
  const d = RESPONDER_DEFAULTS;
  const limits: Required<ResponderLimits> = {
    maxConnections: opts.maxConnections ?? d.maxConnections,
    headersTimeoutMs: opts.headersTimeoutMs ?? d.headersTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs ?? d.requestTimeoutMs,
    keepAliveTimeoutMs: opts.keepAliveTimeoutMs ?? d.keepAliveTimeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs ?? d.idleTimeoutMs,
  };
  const server = createServer(
    {
      // Validators send a handful of short headers; 8 KiB is generous and caps memory per socket.
      maxHeaderSize: 8 * 1024,
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the header and request deadlines only this often (30 s by default), so a
      // client sending a header byte every few seconds would otherwise keep its socket far longer.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    (req, res) => handleChallengeRequest(opts, req, res),
  );
  server.maxRequestsPerSocket = 100;
  // Beyond the cap Node destroys a new connection as soon as it is accepted ('drop').
  server.maxConnections = limits.maxConnections;
  let refusedConnections = 0;
  server.on('drop', () => refusedConnections++);
  // Inactivity in either direction (a client that never reads its answer stops the writes
  // moving): Node destroys the socket when nothing else handles the timeout.
  server.timeout = limits.idleTimeoutMs;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable) socket.end(`HTTP/1.1 ${clientErrorStatus(err.code)}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
    // end() waits for the client to read and close; one that does neither must not keep the socket.
    setTimeout(() => socket.destroy(), 1_000).unref();
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
    get refusedConnections() {
      return refusedConnections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
