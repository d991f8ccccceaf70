// Gateways end to end: Pebble validates on "port 80" of a Gateway API implementation (the
// controller stand-in in gateway mode), certkeeper's solver HTTPRoute attaches to the Gateway's
// port-80 listener and sends the challenge to the Service certkeeper/certkeeper:80, which is a real
// `certkeeper serve`; `certkeeper renew` and `check` run as real processes.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type CertInfo } from '../../src/core/cert.js';
import { probeTls } from '../../src/probe/tls.js';
import { runCertkeeper } from '../support/cli.js';
import { ingress, startClusterEnv, type ClusterEnv, type RenewJson } from '../support/cluster-env.js';
import type { FakeController } from '../support/fake-controller.js';
import { getVia, until } from '../support/http.js';

const GROUP = 'gateway.networking.k8s.io';
const FAKE_CN = 'Kubernetes Ingress Controller Fake Certificate';
const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const EVENTS = { group: '', version: 'v1', resource: 'events' };
const HTTPROUTES = { group: GROUP, version: 'v1', resource: 'httproutes' };
const GRANTS = { group: GROUP, version: 'v1beta1', resource: 'referencegrants' };
const host = (label: string) => `${label}-${randomUUID().slice(0, 8)}.example.test`;
const OPT_IN = { 'kubernetes.io/tls-acme': 'true' };

type Listener = Record<string, unknown>;
const http80 = (extra: Listener = {}): Listener => ({ name: 'http', port: 80, protocol: 'HTTP', ...extra });
const https443 = (name: string, hostname: string, secret: string, namespace?: string): Listener => ({
  name,
  port: 443,
  protocol: 'HTTPS',
  hostname,
  tls: { mode: 'Terminate', certificateRefs: [{ kind: 'Secret', name: secret, ...(namespace ? { namespace } : {}) }] },
});

function gateway(env: ClusterEnv, namespace: string, name: string, listeners: Listener[], annotations: Record<string, string> = OPT_IN): void {
  env.api.ensureNamespace(namespace);
  env.api.create({ apiVersion: `${GROUP}/v1`, kind: 'Gateway', metadata: { name, namespace, annotations }, spec: { gatewayClassName: 'fake', listeners } });
}

function route(env: ClusterEnv, namespace: string, name: string, spec: Record<string, unknown>): void {
  env.api.create({ apiVersion: `${GROUP}/v1`, kind: 'HTTPRoute', metadata: { name, namespace }, spec });
}

/** The user's site: an HTTPRoute on the Gateway for the hosts, to the app. */
function site(env: ClusterEnv, namespace: string, gw: string, hostnames: string[]): void {
  route(env, namespace, `${gw}-site`, { parentRefs: [{ name: gw }], hostnames, rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] });
}

function leafOf(env: ClusterEnv, namespace: string, name: string): CertInfo | undefined {
  const s = env.api.get<{ data?: Record<string, string> }>(SECRETS, namespace, name);
  return s?.data?.['tls.crt'] ? parseCertificate(Buffer.from(s.data['tls.crt'], 'base64').toString('utf8')) : undefined;
}

async function servedLeaf(c: FakeController, servername: string): Promise<CertInfo> {
  const r = await probeTls({ address: { host: '127.0.0.1', port: c.httpsPort }, servername, timeoutMs: 3000 });
  if (!r.ok) throw new Error(`TLS handshake for ${servername} failed: ${r.error}`);
  return r.leaf;
}

const solverObjects = (env: ClusterEnv) => [
  ...env.api.list<{ metadata: { namespace: string; name: string } }>(HTTPROUTES, undefined, { labelSelector: 'certkeeper.dev/solver=true' }).map((o) => `HTTPRoute ${o.metadata.namespace}/${o.metadata.name}`),
  ...env.api.list<{ metadata: { namespace: string; name: string } }>(GRANTS, undefined, { labelSelector: 'certkeeper.dev/solver=true' }).map((o) => `ReferenceGrant ${o.metadata.namespace}/${o.metadata.name}`),
];
const findings = (r: { json?: RenewJson }, code: string) => (r.json?.findings ?? []).filter((f) => f.code === code);
const eventsOn = (env: ClusterEnv, namespace: string, kind: string, name: string) =>
  env.api
    .list<{ involvedObject: { kind: string; name: string; apiVersion: string }; reason: string; message: string }>(EVENTS, namespace)
    .filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name);

describe('Gateways through a Gateway API implementation: Pebble → port-80 listener → solver HTTPRoute → certkeeper serve', () => {
  let env: ClusterEnv;
  let controller: FakeController;
  beforeAll(async () => {
    env = await startClusterEnv({ topology: 'controller', controller: { mode: 'gateway' } });
    controller = env.controller as FakeController;
  });
  afterAll(async () => {
    await env?.close();
  });

  it('issues one Secret per certificateRefs for a Gateway with two HTTPS listeners, through an HTTPRoute that is gone afterwards; a second pass orders nothing', async () => {
    // All Gateways of the test world share 127.0.0.1, so each port-80 listener names its hosts
    // (a listener without hostname would take every other test's hosts too).
    const zone = `${randomUUID().slice(0, 8)}.example.test`;
    const a = `shop.${zone}`;
    const b = `www.${zone}`;
    gateway(env, 'shop', 'edge', [http80({ hostname: `*.${zone}` }), https443('https-a', a, 'shop-tls'), https443('https-b', b, 'www-tls')]);
    site(env, 'shop', 'edge', [a, b]);

    const r = await env.renew(['--gateway', 'shop/edge']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.ordersPlaced).toBe(2);
    expect(r.json?.certificates.map((c) => [c.namespace, c.secretName, c.result, c.hosts])).toEqual([
      ['shop', 'shop-tls', 'issued', [a]],
      ['shop', 'www-tls', 'issued', [b]],
    ]);
    expect(leafOf(env, 'shop', 'shop-tls')?.sans).toEqual([a]);
    expect(leafOf(env, 'shop', 'www-tls')?.sans).toEqual([b]);

    // The port-80 listener admits routes of its own namespace only (allowedRoutes defaults to
    // Same): the solver route was made in shop and reached certkeeper's Service through a grant.
    const validations = controller.requests.filter((q) => (q.host === a || q.host === b) && q.path.startsWith('/.well-known/acme-challenge/') && !q.userAgent?.includes('certkeeper self-check'));
    expect(validations.length).toBeGreaterThanOrEqual(2);
    for (const v of validations) {
      expect(v).toMatchObject({ scheme: 'http', status: 200, backend: 'certkeeper/certkeeper:80', listener: 'Gateway shop/edge http' });
      expect(v.route).toMatch(/^shop\/certkeeper-solver-[0-9a-f]{10}$/);
    }
    expect(solverObjects(env)).toEqual([]);
    expect(eventsOn(env, 'shop', 'Gateway', 'edge').map((e) => [e.reason, e.involvedObject.apiVersion])).toEqual([
      ['CertificateIssued', `${GROUP}/v1`],
      ['CertificateIssued', `${GROUP}/v1`],
    ]);

    // The listeners serve the new certificates.
    const leafA = leafOf(env, 'shop', 'shop-tls') as CertInfo;
    expect((await until('the new certificate served', () => servedLeaf(controller, a), (l) => l.fingerprint === leafA.fingerprint)).sans).toEqual([a]);

    const again = await env.renew(['--gateway', 'shop/edge']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json?.ordersPlaced).toBe(0);
    expect(again.json?.certificates.map((c) => c.reason)).toEqual(['UpToDate', 'UpToDate']);
    expect(again.stderr).toMatch(/skip shop\/shop-tls: valid until/);
  });

  it('refuses a certificateRefs Secret in another namespace without a ReferenceGrant, with a finding, and issues once the grant exists', async () => {
    const h = host('shared');
    env.api.ensureNamespace('certs');
    gateway(env, 'team', 'crossns', [http80({ hostname: h }), https443('https', h, 'shared-tls', 'certs')]);
    site(env, 'team', 'crossns', [h]);

    const refused = await env.renew(['--gateway', 'team/crossns']);
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.json?.ordersPlaced).toBe(0);
    const [f] = findings(refused, 'CertificateRefNotPermitted');
    expect(f).toMatchObject({ severity: 'error', host: h, object: { kind: 'Gateway', namespace: 'team', name: 'crossns' } });
    expect(f?.message).toContain('names Secret certs/shared-tls in another namespace, and no ReferenceGrant in certs lets Gateways of namespace team refer to it');
    expect(f?.hint).toContain('create a ReferenceGrant in certs');
    expect(env.api.get(SECRETS, 'certs', 'shared-tls')).toBeUndefined();

    env.api.create({
      apiVersion: `${GROUP}/v1beta1`,
      kind: 'ReferenceGrant',
      metadata: { name: 'gateways-of-team', namespace: 'certs' },
      spec: { from: [{ group: GROUP, kind: 'Gateway', namespace: 'team' }], to: [{ group: '', kind: 'Secret', name: 'shared-tls' }] },
    });
    const issued = await env.renew(['--gateway', 'team/crossns']);
    expect(issued.code, issued.stderr).toBe(0);
    expect(findings(issued, 'CertificateRefNotPermitted')).toEqual([]);
    expect(issued.json?.certificates.map((c) => [c.namespace, c.secretName, c.result])).toEqual([['certs', 'shared-tls', 'issued']]);
    const leaf = leafOf(env, 'certs', 'shared-tls') as CertInfo;
    expect(leaf.sans).toEqual([h]);
    expect((await until('served through the grant', () => servedLeaf(controller, h), (l) => l.fingerprint === leaf.fingerprint)).fingerprint).toBe(leaf.fingerprint);
  });

  it('reports a Gateway without a port-80 listener before any order', async () => {
    const h = host('tls-only');
    gateway(env, 'shop', 'tls-only', [https443('https', h, 'tls-only-tls')]);
    site(env, 'shop', 'tls-only', [h]);
    const before = controller.requests.length;

    const r = await env.renew(['--gateway', 'shop/tls-only']);
    expect(r.code).toBe(1);
    expect(r.json?.ordersPlaced).toBe(0);
    expect(r.json?.certificates).toEqual([
      expect.objectContaining({ secretName: 'tls-only-tls', result: 'refused', reason: 'GatewayHttpListenerMissing', hint: expect.stringContaining('{name: http, port: 80, protocol: HTTP') }),
    ]);
    const [f] = findings(r, 'GatewayHttpListenerMissing');
    expect(f?.message).toContain(`Gateway shop/tls-only has no HTTP listener on port 80 that takes ${h} (listeners: https (HTTPS:443 ${h}))`);
    // Nothing was routed, nothing asked of the CA: no challenge request reached the controller.
    expect(controller.requests.slice(before).filter((q) => q.host === h)).toEqual([]);
    expect(eventsOn(env, 'shop', 'Gateway', 'tls-only').map((e) => e.reason)).toEqual(['GatewayHttpListenerMissing']);
    expect(solverObjects(env)).toEqual([]);
  });

  it('issues through a port-80 HTTP→HTTPS redirect route (the exact challenge match wins), and reports a redirect that would take the challenge path', async () => {
    const h = host('redirected');
    gateway(env, 'shop', 'redirecting', [http80({ hostname: h }), https443('https', h, 'redirected-tls')]);
    route(env, 'shop', 'to-https', {
      parentRefs: [{ name: 'redirecting', sectionName: 'http' }],
      hostnames: [h],
      rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 301 } }] }],
    });
    route(env, 'shop', 'site', { parentRefs: [{ name: 'redirecting', sectionName: 'https' }], hostnames: [h], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] });
    expect((await until('redirect programmed', () => getVia(controller.httpPort, h, '/cart'), (x) => x.status === 301)).headers.location).toBe(`https://${h}/cart`);

    const r = await env.renew(['--gateway', 'shop/redirecting']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.certificates.map((c) => c.result)).toEqual(['issued']);
    expect(findings(r, 'ChallengePathRedirected')).toEqual([]);
    const answered = controller.requests.filter((q) => q.host === h && q.path.startsWith('/.well-known/acme-challenge/'));
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.every((q) => q.status === 200 && q.backend === 'certkeeper/certkeeper:80')).toBe(true);
    // Everything else on port 80 is still redirected.
    expect((await getVia(controller.httpPort, h, '/')).status).toBe(301);

    // A redirect matching the challenge path by RegularExpression: its precedence against an Exact
    // match is the implementation's choice, so certkeeper refuses to bet an authorization on it.
    const h2 = host('regex');
    gateway(env, 'shop', 'regex', [http80({ hostname: h2 }), https443('https', h2, 'regex-tls')]);
    route(env, 'shop', 'regex-redirect', {
      parentRefs: [{ name: 'regex', sectionName: 'http' }],
      hostnames: [h2],
      rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/.*' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] }],
    });
    route(env, 'shop', 'regex-site', { parentRefs: [{ name: 'regex', sectionName: 'https' }], hostnames: [h2], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] });
    const caught = await env.renew(['--gateway', 'shop/regex']);
    expect(caught.code).toBe(1);
    expect(caught.json?.ordersPlaced).toBe(0);
    expect(caught.json?.certificates.map((c) => [c.result, c.reason])).toEqual([['refused', 'ChallengePathRedirected']]);
    const [f] = findings(caught, 'ChallengePathRedirected');
    expect(f).toMatchObject({ host: h2, object: { kind: 'HTTPRoute', namespace: 'shop', name: 'regex-redirect' } });
    expect(f?.message).toContain('RegularExpression "/.*"');
    expect(f?.hint).toContain('exempt the challenge path from the redirect');
    expect(controller.requests.filter((q) => q.host === h2)).toEqual([]);
  });

  it('check --probe sees the fake certificate before issuance and the issued one after', async () => {
    const h = host('probed');
    gateway(env, 'probe', 'edge', [http80({ hostname: h }), https443('https', h, 'probed-tls')]);
    site(env, 'probe', 'edge', [h]);
    const dir = await mkdtemp(join(tmpdir(), 'certkeeper-gw-probe-'));
    try {
      const root = join(dir, 'root.pem');
      await writeFile(root, await env.pebble.issuingRootPem());
      const check = async () => {
        const r = await runCertkeeper([
          'check', '--kubeconfig', env.kubeconfig, '--gateway', 'probe/edge', '--probe',
          '--probe-address', `127.0.0.1:${controller.httpsPort}`, '--probe-http-address', `127.0.0.1:${controller.httpPort}`,
          '--ca-bundle', root, '--self-check-timeout', '10s', '-o', 'json',
        ]);
        return { ...r, json: JSON.parse(r.stdout) as { findings: { code: string; host?: string; object: { kind: string; namespace?: string; name: string }; message: string }[] } };
      };
      await until('listener status written', () => env.api.get<{ status?: { listeners?: unknown[] } }>({ group: GROUP, version: 'v1', resource: 'gateways' }, 'probe', 'edge')?.status?.listeners?.length ?? 0, (n) => n === 2);
      const before = await check();
      expect(before.code, before.stderr).toBe(2);
      const codes = before.json.findings.map((f) => `${f.code} ${f.object.kind}`).sort();
      expect(codes, JSON.stringify(before.json.findings, null, 1)).toEqual(['DefaultCertificateServed Gateway', 'ListenerRefsNotResolved Gateway', 'NoSniDefaultCertificate LoadBalancer', 'SecretMissing Secret']);
      const fake = before.json.findings.find((f) => f.code === 'DefaultCertificateServed');
      expect(fake).toMatchObject({ host: h, object: { kind: 'Gateway', namespace: 'probe', name: 'edge' } });
      expect(fake?.message).toContain(FAKE_CN);
      expect(before.json.findings.find((f) => f.code === 'ListenerRefsNotResolved')?.message).toContain('ResolvedRefs=False (InvalidCertificateRef) for listener https of Gateway probe/edge');
      // The HTTP-01 probe went through the Gateway to certkeeper (no Http01 finding) and left nothing behind.
      expect(before.stderr).toMatch(/1 Gateway read, 1 Secret in use \(Gateway probe\/edge\); \d+ TLS handshakes?, [1-9]\d* HTTP-01 requests?/);
      expect(solverObjects(env)).toEqual([]);

      const r = await env.renew(['--gateway', 'probe/edge']);
      expect(r.code, r.stderr).toBe(0);
      const leaf = leafOf(env, 'probe', 'probed-tls') as CertInfo;
      await until('the issued certificate served', () => servedLeaf(controller, h), (l) => l.fingerprint === leaf.fingerprint);
      await until('listener resolved', () => env.api.get<{ status?: { listeners?: { name: string; conditions: { type: string; status: string }[] }[] } }>({ group: GROUP, version: 'v1', resource: 'gateways' }, 'probe', 'edge')?.status?.listeners?.find((l) => l.name === 'https')?.conditions.find((c) => c.type === 'ResolvedRefs')?.status, (s) => s === 'True');
      const after = await check();
      expect(after.json.findings.map((f) => f.code)).toEqual(['NoSniDefaultCertificate']);
      expect(after.code, after.stderr).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Ingresses and Gateways in one cluster', () => {
  let env: ClusterEnv;
  beforeAll(async () => {
    env = await startClusterEnv({ gatewayApi: true });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('issues for both in one pass, with Events on the Ingress and on the Gateway', async () => {
    const i = host('ingress');
    const g = host('gateway');
    env.api.ensureNamespace('mixed');
    env.api.create(ingress('mixed', 'web', 'web-tls', [i]));
    gateway(env, 'mixed', 'edge', [http80(), https443('https', g, 'edge-tls')]);
    site(env, 'mixed', 'edge', [g]);

    const r = await env.renew();
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.ordersPlaced).toBe(2);
    expect(r.json?.certificates.map((c) => [c.secretName, c.result, c.hosts])).toEqual([
      ['edge-tls', 'issued', [g]],
      ['web-tls', 'issued', [i]],
    ]);
    expect(leafOf(env, 'mixed', 'edge-tls')?.sans).toEqual([g]);
    expect(leafOf(env, 'mixed', 'web-tls')?.sans).toEqual([i]);
    expect(eventsOn(env, 'mixed', 'Ingress', 'web').map((e) => e.reason)).toEqual(['CertificateIssued']);
    expect(eventsOn(env, 'mixed', 'Gateway', 'edge').map((e) => e.reason)).toEqual(['CertificateIssued']);
    expect(solverObjects(env)).toEqual([]);
  });
});
