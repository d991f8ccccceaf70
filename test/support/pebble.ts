// Starts Debian's Pebble (Let's Encrypt's test CA) on free ports with a fake DNS answering
// 127.0.0.1, as the integration tests' ACME peer. PEBBLE_VA_NOSLEEP=1 removes its artificial
// validation delays; its 5% nonce rejection stays on so badNonce retries are exercised.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { startFakeDns, type FakeDns, type FakeDnsOptions } from './fake-dns.js';
import { freePort } from './ports.js';

export const PEBBLE_EAB = { kid: 'kid-1', hmacKey: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W' };

export function pebbleBinary(): string {
  for (const p of [process.env.PEBBLE_BIN, '/usr/bin/pebble', '/usr/local/bin/pebble'].filter(Boolean) as string[]) {
    if (existsSync(p)) return p;
  }
  throw new Error('pebble binary not found: install it with `apt-get install -y pebble` (Debian) or set PEBBLE_BIN');
}

export interface Pebble {
  directoryUrl: string;
  /** PEM of the self-signed certificate Pebble's API serves; trust it as the ACME CA bundle. */
  apiCaPem: string;
  apiCaFile: string;
  managementUrl: string;
  /** The port Pebble connects to for HTTP-01 validation. */
  httpPort: number;
  dns: FakeDns;
  /** The root that signs issued certificates (changes with every Pebble start). */
  issuingRootPem(): Promise<string>;
  stop(): Promise<void>;
  /** Kills Pebble at once, as a crash or a network cut would. */
  kill(): void;
  output(): string;
}

function selfSignedForLocalhost(): { certPem: string; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: 'pebble test API' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: new Agent({ ca }), timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface PebbleOptions {
  /** The port Pebble validates HTTP-01 on; a free one when omitted. */
  httpPort?: number;
  eab?: boolean;
  nxdomain?: (name: string) => boolean;
  onDnsQuery?: FakeDnsOptions['onQuery'];
  /**
   * Percentage of valid nonces Pebble rejects with badNonce (PEBBLE_WFE_NONCEREJECT); Pebble's
   * default is 5. 0 turns rejection off, 100 rejects every signed request.
   */
  nonceRejectPercent?: number;
  env?: Record<string, string>;
}

export async function startPebble(opts: PebbleOptions = {}): Promise<Pebble> {
  const bin = pebbleBinary();
  const dir = await mkdtemp(join(tmpdir(), 'certkeeper-pebble-'));
  const { certPem, keyPem } = selfSignedForLocalhost();
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await writeFile(certFile, certPem);
  await writeFile(keyFile, keyPem);
  const dns = await startFakeDns({
    ...(opts.nxdomain ? { nxdomain: opts.nxdomain } : {}),
    ...(opts.onDnsQuery ? { onQuery: opts.onDnsQuery } : {}),
  });
  const httpPort = opts.httpPort ?? (await freePort());
  let child: ChildProcess | undefined;
  let out = '';
  // A port can be taken between our probe and Pebble's bind; retry with new ports a few times.
  for (let attempt = 0; attempt < 5; attempt++) {
    const apiPort = await freePort();
    const mgmtPort = await freePort();
    const tlsPort = await freePort();
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${apiPort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: certFile,
        privateKey: keyFile,
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: opts.eab ?? false,
        ...(opts.eab ? { externalAccountMACKeys: { [PEBBLE_EAB.kid]: PEBBLE_EAB.hmacKey } } : {}),
      },
    };
    const configFile = join(dir, 'pebble-config.json');
    await writeFile(configFile, JSON.stringify(config));
    out = '';
    const proc = spawn(bin, ['-config', configFile, '-dnsserver', dns.server], {
      env: {
        ...process.env,
        PEBBLE_VA_NOSLEEP: '1',
        ...(opts.nonceRejectPercent !== undefined ? { PEBBLE_WFE_NONCEREJECT: String(opts.nonceRejectPercent) } : {}),
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const directoryUrl = `https://127.0.0.1:${apiPort}/dir`;
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        const r = await get(directoryUrl, certPem);
        if (r.status === 200) {
          ready = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!ready) {
      proc.kill('SIGKILL');
      continue;
    }
    child = proc;
    const managementUrl = `https://127.0.0.1:${mgmtPort}`;
    return {
      directoryUrl,
      apiCaPem: certPem,
      apiCaFile: certFile,
      managementUrl,
      httpPort,
      dns,
      issuingRootPem: async () => (await get(`${managementUrl}/roots/0`, certPem)).body,
      output: () => out,
      kill: () => {
        child?.kill('SIGKILL');
      },
      stop: async () => {
        if (child && child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child?.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
        await dns.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await dns.close();
  throw new Error(`pebble did not start within 10 s:\n${out}`);
}
