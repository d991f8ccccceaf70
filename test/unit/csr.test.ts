// The CSR certkeeper sends to the CA (src/acme/keys.ts, written with node:crypto alone), read back
// by a peer nobody here wrote: openssl. It must verify (the signature covers what openssl parses)
// and ask for exactly the hosts, DNS names and IP addresses each in their own kind of SAN entry.
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createCsr, generatePrivateKey, type KeyType } from '../../src/acme/keys.js';

function openssl(args: string[], input: Buffer): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `openssl req -verify`, which (in OpenSSL 3.0) exits 0 either way and says which on stderr. */
function verifies(csr: Buffer): boolean {
  const r = spawnSync('openssl', ['req', '-noout', '-verify'], { input: csr, encoding: 'utf8' });
  return r.status === 0 && /self-signature verify OK/.test(r.stderr) && !/failure/.test(r.stderr);
}

const text = (csr: Buffer) => openssl(['req', '-noout', '-text'], csr);
const sanLine = (t: string) => /X509v3 Subject Alternative Name:\s*\n\s*(.*)/.exec(t)?.[1]?.trim();
const subjectLine = (t: string) => /Subject:(.*)/.exec(t)?.[1]?.trim();

describe('createCsr', () => {
  it.each<[KeyType, string]>([
    ['ecdsa-p256', 'ecdsa-with-SHA256'],
    ['ecdsa-p384', 'ecdsa-with-SHA384'],
    ['rsa-2048', 'sha256WithRSAEncryption'],
  ])('signs with a %s key (%s), verifies with openssl, and names every host', async (type, algorithm) => {
    const key = await generatePrivateKey(type);
    const csr = await createCsr(['shop.example.com', 'www.shop.example.com', '192.0.2.7', '2001:db8::1'], key);
    expect(csr.toString()).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE REQUEST-----\n$/);
    expect(verifies(csr)).toBe(true);
    const t = text(csr);
    expect(t).toContain(`Signature Algorithm: ${algorithm}`);
    expect(subjectLine(t)).toBe('CN = shop.example.com');
    expect(sanLine(t)).toBe('DNS:shop.example.com, DNS:www.shop.example.com, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:1');
    // The request carries the key's public half.
    const spki = openssl(['req', '-noout', '-pubkey'], csr);
    expect(spki).toBe(execFileSync('openssl', ['pkey', '-pubout'], { input: key, encoding: 'utf8' }));
  });

  it('is caught by openssl when a name is changed after signing (the check can fail)', async () => {
    const csr = await createCsr(['shop.example.com'], await generatePrivateKey('ecdsa-p256'));
    const der = Buffer.from(csr.toString().replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const at = der.lastIndexOf(Buffer.from('shop.example.com', 'ascii')); // the SAN entry, after the CN
    der[at] = 'x'.charCodeAt(0);
    const tampered = Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`);
    expect(sanLine(text(tampered))).toBe('DNS:xhop.example.com');
    expect(verifies(tampered)).toBe(false);
  });

  it('writes IPv6 addresses in every form as their 16 bytes', async () => {
    const key = await generatePrivateKey('ecdsa-p256');
    const csr = await createCsr(['ip.example.com', '::1', 'fe80::1:2', '::ffff:192.0.2.1', '2001:db8:0:0:1:0:0:1', '1::'], key);
    expect(verifies(csr)).toBe(true);
    expect(sanLine(text(csr))).toBe(
      'DNS:ip.example.com, IP Address:0:0:0:0:0:0:0:1, IP Address:FE80:0:0:0:0:0:1:2, IP Address:0:0:0:0:0:FFFF:C000:201, IP Address:2001:DB8:0:0:1:0:0:1, IP Address:1:0:0:0:0:0:0:0',
    );
  });

  it('leaves the CN out when the first name is longer than a CN may be (64), keeping it in the SANs', async () => {
    const long = `${'a'.repeat(60)}.example.com`;
    const csr = await createCsr([long, 'short.example.com'], await generatePrivateKey('ecdsa-p256'));
    expect(verifies(csr)).toBe(true);
    const t = text(csr);
    expect(subjectLine(t) ?? '').not.toContain('CN');
    expect(sanLine(t)).toBe(`DNS:${long}, DNS:short.example.com`);
  });

  it('encodes long SAN lists (multi-byte DER lengths)', async () => {
    const hosts = Array.from({ length: 100 }, (_, i) => `host-${i}.a-rather-long-domain-name.example.com`);
    const csr = await createCsr(hosts, await generatePrivateKey('rsa-2048'));
    expect(verifies(csr)).toBe(true);
    expect(sanLine(text(csr))).toBe(hosts.map((h) => `DNS:${h}`).join(', '));
  });
});
