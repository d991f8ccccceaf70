// Certificate keys and the CSR that asks for a certificate, from node:crypto alone. acme-client's
// CSR builder needs @peculiar/x509 and its ASN.1 schemas, about 15 MiB of memory and a tenth of
// the CPU of a whole `certkeeper issue`, to encode what is a few hundred bytes of DER: a PKCS#10
// request (RFC 2986) with a subjectAltName extension (RFC 5280 §4.2.1.6), written below.
import { createPrivateKey, createPublicKey, generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { KEY_TYPES, type KeyType } from '../core/annotations.js';

const generate = promisify(generateKeyPair);

export { KEY_TYPES, type KeyType };

/** A new private key as PKCS#8 PEM, the format kubernetes.io/tls Secrets and every controller accept. */
export async function generatePrivateKey(type: KeyType): Promise<string> {
  const { privateKey } =
    type === 'ecdsa-p256' || type === 'ecdsa-p384'
      ? await generate('ec', { namedCurve: type === 'ecdsa-p256' ? 'P-256' : 'P-384' })
      : await generate('rsa', { modulusLength: Number(type.slice('rsa-'.length)) });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The longest value an X.509 commonName may hold (RFC 5280 ub-common-name). */
const MAX_COMMON_NAME = 64;

// ---- DER (X.690), just what a CSR needs ------------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octetString = (b: Buffer) => tlv(0x04, b);
const utf8String = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
/** A BIT STRING of whole bytes (no unused bits). */
const bitString = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const NULL = Buffer.from([0x05, 0x00]);

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const base128: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      base128.unshift((v % 128) | (base128.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

const OID = {
  commonName: '2.5.4.3',
  subjectAltName: '2.5.29.17',
  extensionRequest: '1.2.840.113549.1.9.14',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
} as const;

/** An IP literal as the 4 or 16 bytes of a GeneralName iPAddress. */
function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // Expand "::" into the zero groups it stands for; an embedded IPv4 tail becomes two groups.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (v4) {
    const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
    text = `${text.slice(0, -v4.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** subjectAltName: dNSName [2] IA5String, iPAddress [7] OCTET STRING (context-specific, implicit). */
function subjectAltName(hosts: readonly string[]): Buffer {
  const names = hosts.map((h) => (isIP(h) ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, 'ascii'))));
  return sequence(oid(OID.subjectAltName), octetString(sequence(...names)));
}

/** The signature algorithm for a key, with the hash acme-client uses for it (SHA-384 for P-384). */
function signatureAlgorithm(key: KeyObject): { hash: string; algorithm: Buffer } {
  if (key.asymmetricKeyType === 'ec') {
    return key.asymmetricKeyDetails?.namedCurve === 'secp384r1'
      ? { hash: 'sha384', algorithm: sequence(oid(OID.ecdsaWithSHA384)) }
      : { hash: 'sha256', algorithm: sequence(oid(OID.ecdsaWithSHA256)) };
  }
  if (key.asymmetricKeyType === 'rsa') return { hash: 'sha256', algorithm: sequence(oid(OID.sha256WithRSAEncryption), NULL) };
  throw new Error(`cannot build a CSR with a ${key.asymmetricKeyType ?? 'unknown'} key: certkeeper issues RSA and ECDSA certificates`);
}

/**
 * A CSR (PEM) for `hosts`, signed with `keyPem`. Every host is a subjectAltName entry (DNS names
 * as dNSName, IP addresses as iPAddress). The first host becomes the subject CN when it fits;
 * CAs take the names from the SAN extension, so a long first name simply leaves the CN out.
 */
export async function createCsr(hosts: readonly string[], keyPem: string): Promise<Buffer> {
  const key = createPrivateKey(keyPem);
  // An IP address is no subject CN (RFC 8738 certificates carry it as an iPAddress SAN only).
  const first = hosts.find((h) => isIP(h) === 0);
  const subject = first !== undefined && first.length <= MAX_COMMON_NAME ? sequence(set(sequence(oid(OID.commonName), utf8String(first)))) : sequence();
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const extensions = sequence(subjectAltName(hosts));
  const attributes = tlv(0xa0, sequence(oid(OID.extensionRequest), set(extensions)));
  const info = sequence(Buffer.from([0x02, 0x01, 0x00]), subject, spki, attributes);
  const { hash, algorithm } = signatureAlgorithm(key);
  // ECDSA signatures are DER (SEQUENCE of r and s), as X.509 wants them: node's default.
  const signature = sign(hash, info, key);
  const der = sequence(info, algorithm, bitString(signature));
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`);
}
