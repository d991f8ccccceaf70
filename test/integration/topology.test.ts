// The production path end to end: Pebble validates on "port 80" of an ingress controller (a fake
// ingress-nginx), the solver Ingress in certkeeper's namespace merges its challenge rule into the
// user's host, the Service certkeeper/certkeeper:80 is a real `certkeeper serve` process answering
// from the challenge ConfigMap, and `certkeeper renew` runs without --answer-locally.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type CertInfo } from '../../src/core/cert.js';
import { judgeServedCertificate } from '../../src/core/served.js';
import { probeTls } from '../../src/probe/tls.js';
import { createCert, tlsSecret } from '../support/certs.js';
import { ingress, startClusterEnv, type ClusterEnv } from '../support/cluster-env.js';
import { startFakeController, type FakeController } from '../support/fake-controller.js';
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';
import { getVia } from '../support/http.js';

const host = (label: string) => `${label}-${randomUUID().slice(0, 8)}.example.test`;
const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const INGRESSES = { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses' };
const CONFIGMAPS = { group: '', version: 'v1', resource: 'configmaps' };
const LEASES = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' };
const FAKE_CN = 'Kubernetes Ingress Controller Fake Certificate';

function decode(secret: unknown, key: string): string {
  const data = ((secret as { data?: Record<string, string> } | undefined)?.data ?? {}) as Record<string, string>;
  return Buffer.from(data[key] ?? '', 'base64').toString('utf8');
}

function secretLeaf(env: ClusterEnv, namespace: string, name: string): CertInfo {
  return parseCertificate(decode(env.api.get(SECRETS, namespace, name), 'tls.crt'));
}

/** The certificate the controller's "port 443" serves for SNI `servername` (a real handshake). */
async function served(c: FakeController, servername: string): Promise<CertInfo> {
  const r = await probeTls({ address: { host: '127.0.0.1', port: c.httpsPort }, servername, timeoutMs: 3000 });
  if (!r.ok) throw new Error(`TLS handshake for ${servername} failed: ${r.error} ${r.message}`);
  return r.leaf;
}

/** Waits (up to `ms`) until the served certificate satisfies `ok`; returns the last one seen. */
async function servedEventually(c: FakeController, servername: string, ok: (leaf: CertInfo) => boolean, ms = 3000): Promise<CertInfo> {
  const deadline = Date.now() + ms;
  for (;;) {
    const leaf = await served(c, servername);
    if (ok(leaf) || Date.now() > deadline) return leaf;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const dnsQueried = (env: ClusterEnv, h: string) => env.pebble.dns.queries.some((q) => q.name.replace(/\.$/, '') === h);
const solverIngresses = (env: ClusterEnv) => env.api.list<{ metadata: { name: string } }>(INGRESSES, 'certkeeper', { labelSelector: 'certkeeper.dev/solver=true' });
const challengeTokens = (env: ClusterEnv) => Object.keys(env.api.get<{ data?: Record<string, string> }>(CONFIGMAPS, 'certkeeper', 'certkeeper-challenges')?.data ?? {});

describe('production topology: Pebble → ingress controller → solver Ingress → certkeeper serve', () => {
  let env: ClusterEnv;
  let controller: FakeController;
  beforeAll(async () => {
    env = await startClusterEnv({ topology: 'controller' });
    controller = env.controller as FakeController;
  });
  afterAll(async () => {
    await env?.close();
  });

  it('serves the fake certificate before issuance, issues through the controller, then serves the new certificate', async () => {
    env.api.ensureNamespace('shop');
    const h = host('shop');
    env.api.create(ingress('shop', 'web', 'web-tls', [h]));
    controller.reload();
    const before = await served(controller, h);
    expect(before.subjectCN).toBe(FAKE_CN);
    expect(before.subjectO).toBe('Acme Co');
    const judged = judgeServedCertificate({ host: h, served: await probeTls({ address: { host: '127.0.0.1', port: controller.httpsPort }, servername: h, timeoutMs: 3000 }), ingressRef: { kind: 'Ingress', namespace: 'shop', name: 'web' }, now: new Date() });
    expect(judged.map((f) => f.code)).toEqual(['DefaultCertificateServed']);
    // The user's site itself is routed (the app behind the Service answers).
    expect((await getVia(controller.httpPort, h, '/')).body).toContain(`app: http://${h}/`);

    const r = await env.renew(['--ingress', 'shop/web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.certificates[0]).toMatchObject({ namespace: 'shop', secretName: 'web-tls', result: 'issued' });
    expect(r.stderr).not.toContain('answering HTTP-01 challenges in this process');
    // Both the self-check and Pebble's validator went through the controller to `serve`.
    const challenges = controller.requests.filter((q) => q.host === h && q.path.startsWith('/.well-known/acme-challenge/'));
    expect(challenges.length).toBeGreaterThanOrEqual(2);
    const selfCheck = challenges.filter((q) => q.userAgent?.includes('certkeeper self-check'));
    const validator = challenges.filter((q) => !q.userAgent?.includes('certkeeper self-check'));
    expect(selfCheck.some((q) => q.backend === 'certkeeper/certkeeper:80' && q.status === 200)).toBe(true);
    expect(validator.length).toBeGreaterThan(0);
    expect(validator.every((q) => q.scheme === 'http' && q.backend === 'certkeeper/certkeeper:80' && q.status === 200)).toBe(true);
    expect(env.serve?.output()).toContain('answered challenge');

    const leaf = secretLeaf(env, 'shop', 'web-tls');
    const after = await servedEventually(controller, h, (l) => l.fingerprint === leaf.fingerprint);
    expect(after.fingerprint).toBe(leaf.fingerprint);
    expect(after.sans).toEqual([h]);
    // Trusting Pebble's root, the served chain verifies and nothing is wrong any more.
    const trusted = await probeTls({ address: { host: '127.0.0.1', port: controller.httpsPort }, servername: h, timeoutMs: 3000, caBundle: await env.pebble.issuingRootPem() });
    expect(judgeServedCertificate({ host: h, served: trusted, expected: leaf, ingressRef: { kind: 'Ingress', namespace: 'shop', name: 'web' }, now: new Date() })).toEqual([]);
    // Clients without SNI still get the controller's default certificate.
    const noSni = await probeTls({ address: { host: '127.0.0.1', port: controller.httpsPort }, timeoutMs: 3000 });
    expect(noSni.ok && noSni.leaf.subjectCN).toBe(FAKE_CN);
    expect(solverIngresses(env)).toEqual([]);
    expect(challengeTokens(env)).toEqual([]);
  });

  it('serves the fake certificate while the Secret exists only in another namespace, until renew writes it into the Ingress namespace', async () => {
    env.api.ensureNamespace('store');
    env.api.ensureNamespace('other');
    const h = host('store');
    // A perfectly good certificate for the host, in the wrong namespace: an Ingress cannot use it.
    const elsewhere = createCert({ sans: [h] });
    env.api.create(tlsSecret({ name: 'web-tls', namespace: 'other', cert: elsewhere }));
    env.api.create(ingress('store', 'web', 'web-tls', [h]));
    controller.reload();
    expect((await served(controller, h)).subjectCN).toBe(FAKE_CN);

    const r = await env.renew(['--ingress', 'store/web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.certificates[0]).toMatchObject({ namespace: 'store', secretName: 'web-tls', result: 'issued', reason: 'SecretDoesNotExist' });
    const leaf = secretLeaf(env, 'store', 'web-tls');
    const after = await servedEventually(controller, h, (l) => l.fingerprint === leaf.fingerprint);
    expect(after.fingerprint).toBe(leaf.fingerprint);
    expect(after.subjectCN).not.toBe(FAKE_CN);
    // The other namespace's Secret is left as it was.
    expect(decode(env.api.get(SECRETS, 'other', 'web-tls'), 'tls.crt')).toBe(elsewhere.chain);
  });

  it('issues with ingress-nginx ssl-redirect on: the challenge path is exempt from the 308', async () => {
    env.api.ensureNamespace('redirect');
    const h = host('redirect');
    env.api.create(ingress('redirect', 'web', 'web-tls', [h]));
    controller.sslRedirect = 'on';
    try {
      controller.reload();
      const page = await getVia(controller.httpPort, h, '/login?next=1');
      expect(page.status).toBe(308);
      expect(page.headers.location).toBe(`https://${h}/login?next=1`);
      expect(page.headers.server).toBe('nginx');
      expect((await getVia(controller.httpPort, h, '/.well-known/acme-challenge/x')).status).not.toBe(308);

      const r = await env.renew(['--ingress', 'redirect/web']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json?.certificates[0]).toMatchObject({ result: 'issued' });
      expect(r.stderr).not.toContain('Http01Redirected');
      const challenges = controller.requests.filter((q) => q.host === h && q.path.startsWith('/.well-known/acme-challenge/'));
      expect(challenges.length).toBeGreaterThan(0);
      expect(challenges.every((q) => q.scheme === 'http' && q.status === 200)).toBe(true);
    } finally {
      controller.sslRedirect = 'off';
    }
  });

  it('stops at the self-check, before asking the CA, when a TLS-terminating load balancer makes a redirect loop', async () => {
    env.api.ensureNamespace('loop');
    const h = host('loop');
    env.api.create(ingress('loop', 'web', 'web-tls', [h]));
    controller.sslRedirect = 'loop';
    try {
      const r = await env.renew(['--ingress', 'loop/web', '--self-check-timeout', '1s', '--self-check-https-port', String(controller.httpsPort), '-o', 'json']);
      expect(r.code, r.stderr).toBe(1);
      // The route is proven with a probe token before the CA is asked: no order at all.
      expect(r.json?.ordersPlaced).toBe(0);
      expect(r.json?.certificates[0]).toMatchObject({ result: 'failed', reason: 'IssuanceFailed' });
      expect(r.json?.certificates[0]?.message).toMatch(/self-check failed.*no order was placed and no authorization was spent/);
      expect(r.json?.certificates[0]?.message).toContain(h);
      // The self-check followed http → 308 https → 308 http and recognised the loop; the finding
      // with its fix is in the pass output, and the CA was never asked.
      const loop = r.json?.findings.find((f) => f.code === 'Http01RedirectLoop');
      expect(loop?.host).toBe(h);
      expect(loop?.message).toContain('http→https→http loop');
      expect(controller.requests.some((q) => q.host === h && q.scheme === 'http' && q.status === 308)).toBe(true);
      expect(controller.requests.some((q) => q.host === h && q.scheme === 'https' && q.status === 308)).toBe(true);
      expect(dnsQueried(env, h)).toBe(false);
      expect(env.api.get(SECRETS, 'loop', 'web-tls')).toBeUndefined();
      expect(solverIngresses(env)).toEqual([]);
    } finally {
      controller.sslRedirect = 'off';
    }
  });

  it('keeps serving the old certificate when the controller stops reloading: ServedCertificateMismatch', async () => {
    env.api.ensureNamespace('stale');
    const h = host('stale');
    env.api.create(ingress('stale', 'web', 'web-tls', [h]));
    expect((await env.renew(['--ingress', 'stale/web'])).code).toBe(0);
    const first = secretLeaf(env, 'stale', 'web-tls');
    expect((await servedEventually(controller, h, (l) => l.fingerprint === first.fingerprint)).fingerprint).toBe(first.fingerprint);
    controller.frozen = true;
    try {
      // Routing still updates (the solver Ingress works); only certificates are stale.
      const r = await env.renew(['--ingress', 'stale/web', '--force']);
      expect(r.code, r.stderr).toBe(0);
      const second = secretLeaf(env, 'stale', 'web-tls');
      expect(second.fingerprint).not.toBe(first.fingerprint);
      await new Promise((res) => setTimeout(res, 500));
      const probe = await probeTls({ address: { host: '127.0.0.1', port: controller.httpsPort }, servername: h, timeoutMs: 3000 });
      expect(probe.ok && probe.leaf.fingerprint).toBe(first.fingerprint);
      const findings = judgeServedCertificate({ host: h, served: probe, expected: second, ingressRef: { kind: 'Ingress', namespace: 'stale', name: 'web' }, now: new Date() });
      expect(findings.map((f) => f.code)).toContain('ServedCertificateMismatch');
    } finally {
      controller.frozen = false;
    }
    const second = secretLeaf(env, 'stale', 'web-tls');
    expect((await servedEventually(controller, h, (l) => l.fingerprint === second.fingerprint)).fingerprint).toBe(second.fingerprint);
  });

  it('cleans up after a renew killed mid-order: takes over its expired lease, garbage-collects the solver Ingress and tokens, issues', async () => {
    env.api.ensureNamespace('crash');
    const h = host('crash');
    env.api.create(ingress('crash', 'web', 'web-tls', [h]));
    // Both carry a short lease (hidden --lease-duration): a holder that stops renewing loses it after 6 s.
    const flags = ['--ingress', 'crash/web', '--lease-duration', '6s'];
    const running = env.startRenew([...flags, '--identity', 'renew-killed']);
    let killed = false;
    env.onValidation.hook = (name) => {
      if (name !== h || killed) return;
      killed = true;
      running.kill('SIGKILL');
    };
    let next: ReturnType<ClusterEnv['startRenew']> | undefined;
    let result;
    try {
      // The next renew starts while the first holds the lease, so it must wait for it, however long
      // a process takes to start on a busy machine.
      const holder = () => env.api.get<{ spec: { holderIdentity?: string } }>(LEASES, 'certkeeper', 'certkeeper-pass')?.spec.holderIdentity;
      // The Lease names the --identity (plus the pid, so equal identities never share it).
      while (!holder()?.startsWith('renew-killed') && running.child.exitCode === null && running.child.signalCode === null) await new Promise((r) => setTimeout(r, 20));
      next = env.startRenew([...flags, '--identity', 'renew-next']);
      result = await running.result;
    } finally {
      env.onValidation.hook = undefined;
    }
    expect(running.child.signalCode, result.stderr).toBe('SIGKILL');
    // What a killed pass leaves: its solver Ingress, its tokens, and a Lease nobody renews.
    const leftovers = solverIngresses(env).map((i) => i.metadata.name);
    expect(leftovers).toHaveLength(1);
    expect(challengeTokens(env).length).toBeGreaterThan(0);
    const lease = env.api.get<{ spec: { holderIdentity?: string } }>(LEASES, 'certkeeper', 'certkeeper-pass');
    expect(lease?.spec.holderIdentity).toMatch(/^renew-killed\b/);

    const r = await next.result;
    expect(r.code, r.stderr).toBe(0);
    // Whether the next renew had to wait depends on how fast it started on this machine; taking
    // over the killed holder's lease (not ignoring it) is what matters.
    expect(r.stderr).toMatch(/taking over an expired lease.*"previous":"renew-killed\b/);
    expect(r.json?.garbageCollected).toEqual(expect.arrayContaining([`Ingress ${leftovers[0]}`, expect.stringMatching(/^\d+ challenge token\(s\)$/)]));
    expect(r.json?.certificates[0]).toMatchObject({ result: 'issued' });
    expect(secretLeaf(env, 'crash', 'web-tls').sans).toEqual([h]);
    expect(solverIngresses(env)).toEqual([]);
    expect(challengeTokens(env)).toEqual([]);
    expect(env.api.get<{ spec: { holderIdentity?: string } }>(LEASES, 'certkeeper', 'certkeeper-pass')?.spec.holderIdentity ?? '').toBe('');
  });

  it('stops ordering once another pass took its lease over, and leaves that pass\'s lease alone', async () => {
    env.api.ensureNamespace('stolen');
    const hosts = [host('stolen-a'), host('stolen-b'), host('stolen-c')];
    hosts.forEach((h, i) => env.api.create(ingress('stolen', `web-${i}`, `web-${i}-tls`, [h])));
    const running = env.startRenew(['--namespace', 'stolen', '--concurrency', '1', '--identity', 'renew-robbed']);
    let stolen = false;
    // While the first order is being validated, another holder takes the pass Lease (as a pass
    // would after this one failed to renew it in time).
    env.onValidation.hook = (name) => {
      if (stolen || !hosts.includes(name)) return;
      stolen = true;
      const lease = env.api.get<{ metadata: object; spec: Record<string, unknown> }>(LEASES, 'certkeeper', 'certkeeper-pass');
      env.api.put({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease?.metadata, spec: { ...lease?.spec, holderIdentity: 'the-other-pass', renewTime: new Date().toISOString(), leaseDurationSeconds: 3600 } });
    };
    let r;
    let holder: string | undefined;
    try {
      r = await running.result;
      holder = env.api.get<{ spec: { holderIdentity?: string } }>(LEASES, 'certkeeper', 'certkeeper-pass')?.spec.holderIdentity;
    } finally {
      env.onValidation.hook = undefined;
      // The stolen lease would keep every later pass of this file waiting.
      env.api.delete(LEASES, 'certkeeper', 'certkeeper-pass');
    }
    expect(stolen).toBe(true);
    expect(r.code, r.stderr).toBe(1);
    // No other order starts, and the order under way is abandoned before its certificate is
    // issued: the pass that holds the lease now decides for that Target too (no duplicate).
    expect(r.json?.ordersPlaced).toBe(1);
    expect(r.json?.certificatesIssued).toBe(0);
    const lost = r.json?.certificates.filter((c) => c.reason === 'PassLeaseLost') ?? [];
    expect(lost).toHaveLength(3);
    expect(lost.map((c) => c.message.split(':')[0]).sort()).toEqual(['abandoned before the certificate was issued', 'not ordered', 'not ordered']);
    expect(lost[0]?.message).toMatch(/lost the certkeeper-pass Lease to another pass/);
    expect(hosts.map((_, i) => env.api.get(SECRETS, 'stolen', `web-${i}-tls`))).toEqual([undefined, undefined, undefined]);
    expect(r.stderr).toMatch(/lost the pass lease to another holder/);
    // The other pass's lease is not released by the one that lost it.
    expect(holder).toBe('the-other-pass');
  });

  it('places exactly one order when two renews start at the same moment; the second finds the certificate valid', async () => {
    env.api.ensureNamespace('twin');
    const h = host('twin');
    env.api.create(ingress('twin', 'web', 'web-tls', [h]));
    const runs = [env.startRenew(['--ingress', 'twin/web']), env.startRenew(['--ingress', 'twin/web'])];
    const [a, b] = await Promise.all(runs.map((x) => x.result));
    expect(a?.code, a?.stderr).toBe(0);
    expect(b?.code, b?.stderr).toBe(0);
    expect((a?.json?.ordersPlaced ?? 0) + (b?.json?.ordersPlaced ?? 0)).toBe(1);
    const second = a?.json?.ordersPlaced === 0 ? a : b;
    expect(second?.json?.certificates[0]).toMatchObject({ result: 'skipped', reason: 'UpToDate' });
    expect(second?.json?.certificates[0]?.message).toMatch(/^valid until \d{4}-/);
    expect(secretLeaf(env, 'twin', 'web-tls').sans).toEqual([h]);
  });
});

describe('bare-metal NodePort controller: nothing answers on port 80', () => {
  let env: ClusterEnv;
  beforeAll(async () => {
    env = await startClusterEnv({ topology: 'controller', controller: { http: false } });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('fails at the self-check before asking the CA, says why (port 80, NodePort), and records the failure', async () => {
    const c = env.controller as FakeController;
    env.api.ensureNamespace('metal');
    const h = host('metal');
    env.api.create(ingress('metal', 'web', 'web-tls', [h]));
    // The controller itself works, on its NodePort.
    c.reload();
    expect((await getVia(c.nodePort, h, '/')).body).toContain(`app: http://${h}/`);

    const r = await env.renew(['--ingress', 'metal/web', '--self-check-timeout', '1s']);
    expect(r.code, r.stderr).toBe(1);
    // The probe token did not come back through port 80, so the CA was never asked.
    expect(r.json?.ordersPlaced).toBe(0);
    const cert = r.json?.certificates[0];
    expect(cert).toMatchObject({ namespace: 'metal', secretName: 'web-tls', result: 'failed', reason: 'IssuanceFailed' });
    expect(cert?.message).toMatch(/self-check failed: the challenge path does not reach certkeeper for .*Unreachable.*no authorization was spent/);
    expect(cert?.hint).toMatch(/port 80/);
    expect(cert?.hint).toMatch(/NodePort/);
    expect(r.stderr).toContain('Http01Unreachable');
    expect(r.stderr).toMatch(new RegExp(`no answer from 127\\.0\\.0\\.1:${c.httpPort}: ECONNREFUSED`));
    // Pebble never tried: its validator resolves every name it validates, and it resolved nothing.
    expect(dnsQueried(env, h)).toBe(false);
    expect(env.pebble.output()).not.toContain(h);
    expect(env.api.get(SECRETS, 'metal', 'web-tls')).toBeUndefined();
    const state = env.api.get<{ data?: Record<string, string> }>(CONFIGMAPS, 'certkeeper', 'certkeeper-state');
    const record = JSON.parse(state?.data?.['failure.metal.web-tls'] ?? '{}') as { failures?: number; lastError?: string };
    expect(record.failures).toBe(1);
    expect(record.lastError).toContain('self-check failed');
    expect(env.api.list(INGRESSES, 'certkeeper')).toEqual([]);
  });
});

describe('the fake controller routes and serves certificates like ingress-nginx', () => {
  let api: KubeApi;
  let c: FakeController;
  const backends: http.Server[] = [];
  const ports = new Map<string, number>();
  beforeAll(async () => {
    api = await startKubeApi({ namespaces: ['a', 'b', 'c'] });
    for (const name of ['app', 'api', 'admin', 'legacy']) {
      const s = http.createServer((req, res) => res.end(`${name} ${req.headers['x-forwarded-proto']} ${req.url}`));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      backends.push(s);
      ports.set(name, (s.address() as AddressInfo).port);
    }
    c = await startFakeController({
      api,
      services: (_ns, name) => (ports.has(name) ? { host: '127.0.0.1', port: ports.get(name) as number } : undefined),
    });
  });
  afterAll(async () => {
    await c?.close();
    for (const s of backends) await new Promise((r) => s.close(r));
    await api?.close();
  });

  const rule = (host: string, path: string, service: string, pathType = 'Prefix') => ({ host, http: { paths: [{ path, pathType, backend: { service: { name: service, port: { number: 80 } } } }] } });
  const ing = (namespace: string, name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { namespace, name, annotations },
    spec,
  });

  it('merges one host across namespaces, picks the longest Prefix element-wise, ignores other classes', async () => {
    const h = host('merge');
    const h2 = host('legacy');
    api.create(ing('a', 'site', { ingressClassName: 'nginx', rules: [rule(h, '/', 'app')] }));
    api.create(ing('b', 'api', { ingressClassName: 'nginx', rules: [rule(h, '/api', 'api'), rule(h, '/down', 'nowhere')] }));
    api.create(ing('c', 'admin', { ingressClassName: 'traefik', rules: [rule(h, '/admin', 'admin')] }));
    api.create(ing('c', 'old', { rules: [rule(h2, '/', 'legacy')] }, { 'kubernetes.io/ingress.class': 'nginx' }));
    expect((await getVia(c.httpPort, h, '/')).body).toBe('app http /');
    expect((await getVia(c.httpPort, `${h}:8080`, '/api/v1?x=1')).body).toBe('api http /api/v1?x=1');
    expect((await getVia(c.httpPort, h, '/api')).body).toBe('api http /api');
    expect((await getVia(c.httpPort, h, '/apix')).body).toBe('app http /apix');
    expect((await getVia(c.httpPort, h, '/admin')).body).toBe('app http /admin');
    expect((await getVia(c.httpPort, h2, '/')).body).toBe('legacy http /');
    const down = await getVia(c.httpPort, h, '/down');
    expect([down.status, down.headers.server]).toEqual([503, 'nginx']);
    const unknown = await getVia(c.httpPort, host('nobody'), '/');
    expect([unknown.status, unknown.headers.server, unknown.body]).toEqual([404, 'nginx', 'default backend - 404']);
  });

  it('serves a Secret only when it is in the Ingress namespace, parses, matches its key and covers the host', async () => {
    const [good, garbage, other, elsewhere] = [host('good'), host('garbage'), host('other'), host('elsewhere')];
    const tlsIngress = (name: string, h: string, secretName: string) => ing('a', name, { ingressClassName: 'nginx', tls: [{ hosts: [h], secretName }], rules: [rule(h, '/', 'app')] });
    const goodCert = createCert({ sans: [good] });
    api.create(tlsSecret({ name: 'good-tls', namespace: 'a', cert: goodCert }));
    api.create(tlsSecret({ name: 'garbage-tls', namespace: 'a', crt: 'not a certificate', key: 'no key' }));
    api.create(tlsSecret({ name: 'other-tls', namespace: 'a', cert: createCert({ sans: ['someone-else.example.test'] }) }));
    api.create(tlsSecret({ name: 'elsewhere-tls', namespace: 'b', cert: createCert({ sans: [elsewhere] }) }));
    api.create(tlsIngress('good', good, 'good-tls'));
    api.create(tlsIngress('garbage', garbage, 'garbage-tls'));
    api.create(tlsIngress('other', other, 'other-tls'));
    api.create(tlsIngress('elsewhere', elsewhere, 'elsewhere-tls'));
    expect((await served(c, good)).fingerprint).toBe(parseCertificate(goodCert.cert).fingerprint);
    for (const h of [garbage, other, elsewhere]) expect((await served(c, h)).subjectCN).toBe(FAKE_CN);
    // Requests over https are routed like http.
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: c.httpsPort, path: '/x', servername: good, headers: { host: good }, rejectUnauthorized: false, agent: false }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    expect(body).toBe('app https /x');
    // A renewed Secret is picked up within a second.
    const renewed = createCert({ sans: [good], serial: 'abcdef' });
    api.put(tlsSecret({ name: 'good-tls', namespace: 'a', cert: renewed }));
    const deadline = Date.now() + 1000;
    while (Date.now() < deadline && (await served(c, good)).fingerprint !== parseCertificate(renewed.cert).fingerprint) await new Promise((r) => setTimeout(r, 50));
    expect((await served(c, good)).fingerprint).toBe(parseCertificate(renewed.cert).fingerprint);
  });
});
