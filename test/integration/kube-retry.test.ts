// The Kube adapter against the fault peer: transient failures of the Kubernetes API are retried
// with jitter where a retry cannot do anything twice, answers about the request itself are not,
// and what finally fails still says which verb on which object in which namespace, and why.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { V1Secret } from '@kubernetes/client-node';
import { buildTlsSecret, type SecretObject } from '../../src/core/secret.js';
import { ClusterError } from '../../src/errors.js';
import { Kube } from '../../src/kube/cluster.js';
import { KubeEventRecorder } from '../../src/kube/events.js';
import { silentLogger } from '../../src/log.js';
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';

let api: KubeApi;
let kube: Kube;

/** Short backoffs and deadlines so the tests are quick; the rules are the production ones. */
const RETRY = { baseDelayMs: 20, maxDelayMs: 100, attemptTimeoutMs: 500, minAttemptTimeoutMs: 200, budgetMs: 5_000 };

const tlsSecret = (name: string, existing?: SecretObject): SecretObject =>
  buildTlsSecret(
    'shop',
    name,
    {
      fullchainPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      keyPem: '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n',
      hosts: ['shop.example.com'],
      notAfter: new Date('2027-01-01T00:00:00Z'),
      renewAt: new Date('2026-12-01T00:00:00Z'),
      issuerUrl: 'https://acme.example/dir',
    },
    existing,
  );

const requestsTo = (verb: string, name: string) => api.requests.filter((r) => r.verb === verb && r.name === name);

async function failure(p: Promise<unknown>): Promise<ClusterError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ClusterError);
  return e as ClusterError;
}

beforeAll(async () => {
  api = await startKubeApi({ namespaces: ['shop'] });
  kube = new Kube(api.kubeConfig(), { retry: RETRY });
});
afterAll(async () => {
  await api?.close();
});
afterEach(async () => {
  await api.faults.clear();
  api.faults.resetLog();
  api.resetRequests();
});

describe('reads', () => {
  it('a dropped connection on a GET of a Secret is retried and the read succeeds', async () => {
    api.create(tlsSecret('web-tls'));
    api.faults.add({ verb: 'get', resource: 'secrets', name: 'web-tls', fault: { type: 'drop' }, count: 1 });
    const s = await kube.getSecret('shop', 'web-tls');
    expect(s?.metadata.name).toBe('web-tls');
    expect(requestsTo('get', 'web-tls')).toHaveLength(2);
    expect(api.faults.count({ type: 'drop' })).toBe(1);
  });

  it('a steady 500 gives up after 4 attempts, naming the verb, object, namespace and cause', async () => {
    api.create(tlsSecret('broken-tls'));
    api.faults.add({ verb: 'get', resource: 'secrets', name: 'broken-tls', fault: { type: 'status', code: 500 } });
    const e = await failure(kube.getSecret('shop', 'broken-tls'));
    expect(e.message).toMatch(/^cannot get secret shop\/broken-tls: 500 InternalError Internal error occurred: injected failure \(4 attempts in \d+(\.\d)? s\)$/);
    expect(e.request).toMatchObject({ verb: 'get', resource: 'secrets', namespace: 'shop', name: 'broken-tls', status: 500, attempts: 4 });
    expect(requestsTo('get', 'broken-tls')).toHaveLength(4);
  });

  it('a 403 is not retried, and keeps the RBAC hint', async () => {
    api.faults.add({ verb: 'get', resource: 'secrets', name: 'denied-tls', fault: { type: 'forbidden' } });
    const e = await failure(kube.getSecret('shop', 'denied-tls'));
    expect(e.message).toBe(
      '403 forbidden: cannot get secrets in namespace shop (secrets "denied-tls" is forbidden: User "system:serviceaccount:certkeeper:certkeeper" cannot get resource "secrets" in API group "" in the namespace "shop")',
    );
    expect(e.hint).toContain('grant certkeeper\'s ServiceAccount "get" on secrets in shop');
    expect(e.request.attempts).toBeUndefined();
    expect(requestsTo('get', 'denied-tls')).toHaveLength(1);
  });

  it('404, 409 and 422 are answers, not failures to retry', async () => {
    expect(await kube.getSecret('shop', 'absent')).toBeUndefined();
    expect(requestsTo('get', 'absent')).toHaveLength(1);
    api.create(tlsSecret('taken-tls'));
    expect((await failure(kube.createSecret(tlsSecret('taken-tls')))).request.status).toBe(409);
    expect(api.requests.filter((r) => r.verb === 'create')).toHaveLength(1);
  });

  it('waits out a 429 Retry-After, then reads', async () => {
    api.create(tlsSecret('busy-tls'));
    api.faults.add({ verb: 'get', resource: 'secrets', name: 'busy-tls', fault: { type: 'status', code: 429, retryAfterSeconds: 1 }, count: 1 });
    const started = performance.now();
    expect((await kube.getSecret('shop', 'busy-tls'))?.metadata.name).toBe('busy-tls');
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(requestsTo('get', 'busy-tls').map((r) => r.status)).toEqual([429, 200]);
  });

  it('caps a long Retry-After and gives up when it does not fit the budget', async () => {
    const short = new Kube(api.kubeConfig(), { retry: { ...RETRY, budgetMs: 1_500, maxRetryAfterMs: 5_000 } });
    api.faults.add({ verb: 'get', resource: 'secrets', name: 'limited', fault: { type: 'status', code: 429, retryAfterSeconds: 3600 } });
    const started = performance.now();
    const e = await failure(short.getSecret('shop', 'limited'));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(e.message).toMatch(/^cannot get secret shop\/limited: 429 TooManyRequests Too many requests, please try again later\.$/);
    expect(requestsTo('get', 'limited')).toHaveLength(1);
  });

  it('aborts an attempt that gets no answer and retries it', async () => {
    api.create(tlsSecret('slow-tls'));
    api.faults.add({ verb: 'get', resource: 'secrets', name: 'slow-tls', fault: { type: 'hang' }, count: 1 });
    const started = performance.now();
    expect((await kube.getSecret('shop', 'slow-tls'))?.metadata.name).toBe('slow-tls');
    expect(performance.now() - started).toBeGreaterThanOrEqual(RETRY.attemptTimeoutMs - 10);
    expect(requestsTo('get', 'slow-tls')).toHaveLength(2);
  });

  it('says so when the API never answers, within the budget', async () => {
    const short = new Kube(api.kubeConfig(), { retry: { ...RETRY, attemptTimeoutMs: 300, budgetMs: 1_000 } });
    api.faults.add({ verb: 'get', resource: 'secrets', name: 'stuck', fault: { type: 'hang' } });
    const started = performance.now();
    const e = await failure(short.getSecret('shop', 'stuck'));
    expect(performance.now() - started).toBeLessThan(2_500);
    expect(e.message).toMatch(new RegExp(`^no answer from the Kubernetes API at ${api.url.replace(/\./g, '\\.')} within 0\\.\\d s to get secret shop/stuck \\(\\d attempts in \\d(\\.\\d)? s\\)$`));
  });

  it('rides out a short outage (connections refused) on a paginated list, with the default backoff', async () => {
    api.create(tlsSecret('listed-tls'));
    // Default policy: retries after about 0.1–0.2, 0.2–0.4 and 0.4–0.8 s, so 0.7 s of refusals at least.
    const defaults = new Kube(api.kubeConfig());
    const outage = api.faults.outage({ mode: 'refuse', durationMs: 300 });
    const secrets = await defaults.listTlsSecrets('shop');
    expect(secrets.map((s) => s.metadata.name)).toContain('listed-tls');
    await outage.ended;
  });

  it('reports a longer outage as unreachable, with the server and the socket error', async () => {
    const short = new Kube(api.kubeConfig(), { retry: { ...RETRY, budgetMs: 400 } });
    const outage = api.faults.outage({ mode: 'refuse' });
    try {
      const e = await failure(short.listTlsSecrets());
      expect(e.message).toMatch(new RegExp(`^cannot reach the Kubernetes API at ${api.url.replace(/\./g, '\\.')} to list secrets: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+ \\(\\d attempts in 0\\.\\d s\\)$`));
      expect(e.hint).toContain('check the kubeconfig server address');
    } finally {
      await outage.end();
    }
  });

  it('after a call found the API unreachable, the next calls get one short attempt, until an answer comes', async () => {
    const k = new Kube(api.kubeConfig(), { retry: { ...RETRY, attemptTimeoutMs: 3_000, budgetMs: 3_000 } });
    api.faults.add({ verb: 'get', resource: 'secrets', fault: { type: 'hang' } });
    // The first call spends its budget (an attempt of 3 s) and finds the API gone.
    const first = await failure(k.getSecret('shop', 'gone-1'));
    expect(first.request.unreachable).toBe(true);
    // The next ones, a stopped pass's cleanup, get one attempt of at most 2 s each.
    const started = performance.now();
    const second = await failure(k.getSecret('shop', 'gone-2'));
    expect(performance.now() - started).toBeLessThan(2_900);
    expect(second.message).toMatch(/within 2(\.0)? s to get secret shop\/gone-2$/);
    expect(requestsTo('get', 'gone-2')).toHaveLength(1);
    // An answer (here a 404) ends it: the full policy is back.
    await api.faults.clear();
    expect(await k.getSecret('shop', 'gone-3')).toBeUndefined();
    api.faults.add({ verb: 'get', resource: 'secrets', name: 'flaky', fault: { type: 'drop' }, count: 1 });
    api.create(tlsSecret('flaky'));
    expect((await k.getSecret('shop', 'flaky'))?.metadata.name).toBe('flaky');
    expect(requestsTo('get', 'flaky')).toHaveLength(2);
  });
});

describe('writes', () => {
  it('a create whose answer was lost is recognised as our own on the retry, not reported as AlreadyExists', async () => {
    api.faults.add({ verb: 'create', resource: 'secrets', name: undefined, fault: { type: 'drop', when: 'after' }, count: 1 });
    const written = await kube.createSecret(tlsSecret('new-tls'));
    expect(written.metadata.name).toBe('new-tls');
    expect(written.metadata.resourceVersion).toBe(api.get<V1Secret>('secrets', 'shop', 'new-tls')?.metadata?.resourceVersion);
    // The create went through once, the retry met it (409), one read confirmed it was ours.
    expect(api.requests.filter((r) => r.resource === 'secrets').map((r) => `${r.verb} ${r.status}`)).toEqual(['create 0', 'create 409', 'get 200']);
  });

  it('a solver Ingress create whose answer was lost is our own on the retry, whatever order the API lists its fields in', async () => {
    api.ensureNamespace('certkeeper');
    api.faults.add({ verb: 'create', resource: 'ingresses', fault: { type: 'drop', when: 'after' }, count: 1 });
    const body = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'certkeeper-solver-lost', namespace: 'certkeeper', labels: { 'certkeeper.dev/solver': 'true' }, annotations: { 'certkeeper.dev/for': 'shop/web-tls' } },
      // As the solver route writes it: path and pathType before backend, which the API's typed model reverses.
      spec: { ingressClassName: 'nginx', rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/.well-known/acme-challenge/', pathType: 'Prefix', backend: { service: { name: 'certkeeper', port: { number: 80 } } } }] } }] },
    };
    await kube.createIngress('certkeeper', body);
    // The first answer was lost on the wire (no status); the retry's AlreadyExists is recognised as ours.
    expect(api.requests.filter((r) => r.verb === 'create' && r.resource === 'ingresses').map((r) => r.status)).toEqual([0, 409]);
    expect(await kube.listIngressNames('certkeeper', 'certkeeper.dev/solver=true')).toContain('certkeeper-solver-lost');
  });

  it('someone else\'s Secret of that name is still AlreadyExists after a lost answer', async () => {
    api.create({ ...tlsSecret('contested-tls'), data: { 'tls.crt': 'b3RoZXI=', 'tls.key': 'b3RoZXI=' } });
    api.faults.add({ verb: 'create', resource: 'secrets', fault: { type: 'status', code: 504 }, count: 1 });
    const e = await failure(kube.createSecret(tlsSecret('contested-tls')));
    expect(e.request.status).toBe(409);
    expect(e.message).toMatch(/^cannot create secret shop\/contested-tls: 409 AlreadyExists secrets "contested-tls" already exists \(2 attempts in/);
  });

  it('a replace whose answer was lost is our own write, not a Conflict', async () => {
    const stored = api.create<SecretObject>(tlsSecret('renewed-tls'));
    const next = tlsSecret('renewed-tls', stored);
    next.data = { ...next.data, 'tls.crt': Buffer.from('renewed').toString('base64') };
    api.faults.add({ verb: 'update', resource: 'secrets', name: 'renewed-tls', fault: { type: 'hang', when: 'after' }, count: 1 });
    const written = await kube.replaceSecret(next);
    expect(written.data?.['tls.crt']).toBe(Buffer.from('renewed').toString('base64'));
    expect(requestsTo('update', 'renewed-tls').map((r) => r.status)).toEqual([0, 409]);
  });

  it('a real Conflict after a lost answer stays a Conflict', async () => {
    const stored = api.create<SecretObject>(tlsSecret('raced-tls'));
    api.faults.add({ verb: 'update', resource: 'secrets', name: 'raced-tls', fault: { type: 'status', code: 502 }, count: 1 });
    // Someone else writes between our attempts.
    api.put({ ...stored, metadata: { ...stored.metadata, annotations: { other: 'writer' } } });
    const e = await failure(kube.replaceSecret(tlsSecret('raced-tls', stored)));
    expect(e.request.status).toBe(409);
    expect(e.message).toContain('Operation cannot be fulfilled on secrets "raced-tls"');
  });

  it('a delete whose answer was lost counts as done when the retry finds nothing', async () => {
    api.create(tlsSecret('old-tls'));
    api.faults.add({ verb: 'delete', resource: 'secrets', fault: { type: 'drop', when: 'after' }, count: 1 });
    await kube.deleteSecret('shop', 'old-tls');
    expect(api.get('secrets', 'shop', 'old-tls')).toBeUndefined();
    expect(requestsTo('delete', 'old-tls').map((r) => r.status)).toEqual([0, 404]);
  });

  it('merge patches are repeated through a 503', async () => {
    api.create(tlsSecret('noted-tls'));
    api.faults.add({ verb: 'patch', resource: 'secrets', fault: { type: 'status', code: 503 }, count: 2 });
    await kube.patchSecretAnnotations('shop', 'noted-tls', { 'certkeeper.dev/failures': '1' });
    expect(api.get<V1Secret>('secrets', 'shop', 'noted-tls')?.metadata?.annotations?.['certkeeper.dev/failures']).toBe('1');
    expect(requestsTo('patch', 'noted-tls').map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('an Event (generateName) is retried after a refusal, never after a lost answer', async () => {
    api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'shop' }, spec: {} });
    const events = new KubeEventRecorder(kube, silentLogger, 'test');
    const record = () => events.record({ involvedObject: { kind: 'Ingress', namespace: 'shop', name: 'web' }, type: 'Warning', reason: 'SecretMissing', message: 'm' });

    api.faults.add({ verb: 'create', resource: 'events', fault: { type: 'status', code: 429 }, count: 1 });
    await record();
    expect(api.list('events', 'shop')).toHaveLength(1);

    api.faults.add({ verb: 'create', resource: 'events', fault: { type: 'drop', when: 'after' }, count: 1 });
    await record();
    // Applied once, not repeated: a second copy would double the Event in `kubectl describe`.
    expect(api.list('events', 'shop')).toHaveLength(2);
    expect(api.requests.filter((r) => r.resource === 'events').map((r) => r.status)).toEqual([429, 201, 0]);
  });
});
