// A tiny DER reader (X.690), just enough to take two fields out of an X.509 certificate that
// node:crypto does not expose as bytes: the serial number's INTEGER content octets and the
// Authority Key Identifier's keyIdentifier. ARI (RFC 9773 §4.1) names a certificate by exactly
// these bytes; X509Certificate.serialNumber is hex without the sign byte, so it cannot serve.
// Pure: bytes in, bytes out.

export class DerError extends Error {
  override name = 'DerError';
}

/** One tag-length-value element: where its content starts and ends in the buffer. */
export interface Tlv {
  /** The identifier octet (class, constructed bit and tag number below 31). */
  tag: number;
  start: number;
  end: number;
}

/** Reads the element at `offset`. Definite lengths only, as DER requires (X.690 §10.1). */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated element at byte ${offset}`);
  const tag = buf[offset] as number;
  // High tag numbers (0x1f) never occur in the fields read here.
  if ((tag & 0x1f) === 0x1f) throw new DerError(`high tag number at byte ${offset}`);
  let len = buf[offset + 1] as number;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError(`unsupported length encoding at byte ${offset}`);
    if (start + n > limit) throw new DerError(`truncated length at byte ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number);
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new DerError(`element at byte ${offset} runs past its container`);
  return { tag, start, end };
}

/** The elements directly inside a constructed element. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let at = parent.start;
  while (at < parent.end) {
    const t = readTlv(buf, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OID = 0x06;
const OCTET_STRING = 0x04;
/** [0] EXPLICIT version and [3] EXPLICIT extensions of TBSCertificate (RFC 5280 §4.1). */
const VERSION_TAG = 0xa0;
const EXTENSIONS_TAG = 0xa3;
/** keyIdentifier [0] IMPLICIT OCTET STRING of AuthorityKeyIdentifier (RFC 5280 §4.2.1.1). */
const KEY_IDENTIFIER_TAG = 0x80;
/** 2.5.29.35, id-ce-authorityKeyIdentifier, as DER content octets. */
const AKI_OID = Uint8Array.of(0x55, 0x1d, 0x23);

function bytesEqual(buf: Uint8Array, t: Tlv, want: Uint8Array): boolean {
  if (t.end - t.start !== want.length) return false;
  for (let i = 0; i < want.length; i++) if (buf[t.start + i] !== want[i]) return false;
  return true;
}

function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found ${t ? `0x${t.tag.toString(16)}` : 'nothing'}`);
  return t;
}

export interface CertificateIds {
  /** Content octets of the serialNumber INTEGER, sign byte included. */
  serial: Uint8Array;
  /** The AuthorityKeyIdentifier's keyIdentifier; absent when the certificate has none. */
  authorityKeyId?: Uint8Array;
}

/** The serial and authority key identifier of a DER X.509 certificate. Throws DerError on malformed input. */
export function certificateIds(der: Uint8Array): CertificateIds {
  const cert = expect(readTlv(der, 0), SEQUENCE, 'Certificate');
  const tbs = expect(children(der, cert)[0], SEQUENCE, 'TBSCertificate');
  const fields = children(der, tbs);
  let i = fields[0]?.tag === VERSION_TAG ? 1 : 0;
  const serialTlv = expect(fields[i], INTEGER, 'serialNumber');
  const out: CertificateIds = { serial: der.slice(serialTlv.start, serialTlv.end) };
  // signature, issuer, validity, subject, subjectPublicKeyInfo, then optional [1] [2] [3].
  for (i += 6; i < fields.length; i++) {
    const f = fields[i] as Tlv;
    if (f.tag !== EXTENSIONS_TAG) continue;
    const list = expect(children(der, f)[0], SEQUENCE, 'Extensions');
    for (const ext of children(der, list)) {
      const parts = children(der, expect(ext, SEQUENCE, 'Extension'));
      const id = expect(parts[0], OID, 'extnID');
      if (!bytesEqual(der, id, AKI_OID)) continue;
      // extnValue is the last part (critical BOOLEAN DEFAULT FALSE may sit in between).
      const value = expect(parts[parts.length - 1], OCTET_STRING, 'extnValue');
      const aki = expect(readTlv(der, value.start, value.end), SEQUENCE, 'AuthorityKeyIdentifier');
      const keyId = children(der, aki).find((p) => p.tag === KEY_IDENTIFIER_TAG);
      if (keyId) out.authorityKeyId = der.slice(keyId.start, keyId.end);
      return out;
    }
  }
  return out;
}
