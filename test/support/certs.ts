// Test certificate factory: X.509 certificates with any subject, issuer, SANs and dates,
// self-signed or signed by a test CA (with intermediates), RSA or ECDSA keys, and look-alikes of
// the default ("fake") certificates ingress controllers serve.
//
// Keys come from node:crypto and signatures are made by node:crypto; node-forge is used only to
// encode the ASN.1 structure. That is what makes ECDSA possible (forge cannot sign with EC keys)
// and keeps RSA fast (forge's pure-JS RSA is ~50 ms per signature).
import { X509Certificate, createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import forge from 'node-forge';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

export type TestKeyType = 'rsa-1024' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ecdsa-p256' | 'ecdsa-p384';

export interface TestKey {
  type: TestKeyType;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PKCS#8 PEM, what a kubernetes.io/tls Secret holds in tls.key. */
  pem: string;
}

/** A fresh key pair. RSA generation takes tens of milliseconds; prefer sharedKey in loops. */
export function generateTestKey(type: TestKeyType = 'rsa-2048'): TestKey {
  const pair =
    type === 'ecdsa-p256' || type === 'ecdsa-p384'
      ? generateKeyPairSync('ec', { namedCurve: type === 'ecdsa-p256' ? 'P-256' : 'P-384' })
      : generateKeyPairSync('rsa', { modulusLength: Number(type.slice(4)) });
  return { type, privateKey: pair.privateKey, publicKey: pair.publicKey, pem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

const keyCache = new Map<string, TestKey>();

/** One key per (type, slot) for the whole test process: cheap, and equal slots give equal keys. */
export function sharedKey(type: TestKeyType = 'rsa-2048', slot = 'default'): TestKey {
  const k = `${type}/${slot}`;
  let key = keyCache.get(k);
  if (!key) {
    key = generateTestKey(type);
    keyCache.set(k, key);
  }
  return key;
}

export interface DistinguishedName {
  CN?: string;
  O?: string;
  OU?: string;
  C?: string;
  ST?: string;
  L?: string;
}

export interface CertSpec {
  /** A DN, or just the common name. Default: the first SAN, else "test". */
  subject?: DistinguishedName | string;
  /** DNS names and IP addresses for subjectAltName (IPs detected). [] → no SAN extension. Default: [CN]. */
  sans?: readonly string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Used when notBefore/notAfter are missing: notBefore = now − 1 h, notAfter = notBefore + validDays. */
  now?: Date;
  /** Default 90 (leaves), 3650 (CAs). */
  validDays?: number;
  /** Signer; default: self-signed. */
  issuer?: TestCA;
  /** A key, or the type of a shared key (sharedKey(type, slot)). Default "rsa-2048". */
  key?: TestKey | TestKeyType;
  /** Slot for the shared key when `key` is a type; default "leaf" (CAs: "ca:<CN>"). */
  keySlot?: string;
  isCA?: boolean;
  pathLength?: number;
  /** Hex, positive; default 16 random bytes. */
  serial?: string;
  /** Extended key usages; default serverAuth for leaves, none for CAs. */
  extKeyUsage?: readonly ('serverAuth' | 'clientAuth')[];
}

export interface TestCert {
  /** The certificate alone (PEM). */
  cert: string;
  /** The private key (PKCS#8 PEM). */
  key: string;
  /** Leaf followed by its intermediates, without the root: a correct tls.crt ("fullchain.pem"). */
  chain: string;
  /** chain plus the root, for trust stores and "too much chain" cases. */
  chainWithRoot: string;
  der: Buffer;
  x509: X509Certificate;
  keyPair: TestKey;
  subject: DistinguishedName;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  issuer?: TestCA;
  isCA: boolean;
}

export interface TestCA extends TestCert {
  /** A leaf signed by this CA. */
  issue(spec?: Omit<CertSpec, 'issuer' | 'isCA'>): TestCert;
  /** An intermediate CA signed by this CA. */
  intermediate(spec?: Omit<CertSpec, 'issuer' | 'isCA'>): TestCA;
}

const OID = {
  CN: '2.5.4.3',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  rsaSha256: '1.2.840.113549.1.1.11',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;
const ctx = (tag: number, constructed: boolean, value: string | Asn1[]): Asn1 =>
  asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag as forge.asn1.Type, constructed, value);
const seq = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
const oid = (o: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(o).getBytes());
const octets = (bin: string): Asn1 => asn1.create(U, T.OCTETSTRING, false, bin);
const der = (node: Asn1): string => asn1.toDer(node).getBytes();
const bin = (b: Buffer): string => b.toString('binary');

function integer(hex: string): Asn1 {
  let h = hex.length % 2 === 1 ? `0${hex}` : hex;
  // DER INTEGERs are signed: a leading byte >= 0x80 needs a zero byte to stay positive.
  if (parseInt(h.slice(0, 2), 16) >= 0x80) h = `00${h}`;
  return asn1.create(U, T.INTEGER, false, forge.util.hexToBytes(h));
}

function name(dn: DistinguishedName): Asn1 {
  const order: (keyof DistinguishedName)[] = ['C', 'ST', 'L', 'O', 'OU', 'CN'];
  const rdns: Asn1[] = [];
  for (const k of order) {
    const v = dn[k];
    if (v === undefined) continue;
    // Countries are PrintableString by definition (RFC 5280 §A.1); everything else UTF8String.
    const value = k === 'C' ? asn1.create(U, T.PRINTABLESTRING, false, v) : asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(v));
    rdns.push(asn1.create(U, T.SET, true, [seq([oid(OID[k]), value])]));
  }
  return seq(rdns);
}

function time(d: Date): Asn1 {
  const y = d.getUTCFullYear();
  return y >= 1950 && y < 2050
    ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

function ipBytes(ip: string): string {
  if (isIPv4(ip)) return String.fromCharCode(...ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => String.fromCharCode(parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff)).join('');
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(asn1.create(U, T.BOOLEAN, false, '\xff'));
  parts.push(octets(der(value)));
  return seq(parts);
}

function keyUsageBits(bits: number[]): Asn1 {
  // Named bit list: bit 0 is the most significant bit of the first byte; trailing zero bits
  // are dropped in DER and their count goes in the leading "unused bits" byte.
  let v = 0;
  for (const b of bits) v |= 0x80 >> b;
  let unused = 0;
  while (unused < 7 && (v & (1 << unused)) === 0) unused++;
  return asn1.create(U, T.BITSTRING, false, String.fromCharCode(unused, v));
}

function signatureAlgorithm(key: TestKey): { alg: Asn1; hash: string } {
  if (key.type === 'ecdsa-p384') return { alg: seq([oid(OID.ecdsaSha384)]), hash: 'sha384' };
  if (key.type === 'ecdsa-p256') return { alg: seq([oid(OID.ecdsaSha256)]), hash: 'sha256' };
  return { alg: seq([oid(OID.rsaSha256), asn1.create(U, T.NULL, false, '')]), hash: 'sha256' };
}

function keyId(key: TestKey): string {
  return bin(createHash('sha1').update(key.publicKey.export({ type: 'spki', format: 'der' })).digest());
}

function toPem(d: Buffer): string {
  const b64 = d.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

function resolveKey(spec: CertSpec, isCA: boolean, cn: string): TestKey {
  if (spec.key !== undefined && typeof spec.key !== 'string') return spec.key;
  return sharedKey(spec.key ?? 'rsa-2048', spec.keySlot ?? (isCA ? `ca:${cn}` : 'leaf'));
}

/** Builds and signs a certificate. Self-signed unless `spec.issuer` is given. */
export function createCert(spec: CertSpec = {}): TestCert {
  const isCA = spec.isCA ?? false;
  const subject: DistinguishedName = typeof spec.subject === 'string' ? { CN: spec.subject } : { ...(spec.subject ?? {}) };
  if (subject.CN === undefined && spec.subject === undefined) subject.CN = spec.sans?.[0] ?? 'test';
  const sans = [...(spec.sans ?? (subject.CN !== undefined && !isCA ? [subject.CN] : []))];
  const keyPair = resolveKey(spec, isCA, subject.CN ?? '');
  const signer = spec.issuer;
  const signerKey = signer ? signer.keyPair : keyPair;
  const now = spec.now ?? new Date();
  const notBefore = spec.notBefore ?? new Date(now.getTime() - 3_600_000);
  const notAfter = spec.notAfter ?? new Date(notBefore.getTime() + (spec.validDays ?? (isCA ? 3650 : 90)) * 86_400_000);
  const { alg, hash } = signatureAlgorithm(signerKey);

  const exts: Asn1[] = [];
  const bc: Asn1[] = [];
  if (isCA) {
    bc.push(asn1.create(U, T.BOOLEAN, false, '\xff'));
    if (spec.pathLength !== undefined) bc.push(integer(spec.pathLength.toString(16)));
  }
  exts.push(extension(OID.basicConstraints, true, seq(bc)));
  const rsa = keyPair.type.startsWith('rsa');
  // digitalSignature(0), keyEncipherment(2) for RSA key transport, keyCertSign(5), cRLSign(6).
  exts.push(extension(OID.keyUsage, true, keyUsageBits(isCA ? [0, 5, 6] : rsa ? [0, 2] : [0])));
  const eku = spec.extKeyUsage ?? (isCA ? [] : ['serverAuth']);
  if (eku.length > 0) exts.push(extension(OID.extKeyUsage, false, seq(eku.map((u) => oid(OID[u])))));
  if (sans.length > 0) {
    const names = sans.map((s) => (isIPv4(s) || isIPv6(s) ? ctx(7, false, ipBytes(s)) : ctx(2, false, s)));
    exts.push(extension(OID.subjectAltName, false, seq(names)));
  }
  exts.push(extension(OID.subjectKeyIdentifier, false, octets(keyId(keyPair))));
  if (signer) exts.push(extension(OID.authorityKeyIdentifier, false, seq([ctx(0, false, keyId(signer.keyPair))])));

  const tbs = seq([
    ctx(0, true, [integer('2')]),
    integer(spec.serial ?? (randomBytes(16).toString('hex').replace(/^0+/, '') || '1')),
    alg,
    name(signer ? signer.subject : subject),
    seq([time(notBefore), time(notAfter)]),
    name(subject),
    asn1.fromDer(bin(keyPair.publicKey.export({ type: 'spki', format: 'der' }))),
    ctx(3, true, [seq(exts)]),
  ]);
  const tbsDer = Buffer.from(der(tbs), 'binary');
  const signature = sign(hash, tbsDer, signerKey.privateKey);
  const certDer = Buffer.from(der(seq([tbs, alg, asn1.create(U, T.BITSTRING, false, `\x00${bin(signature)}`)])), 'binary');
  const cert = toPem(certDer);
  const issuerChain = signer ? (signer.issuer ? signer.chain : '') : '';
  const chain = `${cert}${issuerChain}`;
  const root = signer ? rootOf(signer).cert : '';
  const out: TestCert = {
    cert,
    key: keyPair.pem,
    chain,
    chainWithRoot: signer ? `${chain}${root}` : chain,
    der: certDer,
    x509: new X509Certificate(certDer),
    keyPair,
    subject,
    sans,
    notBefore,
    notAfter,
    isCA,
  };
  if (signer) out.issuer = signer;
  return out;
}

function rootOf(ca: TestCA): TestCA {
  let c = ca;
  while (c.issuer) c = c.issuer;
  return c;
}

/** A CA (root when no issuer is given) that can issue leaves and intermediates. */
export function createCA(spec: Omit<CertSpec, 'isCA'> = {}): TestCA {
  const base = createCert({ subject: { CN: 'certkeeper test root CA', O: 'certkeeper tests' }, sans: [], ...spec, isCA: true });
  const ca: TestCA = {
    ...base,
    issue: (s = {}) => createCert({ ...s, issuer: ca }),
    intermediate: (s = {}) => createCA({ subject: { CN: `certkeeper test intermediate ${randomBytes(3).toString('hex')}`, O: 'certkeeper tests' }, ...s, issuer: ca }),
  };
  return ca;
}

/**
 * Look-alike of ingress-nginx's "Kubernetes Ingress Controller Fake Certificate" (self-signed,
 * O=Acme Co, SAN ingress.local), which it serves for hosts without a usable Secret.
 */
export function ingressNginxFakeCertificate(spec: Pick<CertSpec, 'now' | 'notBefore' | 'notAfter' | 'key'> = {}): TestCert {
  return createCert({
    validDays: 365,
    ...spec,
    subject: { O: 'Acme Co', CN: 'Kubernetes Ingress Controller Fake Certificate' },
    sans: ['ingress.local'],
    keySlot: 'ingress-nginx-fake',
  });
}

/** Look-alike of Traefik's "TRAEFIK DEFAULT CERT" (self-signed, SAN <hex>.<hex>.traefik.default). */
export function traefikDefaultCertificate(spec: Pick<CertSpec, 'now' | 'notBefore' | 'notAfter' | 'key'> = {}): TestCert {
  const h = (): string => randomBytes(16).toString('hex');
  return createCert({ validDays: 365, ...spec, subject: { CN: 'TRAEFIK DEFAULT CERT' }, sans: [`${h()}.${h()}.traefik.default`], keySlot: 'traefik-default' });
}

export interface TlsSecretSpec {
  name: string;
  namespace?: string;
  /** The certificate; its `chain` goes into tls.crt unless `leafOnly`. */
  cert?: TestCert;
  /** Override tls.crt / tls.key text (e.g. garbage, or another key). */
  crt?: string;
  key?: string;
  leafOnly?: boolean;
  /** "data" (base64, as the API returns) or "stringData" (plain, as manifests often have). Default data. */
  encoding?: 'data' | 'stringData';
  type?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Leave these keys out. */
  omit?: readonly ('tls.crt' | 'tls.key')[];
  /** Add app.kubernetes.io/managed-by: certkeeper. */
  managed?: boolean;
}

/** A Secret object like the API returns (or a manifest holds). */
export function tlsSecret(spec: TlsSecretSpec): Record<string, unknown> {
  const crt = spec.crt ?? (spec.cert ? (spec.leafOnly ? spec.cert.cert : spec.cert.chain) : undefined);
  const key = spec.key ?? spec.cert?.key;
  const values: Record<string, string> = {};
  if (crt !== undefined && !spec.omit?.includes('tls.crt')) values['tls.crt'] = crt;
  if (key !== undefined && !spec.omit?.includes('tls.key')) values['tls.key'] = key;
  const metadata: Record<string, unknown> = { name: spec.name };
  if (spec.namespace !== undefined) metadata.namespace = spec.namespace;
  const labels = { ...(spec.labels ?? {}), ...(spec.managed ? { 'app.kubernetes.io/managed-by': 'certkeeper' } : {}) };
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  if (spec.annotations) metadata.annotations = spec.annotations;
  const secret: Record<string, unknown> = { apiVersion: 'v1', kind: 'Secret', metadata, type: spec.type ?? 'kubernetes.io/tls' };
  if ((spec.encoding ?? 'data') === 'data') {
    secret.data = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  } else secret.stringData = values;
  return secret;
}
