// Real servers for probe tests: a TLS server choosing its certificate by SNI (like an ingress
// controller), plain HTTP/HTTPS servers, a server that accepts and never answers, and a closed port.
// Everything listens on 127.0.0.1 port 0 and closes its open connections on teardown.
//
// Certificates are built with node-forge but signed with node:crypto: forge's pure-JS RSA takes
// ~50 ms per signature, node:crypto well under 1 ms, which matters for the 500-host benchmark.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls, { type SecureContext } from 'node:tls';
import forge from 'node-forge';

export interface TestKey {
  pem: string;
  keyObject: KeyObject;
  publicKey: forge.pki.rsa.PublicKey;
}

export function makeKey(bits = 2048): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { pem, keyObject: createPrivateKey(pem), publicKey: forge.pki.publicKeyFromPem(pub) };
}

export interface TestCert {
  /** The certificate alone. */
  pem: string;
  /** The certificate followed by its issuers up to (excluding) the root: what a server sends. */
  chainPem: string;
  key: TestKey;
  cn: string;
  subject: forge.pki.CertificateField[];
  isCA: boolean;
  issuer: TestCert | undefined;
}

export interface CertSpec {
  cn: string;
  o?: string;
  sans?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Signing CA; absent → self-signed. */
  issuer?: TestCert;
  isCA?: boolean;
  /** Reuse a key (key generation is the slow part of making many certificates). */
  key?: TestKey;
}

const DAY = 86_400_000;

// forge has no typings for this internal; it is what cert.sign() uses before hashing.
const pkiInternals = forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 };

export function makeCert(spec: CertSpec): TestCert {
  const key = spec.key ?? makeKey();
  const now = Date.now();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  // Positive, 16 random bytes: unique serials keep OpenSSL from confusing certificates.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = spec.notBefore ?? new Date(now - DAY);
  cert.validity.notAfter = spec.notAfter ?? new Date(now + 44 * DAY);
  const subject: forge.pki.CertificateField[] = [{ name: 'commonName', value: spec.cn }];
  if (spec.o) subject.push({ name: 'organizationName', value: spec.o });
  cert.setSubject(subject);
  cert.setIssuer(spec.issuer ? spec.issuer.subject : subject);
  const isCA = spec.isCA ?? false;
  const extensions: object[] = [
    { name: 'basicConstraints', cA: isCA, critical: true },
    isCA
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
  ];
  if (!isCA) extensions.push({ name: 'extKeyUsage', serverAuth: true });
  if (spec.sans?.length) extensions.push({ name: 'subjectAltName', altNames: spec.sans.map((value) => ({ type: 2, value })) });
  extensions.push({ name: 'subjectKeyIdentifier' });
  cert.setExtensions(extensions);

  const signer = spec.issuer?.key ?? key;
  cert.md = forge.md.sha256.create();
  cert.signatureOid = cert.siginfo.algorithmOid = forge.pki.oids['sha256WithRSAEncryption'] as string;
  cert.tbsCertificate = pkiInternals.getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = sign('sha256', tbs, signer.keyObject).toString('binary');

  const pem = forge.pki.certificateToPem(cert);
  const issuer = spec.issuer;
  // The chain a server sends stops below the self-signed root.
  let chainPem = pem;
  for (let i = issuer; i && i.issuer; i = i.issuer) chainPem += i.pem;
  return { pem, chainPem, key, cn: spec.cn, subject, isCA, issuer };
}

export function makeCa(cn: string, issuer?: TestCert, key?: TestKey): TestCert {
  return makeCert({ cn, o: 'certkeeper tests', isCA: true, notAfter: new Date(Date.now() + 3650 * DAY), ...(issuer ? { issuer } : {}), ...(key ? { key } : {}) });
}

/** A look-alike of ingress-nginx's default fake certificate, as browsers show it. */
export function fakeIngressNginxCert(key?: TestKey): TestCert {
  return makeCert({ cn: 'Kubernetes Ingress Controller Fake Certificate', o: 'Acme Co', sans: ['ingress.local'], notAfter: new Date(Date.now() + 365 * DAY), ...(key ? { key } : {}) });
}

// ---- servers -------------------------------------------------------------------------------------

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

function track(server: net.Server): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** What a server presents: the leaf plus intermediates and the key. */
export interface ServedIdentity {
  chainPem: string;
  keyPem: string;
}

export function identityOf(cert: TestCert): ServedIdentity {
  return { chainPem: cert.chainPem, keyPem: cert.key.pem };
}

export interface SniServer extends RunningServer {
  /** SNI names received, in order (a ClientHello without SNI adds nothing here). */
  sniNames: string[];
  /** TCP connections accepted. */
  connections: number;
}

export interface SniServerOptions {
  /** Certificates by SNI name (lower-case). */
  byName: ReadonlyMap<string, ServedIdentity> | Record<string, ServedIdentity>;
  /** Served without SNI and for unknown names, as controllers serve their default certificate. */
  fallback: ServedIdentity;
  /** Names for which the handshake is aborted (the server sends an alert). */
  abortNames?: readonly string[];
}

export async function startSniServer(options: SniServerOptions): Promise<SniServer> {
  const toContext = (id: ServedIdentity): SecureContext => tls.createSecureContext({ cert: id.chainPem, key: id.keyPem });
  const entries = options.byName instanceof Map ? [...options.byName] : Object.entries(options.byName);
  const contexts = new Map(entries.map(([name, id]) => [name.toLowerCase(), toContext(id)]));
  const abort = new Set(options.abortNames ?? []);
  const fallback = toContext(options.fallback);
  const state = { sniNames: [] as string[], connections: 0 };
  const server = tls.createServer({
    cert: options.fallback.chainPem,
    key: options.fallback.keyPem,
    SNICallback: (name, cb) => {
      state.sniNames.push(name);
      if (abort.has(name)) cb(new Error(`no certificate for ${name}`));
      else cb(null, contexts.get(name.toLowerCase()) ?? fallback);
    },
  });
  server.on('connection', () => state.connections++);
  // Probes hang up right after the handshake; that is not an error worth a crash.
  server.on('tlsClientError', () => undefined);
  server.on('secureConnection', (s) => s.on('error', () => undefined));
  const close = track(server);
  const port = await listen(server);
  return {
    port,
    close,
    get sniNames() {
      return state.sniNames;
    },
    get connections() {
      return state.connections;
    },
  };
}

export async function startHttpServer(handler: http.RequestListener): Promise<RunningServer> {
  const server = http.createServer(handler);
  const close = track(server);
  return { port: await listen(server), close };
}

export async function startHttpsServer(handler: http.RequestListener, identity: ServedIdentity): Promise<RunningServer> {
  const server = https.createServer({ cert: identity.chainPem, key: identity.keyPem }, handler);
  server.on('tlsClientError', () => undefined);
  const close = track(server);
  return { port: await listen(server), close };
}

/** Accepts connections and never sends a byte: a firewall that black-holes after the SYN, or a hung controller. */
export async function startSilentServer(): Promise<RunningServer> {
  const server = net.createServer(() => undefined);
  const close = track(server);
  return { port: await listen(server), close };
}

/** A port that was free a moment ago and has nothing listening now. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
