// The Helm chart (charts/certkeeper) and the Dockerfile, checked with the real helm and kubectl
// binaries: lint, render, read the rendered objects, apply them to the in-process Kubernetes API.
// The assertions tie the chart to the code it packages: env vars are settings of src/config.ts and
// options of the command each container runs, RBAC rules are exactly RBAC.md's table, ports and
// probes meet the Service and the program.
import { readdirSync, readFileSync } from 'node:fs';
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
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';
import { runHelm, runKubectl, type RunResult } from '../support/kubectl.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHART = join(ROOT, 'charts', 'certkeeper');
const ALL_ON = join(ROOT, 'test', 'fixtures', 'chart', 'all-on.yaml');
/** Cronjob mode with everything else on; the metrics objects need deployment mode. */
const CRONJOB_ALL_ON = ['-f', ALL_ON, '--set', 'mode=cronjob,metrics.serviceMonitor.enabled=false,metrics.prometheusRule.enabled=false'];
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

async function renderYaml(args: string[] = [], release = 'certkeeper', namespace = NS): Promise<string> {
  const r = await helm(['template', release, CHART, '--namespace', namespace, ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

async function render(args: string[] = [], release = 'certkeeper'): Promise<Manifest[]> {
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

interface RbacRow {
  scope: string;
  apiGroup: string;
  resource: string;
  verbs: string[];
  why: string;
}

/** The table in charts/certkeeper/RBAC.md: | scope | apiGroup | resource | verbs | why |. */
function rbacTable(): RbacRow[] {
  const lines = readFileSync(join(CHART, 'RBAC.md'), 'utf8').split('\n').filter((l) => l.startsWith('|'));
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
  it('grants exactly the rules RBAC.md documents, each with a reason', async () => {
    const table = rbacTable();
    expect(table.length).toBeGreaterThan(0);
    for (const row of table) {
      expect(['ClusterRole', 'Role']).toContain(row.scope);
      expect(row.why.length, `RBAC.md: ${row.resource} needs a reason`).toBeGreaterThan(20);
    }
    const documented = table.map((r) => `${r.scope} ${r.apiGroup || '""'} ${r.resource} ${[...r.verbs].sort().join(',')}`).sort();

    for (const args of [[], ['-f', ALL_ON], CRONJOB_ALL_ON]) {
      const objs = await render(args);
      const clusterRole = one<V1ClusterRole>(objs, 'ClusterRole');
      const role = one<V1Role>(objs, 'Role');
      expect(role.metadata?.namespace).toBe(NS);
      expect([...ruleLines('ClusterRole', clusterRole.rules ?? []), ...ruleLines('Role', role.rules ?? [])].sort()).toEqual(documented);

      // Both bindings give the roles to the chart's ServiceAccount, the one the pods run as.
      const sa = one<Manifest>(objs, 'ServiceAccount').metadata;
      const crb = one<V1ClusterRoleBinding>(objs, 'ClusterRoleBinding');
      const rb = one<V1RoleBinding>(objs, 'RoleBinding');
      expect(crb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.metadata?.name });
      expect(rb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata?.name });
      for (const b of [crb, rb]) expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.name, namespace: NS }]);
      for (const w of workloads(objs)) expect(w.pod.serviceAccountName).toBe(sa.name);
    }
  });

  it('routes Service port 80 to the responder, and the solver Ingresses to that Service', async () => {
    for (const args of [[], ['-f', ALL_ON], CRONJOB_ALL_ON]) {
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

    const sm = one<Manifest & { spec: { endpoints: { port: string; path: string }[] } }>(objs, 'ServiceMonitor');
    expect(sm.spec.endpoints).toMatchObject([{ port: 'admin', path: '/metrics' }]);
    const rule = one<Manifest & { spec: { groups: { rules: { alert: string; expr: string }[] }[] } }>(objs, 'PrometheusRule');
    const exprs = rule.spec.groups.flatMap((g) => g.rules).map((r) => `${r.alert}: ${r.expr}`);
    // The rules use the metrics src/metrics.ts exports, lifetime-relative rather than fixed days.
    const exported = new Set(readFileSync(join(ROOT, 'src', 'metrics.ts'), 'utf8').match(/certkeeper_[a-z0-9_]+/g));
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
    for (const args of [[], ['-f', ALL_ON], CRONJOB_ALL_ON]) {
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
    for (const args of [[], ['-f', ALL_ON], CRONJOB_ALL_ON]) {
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
    const prod = workloads(await render(['--set', 'acme.server=production']))[0]?.container as V1Container;
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
  ];
  for (const [what, args, field] of rejected) {
    it(`rejects ${what}`, async () => {
      const r = await helm(['template', 'certkeeper', CHART, '--namespace', NS, ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
      expect(r.stderr).toMatch(field);
    });
  }

  it('accepts production, a CA URL and a 6-field schedule in deployment mode', async () => {
    for (const set of ['acme.server=production', 'acme.server=https://acme.zerossl.com/v2/DV90', 'schedule=0 7 * * * *']) {
      expect((await helm(['template', 'certkeeper', CHART, '--set-string', set])).code).toBe(0);
    }
  });

  it('refuses combinations that cannot work, saying why', async () => {
    const metrics = await helm(['template', 'certkeeper', CHART, '--set', 'mode=cronjob,metrics.serviceMonitor.enabled=true']);
    expect(metrics.code).not.toBe(0);
    expect(metrics.stderr).toContain('need mode=deployment');
    const pdb = await helm(['template', 'certkeeper', CHART, '--set', 'podDisruptionBudget.enabled=true']);
    expect(pdb.code).not.toBe(0);
    expect(pdb.stderr).toContain('needs replicaCount >= 2');
  });
});

describe('applied to a cluster', () => {
  // `kubectl create namespace` sends protobuf, which the in-process API does not decode for
  // Namespaces; `apply` sends JSON.
  const createNamespace = (name: string) => kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`);

  it('kubectl applies every rendered object, and lists them', async () => {
    expect((await createNamespace(NS)).code).toBe(0);
    const applied = await kubectl(['apply', '-n', NS, '-f', '-'], await renderYaml(['-f', ALL_ON]));
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
    const extras = await kubectl(['get', 'servicemonitors,prometheusrules,pdb', '-n', NS, '-o', 'name']);
    expect(extras.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'poddisruptionbudget.policy/certkeeper',
      'prometheusrule.monitoring.coreos.com/certkeeper',
      'servicemonitor.monitoring.coreos.com/certkeeper',
    ]);
  });

  it('kubectl applies the cronjob mode next to it', async () => {
    const ns = 'certkeeper-cron';
    expect((await createNamespace(ns)).code).toBe(0);
    const applied = await kubectl(['apply', '-n', ns, '-f', '-'], await renderYaml(CRONJOB_ALL_ON, 'cron', ns));
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const listed = await kubectl(['get', 'cronjob,deploy,svc', '-n', ns, '-o', 'name']);
    expect(listed.stdout.split('\n').filter(Boolean).sort()).toEqual(['cronjob.batch/cron-certkeeper-renew', 'deployment.apps/cron-certkeeper', 'service/cron-certkeeper']);
  });

  it('helm installs the defaults and prints how to opt an Ingress in', async () => {
    // A cluster of its own: the release name is the one README and DESIGN use, and its
    // ClusterRole would collide with the one kubectl applied above.
    const cluster = await startKubeApi();
    const config = join(dir, 'helm', 'kubeconfig');
    await cluster.writeKubeconfig(config);
    const ns = 'certkeeper';
    let r: RunResult;
    try {
      r = await runHelm(['install', 'certkeeper', CHART, '--namespace', ns, '--create-namespace', '--set', 'acme.email=ops@example.com'], {
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
