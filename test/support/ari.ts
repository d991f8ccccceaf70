// The ARI certificate identifier (RFC 9773 §4.1), computed independently of src/ so tests can
// address Pebble's renewalInfo resource and cross-check certkeeper's own computation.
import forge from 'node-forge';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

const AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';

const b64url = (binary: string): string => Buffer.from(binary, 'binary').toString('base64url');

function firstPemBlockDer(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m?.[1]) throw new Error('ariCertId: no PEM certificate block in the input');
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64').toString('binary');
}

/**
 * `base64url(AKI keyIdentifier) "." base64url(serial)` of the first certificate in `pem`, unpadded.
 * The serial is the content octets of the DER INTEGER, so a serial whose first byte is >= 0x80
 * keeps its leading zero byte, as RFC 9773 §4.1 requires.
 */
export function ariCertId(pem: string): string {
  const cert = asn1.fromDer(firstPemBlockDer(pem));
  const tbs = (cert.value as Asn1[])[0];
  if (!tbs || !Array.isArray(tbs.value)) throw new Error('ariCertId: not an X.509 certificate');
  const fields = tbs.value;
  // TBSCertificate starts with an optional explicit [0] version.
  const hasVersion = fields[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC && fields[0].type === 0;
  const serial = fields[hasVersion ? 1 : 0];
  if (!serial || serial.type !== asn1.Type.INTEGER || typeof serial.value !== 'string') throw new Error('ariCertId: the certificate has no serial number');
  const extsWrapper = fields.find((f) => f.tagClass === asn1.Class.CONTEXT_SPECIFIC && f.type === 3);
  const exts = Array.isArray(extsWrapper?.value) ? (extsWrapper.value[0]?.value as Asn1[] | undefined) : undefined;
  for (const ext of exts ?? []) {
    const parts = ext.value as Asn1[];
    if (asn1.derToOid(parts[0]?.value as string) !== AUTHORITY_KEY_IDENTIFIER) continue;
    const octets = parts[parts.length - 1]?.value as string;
    const aki = asn1.fromDer(octets);
    const keyId = (aki.value as Asn1[]).find((p) => p.tagClass === asn1.Class.CONTEXT_SPECIFIC && p.type === 0);
    if (!keyId || typeof keyId.value !== 'string') break;
    return `${b64url(keyId.value)}.${b64url(serial.value)}`;
  }
  throw new Error('ariCertId: the certificate has no Authority Key Identifier with a keyIdentifier; ARI cannot name it');
}

/**
 * Whether Pebble 2.10 can find the certificate named by `ariCertId(pem)` when an order names it in
 * `replaces`. Pebble looks the serial up as hex of the certID's bytes, but stores it without the
 * DER sign byte, so a serial whose DER form starts with 0x00 (about 1 in 256 of its serials) is
 * "not found" (500) although the certID is right. certkeeper then orders without `replaces`.
 */
export function pebbleAcceptsReplaces(pem: string): boolean {
  const serial = Buffer.from(ariCertId(pem).split('.')[1] ?? '', 'base64url');
  return serial[0] !== 0x00;
}
