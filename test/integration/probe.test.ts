// The probes against real sockets: a TLS server choosing certificates by SNI the way an ingress
// controller does, and HTTP servers answering, refusing, redirecting and hanging.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type CertInfo } from '../../src/core/cert.js';
import type { ObjectRef } from '../../src/core/findings.js';
import {
  judgeHttp01,
  judgeNoSniCertificate,
  judgeServedCertificate,
  probeAll,
  probeHttp01,
  probeTls,
  type Http01ProbeOptions,
  type TlsProbeResult,
} from '../../src/probe/index.js';
import {
  closedPort,
  fakeIngressNginxCert,
  identityOf,
  makeCa,
  makeCert,
  makeKey,
  startHttpServer,
  startHttpsServer,
  startSilentServer,
  startSniServer,
  type RunningServer,
  type SniServer,
  type TestCert,
} from '../support/tls-servers.js';

const DAY = 86_400_000;
// Generous where an answer is expected (a loaded CI machine must not flake), short where none comes.
const TIMEOUT = 5000;
const HANG_TIMEOUT = 300;
const ingressRef: ObjectRef = { kind: 'Ingress', namespace: 'shop', name: 'web' };
const servers: RunningServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** The certificates an ingress controller might present, all on one key (key generation is the slow part). */
function buildCerts(now: Date) {
  const key = makeKey();
  const root = makeCa('certkeeper test root', undefined, key);
  const intermediate = makeCa('certkeeper test intermediate', root, key);
  const leaf = (cn: string, extra: Partial<Parameters<typeof makeCert>[0]> = {}): TestCert => makeCert({ cn, sans: [cn], issuer: intermediate, key, ...extra });
  return {
    key,
    root,
    good: leaf('good.example.test'),
    staleServed: leaf('stale.example.test', { notBefore: new Date(now.getTime() - 40 * DAY), notAfter: new Date(now.getTime() + 5 * DAY) }),
    staleSecret: leaf('stale.example.test'),
    shop: leaf('shop.example.test', { sans: ['shop.example.test', 'www.shop.example.test'] }),
    otherSecret: leaf('other.example.test'),
    expired: leaf('expired.example.test', { notBefore: new Date(now.getTime() - 50 * DAY), notAfter: new Date(now.getTime() - 5 * DAY) }),
    self: makeCert({ cn: 'self.example.test', sans: ['self.example.test'], key }),
    fake: fakeIngressNginxCert(key),
  };
}

describe('TLS probe', () => {
  const now = new Date();
  let certs: ReturnType<typeof buildCerts>;
  let root: TestCert;
  let sni: SniServer;
  let secret: { good: CertInfo; stale: CertInfo; other: CertInfo };

  const probe = (servername: string | undefined, caBundle?: string): Promise<TlsProbeResult> =>
    probeTls({ address: { host: '127.0.0.1', port: sni.port }, timeoutMs: TIMEOUT, ...(servername ? { servername } : {}), ...(caBundle ? { caBundle } : {}) });

  beforeAll(async () => {
    certs = buildCerts(now);
    root = certs.root;
    sni = await startSniServer({
      byName: {
        'good.example.test': identityOf(certs.good),
        'stale.example.test': identityOf(certs.staleServed),
        // Another Ingress's certificate answers for other.example.test.
        'other.example.test': identityOf(certs.shop),
        'expired.example.test': identityOf(certs.expired),
        'self.example.test': identityOf(certs.self),
        // The leaf without its intermediate.
        'nochain.example.test': { chainPem: certs.good.pem, keyPem: certs.key.pem },
      },
      fallback: identityOf(certs.fake),
      abortNames: ['abort.example.test'],
    });
    servers.push(sni);
    secret = {
      good: parseCertificate(certs.good.chainPem),
      stale: parseCertificate(certs.staleSecret.chainPem),
      other: parseCertificate(certs.otherSecret.chainPem),
    };
  });

  it('reports nothing when the Secret\'s certificate is served and verifies', async () => {
    const served = await probe('good.example.test', root.pem);
    expect(served.ok).toBe(true);
    if (!served.ok) return;
    expect(served.servername).toBe('good.example.test');
    expect(served.authorized).toBe(true);
    expect(served.leaf.fingerprint).toBe(secret.good.fingerprint);
    expect(served.chain.map((c) => c.subjectCN)).toEqual(['certkeeper test intermediate', 'certkeeper test root']);
    expect(served.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(judgeServedCertificate({ host: 'good.example.test', served, expected: secret.good, ingressRef, now })).toEqual([]);
    expect(sni.sniNames).toContain('good.example.test');
  });

  it('flags the ingress-nginx fake certificate for a host the controller has no certificate for', async () => {
    const served = await probe('missing.example.test');
    const findings = judgeServedCertificate({ host: 'missing.example.test', served, expected: secret.good, ingressRef, now });
    expect(findings.map((f) => f.code)).toEqual(['DefaultCertificateServed']);
    const [f] = findings;
    expect(f?.host).toBe('missing.example.test');
    expect(f?.message).toContain('missing.example.test');
    expect(f?.message).toContain('Kubernetes Ingress Controller Fake Certificate');
    expect(f?.message).toContain('no usable certificate');
    expect(f?.hint).toMatch(/another namespace/);
    expect(f?.hint).toMatch(/tls\.hosts|spec\.tls\[\]\.hosts/);
    expect(f?.hint).toContain('certkeeper check');
  });

  it('says a served certificate older than the Secret\'s is stale (controller has not reloaded)', async () => {
    const served = await probe('stale.example.test', root.pem);
    const findings = judgeServedCertificate({ host: 'stale.example.test', served, expected: secret.stale, ingressRef, now });
    expect(findings.map((f) => f.code)).toEqual(['ServedCertificateMismatch']);
    expect(findings[0]?.message).toContain('stale.example.test');
    expect(findings[0]?.message).toMatch(/older certificate/);
    expect(findings[0]?.message).toMatch(/not picked up the renewed Secret/);
  });

  it('says a served certificate for other hosts belongs to another Ingress', async () => {
    const served = await probe('other.example.test', root.pem);
    expect(served.ok && served.authorizationError).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    const findings = judgeServedCertificate({ host: 'other.example.test', served, expected: secret.other, ingressRef, now });
    expect(findings.map((f) => f.code)).toEqual(['ServedCertificateMismatch']);
    expect(findings[0]?.message).toContain('other.example.test');
    expect(findings[0]?.message).toContain('shop.example.test, www.shop.example.test');
    expect(findings[0]?.hint).toMatch(/another Ingress/);
    // Without a Secret to compare with, the wrong name is a verification failure.
    const alone = judgeServedCertificate({ host: 'other.example.test', served, ingressRef, now });
    expect(alone.map((f) => f.code)).toEqual(['ServedCertificateUntrusted']);
    expect(alone[0]?.message).toMatch(/does not name other\.example\.test/);
  });

  it('flags untrusted chains with the reason', async () => {
    const cases: [string, string | undefined, RegExp, RegExp][] = [
      // A private CA without --ca-bundle.
      ['good.example.test', undefined, /not in the trust store/, /--ca-bundle/],
      ['nochain.example.test', root.pem, /no intermediate certificate/, /fullchain|intermediates/],
      ['expired.example.test', root.pem, /expired on/, /renew/],
      ['self.example.test', undefined, /self-signed/, /CA-issued/],
    ];
    for (const [host, ca, message, hint] of cases) {
      const served = await probe(host, ca);
      const findings = judgeServedCertificate({ host, served, ingressRef, now });
      expect(findings.map((f) => f.code), host).toEqual(['ServedCertificateUntrusted']);
      expect(findings[0]?.message).toContain(host);
      expect(findings[0]?.message).toMatch(message);
      expect(findings[0]?.hint).toMatch(hint);
    }
    const codes = await Promise.all(
      [['good.example.test', undefined], ['nochain.example.test', root.pem], ['expired.example.test', root.pem], ['self.example.test', undefined]].map(async ([h, ca]) => {
        const r = await probe(h, ca);
        return r.ok ? r.authorizationError : r.error;
      }),
    );
    expect(codes).toEqual(['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT']);
  });

  it('sends no SNI extension when no servername is given, and reports what such clients get', async () => {
    const before = { sni: sni.sniNames.length, connections: sni.connections };
    for (const servername of [undefined, '', '127.0.0.1']) {
      const served = await probeTls({ address: { host: '127.0.0.1', port: sni.port }, timeoutMs: TIMEOUT, ...(servername !== undefined ? { servername } : {}) });
      expect(served.ok).toBe(true);
      expect(served.servername).toBeUndefined();
    }
    // The server saw three connections and not one server_name.
    expect(sni.connections - before.connections).toBe(3);
    expect(sni.sniNames.length).toBe(before.sni);

    const served = await probe(undefined);
    const service: ObjectRef = { kind: 'Service', namespace: 'ingress-nginx', name: 'ingress-nginx-controller' };
    const findings = judgeNoSniCertificate({ served, object: service, now });
    expect(findings.map((f) => [f.code, f.severity])).toEqual([['NoSniDefaultCertificate', 'info']]);
    expect(findings[0]?.message).toContain('Fake Certificate');
    expect(findings[0]?.message).toContain(`127.0.0.1:${sni.port}`);
    expect(findings[0]?.hint).toContain('--default-ssl-certificate');
  });

  it('reports failed handshakes with the address', async () => {
    const aborted = await probe('abort.example.test');
    expect(aborted.ok).toBe(false);
    const f1 = judgeServedCertificate({ host: 'abort.example.test', served: aborted, ingressRef, now });
    expect(f1.map((f) => f.code)).toEqual(['TlsProbeFailed']);
    expect(f1[0]?.message).toContain('abort.example.test');
    expect(f1[0]?.message).toContain(`127.0.0.1:${sni.port}`);

    const port = await closedPort();
    const refused = await probeTls({ address: { host: '127.0.0.1', port }, servername: 'good.example.test', timeoutMs: TIMEOUT });
    expect(refused.ok ? undefined : refused.error).toBe('ECONNREFUSED');
    const f2 = judgeServedCertificate({ host: 'good.example.test', served: refused, ingressRef, now });
    expect(f2[0]?.code).toBe('TlsProbeFailed');
    expect(f2[0]?.message).toContain(`127.0.0.1:${port}`);
    expect(f2[0]?.message).toContain('ECONNREFUSED');

    const silent = await startSilentServer();
    servers.push(silent);
    const hung = await probeTls({ address: { host: '127.0.0.1', port: silent.port }, servername: 'good.example.test', timeoutMs: HANG_TIMEOUT });
    expect(hung.ok ? undefined : hung.error).toBe('ETIMEDOUT');

    const plain = await startHttpServer((_req, res) => res.end('hello'));
    servers.push(plain);
    const notTls = await probeTls({ address: { host: '127.0.0.1', port: plain.port }, servername: 'good.example.test', timeoutMs: TIMEOUT });
    expect(notTls.ok).toBe(false);
    expect(judgeServedCertificate({ host: 'good.example.test', served: notTls, ingressRef, now })[0]?.hint).toMatch(/does not speak TLS/);
  });

  it('probes many hosts with bounded concurrency, keeping order', async () => {
    const hosts = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 'good.example.test' : `h${i}.example.test`));
    let inFlight = 0;
    let peak = 0;
    const results = await probeAll(
      hosts,
      async (host) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        try {
          return await probe(host, root.pem);
        } finally {
          inFlight--;
        }
      },
      4,
    );
    expect(peak).toBeLessThanOrEqual(4);
    expect(results.map((r) => (r.ok ? r.leaf.subjectCN : r.error))).toEqual(
      hosts.map((h) => (h === 'good.example.test' ? 'good.example.test' : 'Kubernetes Ingress Controller Fake Certificate')),
    );
  });
});

describe('HTTP-01 probe', () => {
  const token = 'tok_abc-123';
  const keyAuth = `${token}.thumbprint-xyz`;
  const path = `/.well-known/acme-challenge/${token}`;
  let tlsIdentity: ReturnType<typeof identityOf>;

  const answering = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url === path) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${keyAuth}\n`);
    } else {
      res.writeHead(404).end('not found');
    }
  };
  const redirectTo = (target: (req: IncomingMessage) => string, status = 301) => (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { location: target(req) }).end();
  };
  const start = async (handler: (req: IncomingMessage, res: ServerResponse) => void, tlsToo = false): Promise<RunningServer> => {
    const s = tlsToo ? await startHttpsServer(handler, tlsIdentity) : await startHttpServer(handler);
    servers.push(s);
    return s;
  };
  const options = (host: string, extra: Partial<Http01ProbeOptions>): Http01ProbeOptions => ({
    host,
    token,
    expectedBody: keyAuth,
    timeoutMs: TIMEOUT,
    resolve: () => '127.0.0.1',
    ...extra,
  });

  beforeAll(() => {
    const key = makeKey();
    tlsIdentity = identityOf(makeCert({ cn: 'lb.example.test', sans: ['lb.example.test'], key }));
  });

  it('is ok when the challenge path answers the key authorization', async () => {
    let seenHost: string | undefined;
    const s = await start((req, res) => {
      seenHost = req.headers.host;
      answering(req, res);
    });
    const result = await probeHttp01(options('ok.example.test', { ports: { http: s.port } }));
    expect(result.outcome).toBe('Ok');
    expect(result.hops).toHaveLength(1);
    expect(result.hops[0]?.url).toBe(`http://ok.example.test${path}`);
    // The validator's Host header: the name, without the rewritten port.
    expect(seenHost).toBe('ok.example.test');
    expect(judgeHttp01(result, { ingressRef, host: 'ok.example.test' })).toEqual([]);

    // `address` stands in for DNS of the probed host.
    const direct = await probeHttp01({ host: 'ok.example.test', token, expectedBody: keyAuth, timeoutMs: TIMEOUT, address: { host: '127.0.0.1', port: s.port } });
    expect(direct.outcome).toBe('Ok');
    expect(direct.hops[0]?.connectedTo).toBe(`127.0.0.1:${s.port}`);
  });

  it('says what answered instead of certkeeper (404 from the default backend)', async () => {
    const s = await start((_req, res) => res.writeHead(404, { server: 'nginx', 'content-type': 'text/plain' }).end('default backend - 404'));
    const result = await probeHttp01(options('wrong.example.test', { ports: { http: s.port } }));
    expect(result.outcome).toBe('WrongResponse');
    const findings = judgeHttp01(result, { ingressRef, host: 'wrong.example.test' });
    expect(findings.map((f) => f.code)).toEqual(['Http01WrongResponse']);
    expect(findings[0]?.message).toContain('wrong.example.test');
    expect(findings[0]?.message).toContain('404 Not Found');
    expect(findings[0]?.message).toContain('Server: nginx');
    expect(findings[0]?.message).toContain('default backend - 404');
    expect(findings[0]?.hint).toMatch(/ingressClassName/);
  });

  it('flags a 200 with another body, and reads at most 8 KiB', async () => {
    const s = await start((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<html>${'x'.repeat(100_000)}</html>`));
    const result = await probeHttp01(options('spa.example.test', { ports: { http: s.port } }));
    expect(result.outcome).toBe('WrongResponse');
    expect(result.hops[0]?.body?.length).toBeLessThanOrEqual(8192);
    const [f] = judgeHttp01(result, { ingressRef, host: 'spa.example.test' });
    expect(f?.code).toBe('Http01WrongResponse');
    expect(f?.message).toMatch(/200 with a body that is not the key authorization/);
    expect(f?.message).toContain('<html>');
  });

  it('detects the http→https→http loop of a TLS-terminating load balancer with ssl-redirect', async () => {
    const httpsServer = await start(redirectTo((req) => `http://loop.example.test${req.url ?? ''}`), true);
    const httpServer = await start(redirectTo((req) => `https://loop.example.test${req.url ?? ''}`, 308));
    const result = await probeHttp01(options('loop.example.test', { ports: { http: httpServer.port, https: httpsServer.port } }));
    expect(result.outcome).toBe('RedirectLoop');
    expect(result.hops.map((h) => [h.url, h.status])).toEqual([
      [`http://loop.example.test${path}`, 308],
      [`https://loop.example.test${path}`, 301],
    ]);
    const findings = judgeHttp01(result, { ingressRef, host: 'loop.example.test' });
    expect(findings.map((f) => f.code)).toEqual(['Http01RedirectLoop']);
    expect(findings[0]?.message).toContain('loop.example.test');
    expect(findings[0]?.message).toMatch(/http→https→http/);
    expect(findings[0]?.hint).toMatch(/use-forwarded-headers/);
    expect(findings[0]?.hint).toMatch(/acme-challenge/);
  });

  it('follows an http→https redirect (without verifying the certificate) to the right answer', async () => {
    const httpsServer = await start(answering, true);
    const httpServer = await start(redirectTo((req) => `https://redir.example.test${req.url ?? ''}`, 308));
    const result = await probeHttp01(options('redir.example.test', { ports: { http: httpServer.port, https: httpsServer.port } }));
    expect(result.outcome).toBe('Ok');
    expect(result.hops.map((h) => h.status)).toEqual([308, 200]);
    const findings = judgeHttp01(result, { ingressRef, host: 'redir.example.test' });
    expect(findings.map((f) => [f.code, f.severity])).toEqual([['Http01Redirected', 'info']]);
    expect(findings[0]?.message).toContain('1 redirect');
    expect(findings[0]?.message).toContain(`http://redir.example.test${path} (308) → https://redir.example.test${path} (200)`);
  });

  it('follows a redirect to another host through resolve, and refuses ports other than 80/443', async () => {
    const target = await start(answering);
    const first = await start(redirectTo((req) => `http://www.moved.example.test${req.url ?? ''}`, 302));
    const resolved: string[] = [];
    const result = await probeHttp01(
      options('moved.example.test', {
        address: { host: '127.0.0.1', port: first.port },
        ports: { http: target.port },
        resolve: (name) => {
          resolved.push(name);
          return '127.0.0.1';
        },
      }),
    );
    expect(result.outcome).toBe('Ok');
    expect(resolved).toEqual(['www.moved.example.test']);

    const odd = await start(redirectTo(() => `https://odd.example.test:8443${path}`));
    const bad = await probeHttp01(options('odd.example.test', { ports: { http: odd.port } }));
    expect(bad.outcome).toBe('BadRedirect');
    const [f] = judgeHttp01(bad, { ingressRef, host: 'odd.example.test' });
    expect(f?.code).toBe('Http01WrongResponse');
    expect(f?.message).toMatch(/only ports 80 and 443/);
  });

  it('gives up after 10 redirects', async () => {
    const s = await start(redirectTo((req) => `${req.url ?? ''}x`, 302));
    const result = await probeHttp01(options('many.example.test', { ports: { http: s.port } }));
    expect(result.outcome).toBe('TooManyRedirects');
    expect(result.hops).toHaveLength(11);
    const [f] = judgeHttp01(result, { ingressRef, host: 'many.example.test' });
    expect(f?.code).toBe('Http01RedirectLoop');
    expect(f?.message).toMatch(/more than 10 times/);
  });

  it('reports a closed port 80 as unreachable with the NodePort hint', async () => {
    const port = await closedPort();
    const result = await probeHttp01(options('closed.example.test', { ports: { http: port } }));
    expect(result.outcome).toBe('Unreachable');
    expect(result.hops[0]?.error?.code).toBe('ECONNREFUSED');
    const findings = judgeHttp01(result, { ingressRef, host: 'closed.example.test' });
    expect(findings.map((f) => f.code)).toEqual(['Http01Unreachable']);
    expect(findings[0]?.message).toContain('closed.example.test');
    expect(findings[0]?.message).toContain('ECONNREFUSED');
    expect(findings[0]?.hint).toMatch(/port 80 of closed\.example\.test/);
    expect(findings[0]?.hint).toMatch(/NodePort/);
  });

  it('reports a redirect to an https port that does not answer as unreachable on 443', async () => {
    const port = await closedPort();
    const httpServer = await start(redirectTo((req) => `https://tls.example.test${req.url ?? ''}`, 308));
    const result = await probeHttp01(options('tls.example.test', { ports: { http: httpServer.port, https: port } }));
    expect(result.outcome).toBe('Unreachable');
    expect(result.hops.map((h) => h.status ?? h.error?.code)).toEqual([308, 'ECONNREFUSED']);
    const [f] = judgeHttp01(result, { ingressRef, host: 'tls.example.test' });
    expect(f?.code).toBe('Http01Unreachable');
    expect(f?.message).toContain(`https://tls.example.test${path}`);
    expect(f?.hint).toMatch(/port 443/);
  });

  it('reports a server that never answers as unreachable: timed out', async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    const result = await probeHttp01(options('hang.example.test', { ports: { http: silent.port }, timeoutMs: HANG_TIMEOUT }));
    expect(result.outcome).toBe('Unreachable');
    expect(result.hops[0]?.error?.code).toBe('ETIMEDOUT');
    const [f] = judgeHttp01(result, { ingressRef, host: 'hang.example.test' });
    expect(f?.code).toBe('Http01Unreachable');
    expect(f?.message).toContain('hang.example.test');
    expect(f?.message).toMatch(/timed out/);
  });
});
