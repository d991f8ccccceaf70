// A tiny authoritative-for-everything DNS server for Pebble's validator (-dnsserver): every A
// query answers 127.0.0.1, so HTTP-01 validation reaches the responder under test. Names for which
// `nxdomain(name)` is true answer NXDOMAIN, to test how an unresolvable host fails.
// It listens on UDP and TCP on one port: Pebble 2.4 asks over UDP, Pebble 2.10 only over TCP
// (upstream "Always query DNS records over TCP instead of UDP", #540).
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';

export interface FakeDns {
  address: string;
  port: number;
  /** host:port as Pebble's -dnsserver wants it. */
  server: string;
  queries: { name: string; type: number }[];
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let i = offset;
  for (;;) {
    const len = msg[i];
    if (len === undefined) throw new Error('truncated name');
    if (len === 0) return { name: labels.join('.'), next: i + 1 };
    if ((len & 0xc0) !== 0) throw new Error('compressed question names are not expected');
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += 1 + len;
  }
}

const A = 1;

export interface FakeDnsOptions {
  nxdomain?: (name: string) => boolean;
  answer?: string;
  /** Sees every query before it is answered; return false to drop it unanswered. */
  onQuery?: (name: string, type: number) => boolean | void;
}

/** The answer to one query message, or undefined to stay silent (malformed, or dropped by onQuery). */
function answerFor(msg: Buffer, opts: FakeDnsOptions, answer: number[], queries: FakeDns['queries']): Buffer | undefined {
  try {
    if (msg.length < 12) return undefined;
    const id = msg.readUInt16BE(0);
    const { name, next } = readName(msg, 12);
    const qtype = msg.readUInt16BE(next);
    const question = msg.subarray(12, next + 4);
    queries.push({ name: name.toLowerCase(), type: qtype });
    if (opts.onQuery?.(name.toLowerCase().replace(/\.$/, ''), qtype) === false) return undefined;
    const nx = opts.nxdomain?.(name.toLowerCase().replace(/\.$/, '')) ?? false;
    const withAnswer = !nx && qtype === A;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    // QR=1, opcode 0, AA=1, RD copied, RA=1; RCODE 3 (NXDOMAIN) or 0.
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | (nx ? 3 : 0), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(withAnswer ? 1 : 0, 6);
    const parts = [header, question];
    if (withAnswer) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
      rr.writeUInt16BE(A, 2);
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(4, 10);
      answer.forEach((b, i) => rr.writeUInt8(b, 12 + i));
      parts.push(rr);
    }
    return Buffer.concat(parts);
  } catch {
    // A malformed query gets no answer, like a real server dropping garbage.
    return undefined;
  }
}

/** DNS over TCP (RFC 1035 §4.2.2): each message is preceded by its two-byte length. */
function serveTcp(conn: TcpSocket, respond: (msg: Buffer) => Buffer | undefined): void {
  let buffered = Buffer.alloc(0);
  conn.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2) {
      const len = buffered.readUInt16BE(0);
      if (buffered.length < 2 + len) break;
      const reply = respond(buffered.subarray(2, 2 + len));
      buffered = buffered.subarray(2 + len);
      if (reply) {
        const framed = Buffer.alloc(2 + reply.length);
        framed.writeUInt16BE(reply.length, 0);
        reply.copy(framed, 2);
        conn.write(framed);
      }
    }
  });
  conn.on('error', () => conn.destroy());
}

function listenUdp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

function listenTcp(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export async function startFakeDns(opts: FakeDnsOptions = {}): Promise<FakeDns> {
  const answer = (opts.answer ?? '127.0.0.1').split('.').map(Number);
  const queries: FakeDns['queries'] = [];
  const respond = (msg: Buffer): Buffer | undefined => answerFor(msg, opts, answer, queries);
  // One -dnsserver address serves both transports, so TCP must get the port UDP was given; another
  // process may hold that TCP port, then both start over on a new one.
  for (let attempt = 0; ; attempt++) {
    const udp = await listenUdp(0);
    const { address, port } = udp.address();
    let tcp: Server;
    try {
      tcp = await listenTcp(port);
    } catch (e) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (attempt < 10 && (e as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
      throw e;
    }
    udp.on('message', (msg, rinfo) => {
      const reply = respond(msg);
      if (reply) udp.send(reply, rinfo.port, rinfo.address);
    });
    const connections = new Set<TcpSocket>();
    tcp.on('connection', (conn) => {
      connections.add(conn);
      conn.on('close', () => connections.delete(conn));
      serveTcp(conn, respond);
    });
    return {
      address,
      port,
      server: `${address}:${port}`,
      queries,
      close: async () => {
        for (const c of connections) c.destroy();
        await Promise.all([
          new Promise<void>((resolve) => udp.close(() => resolve())),
          new Promise<void>((resolve) => tcp.close(() => resolve())),
        ]);
      },
    };
  }
}
