// The controller stand-in in gateway mode, checked with real HTTP and TLS clients against what
// the Gateway API spec (v1.6) and its conformance tests require: certificates per listener (the
// fake one until the Secret is usable), cross-namespace references only with a ReferenceGrant,
// allowedRoutes, route precedence with a port-80 redirect present, ListenerSets, and the status
// it writes for each of these.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCert, tlsSecret, type TestCert } from '../support/certs.js';
import { startClusterEnv } from '../support/cluster-env.js';
import { startFakeController, type FakeController } from '../support/fake-controller.js';
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';
import { runKubectl } from '../support/kubectl.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/http.js';

const GROUP = 'gateway.networking.k8s.io';
const FAKE_CN = 'Kubernetes Ingress Controller Fake Certificate';
let seq = 0;
const host = (label: string) => `${label}-${++seq}-${process.pid}.example.test`;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}
interface ListenerStatus {
  name: string;
  attachedRoutes: number;
  conditions: Condition[];
}
interface GatewayStatus {
  addresses?: { type: string; value: string }[];
  conditions?: Condition[];
  listeners?: ListenerStatus[];
  attachedListenerSets?: number;
}

/** A real TLS handshake: the leaf the port presents for `servername` (none: no SNI). */
function servedLeaf(port: number, servername?: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.destroy();
      if (raw) resolve(raw);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
  });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}
function request(port: number, hostHeader: string, path: string, secure?: { servername: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port, path, headers: { host: hostHeader }, agent: false as const };
    const onResponse = (res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    };
    const req = secure ? https.request({ ...opts, servername: secure.servername, rejectUnauthorized: false }, onResponse) : http.request(opts, onResponse);
    req.on('error', reject);
    req.end();
  });
}

const cn = (x: X509Certificate): string => /CN=([^\n]+)/.exec(x.subject)?.[1] ?? '';
const fingerprint = (c: TestCert): string => new X509Certificate(c.cert).fingerprint256;

describe('the controller stand-in in gateway mode', () => {
  let api: KubeApi;
  let c: FakeController;
  const backends: http.Server[] = [];
  const ports = new Map<string, number>();

  beforeAll(async () => {
    api = await startKubeApi({ gatewayApi: true, namespaces: ['infra', 'certkeeper', 'certs', 'team'] });
    for (const name of ['app', 'certkeeper', 'docs', 'blog']) {
      const s = http.createServer((req, res) => res.end(`${name} ${String(req.headers['x-forwarded-proto'])} ${req.url ?? ''}`));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      backends.push(s);
      ports.set(name, (s.address() as AddressInfo).port);
    }
    c = await startFakeController({
      api,
      mode: 'gateway',
      // Service name → the local server standing for its endpoints, in any namespace.
      services: (_ns, name) => (ports.has(name) ? { host: '127.0.0.1', port: ports.get(name) as number } : undefined),
    });
  });
  afterEach(() => {
    // Every status the stand-in wrote passed the CRD validation of the in-process API.
    expect(c.statusErrors).toEqual([]);
  });
  afterAll(async () => {
    await c?.close();
    for (const s of backends) await new Promise((r) => s.close(r));
    await api?.close();
  });

  const gatewayStatus = (ns: string, name: string): GatewayStatus => api.get<{ status?: GatewayStatus }>('gateways', ns, name)?.status ?? {};
  const gwCond = (ns: string, name: string, type: string) => gatewayStatus(ns, name).conditions?.find((x) => x.type === type);
  const listenerCond = (ns: string, gw: string, listener: string, type: string) =>
    gatewayStatus(ns, gw).listeners?.find((l) => l.name === listener)?.conditions.find((x) => x.type === type);
  const routeParent = (ns: string, name: string) =>
    api.get<{ status?: { parents?: { parentRef: Record<string, unknown>; controllerName: string; conditions: Condition[] }[] } }>('httproutes', ns, name)?.status?.parents?.find((p) => p.controllerName === c.controllerName);
  const routeCond = (ns: string, name: string, type: string) => routeParent(ns, name)?.conditions.find((x) => x.type === type);
  const brief = (x: Condition | undefined) => (x ? `${x.status}/${x.reason}` : 'absent');

  const gateway = (ns: string, name: string, listeners: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
    api.create({ apiVersion: `${GROUP}/v1`, kind: 'Gateway', metadata: { name, namespace: ns }, spec: { gatewayClassName: 'fake', listeners, ...extra } });
  const route = (ns: string, name: string, spec: Record<string, unknown>) => api.create({ apiVersion: `${GROUP}/v1`, kind: 'HTTPRoute', metadata: { name, namespace: ns }, spec });
  const https443 = (name: string, hostname: string, certificateRefs: Record<string, unknown>[], allowedRoutes?: Record<string, unknown>) => ({
    name,
    port: 443,
    protocol: 'HTTPS',
    hostname,
    tls: { certificateRefs },
    ...(allowedRoutes ? { allowedRoutes } : {}),
  });

  it('claims its GatewayClass and reports the Gateway at 127.0.0.1, as real kubectl sees it', async () => {
    await until('GatewayClass accepted', () => api.get<{ status: { conditions: Condition[] } }>('gatewayclasses', undefined, 'fake')?.status.conditions[0], (x) => brief(x) === 'True/Accepted');
    const dir = await mkdtemp(join(tmpdir(), 'fake-gateway-'));
    const kubeconfig = join(dir, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig, { namespace: 'infra' });
    try {
      gateway('infra', 'plain', [{ name: 'http', port: 80, protocol: 'HTTP' }]);
      const waited = await runKubectl(['wait', '--for=condition=Programmed=True', 'gateway/plain', '--timeout=20s'], { kubeconfig });
      expect(waited.stdout.trim()).toBe(`gateway.${GROUP}/plain condition met`);
      expect((await runKubectl(['get', 'gateway', 'plain'], { kubeconfig })).stdout).toMatch(/\nplain\s+fake\s+127\.0\.0\.1\s+True\s+\d+s\n$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const st = gatewayStatus('infra', 'plain');
    expect(st.addresses).toEqual([{ type: 'IPAddress', value: '127.0.0.1' }]);
    expect(st.conditions?.map(brief)).toEqual(['True/Accepted', 'True/Programmed']);
    expect(st.conditions?.every((x) => x.observedGeneration === 1)).toBe(true);
    expect(st.listeners).toEqual([
      expect.objectContaining({ name: 'http', attachedRoutes: 0, supportedKinds: [{ group: GROUP, kind: 'HTTPRoute' }] }),
    ]);
    expect(c.gatewayPort(80)).toBe(c.httpPort);
    // Traffic to no listener hostname and no route: 404.
    expect((await request(c.httpPort, host('nobody'), '/')).status).toBe(404);
  });

  it('serves the fake certificate while the listener Secret is missing, then the Secret once it exists', async () => {
    const h = host('shop');
    gateway('infra', 'shop', [{ name: 'http', port: 80, protocol: 'HTTP', hostname: h }, https443('https', h, [{ name: 'shop-tls' }])]);
    route('infra', 'shop', { parentRefs: [{ name: 'shop', sectionName: 'https' }], hostnames: [h], rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] });

    await until('InvalidCertificateRef', () => listenerCond('infra', 'shop', 'https', 'ResolvedRefs'), (x) => brief(x) === 'False/InvalidCertificateRef');
    expect(listenerCond('infra', 'shop', 'https', 'ResolvedRefs')?.message).toContain('Secret infra/shop-tls does not exist');
    expect(brief(listenerCond('infra', 'shop', 'https', 'Programmed'))).toBe('False/Invalid');
    expect(brief(listenerCond('infra', 'shop', 'https', 'Accepted'))).toBe('True/Accepted');
    expect(cn(await servedLeaf(c.httpsPort, h))).toBe(FAKE_CN);
    // Routed all the same, behind the fake certificate (as ingress-nginx does).
    expect((await request(c.httpsPort, h, '/cart', { servername: h })).body).toBe('app https /cart');
    expect(gatewayStatus('infra', 'shop').listeners?.find((l) => l.name === 'https')?.attachedRoutes).toBe(1);
    expect(brief(routeCond('infra', 'shop', 'Accepted'))).toBe('True/Accepted');
    expect(brief(routeCond('infra', 'shop', 'ResolvedRefs'))).toBe('True/ResolvedRefs');

    // A Secret without a key is as unusable as none.
    api.create(tlsSecret({ name: 'shop-tls', namespace: 'infra', crt: createCert({ sans: [h] }).cert, omit: ['tls.key'], type: 'Opaque' }));
    await until('malformed Secret reported', () => listenerCond('infra', 'shop', 'https', 'ResolvedRefs')?.message ?? '', (m) => m.includes('has no tls.key'));
    const cert = createCert({ sans: [h] });
    api.put(tlsSecret({ name: 'shop-tls', namespace: 'infra', cert, type: 'Opaque' }));
    await until('the Secret certificate served', async () => (await servedLeaf(c.httpsPort, h)).fingerprint256, (f) => f === fingerprint(cert));
    await until('ResolvedRefs', () => listenerCond('infra', 'shop', 'https', 'ResolvedRefs'), (x) => brief(x) === 'True/ResolvedRefs');
    expect(brief(listenerCond('infra', 'shop', 'https', 'Programmed'))).toBe('True/Programmed');
    // No SNI, or a name no listener has: the default certificate.
    expect(cn(await servedLeaf(c.httpsPort))).toBe(FAKE_CN);
    expect(cn(await servedLeaf(c.httpsPort, host('unknown')))).toBe(FAKE_CN);
  });

  it('answers an Exact challenge path ahead of a port-80 redirect route, once the listener admits the solver route', async () => {
    const h = host('www');
    const token = '/.well-known/acme-challenge/tok-123';
    gateway('infra', 'edge', [{ name: 'http', port: 80, protocol: 'HTTP', hostname: h }]);
    route('infra', 'to-https', {
      parentRefs: [{ name: 'edge', sectionName: 'http' }],
      hostnames: [h],
      rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 301 } }] }],
    });
    // A PathPrefix route on the same prefix: Exact must still win over it.
    route('infra', 'well-known', { parentRefs: [{ name: 'edge', sectionName: 'http' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/.well-known' } }], backendRefs: [{ name: 'docs', port: 80 }] }] });
    const solver = { parentRefs: [{ name: 'edge', namespace: 'infra', sectionName: 'http' }], hostnames: [h], rules: [{ matches: [{ path: { type: 'Exact', value: token } }], backendRefs: [{ name: 'certkeeper', port: 80 }] }] };
    route('certkeeper', 'solver', solver);

    const redirected = await until('redirect programmed', () => request(c.httpPort, `${h}:8080`, '/shop?a=1'), (r) => r.status === 301);
    expect(redirected.headers.location).toBe(`https://${h}/shop?a=1`);
    // allowedRoutes defaults to Same: certkeeper's route is refused and the prefix route answers.
    await until('solver refused', () => routeCond('certkeeper', 'solver', 'Accepted'), (x) => brief(x) === 'False/NotAllowedByListeners');
    expect((await request(c.httpPort, h, token)).body).toBe(`docs http ${token}`);
    expect((await request(c.httpPort, h, '/.well-known/other')).body).toBe('docs http /.well-known/other');

    // The Gateway owner admits namespaces by label: its own and certkeeper's.
    for (const ns of ['infra', 'certkeeper']) api.put({ ...api.get('namespaces', undefined, ns), metadata: { name: ns, labels: { 'edge-routes': 'allowed' } } });
    const edge = api.get<{ spec: { listeners: Record<string, unknown>[] } }>('gateways', 'infra', 'edge');
    if (!edge) throw new Error('edge missing');
    edge.spec.listeners[0] = { ...edge.spec.listeners[0], allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { 'edge-routes': 'allowed' } } } } };
    api.put(edge);
    await until('solver accepted', () => routeCond('certkeeper', 'solver', 'Accepted'), (x) => brief(x) === 'True/Accepted');
    const answered = await request(c.httpPort, h, token);
    expect(answered.body).toBe(`certkeeper http ${token}`);
    expect(c.requests.at(-1)).toMatchObject({ route: 'certkeeper/solver', backend: 'certkeeper/certkeeper:80', listener: 'Gateway infra/edge http', status: 200 });
    // Everything else on the host is still redirected; the prefix route still has its other paths.
    expect((await request(c.httpPort, h, '/.well-known/acme-challenge/other')).body).toBe('docs http /.well-known/acme-challenge/other');
    expect((await request(c.httpPort, h, '/')).status).toBe(301);
    expect(gatewayStatus('infra', 'edge').listeners?.[0]?.attachedRoutes).toBe(3);
    expect(routeParent('certkeeper', 'solver')?.parentRef).toEqual({ group: GROUP, kind: 'Gateway', name: 'edge', namespace: 'infra', sectionName: 'http' });
  });

  it('sends a route in the Gateway namespace to certkeeper\'s Service only with a ReferenceGrant', async () => {
    const h = host('grant');
    const token = '/.well-known/acme-challenge/tok-456';
    gateway('infra', 'granted', [{ name: 'http', port: 80, protocol: 'HTTP', hostname: h }]);
    route('infra', 'solver-here', {
      parentRefs: [{ name: 'granted', sectionName: 'http' }],
      hostnames: [h],
      rules: [{ matches: [{ path: { type: 'Exact', value: token } }], backendRefs: [{ name: 'certkeeper', namespace: 'certkeeper', port: 80 }] }],
    });
    await until('RefNotPermitted', () => routeCond('infra', 'solver-here', 'ResolvedRefs'), (x) => brief(x) === 'False/RefNotPermitted');
    expect(brief(routeCond('infra', 'solver-here', 'Accepted'))).toBe('True/Accepted');
    expect((await request(c.httpPort, h, token)).status).toBe(500);

    api.create({
      apiVersion: `${GROUP}/v1beta1`,
      kind: 'ReferenceGrant',
      metadata: { name: 'from-infra-routes', namespace: 'certkeeper' },
      spec: { from: [{ group: GROUP, kind: 'HTTPRoute', namespace: 'infra' }], to: [{ group: '', kind: 'Service', name: 'certkeeper' }] },
    });
    await until('ResolvedRefs', () => routeCond('infra', 'solver-here', 'ResolvedRefs'), (x) => brief(x) === 'True/ResolvedRefs');
    expect((await request(c.httpPort, h, token)).body).toBe(`certkeeper http ${token}`);
  });

  it('refuses a certificateRef to another namespace until a ReferenceGrant there allows it', async () => {
    const h = host('shared');
    const cert = createCert({ sans: [h] });
    api.create(tlsSecret({ name: 'shared-tls', namespace: 'certs', cert }));
    gateway('infra', 'crossns', [https443('https', h, [{ name: 'shared-tls', namespace: 'certs' }])]);
    const refused = await until('RefNotPermitted', () => listenerCond('infra', 'crossns', 'https', 'ResolvedRefs'), (x) => brief(x) === 'False/RefNotPermitted');
    expect(refused?.message).toBe('Certificate reference to Secret certs/shared-tls is not permitted by any ReferenceGrant in namespace certs');
    expect(brief(listenerCond('infra', 'crossns', 'https', 'Programmed'))).toBe('False/Invalid');
    expect(cn(await servedLeaf(c.httpsPort, h))).toBe(FAKE_CN);

    // A grant for another Secret name, or from another namespace, does not count.
    api.create({ apiVersion: `${GROUP}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'other-secret', namespace: 'certs' }, spec: { from: [{ group: GROUP, kind: 'Gateway', namespace: 'infra' }], to: [{ group: '', kind: 'Secret', name: 'not-this' }] } });
    api.create({ apiVersion: `${GROUP}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'other-ns', namespace: 'certs' }, spec: { from: [{ group: GROUP, kind: 'Gateway', namespace: 'team' }], to: [{ group: '', kind: 'Secret' }] } });
    c.reload();
    expect(brief(listenerCond('infra', 'crossns', 'https', 'ResolvedRefs'))).toBe('False/RefNotPermitted');

    api.create({ apiVersion: `${GROUP}/v1`, kind: 'ReferenceGrant', metadata: { name: 'gateways-in-infra', namespace: 'certs' }, spec: { from: [{ group: GROUP, kind: 'Gateway', namespace: 'infra' }], to: [{ group: '', kind: 'Secret', name: 'shared-tls' }] } });
    const resolved = await until('ResolvedRefs', () => listenerCond('infra', 'crossns', 'https', 'ResolvedRefs'), (x) => brief(x) === 'True/ResolvedRefs');
    expect(Date.parse(resolved?.lastTransitionTime ?? '')).toBeGreaterThanOrEqual(Date.parse(refused?.lastTransitionTime ?? ''));
    expect(brief(listenerCond('infra', 'crossns', 'https', 'Programmed'))).toBe('True/Programmed');
    expect((await servedLeaf(c.httpsPort, h)).fingerprint256).toBe(fingerprint(cert));

    // Withdrawing the grant withdraws the certificate.
    api.delete('referencegrants', 'certs', 'gateways-in-infra');
    await until('fake again', async () => cn(await servedLeaf(c.httpsPort, h)), (x) => x === FAKE_CN);
    expect(brief(listenerCond('infra', 'crossns', 'https', 'ResolvedRefs'))).toBe('False/RefNotPermitted');
  });

  it('keeps routes out of listeners that do not admit them, and says why', async () => {
    const h = host('strict');
    gateway('infra', 'strict', [{ name: 'http', port: 80, protocol: 'HTTP', hostname: h }]);
    route('team', 'elsewhere', { parentRefs: [{ name: 'strict', namespace: 'infra' }], hostnames: [h], rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] });
    route('infra', 'wrong-host', { parentRefs: [{ name: 'strict' }], hostnames: ['other.example.test'], rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] });
    route('infra', 'wrong-section', { parentRefs: [{ name: 'strict', sectionName: 'https' }], rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] });
    route('infra', 'no-service', { parentRefs: [{ name: 'strict' }], hostnames: [h], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/gone' } }], backendRefs: [{ name: 'missing', port: 80 }] }] });
    route('infra', 'by-port', { parentRefs: [{ name: 'strict', port: 80 }], hostnames: [h], rules: [{ matches: [{ path: { type: 'Exact', value: '/by-port' } }], backendRefs: [{ name: 'app', port: 80 }] }] });
    route('infra', 'wrong-port', { parentRefs: [{ name: 'strict', port: 8080 }], rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] });
    await until('statuses', () => routeCond('infra', 'no-service', 'ResolvedRefs'), (x) => x !== undefined);
    await until('elsewhere refused', () => routeCond('team', 'elsewhere', 'Accepted'), (x) => x !== undefined);
    expect(brief(routeCond('team', 'elsewhere', 'Accepted'))).toBe('False/NotAllowedByListeners');
    expect(brief(routeCond('infra', 'wrong-host', 'Accepted'))).toBe('False/NoMatchingListenerHostname');
    expect(brief(routeCond('infra', 'wrong-section', 'Accepted'))).toBe('False/NoMatchingParent');
    expect(brief(routeCond('infra', 'no-service', 'ResolvedRefs'))).toBe('False/BackendNotFound');
    expect(brief(routeCond('infra', 'by-port', 'Accepted'))).toBe('True/Accepted');
    expect(brief(routeCond('infra', 'wrong-port', 'Accepted'))).toBe('False/NoMatchingParent');
    expect(gatewayStatus('infra', 'strict').listeners?.[0]?.attachedRoutes).toBe(2);
    expect((await request(c.httpPort, h, '/by-port')).body).toBe('app http /by-port');
    expect((await request(c.httpPort, h, '/')).status).toBe(404);
    expect((await request(c.httpPort, h, '/gone/x')).status).toBe(500);
  });

  it('orders matches by the Gateway API precedence and isolates listeners by hostname', async () => {
    const apex = host('apex');
    const sub = `api.${apex}`;
    gateway('infra', 'ordered', [
      { name: 'wild', port: 80, protocol: 'HTTP', hostname: `*.${apex}` },
      { name: 'exact', port: 80, protocol: 'HTTP', hostname: sub },
    ]);
    // Same match as b-prefix and created first: the older route wins, and within one second
    // (creationTimestamp has second precision) namespace/name decides, "a" before "b".
    route('infra', 'a-prefix', { parentRefs: [{ name: 'ordered', sectionName: 'wild' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'blog', port: 80 }] }] });
    // Attached to the whole Gateway; the route hostname intersects with both listeners.
    route('infra', 'b-prefix', { parentRefs: [{ name: 'ordered' }], hostnames: [`*.${apex}`], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'app', port: 80 }] }] });
    route('infra', 'c-longer', { parentRefs: [{ name: 'ordered' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/docs' } }], backendRefs: [{ name: 'docs', port: 80 }] }] });

    await until('attached', () => gatewayStatus('infra', 'ordered').listeners?.map((l) => l.attachedRoutes), (n) => JSON.stringify(n) === '[3,2]');
    // The exact listener takes api.<apex>; only its routes (b-prefix, c-longer) count there.
    expect((await request(c.httpPort, sub, '/x')).body).toBe('app http /x');
    expect((await request(c.httpPort, sub, '/docs/a')).body).toBe('docs http /docs/a');
    expect((await request(c.httpPort, sub, '/docsx')).body).toBe('app http /docsx');
    // Deeper names match the wildcard listener (any number of labels), where a-prefix ties with b-prefix.
    expect((await request(c.httpPort, `a.b.${apex}`, '/x')).body).toBe('blog http /x');
    expect((await request(c.httpPort, apex, '/x')).status).toBe(404);
  });

  it('attaches a ListenerSet to its Gateway only when allowedListeners admits it; routes reach it through it', async () => {
    const gwHost = host('main');
    const lsHost = host('tenant');
    const cert = createCert({ sans: [lsHost] });
    api.create(tlsSecret({ name: 'tenant-tls', namespace: 'infra', cert }));
    gateway('infra', 'shared', [{ name: 'http', port: 80, protocol: 'HTTP', hostname: gwHost, allowedRoutes: { namespaces: { from: 'All' } } }]);
    api.create({
      apiVersion: `${GROUP}/v1`,
      kind: 'ListenerSet',
      metadata: { name: 'tenant', namespace: 'infra' },
      spec: { parentRef: { name: 'shared' }, listeners: [https443('https', lsHost, [{ name: 'tenant-tls' }], { namespaces: { from: 'All' } })] },
    });
    route('team', 'via-set', { parentRefs: [{ kind: 'ListenerSet', name: 'tenant', namespace: 'infra', sectionName: 'https' }], rules: [{ backendRefs: [{ name: 'blog', port: 80 }] }] });
    route('team', 'via-gateway', { parentRefs: [{ name: 'shared', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] });

    const lsCond = (type: string) => api.get<{ status?: { conditions?: Condition[] } }>('listenersets', 'infra', 'tenant')?.status?.conditions?.find((x) => x.type === type);
    // allowedListeners defaults to None.
    await until('NotAllowed', () => lsCond('Accepted'), (x) => brief(x) === 'False/NotAllowed');
    expect(brief(lsCond('Programmed'))).toBe('False/NotAllowed');
    expect(gatewayStatus('infra', 'shared').attachedListenerSets).toBe(0);
    expect(cn(await servedLeaf(c.httpsPort, lsHost))).toBe(FAKE_CN);

    const shared = api.get<{ spec: Record<string, unknown> }>('gateways', 'infra', 'shared');
    if (!shared) throw new Error('shared missing');
    api.put({ ...shared, spec: { ...shared.spec, allowedListeners: { namespaces: { from: 'Same' } } } });
    await until('accepted', () => lsCond('Accepted'), (x) => brief(x) === 'True/Accepted');
    expect(brief(lsCond('Programmed'))).toBe('True/Programmed');
    expect(gatewayStatus('infra', 'shared').attachedListenerSets).toBe(1);
    const lsListener = api.get<{ status: { listeners: ListenerStatus[] } }>('listenersets', 'infra', 'tenant')?.status.listeners[0];
    expect(lsListener?.attachedRoutes).toBe(1);
    expect(lsListener?.conditions.map(brief)).toEqual(['True/Accepted', 'True/Programmed', 'True/ResolvedRefs']);

    expect((await servedLeaf(c.httpsPort, lsHost)).fingerprint256).toBe(fingerprint(cert));
    expect((await request(c.httpsPort, lsHost, '/post', { servername: lsHost })).body).toBe('blog https /post');
    // A route naming only the Gateway does not reach ListenerSet listeners.
    expect((await request(c.httpPort, gwHost, '/')).body).toBe('app http /');
    expect(c.requests.at(-1)?.route).toBe('team/via-gateway');
    // SNI and Host disagreeing: 421 when another listener takes the Host, 404 when none does.
    expect((await request(c.httpsPort, lsHost, '/', { servername: host('other') })).status).toBe(421);
    expect((await request(c.httpsPort, gwHost, '/', { servername: lsHost })).status).toBe(404);
  });

  it('marks a ListenerSet listener that repeats a Gateway listener as conflicted, and keeps the Gateway one', async () => {
    const h = host('dup');
    gateway('infra', 'dupe', [{ name: 'http', port: 80, protocol: 'HTTP', hostname: h }], { allowedListeners: { namespaces: { from: 'Same' } } });
    api.create({
      apiVersion: `${GROUP}/v1`,
      kind: 'ListenerSet',
      metadata: { name: 'dupe', namespace: 'infra' },
      spec: { parentRef: { name: 'dupe' }, listeners: [{ name: 'same-host', port: 80, protocol: 'HTTP', hostname: h }, { name: 'other-host', port: 80, protocol: 'HTTP', hostname: host('free') }] },
    });
    const ls = () => api.get<{ status?: { conditions?: Condition[]; listeners?: ListenerStatus[] } }>('listenersets', 'infra', 'dupe')?.status;
    await until('listener statuses', () => ls()?.listeners?.length ?? 0, (n) => n === 2);
    const conflicted = ls()?.listeners?.find((l) => l.name === 'same-host');
    expect(conflicted?.conditions.map(brief)).toEqual(['False/HostnameConflict', 'False/HostnameConflict', 'True/ResolvedRefs', 'True/HostnameConflict']);
    expect(conflicted?.conditions.find((x) => x.type === 'Conflicted')?.message).toBe('Port and hostname already used by Gateway infra/dupe http');
    expect(ls()?.listeners?.find((l) => l.name === 'other-host')?.conditions.map(brief)).toEqual(['True/Accepted', 'True/Programmed', 'True/ResolvedRefs']);
    expect(ls()?.conditions?.map(brief)).toEqual(['True/ListenersNotValid', 'True/Programmed']);
    expect(gatewayStatus('infra', 'dupe').listeners?.[0]?.conditions.map(brief)).toEqual(['True/Accepted', 'True/Programmed', 'True/ResolvedRefs']);
  });

  it('binds other listener ports as they are, and refuses protocols it does not speak', async () => {
    const port = await freePort();
    const h = host('alt');
    gateway('infra', 'alt', [
      { name: 'alt-http', port, protocol: 'HTTP', hostname: h },
      { name: 'tcp', port: 9000, protocol: 'TCP' },
      { name: 'https-on-80', port: 80, protocol: 'HTTPS', hostname: h, tls: { certificateRefs: [{ name: 'x' }] } },
    ]);
    route('infra', 'alt', { parentRefs: [{ name: 'alt', sectionName: 'alt-http' }], rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] });
    await until('alt port programmed', () => listenerCond('infra', 'alt', 'alt-http', 'Programmed'), (x) => brief(x) === 'True/Programmed');
    expect(c.gatewayPort(port)).toBe(port);
    expect((await request(port, h, '/p')).body).toBe('app http /p');
    expect(brief(listenerCond('infra', 'alt', 'tcp', 'Accepted'))).toBe('False/UnsupportedProtocol');
    expect(brief(listenerCond('infra', 'alt', 'https-on-80', 'Accepted'))).toBe('False/PortUnavailable');
    expect(brief(gwCond('infra', 'alt', 'Accepted'))).toBe('True/ListenersNotValid');
  });
});

describe('gateway mode that refuses handshakes without a usable certificate', () => {
  it('aborts the TLS handshake for a listener whose Secret is missing', async () => {
    const api = await startKubeApi({ gatewayApi: true, namespaces: ['infra'] });
    const c = await startFakeController({ api, mode: 'gateway', gateway: { invalidCertificate: 'reject', gatewayClass: 'envoy-like' }, services: () => undefined });
    try {
      const h = host('strict-tls');
      api.create({
        apiVersion: `${GROUP}/v1`,
        kind: 'Gateway',
        metadata: { name: 'gw', namespace: 'infra' },
        spec: { gatewayClassName: 'envoy-like', listeners: [{ name: 'https', port: 443, protocol: 'HTTPS', hostname: h, tls: { certificateRefs: [{ name: 'absent' }] } }] },
      });
      await until('listener status', () => api.get<{ status?: GatewayStatus }>('gateways', 'infra', 'gw')?.status?.listeners?.length ?? 0, (n) => n === 1);
      await expect(servedLeaf(c.httpsPort, h)).rejects.toThrow();
    } finally {
      await c.close();
      await api.close();
    }
  });

  it('says what is missing when the test cluster does not serve the Gateway API', async () => {
    const api = await startKubeApi();
    try {
      await expect(startFakeController({ api, mode: 'gateway', services: () => undefined })).rejects.toThrow('gateway mode needs the Gateway API in the test cluster: startKubeApi({ gatewayApi: true })');
    } finally {
      await api.close();
    }
  });
});

describe('the cluster test world with a Gateway controller', () => {
  it('routes a solver HTTPRoute in certkeeper\'s namespace to a real `certkeeper serve` answering from the challenge ConfigMap', async () => {
    const env = await startClusterEnv({ topology: 'controller', controller: { mode: 'gateway' } });
    try {
      const c = env.controller as FakeController;
      const h = host('solver');
      env.api.ensureNamespace('shop');
      env.api.create({
        apiVersion: `${GROUP}/v1`,
        kind: 'Gateway',
        metadata: { name: 'web', namespace: 'shop' },
        spec: { gatewayClassName: 'fake', listeners: [{ name: 'http', port: 80, protocol: 'HTTP', hostname: h, allowedRoutes: { namespaces: { from: 'All' } } }] },
      });
      env.api.create({
        apiVersion: `${GROUP}/v1`,
        kind: 'HTTPRoute',
        metadata: { name: 'solver', namespace: 'certkeeper' },
        spec: {
          parentRefs: [{ name: 'web', namespace: 'shop', sectionName: 'http' }],
          hostnames: [h],
          rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/.well-known/acme-challenge/' } }], backendRefs: [{ name: 'certkeeper', port: 80 }] }],
        },
      });
      env.api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'certkeeper-challenges', namespace: 'certkeeper' }, data: { 'tok-789': 'tok-789.thumbprint' } });
      const answered = await until('the token served through the Gateway', () => request(c.httpPort, h, '/.well-known/acme-challenge/tok-789'), (r) => r.status === 200, 15_000);
      expect(answered.body).toBe('tok-789.thumbprint');
      expect(c.requests.at(-1)).toMatchObject({ route: 'certkeeper/solver', backend: 'certkeeper/certkeeper:80', listener: 'Gateway shop/web http' });
      // Other paths of the host go nowhere: no other route is attached.
      expect((await request(c.httpPort, h, '/')).status).toBe(404);
      expect(c.statusErrors).toEqual([]);
    } finally {
      await env.close();
    }
  });
});
