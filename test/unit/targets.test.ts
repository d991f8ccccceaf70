import { describe, expect, it } from 'vitest';
import { closestName, formatDuration, parseDuration, readAnnotations } from '../../src/core/annotations.js';
import { FINDINGS, type Finding, type FindingCode } from '../../src/core/findings.js';
import { isIngressObject, viewIngress } from '../../src/core/ingress.js';
import { lintIngressSpec, planTargets, type PlanOptions } from '../../src/core/targets.js';

type Obj = Record<string, unknown>;

const backend = (name = 'web', port = 80): Obj => ({ service: { name, port: { number: port } } });
const rule = (host: string | undefined, paths = true): Obj => {
  const r: Obj = {};
  if (host !== undefined) r.host = host;
  if (paths) r.http = { paths: [{ path: '/', pathType: 'Prefix', backend: backend() }] };
  return r;
};

interface IngSpec {
  name?: string;
  namespace?: string | null;
  apiVersion?: string;
  annotations?: Record<string, unknown>;
  managed?: boolean;
  className?: string;
  tls?: unknown;
  rules?: unknown;
  spec?: Obj;
}

/** An Ingress; managed (tls-acme) unless told otherwise; rules default to one per TLS host. */
function ing(s: IngSpec = {}): Obj {
  const annotations: Record<string, unknown> = { ...(s.managed === false ? {} : { 'kubernetes.io/tls-acme': 'true' }), ...(s.annotations ?? {}) };
  const metadata: Obj = { name: s.name ?? 'web' };
  if (s.namespace !== null) metadata.namespace = s.namespace ?? 'shop';
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  const tls = s.tls ?? [{ hosts: ['shop.example.com'], secretName: 'web-tls' }];
  const tlsHosts = Array.isArray(tls) ? tls.flatMap((t) => ((t as Obj).hosts as string[] | undefined) ?? []) : [];
  const spec: Obj = { ...(s.className ? { ingressClassName: s.className } : {}), tls, rules: s.rules ?? [...new Set(tlsHosts)].map((h) => rule(h)), ...(s.spec ?? {}) };
  if (s.tls === null) delete spec.tls;
  return { apiVersion: s.apiVersion ?? 'networking.k8s.io/v1', kind: 'Ingress', metadata, spec };
}

const codes = (fs: readonly Finding[]): FindingCode[] => [...new Set(fs.map((f) => f.code))].sort();
const only = (fs: readonly Finding[], code: FindingCode): Finding[] => fs.filter((f) => f.code === code);

describe('lintIngressSpec: one row per finding reason', () => {
  const rows: [string, Obj, FindingCode[], PlanOptions?][] = [
    ['a correct managed Ingress', ing(), []],
    ['a correct unmanaged Ingress', ing({ managed: false }), []],
    ['an unmanaged Ingress without TLS', ing({ managed: false, tls: null, rules: [rule('a.example.com')] }), []],
    // TlsHostNotRouted
    ['TLS host without a rule', ing({ tls: [{ hosts: ['a.example.com', 'b.example.com'], secretName: 's' }], rules: [rule('a.example.com')] }), ['TlsHostNotRouted']],
    ['TLS host without a rule, unmanaged too', ing({ managed: false, tls: [{ hosts: ['a.example.com', 'b.example.com'], secretName: 's' }], rules: [rule('a.example.com')] }), ['TlsHostNotRouted']],
    ['TLS hosts but no rules at all', ing({ rules: [] }), ['TlsHostNotRouted']],
    ['a hostless catch-all rule does not route TLS hosts', ing({ rules: [rule(undefined)] }), ['TlsHostNotRouted']],
    ['a wildcard rule routes a TLS host under it', ing({ tls: [{ hosts: ['a.apps.example.com'], secretName: 's' }], rules: [rule('*.apps.example.com')] }), ['RuleHostNotCovered']],
    // RuleHostNotCovered
    ['rule host missing from spec.tls', ing({ rules: [rule('shop.example.com'), rule('www.shop.example.com')] }), ['RuleHostNotCovered']],
    ['a wildcard TLS host covers rule hosts (unmanaged)', ing({ managed: false, tls: [{ hosts: ['*.example.com'], secretName: 's' }], rules: [rule('a.example.com'), rule('b.example.com')] }), []],
    // RuleSplitHostAndPaths
    ['"- host:" then "- http:"', ing({ rules: [rule('shop.example.com', false), rule(undefined)] }), ['RuleSplitHostAndPaths']],
    ['"- http:" then "- host:"', ing({ rules: [rule(undefined), rule('shop.example.com', false)] }), ['RuleSplitHostAndPaths']],
    ['a host without paths alone is not a split', ing({ rules: [rule('shop.example.com', false)] }), []],
    // TlsSecretNameMissing / TlsHostsMissing (issuance checks: managed only)
    ['spec.tls entry without secretName', ing({ tls: [{ hosts: ['shop.example.com'] }] }), ['TlsSecretNameMissing']],
    ['spec.tls entry with an empty secretName', ing({ tls: [{ hosts: ['shop.example.com'], secretName: ' ' }] }), ['TlsSecretNameMissing']],
    ['no secretName is the default certificate on purpose when unmanaged', ing({ managed: false, tls: [{ hosts: ['shop.example.com'] }] }), []],
    ['spec.tls entry without hosts', ing({ tls: [{ secretName: 's' }], rules: [rule('shop.example.com')] }), ['RuleHostNotCovered', 'TlsHostsMissing']],
    ['spec.tls entry with an empty host list', ing({ tls: [{ hosts: [], secretName: 's' }], rules: [rule('shop.example.com')] }), ['RuleHostNotCovered', 'TlsHostsMissing']],
    // SecretHostsConflict within one Ingress
    ['one Secret named by two entries with different hosts', ing({ tls: [{ hosts: ['a.example.com'], secretName: 's' }, { hosts: ['b.example.com'], secretName: 's' }] }), ['SecretHostsConflict']],
    // host validity
    ['wildcard TLS host', ing({ tls: [{ hosts: ['*.example.com'], secretName: 's' }], rules: [rule('*.example.com')] }), ['WildcardHost']],
    ['invalid TLS host', ing({ tls: [{ hosts: ['bad_name.example.com'], secretName: 's' }], rules: [rule('shop.example.com')] }), ['InvalidHost', 'RuleHostNotCovered']],
    ['empty TLS host item', ing({ tls: [{ hosts: [null, 'shop.example.com'], secretName: 's' }] }), ['InvalidHost']],
    ['single-label TLS host', ing({ tls: [{ hosts: ['intranet'], secretName: 's' }], rules: [rule('intranet')] }), ['InvalidHost']],
    ['rule host in upper case', ing({ rules: [rule('Shop.Example.com')] }), ['InvalidHost']],
    ['rule host with a trailing dot', ing({ rules: [rule('shop.example.com.')] }), ['InvalidHost']],
    ['IP address as TLS host', ing({ tls: [{ hosts: ['shop.example.com', '198.51.100.4'], secretName: 's' }], rules: [rule('shop.example.com')] }), ['IpAddressHost']],
    ['IP address as rule host', ing({ rules: [rule('shop.example.com'), rule('198.51.100.4')] }), ['IpAddressHost']],
    ['101 hosts in one certificate', ing({ tls: [{ hosts: Array.from({ length: 101 }, (_, i) => `h${i}.example.com`), secretName: 's' }] }), ['TooManyHosts']],
    ['100 hosts in one certificate', ing({ tls: [{ hosts: Array.from({ length: 100 }, (_, i) => `h${i}.example.com`), secretName: 's' }] }), []],
    // API version and schema
    ['extensions/v1beta1', ing({ apiVersion: 'extensions/v1beta1', rules: [{ host: 'shop.example.com' }] }), ['RemovedApiVersion']],
    ['extensions/v1beta1 with v1 backends (not fields of v1beta1)', ing({ apiVersion: 'extensions/v1beta1' }), ['RemovedApiVersion', 'UnknownSpecField']],
    ['networking.k8s.io/v1beta1 with serviceName/servicePort', ing({ apiVersion: 'networking.k8s.io/v1beta1', rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/', backend: { serviceName: 'web', servicePort: 80 } }] } }] }), ['LegacyBackendFields', 'RemovedApiVersion']],
    ['v1 with serviceName/servicePort', ing({ rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { serviceName: 'web', servicePort: 'http' } }] } }] }), ['LegacyBackendFields']],
    ['v1 with spec.backend', ing({ spec: { backend: { serviceName: 'web', servicePort: 80 } } }), ['LegacyBackendFields']],
    ['misspelt spec field', ing({ spec: { rouls: [] } }), ['UnknownSpecField']],
    ['misspelt top-level field', { ...ing(), sepc: {} }, ['UnknownSpecField']],
    ['misspelt tls field', ing({ tls: [{ hosts: ['shop.example.com'], secretname: 's' }] }), ['TlsSecretNameMissing', 'UnknownSpecField']],
    ['misspelt rule field', ing({ rules: [{ hosts: 'shop.example.com', http: { paths: [] } }] }), ['TlsHostNotRouted', 'UnknownSpecField']],
    ['misspelt backend field', ing({ rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', prot: { number: 80 } } } }] } }] }), ['UnknownSpecField']],
    ['TLS missing on an opted-in Ingress', ing({ tls: null, rules: [rule('shop.example.com')] }), ['TlsMissing']],
    ['TLS missing is fine under --all-ingresses', ing({ managed: false, tls: null, rules: [rule('shop.example.com')] }), [], { allIngresses: true }],
    // annotations
    ['unknown certkeeper.dev annotation', ing({ annotations: { 'certkeeper.dev/keytype': 'rsa-2048' } }), ['UnknownAnnotation']],
    ['misspelt certkeeper.dev prefix', ing({ annotations: { 'certkeper.dev/key-type': 'rsa-2048' } }), ['UnknownAnnotation']],
    ['unknown annotation on an unmanaged Ingress', ing({ managed: false, annotations: { 'certkeeper.dev/enable': 'true' } }), ['UnknownAnnotation']],
    ['bad key-type', ing({ annotations: { 'certkeeper.dev/key-type': 'rsa-1024' } }), ['InvalidAnnotationValue']],
    ['bad ca', ing({ annotations: { 'certkeeper.dev/ca': 'http://ca.internal/dir' } }), ['InvalidAnnotationValue']],
    ['bad profile', ing({ annotations: { 'certkeeper.dev/profile': 'two words' } }), ['InvalidAnnotationValue']],
    ['bad renew-before', ing({ annotations: { 'certkeeper.dev/renew-before': '0d' } }), ['InvalidAnnotationValue']],
    ['bad enabled', ing({ managed: false, annotations: { 'certkeeper.dev/enabled': 'yes' } }), ['InvalidAnnotationValue']],
    ['unquoted boolean tls-acme', ing({ managed: false, annotations: { 'kubernetes.io/tls-acme': true } }), ['InvalidAnnotationValue']],
    // malformed objects
    ['spec is a list', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'x' }, spec: [] }, ['InvalidManifest']],
    ['tls is a mapping', ing({ tls: { hosts: ['a.example.com'] }, rules: [rule('a.example.com')] }), ['InvalidManifest', 'TlsMissing']],
    ['hosts is a string', ing({ tls: [{ hosts: 'shop.example.com', secretName: 's' }], rules: [rule('shop.example.com')] }), ['InvalidManifest', 'RuleHostNotCovered']],
    ['no metadata.name', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: {}, spec: {} }, ['InvalidManifest']],
  ];
  it.each(rows)('%s', (_why, obj, expected, opts) => {
    const fs = lintIngressSpec(obj, opts ?? {});
    expect(codes(fs)).toEqual([...expected].sort());
    for (const f of fs) {
      expect(f.severity).toBe(FINDINGS[f.code].severity);
      expect(f.object.kind).toBe('Ingress');
      expect(f.message.length).toBeGreaterThan(15);
      expect(f.hint.length).toBeGreaterThan(10);
    }
  });

  it('calls a near-miss TLS host a typo of the rule host and says which to change', () => {
    const fs = lintIngressSpec(ing({ name: 'minimal-ingress', namespace: 'hskim', tls: [{ hosts: ['hskim.example'], secretName: 'hskim-secret' }], rules: [rule('hskim.example.com')] }));
    const [nr] = only(fs, 'TlsHostNotRouted');
    expect(nr?.host).toBe('hskim.example');
    expect(nr?.message).toContain('likely a typo of the rule host "hskim.example.com"');
    expect(nr?.hint).toContain('change "hskim.example" in spec.tls[0].hosts to "hskim.example.com"');
    const [nc] = only(fs, 'RuleHostNotCovered');
    expect(nc?.host).toBe('hskim.example.com');
    expect(nc?.message).toContain('"hskim.example", likely a typo of it');
    expect(nr?.object).toEqual({ kind: 'Ingress', namespace: 'hskim', name: 'minimal-ingress' });
  });

  it('explains the split rule with the concrete fix', () => {
    const [f] = only(lintIngressSpec(ing({ rules: [rule('shop.example.com', false), rule(undefined)] })), 'RuleSplitHostAndPaths');
    expect(f?.host).toBe('shop.example.com');
    expect(f?.hint).toContain("remove the '-' before 'http:'");
  });

  it('suggests the field that was meant', () => {
    const fs = lintIngressSpec(ing({ spec: { rouls: [{ host: 'x.example.com', http: { paths: [{ backend: { serviceName: 'a', serviceProt: 80 } }] } }] }, apiVersion: 'extensions/v1beta1' }));
    const hints = only(fs, 'UnknownSpecField').map((f) => f.hint);
    expect(hints).toEqual(expect.arrayContaining([expect.stringContaining('"rules"'), expect.stringContaining('"servicePort"')]));
    // The misspelt container is still read, so the legacy backend inside it is reported too.
    expect(codes(fs)).toContain('LegacyBackendFields');
  });

  it('suggests the closest annotation name', () => {
    const [f] = lintIngressSpec(ing({ annotations: { 'certkeeper.dev/renewbefore': '30d' } }));
    expect(f?.hint).toContain('certkeeper.dev/renew-before');
  });

  it('copies the source location into findings', () => {
    const [f] = lintIngressSpec(ing({ tls: [{ hosts: ['shop.example.com'] }] }), { location: { file: 'k8s/web.yaml', line: 12 } });
    expect(f?.object).toMatchObject({ file: 'k8s/web.yaml', line: 12 });
  });
});

describe('planTargets', () => {
  it('turns an opted-in Ingress into one Target per Secret with sorted, normalised hosts', () => {
    const plan = planTargets([
      ing({ className: 'nginx', tls: [{ hosts: ['WWW.shop.example.com', 'shop.example.com', 'bücher.example.com'], secretName: 'shop-tls' }], rules: [rule('www.shop.example.com'), rule('shop.example.com'), rule('xn--bcher-kva.example.com')] }),
    ]);
    expect(plan.findings).toEqual([]);
    expect(plan.targets).toEqual([
      {
        namespace: 'shop',
        secretName: 'shop-tls',
        hosts: ['shop.example.com', 'www.shop.example.com', 'xn--bcher-kva.example.com'],
        ingresses: [{ namespace: 'shop', name: 'web' }],
        ingressClass: 'nginx',
        settings: { keyType: 'ecdsa-p256' },
      },
    ]);
  });

  it('reads settings from annotations', () => {
    const plan = planTargets([
      ing({ annotations: { 'certkeeper.dev/key-type': 'RSA-3072', 'certkeeper.dev/ca': 'staging', 'certkeeper.dev/profile': 'shortlived', 'certkeeper.dev/renew-before': '36h' } }),
    ]);
    expect(plan.targets[0]?.settings).toEqual({ keyType: 'rsa-3072', ca: 'staging', profile: 'shortlived', renewBeforeMs: 36 * 3_600_000 });
  });

  it('leaves out TLS hosts that no rule routes, and issues nothing for an entry left empty', () => {
    const plan = planTargets([
      ing({ tls: [{ hosts: ['a.example.com', 'typo.example'], secretName: 'a' }, { hosts: ['nowhere.example.com'], secretName: 'b' }], rules: [rule('a.example.com')] }),
    ]);
    expect(plan.targets.map((t) => [t.secretName, t.hosts])).toEqual([['a', ['a.example.com']]]);
    expect(only(plan.findings, 'TlsHostNotRouted').map((f) => f.host)).toEqual(['typo.example', 'nowhere.example.com']);
  });

  it('does not issue wildcard, IP or invalid hosts but keeps the valid ones', () => {
    const plan = planTargets([ing({ tls: [{ hosts: ['ok.example.com', '*.example.com', '10.1.2.3', 'a_b.example.com'], secretName: 's' }], rules: [rule('ok.example.com'), rule('*.example.com')] })]);
    expect(plan.targets[0]?.hosts).toEqual(['ok.example.com']);
    expect(codes(plan.findings)).toEqual(['InvalidHost', 'IpAddressHost', 'WildcardHost']);
  });

  it('merges entries naming one Secret across Ingresses: union of hosts, conflict reported once', () => {
    const a = ing({ name: 'a', tls: [{ hosts: ['a.example.com'], secretName: 'shared' }] });
    const b = ing({ name: 'b', tls: [{ hosts: ['b.example.com'], secretName: 'shared' }] });
    const c = ing({ name: 'c', tls: [{ hosts: ['a.example.com'], secretName: 'shared' }] });
    const plan = planTargets([c, b, a]);
    expect(plan.targets).toHaveLength(1);
    expect(plan.targets[0]?.hosts).toEqual(['a.example.com', 'b.example.com']);
    expect(plan.targets[0]?.ingresses.map((i) => i.name)).toEqual(['a', 'b', 'c']);
    const conflicts = only(plan.findings, 'SecretHostsConflict');
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]?.message).toContain('shop/a');
    expect(conflicts[0]?.message).toContain('shop/b');
  });

  it('does not merge Secrets of the same name in different namespaces', () => {
    const plan = planTargets([ing({ namespace: 'x' }), ing({ namespace: 'y' })]);
    expect(plan.targets.map((t) => `${t.namespace}/${t.secretName}`)).toEqual(['x/web-tls', 'y/web-tls']);
    expect(plan.findings).toEqual([]);
  });

  it('uses the settings of the first Ingress by namespace/name when merged Ingresses disagree', () => {
    const z = ing({ name: 'z', annotations: { 'certkeeper.dev/key-type': 'rsa-4096' } });
    const a = ing({ name: 'a', annotations: { 'certkeeper.dev/key-type': 'ecdsa-p384' } });
    for (const order of [[z, a], [a, z]]) {
      const plan = planTargets(order);
      expect(plan.targets[0]?.settings.keyType).toBe('ecdsa-p384');
      const [f] = only(plan.findings, 'SecretSettingsConflict');
      expect(f?.object.name).toBe('z');
      expect(f?.message).toContain('using those of shop/a');
    }
  });

  it('warns when a managed Secret is shared with an Ingress certkeeper does not manage', () => {
    const plan = planTargets([ing({ name: 'm' }), ing({ name: 'u', managed: false, tls: [{ hosts: ['other.example.com'], secretName: 'web-tls' }] })]);
    expect(plan.targets[0]?.hosts).toEqual(['shop.example.com']);
    const [f] = only(plan.findings, 'SecretHostsConflict');
    expect(f?.message).toContain('not managed by certkeeper');
  });

  describe('selection', () => {
    const objs = [
      ing({ name: 'annotated', className: 'nginx' }),
      ing({ name: 'enabled', managed: false, annotations: { 'certkeeper.dev/enabled': 'true' }, tls: [{ hosts: ['e.example.com'], secretName: 'e' }], className: 'traefik' }),
      ing({ name: 'legacy-class', annotations: { 'kubernetes.io/ingress.class': 'nginx' }, tls: [{ hosts: ['l.example.com'], secretName: 'l' }] }),
      ing({ name: 'plain', managed: false, tls: [{ hosts: ['p.example.com'], secretName: 'p' }] }),
      ing({ name: 'opted-out', managed: false, annotations: { 'certkeeper.dev/enabled': 'false' }, tls: [{ hosts: ['o.example.com'], secretName: 'o' }] }),
      ing({ name: 'http-only', managed: false, tls: null, rules: [rule('h.example.com')] }),
      ing({ name: 'other-ns', namespace: 'other', tls: [{ hosts: ['n.example.com'], secretName: 'n' }] }),
    ];
    const names = (o: PlanOptions): string[] => planTargets(objs, o).targets.flatMap((t) => t.ingresses.map((i) => i.name));
    const reason = (o: PlanOptions, name: string): string | undefined => planTargets(objs, o).ignored.find((i) => i.ref.name === name)?.reason;

    it.each<[string, PlanOptions, string[]]>([
      ['annotated only by default', {}, ['legacy-class', 'other-ns', 'annotated', 'enabled']],
      ['--all-ingresses adds Ingresses with spec.tls', { allIngresses: true }, ['legacy-class', 'other-ns', 'annotated', 'enabled', 'plain']],
      ['ingress class from spec or the legacy annotation', { ingressClass: 'nginx' }, ['annotated', 'legacy-class']],
      ['one namespace', { namespace: 'other' }, ['other-ns']],
      ['one Ingress', { ingress: { namespace: 'shop', name: 'enabled' } }, ['enabled']],
    ])('%s', (_why, o, expected) => {
      expect(names(o).sort()).toEqual([...expected].sort());
    });

    it.each<[string, PlanOptions, string, RegExp]>([
      ['not opted in', {}, 'plain', /not opted in/],
      ['opted out beats --all-ingresses', { allIngresses: true }, 'opted-out', /opted out/],
      ['--all-ingresses skips plain HTTP', { allIngresses: true }, 'http-only', /no spec.tls/],
      ['class filter, no class', { ingressClass: 'nginx' }, 'other-ns', /has no ingress class/],
      ['class filter, other class', { ingressClass: 'nginx' }, 'enabled', /traefik is not the selected class nginx/],
      ['namespace filter', { namespace: 'other' }, 'annotated', /not in namespace other/],
    ])('ignored with a reason: %s', (_why, o, name, re) => {
      expect(reason(o, name)).toMatch(re);
    });
  });

  it('does not issue when certkeeper.dev/ca is invalid, and says so', () => {
    const plan = planTargets([ing({ annotations: { 'certkeeper.dev/ca': 'letsencrypt' } })]);
    expect(plan.targets).toEqual([]);
    expect(codes(plan.findings)).toEqual(['InvalidAnnotationValue']);
    expect(plan.ignored[0]?.reason).toMatch(/certkeeper.dev\/ca/);
  });

  it('falls back to defaults for other invalid settings and keeps issuing', () => {
    const plan = planTargets([ing({ annotations: { 'certkeeper.dev/key-type': 'dsa', 'certkeeper.dev/renew-before': 'soon' } })]);
    expect(plan.targets[0]?.settings).toEqual({ keyType: 'ecdsa-p256' });
  });

  it('puts objects without namespace into defaultNamespace', () => {
    expect(planTargets([ing({ namespace: null })]).targets[0]?.namespace).toBe('default');
    expect(planTargets([ing({ namespace: null })], { defaultNamespace: 'apps' }).targets[0]?.namespace).toBe('apps');
  });

  it('reports spec findings of unmanaged Ingresses only when asked (lint), annotation findings always', () => {
    const objs = [ing({ managed: false, tls: [{ hosts: ['x.example.com'], secretName: 's' }], rules: [], annotations: { 'certkeeper.dev/enable': 'true' } })];
    expect(codes(planTargets(objs).findings)).toEqual(['UnknownAnnotation']);
    expect(codes(planTargets(objs, { includeUnmanaged: true }).findings)).toEqual(['TlsHostNotRouted', 'UnknownAnnotation']);
  });

  it('lists every Secret in use, managed or not', () => {
    const plan = planTargets([ing(), ing({ name: 'u', managed: false, tls: [{ hosts: ['*.example.org'], secretName: 'wild' }], rules: [rule('a.example.org')] })]);
    expect(plan.secretUses).toEqual([
      { namespace: 'shop', secretName: 'web-tls', hosts: ['shop.example.com'], ingresses: [{ namespace: 'shop', name: 'web' }], managed: true },
      { namespace: 'shop', secretName: 'wild', hosts: ['*.example.org'], ingresses: [{ namespace: 'shop', name: 'u' }], managed: false },
    ]);
  });

  it('is deterministic whatever the input order', () => {
    const objs = [ing({ name: 'b', namespace: 'n2' }), ing({ name: 'a', namespace: 'n1', tls: [{ hosts: ['z.example.com', 'y.example.com'], secretName: 's' }], rules: [rule('y.example.com')] }), ing({ name: 'c' })];
    const first = JSON.stringify(planTargets(objs));
    for (const perm of [[2, 0, 1], [1, 2, 0], [0, 2, 1]]) {
      expect(JSON.stringify(planTargets(perm.map((i) => objs[i])))).toBe(first);
    }
  });

  it('never throws on garbage and ignores non-Ingress objects', () => {
    const junk: unknown[] = [null, undefined, 1, 'x', [], {}, { kind: 'Service' }, { kind: 'Ingress' }, { kind: 'Ingress', apiVersion: 'networking.k8s.io/v1', metadata: 'x', spec: 5 }, { kind: 'Ingress', apiVersion: 'example.com/v1' }];
    const plan = planTargets(junk, { includeUnmanaged: true });
    expect(plan.targets).toEqual([]);
    expect(plan.findings.every((f) => f.code === 'InvalidManifest')).toBe(true);
  });
});

describe('ingress view', () => {
  it('recognises Ingress groups, current and removed', () => {
    expect(isIngressObject({ kind: 'Ingress', apiVersion: 'networking.k8s.io/v1' })).toBe(true);
    expect(isIngressObject({ kind: 'Ingress', apiVersion: 'extensions/v1beta1' })).toBe(true);
    expect(isIngressObject({ kind: 'Ingress', apiVersion: 'traefik.io/v1alpha1' })).toBe(false);
    expect(isIngressObject({ kind: 'IngressRoute', apiVersion: 'traefik.io/v1alpha1' })).toBe(false);
  });
  it('reads v1beta1 backends and the legacy class annotation', () => {
    const v = viewIngress({
      apiVersion: 'extensions/v1beta1',
      kind: 'Ingress',
      metadata: { name: 'k', annotations: { 'kubernetes.io/ingress.class': 'nginx' } },
      spec: { backend: { serviceName: 'def', servicePort: 80 }, rules: [{ host: 'k.example.com', http: { paths: [{ path: '/', backend: { serviceName: 'svc', servicePort: 'http' } }] } }] },
    });
    expect(v.removedApi).toBe(true);
    expect(v.defaultBackend).toMatchObject({ serviceName: 'def', servicePort: 80 });
    expect(v.rules[0]?.paths[0]?.backend).toMatchObject({ serviceName: 'svc', servicePort: 'http', legacyFields: ['serviceName', 'servicePort'] });
    expect(v.issues).toEqual([]);
  });
  it('reads v1 backends', () => {
    const v = viewIngress(ing());
    expect(v.rules[0]?.paths[0]?.backend).toMatchObject({ serviceName: 'web', servicePort: 80, legacyFields: [] });
  });
});

describe('annotations', () => {
  it.each<[string, number | undefined]>([
    ['720h', 720 * 3_600_000],
    ['30d', 30 * 86_400_000],
    ['90m', 90 * 60_000],
    ['1h30m', 90 * 60_000],
    ['2w', 14 * 86_400_000],
    ['1.5h', 90 * 60_000],
    [' 30D ', 30 * 86_400_000],
    ['0d', undefined],
    ['30', undefined],
    ['-1h', undefined],
    ['1 month', undefined],
    ['', undefined],
  ])('parseDuration(%j) = %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('formats durations compactly', () => {
    expect(formatDuration(30 * 86_400_000)).toBe('30d');
    expect(formatDuration(36 * 3_600_000)).toBe('36h');
    expect(formatDuration(1500)).toBe('1500ms');
  });

  it('finds the closest name, case-insensitively, within a small distance', () => {
    expect(closestName('rouls', ['rules', 'tls'])).toBe('rules');
    expect(closestName('SecretName', ['secretName'])).toBe('secretName');
    expect(closestName('zzzzzz', ['rules', 'tls'])).toBeUndefined();
  });

  it.each<[string, Record<string, unknown>, boolean, boolean]>([
    ['tls-acme true', { 'kubernetes.io/tls-acme': 'true' }, false, true],
    ['tls-acme TRUE', { 'kubernetes.io/tls-acme': 'TRUE' }, false, true],
    ['enabled true', { 'certkeeper.dev/enabled': 'true' }, false, true],
    ['tls-acme false', { 'kubernetes.io/tls-acme': 'false' }, false, false],
    ['nothing', {}, false, false],
    ['nothing, all ingresses', {}, true, true],
    ['enabled false beats tls-acme', { 'kubernetes.io/tls-acme': 'true', 'certkeeper.dev/enabled': 'false' }, false, false],
    ['enabled false beats all ingresses', { 'certkeeper.dev/enabled': 'false' }, true, false],
  ])('managed: %s', (_why, ann, all, managed) => {
    expect(readAnnotations(ann, { kind: 'Ingress', name: 'x' }, { allIngresses: all }).managed).toBe(managed);
  });

  it('tolerates annotations that are not a mapping', () => {
    expect(readAnnotations('oops', { kind: 'Ingress', name: 'x' }).managed).toBe(false);
    expect(readAnnotations(null, { kind: 'Ingress', name: 'x' }).findings).toEqual([]);
  });
});
