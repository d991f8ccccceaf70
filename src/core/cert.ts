// PEM → facts about certificates. Pure: node:crypto's X509Certificate and KeyObject parse and
// compare; nothing here reads files, the network or the clock.
import { X509Certificate, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ariCertId } from './ari.js';

export interface CertInfo {
  /** DNS names of the subjectAltName extension, lower-case, in certificate order. */
  sans: string[];
  /** IP addresses in the subjectAltName extension. */
  ipSans: string[];
  notBefore: Date;
  notAfter: Date;
  /** The subject DN as "KEY=value, KEY=value"; "" when the subject is empty (tlsserver/shortlived certificates). */
  subject: string;
  issuer: string;
  /** Absent from certificates without a subject, which CAs issue more and more: name them with displayName. */
  subjectCN: string | undefined;
  issuerCN: string | undefined;
  /** Organisation (O=) of the subject, used to recognise default certificates. */
  subjectO: string | undefined;
  serial: string;
  /** SHA-256 fingerprint of the DER certificate, upper-case hex with colons (as openssl prints). */
  fingerprint: string;
  /** The ARI certificate identifier (RFC 9773 §4.1); absent without an Authority Key Identifier. */
  certId?: string;
  selfSigned: boolean;
  isCA: boolean;
  keyType: string;
  /** The remaining certificates of the PEM bundle (the chain), parsed the same way. */
  chain: CertInfo[];
  pem: string;
}

export class CertParseError extends Error {
  override name = 'CertParseError';
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Splits a PEM bundle into its certificate blocks, ignoring any text around them. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(PEM_CERT)?.map((b) => `${b}\n`) ?? [];
}

function dnField(dn: string, field: string): string | undefined {
  // X509Certificate renders a DN as one "KEY=value" per line.
  for (const line of dn.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq) === field) return line.slice(eq + 1);
  }
  return undefined;
}

function parseSans(altNames: string | undefined): { dns: string[]; ip: string[] } {
  const dns: string[] = [];
  const ip: string[] = [];
  if (!altNames) return { dns, ip };
  // Node quotes entries that contain separators ("DNS:\"a,b\""); split on ", " outside quotes.
  const parts = altNames.match(/(?:[^,"]+|"(?:[^"\\]|\\.)*")+/g) ?? [];
  for (const part of parts) {
    const p = part.trim();
    const colon = p.indexOf(':');
    if (colon < 0) continue;
    const kind = p.slice(0, colon);
    let value = p.slice(colon + 1);
    if (value.startsWith('"') && value.endsWith('"')) value = JSON.parse(value) as string;
    if (kind === 'DNS') dns.push(value.toLowerCase());
    else if (kind === 'IP Address') ip.push(value);
  }
  return { dns, ip };
}

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${d?.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') return `ECDSA ${d?.namedCurve ?? '?'}`;
  return key.asymmetricKeyType ?? 'unknown';
}

/** A detail of a certificate that cannot be read must not cost the rest: the CA already issued it. */
function tryRead<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

function infoOf(x: X509Certificate, pem: string): CertInfo {
  const { dns, ip } = tryRead(() => parseSans(x.subjectAltName), { dns: [] as string[], ip: [] as string[] });
  // Node returns undefined, not "", for an empty DN, whatever @types/node says; Let's Encrypt's
  // tlsserver and shortlived profiles (and Pebble 2.10) issue certificates whose subject is empty.
  const subject = tryRead(() => (x.subject as string | undefined) ?? '', '');
  const issuer = tryRead(() => (x.issuer as string | undefined) ?? '', '');
  let selfSigned = false;
  if (subject === issuer) {
    try {
      selfSigned = x.verify(x.publicKey);
    } catch {
      selfSigned = false;
    }
  }
  const info: CertInfo = {
    sans: dns,
    ipSans: ip,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    subject: subject.replace(/\n/g, ', '),
    issuer: issuer.replace(/\n/g, ', '),
    subjectCN: dnField(subject, 'CN'),
    issuerCN: dnField(issuer, 'CN'),
    subjectO: dnField(subject, 'O'),
    serial: x.serialNumber,
    fingerprint: x.fingerprint256,
    selfSigned,
    isCA: tryRead(() => x.ca, false),
    keyType: tryRead(() => describeKey(x.publicKey), 'unknown'),
    chain: [],
    pem,
  };
  const certId = tryRead(() => ariCertId(x.raw), undefined);
  if (certId !== undefined) info.certId = certId;
  return info;
}

/**
 * A memo for pure, costly parses: X.509 parsing and private-key parsing dominated a pass over
 * 1,000 Secrets, and the service repeats passes over the same Secrets. A pass looks every
 * certificate up in the same order, so a memo smaller than the cluster would miss on every lookup
 * of every pass: its capacity is well above the certificates one cluster holds. Two generations
 * instead of a least-recently-used order: when the young one is full it becomes the old one, and
 * hits in the old one move to the young one, so entries used in the last pass stay. (A Map kept in
 * LRU order by delete-and-set on every hit cost 20 µs a lookup at 10,000 entries.) At most twice
 * `max` entries; it never holds private keys, only results keyed by digests of them.
 */
class Memo<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string, compute: () => V): V {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const v = this.old.get(key) ?? compute();
    if (this.young.size >= this.max) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, v);
    return v;
  }
}

/** Distinct certificates (leaves and intermediates) and key checks kept per generation. */
export const MEMO_ENTRIES = 20_000;
const blocks = new Memo<CertInfo | CertParseError>(MEMO_ENTRIES);
const keyChecks = new Memo<KeyCheck>(MEMO_ENTRIES);

/**
 * One PEM certificate block, parsed once per process. Memoised per block rather than per bundle:
 * every Secret issued by one CA repeats the same intermediates, which are then parsed once.
 */
function parseBlock(block: string, index: number): CertInfo {
  const r = blocks.get(block, () => {
    try {
      return Object.freeze(infoOf(new X509Certificate(block), block));
    } catch (e) {
      return new CertParseError((e as Error).message);
    }
  });
  if (r instanceof CertParseError) throw new CertParseError(`certificate ${index + 1} of the PEM bundle cannot be parsed: ${r.message}`);
  return r;
}

/**
 * Parses the first certificate of a PEM bundle (the leaf) and the rest as its chain. The parsed
 * certificates are shared between callers with the same PEM: treat them as read-only.
 */
export function parseCertificate(pem: string): CertInfo {
  const found = splitPemCertificates(pem);
  if (found.length === 0) throw new CertParseError('no PEM certificate block ("-----BEGIN CERTIFICATE-----") found');
  const [leaf, ...chain] = found.map(parseBlock) as [CertInfo, ...CertInfo[]];
  return { ...leaf, chain };
}

/** Parses DER (as a TLS peer certificate arrives) into the same shape. */
export function parseDerCertificate(der: Buffer): CertInfo {
  const x = new X509Certificate(der);
  return infoOf(x, x.toString());
}

export type KeyCheck = { ok: true; keyType: string } | { ok: false; reason: 'Unparsable' | 'Mismatch'; message: string };

/** Does the private key (PKCS#8, PKCS#1 or SEC1 PEM) belong to the leaf certificate? */
export function checkKeyMatches(certPem: string, keyPem: string): KeyCheck {
  // Keyed by digests: the memo must not keep private key material around.
  const key = `${createHash('sha256').update(certPem).digest('base64')}|${createHash('sha256').update(keyPem).digest('base64')}`;
  return keyChecks.get(key, () => checkKeyMatchesUncached(certPem, keyPem));
}

function checkKeyMatchesUncached(certPem: string, keyPem: string): KeyCheck {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    return { ok: false, reason: 'Unparsable', message: `the private key cannot be parsed: ${(e as Error).message}` };
  }
  const first = splitPemCertificates(certPem)[0];
  if (!first) return { ok: false, reason: 'Unparsable', message: 'the certificate PEM has no certificate block' };
  const cert = new X509Certificate(first);
  const a = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const b = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (!a.equals(b)) {
    return { ok: false, reason: 'Mismatch', message: 'the private key does not belong to the certificate (their public keys differ)' };
  }
  return { ok: true, keyType: describeKey(key) };
}

export type DefaultCertificateKind = 'IngressNginxFake' | 'TraefikDefault';

/**
 * Recognises the default ("fake") certificates ingress controllers serve when they have no usable
 * Secret for a host. Browsers show them as "Kubernetes Ingress Controller Fake Certificate",
 * a name many users first read as an attack.
 */
export function defaultCertificateKind(info: Pick<CertInfo, 'subjectCN' | 'subjectO' | 'sans' | 'issuerCN'>): DefaultCertificateKind | undefined {
  if (info.subjectCN === 'Kubernetes Ingress Controller Fake Certificate') return 'IngressNginxFake';
  if (info.subjectO === 'Acme Co' && info.sans.includes('ingress.local')) return 'IngressNginxFake';
  if (info.subjectCN === 'TRAEFIK DEFAULT CERT' || info.sans.some((s) => s.endsWith('.traefik.default'))) return 'TraefikDefault';
  return undefined;
}

export function describeDefaultCertificate(kind: DefaultCertificateKind): string {
  return kind === 'IngressNginxFake'
    ? 'ingress-nginx\'s "Kubernetes Ingress Controller Fake Certificate"'
    : 'Traefik\'s "TRAEFIK DEFAULT CERT"';
}

/**
 * The name to show for a certificate: its subject CN, else its first SAN (certificates without a
 * subject name their hosts only in subjectAltName), else the subject DN.
 */
export function displayName(info: Pick<CertInfo, 'subjectCN' | 'sans' | 'subject'> & { ipSans?: readonly string[] }): string {
  return info.subjectCN ?? info.sans[0] ?? info.ipSans?.[0] ?? (info.subject !== '' ? info.subject : 'a certificate without subject or subjectAltName');
}

/** Whole lifetime of a certificate in milliseconds. */
export function lifetimeMs(info: Pick<CertInfo, 'notBefore' | 'notAfter'>): number {
  return info.notAfter.getTime() - info.notBefore.getTime();
}
