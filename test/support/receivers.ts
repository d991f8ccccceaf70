// Real receivers for alert channels: an HTTP server standing in for a webhook endpoint (Slack or a
// generic receiver) and an SMTP server (the smtp-server package) collecting mail. Both listen on
// 127.0.0.1 port 0 and close their open connections on teardown.
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface WebhookReply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * Decides the answer to the n-th request (0-based): 'reset' drops the connection without answering,
 * 'hang' never answers (until close()).
 */
export type WebhookResponder = (req: ReceivedRequest, index: number) => WebhookReply | 'reset' | 'hang';

export interface WebhookReceiver {
  /** Base URL plus `path`. */
  url: string;
  /** Every request that reached the handler, including failed ones. */
  requests: ReceivedRequest[];
  /** Connections dropped in 'reset' mode. */
  resets: number;
  /** Connections open right now (a client that gave up on a hanging request has closed its own). */
  readonly openConnections: number;
  respond(fn: WebhookResponder): void;
  close(): Promise<void>;
}

export const ok: WebhookResponder = () => ({ status: 200, body: 'ok' });
/** An endpoint that is down: every connection is accepted and dropped. */
export const down: WebhookResponder = () => 'reset';
/** An endpoint that reads the request and never answers: only the client's own deadline ends it. */
export const hang: WebhookResponder = () => 'hang';

export async function startWebhookReceiver(opts: { path?: string; responder?: WebhookResponder } = {}): Promise<WebhookReceiver> {
  const sockets = new Set<Socket>();
  let responder = opts.responder ?? ok;
  const receiver: WebhookReceiver = {
    url: '',
    requests: [],
    resets: 0,
    get openConnections() {
      return sockets.size;
    },
    respond(fn) {
      responder = fn;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const r: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json };
      const index = receiver.requests.length;
      receiver.requests.push(r);
      const reply = responder(r, index);
      if (reply === 'reset') {
        receiver.resets++;
        req.socket.destroy();
        return;
      }
      if (reply === 'hang') return;
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
      res.end(reply.body ?? '');
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  receiver.url = `http://127.0.0.1:${port}${opts.path ?? '/hook'}`;
  return receiver;
}

export interface ReceivedMail {
  from: string | undefined;
  to: string[];
  /** Header names lower-case, folded lines unfolded, encoded words decoded. */
  headers: Record<string, string>;
  subject: string;
  /** The decoded text body. */
  text: string;
  raw: string;
}

export interface SmtpReceiver {
  host: string;
  port: number;
  mails: ReceivedMail[];
  /** AUTH attempts: user names and whether the password matched. */
  logins: { user: string; ok: boolean }[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open right now. */
  readonly openConnections: number;
  close(): Promise<void>;
}

export interface SmtpReceiverOptions {
  auth?: { user: string; password: string };
  /**
   * A relay that stops answering: 'greeting' accepts the TCP connection and never sends its 220
   * greeting; 'data' takes the whole message and never confirms it (the client cannot know
   * whether the mail went out). Nothing is recorded in `mails` in either mode.
   */
  hang?: 'greeting' | 'data';
}

/** RFC 2047 encoded words (=?UTF-8?Q?…?= / =?UTF-8?B?…?=), which nodemailer uses for non-ASCII subjects. */
function decodeWords(s: string): string {
  return s.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=\s*(?==\?)?/g, (_m, _cs: string, enc: string, data: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(data, 'base64').toString('utf8')
      : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'),
  );
}

function decodeQuotedPrintable(s: string): string {
  const joined = s.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const c = joined[i] as string;
    const hex = joined.slice(i + 1, i + 3);
    if (c === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Enough MIME for single-part text mail, which is all the email channel sends. */
export function parseMail(raw: string): Pick<ReceivedMail, 'headers' | 'subject' | 'text'> {
  const split = raw.indexOf('\r\n\r\n');
  const head = split >= 0 ? raw.slice(0, split) : raw;
  const body = split >= 0 ? raw.slice(split + 4) : '';
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = decodeWords(line.slice(colon + 1).trim());
  }
  const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const text =
    cte === 'quoted-printable' ? decodeQuotedPrintable(body) : cte === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8') : body;
  return { headers, subject: headers.subject ?? '', text: text.replace(/\r\n/g, '\n') };
}

export async function startSmtpReceiver(opts: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const logins: SmtpReceiver['logins'] = [];
  let connections = 0;
  const server = new SMTPServer({
    // Plain SMTP on loopback: STARTTLS would need a certificate the client trusts, which is not
    // what these tests are about.
    disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    logger: false,
    // close() waits this long for clients that did not QUIT, instead of the default 30 s.
    closeTimeout: 500,
    // No PTR lookup of 127.0.0.1: the greeting comes at once (or, in 'greeting' mode, never).
    disableReverseLookup: true,
    onConnect(_session, cb) {
      connections++;
      // Never calling back means never greeting: smtp-server also stops reading the socket.
      if (opts.hang !== 'greeting') cb();
    },
    onAuth(auth, _session, cb) {
      const okLogin = auth.username === opts.auth?.user && auth.password === opts.auth?.password;
      logins.push({ user: auth.username ?? '', ok: okLogin });
      if (okLogin) cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (opts.hang === 'data') return;
        const raw = Buffer.concat(chunks).toString('utf8');
        const from = session.envelope.mailFrom;
        mails.push({
          from: from ? from.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          ...parseMail(raw),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    mails,
    logins,
    get connections() {
      return connections;
    },
    get openConnections() {
      return server.connections.size;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
