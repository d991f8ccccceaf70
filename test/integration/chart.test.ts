// The Helm chart (charts/certkeeper) and the Dockerfile, checked with the real helm and kubectl
// binaries: lint, render, read the rendered objects, apply them to the in-process Kubernetes API.
// The assertions tie the chart to the code it packages: env vars are settings of src/config.ts and
// options of the command each container runs, RBAC rules are exactly RBAC.md's table, ports and
// probes meet the Service and the program.
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Container,
  V1CronJob,
  V1Deployment,
  V1EnvVar,
  V1PodSpec,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1Service,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { runCli } from '../../src/cli.js';
import { envName, resolveSettings, SETTINGS, type Setting, type SettingName } from '../../src/config.js';
import { Metrics } from '../../src/metrics.js';
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';
import { runHelm, runKubectl, type RunResult } from '../support/kubectl.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHART = join(ROOT, 'charts', 'certkeeper');
const ALL_ON = join(ROOT, 'test', 'fixtures', 'chart', 'all-on.yaml');
/** No image is published: every render names one, as users must. Otherwise the default values. */
const IMAGE = ['--set', 'image.repository=registry.example.com/certkeeper,image.tag=0.1.0'];
/** Cronjob mode with everything else on; the metrics objects need deployment mode. */
const CRONJOB_ALL_ON = [
  '-f',
  ALL_ON,
  '--set',
  'mode=cronjob,metrics.serviceMonitor.enabled=false,metrics.prometheusRule.enabled=false,metrics.grafanaDashboard.enabled=false',
];
/** Scope namespaces with one namespace, the case that works end to end today. */
const ONE_NAMESPACE = [...IMAGE, '--set', 'rbac.scope=namespaces,rbac.namespaces={shop}'];
const SCOPES = { cluster: [IMAGE, ['-f', ALL_ON], CRONJOB_ALL_ON], namespaces: [ONE_NAMESPACE, ['-f', ALL_ON, '--set', 'rbac.scope=namespaces,rbac.namespaces={shop,blog}'], [...CRONJOB_ALL_ON, '--set', 'rbac.scope=namespaces,rbac.namespaces={certkeeper}']] };
/** Every way of rendering the chart the tests look at. */
const VARIANTS = [...SCOPES.cluster, ...SCOPES.namespaces];
const NS = 'certkeeper';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

let api: KubeApi;
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  api = await startKubeApi();
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-chart-'));
  kubeconfig = join(dir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
});

afterAll(async () => {
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const helm = (args: string[]): Promise<RunResult> => runHelm(args, { kubeconfig, timeoutMs: 60_000 });
const kubectl = (args: string[], input?: string): Promise<RunResult> => runKubectl(args, { kubeconfig, timeoutMs: 60_000, ...(input ? { input } : {}) });

/** Renders are pure functions of their arguments; tests share them rather than run helm again. */
const rendered = new Map<string, Promise<RunResult>>();

async function renderYaml(args: string[] = IMAGE, release = 'certkeeper', namespace = NS): Promise<string> {
  const argv = ['template', release, CHART, '--namespace', namespace, ...args];
  const key = JSON.stringify(argv);
  if (!rendered.has(key)) rendered.set(key, helm(argv));
  const r = await (rendered.get(key) as Promise<RunResult>);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

async function render(args: string[] = IMAGE, release = 'certkeeper'): Promise<Manifest[]> {
  const docs = parseAllDocuments(await renderYaml(args, release));
  for (const d of docs) expect(d.errors).toEqual([]);
  return docs.map((d) => d.toJS() as Manifest | null).filter((m): m is Manifest => m !== null);
}

function one<T>(objs: Manifest[], kind: string): T {
  const found = objs.filter((o) => o.kind === kind);
  expect(found.map((o) => o.kind)).toEqual([kind]);
  return found[0] as unknown as T;
}

/** [podSpec, container, the command it runs] of every workload. */
function workloads(objs: Manifest[]): { kind: string; pod: V1PodSpec; container: V1Container; command: string }[] {
  const out = [];
  for (const o of objs) {
    let pod: V1PodSpec | undefined;
    if (o.kind === 'Deployment') pod = (o as unknown as V1Deployment).spec?.template.spec;
    if (o.kind === 'CronJob') pod = (o as unknown as V1CronJob).spec?.jobTemplate.spec?.template.spec;
    if (!pod) continue;
    expect(pod.containers).toHaveLength(1);
    const container = pod.containers[0] as V1Container;
    expect(container.command).toBeUndefined(); // the image's ENTRYPOINT is `node /app/dist/cli.js`
    out.push({ kind: o.kind, pod, container, command: String(container.args?.[0]) });
  }
  return out;
}

const envOf = (c: V1Container): V1EnvVar[] => c.env ?? [];
/** The alert channels' settings (src/config.ts), which `run` reads and the CronJob passes on too. */
const ALERT_ENV = new Set(['webhookUrl', 'webhookFormat', 'smtpHost', 'smtpPort', 'smtpSecurity', 'smtpUser', 'smtpPassword', 'smtpFrom', 'smtpTo'].map(envName));
const envValue = (c: V1Container, name: string): string | undefined => envOf(c).find((e) => e.name === name)?.value;

const SETTING_BY_ENV = new Map<string, SettingName>(
  (Object.keys(SETTINGS) as SettingName[]).flatMap((n) => {
    const alias = (SETTINGS[n] as Setting).envAlias;
    return alias ? [[envName(n), n], [alias, n]] : [[envName(n), n]];
  }),
);

/** The environment variables a command documents in its --help (from src/commands/common.ts). */
async function documentedEnv(command: string): Promise<Set<string>> {
  let out = '';
  const io = {
    stdout: (t: string) => void (out += t),
    stderr: (t: string) => void (out += t),
    stdin: new PassThrough(),
    env: {},
    logStream: new PassThrough(),
  };
  expect(await runCli([command, '--help'], io)).toBe(0);
  return new Set(out.match(/\b(CERTKEEPER_[A-Z0-9_]+|POD_NAMESPACE|POD_NAME)\b/g));
}

/**
 * The series certkeeper exports, read from its real metrics registry (not from the source text):
 * counters as named, histograms as their _bucket, _sum and _count series.
 */
async function exportedSeries(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const m of await new Metrics().registry.getMetricsAsJSON()) {
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) out.add(`${m.name}${suffix}`);
    else out.add(m.name);
  }
  return out;
}

/** PromQL's aggregation operators and functions (prometheus.io/docs/prometheus/latest/querying). */
const PROMQL_FUNCTIONS = new Set(
  (
    'sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio ' +
    'abs absent absent_over_time ceil changes clamp clamp_max clamp_min day_of_month day_of_week day_of_year days_in_month delta deriv exp floor ' +
    'histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum hour idelta increase irate ' +
    'label_join label_replace ln log2 log10 minute month predict_linear rate resets round scalar sgn sort sort_desc sort_by_label sort_by_label_desc ' +
    'sqrt time timestamp vector year avg_over_time min_over_time max_over_time sum_over_time count_over_time quantile_over_time stddev_over_time ' +
    'stdvar_over_time last_over_time present_over_time mad_over_time'
  ).split(' '),
);
const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'Inf', 'NaN']);

/** The metric names and the functions one PromQL expression uses. */
function promqlNames(expr: string): { metrics: string[]; functions: string[] } {
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const functions = [...e.matchAll(/\b([a-zA-Z_][a-zA-Z0-9_]*)\s*\(/g)].map((m) => m[1] as string);
  const rest = e.replace(/\b([a-zA-Z_][a-zA-Z0-9_]*)\s*\(/g, '(');
  const metrics = [...rest.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)/g)].map((m) => m[1] as string).filter((w) => !PROMQL_KEYWORDS.has(w));
  return { metrics, functions };
}

interface RbacRow {
  scope: string;
  apiGroup: string;
  resource: string;
  verbs: string[];
  why: string;
}

type RbacScope = keyof typeof SCOPES;
const ROLE_SCOPES = ['ClusterRole', 'Role', 'Role per namespace'];

/** The table under "## rbac.scope: SCOPE" in charts/certkeeper/RBAC.md: | scope | apiGroup | resource | verbs | why |. */
function rbacTable(scope: RbacScope): RbacRow[] {
  const sections = readFileSync(join(CHART, 'RBAC.md'), 'utf8').split(/^## /m);
  const section = sections.filter((x) => x.startsWith(`rbac.scope: ${scope}`));
  expect(section, `RBAC.md has one section "## rbac.scope: ${scope}"`).toHaveLength(1);
  const lines = (section[0] as string).split('\n').filter((l) => l.startsWith('|'));
  expect(lines[0]?.replace(/\s/g, '')).toBe('|scope|apiGroup|resource|verbs|why|');
  return lines.slice(2).map((l) => {
    const [scope, apiGroup, resource, verbs, why] = l.split('|').slice(1, -1).map((c) => c.trim()) as [string, string, string, string, string];
    return { scope, apiGroup: apiGroup === '""' ? '' : apiGroup, resource, verbs: verbs.split(',').map((v) => v.trim()), why };
  });
}

/** One line per (scope, group, resource): "ClusterRole secrets get,list". */
function ruleLines(scope: string, rules: V1PolicyRule[]): string[] {
  return rules.flatMap((r) => {
    // Only apiGroups/resources/verbs: resourceNames or nonResourceURLs would need a row in RBAC.md.
    expect(Object.keys(r).sort()).toEqual(['apiGroups', 'resources', 'verbs']);
    return (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).map((res) => `${scope} ${g || '""'} ${res} ${[...r.verbs].sort().join(',')}`));
  });
}

describe('helm lint', () => {
  it('passes with the default values', async () => {
    const r = await helm(['lint', '--strict', CHART]);
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.code).toBe(0);
  });

  it('passes with every option on, in both modes', async () => {
    for (const args of [['-f', ALL_ON], CRONJOB_ALL_ON]) {
      const r = await helm(['lint', '--strict', CHART, ...args]);
      expect(r.stdout).toContain('0 chart(s) failed');
      expect(r.code).toBe(0);
    }
  });
});

describe('rendered objects', () => {
  for (const scope of Object.keys(SCOPES) as RbacScope[]) {
    it(`grants exactly the rules RBAC.md documents for rbac.scope=${scope}, each with a reason`, async () => {
      const table = rbacTable(scope);
      expect(table.length).toBeGreaterThan(0);
      for (const row of table) {
        expect(ROLE_SCOPES).toContain(row.scope);
        expect(row.why.length, `RBAC.md: ${row.resource} needs a reason`).toBeGreaterThan(20);
      }
      const documented = table.map((r) => `${r.scope} ${r.apiGroup || '""'} ${r.resource} ${[...r.verbs].sort().join(',')}`).sort();

      for (const args of SCOPES[scope]) {
        const objs = await render(args);
        const sa = one<Manifest>(objs, 'ServiceAccount').metadata;
        const subjects = [{ kind: 'ServiceAccount', name: sa.name, namespace: NS }];
        const listed = scope === 'namespaces' ? (/rbac\.namespaces=\{([^}]*)\}/.exec(args.join(' '))?.[1] ?? '').split(',') : [];
        const roles = objs.filter((o) => o.kind === 'Role') as unknown as V1Role[];
        const bindings = objs.filter((o) => o.kind === 'RoleBinding') as unknown as V1RoleBinding[];
        // certkeeper's own Role, and in scope namespaces one more Role in each listed namespace.
        const own = roles.filter((r) => r.metadata?.name === 'certkeeper');
        expect(own.map((r) => r.metadata?.namespace)).toEqual([NS]);
        const perNamespace = roles.filter((r) => r.metadata?.name !== 'certkeeper');
        expect(perNamespace.map((r) => r.metadata?.namespace).sort()).toEqual([...listed].sort());
        const lines = [...ruleLines('Role', own[0]?.rules ?? [])];
        for (const r of perNamespace) {
          const mine = ruleLines('Role per namespace', r.rules ?? []);
          expect(mine.sort(), `Role in ${r.metadata?.namespace}`).toEqual(ruleLines('Role per namespace', perNamespace[0]?.rules ?? []).sort());
        }
        lines.push(...ruleLines('Role per namespace', perNamespace[0]?.rules ?? []));
        const clusterRoles = objs.filter((o) => o.kind === 'ClusterRole') as unknown as V1ClusterRole[];
        if (scope === 'cluster') {
          expect(clusterRoles).toHaveLength(1);
          lines.push(...ruleLines('ClusterRole', clusterRoles[0]?.rules ?? []));
          const crb = one<V1ClusterRoleBinding>(objs, 'ClusterRoleBinding');
          expect(crb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRoles[0]?.metadata?.name });
          expect(crb.subjects).toEqual(subjects);
        } else {
          // Nothing cluster-wide at all in this scope.
          expect(objs.map((o) => o.kind)).not.toEqual(expect.arrayContaining(['ClusterRole']));
          expect(objs.map((o) => o.kind)).not.toEqual(expect.arrayContaining(['ClusterRoleBinding']));
        }
        expect(lines.sort()).toEqual(documented);

        // Every Role is bound, in its own namespace, to the chart's ServiceAccount: the one the pods run as.
        expect(bindings).toHaveLength(roles.length);
        for (const role of roles) {
          const b = bindings.find((x) => x.metadata?.namespace === role.metadata?.namespace && x.roleRef.name === role.metadata?.name);
          expect(b?.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata?.name });
          expect(b?.subjects).toEqual(subjects);
        }
        for (const w of workloads(objs)) expect(w.pod.serviceAccountName).toBe(sa.name);
      }
    });
  }

  it('grants no Gateway API rule with gatewayAPI.enabled=false, and tells certkeeper not to look', async () => {
    const OFF = ['--set', 'gatewayAPI.enabled=false'];
    for (const scope of Object.keys(SCOPES) as RbacScope[]) {
      const documented = rbacTable(scope)
        .filter((r) => r.apiGroup !== 'gateway.networking.k8s.io')
        .map((r) => `${r.scope} ${r.apiGroup || '""'} ${r.resource} ${[...r.verbs].sort().join(',')}`)
        .sort();
      expect(rbacTable(scope).length, `RBAC.md documents Gateway API rows for scope ${scope}`).toBeGreaterThan(documented.length);
      for (const args of SCOPES[scope]) {
        const objs = await render([...args, ...OFF]);
        const own = objs.filter((o) => o.kind === 'Role' && o.metadata.name === 'certkeeper') as unknown as V1Role[];
        const perNamespace = objs.filter((o) => o.kind === 'Role' && o.metadata.name !== 'certkeeper') as unknown as V1Role[];
        const clusterRoles = objs.filter((o) => o.kind === 'ClusterRole') as unknown as V1ClusterRole[];
        const lines = [
          ...ruleLines('Role', own[0]?.rules ?? []),
          ...ruleLines('Role per namespace', perNamespace[0]?.rules ?? []),
          ...ruleLines('ClusterRole', clusterRoles[0]?.rules ?? []),
        ];
        expect(lines.sort()).toEqual(documented);
        for (const w of workloads(objs).filter((x) => x.command !== 'serve')) expect(envValue(w.container, 'CERTKEEPER_GATEWAY_API'), `${w.kind} ${w.command}`).toBe('false');
      }
    }
    // On by default: the passes look for Gateways.
    for (const w of workloads(await render()).filter((x) => x.command !== 'serve')) expect(envValue(w.container, 'CERTKEEPER_GATEWAY_API')).toBe('true');
  });

  it('lists in the one namespace of scope namespaces, and says what does not work with several', async () => {
    for (const args of [ONE_NAMESPACE, [...CRONJOB_ALL_ON, '--set', 'rbac.scope=namespaces,rbac.namespaces={certkeeper}']]) {
      const ns = /rbac\.namespaces=\{([^}]*)\}/.exec(args.join(' '))?.[1];
      for (const w of workloads(await render(args)).filter((x) => x.command !== 'serve')) {
        expect(envValue(w.container, 'CERTKEEPER_NAMESPACE'), `${w.kind} ${w.command}`).toBe(ns);
      }
    }
    // Scope cluster lists everywhere.
    for (const w of workloads(await render(['-f', ALL_ON]))) expect(envValue(w.container, 'CERTKEEPER_NAMESPACE')).toBeUndefined();
    const several = await helm(['install', 'certkeeper', CHART, '--dry-run=client', '--namespace', NS, '-f', ALL_ON, '--set', 'rbac.scope=namespaces,rbac.namespaces={shop,blog}']);
    expect(several.code).toBe(0);
    expect(several.stdout).toMatch(/WARNING: rbac\.scope=namespaces with 2 namespaces \(shop, blog\)[^]*403 forbidden: cannot list ingresses\s+cluster-wide/);
    const single = await helm(['install', 'certkeeper', CHART, '--dry-run=client', '--namespace', NS, ...ONE_NAMESPACE]);
    expect(single.stdout).toContain('RBAC scope: namespace shop only.');
    expect(single.stdout).not.toContain('WARNING');
  });

  it('mounts the API token only into certkeeper\'s own pods, which all use it', async () => {
    for (const args of VARIANTS) {
      const objs = await render(args);
      // The ServiceAccount can write Secrets: any other pod using it gets no token by default.
      expect(one<Manifest & { automountServiceAccountToken?: boolean }>(objs, 'ServiceAccount').automountServiceAccountToken).toBe(false);
      // run and renew are passes; serve watches the challenge ConfigMap.
      for (const w of workloads(objs)) expect(w.pod.automountServiceAccountToken, `${w.kind} ${w.command}`).toBe(true);
    }
  });

  it('keeps the chart version out of pod templates, so a chart-only release restarts nothing', async () => {
    const podTemplates = (objs: Manifest[]) =>
      objs.flatMap((o) =>
        o.kind === 'Deployment' ? [(o as unknown as V1Deployment).spec?.template] : o.kind === 'CronJob' ? [(o as unknown as V1CronJob).spec?.jobTemplate.spec?.template] : [],
      );
    const bumped = join(dir, 'chart-bumped');
    cpSync(CHART, bumped, { recursive: true });
    const chartYaml = join(bumped, 'Chart.yaml');
    writeFileSync(chartYaml, readFileSync(chartYaml, 'utf8').replace(/^version: .*$/m, 'version: 9.9.9'));
    for (const args of [['-f', ALL_ON], CRONJOB_ALL_ON]) {
      const before = await render(args);
      const r = await helm(['template', 'certkeeper', bumped, '--namespace', NS, ...args]);
      expect(r.code).toBe(0);
      const after = parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest | null).filter((m): m is Manifest => m !== null);
      // The objects themselves say which chart made them…
      expect(one<Manifest>(after, 'Service').metadata.labels?.['helm.sh/chart']).toBe('certkeeper-9.9.9');
      // …their pod templates do not, and stay identical.
      expect(podTemplates(before).length).toBeGreaterThan(0);
      for (const t of podTemplates(before)) expect(Object.keys(t?.metadata?.labels ?? {})).not.toContain('helm.sh/chart');
      expect(podTemplates(after)).toEqual(podTemplates(before));
    }
  });

  it('routes Service port 80 to the responder, and the solver Ingresses to that Service', async () => {
    for (const args of VARIANTS) {
      const objs = await render(args);
      const svc = one<V1Service>(objs, 'Service');
      const http = svc.spec?.ports?.find((p) => p.name === 'http');
      expect(http).toMatchObject({ port: 80, targetPort: 'http', protocol: 'TCP' });
      const deploy = one<V1Deployment>(objs, 'Deployment');
      const pod = deploy.spec?.template;
      // The selector picks the Deployment's pods and never the CronJob's (which do not listen).
      expect(pod?.metadata?.labels).toMatchObject(svc.spec?.selector ?? { missing: 'selector' });
      expect(deploy.spec?.selector.matchLabels).toEqual(svc.spec?.selector);
      for (const w of workloads(objs).filter((x) => x.kind === 'CronJob')) {
        const cj = one<V1CronJob>(objs, 'CronJob');
        const labels = cj.spec?.jobTemplate.spec?.template.metadata?.labels ?? {};
        expect(Object.entries(svc.spec?.selector ?? {}).every(([k, v]) => labels[k] === v)).toBe(false);
        expect(w.container.ports).toBeUndefined();
      }
      const c = pod?.spec?.containers[0] as V1Container;
      const httpPort = c.ports?.find((p) => p.name === 'http');
      expect(httpPort?.containerPort).toBe(8080);
      expect(envValue(c, 'CERTKEEPER_HTTP_PORT')).toBe('8080');
      // Solver Ingresses name the Service and port the pass is told about.
      for (const w of workloads(objs).filter((x) => x.command !== 'serve')) {
        expect(envValue(w.container, 'CERTKEEPER_SERVICE_NAME')).toBe(svc.metadata?.name);
        expect(envValue(w.container, 'CERTKEEPER_SERVICE_PORT')).toBe('80');
      }
    }
  });

  it('runs `certkeeper run` with metrics and probes on the admin port (deployment mode)', async () => {
    const objs = await render(['-f', ALL_ON]);
    expect(workloads(objs).map((w) => `${w.kind} ${w.command}`)).toEqual(['Deployment run']);
    const c = one<V1Deployment>(objs, 'Deployment').spec?.template.spec?.containers[0] as V1Container;
    expect(c.ports?.map((p) => [p.name, p.containerPort])).toEqual([
      ['http', 8080],
      ['admin', 9090],
    ]);
    expect(envValue(c, 'CERTKEEPER_ADMIN_PORT')).toBe('9090');
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(one<V1Service>(objs, 'Service').spec?.ports?.find((p) => p.name === 'admin')).toMatchObject({ port: 9090, targetPort: 'admin' });
    // By default the admin port stays off the Service: the probes use the pod's port, and only
    // a scraper that discovers Services needs it there (the ServiceMonitor adds it by itself).
    const dflt = await render();
    expect(one<V1Service>(dflt, 'Service').spec?.ports?.map((p) => p.name)).toEqual(['http']);
    const dfltContainer = workloads(dflt)[0]?.container as V1Container;
    expect(dfltContainer.ports?.map((p) => p.name)).toEqual(['http', 'admin']);
    expect(dfltContainer.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    for (const set of ['service.exposeAdmin=true', 'metrics.serviceMonitor.enabled=true']) {
      const svc = one<V1Service>(await render([...IMAGE, '--set', set]), 'Service');
      expect(svc.spec?.ports?.map((p) => p.name), set).toEqual(['http', 'admin']);
    }

    const sm = one<Manifest & { spec: { endpoints: { port: string; path: string }[] } }>(objs, 'ServiceMonitor');
    expect(sm.spec.endpoints).toMatchObject([{ port: 'admin', path: '/metrics' }]);
    const rule = one<Manifest & { spec: { groups: { rules: { alert: string; expr: string }[] }[] } }>(objs, 'PrometheusRule');
    const exprs = rule.spec.groups.flatMap((g) => g.rules).map((r) => `${r.alert}: ${r.expr}`);
    // The rules use the metrics certkeeper's registry exports, lifetime-relative rather than fixed days.
    const exported = await exportedSeries();
    for (const e of exprs) for (const m of e.match(/certkeeper_[a-z0-9_]+/g) ?? []) expect(exported, `${m} in ${e}`).toContain(m);
    expect(exprs.join('\n')).toMatch(/CertificateRenewalOverdue: .*certkeeper_certificate_renew_at_timestamp_seconds/);
    expect(exprs.join('\n')).toMatch(/CertificateExpiringSoon: [^]*not_before_timestamp_seconds[^]*\/ 10/);
    expect(exprs.join('\n')).toMatch(/NoSuccessfulPass: .*certkeeper_last_successful_pass_timestamp_seconds.* > 14400/);
  });

  it('runs `certkeeper renew` as a CronJob and `certkeeper serve` behind the Service (cronjob mode)', async () => {
    const objs = await render(CRONJOB_ALL_ON);
    expect(workloads(objs).map((w) => `${w.kind} ${w.command}`).sort()).toEqual(['CronJob renew', 'Deployment serve']);
    const cj = one<V1CronJob>(objs, 'CronJob');
    expect(cj.spec).toMatchObject({ schedule: '17 */2 * * *', timeZone: 'Europe/Berlin', concurrencyPolicy: 'Forbid' });
    expect(cj.spec?.jobTemplate.spec?.backoffLimit).toBe(0);
    const serve = one<V1Deployment>(objs, 'Deployment').spec?.template.spec?.containers[0] as V1Container;
    // `serve` answers /healthz and /readyz on the responder port; it has no admin port.
    expect(serve.ports?.map((p) => p.name)).toEqual(['http']);
    expect(serve.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(serve.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    // The responder needs no ACME or alert secrets; keep them out of its pods.
    expect(envOf(serve).filter((e) => e.valueFrom?.secretKeyRef)).toEqual([]);
    expect(objs.map((o) => o.kind)).not.toContain('ServiceMonitor');
    expect(one<V1Service>(objs, 'Service').spec?.ports?.map((p) => p.name)).toEqual(['http']);
  });

  it('runs non-root with a read-only root filesystem, no capabilities and resource limits', async () => {
    const dockerUser = /^USER\s+(\d+)/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
    for (const args of VARIANTS) {
      for (const { pod, container } of workloads(await render(args))) {
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
        expect(container.securityContext).toEqual({
          runAsNonRoot: true,
          runAsUser: 65532,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(String(container.securityContext?.runAsUser)).toBe(dockerUser);
        expect(container.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });
        expect(container.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
      }
    }
  });

  it('sets only environment variables that config.ts knows and the container\'s command reads, with values it accepts', async () => {
    const helpOf = new Map<string, Set<string>>();
    const EXTRA_ENV = new Set((parseYaml(readFileSync(ALL_ON, 'utf8')) as { extraEnv: { name: string }[] }).extraEnv.map((e) => e.name));
    for (const args of VARIANTS) {
      for (const { kind, container, command } of workloads(await render(args))) {
        const env = envOf(container);
        expect(new Set(env.map((e) => e.name)).size, 'no variable set twice').toBe(env.length);
        if (!helpOf.has(command)) helpOf.set(command, await documentedEnv(command));
        for (const e of env) {
          expect(SETTING_BY_ENV.has(e.name), `${kind} ${command}: ${e.name} is not a setting in src/config.ts`).toBe(true);
          // extraEnv is the user's, and goes to every container alike.
          if (EXTRA_ENV.has(e.name)) continue;
          expect(helpOf.get(command), `${kind}: \`certkeeper ${command}\` does not read ${e.name}`).toContain(e.name);
        }
        // Everything with a literal value must pass config.ts's own parsing.
        const literal = Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
        const names = [...new Set(Object.keys(literal).map((n) => SETTING_BY_ENV.get(n) as SettingName))];
        expect(() => resolveSettings(names, {}, literal)).not.toThrow();
        expect(literal['POD_NAMESPACE']).toBeUndefined();
        expect(env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
        // The pass's Lease holder is the pod; `serve` holds no Lease.
        if (command !== 'serve') expect(env.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
        expect(literal['CERTKEEPER_LOG_FORMAT']).toBe('json');
      }
    }
  });

  it('maps values to settings of the same name, lists included', async () => {
    const c = (await render(['-f', ALL_ON])).flatMap((o) => workloads([o]))[0]?.container as V1Container;
    const values = parseYaml(readFileSync(ALL_ON, 'utf8')) as Record<string, unknown>;
    const sameName = Object.entries(values).filter(([k, v]) => k in SETTINGS && typeof v !== 'object');
    expect(sameName.map(([k]) => k).sort()).toEqual(
      ['allIngresses', 'ingressClass', 'leaderElection', 'logLevel', 'runOnStart', 'schedule', 'selfCheck', 'selfCheckAddress', 'timezone'].sort(),
    );
    for (const [k, v] of sameName) expect(envValue(c, envName(k)), k).toBe(String(v));
    const env = Object.fromEntries(envOf(c).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
    const cfg = resolveSettings(['directory', 'solverPathType', 'solverAnnotations', 'smtpTo', 'smtpPort', 'smtpSecurity', 'webhookFormat', 'eabKid'], {}, env);
    expect(cfg).toEqual({
      directory: 'https://acme.example.net/directory',
      solverPathType: 'ImplementationSpecific',
      solverAnnotations: [
        ['nginx.ingress.kubernetes.io/ssl-redirect', 'false'],
        ['nginx.ingress.kubernetes.io/whitelist-source-range', '0.0.0.0/0'],
      ],
      smtpTo: ['ops@example.com', 'oncall@example.com'],
      smtpPort: 465,
      smtpSecurity: 'tls',
      webhookFormat: 'slack',
      eabKid: 'kid-123',
    });
    // Staging by default, production with one value.
    const dflt = workloads(await render())[0]?.container as V1Container;
    expect(envValue(dflt, 'CERTKEEPER_DIRECTORY')).toBe('staging');
    const prod = workloads(await render([...IMAGE, '--set', 'acme.server=production']))[0]?.container as V1Container;
    expect(envValue(prod, 'CERTKEEPER_DIRECTORY')).toBe('production');
  });

  it('takes secrets from existing Secrets through secretKeyRef, never inline', async () => {
    const objs = await render(['-f', ALL_ON]);
    expect(objs.map((o) => o.kind)).not.toContain('Secret');
    const c = workloads(objs)[0]?.container as V1Container;
    const fromSecret = Object.fromEntries(envOf(c).filter((e) => e.valueFrom?.secretKeyRef).map((e) => [e.name, e.valueFrom?.secretKeyRef]));
    expect(fromSecret).toEqual({
      CERTKEEPER_EAB_HMAC_KEY: { name: 'acme-eab', key: 'hmac' },
      CERTKEEPER_WEBHOOK_URL: { name: 'certkeeper-alerts', key: 'slack-url' },
      CERTKEEPER_SMTP_PASSWORD: { name: 'certkeeper-alerts', key: 'smtp-password' },
    });
    for (const name of Object.keys(fromSecret)) expect(envOf(c).find((e) => e.name === name)?.value).toBeUndefined();
    // Without the Secret references, the settings are simply absent.
    const plain = workloads(await render())[0]?.container as V1Container;
    expect(envOf(plain).map((e) => e.name)).not.toEqual(expect.arrayContaining(['CERTKEEPER_WEBHOOK_URL']));
    expect(envOf(plain).some((e) => e.valueFrom?.secretKeyRef)).toBe(false);
  });
});

describe('cronjob mode and alerts', () => {
  it('gives the CronJob the same alert settings as the service, secrets by reference', async () => {
    const alertEnv = (c: V1Container) => envOf(c).filter((e) => ALERT_ENV.has(e.name)).sort((a, b) => a.name.localeCompare(b.name));
    const run = workloads(await render(['-f', ALL_ON]))[0]?.container as V1Container;
    const cron = workloads(await render(CRONJOB_ALL_ON));
    const renew = cron.find((w) => w.command === 'renew')?.container as V1Container;
    expect(alertEnv(run).map((e) => e.name)).toEqual([...ALERT_ENV].sort());
    expect(alertEnv(renew)).toEqual(alertEnv(run));
    // …and the schedule it runs on, so that `renew` knows when NoSuccessfulPass is due.
    expect(envValue(renew, 'CERTKEEPER_SCHEDULE')).toBe(envValue(run, 'CERTKEEPER_SCHEDULE'));
    // The responder pods answer challenges only: no alert channel, no secret.
    const serve = cron.find((w) => w.command === 'serve')?.container as V1Container;
    expect(alertEnv(serve)).toEqual([]);
    // Without channels, no alert variable at all.
    expect(alertEnv(workloads(await render([...IMAGE, '--set', 'mode=cronjob']))[0]?.container as V1Container)).toEqual([]);
  });
});

interface NetworkPolicy extends Manifest {
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: string[];
    ingress: { from?: object[]; ports?: { port: number; protocol: string }[] }[];
    egress: { to?: { ipBlock?: { cidr: string }; namespaceSelector?: object; podSelector?: object }[]; ports?: { port: number; protocol?: string }[] }[];
  };
}

describe('NetworkPolicy', () => {
  const policies = (objs: Manifest[]) => objs.filter((o) => o.kind === 'NetworkPolicy') as NetworkPolicy[];
  const values = parseYaml(readFileSync(ALL_ON, 'utf8')) as { networkPolicy: Record<string, { namespaceSelector: object; podSelector: object; cidrs?: string[] }> & { externalCidrs: string[] } };
  const peer = (name: string) => ({ namespaceSelector: values.networkPolicy[name]?.namespaceSelector, podSelector: values.networkPolicy[name]?.podSelector });
  const ports = (rule: { ports?: { port: number; protocol?: string }[] } | undefined) => (rule?.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).sort();
  const egressTo = (np: NetworkPolicy, match: (to: NonNullable<NetworkPolicy['spec']['egress'][number]['to']>) => boolean) => np.spec.egress.filter((r) => r.to && match(r.to));

  it('is off by default', async () => {
    expect(policies(await render())).toEqual([]);
  });

  it('lets in only the ingress controller (responder) and Prometheus (admin port), and out only to what a pass needs', async () => {
    const objs = await render(['-f', ALL_ON]);
    const [np, ...more] = policies(objs);
    expect(more).toEqual([]);
    const deploy = one<V1Deployment>(objs, 'Deployment');
    expect(np?.spec.podSelector.matchLabels).toEqual(deploy.spec?.selector.matchLabels);
    expect(np?.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    // Ports are the pod's ports (the Service maps 80 to 8080).
    const c = deploy.spec?.template.spec?.containers[0] as V1Container;
    const portOf = (name: string) => c.ports?.find((p) => p.name === name)?.containerPort;
    expect(np?.spec.ingress).toEqual([
      { from: [peer('ingressController')], ports: [{ port: portOf('http'), protocol: 'TCP' }] },
      { from: [peer('monitoring')], ports: [{ port: portOf('admin'), protocol: 'TCP' }] },
    ]);
    const policy = np as NetworkPolicy;
    const api = egressTo(policy, (to) => to.some((t) => t.ipBlock?.cidr === '10.0.0.10/32'));
    expect(api.map((r) => r.to)).toEqual([[{ ipBlock: { cidr: '10.0.0.10/32' } }, { ipBlock: { cidr: '10.0.0.11/32' } }]]);
    expect(ports(api[0])).toEqual(['6443/TCP']);
    const dns = egressTo(policy, (to) => JSON.stringify(to).includes('kube-dns'));
    expect(ports(dns[0])).toEqual(['53/TCP', '53/UDP']);
    // The self-check goes through the controller's pods; the CA, public addresses and alerts are outside.
    expect(ports(egressTo(policy, (to) => JSON.stringify(to) === JSON.stringify([peer('ingressController')]))[0])).toEqual(['443/TCP', '80/TCP']);
    const outside = egressTo(policy, (to) => to.some((t) => t.ipBlock?.cidr === '0.0.0.0/0'));
    expect(outside[0]?.to?.map((t) => t.ipBlock?.cidr)).toEqual(values.networkPolicy.externalCidrs);
    // 443: the CA and the webhook; 80: the self-check; 465: alerts.email.port of all-on.yaml.
    expect(ports(outside[0])).toEqual(['443/TCP', '465/TCP', '80/TCP']);
    expect(egressTo(policy, (to) => to.some((t) => t.ipBlock?.cidr === '192.0.2.10/32')).map(ports)).toEqual([['8443/TCP']]);
  });

  it('follows the CA\'s port, the self-check address and the self-check switch', async () => {
    const base = [...IMAGE, '--set', 'networkPolicy.enabled=true,networkPolicy.apiServer.cidrs={10.0.0.1/32}'];
    const outsidePorts = async (set: string) => {
      const np = policies(await render([...base, '--set', set]))[0] as NetworkPolicy;
      return { outside: ports(egressTo(np, (to) => to.some((t) => t.ipBlock?.cidr === '0.0.0.0/0'))[0]), rules: np.spec.egress.length };
    };
    expect((await outsidePorts('acme.server=https://ca.example.net:14000/dir')).outside).toEqual(['14000/TCP', '443/TCP', '80/TCP']);
    expect((await outsidePorts('selfCheckAddress=10.1.2.3:8080')).outside).toEqual(['443/TCP', '80/TCP', '8080/TCP']);
    const off = await outsidePorts('selfCheck=off');
    expect(off.outside).toEqual(['443/TCP']);
    expect(off.rules).toBe(3); // API, DNS, outside: no route to the controller
  });

  it('keeps the responders of cronjob mode to the API, and gives the renew Jobs the way out', async () => {
    const objs = await render(CRONJOB_ALL_ON);
    const nps = policies(objs);
    expect(nps.map((n) => n.metadata.name).sort()).toEqual(['certkeeper', 'certkeeper-renew']);
    const serve = nps.find((n) => n.metadata.name === 'certkeeper') as NetworkPolicy;
    const renew = nps.find((n) => n.metadata.name === 'certkeeper-renew') as NetworkPolicy;
    expect(serve.spec.podSelector.matchLabels).toEqual(one<V1Deployment>(objs, 'Deployment').spec?.selector.matchLabels);
    const job = one<V1CronJob>(objs, 'CronJob').spec?.jobTemplate.spec?.template.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(renew.spec.podSelector.matchLabels)) expect(job[k], k).toBe(v);
    expect(renew.spec.podSelector.matchLabels['app.kubernetes.io/component']).toBe('renew');
    // serve: the challenge port from the controller in; only the API and DNS out (no admin port).
    expect(serve.spec.ingress.map((r) => ports(r))).toEqual([['8080/TCP']]);
    expect(serve.spec.egress.map((r) => ports(r))).toEqual([['6443/TCP'], ['53/TCP', '53/UDP']]);
    // renew: nothing in; API, DNS, the self-check, the outside and the extra rule out.
    expect(renew.spec.ingress).toEqual([]);
    expect(renew.spec.egress.map((r) => ports(r))).toEqual([['6443/TCP'], ['53/TCP', '53/UDP'], ['443/TCP', '80/TCP'], ['443/TCP', '465/TCP', '80/TCP'], ['8443/TCP']]);
  });
});

describe('Grafana dashboard', () => {
  interface Panel {
    type: string;
    title: string;
    description?: string;
    gridPos: { x: number; y: number; w: number; h: number };
    targets?: { expr: string; refId: string }[];
  }
  interface Dashboard {
    uid: string;
    title: string;
    panels: Panel[];
    templating: { list: { name: string; type: string; query: unknown }[] };
  }

  async function dashboard(args: string[]): Promise<{ cm: Manifest & { data: Record<string, string> }; json: Dashboard }> {
    const cm = (await render(args)).find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard')) as Manifest & { data: Record<string, string> };
    expect(cm, 'the dashboard ConfigMap').toBeDefined();
    expect(Object.keys(cm.data)).toEqual(['certkeeper.json']);
    return { cm, json: JSON.parse(cm.data['certkeeper.json'] as string) as Dashboard };
  }

  it('is off by default, and on labels itself for the kube-prometheus-stack sidecar', async () => {
    expect((await render()).filter((o) => o.kind === 'ConfigMap')).toEqual([]);
    const { cm } = await dashboard([...IMAGE, '--set', 'metrics.grafanaDashboard.enabled=true']);
    expect(cm.metadata.namespace).toBe(NS);
    expect(cm.metadata.labels?.['grafana_dashboard']).toBe('1');
    const custom = await dashboard(['-f', ALL_ON]);
    expect(custom.cm.metadata.namespace).toBe('monitoring');
    expect(custom.cm.metadata.labels).toMatchObject({ grafana_dashboard: '1', release: 'prometheus' });
    expect((custom.cm.metadata as { annotations?: Record<string, string> }).annotations).toEqual({ grafana_folder: 'Certificates' });
  });

  it('queries only metrics certkeeper exports, with PromQL functions that exist', async () => {
    const { json } = await dashboard(['-f', ALL_ON]);
    const exported = await exportedSeries();
    const exprs = json.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(10);
    const used = new Set<string>();
    for (const { panel, expr } of exprs) {
      const { metrics, functions } = promqlNames(expr);
      expect(metrics.length, `${panel}: ${expr} names a metric`).toBeGreaterThan(0);
      for (const m of metrics) {
        expect(exported, `${panel}: ${m} is not a metric certkeeper exports`).toContain(m);
        used.add(m);
      }
      for (const f of functions) expect(PROMQL_FUNCTIONS, `${panel}: ${f}() is not PromQL`).toContain(f);
      // Every query follows the dashboard's certkeeper (job) selector.
      for (const sel of expr.match(/certkeeper_[a-z0-9_]+\{[^}]*\}/g) ?? []) expect(sel, panel).toContain('job=~"$job"');
      expect(expr.match(/certkeeper_[a-z0-9_]+(?!\{|[a-z0-9_])/g), `${panel}: ${expr} has a selector without job`).toBeNull();
    }
    // What the dashboard is for: days left, orders by result/reason, findings, pass duration, alerts.
    for (const m of [
      'certkeeper_certificate_not_after_timestamp_seconds',
      'certkeeper_acme_orders_total',
      'certkeeper_findings',
      'certkeeper_pass_duration_seconds_bucket',
      'certkeeper_alerts_firing',
    ]) {
      expect(used).toContain(m);
    }
    expect(exprs.find((e) => e.panel === 'Certificates by days left')?.expr).toMatch(/certkeeper_certificate_not_after_timestamp_seconds[^]*- time\(\)/);
    expect(exprs.find((e) => e.panel === 'Orders by result and reason')?.expr).toMatch(/sum by \(result, reason\)/);
    // The job variable is filled from a certkeeper metric too.
    const job = json.templating.list.find((v) => v.name === 'job');
    const query = (job?.query as { query: string }).query;
    expect(query).toMatch(/^label_values\((certkeeper_[a-z0-9_]+), job\)$/);
    expect(exported).toContain(/\((certkeeper_[a-z0-9_]+),/.exec(query)?.[1]);
  });

  it('is a well-formed dashboard: unique panel ids, a uid, panels on the 24-column grid without overlaps', async () => {
    const { json } = await dashboard(['-f', ALL_ON]);
    expect(json.uid).toBe('certkeeper');
    const ids = json.panels.map((p) => (p as unknown as { id: number }).id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of json.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type !== 'row') expect(p.description?.length ?? 0, `${p.title} explains itself`).toBeGreaterThan(20);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });
});

describe('chart metadata', () => {
  it('has an icon: icon.svg as a data: URL', async () => {
    const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { icon: string };
    const m = /^data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)$/.exec(chart.icon);
    expect(m, 'Chart.yaml icon is a base64 SVG data: URL').not.toBeNull();
    expect(Buffer.from(m?.[1] ?? '', 'base64').toString('utf8')).toBe(readFileSync(join(CHART, 'icon.svg'), 'utf8'));
    const shown = await helm(['show', 'chart', CHART]);
    expect(shown.stdout).toContain(`icon: ${chart.icon}`);
    // helm lint no longer asks for one.
    expect((await helm(['lint', CHART, ...IMAGE])).stdout).not.toContain('icon is recommended');
  });

  it('has a README that `helm show readme` prints, with the values table up to date', async () => {
    const shown = await helm(['show', 'readme', CHART]);
    expect(shown.code).toBe(0);
    const committed = readFileSync(join(CHART, 'README.md'), 'utf8');
    expect(shown.stdout.trim()).toBe(committed.trim());
    const { renderReadme } = (await import(join(ROOT, 'scripts', 'chart-readme.mjs'))) as { renderReadme: (chartDir: string) => string };
    expect(committed, 'charts/certkeeper/README.md is stale: run `node scripts/chart-readme.mjs`').toBe(renderReadme(CHART));
    // Every value of values.yaml has a row.
    expect(committed).toContain('| `networkPolicy.apiServer.cidrs` |');
    expect(committed).toContain('| `rbac.scope` |');
    expect(committed).toContain('| `image.repository` |');
  });
});

describe('values.schema.json', () => {
  const rejected: [string, string[], RegExp][] = [
    ['a negative replicaCount', ['--set', 'replicaCount=-1'], /replicaCount/],
    ['an unknown mode', ['--set', 'mode=daemonset'], /mode/],
    ['an ACME server that is neither staging, production nor https', ['--set', 'acme.server=http://acme.example.com/dir'], /acme\/server|acme\.server/],
    ['a misspelt ACME server', ['--set', 'acme.server=prod'], /acme\/server|acme\.server/],
    ['an unknown solver pathType', ['--set', 'solver.pathType=Regex'], /pathType/],
    ['a misspelt key', ['--set', 'acme.sever=production'], /sever/],
    ['a seconds field in a CronJob schedule', ['--set', 'mode=cronjob', '--set-string', 'schedule=0 7 * * * *'], /schedule/],
    ['a solver annotation with a comma', ['--set-string', 'solver.annotations.a=b\\,c'], /annotations/],
    ['email alerts without recipients', ['--set', 'alerts.email.host=smtp.example.com,alerts.email.from=a@example.com'], /email\/to|email\.to/],
    ['an unknown RBAC scope', ['--set', 'rbac.scope=namespace'], /rbac\/scope|rbac\.scope/],
    ['a namespace name Kubernetes refuses', ['--set', 'rbac.scope=namespaces,rbac.namespaces={Shop_1}'], /rbac\/namespaces|rbac\.namespaces/],
    ['a namespace listed twice', ['--set', 'rbac.scope=namespaces,rbac.namespaces={shop,shop}'], /rbac\/namespaces|rbac\.namespaces/],
    ['an API server address that is not a CIDR', ['--set', 'networkPolicy.enabled=true,networkPolicy.apiServer.cidrs={10.0.0.1}'], /apiServer\/cidrs|apiServer\.cidrs/],
    ['a misspelt NetworkPolicy key', ['--set', 'networkPolicy.ingressControler.namespaceSelector.matchLabels.a=b'], /ingressControler/],
    ['a dashboard namespace Kubernetes refuses', ['--set', 'metrics.grafanaDashboard.namespace=Monitoring'], /grafanaDashboard/],
  ];
  for (const [what, args, field] of rejected) {
    it(`rejects ${what}`, async () => {
      const r = await helm(['template', 'certkeeper', CHART, '--namespace', NS, ...IMAGE, ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
      expect(r.stderr).toMatch(field);
    });
  }

  it('accepts production, a CA URL and a 6-field schedule in deployment mode', async () => {
    for (const set of ['acme.server=production', 'acme.server=https://acme.zerossl.com/v2/DV90', 'schedule=0 7 * * * *']) {
      expect((await helm(['template', 'certkeeper', CHART, ...IMAGE, '--set-string', set])).code).toBe(0);
    }
  });

  const refused: [string, string[], string][] = [
    ['metrics objects in cronjob mode', ['--set', 'mode=cronjob,metrics.serviceMonitor.enabled=true'], 'need mode=deployment'],
    ['the dashboard in cronjob mode', ['--set', 'mode=cronjob,metrics.grafanaDashboard.enabled=true'], 'metrics.grafanaDashboard needs mode=deployment'],
    ['a PodDisruptionBudget over one replica', ['--set', 'podDisruptionBudget.enabled=true'], 'needs replicaCount >= 2'],
    ['scope namespaces without namespaces', ['--set', 'rbac.scope=namespaces'], 'rbac.scope=namespaces needs rbac.namespaces'],
    ['namespaces listed in scope cluster', ['--set', 'rbac.namespaces={shop}'], 'rbac.namespaces lists shop but rbac.scope is cluster'],
    ['a NetworkPolicy that does not know the API server', ['--set', 'networkPolicy.enabled=true'], 'kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes'],
  ];
  for (const [what, args, message] of refused) {
    it(`refuses ${what}, saying why`, async () => {
      const r = await helm(['template', 'certkeeper', CHART, ...IMAGE, ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(message);
    });
  }

  it('refuses to render without an image, saying how to build and push one', async () => {
    const r = await helm(['template', 'certkeeper', CHART, '--namespace', NS]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('image.repository is not set');
    expect(r.stderr).toContain('docker build -t REGISTRY/certkeeper:TAG .');
    expect(r.stderr).toContain('--set image.repository=REGISTRY/certkeeper --set image.tag=TAG');
    // Tag defaults to the chart's appVersion.
    const c = workloads(await render(['--set', 'image.repository=registry.example.com/ck']))[0]?.container as V1Container;
    const appVersion = (parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string }).appVersion;
    expect(c.image).toBe(`registry.example.com/ck:${appVersion}`);
  });
});

describe('applied to a cluster', () => {
  // `kubectl create namespace` sends protobuf, which the in-process API does not decode for
  // Namespaces; `apply` sends JSON.
  const createNamespace = (name: string) => kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`);

  it('kubectl applies every rendered object, and lists them', async () => {
    // The dashboard goes to the monitoring namespace: objects carry their namespaces, so no -n.
    for (const ns of [NS, 'monitoring']) expect((await createNamespace(ns)).code).toBe(0);
    const applied = await kubectl(['apply', '-f', '-'], await renderYaml(['-f', ALL_ON]));
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const listed = await kubectl(['get', 'deploy,svc,sa,role,rolebinding,clusterrole,clusterrolebinding', '-n', NS, '-o', 'name']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n').filter(Boolean).sort()).toEqual(
      [
        'deployment.apps/certkeeper',
        'service/certkeeper',
        'serviceaccount/certkeeper-sa',
        'role.rbac.authorization.k8s.io/certkeeper',
        'rolebinding.rbac.authorization.k8s.io/certkeeper',
        'clusterrole.rbac.authorization.k8s.io/certkeeper',
        'clusterrolebinding.rbac.authorization.k8s.io/certkeeper',
      ].sort(),
    );
    const extras = await kubectl(['get', 'servicemonitors,prometheusrules,pdb,networkpolicies', '-n', NS, '-o', 'name']);
    expect(extras.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'networkpolicy.networking.k8s.io/certkeeper',
      'poddisruptionbudget.policy/certkeeper',
      'prometheusrule.monitoring.coreos.com/certkeeper',
      'servicemonitor.monitoring.coreos.com/certkeeper',
    ]);
    const dashboard = await kubectl(['get', 'configmaps', '-n', 'monitoring', '-l', 'grafana_dashboard=1', '-o', 'name']);
    expect(dashboard.stdout.trim()).toBe('configmap/certkeeper-dashboard');
  });

  it('kubectl applies the cronjob mode next to it', async () => {
    const ns = 'certkeeper-cron';
    expect((await createNamespace(ns)).code).toBe(0);
    const applied = await kubectl(['apply', '-f', '-'], await renderYaml(CRONJOB_ALL_ON, 'cron', ns));
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const listed = await kubectl(['get', 'cronjob,deploy,svc,netpol', '-n', ns, '-o', 'name']);
    expect(listed.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'cronjob.batch/cron-certkeeper-renew',
      'deployment.apps/cron-certkeeper',
      'networkpolicy.networking.k8s.io/cron-certkeeper',
      'networkpolicy.networking.k8s.io/cron-certkeeper-renew',
      'service/cron-certkeeper',
    ]);
  });

  it('kubectl applies scope namespaces: Roles where the Ingresses are, nothing cluster-wide', async () => {
    const ns = 'certkeeper-ns';
    for (const n of [ns, 'shop', 'blog']) expect((await createNamespace(n)).code).toBe(0);
    const applied = await kubectl(['apply', '-f', '-'], await renderYaml([...IMAGE, '--set', 'rbac.scope=namespaces,rbac.namespaces={shop,blog}'], 'scoped', ns));
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const roles = await kubectl(['get', 'roles,rolebindings', '-A', '-l', 'app.kubernetes.io/instance=scoped', '-o', 'custom-columns=NS:.metadata.namespace,KIND:.kind,NAME:.metadata.name', '--no-headers']);
    expect(roles.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' ')).filter(Boolean).sort()).toEqual(
      [
        'blog Role scoped-certkeeper-certificates',
        'blog RoleBinding scoped-certkeeper-certificates',
        `${ns} Role scoped-certkeeper`,
        `${ns} RoleBinding scoped-certkeeper`,
        'shop Role scoped-certkeeper-certificates',
        'shop RoleBinding scoped-certkeeper-certificates',
      ].sort(),
    );
    const cluster = await kubectl(['get', 'clusterroles,clusterrolebindings', '-l', 'app.kubernetes.io/instance=scoped', '-o', 'name']);
    expect(cluster.stdout.trim()).toBe('');
  });

  it('helm installs the defaults (with an image) and prints how to opt an Ingress in', async () => {
    // A cluster of its own: the release name is the one README and DESIGN use, and its
    // ClusterRole would collide with the one kubectl applied above.
    const cluster = await startKubeApi();
    const config = join(dir, 'helm', 'kubeconfig');
    await cluster.writeKubeconfig(config);
    const ns = 'certkeeper';
    let r: RunResult;
    try {
      r = await runHelm(['install', 'certkeeper', CHART, '--namespace', ns, '--create-namespace', '--set', 'acme.email=ops@example.com', ...IMAGE], {
        kubeconfig: config,
        timeoutMs: 60_000,
      });
      expect(cluster.get('deployments', ns, 'certkeeper')).toBeDefined();
      expect(cluster.get('clusterroles', undefined, 'certkeeper')).toBeDefined();
    } finally {
      await cluster.close();
    }
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('STATUS: deployed');
    expect(r.stdout).toContain('kubectl -n NAMESPACE annotate ingress NAME kubernetes.io/tls-acme=true');
    expect(r.stdout).toContain('secretName:');
    expect(r.stdout).toContain(`kubectl -n ${ns} logs deploy/certkeeper -f`);
    expect(r.stdout).toContain(`kubectl -n ${ns} exec deploy/certkeeper -- certkeeper status`);
    expect(r.stdout).toContain('--set acme.server=production');
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  // Instructions with continuations joined and comments dropped, grouped by stage.
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: { from: string; lines: string[] }[] = [];
  for (const l of instructions) {
    if (/^FROM\s/i.test(l)) stages.push({ from: l, lines: [] });
    else stages.at(-1)?.lines.push(l);
  }
  const build = stages[0];
  const runtime = stages.at(-1);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; dependencies: Record<string, string>; type: string };

  it('builds in one stage with dev dependencies and prunes them before the runtime stage', () => {
    expect(stages).toHaveLength(2);
    expect(build?.from).toMatch(/^FROM node:20-bookworm-slim AS build$/);
    const runs = build?.lines.filter((l) => l.startsWith('RUN')).join('\n') ?? '';
    expect(runs).toMatch(/npm ci[^]*npm run build[^]*npm prune --omit=dev/);
    expect(runtime?.from).toMatch(/^FROM node:20-bookworm-slim\b/);
  });

  it('copies only dist/, production node_modules and package.json into the runtime stage', () => {
    const copies = runtime?.lines.filter((l) => /^(COPY|ADD)\s/.test(l)) ?? [];
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) expect(c, 'the runtime stage copies nothing from the build context').toMatch(/^COPY --from=build /);
    expect(copies.map((c) => c.split(/\s+/)[2]).sort()).toEqual(['/app/dist', '/app/node_modules', '/app/package.json']);
    expect(pkg.type).toBe('module'); // why package.json must be there
  });

  it('runs as a non-root uid, the one the chart sets, with node /app/dist/cli.js as entrypoint', () => {
    const last = (op: string) => runtime?.lines.filter((l) => l.startsWith(`${op} `)).at(-1);
    expect(last('USER')).toBe('USER 65532:65532');
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { securityContext: { runAsUser: number } };
    expect(values.securityContext.runAsUser).toBe(65532);
    expect(JSON.parse(last('ENTRYPOINT')?.slice('ENTRYPOINT '.length) ?? '')).toEqual(['node', `/app/${pkg.bin['certkeeper']}`]);
    expect(JSON.parse(last('CMD')?.slice('CMD '.length) ?? '')).toEqual(['run']);
    expect(last('EXPOSE')?.split(/\s+/).slice(1).sort()).toEqual(['8080', '9090']);
  });

  it('sends the build only what it copies (.dockerignore is an allow-list)', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const allowed = new Set(ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, '')));
    const fromContext = (build?.lines ?? []).filter((l) => l.startsWith('COPY ') && !l.includes('--from')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(fromContext.length).toBeGreaterThan(0);
    for (const f of fromContext) expect(allowed, `${f} is copied but excluded by .dockerignore`).toContain(f);
  });

  it('needs no dev dependency at run time (npm prune removes them)', () => {
    const files = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const builtins = new Set(builtinModules);
    const used = new Set<string>();
    for (const f of files) {
      const src = readFileSync(join(ROOT, 'src', f), 'utf8');
      // Value imports and re-exports; `import type` is erased by the compiler.
      for (const m of src.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?\sfrom\s+'([^']+)'|import\('([^']+)'\)/gm)) {
        const spec = (m[1] ?? m[2]) as string;
        if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
        used.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
      }
    }
    expect(used.size).toBeGreaterThan(0);
    for (const p of used) expect(Object.keys(pkg.dependencies), `src imports ${p}`).toContain(p);
  });
});
