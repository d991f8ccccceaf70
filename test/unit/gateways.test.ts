import { describe, expect, it } from 'vitest';
import { admitsNamespace, gatewayHostMatches, hostnamesIntersect, matchVerdict, referenceGranted, type GrantView } from '../../src/core/gateway-api.js';
import { mergePlans, planGateways, SAMPLE_CHALLENGE_PATH, type GatewayPlanOptions } from '../../src/core/gateways.js';
import { decide } from '../../src/core/policy.js';
import { planTargets } from '../../src/core/targets.js';

type Obj = Record<string, unknown>;
const G = 'gateway.networking.k8s.io';
const OPT_IN = { 'kubernetes.io/tls-acme': 'true' };

const http80 = (extra: Obj = {}): Obj => ({ name: 'http', port: 80, protocol: 'HTTP', ...extra });
const https = (name: string, hostname: string | undefined, secret: string | undefined, extra: Obj = {}): Obj => ({
  name,
  port: 443,
  protocol: 'HTTPS',
  ...(hostname !== undefined ? { hostname } : {}),
  tls: { mode: 'Terminate', ...(secret !== undefined ? { certificateRefs: [{ kind: 'Secret', name: secret }] } : {}) },
  ...extra,
});
const gateway = (listeners: Obj[], o: { name?: string; ns?: string; annotations?: Obj; spec?: Obj; status?: Obj; generation?: number } = {}): Obj => ({
  apiVersion: `${G}/v1`,
  kind: 'Gateway',
  metadata: { name: o.name ?? 'edge', namespace: o.ns ?? 'shop', annotations: o.annotations ?? OPT_IN, ...(o.generation ? { generation: o.generation } : {}) },
  spec: { gatewayClassName: 'nginx', listeners, ...(o.spec ?? {}) },
  ...(o.status ? { status: o.status } : {}),
});
const route = (name: string, spec: Obj, ns = 'shop'): Obj => ({ apiVersion: `${G}/v1`, kind: 'HTTPRoute', metadata: { name, namespace: ns }, spec });
const site = (hostnames: string[], parent = 'edge', ns = 'shop'): Obj => route(`site-${hostnames.join('-')}`, { parentRefs: [{ name: parent, namespace: ns }], hostnames, rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] }, ns);
const grant = (ns: string, from: Obj[], to: Obj[]): Obj => ({ apiVersion: `${G}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'g', namespace: ns }, spec: { from, to } });
const plan = (objects: Obj[], opts: GatewayPlanOptions = { selfNamespace: 'certkeeper' }) => planGateways(objects, opts);
const codes = (objects: Obj[], opts?: GatewayPlanOptions) => plan(objects, opts).findings.map((f) => f.code);

describe('Gateway API rules', () => {
  it.each([
    [undefined, 'a.example.com', true],
    ['a.example.com', 'a.example.com', true],
    ['a.example.com', 'b.example.com', false],
    ['*.example.com', 'a.example.com', true],
    // Unlike a certificate's wildcard, a listener's matches any number of labels.
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
  ])('hostname %s takes %s: %s', (pattern, host, want) => {
    expect(gatewayHostMatches(pattern, host)).toBe(want);
  });

  it.each([
    ['shop.example.com', [], true],
    [undefined, ['x.example.com'], true],
    ['shop.example.com', ['shop.example.com'], true],
    ['shop.example', ['shop.example.com'], false],
    ['*.example.com', ['shop.example.com'], true],
    ['shop.example.com', ['*.example.com'], true],
    ['*.example.com', ['*.shop.example.com'], true],
  ])('listener %s and route hostnames %j intersect: %s', (listener, routeHosts, want) => {
    expect(hostnamesIntersect(listener, routeHosts)).toBe(want);
  });

  it.each([
    [{ from: 'All' }, 'infra', 'certkeeper', 'yes'],
    [{ from: 'Same' }, 'infra', 'certkeeper', 'no'],
    [{ from: 'Same' }, 'infra', 'infra', 'yes'],
    [{ from: 'Selector', selector: { matchLabels: { 'kubernetes.io/metadata.name': 'certkeeper' } } }, 'infra', 'certkeeper', 'yes'],
    [{ from: 'Selector', selector: { matchLabels: { 'kubernetes.io/metadata.name': 'team' } } }, 'infra', 'certkeeper', 'no'],
    [{ from: 'Selector', selector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['certkeeper', 'team'] }] } }, 'infra', 'certkeeper', 'yes'],
    // Other labels are not known without reading the Namespace.
    [{ from: 'Selector', selector: { matchLabels: { 'edge-routes': 'allowed' } } }, 'infra', 'certkeeper', 'unknown'],
    [{ from: 'None' }, 'infra', 'infra', 'no'],
  ])('allowedRoutes %j of an owner in %s admits %s: %s', (rule, owner, ns, want) => {
    expect(admitsNamespace(rule, owner, ns)).toBe(want);
  });

  const grants: GrantView[] = [{ namespace: 'certs', from: [{ group: G, kind: 'Gateway', namespace: 'shop' }], to: [{ group: '', kind: 'Secret', name: 'shared-tls' }] }];
  it.each([
    [{ kind: 'Gateway', namespace: 'shop' }, 'certs', 'shared-tls', true],
    [{ kind: 'Gateway', namespace: 'shop' }, 'certs', 'other-tls', false],
    [{ kind: 'Gateway', namespace: 'team' }, 'certs', 'shared-tls', false],
    // A ListenerSet's reference needs a grant from ListenerSets.
    [{ kind: 'ListenerSet', namespace: 'shop' }, 'certs', 'shared-tls', false],
    [{ kind: 'Gateway', namespace: 'shop' }, 'shop', 'anything', true],
  ])('%j may refer to Secret %s/%s: %s', (from, ns, name, want) => {
    expect(referenceGranted(grants, from, { group: '', kind: 'Secret', namespace: ns, name })).toBe(want);
  });

  it.each([
    [{ pathType: 'PathPrefix', pathValue: '/' }, 'loses'],
    [{ pathType: 'PathPrefix', pathValue: '/.well-known/acme-challenge' }, 'loses'],
    [{ pathType: 'PathPrefix', pathValue: '/.well-known/acme' }, 'no-match'],
    [{ pathType: 'Exact', pathValue: SAMPLE_CHALLENGE_PATH }, 'wins'],
    [{ pathType: 'Exact', pathValue: '/.well-known/acme-challenge/' }, 'no-match'],
    [{ pathType: 'RegularExpression', pathValue: '/.*' }, 'implementation-specific'],
    [{ pathType: 'RegularExpression', pathValue: '/api/.*' }, 'no-match'],
  ])('a match %j against certkeeper\'s Exact match: %s', (m, want) => {
    expect(matchVerdict({ ...m, headers: 0, queryParams: 0 }, SAMPLE_CHALLENGE_PATH)).toBe(want);
  });
});

describe('planGateways', () => {
  it('makes one Target per certificateRefs Secret, hosts from the listener hostnames, the route in the Gateway namespace with a grant when the listener admits only its own', () => {
    const p = plan([gateway([http80(), https('a', 'a.example.com', 'a-tls'), https('b', 'b.example.com', 'b-tls')]), site(['a.example.com', 'b.example.com'])]);
    expect(p.findings).toEqual([]);
    expect(p.targets.map((t) => [t.namespace, t.secretName, t.hosts, t.ingresses])).toEqual([
      ['shop', 'a-tls', ['a.example.com'], [{ kind: 'Gateway', namespace: 'shop', name: 'edge' }]],
      ['shop', 'b-tls', ['b.example.com'], [{ kind: 'Gateway', namespace: 'shop', name: 'edge' }]],
    ]);
    expect(p.targets[0]?.gatewayRoutes).toEqual([
      { parent: { kind: 'Gateway', namespace: 'shop', name: 'edge', sectionName: 'http' }, routeNamespace: 'shop', needsGrant: true, hosts: ['a.example.com'] },
    ]);
  });

  it('puts the route in certkeeper\'s namespace when allowedRoutes admits it, and merges listeners naming one Secret', () => {
    const p = plan([gateway([http80({ allowedRoutes: { namespaces: { from: 'All' } } }), https('a', 'a.example.com', 'web-tls'), https('b', 'b.example.com', 'web-tls')]), site(['a.example.com', 'b.example.com'])]);
    expect(p.targets).toHaveLength(1);
    expect(p.targets[0]?.hosts).toEqual(['a.example.com', 'b.example.com']);
    expect(p.targets[0]?.gatewayRoutes).toEqual([
      { parent: { kind: 'Gateway', namespace: 'shop', name: 'edge', sectionName: 'http' }, routeNamespace: 'certkeeper', needsGrant: false, hosts: ['a.example.com', 'b.example.com'] },
    ]);
  });

  it('picks the most specific port-80 listener for each host', () => {
    const p = plan([gateway([http80(), http80({ name: 'http-a', hostname: 'a.example.com' }), https('a', 'a.example.com', 'a-tls')]), site(['a.example.com'])]);
    expect(p.targets[0]?.gatewayRoutes?.[0]?.parent.sectionName).toBe('http-a');
  });

  it('leaves Gateways without the opt-in alone', () => {
    const p = plan([gateway([http80(), https('a', 'a.example.com', 'a-tls')], { annotations: {} }), site(['a.example.com'])]);
    expect(p.targets).toEqual([]);
    expect(p.ignored.map((i) => i.ref.kind)).toEqual(['Gateway']);
    expect(p.secretUses).toEqual([expect.objectContaining({ secretName: 'a-tls', managed: false })]);
  });

  it.each<[string, Obj[], string[]]>([
    ['a listener without hostname', [gateway([http80(), https('a', undefined, 'a-tls')])], ['ListenerHostnameMissing']],
    ['a wildcard listener hostname (HTTP-01)', [gateway([http80(), https('a', '*.example.com', 'a-tls')]), site(['x.example.com'])], ['WildcardHost']],
    ['an HTTPS listener without certificateRefs', [gateway([http80(), https('a', 'a.example.com', undefined)]), site(['a.example.com'])], ['ListenerCertificateRefMissing']],
    ['a listener hostname no route takes (typo)', [gateway([http80(), https('a', 'hskim.example', 'a-tls')]), site(['hskim.example.com'])], ['ListenerHostnameNotRouted']],
    ['a listener no route names at all', [gateway([http80(), https('a', 'a.example.com', 'a-tls')])], ['ListenerHostnameNotRouted']],
  ])('%s is a finding and no Target', (_name, objects, want) => {
    const p = plan(objects);
    expect(p.findings.map((f) => f.code)).toEqual(want);
    expect(p.targets).toEqual([]);
  });

  it('names the route hostname a listener hostname is a typo of', () => {
    const [f] = plan([gateway([http80(), https('a', 'hskim.example', 'a-tls')]), site(['hskim.example.com'])]).findings;
    expect(f?.message).toContain('HTTPRoute hostname "hskim.example.com" is likely what was meant');
    expect(f?.hint).toBe('change hostname "hskim.example" of spec.listeners[1] to "hskim.example.com" (or the route\'s hostname if "hskim.example" is the name you meant)');
  });

  it('refuses a certificateRefs Secret in another namespace until a ReferenceGrant there allows it', () => {
    const gw = gateway([http80(), https('a', 'a.example.com', undefined, { tls: { certificateRefs: [{ name: 'shared-tls', namespace: 'certs' }] } })]);
    expect(codes([gw, site(['a.example.com'])])).toEqual(['CertificateRefNotPermitted']);
    const p = plan([gw, site(['a.example.com']), grant('certs', [{ group: G, kind: 'Gateway', namespace: 'shop' }], [{ group: '', kind: 'Secret', name: 'shared-tls' }])]);
    expect(p.findings).toEqual([]);
    expect(p.targets.map((t) => `${t.namespace}/${t.secretName}`)).toEqual(['certs/shared-tls']);
  });

  it.each<[string, Obj[], string]>([
    ['no port-80 listener', [gateway([https('a', 'a.example.com', 'a-tls')]), site(['a.example.com'])], 'GatewayHttpListenerMissing'],
    ['a port-80 listener for other hosts only', [gateway([http80({ hostname: 'b.example.com' }), https('a', 'a.example.com', 'a-tls')]), site(['a.example.com'])], 'GatewayHttpListenerMissing'],
    [
      'allowedRoutes admitting neither certkeeper\'s namespace nor the Gateway\'s',
      [gateway([http80({ allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { 'kubernetes.io/metadata.name': 'team' } } } } }), https('a', 'a.example.com', 'a-tls')]), site(['a.example.com'])],
      'SolverRouteNotAllowed',
    ],
    ['allowedRoutes kinds without HTTPRoute', [gateway([http80({ allowedRoutes: { kinds: [{ kind: 'GRPCRoute' }] } }), https('a', 'a.example.com', 'a-tls')]), site(['a.example.com'])], 'SolverRouteNotAllowed'],
    [
      'a RegularExpression redirect on the challenge path',
      [
        gateway([http80({ hostname: 'a.example.com' }), https('a', 'a.example.com', 'a-tls')]),
        site(['a.example.com']),
        route('redirect', { parentRefs: [{ name: 'edge', sectionName: 'http' }], hostnames: ['a.example.com'], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/.*' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] }] }),
      ],
      'ChallengePathRedirected',
    ],
  ])('%s blocks the order of the Target', (_name, objects, code) => {
    const p = plan(objects);
    expect(p.findings.map((f) => f.code)).toEqual([code]);
    expect(p.targets[0]?.blockers?.map((f) => f.code)).toEqual([code]);
    // No Secret yet: the order would be placed, so it is refused instead, with the finding's words.
    const d = decide({ target: p.targets[0] as never, secret: undefined, now: new Date('2026-12-01T00:00:00Z'), issuerUrl: 'https://ca/dir' });
    expect(d).toMatchObject({ action: 'refuse', reason: code });
  });

  it.each<[string, Obj]>([
    ['a PathPrefix "/" redirect', { filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] }],
    ['a redirect on the challenge prefix', { matches: [{ path: { type: 'PathPrefix', value: '/.well-known/acme-challenge/' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] }],
    ['a regex redirect on a hostname-less route (less specific than certkeeper\'s)', { matches: [{ path: { type: 'RegularExpression', value: '/.*' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] }],
  ])('%s does not block: certkeeper\'s Exact match with its exact hostname wins', (name, rule) => {
    const hostnames = name.includes('hostname-less') ? [] : ['a.example.com'];
    const p = plan([
      gateway([http80(), https('a', 'a.example.com', 'a-tls')]),
      site(['a.example.com']),
      route('redirect', { parentRefs: [{ name: 'edge', sectionName: 'http' }], hostnames, rules: [rule] }),
    ]);
    expect(p.findings).toEqual([]);
    expect(p.targets[0]?.blockers).toBeUndefined();
  });

  it('takes the listeners of ListenerSets the Gateway admits, and reports those it does not', () => {
    const ls = (ns: string): Obj => ({ apiVersion: `${G}/v1`, kind: 'ListenerSet', metadata: { name: 'tenant', namespace: ns }, spec: { parentRef: { name: 'edge', namespace: 'shop' }, listeners: [https('t', 't.example.com', 't-tls'), http80({ name: 't-http', hostname: 't.example.com' })] } });
    const tenantRoute = route('t', { parentRefs: [{ kind: 'ListenerSet', name: 'tenant', namespace: 'shop' }], hostnames: ['t.example.com'], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] });
    expect(codes([gateway([http80()]), ls('shop'), tenantRoute])).toEqual(['ListenerSetNotAllowed']);
    const p = plan([gateway([http80()], { spec: { allowedListeners: { namespaces: { from: 'Same' } } } }), ls('shop'), tenantRoute]);
    expect(p.findings).toEqual([]);
    expect(p.targets.map((t) => [t.secretName, t.ingresses])).toEqual([['t-tls', [{ kind: 'ListenerSet', namespace: 'shop', name: 'tenant' }]]]);
    expect(p.targets[0]?.gatewayRoutes?.[0]?.parent).toEqual({ kind: 'ListenerSet', namespace: 'shop', name: 'tenant', sectionName: 't-http' });
  });

  it('reports the listener conditions the controller wrote for the current generation only', () => {
    const status = (gen: number): Obj => ({ listeners: [{ name: 'a', attachedRoutes: 1, conditions: [{ type: 'ResolvedRefs', status: 'False', reason: 'RefNotPermitted', message: 'not permitted', observedGeneration: gen }, { type: 'Programmed', status: 'False', reason: 'Invalid', message: 'x', observedGeneration: gen }] }] });
    const objects = (gen: number) => [gateway([http80(), https('a', 'a.example.com', 'a-tls')], { generation: 2, status: status(gen) }), site(['a.example.com'])];
    const p = plan(objects(2));
    expect(p.findings.map((f) => f.code)).toEqual(['ListenerRefsNotResolved']);
    expect(p.findings[0]?.message).toContain('ResolvedRefs=False (RefNotPermitted) for listener a of Gateway shop/edge (a.example.com): "not permitted"');
    expect(codes(objects(1))).toEqual([]);
  });

  it('merges a Secret named by an Ingress and a Gateway into one Target with both routes', () => {
    const ing = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web', namespace: 'shop', annotations: OPT_IN },
      spec: { ingressClassName: 'nginx', tls: [{ hosts: ['a.example.com'], secretName: 'web-tls' }], rules: [{ host: 'a.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
    };
    const objects = [ing, gateway([http80(), https('a', 'a.example.com', 'web-tls'), https('b', 'b.example.com', 'web-tls')]), site(['a.example.com', 'b.example.com'])];
    const p = mergePlans(planTargets(objects), plan(objects));
    expect(p.targets).toHaveLength(1);
    expect(p.targets[0]).toMatchObject({ secretName: 'web-tls', hosts: ['a.example.com', 'b.example.com'], ingressClass: 'nginx' });
    expect(p.targets[0]?.ingresses).toEqual([{ kind: 'Gateway', namespace: 'shop', name: 'edge' }, { namespace: 'shop', name: 'web' }]);
    expect(p.targets[0]?.gatewayRoutes?.[0]?.hosts).toEqual(['a.example.com', 'b.example.com']);
  });

  it('judges manifests without knowing certkeeper\'s namespace (lint): routes in other files are not missing', () => {
    const objects = [gateway([http80(), https('a', 'a.example.com', 'a-tls', { tls: { certificateRefs: [{ name: 'x', namespace: 'certs' }] } })])];
    expect(codes(objects, { partialView: true, includeUnmanaged: true })).toEqual([]);
    expect(codes([gateway([https('a', 'a.example.com', 'a-tls')])], { partialView: true })).toEqual(['GatewayHttpListenerMissing']);
  });
});
