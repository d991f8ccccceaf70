// Certificate keys come from node:crypto; acme-client only builds the CSR from them.
import { generateKeyPair } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import acme from 'acme-client';

const generate = promisify(generateKeyPair);

import { KEY_TYPES, type KeyType } from '../core/annotations.js';

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

/**
 * A CSR for `hosts` (DNS names and IP addresses, which become iPAddress SANs), signed with
 * `keyPem`. The first DNS name becomes the subject CN when it fits; CAs take the names from the
 * SAN extension (and profiles without a CN ignore it), so a long name or an IP-only CSR simply
 * leaves the CN out.
 */
export async function createCsr(hosts: readonly string[], keyPem: string): Promise<Buffer> {
  const first = hosts.find((h) => isIP(h) === 0);
  const data: { altNames: string[]; commonName?: string } = { altNames: [...hosts] };
  if (first !== undefined && first.length <= MAX_COMMON_NAME) data.commonName = first;
  const [, csr] = await acme.crypto.createCsr(data, keyPem);
  return csr;
}
