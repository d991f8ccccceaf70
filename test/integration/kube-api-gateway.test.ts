// Fidelity of the in-process Kubernetes API for the Gateway API kinds (v1.6 standard channel),
// judged by real kubectl 1.34 and @kubernetes/client-node's CustomObjectsApi: discovery with and
// without the CRDs, apply/get/delete, the CRDs' defaults and validation messages, the status
// subresource, and one storage behind v1 and v1beta1.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiException, CustomObjectsApi, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { startKubeApi, type KubeApi, type KubeObject } from '../support/kube-api/index.js';
import { runKubectl, type RunResult } from '../support/kubectl.js';

const GROUP = 'gateway.networking.k8s.io';

const manifests = (hostname: string) => `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: fake}
spec: {controllerName: gateway.test/fake-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: fake
  allowedListeners: {namespaces: {from: Same}}
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - name: https
    port: 443
    protocol: HTTPS
    hostname: ${hostname}
    tls: {certificateRefs: [{name: web-tls}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: extra}
spec:
  parentRef: {name: web}
  listeners:
  - name: blog
    port: 443
    protocol: HTTPS
    hostname: blog.example.com
    tls: {certificateRefs: [{name: blog-tls}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: web, sectionName: https}]
  hostnames: [${hostname}]
  rules:
  - backendRefs: [{name: web, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow-certkeeper}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: certkeeper}]
  to: [{group: "", kind: Service}]
`;

describe('Gateway API kinds driven by real kubectl', () => {
  let api: KubeApi;
  let dir: string;
  let kubeconfig: string;
  const kubectl = (args: string[], input?: string): Promise<RunResult> => runKubectl(args, { kubeconfig, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    api = await startKubeApi({ gatewayApi: true, namespaces: ['shop', 'certkeeper'] });
    dir = await mkdtemp(join(tmpdir(), 'kube-api-gateway-'));
    kubeconfig = join(dir, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig, { namespace: 'shop' });
  });
  afterAll(async () => {
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists the five kinds in discovery, v1 preferred, and the installed CRDs with their bundle version', async () => {
    const resources = await kubectl(['api-resources', `--api-group=${GROUP}`]);
    expect(resources.stdout.trim().split('\n').map((l) => l.split(/\s+/).join(' '))).toEqual([
      'NAME SHORTNAMES APIVERSION NAMESPACED KIND',
      'gatewayclasses gc gateway.networking.k8s.io/v1 false GatewayClass',
      'gateways gtw gateway.networking.k8s.io/v1 true Gateway',
      'httproutes gateway.networking.k8s.io/v1 true HTTPRoute',
      'listenersets lset gateway.networking.k8s.io/v1 true ListenerSet',
      'referencegrants refgrant gateway.networking.k8s.io/v1 true ReferenceGrant',
    ]);
    const versions = (await kubectl(['api-versions'])).stdout.split('\n');
    expect(versions).toEqual(expect.arrayContaining([`${GROUP}/v1`, `${GROUP}/v1beta1`]));
    const crd = await kubectl(['get', 'crd', `gateways.${GROUP}`, '-o', 'jsonpath={.metadata.annotations.gateway\\.networking\\.k8s\\.io/bundle-version} {.spec.versions[*].name} {.status.storedVersions}']);
    expect(crd.stdout).toBe('v1.6.1 v1 v1beta1 ["v1"]');
    const grants = await kubectl(['get', 'crd', `referencegrants.${GROUP}`, '-o', 'jsonpath={.status.storedVersions}']);
    expect(grants.stdout).toBe('["v1beta1"]');
  });

  it('applies all five kinds, reads back the CRD defaults, prints the printer columns and deletes them', async () => {
    const applied = await kubectl(['apply', '-f', '-'], manifests('shop.example.com'));
    expect(applied.stderr).toBe('');
    expect(applied.stdout.trim().split('\n')).toEqual([
      `gatewayclass.${GROUP}/fake created`,
      `gateway.${GROUP}/web created`,
      `listenerset.${GROUP}/extra created`,
      `httproute.${GROUP}/web created`,
      `referencegrant.${GROUP}/allow-certkeeper created`,
    ]);

    const gateway = parseYaml((await kubectl(['get', 'gateway', 'web', '-o', 'yaml'])).stdout) as KubeObject & { spec: { listeners: Record<string, unknown>[] }; status: { conditions: Record<string, unknown>[] } };
    expect(gateway.apiVersion).toBe(`${GROUP}/v1`);
    expect(gateway.metadata.generation).toBe(1);
    expect(gateway.spec.listeners[1]).toEqual({
      name: 'https',
      port: 443,
      protocol: 'HTTPS',
      hostname: 'shop.example.com',
      allowedRoutes: { namespaces: { from: 'Same' } },
      tls: { mode: 'Terminate', certificateRefs: [{ group: '', kind: 'Secret', name: 'web-tls' }] },
    });
    // No controller yet: the CRD's default status.
    expect(gateway.status.conditions.map((c) => `${String(c['type'])}=${String(c['status'])}/${String(c['reason'])}`)).toEqual(['Accepted=Unknown/Pending', 'Programmed=Unknown/Pending']);

    const route = parseYaml((await kubectl(['get', 'httproute', 'web', '-o', 'yaml'])).stdout) as { spec: unknown; status?: unknown };
    expect(route.spec).toEqual({
      parentRefs: [{ group: GROUP, kind: 'Gateway', name: 'web', sectionName: 'https' }],
      hostnames: ['shop.example.com'],
      rules: [{ backendRefs: [{ group: '', kind: 'Service', name: 'web', port: 80, weight: 1 }], matches: [{ path: { type: 'PathPrefix', value: '/' } }] }],
    });
    expect(route.status).toBeUndefined();

    expect((await kubectl(['get', 'gateways'])).stdout).toMatch(/^NAME\s+CLASS\s+ADDRESS\s+PROGRAMMED\s+AGE\nweb\s+fake\s+Unknown\s+\d+s\n$/);
    expect((await kubectl(['get', 'httproutes'])).stdout).toMatch(/^NAME\s+HOSTNAMES\s+AGE\nweb\s+\["shop\.example\.com"\]\s+\d+s\n$/);
    expect((await kubectl(['get', 'gc'])).stdout).toMatch(/^NAME\s+CONTROLLER\s+ACCEPTED\s+AGE\nfake\s+gateway\.test\/fake-controller\s+Unknown\s+\d+s\n$/);
    expect((await kubectl(['get', 'lset'])).stdout).toMatch(/^NAME\s+ACCEPTED\s+PROGRAMMED\s+AGE\nextra\s+Unknown\s+Unknown\s+\d+s\n$/);
    expect((await kubectl(['get', 'gateway-api', '-o', 'name'])).stdout.trim().split('\n')).toEqual([
      `gatewayclass.${GROUP}/fake`,
      `gateway.${GROUP}/web`,
      `httproute.${GROUP}/web`,
      `listenerset.${GROUP}/extra`,
      `referencegrant.${GROUP}/allow-certkeeper`,
    ]);

    // Defaulted list items differ from the file, so kubectl sends a patch (as against a cluster);
    // re-defaulting makes the result identical and nothing is written.
    const rv = api.get('gateways', 'shop', 'web')?.metadata.resourceVersion;
    const again = await kubectl(['apply', '-f', '-'], manifests('shop.example.com'));
    expect(again.stdout).toContain(`gatewayclass.${GROUP}/fake unchanged`);
    expect(api.get('gateways', 'shop', 'web')?.metadata.resourceVersion).toBe(rv);
    await kubectl(['apply', '-f', '-'], manifests('www.example.com'));
    expect(api.get<{ spec: { listeners: { hostname?: string }[] } }>('gateways', 'shop', 'web')?.spec.listeners[1]?.hostname).toBe('www.example.com');
    expect(api.get('gateways', 'shop', 'web')?.metadata.generation).toBe(2);

    const deleted = await kubectl(['delete', '-f', '-'], manifests('www.example.com'));
    expect(deleted.stdout).toContain(`gateway.${GROUP} "web" deleted`);
    expect(deleted.stdout).toContain(`referencegrant.${GROUP} "allow-certkeeper" deleted`);
    const missing = await kubectl(['get', 'httproute', 'web']);
    expect(missing.stderr.trim()).toBe(`Error from server (NotFound): httproutes.${GROUP} "web" not found`);
  });

  it('serves one object under v1 and v1beta1, each with its own apiVersion', async () => {
    await kubectl(['apply', '-f', '-'], manifests('shop.example.com'));
    const grantV1 = parseYaml((await kubectl(['get', `referencegrants.v1.${GROUP}`, 'allow-certkeeper', '-o', 'yaml'])).stdout) as KubeObject;
    const grantBeta = parseYaml((await kubectl(['get', `referencegrants.v1beta1.${GROUP}`, 'allow-certkeeper', '-o', 'yaml'])).stdout) as KubeObject;
    expect([grantV1.apiVersion, grantBeta.apiVersion]).toEqual([`${GROUP}/v1`, `${GROUP}/v1beta1`]);
    expect(grantV1.metadata.uid).toBe(grantBeta.metadata.uid);
    const gwBeta = parseYaml((await kubectl(['get', `gateways.v1beta1.${GROUP}`, 'web', '-o', 'yaml'])).stdout) as KubeObject;
    expect(gwBeta.apiVersion).toBe(`${GROUP}/v1beta1`);
    expect(gwBeta.metadata.uid).toBe(api.get('gateways', 'shop', 'web')?.metadata.uid);
    await kubectl(['delete', '-f', '-'], manifests('shop.example.com'));
  });

  it('rejects what the CRDs reject, with their messages', async () => {
    const gatewayDoc = (listeners: string) => `apiVersion: ${GROUP}/v1\nkind: Gateway\nmetadata: {name: bad}\nspec:\n  gatewayClassName: fake\n  listeners:\n${listeners}`;
    const tlsOnHttp = await kubectl(['apply', '-f', '-'], gatewayDoc('  - {name: http, port: 80, protocol: HTTP, tls: {certificateRefs: [{name: x}]}}\n'));
    expect(tlsOnHttp.stderr).toContain(`The Gateway "bad" is invalid: spec.listeners: Invalid value: "array": tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']`);
    const dup = await kubectl(['apply', '-f', '-'], gatewayDoc('  - {name: a, port: 80, protocol: HTTP}\n  - {name: a, port: 81, protocol: HTTP}\n'));
    expect(dup.stderr).toContain('spec.listeners[1]: Duplicate value: map[string]interface {}{"name":"a"}');
    expect(dup.stderr).toContain('spec.listeners: Invalid value: "array": Listener name must be unique within the Gateway');
    const noCert = await kubectl(['apply', '-f', '-'], gatewayDoc('  - {name: https, port: 443, protocol: HTTPS, tls: {}}\n'));
    expect(noCert.stderr).toContain('spec.listeners[0].tls: Invalid value: "object": certificateRefs or options must be specified when mode is Terminate');
    const badHost = await kubectl(['apply', '-f', '-'], gatewayDoc('  - {name: https, port: 443, protocol: HTTPS, hostname: Shop.Example.com, tls: {certificateRefs: [{name: x}]}}\n'));
    expect(badHost.stderr).toContain(`spec.listeners[0].hostname: Invalid value: "Shop.Example.com": spec.listeners[0].hostname in body should match '^(\\*\\.)?[a-z0-9]`);
    const typo = await kubectl(['apply', '-f', '-'], gatewayDoc('  - {name: http, port: 80, protocol: HTTP, hostnames: [a.example.com]}\n'));
    expect(typo.stderr).toContain('Gateway in version "v1" cannot be handled as a Gateway: strict decoding error: unknown field "spec.listeners[0].hostnames"');

    const routeDoc = (rule: string) => `apiVersion: ${GROUP}/v1\nkind: HTTPRoute\nmetadata: {name: bad}\nspec:\n  parentRefs: [{name: web}]\n  rules:\n${rule}`;
    const redirectWithBackend = await kubectl(['apply', '-f', '-'], routeDoc('  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n    backendRefs: [{name: web, port: 80}]\n'));
    expect(redirectWithBackend.stderr).toContain('spec.rules[0]: Invalid value: "object": RequestRedirect filter must not be used together with backendRefs');
    const relative = await kubectl(['apply', '-f', '-'], routeDoc('  - matches: [{path: {type: Exact, value: well-known}}]\n'));
    expect(relative.stderr).toContain(`spec.rules[0].matches[0].path: Invalid value: "object": value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']`);
    const noPort = await kubectl(['apply', '-f', '-'], routeDoc('  - backendRefs: [{name: web}]\n'));
    expect(noPort.stderr).toContain('spec.rules[0].backendRefs[0]: Invalid value: "object": Must have port for Service reference');
    const code = await kubectl(['apply', '-f', '-'], routeDoc('  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 304}}]\n'));
    expect(code.stderr).toContain('spec.rules[0].filters[0].requestRedirect.statusCode: Unsupported value: 304: supported values: "301", "302", "303", "307", "308"');
    const twoParents = await kubectl(['apply', '-f', '-'], `apiVersion: ${GROUP}/v1\nkind: HTTPRoute\nmetadata: {name: bad}\nspec:\n  parentRefs: [{name: web}, {name: web, sectionName: http}]\n`);
    expect(twoParents.stderr).toContain('spec.parentRefs: Invalid value: "array": sectionName must be specified when parentRefs includes 2 or more references to the same parent');

    const grant = await kubectl(['apply', '-f', '-'], `apiVersion: ${GROUP}/v1beta1\nkind: ReferenceGrant\nmetadata: {name: bad}\nspec:\n  from: [{kind: HTTPRoute, namespace: certkeeper}]\n  to: []\n`);
    expect(grant.stderr).toContain('spec.from[0].group: Required value');
    expect(grant.stderr).toContain('spec.to in body should have at least 1 items');

    await kubectl(['apply', '-f', '-'], `apiVersion: ${GROUP}/v1\nkind: GatewayClass\nmetadata: {name: fixed}\nspec: {controllerName: gateway.test/one}\n`);
    const moved = await kubectl(['apply', '-f', '-'], `apiVersion: ${GROUP}/v1\nkind: GatewayClass\nmetadata: {name: fixed}\nspec: {controllerName: gateway.test/two}\n`);
    expect(moved.stderr).toContain('The GatewayClass "fixed" is invalid: spec.controllerName: Invalid value: "string": Value is immutable');
    expect(api.list('gateways', 'shop')).toEqual([]);
    expect(api.list('httproutes', 'shop')).toEqual([]);
  });

  it('keeps status behind the status subresource, and refuses an update without resourceVersion', async () => {
    await kubectl(['apply', '-f', '-'], manifests('shop.example.com'));
    // What a controller does: read, set status, write …/status with the resourceVersion read.
    const live = api.get<KubeObject & { status: Record<string, unknown> }>('gateways', 'shop', 'web');
    if (!live) throw new Error('gateway missing');
    const at = '2026-01-01T00:00:00Z';
    api.putStatus({
      ...live,
      spec: { gatewayClassName: 'ignored-by-status-writes', listeners: [] },
      status: {
        addresses: [{ value: '127.0.0.1' }],
        conditions: [
          { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', observedGeneration: 1, lastTransitionTime: at },
          { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'ok', observedGeneration: 1, lastTransitionTime: at },
        ],
      },
    });
    expect((await kubectl(['get', 'gateway', 'web'])).stdout).toMatch(/\nweb\s+fake\s+127\.0\.0\.1\s+True\s+\d+s\n$/);
    const stored = api.get<{ spec: { gatewayClassName: string }; status: { addresses: unknown[] } }>('gateways', 'shop', 'web');
    expect(stored?.spec.gatewayClassName).toBe('fake');
    expect(stored?.status.addresses).toEqual([{ type: 'IPAddress', value: '127.0.0.1' }]);

    // A spec change through kubectl keeps the status and bumps generation.
    await kubectl(['apply', '-f', '-'], manifests('www.example.com'));
    const after = api.get<{ metadata: { generation: number }; status: { addresses: unknown[] } }>('gateways', 'shop', 'web');
    expect(after?.metadata.generation).toBe(2);
    expect(after?.status.addresses).toEqual([{ type: 'IPAddress', value: '127.0.0.1' }]);

    const invalidStatus = (): unknown => api.putStatus({ ...api.get('gateways', 'shop', 'web'), status: { conditions: [{ type: 'Programmed', status: 'Yes' }] } });
    expect(invalidStatus).toThrow(/status\.conditions\[0\]\.status: Unsupported value: "Yes"/);

    // kubectl replace fills in the live resourceVersion itself; a bare PUT without one is refused.
    const replace = await kubectl(['replace', '-f', '-'], `apiVersion: ${GROUP}/v1\nkind: HTTPRoute\nmetadata: {name: web}\nspec:\n  parentRefs: [{name: web}]\n`);
    expect(replace.stdout.trim()).toBe(`httproute.${GROUP}/web replaced`);
    const bare = await fetch(`${api.url}/apis/${GROUP}/v1/namespaces/shop/httproutes/web`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: `${GROUP}/v1`, kind: 'HTTPRoute', metadata: { name: 'web' }, spec: {} }),
    });
    expect(bare.status).toBe(422);
    expect(((await bare.json()) as { message: string }).message).toBe(`HTTPRoute.${GROUP} "web" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`);
    await kubectl(['delete', '-f', '-'], manifests('shop.example.com'));
  });
});

describe('a cluster without the Gateway API CRDs', () => {
  it('has no such resources: kubectl says so and the paths answer 404', async () => {
    const api = await startKubeApi({ namespaces: ['shop'] });
    const dir = await mkdtemp(join(tmpdir(), 'kube-api-nogateway-'));
    try {
      const kubeconfig = join(dir, 'kubeconfig');
      await api.writeKubeconfig(kubeconfig, { namespace: 'shop' });
      const get = await runKubectl(['get', 'gateways'], { kubeconfig });
      expect(get.code).toBe(1);
      expect(get.stderr.trim()).toBe('error: the server doesn\'t have a resource type "gateways"');
      const apply = await runKubectl(['apply', '-f', '-'], { kubeconfig, input: manifests('shop.example.com') });
      expect(apply.stderr).toContain(`no matches for kind "Gateway" in version "${GROUP}/v1"`);
      expect((await runKubectl(['get', 'crd'], { kubeconfig })).stderr.trim()).toBe('No resources found');
      const raw = await fetch(`${api.url}/apis/${GROUP}/v1/namespaces/shop/gateways`);
      expect(raw.status).toBe(404);
    } finally {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Gateway API kinds through @kubernetes/client-node CustomObjectsApi', () => {
  let api: KubeApi;
  let custom: CustomObjectsApi;
  beforeAll(async () => {
    api = await startKubeApi({ gatewayApi: true, namespaces: ['shop', 'certkeeper'] });
    custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
  });
  afterAll(async () => {
    await api?.close();
  });

  const failure = async (p: Promise<unknown>): Promise<{ code: number; message: string }> => {
    try {
      await p;
    } catch (err) {
      expect(err).toBeInstanceOf(ApiException);
      const e = err as ApiException<string>;
      return { code: e.code, message: (JSON.parse(e.body) as { message: string }).message };
    }
    throw new Error('expected the call to fail');
  };

  const solverRoute = (name: string) => ({
    apiVersion: `${GROUP}/v1`,
    kind: 'HTTPRoute',
    metadata: { name, labels: { 'certkeeper.dev/solver': 'true' } },
    spec: {
      parentRefs: [{ name: 'web', namespace: 'shop', sectionName: 'http' }],
      hostnames: ['shop.example.com'],
      rules: [{ matches: [{ path: { type: 'Exact', value: '/.well-known/acme-challenge/abc' } }], backendRefs: [{ name: 'certkeeper', port: 80 }] }],
    },
  });

  it('creates, gets, lists by label and deletes HTTPRoutes and ReferenceGrants', async () => {
    const created = (await custom.createNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', body: solverRoute('solver-a') })) as KubeObject & { spec: { rules: { backendRefs: unknown[] }[] } };
    expect(created.metadata.generation).toBe(1);
    expect(created.spec.rules[0]?.backendRefs).toEqual([{ group: '', kind: 'Service', name: 'certkeeper', port: 80, weight: 1 }]);
    await custom.createNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', body: { ...solverRoute('user-route'), metadata: { name: 'user-route' } } });

    const got = (await custom.getNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', name: 'solver-a' })) as KubeObject;
    expect(got.metadata.uid).toBe(created.metadata.uid);
    const listed = (await custom.listNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', labelSelector: 'certkeeper.dev/solver=true' })) as { kind: string; items: KubeObject[] };
    expect(listed.kind).toBe('HTTPRouteList');
    // Unlike built-in lists, custom resource list items keep kind and apiVersion.
    expect(listed.items.map((i) => `${i.kind ?? ''} ${i.apiVersion ?? ''} ${i.metadata.name ?? ''}`)).toEqual([`HTTPRoute ${GROUP}/v1 solver-a`]);
    const everywhere = (await custom.listCustomObjectForAllNamespaces({ group: GROUP, version: 'v1', plural: 'httproutes' })) as { items: KubeObject[] };
    expect(everywhere.items).toHaveLength(2);

    // The grant certkeeper needs when the route lives in the Gateway's namespace, written as v1.
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: 'v1',
      namespace: 'certkeeper',
      plural: 'referencegrants',
      body: { apiVersion: `${GROUP}/v1`, kind: 'ReferenceGrant', metadata: { name: 'from-shop' }, spec: { from: [{ group: GROUP, kind: 'HTTPRoute', namespace: 'shop' }], to: [{ group: '', kind: 'Service', name: 'certkeeper' }] } },
    });
    const beta = (await custom.getNamespacedCustomObject({ group: GROUP, version: 'v1beta1', namespace: 'certkeeper', plural: 'referencegrants', name: 'from-shop' })) as KubeObject;
    expect(beta.apiVersion).toBe(`${GROUP}/v1beta1`);

    const deleted = (await custom.deleteNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', name: 'solver-a' })) as KubeObject;
    expect(deleted.metadata.name).toBe('solver-a');
    expect(await failure(custom.getNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', name: 'solver-a' }))).toEqual({
      code: 404,
      message: `httproutes.${GROUP} "solver-a" not found`,
    });
  });

  it('answers 422 with the CRD rule and patches status through the status subresource only', async () => {
    const bad = solverRoute('bad');
    bad.spec.rules[0] = { matches: [{ path: { type: 'Exact', value: '/a//b' } }], backendRefs: [{ name: 'certkeeper', port: 80 }] };
    expect(await failure(custom.createNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', body: bad }))).toEqual({
      code: 422,
      message: `HTTPRoute.${GROUP} "bad" is invalid: spec.rules[0].matches[0].path: Invalid value: "object": must not contain '//' when type one of ['Exact', 'PathPrefix']`,
    });

    await custom.createNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', body: solverRoute('solver-b') });
    const parents = [
      {
        parentRef: { name: 'web', namespace: 'shop', sectionName: 'http' },
        controllerName: 'gateway.test/fake-controller',
        conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      },
    ];
    // Status in a main-resource patch is ignored; the status subresource takes it (parentRef defaults applied).
    await custom.patchNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', name: 'solver-b', body: { status: { parents } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(api.get('httproutes', 'certkeeper', 'solver-b')?.['status']).toBeUndefined();
    const patched = (await custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', name: 'solver-b', body: { status: { parents } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as { status: { parents: { parentRef: unknown }[] }; metadata: { generation: number } };
    expect(patched.status.parents[0]?.parentRef).toEqual({ group: GROUP, kind: 'Gateway', name: 'web', namespace: 'shop', sectionName: 'http' });
    expect(patched.metadata.generation).toBe(1);

    // Strategic merge patches do not exist for custom resources.
    const smp = await failure(
      custom.patchNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', name: 'solver-b', body: { spec: { hostnames: ['x.example.com'] } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)),
    );
    expect(smp.code).toBe(415);
  });

  it('streams changes made through one version to a watch on the other, in the watched version', async () => {
    const events: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const watch = new Watch(api.kubeConfig());
    const req = await watch.watch(
      `/apis/${GROUP}/v1beta1/namespaces/shop/gateways`,
      { resourceVersion: api.resourceVersion },
      (type, obj: KubeObject) => {
        events.push(`${type} ${obj.apiVersion ?? ''} ${obj.metadata.name ?? ''}`);
        if (type === 'DELETED') done();
      },
      () => undefined,
    );
    const body = { apiVersion: `${GROUP}/v1`, kind: 'Gateway', metadata: { name: 'watched' }, spec: { gatewayClassName: 'fake', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } };
    await custom.createNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'shop', plural: 'gateways', body });
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'shop', plural: 'gateways', name: 'watched' });
    await finished;
    req.abort();
    expect(events).toEqual([`ADDED ${GROUP}/v1beta1 watched`, `DELETED ${GROUP}/v1beta1 watched`]);
  });

  it('answers 404 for every Gateway API path when the CRDs are not installed', async () => {
    const bare = await startKubeApi({ namespaces: ['certkeeper'] });
    try {
      const client = bare.kubeConfig().makeApiClient(CustomObjectsApi);
      expect(await failure(client.listCustomObjectForAllNamespaces({ group: GROUP, version: 'v1', plural: 'gateways' }))).toEqual({ code: 404, message: 'the server could not find the requested resource' });
      expect((await failure(client.createNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'certkeeper', plural: 'httproutes', body: solverRoute('x') }))).code).toBe(404);
    } finally {
      await bare.close();
    }
  });
});
