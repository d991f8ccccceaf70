// A tiny authoritative-for-everything DNS server for Pebble's validator (-dnsserver): every A
// query answers 127.0.0.1, so HTTP-01 validation reaches the responder under test. Names for which
// `nxdomain(name)` is true answer NXDOMAIN, to test how an unresolvable host fails.
import { createSocket, type Socket } from 'node:dgram';

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

export async function startFakeDns(opts: FakeDnsOptions = {}): Promise<FakeDns> {
  const answer = (opts.answer ?? '127.0.0.1').split('.').map(Number);
  const socket: Socket = createSocket('udp4');
  const queries: FakeDns['queries'] = [];
  socket.on('message', (msg, rinfo) => {
    try {
      if (msg.length < 12) return;
      const id = msg.readUInt16BE(0);
      const { name, next } = readName(msg, 12);
      const qtype = msg.readUInt16BE(next);
      const question = msg.subarray(12, next + 4);
      queries.push({ name: name.toLowerCase(), type: qtype });
      if (opts.onQuery?.(name.toLowerCase().replace(/\.$/, ''), qtype) === false) return;
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
      socket.send(Buffer.concat(parts), rinfo.port, rinfo.address);
    } catch {
      // A malformed query gets no answer, like a real server dropping garbage.
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { address, port } = socket.address();
  return {
    address,
    port,
    server: `${address}:${port}`,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
