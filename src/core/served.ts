// What the ingress controller really serves, judged against what the Secret holds. Pure: the probe
// (src/probe/tls.ts) does the handshake and hands the facts over; `now` is a parameter.
import { defaultCertificateKind, describeDefaultCertificate, displayName, type CertInfo } from './cert.js';
import { describeObject, finding, type Finding, type ObjectRef } from './findings.js';
import { nameCovers } from './hosts.js';

/** A TCP endpoint: an IP or a name, and a port. */
export interface ProbeAddress {
  host: string;
  port: number;
}

/**
 * Typical failure codes: Node's socket errors, `ETIMEDOUT` for the probe's own deadline, and
 * OpenSSL's `ERR_SSL_*` codes for handshake alerts (e.g. `ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR`
 * when the server aborts, `ERR_SSL_WRONG_VERSION_NUMBER` when the port speaks plain HTTP).
 */
export type TlsProbeErrorCode =
  | 'ECONNREFUSED'
  | 'ETIMEDOUT'
  | 'ECONNRESET'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'ENOTFOUND'
  | 'NoPeerCertificate'
  | (string & {});

/** A completed handshake. */
export interface TlsHandshake {
  ok: true;
  address: ProbeAddress;
  /** The SNI name sent, or undefined when the ClientHello carried no server_name extension. */
  servername: string | undefined;
  leaf: CertInfo;
  /**
   * The certificates above the leaf, nearest first, as OpenSSL assembled them: what the server sent,
   * completed by the root from the trust store when one was found.
   */
  chain: CertInfo[];
  /** Chain verifies against the trust store and (when SNI was sent) the leaf names the SNI host. */
  authorized: boolean;
  /** OpenSSL's verify code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`, …) or `ERR_TLS_CERT_ALTNAME_INVALID`. */
  authorizationError: string | undefined;
  protocol: string | null;
  cipher: string | undefined;
}

export interface TlsProbeFailure {
  ok: false;
  address: ProbeAddress;
  servername: string | undefined;
  error: TlsProbeErrorCode;
  message: string;
}

export type TlsProbeResult = TlsHandshake | TlsProbeFailure;

export function describeAddress(a: ProbeAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function day(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function ago(then: Date, now: Date): string {
  const ms = now.getTime() - then.getTime();
  const abs = Math.abs(ms);
  const text = abs >= 86_400_000 ? `${Math.round(abs / 86_400_000)} days` : abs >= 3_600_000 ? `${Math.round(abs / 3_600_000)} hours` : `${Math.round(abs / 60_000)} minutes`;
  return ms >= 0 ? `${text} ago` : `in ${text}`;
}

function names(info: Pick<CertInfo, 'sans' | 'ipSans' | 'subjectCN'>): string {
  const all = [...info.sans, ...info.ipSans];
  if (all.length === 0) return info.subjectCN ? `CN ${info.subjectCN} (no subjectAltName)` : 'no names';
  const shown = all.slice(0, 5).join(', ');
  return all.length > 5 ? `${shown} and ${all.length - 5} more` : shown;
}

function isStaging(info: Pick<CertInfo, 'issuer'>): boolean {
  return /\(STAGING\)|staging/i.test(info.issuer);
}

/** Why a chain does not verify, in words, and what to do. Codes are OpenSSL's (X509_V_ERR_* without the prefix). */
export function explainAuthorizationError(
  code: string,
  served: Pick<TlsHandshake, 'leaf' | 'chain' | 'servername'>,
  now: Date,
  /** The Ingress the host belongs to: the renew command is for it alone. */
  ingress?: ObjectRef,
): { reason: string; hint: string } {
  const { leaf } = served;
  // Whether certkeeper manages the Secret is not known here: say what works in either case.
  const renew = ingress?.namespace
    ? `if certkeeper manages ${describeObject(ingress)}, \`certkeeper renew --ingress ${ingress.namespace}/${ingress.name} --force\` (with --adopt for a Secret it did not create) replaces it; otherwise replace the certificate in its Secret`
    : 'if certkeeper manages the Ingress, `certkeeper renew --ingress NAMESPACE/NAME --force` (with --adopt for a Secret it did not create) replaces it; otherwise replace the certificate in its Secret';
  const top = served.chain[served.chain.length - 1] ?? leaf;
  const privateCa = 'for a private or internal CA, pass its root certificate with --ca-bundle';
  const PrivateCa = `F${privateCa.slice(1)}`;
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return {
        reason: `the server sent no intermediate certificate linking the leaf (issued by "${leaf.issuer}") to a trusted root`,
        hint: `tls.crt must hold the leaf followed by its intermediates (fullchain.pem, not cert.pem); certkeeper writes the full chain, so a leaf-only Secret was written by something else. ${PrivateCa}`,
      };
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return {
        reason: `the chain ends at "${top.issuer}", which is not in the trust store`,
        hint: isStaging(top)
          ? 'this is a Let\'s Encrypt staging certificate, which no browser trusts: switch the Ingress to the production CA (certkeeper.dev/ca: production)'
          : `${privateCa}; for a public CA, include the missing intermediate in tls.crt`,
      };
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return { reason: `the chain ends in the self-signed root "${top.subject || displayName(top)}", which is not trusted`, hint: privateCa };
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return {
        reason: `the certificate is self-signed ("${leaf.subject || displayName(leaf)}")`,
        hint: 'replace it with a CA-issued certificate: annotate the Ingress with kubernetes.io/tls-acme: "true" so certkeeper issues one, or pass the certificate itself with --ca-bundle if it is deliberately pinned',
      };
    case 'CERT_HAS_EXPIRED':
      return {
        reason: `the certificate expired on ${day(leaf.notAfter)} (${ago(leaf.notAfter, now)})`,
        hint: `${renew}; if the Secret already holds a newer one, the controller is serving a stale copy`,
      };
    case 'CERT_NOT_YET_VALID':
      return {
        reason: `the certificate is not valid before ${day(leaf.notBefore)} (${ago(leaf.notBefore, now)})`,
        hint: 'check the clock of the machine running the probe and of the issuer',
      };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return {
        reason: `the certificate does not name ${served.servername ?? 'the host'}; it is for ${names(leaf)}`,
        hint: `the certificate in the Secret must list every host of the Ingress spec.tls entry: ${renew}`,
      };
    default:
      return { reason: `verification failed with ${code}`, hint: `${privateCa}; otherwise inspect the chain with \`openssl s_client -showcerts -servername HOST -connect ADDRESS\`` };
  }
}

function failureHint(f: TlsProbeFailure): string {
  const where = describeAddress(f.address);
  const code = f.error;
  if (code === 'ECONNREFUSED') {
    return `nothing listens on ${where}: check that the ingress controller's Service exposes port ${f.address.port} (type LoadBalancer, or hostPort/NodePort on bare metal) and that the probed address is the controller's`;
  }
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return `no answer from ${where}: a firewall or security group drops the traffic, or the load balancer address in the Ingress status is stale`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `the address ${f.address.host} does not resolve: check DNS`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') {
    return `${where} does not speak TLS (plain HTTP on the HTTPS port?): check the Service's targetPort for 443`;
  }
  return `the server ended the handshake${f.servername ? ` for SNI ${f.servername}` : ''}: controllers that refuse unknown names (Traefik with sniStrict, ingress-nginx with ssl-passthrough) do this when they have no certificate for the host; check the controller logs`;
}

export interface JudgeServedInput {
  host: string;
  served: TlsProbeResult;
  /** The leaf certificate of the Secret the Ingress names, when there is one to compare with. */
  expected?: CertInfo;
  ingressRef: ObjectRef;
  now: Date;
}

/**
 * Judges one SNI probe. At most one of DefaultCertificateServed / ServedCertificateMismatch /
 * TlsProbeFailed, plus ServedCertificateUntrusted when the chain itself is at fault. A default
 * certificate is reported only as such: its being untrusted follows and adds nothing.
 */
export function judgeServedCertificate(input: JudgeServedInput): Finding[] {
  const { host, served, expected, ingressRef, now } = input;
  const where = describeAddress(served.address);
  if (!served.ok) {
    return [
      finding(
        'TlsProbeFailed',
        ingressRef,
        `TLS handshake with ${where} for ${host} failed: ${served.error}${served.message && served.message !== served.error ? ` (${served.message})` : ''}`,
        failureHint(served),
        host,
      ),
    ];
  }
  const { leaf } = served;
  const kind = defaultCertificateKind(leaf);
  if (kind) {
    return [
      finding(
        'DefaultCertificateServed',
        ingressRef,
        `${where} serves ${describeDefaultCertificate(kind)} for ${host}: the ${ingressRef.kind === 'Gateway' || ingressRef.kind === 'ListenerSet' ? 'Gateway' : 'ingress'} controller has no usable certificate for this host`,
        ingressRef.kind === 'Gateway' || ingressRef.kind === 'ListenerSet'
          ? `usual causes: the listener's certificateRefs Secret is missing, invalid (wrong type, unparsable PEM, key not matching) or in another namespace without a ReferenceGrant there; no HTTPS listener has hostname ${host} (a typo of the HTTPRoute hostname). The listener conditions say which (kubectl describe gateway); \`certkeeper check\` reports them for ${describeObject(ingressRef)}`
          : `usual causes: the Secret named in spec.tls is missing or exists only in another namespace (an Ingress can only use Secrets of its own namespace); spec.tls[].hosts does not list ${host} exactly as the rule host; the Secret is invalid (wrong type, unparsable PEM, key not matching). Run \`certkeeper check\` and read the Secret findings for ${describeObject(ingressRef)}; the controller log names the reason too`,
        host,
      ),
    ];
  }
  const out: Finding[] = [];
  const coversHost = leaf.sans.some((s) => nameCovers(s, host));
  if (expected && expected.fingerprint !== leaf.fingerprint) {
    out.push(mismatch(host, where, leaf, expected, coversHost, ingressRef, now));
  }
  if (!served.authorized && served.authorizationError) {
    // A certificate for other hosts is already explained by the mismatch.
    const nameOnly = served.authorizationError === 'ERR_TLS_CERT_ALTNAME_INVALID';
    if (!(nameOnly && out.length > 0)) {
      const { reason, hint } = explainAuthorizationError(served.authorizationError, served, now, ingressRef);
      out.push(finding('ServedCertificateUntrusted', ingressRef, `the certificate ${where} serves for ${host} does not verify: ${reason}`, hint, host));
    }
  }
  return out;
}

function mismatch(host: string, where: string, served: CertInfo, expected: CertInfo, coversHost: boolean, ingressRef: ObjectRef, now: Date): Finding {
  const facts = `served ${served.fingerprint.slice(0, 23)}… issued ${day(served.notBefore)}, Secret holds ${expected.fingerprint.slice(0, 23)}… issued ${day(expected.notBefore)}`;
  if (!coversHost) {
    return finding(
      'ServedCertificateMismatch',
      ingressRef,
      `${where} serves a certificate for other hosts (${names(served)}) instead of the Secret's certificate for ${host} (${facts})`,
      `another Ingress's certificate answers for ${host}: find the Ingress whose spec.tls lists ${names(served)}; a catch-all or wildcard TLS entry, or two Ingresses claiming ${host} with different Secrets, make the controller pick one (ingress-nginx keeps the oldest Ingress's)`,
      host,
    );
  }
  if (served.notBefore.getTime() < expected.notBefore.getTime()) {
    return finding(
      'ServedCertificateMismatch',
      ingressRef,
      `${where} serves an older certificate for ${host} than the Secret holds (${facts}; served one expires ${ago(served.notAfter, now)}): the controller has not picked up the renewed Secret`,
      'controllers reload Secrets within seconds; check the controller log for reload errors and that it watches this namespace (--watch-namespace); restart the controller pods as a last resort. If a load balancer or CDN terminates TLS in front of the controller, the stale certificate is uploaded there and must be replaced there',
      host,
    );
  }
  return finding(
    'ServedCertificateMismatch',
    ingressRef,
    `${where} serves a different certificate for ${host} than the Secret holds (${facts})`,
    'something else manages a certificate for this host (cert-manager, a TLS-terminating load balancer, a second Ingress with another Secret), or the Secret was rolled back; make one of them the owner',
    host,
  );
}

export interface JudgeNoSniInput {
  served: TlsProbeResult;
  /** What the finding is about: the controller's Service, or an Ingress when probing per Ingress. */
  object: ObjectRef;
  now: Date;
}

/**
 * What a client that sends no SNI gets: information, not an error. Such clients (Android 2.x,
 * Windows XP browsers, Java 6, scripts and monitors connecting by IP) are rare, and controllers
 * can only answer them with one certificate.
 */
export function judgeNoSniCertificate(input: JudgeNoSniInput): Finding[] {
  const { served, object, now } = input;
  const where = describeAddress(served.address);
  if (!served.ok) {
    return [
      finding(
        'NoSniDefaultCertificate',
        object,
        `clients without SNI get no certificate from ${where}: the handshake fails with ${served.error}`,
        'normal for controllers that require SNI; nothing to do unless old clients or monitors connecting by IP matter',
      ),
    ];
  }
  const { leaf } = served;
  const kind = defaultCertificateKind(leaf);
  const what = kind
    ? `${describeDefaultCertificate(kind)} (${names(leaf)})`
    : `a certificate for ${names(leaf)}, issued by "${leaf.issuerCN ?? leaf.issuer}", ${leaf.notAfter.getTime() <= now.getTime() ? 'expired' : 'valid until'} ${day(leaf.notAfter)}`;
  return [
    finding(
      'NoSniDefaultCertificate',
      object,
      `clients without SNI (very old browsers and Android, Java 6, monitors connecting by IP) are served ${what} by ${where}`,
      kind
        ? 'if such clients matter, point the controller\'s default certificate at a certkeeper-managed Secret (ingress-nginx: --default-ssl-certificate=NAMESPACE/SECRET; Traefik: a TLSStore named default); otherwise nothing to do'
        : 'nothing to do; this is the controller\'s default certificate',
    ),
  ];
}
