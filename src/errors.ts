// A small set of error classes, one per kind of failure. Each message names the object, the action
// that failed and, in `hint`, what a user can do. cli.ts turns them into text and exit codes.
import type { Finding } from './core/findings.js';

export abstract class CertkeeperError extends Error {
  abstract readonly kind: 'config' | 'acme' | 'cluster' | 'probe' | 'io' | 'listen' | 'refused';
  /** What the user can do about it; printed under the message. */
  readonly hint: string | undefined;
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.hint = hint;
  }
}

/** Bad flags, environment or values: exit code 2, nothing was attempted. */
export class ConfigError extends CertkeeperError {
  readonly kind = 'config';
  override name = 'ConfigError';
}

/** Short ACME problem type names (RFC 8555 §6.7 without the urn:ietf:params:acme:error: prefix). */
export type AcmeProblemType =
  | 'rateLimited'
  | 'unauthorized'
  | 'connection'
  | 'dns'
  | 'rejectedIdentifier'
  | 'caa'
  | 'badNonce'
  | 'malformed'
  | 'serverInternal'
  | 'externalAccountRequired'
  | 'accountDoesNotExist'
  | 'incorrectResponse'
  | 'tls'
  | 'orderNotReady'
  | 'badCSR'
  | string;

const HINTS: Record<string, string> = {
  rateLimited:
    'the CA refuses more requests for now; wait until the retry time (certkeeper backs off on its own) and check that nothing re-orders in a loop',
  unauthorized:
    'the CA fetched the challenge but did not get the expected answer: make sure http://HOST/.well-known/acme-challenge/ reaches certkeeper (run `certkeeper check --probe`)',
  connection:
    'the CA could not connect to port 80 of the host: open port 80 to the internet and make sure it reaches the ingress controller (NodePort and bare-metal controllers often do not listen on 80)',
  dns: 'the CA could not resolve the host: create the DNS record (A/AAAA) pointing at your ingress controller, and wait for it to propagate',
  rejectedIdentifier: 'the CA will not issue for this name (policy, reserved or invalid name); use a name under a public domain you control',
  caa: 'a CAA DNS record forbids this CA from issuing for the domain; add the CA (e.g. letsencrypt.org) to the CAA record',
  externalAccountRequired: 'this CA requires external account binding: pass --eab-kid and --eab-hmac-key from your CA account',
  incorrectResponse: 'the answer served at the challenge URL was not the key authorization; something else answers /.well-known/acme-challenge/',
  tls: 'a redirect to https reached a server whose TLS handshake failed; serve the challenge on plain http or fix the TLS endpoint',
};

/** A problem document returned by the ACME server, or a failed challenge. */
export class AcmeError extends CertkeeperError {
  readonly kind = 'acme';
  override name = 'AcmeError';
  constructor(
    message: string,
    readonly problem: {
      type: AcmeProblemType;
      detail: string;
      status?: number;
      host?: string;
      /** Every identifier whose validation failed, when the order failed validation. */
      failedHosts?: string[];
      url?: string;
      /** When the CA says to try again (Retry-After), if it did. */
      retryAfter?: Date;
    },
    hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, hint ?? hintFor(problem.type, problem.detail), options);
  }
}

/** The hint follows what went wrong, which the detail sometimes says better than the type. */
function hintFor(type: string, detail: string): string | undefined {
  // Boulder and Pebble refuse a bad binding as "unauthorized", which would read as an HTTP-01 failure.
  if (/external ?account ?binding|\beab\b/i.test(detail) && type !== 'externalAccountRequired') {
    return 'the CA refused the external account binding: copy --eab-kid and --eab-hmac-key again from your account page at the CA (the HMAC key is base64url; some CAs accept each pair only once)';
  }
  // Pebble reports a name that does not resolve as a "connection" problem, Boulder as "dns".
  if (/could not resolve|NXDOMAIN|no valid A records|DNS problem/i.test(detail)) return HINTS.dns;
  if (/redirect/i.test(detail) && type === 'connection') {
    return 'the challenge URL redirects somewhere the CA cannot follow; let /.well-known/acme-challenge/ through on plain http (no https redirect for that path)';
  }
  return HINTS[type];
}

/** The ACME server could not be reached at all: DNS, TCP or TLS failure, before any ACME response. */
export class CaUnreachableError extends CertkeeperError {
  readonly kind = 'acme';
  override name = 'CaUnreachableError';
  constructor(
    readonly url: string,
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `cannot reach the ACME server at ${url}: ${detail}`,
      code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'EAI_AGAIN'
        ? 'check the --directory URL and that this machine can reach it (proxy, firewall, DNS)'
        : code.startsWith('ERR_TLS') || code.includes('CERT') || code.includes('SELF_SIGNED')
          ? 'the ACME server\'s TLS certificate is not trusted; for a private CA pass its root with --acme-ca-bundle'
          : 'check the --directory URL and the network path to it',
      options,
    );
  }
}

/** A Kubernetes API request failed. */
export class ClusterError extends CertkeeperError {
  readonly kind = 'cluster';
  override name = 'ClusterError';
  constructor(
    message: string,
    /**
     * `attempts` is set when transient failures were retried before giving up; `unreachable` when
     * no usable answer came at all (refused, reset, timed out, or still 503 Service Unavailable
     * after the retries); `deniedBy` says who refused a 403.
     */
    readonly request: {
      verb: string;
      resource: string;
      namespace?: string;
      name?: string;
      status?: number;
      reason?: string;
      attempts?: number;
      unreachable?: boolean;
      deniedBy?: 'RBAC' | 'admission webhook' | 'ResourceQuota';
    },
    hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, hint, options);
  }
}

/**
 * The challenge path does not reach certkeeper through the controller: the self-check failed
 * before the CA validated anything. Carries the Http01* findings that say why and how to fix it.
 */
export class SelfCheckError extends CertkeeperError {
  readonly kind = 'probe';
  override name = 'SelfCheckError';
  constructor(
    message: string,
    hint: string,
    readonly findings: readonly Finding[],
  ) {
    super(message, hint);
  }
}

/**
 * certkeeper refused an order before asking the CA: the CA's profile rules (ProfileUnknown,
 * ProfileNotAllowed) or its published rate limits (RateLimitAhead) would refuse it there.
 */
export class OrderRefusedError extends CertkeeperError {
  readonly kind = 'refused';
  override name = 'OrderRefusedError';
  constructor(
    readonly code: 'ProfileUnknown' | 'ProfileNotAllowed' | 'RateLimitAhead',
    message: string,
    hint: string,
  ) {
    super(message, hint);
  }
}

/** Reading or writing local files (--out, account store). */
export class IoError extends CertkeeperError {
  readonly kind = 'io';
  override name = 'IoError';
}

/** The challenge responder could not listen. */
export class ListenError extends CertkeeperError {
  readonly kind = 'listen';
  override name = 'ListenError';
  constructor(
    readonly address: string,
    readonly port: number,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    const where = `${address}:${port}`;
    const [message, hint] =
      code === 'EADDRINUSE'
        ? [
            `port ${port} is already in use on ${address} (another web server or a second certkeeper?)`,
            `stop whatever listens on ${where} for the duration of the order, or run with --http-port 8080 and forward port 80 to it (a reverse proxy or an iptables redirect)`,
          ]
        : code === 'EACCES'
          ? [
              `not permitted to listen on port ${port} (ports below 1024 need privileges)`,
              `run as root, grant the capability with \`setcap cap_net_bind_service=+ep "$(command -v node)"\`, or use --http-port 8080 and forward port 80 to it`,
            ]
          : code === 'EADDRNOTAVAIL'
            ? [`the address ${address} is not on this machine`, 'pass an address of one of this machine\'s interfaces with --http-address, or leave it out to listen on all']
            : [`cannot listen on ${where}: ${code}`, 'check --http-address and --http-port'];
    super(message, hint, options);
  }
}

/**
 * The Kubernetes API gave no answer at all, after the adapter's retries: whatever a pass tries next
 * fails the same way, so it stops instead of ordering certificates it could not store.
 */
export function isApiUnreachable(e: unknown): boolean {
  return e instanceof ClusterError && e.request.unreachable === true;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
