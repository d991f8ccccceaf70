// Fidelity of the in-process Kubernetes API, judged by clients nobody here wrote: the real
// kubectl 1.34 binary and @kubernetes/client-node. If these pass, certkeeper's tests against
// the fake say something about real clusters.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiException,
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  NetworkingV1Api,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
  type V1ConfigMap,
  type V1Ingress,
} from '@kubernetes/client-node';
import forge from 'node-forge';
import { parse as parseYaml } from 'yaml';
import { startKubeApi, type KubeApi, type KubeObject } from '../support/kube-api/index.js';
import { runHelm, runKubectl, type RunResult } from '../support/kubectl.js';

function selfSignedPem(host: string): { cert: string; key: string } {
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: host }]);
  cert.setIssuer([{ name: 'commonName', value: host }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

const ingressYaml = (port: number, apiVersion = 'networking.k8s.io/v1') => `
apiVersion: ${apiVersion}
kind: Ingress
metadata:
  name: web
  annotations:
    kubernetes.io/tls-acme: "true"
spec:
  ingressClassName: nginx
  tls:
  - hosts: [shop.example.com]
    secretName: web-tls
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: ${port}
`;

const deploymentDocs = (image: string) => `
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team-a
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team-a
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ${image}
        ports:
        - containerPort: 8080
      - name: sidecar
        image: busybox:1.36
`;

describe('kube-api driven by real kubectl', () => {
  let api: KubeApi;
  let dir: string;
  let kubeconfig: string;
  const kubectl = (args: string[], input?: string): Promise<RunResult> =>
    runKubectl(args, { kubeconfig, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    api = await startKubeApi();
    dir = await mkdtemp(join(tmpdir(), 'kube-api-kubectl-'));
    kubeconfig = join(dir, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig, { namespace: 'shop' });
    api.ensureNamespace('shop');
  });

  afterAll(async () => {
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('applies an Ingress, re-applies a change as "configured" and an identical file as "unchanged"', async () => {
    const first = await kubectl(['apply', '-f', '-'], ingressYaml(80));
    expect(first.stderr).toBe('');
    expect(first.stdout.trim()).toBe('ingress.networking.k8s.io/web created');

    const second = await kubectl(['apply', '-f', '-'], ingressYaml(8080));
    expect(second.stdout.trim()).toBe('ingress.networking.k8s.io/web configured');
    const stored = api.get('ingresses', 'shop', 'web') as V1Ingress & KubeObject;
    expect(stored.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.port?.number).toBe(8080);
    expect(stored.metadata.generation).toBe(2);

    const third = await kubectl(['apply', '-f', '-'], ingressYaml(8080));
    expect(third.stdout.trim()).toBe('ingress.networking.k8s.io/web unchanged');
    expect(api.get('ingresses', 'shop', 'web')?.metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
  });

  it('prints the Ingress with get -o yaml and in the server-side table', async () => {
    const yaml = await kubectl(['get', 'ingress', 'web', '-o', 'yaml']);
    expect(yaml.code).toBe(0);
    const obj = parseYaml(yaml.stdout) as V1Ingress;
    expect(obj.kind).toBe('Ingress');
    expect(obj.spec?.tls?.[0]?.secretName).toBe('web-tls');
    expect(obj.metadata?.uid).toBe(api.get('ingresses', 'shop', 'web')?.metadata.uid);

    const table = await kubectl(['get', 'ingress']);
    expect(table.stdout).toMatch(/^NAME\s+CLASS\s+HOSTS\s+ADDRESS\s+PORTS\s+AGE\n/);
    expect(table.stdout).toMatch(/\nweb\s+nginx\s+shop\.example\.com\s+80, 443\s+\d+s\n/);
  });

  it('stores a TLS Secret piped from create secret tls --dry-run=client, then deletes it', async () => {
    const { cert, key } = selfSignedPem('shop.example.com');
    await writeFile(join(dir, 'tls.crt'), cert);
    await writeFile(join(dir, 'tls.key'), key);
    const generated = await kubectl(['create', 'secret', 'tls', 'web-tls', '--cert', join(dir, 'tls.crt'), '--key', join(dir, 'tls.key'), '--dry-run=client', '-o', 'yaml']);
    expect(generated.code).toBe(0);
    const applied = await kubectl(['apply', '-f', '-'], generated.stdout);
    expect(applied.stdout.trim()).toBe('secret/web-tls created');

    const got = parseYaml((await kubectl(['get', 'secret', 'web-tls', '-o', 'yaml'])).stdout) as KubeObject;
    expect(got['type']).toBe('kubernetes.io/tls');
    const data = got['data'] as Record<string, string>;
    expect(Buffer.from(data['tls.crt'] ?? '', 'base64').toString()).toBe(cert);

    const deleted = await kubectl(['delete', 'secret', 'web-tls']);
    expect(deleted.stdout).toContain('secret "web-tls" deleted');
    const missing = await kubectl(['get', 'secret', 'web-tls']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('Error from server (NotFound): secrets "web-tls" not found');
  });

  it('rejects a TLS Secret without tls.key with the apiserver\'s Invalid message', async () => {
    const doc = `apiVersion: v1\nkind: Secret\nmetadata: {name: half}\ntype: kubernetes.io/tls\ndata: {tls.crt: ${Buffer.from('x').toString('base64')}}\n`;
    const r = await kubectl(['apply', '-f', '-'], doc);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Secret "half" is invalid: data[tls.key]: Required value');
  });

  it('rejects unknown fields the way kubectl\'s strict field validation expects', async () => {
    const r = await kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo}\ndta: {a: b}\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "dta"');
    expect(api.get('configmaps', 'shop', 'typo')).toBeUndefined();
  });

  it('filters with label selectors in every operator form', async () => {
    for (const [name, tier] of [['a', 'web'], ['b', 'db'], ['c', undefined]] as const) {
      api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `sel-${name}`, namespace: 'shop', labels: tier ? { tier, sel: 'yes' } : { sel: 'yes' } } });
    }
    const names = async (selector: string) =>
      (await kubectl(['get', 'configmaps', '-l', selector, '-o', 'name'])).stdout.trim().split('\n').filter(Boolean);
    expect(await names('tier=web')).toEqual(['configmap/sel-a']);
    expect(await names('sel=yes,tier!=web')).toEqual(['configmap/sel-b', 'configmap/sel-c']);
    expect(await names('tier in (db,cache)')).toEqual(['configmap/sel-b']);
    expect(await names('sel,!tier')).toEqual(['configmap/sel-c']);
    const bad = await kubectl(['get', 'configmaps', '-l', 'tier in (x']);
    expect(bad.code).not.toBe(0);
  });

  it('applies a multi-document file and merges containers by name on re-apply', async () => {
    const first = await kubectl(['apply', '-f', '-'], deploymentDocs('nginx:1.27'));
    expect(first.stdout.trim().split('\n')).toEqual(['namespace/team-a created', 'configmap/settings created', 'deployment.apps/web created']);

    // Someone else adds a field kubectl never applied; a strategic merge must keep it.
    const live = api.get('deployments', 'team-a', 'web') as KubeObject & { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    const web = live.spec.template.spec.containers[0];
    if (web) web['imagePullPolicy'] = 'Always';
    api.put(live);

    const second = await kubectl(['apply', '-f', '-'], deploymentDocs('nginx:1.28'));
    expect(second.stdout).toContain('deployment.apps/web configured');
    const after = api.get('deployments', 'team-a', 'web') as typeof live;
    expect(after.spec.template.spec.containers).toEqual([
      { name: 'web', image: 'nginx:1.28', ports: [{ containerPort: 8080 }], imagePullPolicy: 'Always' },
      { name: 'sidecar', image: 'busybox:1.36' },
    ]);
  });

  it('says "no matches for kind" for removed API versions, as a real cluster does', async () => {
    const r = await kubectl(['apply', '-f', '-'], ingressYaml(80, 'extensions/v1beta1'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no matches for kind "Ingress" in version "extensions/v1beta1"');
  });

  it('reports an injected RBAC denial as Forbidden with the real wording', async () => {
    api.denyNext({ verb: 'list', resource: 'secrets', namespace: 'shop' });
    const r = await kubectl(['get', 'secrets']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:certkeeper:certkeeper" cannot list resource "secrets" in API group "" in the namespace "shop"',
    );
    expect((await kubectl(['get', 'secrets'])).code).toBe(0);
  });

  it('lets helm install, upgrade (dropping a value) and uninstall a chart', async () => {
    const chart = join(dir, 'chart');
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: demo\nversion: 0.1.0\n');
    await writeFile(
      join(chart, 'templates', 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\ndata:\n{{- range $k, $v := .Values.data }}\n  {{ $k }}: {{ $v | quote }}\n{{- end }}\n',
    );
    const helm = (args: string[]) => runHelm([...args, '--namespace', 'shop'], { kubeconfig });

    const install = await helm(['install', 'demo', chart, '--set', 'data.a=1,data.b=2']);
    expect(install.stderr).toBe('');
    expect(install.stdout).toContain('STATUS: deployed');
    // helm stores its release record through client-go's protobuf encoding.
    expect(api.list('secrets', 'shop', { labelSelector: 'owner=helm,name=demo' }).map((s) => s['type'])).toEqual(['helm.sh/release.v1']);

    const upgrade = await helm(['upgrade', 'demo', chart, '--set', 'data.a=9']);
    expect(upgrade.code).toBe(0);
    expect(api.get('configmaps', 'shop', 'demo-cfg')?.['data']).toEqual({ a: '9' });
    expect((await helm(['list'])).stdout).toMatch(/\ndemo\s+shop\s+2\s+.*deployed/);

    expect((await helm(['uninstall', 'demo'])).code).toBe(0);
    expect(api.get('configmaps', 'shop', 'demo-cfg')).toBeUndefined();
    expect(api.list('secrets', 'shop', { labelSelector: 'owner=helm' })).toEqual([]);
  });

  it('also works when kubectl has to fall back to legacy discovery', async () => {
    const legacy = await startKubeApi({ aggregatedDiscovery: false });
    try {
      const config = join(dir, 'legacy-kubeconfig');
      await legacy.writeKubeconfig(config);
      const r = await runKubectl(['get', 'ingressclasses,leases', '-A'], { kubeconfig: config });
      expect(r.stderr).toBe('No resources found\n');
      expect(legacy.requests.map((q) => q.path)).toContain('/apis/networking.k8s.io/v1');
    } finally {
      await legacy.close();
    }
  });
});

describe('kube-api driven by @kubernetes/client-node', () => {
  let api: KubeApi;
  let core: CoreV1Api;
  let networking: NetworkingV1Api;

  beforeAll(async () => {
    api = await startKubeApi();
    api.ensureNamespace('shop');
    core = api.kubeConfig().makeApiClient(CoreV1Api);
    networking = api.kubeConfig().makeApiClient(NetworkingV1Api);
  });

  afterAll(async () => {
    await api?.close();
  });

  const statusOf = async (p: Promise<unknown>): Promise<{ code: number; reason: string; message: string }> => {
    try {
      await p;
    } catch (err) {
      expect(err).toBeInstanceOf(ApiException);
      const e = err as ApiException<string>;
      const body = JSON.parse(e.body) as { reason: string; message: string };
      return { code: e.code, reason: body.reason, message: body.message };
    }
    throw new Error('expected the call to fail');
  };

  it('creates, reads, and refuses a replace with a stale resourceVersion with 409 Conflict', async () => {
    const created = await core.createNamespacedSecret({
      namespace: 'shop',
      body: { metadata: { name: 'cas' }, type: 'Opaque', stringData: { a: '1' } },
    });
    expect(created.data).toEqual({ a: Buffer.from('1').toString('base64') });
    const read = await core.readNamespacedSecret({ name: 'cas', namespace: 'shop' });
    const fresh = await core.replaceNamespacedSecret({ name: 'cas', namespace: 'shop', body: { ...read, data: { a: 'Mg==' } } });
    expect(Number(fresh.metadata?.resourceVersion)).toBeGreaterThan(Number(read.metadata?.resourceVersion));

    const stale = await statusOf(core.replaceNamespacedSecret({ name: 'cas', namespace: 'shop', body: { ...read, data: { a: 'Mw==' } } }));
    expect(stale).toEqual({
      code: 409,
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on secrets "cas": the object has been modified; please apply your changes to the latest version and try again',
    });
    expect(await statusOf(core.createNamespacedSecret({ namespace: 'shop', body: { metadata: { name: 'cas' } } }))).toMatchObject({
      code: 409,
      reason: 'AlreadyExists',
      message: 'secrets "cas" already exists',
    });
  });

  it('answers 404 for a missing namespace and 422 for invalid names and TLS Secrets', async () => {
    expect(await statusOf(core.createNamespacedConfigMap({ namespace: 'nope', body: { metadata: { name: 'x' } } }))).toEqual({
      code: 404,
      reason: 'NotFound',
      message: 'namespaces "nope" not found',
    });
    const badName = await statusOf(core.createNamespacedConfigMap({ namespace: 'shop', body: { metadata: { name: 'Bad_Name' } } }));
    expect(badName.code).toBe(422);
    expect(badName.message).toMatch(/^ConfigMap "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    const tls = await statusOf(core.createNamespacedSecret({ namespace: 'shop', body: { metadata: { name: 'empty-tls' }, type: 'kubernetes.io/tls' } }));
    expect(tls.message).toBe('Secret "empty-tls" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]');
  });

  it('pages a list with limit and continue, in name order, without losing or repeating items', async () => {
    api.ensureNamespace('paging');
    const names = Array.from({ length: 23 }, (_, i) => `cm-${String(i).padStart(2, '0')}`);
    for (const name of [...names].reverse()) api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'paging' } });
    const seen: string[] = [];
    const remaining: (number | undefined)[] = [];
    let cont: string | undefined;
    do {
      const page = await core.listNamespacedConfigMap({ namespace: 'paging', limit: 10, ...(cont ? { _continue: cont } : {}) });
      seen.push(...page.items.map((c: V1ConfigMap) => c.metadata?.name ?? ''));
      remaining.push(page.metadata?.remainingItemCount);
      cont = page.metadata?._continue;
    } while (cont);
    expect(remaining).toEqual([13, 3, undefined]);
    expect(seen).toEqual(names);
  });

  it('streams ADDED, MODIFIED and DELETED to a Watch, and 410 Gone after history is compacted', async () => {
    const start = api.resourceVersion;
    const events: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const watch = new Watch(api.kubeConfig());
    const req = await watch.watch(
      '/api/v1/namespaces/shop/configmaps',
      { resourceVersion: start, labelSelector: 'watched=yes' },
      (type, obj: V1ConfigMap) => {
        events.push(`${type} ${obj.metadata?.name ?? ''}`);
        if (type === 'DELETED') done();
      },
      () => undefined,
    );
    await core.createNamespacedConfigMap({ namespace: 'shop', body: { metadata: { name: 'w', labels: { watched: 'yes' } } } });
    await core.createNamespacedConfigMap({ namespace: 'shop', body: { metadata: { name: 'ignored' } } });
    await core.patchNamespacedConfigMap(
      { name: 'w', namespace: 'shop', body: { data: { k: 'v' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedConfigMap({ name: 'w', namespace: 'shop' });
    await finished;
    req.abort();
    expect(events).toEqual(['ADDED w', 'MODIFIED w', 'DELETED w']);
    await until(() => api.openWatches === 0); // the server lets go of aborted watches

    api.compactHistory();
    const gone = await new Promise<{ code: number; message: string }>((resolve) => {
      void watch.watch('/api/v1/namespaces/shop/configmaps', { resourceVersion: start }, (type, obj: { code: number; message: string }) => {
        if (type === 'ERROR') resolve(obj);
      }, () => undefined);
    });
    expect(gone.code).toBe(410);
    expect(gone.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it('feeds an informer that relists and keeps its cache in sync', async () => {
    api.ensureNamespace('inf');
    api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'pre', namespace: 'inf' }, spec: {} });
    const informer = makeInformer(api.kubeConfig(), '/apis/networking.k8s.io/v1/namespaces/inf/ingresses', () =>
      networking.listNamespacedIngress({ namespace: 'inf' }),
    );
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name ?? ''}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name ?? ''}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name ?? ''}`));
    await informer.start();
    await until(() => seen.includes('add pre'));
    await networking.createNamespacedIngress({ namespace: 'inf', body: { metadata: { name: 'new' }, spec: {} } });
    const pre = await networking.readNamespacedIngress({ name: 'pre', namespace: 'inf' });
    await networking.replaceNamespacedIngressStatus({
      name: 'pre',
      namespace: 'inf',
      body: { ...pre, status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } } },
    });
    await networking.deleteNamespacedIngress({ name: 'new', namespace: 'inf' });
    await until(() => seen.includes('delete new'));
    await informer.stop();
    expect(seen).toEqual(['add pre', 'add new', 'update pre', 'delete new']);
    expect(informer.list('inf').map((o) => o.status?.loadBalancer?.ingress?.[0]?.ip)).toEqual(['203.0.113.7']);
  });

  it('applies strategic merge directives and JSON patch tests like the apiserver', async () => {
    const apps = api.kubeConfig().makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: 'shop',
      body: {
        metadata: { name: 'smp' },
        spec: {
          selector: { matchLabels: { app: 'smp' } },
          template: { metadata: { labels: { app: 'smp' } }, spec: { containers: [{ name: 'app', image: 'a:1' }, { name: 'side', image: 's:1' }] } },
        },
      },
    });
    const patched = await apps.patchNamespacedDeployment(
      { name: 'smp', namespace: 'shop', body: { spec: { template: { spec: { containers: [{ name: 'side', $patch: 'delete' }, { name: 'app', image: 'a:2' }] } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(patched.spec?.template.spec?.containers).toEqual([{ name: 'app', image: 'a:2' }]);
    expect(JSON.stringify(api.get('deployments', 'shop', 'smp'))).not.toContain('$patch');

    const failedTest = await statusOf(
      apps.patchNamespacedDeployment(
        { name: 'smp', namespace: 'shop', body: [{ op: 'test', path: '/spec/template/spec/containers/0/image', value: 'a:1' }, { op: 'remove', path: '/spec/selector' }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
    );
    expect(failedTest).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(api.get<{ spec: { selector?: unknown } }>('deployments', 'shop', 'smp')?.spec.selector).toBeDefined();
  });

  it('keeps status out of main-resource writes and spec out of status writes', async () => {
    const ing = await networking.createNamespacedIngress({
      namespace: 'shop',
      body: { metadata: { name: 'split' }, spec: { ingressClassName: 'nginx' }, status: { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } } },
    });
    expect(ing.status).toEqual({ loadBalancer: {} });
    const viaStatus = await networking.replaceNamespacedIngressStatus({
      name: 'split',
      namespace: 'shop',
      body: { ...ing, spec: { ingressClassName: 'traefik' }, status: { loadBalancer: { ingress: [{ ip: '198.51.100.2' }] } } },
    });
    expect(viaStatus.spec?.ingressClassName).toBe('nginx');
    expect(viaStatus.status?.loadBalancer?.ingress?.[0]?.ip).toBe('198.51.100.2');
  });

  it('surfaces an injected 403 with the RBAC message, latency, and an injected 503 once', async () => {
    api.denyNext({ verb: 'create', resource: 'secrets' });
    const denied = await statusOf(core.createNamespacedSecret({ namespace: 'shop', body: { metadata: { name: 'nope' } } }));
    expect(denied).toEqual({
      code: 403,
      reason: 'Forbidden',
      message: 'secrets is forbidden: User "system:serviceaccount:certkeeper:certkeeper" cannot create resource "secrets" in API group "" in the namespace "shop"',
    });
    api.setLatency(60);
    const started = performance.now();
    await core.readNamespacedSecret({ name: 'cas', namespace: 'shop' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    api.setLatency(0);
    api.failNext({ method: 'GET', pathIncludes: '/secrets/cas', status: 503 });
    expect((await statusOf(core.readNamespacedSecret({ name: 'cas', namespace: 'shop' }))).code).toBe(503);
    await expect(core.readNamespacedSecret({ name: 'cas', namespace: 'shop' })).resolves.toMatchObject({ metadata: { name: 'cas' } });
  });

  it('answers SelfSubjectAccessReviews consistently with persistent RBAC denials', async () => {
    const authz = api.kubeConfig().makeApiClient(AuthorizationV1Api);
    const canCreate = async () =>
      (await authz.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { verb: 'create', resource: 'secrets', namespace: 'shop' } } },
      })).status?.allowed;
    const allow = api.denyAlways({ verb: 'create', resource: 'secrets', namespace: 'shop' });
    expect(await canCreate()).toBe(false);
    for (const name of ['d1', 'd2']) {
      expect((await statusOf(core.createNamespacedSecret({ namespace: 'shop', body: { metadata: { name } } }))).code).toBe(403);
    }
    allow();
    expect(await canCreate()).toBe(true);
    await expect(core.createNamespacedSecret({ namespace: 'shop', body: { metadata: { name: 'd1' } } })).resolves.toBeDefined();
  });

  it('lists 1,000 Ingresses and 1,000 Secrets across namespaces in one request each, fast', async () => {
    const big = await startKubeApi();
    try {
      for (let n = 0; n < 10; n++) big.ensureNamespace(`ns-${n}`);
      for (let i = 0; i < 1000; i++) {
        const namespace = `ns-${i % 10}`;
        big.create({
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: `ing-${i}`, namespace, annotations: { 'kubernetes.io/tls-acme': 'true' } },
          spec: { tls: [{ hosts: [`h${i}.example.com`], secretName: `tls-${i}` }], rules: [{ host: `h${i}.example.com` }] },
        });
        big.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `tls-${i}`, namespace }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==', 'tls.key': 'eA==' } });
      }
      const kc = big.kubeConfig();
      const started = performance.now();
      const [ingresses, secrets] = await Promise.all([
        kc.makeApiClient(NetworkingV1Api).listIngressForAllNamespaces(),
        kc.makeApiClient(CoreV1Api).listSecretForAllNamespaces(),
      ]);
      const elapsed = performance.now() - started;
      expect(ingresses.items).toHaveLength(1000);
      expect(secrets.items).toHaveLength(1000);
      expect(big.requests.filter((r) => r.verb === 'get')).toHaveLength(0);
      expect(elapsed).toBeLessThan(1000);
    } finally {
      await big.close();
    }
  });
});

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
