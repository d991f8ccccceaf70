// Starts Pebble (Let's Encrypt's test CA) on free ports with a fake DNS answering 127.0.0.1, as
// the integration tests' ACME peer: Debian 12's 2.4 (/usr/bin/pebble) or Debian sid's 2.10, which
// scripts/bootstrap.mjs unpacks into .tools/sid (profiles, ARI, no CN by default).
// PEBBLE_VA_NOSLEEP=1 removes its artificial validation delays; its 5% nonce rejection stays on so
// badNonce retries are exercised.
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { ariCertId } from './ari.js';
import { checkoutRoot } from './checkout.js';
import { startFakeDns, type FakeDns, type FakeDnsOptions } from './fake-dns.js';
import { freePort } from './ports.js';

export const PEBBLE_EAB = { kid: 'kid-1', hmacKey: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W' };

export type PebbleVersion = '2.4' | '2.10';

/**
 * The Pebble startPebble runs when no version is asked for: Debian sid's 2.10, the CA that behaves
 * like Let's Encrypt in 2026 (profiles, ARI, no CN outside classic). Debian 12's 2.4 (no ARI, no
 * profiles) is the old-CA check, asked for by name.
 */
export const DEFAULT_PEBBLE_VERSION: PebbleVersion = '2.10';

export interface PebbleProfile {
  /** What the directory's meta.profiles shows for it. */
  description: string;
  validitySeconds: number;
  /** Pebble's promoteCommonName: copy the first SAN into the subject CN, as Let's Encrypt's classic does. */
  commonName: boolean;
}

/**
 * Let's Encrypt's three profiles as Pebble 2.10 can imitate them: lifetime and CN. Pebble enforces
 * nothing else per profile (no identifier-type or name-count limits, same EKU and SKID for all).
 */
export const PEBBLE_PROFILES: Readonly<Record<'classic' | 'tlsserver' | 'shortlived', PebbleProfile>> = {
  classic: { description: 'https://letsencrypt.org/docs/profiles#classic', validitySeconds: 90 * 86_400, commonName: true },
  tlsserver: { description: 'https://letsencrypt.org/docs/profiles#tlsserver', validitySeconds: 45 * 86_400, commonName: false },
  shortlived: { description: 'https://letsencrypt.org/docs/profiles#shortlived', validitySeconds: 160 * 3_600, commonName: false },
};

/** Where `ensureSidTools` in scripts/bootstrap.mjs unpacks Debian sid's packages. */
function sidPebble(): string {
  return join(checkoutRoot(), '.tools', 'sid', 'usr', 'bin', 'pebble');
}

export function pebbleBinary(version: PebbleVersion = DEFAULT_PEBBLE_VERSION): string {
  if (version === '2.10') {
    for (const p of [process.env.PEBBLE210_BIN, sidPebble()].filter(Boolean) as string[]) {
      if (existsSync(p)) return p;
    }
    throw new Error(
      `pebble 2.10 not found at ${sidPebble()}: fetch it with \`node -e "import('./scripts/bootstrap.mjs').then((m) => m.ensureSidTools())"\` or set PEBBLE210_BIN`,
    );
  }
  for (const p of [process.env.PEBBLE_BIN, '/usr/bin/pebble', '/usr/local/bin/pebble'].filter(Boolean) as string[]) {
    if (existsSync(p)) return p;
  }
  throw new Error('pebble binary not found: install it with `apt-get install -y pebble` (Debian) or set PEBBLE_BIN');
}

/** An ARI suggested window (RFC 9773 §4.2) as Pebble's management API should serve it. */
export interface RenewalWindow {
  start: Date;
  end: Date;
  explanationURL?: string;
}

export interface RenewalInfoResponse {
  status: number;
  /** Retry-After as sent (Pebble: seconds). */
  retryAfter: string | undefined;
  /** The raw body; JSON.parse it yourself, since set-renewal-info may store anything. */
  body: string;
}

/** What Pebble shows of an order through the ACME API (RFC 8555 §7.1.3 plus profile and replaces). */
export interface PebbleOrder {
  status: string;
  identifiers: { type: string; value: string }[];
  profile?: string;
  replaces?: string;
  certificate?: string;
  error?: { type: string; detail: string };
  /** Authorization URLs (RFC 8555 §7.1.3). */
  authorizations?: string[];
}

export interface Pebble {
  version: PebbleVersion;
  directoryUrl: string;
  /** PEM of the self-signed certificate Pebble's API serves; trust it as the ACME CA bundle. */
  apiCaPem: string;
  apiCaFile: string;
  /** Pebble's management API (roots, intermediates, set-renewal-info); same TLS certificate as the API. */
  managementUrl: string;
  /** The profiles the directory offers (2.10); empty for 2.4. */
  profiles: Readonly<Record<string, PebbleProfile>>;
  /** The port Pebble connects to for HTTP-01 validation. */
  httpPort: number;
  dns: FakeDns;
  /** The directory document (GET, with a User-Agent as 2.10 insists). */
  directory(): Promise<Record<string, unknown> & { meta?: { profiles?: Record<string, string> } }>;
  /** The root that signs issued certificates (changes with every Pebble start). */
  issuingRootPem(): Promise<string>;
  /**
   * Makes renewalInfo for `certPem` (its first certificate) answer `window` from now on (2.10).
   * A string is stored verbatim, so malformed answers can be tested too.
   */
  setRenewalInfo(certPem: string, window: RenewalWindow | string): Promise<void>;
  /** GET renewalInfo/<certID> for the first certificate of `certPem`, unauthenticated as RFC 9773 has it (2.10). */
  renewalInfo(certPem: string): Promise<RenewalInfoResponse>;
  /**
   * The order as Pebble holds it, read with a POST-as-GET signed by the account that owns it.
   * This is where `profile` and `replaces` are visible: Pebble's log names neither.
   */
  readOrder(orderUrl: string, account: { keyPem: string; url: string }): Promise<PebbleOrder>;
  /** Any account resource (an authorization, a challenge) by POST-as-GET, as JSON. */
  readResource(url: string, account: { keyPem: string; url: string }): Promise<Record<string, unknown>>;
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

interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

// Pebble 2.10 refuses any request without a User-Agent (RFC 8555 §6.1), and node:https sends none.
const USER_AGENT = 'certkeeper-tests';

function https(url: string, ca: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: opts.method ?? 'GET', agent: new Agent({ ca }), timeout: 5000, headers: { 'User-Agent': USER_AGENT, ...opts.headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

function header(r: HttpsResponse, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function jwsAlgorithm(key: KeyObject): { alg: string; hash: string } {
  if (key.asymmetricKeyType === 'rsa') return { alg: 'RS256', hash: 'sha256' };
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return { alg: 'ES256', hash: 'sha256' };
  if (curve === 'secp384r1') return { alg: 'ES384', hash: 'sha384' };
  throw new Error(`readOrder: account keys of type ${key.asymmetricKeyType ?? '?'} ${curve ?? ''} are not supported here`);
}

/** One POST-as-GET (RFC 8555 §6.3) signed with the account key; retries the badNonce Pebble injects. */
async function postAsGet(directoryUrl: string, ca: string, url: string, account: { keyPem: string; url: string }): Promise<HttpsResponse> {
  const key = createPrivateKey(account.keyPem);
  const { alg, hash } = jwsAlgorithm(key);
  const dir = JSON.parse((await https(directoryUrl, ca)).body) as { newNonce: string };
  let nonce = header(await https(dir.newNonce, ca, { method: 'HEAD' }), 'replay-nonce');
  for (let attempt = 0; attempt < 10; attempt++) {
    const protectedHeader = Buffer.from(JSON.stringify({ alg, kid: account.url, nonce, url })).toString('base64url');
    const signature = sign(hash, Buffer.from(`${protectedHeader}.`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    const r = await https(url, ca, {
      method: 'POST',
      headers: { 'Content-Type': 'application/jose+json' },
      body: JSON.stringify({ protected: protectedHeader, payload: '', signature }),
    });
    if (r.status === 400 && r.body.includes('urn:ietf:params:acme:error:badNonce')) {
      nonce = header(r, 'replay-nonce');
      continue;
    }
    return r;
  }
  throw new Error(`POST-as-GET ${url}: Pebble rejected 10 nonces in a row`);
}

export interface PebbleOptions {
  /** Which Pebble to run; DEFAULT_PEBBLE_VERSION when omitted. */
  version?: PebbleVersion;
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
  /**
   * The profiles 2.10 offers. Default: classic alone (90 days, CN promoted), because Pebble has no
   * default profile and gives an order that names none a random one; with one profile every order
   * gets it, as Let's Encrypt gives classic. Pass PEBBLE_PROFILES for all three.
   */
  profiles?: Readonly<Record<string, PebbleProfile>>;
}

export async function startPebble(opts: PebbleOptions = {}): Promise<Pebble> {
  const version = opts.version ?? DEFAULT_PEBBLE_VERSION;
  const bin = pebbleBinary(version);
  const profiles: Record<string, PebbleProfile> = version === '2.10' ? { ...(opts.profiles ?? { classic: PEBBLE_PROFILES.classic }) } : {};
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
        ...(version === '2.10'
          ? {
              // Pebble has no default profile: an order naming none gets one of these at random.
              profiles: Object.fromEntries(
                Object.entries(profiles).map(([name, p]) => [name, { description: p.description, validityPeriod: p.validitySeconds, promoteCommonName: p.commonName }]),
              ),
            }
          : {}),
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
        const r = await https(directoryUrl, certPem);
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
    const needsAri = (what: string): void => {
      if (version !== '2.10') throw new Error(`${what}: Pebble ${version} has no ARI; start Pebble with { version: '2.10' }`);
    };
    return {
      version,
      directoryUrl,
      apiCaPem: certPem,
      apiCaFile: certFile,
      managementUrl,
      profiles,
      httpPort,
      dns,
      directory: async () => JSON.parse((await https(directoryUrl, certPem)).body) as Awaited<ReturnType<Pebble['directory']>>,
      issuingRootPem: async () => (await https(`${managementUrl}/roots/0`, certPem)).body,
      setRenewalInfo: async (pem, window) => {
        needsAri('setRenewalInfo');
        const ariResponse =
          typeof window === 'string'
            ? window
            : JSON.stringify({
                suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() },
                ...(window.explanationURL ? { explanationURL: window.explanationURL } : {}),
              });
        // Pebble finds the certificate by serial number; only the first PEM block is read.
        const r = await https(`${managementUrl}/set-renewal-info/`, certPem, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ certificate: pem, ariResponse }),
        });
        if (r.status !== 200) throw new Error(`POST ${managementUrl}/set-renewal-info/ answered ${r.status}: ${r.body}`);
      },
      renewalInfo: async (pem) => {
        needsAri('renewalInfo');
        const dir = JSON.parse((await https(directoryUrl, certPem)).body) as { renewalInfo: string };
        const r = await https(`${dir.renewalInfo}/${ariCertId(pem)}`, certPem);
        return { status: r.status, retryAfter: header(r, 'retry-after'), body: r.body };
      },
      readOrder: async (orderUrl, account) => {
        const r = await postAsGet(directoryUrl, certPem, orderUrl, account);
        if (r.status !== 200) throw new Error(`POST-as-GET ${orderUrl} answered ${r.status}: ${r.body}`);
        return JSON.parse(r.body) as PebbleOrder;
      },
      readResource: async (url, account) => {
        const r = await postAsGet(directoryUrl, certPem, url, account);
        if (r.status !== 200) throw new Error(`POST-as-GET ${url} answered ${r.status}: ${r.body}`);
        return JSON.parse(r.body) as Record<string, unknown>;
      },
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
