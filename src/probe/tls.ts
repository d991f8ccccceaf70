// A TLS handshake against the ingress controller, as a browser would make it (SNI = the host), to
// see which certificate is really served. Judging the result is pure and lives in core/served.ts.
import { isIP } from 'node:net';
import tls, { type DetailedPeerCertificate, type SecureContext } from 'node:tls';
import { parseDerCertificate, type CertInfo } from '../core/cert.js';
import { describeAddress, type ProbeAddress, type TlsProbeResult } from '../core/served.js';
import { errorMessage } from '../errors.js';

export type { ProbeAddress, TlsHandshake, TlsProbeFailure, TlsProbeResult } from '../core/served.js';
export { judgeNoSniCertificate, judgeServedCertificate } from '../core/served.js';

export interface TlsProbeOptions {
  /** Where to connect: the controller's load balancer IP/name and port (443). */
  address: ProbeAddress;
  /**
   * The SNI name to send. Omitted, empty or an IP literal: the ClientHello carries no server_name
   * extension at all (RFC 6066 §3 forbids IP literals there), which is what old clients do.
   */
  servername?: string;
  /** Deadline for connect + handshake. */
  timeoutMs: number;
  /** Extra trusted roots (PEM), added to Node's bundled root store; for private CAs. */
  caBundle?: string;
}

// Building a context with ~150 roots costs more than the handshake; one per bundle is enough.
const contexts = new Map<string, SecureContext>();

function contextFor(caBundle: string | undefined): SecureContext | undefined {
  if (!caBundle) return undefined;
  let ctx = contexts.get(caBundle);
  if (!ctx) {
    ctx = tls.createSecureContext({ ca: [...tls.rootCertificates, caBundle] });
    contexts.set(caBundle, ctx);
  }
  return ctx;
}

function errorCode(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] };
  // With autoSelectFamily, a failed connect to a name with several addresses is an AggregateError.
  return err.code ?? err.errors?.[0]?.code ?? 'HandshakeFailed';
}

/** OpenSSL's "80FC…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:…" → "wrong version number". */
function readableMessage(e: Error): string {
  const m = /:SSL routines:[^:]*:([^:]+)/.exec(e.message);
  return m?.[1] ?? e.message;
}

function chainOf(peer: DetailedPeerCertificate): CertInfo[] {
  const chain: CertInfo[] = [];
  const seen = new Set<string>([peer.fingerprint256]);
  let cur = peer;
  // A root's issuerCertificate is itself; stop there or on any repeat.
  while (cur.issuerCertificate && cur.issuerCertificate !== cur && !seen.has(cur.issuerCertificate.fingerprint256)) {
    cur = cur.issuerCertificate;
    seen.add(cur.fingerprint256);
    chain.push(parseDerCertificate(cur.raw));
  }
  return chain;
}

/** One handshake. Never throws: failures come back as `{ ok: false, error, message }`. */
export function probeTls(options: TlsProbeOptions): Promise<TlsProbeResult> {
  const { address, timeoutMs } = options;
  const sni = options.servername && isIP(options.servername) === 0 ? options.servername : undefined;
  return new Promise((resolve) => {
    let settled = false;
    let socket: tls.TLSSocket | undefined;
    const finish = (r: TlsProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(r);
    };
    const fail = (error: string, message: string): void => finish({ ok: false, address, servername: sni, error, message });
    const timer = setTimeout(() => fail('ETIMEDOUT', `no TLS handshake with ${describeAddress(address)} within ${timeoutMs} ms`), timeoutMs);

    try {
      socket = connect(address, sni, options.caBundle);
    } catch (e) {
      // Synchronous argument errors (a port out of range) are failures of this probe too.
      fail(errorCode(e), errorMessage(e));
      return;
    }
    const s = socket;
    s.once('secureConnect', () => {
      try {
        const peer = s.getPeerCertificate(true);
        if (!peer || !peer.raw) {
          fail('NoPeerCertificate', 'the server completed the handshake without a certificate');
          return;
        }
        const leaf = parseDerCertificate(peer.raw);
        let authorized = s.authorized;
        // Node types this as Error; at runtime it is OpenSSL's verify code as a string.
        let authorizationError = s.authorizationError ? String(s.authorizationError) : undefined;
        if (authorized && sni) {
          const identity = tls.checkServerIdentity(sni, peer);
          if (identity) {
            authorized = false;
            authorizationError = (identity as NodeJS.ErrnoException).code ?? 'ERR_TLS_CERT_ALTNAME_INVALID';
          }
        }
        finish({
          ok: true,
          address,
          servername: sni,
          leaf,
          chain: chainOf(peer),
          authorized,
          authorizationError,
          protocol: s.getProtocol(),
          cipher: s.getCipher()?.name,
        });
      } catch (e) {
        fail('NoPeerCertificate', `the served certificate cannot be parsed: ${errorMessage(e)}`);
      }
    });
    // `on`, not `once`: a second error after the first must not become an uncaught exception.
    s.on('error', (e) => fail(errorCode(e), readableMessage(e)));
    s.on('close', () => fail('ECONNRESET', `${describeAddress(address)} closed the connection before the TLS handshake completed`));
  });
}

function connect(address: ProbeAddress, sni: string | undefined, caBundle: string | undefined): tls.TLSSocket {
  const secureContext = contextFor(caBundle);
  return tls.connect({
    host: address.host,
    port: address.port,
    // '' rather than undefined: no server_name extension whatever the connect host is.
    servername: sni ?? '',
    rejectUnauthorized: false,
    // Node would check the name against the connect address (an IP); probeTls checks the SNI name.
    checkServerIdentity: () => undefined,
    ...(secureContext ? { secureContext } : {}),
  });
}
