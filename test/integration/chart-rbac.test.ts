// The chart's RBAC is enough, and no more than RBAC.md says: certkeeper runs as the chart's pods
// run it (the rendered containers' environment), against Pebble and the in-process Kubernetes
// API behind a proxy that authorizes every request with the rendered Roles and ClusterRoles.
// In rbac.scope=namespaces the one cluster-wide read certkeeper tries (Secrets by name, for the
// wrong-namespace check) is refused and it falls back; everything else is granted, issuance
// works, and objects outside the listed namespace are neither read nor written.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Container, V1CronJob, V1Deployment, V1EnvVar } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CLI, runCertkeeper, type CliResult } from '../support/cli.js';
import { ingress, startClusterEnv, type ClusterEnv } from '../support/cluster-env.js';
import { runHelm } from '../support/kubectl.js';
import { startRbacProxy, type RbacObject, type RbacProxy } from '../support/rbac-proxy.js';

const CHART = fileURLToPath(new URL('../../charts/certkeeper', import.meta.url));
const NS = 'certkeeper';
const SA = { namespace: NS, name: 'certkeeper' };
const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const host = (label: string) => `${label}-${randomUUID().slice(0, 8)}.example.test`;

interface Manifest extends RbacObject {
  apiVersion: string;
}

interface Rendered {
  rbac: RbacObject[];
  /** Environment of each workload's container, as the kubelet would set it. */
  env: Record<'run' | 'serve' | 'renew', Record<string, string> | undefined>;
}

let env: ClusterEnv;
let dir: string;
const proxies: RbacProxy[] = [];

beforeAll(async () => {
  env = await startClusterEnv();
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-rbac-'));
});

afterAll(async () => {
  for (const p of proxies) await p.close();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function podEnv(c: V1Container, podName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env ?? ([] as V1EnvVar[])) {
    if (e.value !== undefined) out[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') out[e.name] = NS;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') out[e.name] = podName;
    else throw new Error(`${e.name}: only literal and downward-API variables are expected in these renders`);
  }
  return out;
}

async function render(set: string): Promise<Rendered> {
  const r = await runHelm(['template', 'certkeeper', CHART, '--namespace', NS, '--set', `image.repository=registry.example.com/certkeeper,${set}`], {
    kubeconfig: env.kubeconfig,
    timeoutMs: 60_000,
  });
  expect(r.stderr).toBe('');
  const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest | null).filter((m): m is Manifest => m !== null);
  const rendered: Rendered = { rbac: objs.filter((o) => /^(Cluster)?Role(Binding)?$/.test(o.kind)), env: { run: undefined, serve: undefined, renew: undefined } };
  for (const o of objs) {
    const pod =
      o.kind === 'Deployment' ? (o as unknown as V1Deployment).spec?.template.spec : o.kind === 'CronJob' ? (o as unknown as V1CronJob).spec?.jobTemplate.spec?.template.spec : undefined;
    const c = pod?.containers[0];
    if (c) rendered.env[c.args?.[0] as 'run' | 'serve' | 'renew'] = podEnv(c, `${o.metadata.name}-pod`);
  }
  return rendered;
}

/** A kubeconfig for the ServiceAccount: every request goes through the RBAC proxy. */
async function asServiceAccount(rendered: Rendered): Promise<{ proxy: RbacProxy; kubeconfig: string }> {
  const proxy = await startRbacProxy(env.api.url, rendered.rbac, SA);
  proxies.push(proxy);
  const kubeconfig = join(dir, `kubeconfig-${proxies.length}`);
  await writeFile(kubeconfig, (await readFile(env.kubeconfig, 'utf8')).split(env.api.url).join(proxy.url));
  return { proxy, kubeconfig };
}

/** Flags that point a pod's certkeeper at this machine's Pebble and responder port instead. */
const local = (kubeconfig: string) => [
  '--kubeconfig', kubeconfig,
  '--directory', env.directoryUrl,
  '--acme-ca-bundle', env.pebble.apiCaFile,
  '--self-check-address', `127.0.0.1:${env.pebble.httpPort}`,
  '--acme-poll-interval', '50',
];

interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function spawnCertkeeper(args: string[], podEnvironment: Record<string, string>): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', HOME: dir, ...podEnvironment }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  return { child, out: () => out, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
}

async function waitFor<T>(probe: () => T | undefined | null | false, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(p: Proc): Promise<number | null> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  return p.exited;
}

/** `certkeeper run` as the Deployment runs it, until its first pass (and audit, alerts) is done. */
async function runOnePass(rendered: Rendered, kubeconfig: string): Promise<string> {
  const run = spawnCertkeeper(
    ['run', ...local(kubeconfig), '--http-port', String(env.pebble.httpPort), '--http-address', '127.0.0.1', '--admin-port', '0', '--admin-address', '127.0.0.1'],
    rendered.env.run ?? {},
  );
  try {
    await waitFor(() => run.out().includes('"pass finished"') || run.out().includes('"pass failed"'), 60_000, () => `no pass finished:\n${run.out()}`);
  } finally {
    // SIGTERM lets the running pass finish, alerts included, and hands the lead over.
    expect(await stop(run)).toBe(0);
  }
  return run.out();
}

function secretIssued(namespace: string, name: string): boolean {
  const s = env.api.get(SECRETS, namespace, name) as { data?: Record<string, string> } | undefined;
  return Boolean(s?.data?.['tls.crt']);
}

const describeDecision = (d: RbacProxy['decisions'][number]) =>
  `${d.verb} ${d.resource}${d.subresource ? `/${d.subresource}` : ''} ${d.namespace ?? '(cluster)'}${d.verb === 'list' && /fieldSelector=metadata\.name(=|%3D)/.test(d.url) ? ' by name' : ''}`;
const uniq = (xs: string[]) => [...new Set(xs)].sort();

/** An Ingress whose Secret exists only in another namespace, and is not managed: only audited. */
function misplaced(namespace: string, elsewhere: string, secretName: string): void {
  const ing = ingress(namespace, 'misplaced', secretName, [host('misplaced')]);
  delete (ing['metadata'] as { annotations?: object }).annotations;
  env.api.create(ing);
  env.api.create({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { namespace: elsewhere, name: secretName }, data: { 'tls.crt': '', 'tls.key': '' } });
}

describe('rbac.scope=namespaces with one namespace', () => {
  it('runs a whole pass with the Roles alone, reading and writing nothing outside its namespaces', async () => {
    for (const ns of ['shop-a', 'blog-a']) env.api.ensureNamespace(ns);
    env.api.create(ingress('shop-a', 'web', 'web-tls', [host('web-a')]));
    env.api.create(ingress('blog-a', 'news', 'news-tls', [host('news-a')]));
    misplaced('shop-a', 'blog-a', 'api-tls');
    const rendered = await render('rbac.scope=namespaces,rbac.namespaces={shop-a}');
    expect(rendered.env.run?.['CERTKEEPER_NAMESPACE']).toBe('shop-a');
    const { proxy, kubeconfig } = await asServiceAccount(rendered);

    const out = await runOnePass(rendered, kubeconfig);
    expect(out).toContain('"pass finished"');
    expect(out).not.toContain('the live audit failed');
    expect(out).not.toMatch(/forbidden/i);
    expect(secretIssued('shop-a', 'web-tls')).toBe(true);
    expect(secretIssued('blog-a', 'news-tls')).toBe(false);

    // The one refusal: the wrong-namespace check's cluster-wide list by name. certkeeper then
    // looks in the Ingress's own namespace (src/kube/audit-port.ts), as RBAC.md says.
    const denied = proxy.decisions.filter((d) => !d.allowed);
    expect(uniq(denied.map(describeDecision))).toEqual(['list secrets (cluster) by name']);
    const allowed = uniq(proxy.decisions.filter((d) => d.allowed).map(describeDecision));
    // What a pass does, each through the rule RBAC.md gives for it.
    for (const want of [
      'list ingresses shop-a',
      'list secrets shop-a',
      'create secrets shop-a',
      'create events shop-a',
      'list secrets shop-a by name',
      'create ingresses certkeeper',
      'delete ingresses certkeeper',
      'list ingresses certkeeper',
      'create secrets certkeeper',
      // The issued certificate is kept until written: listed once per pass, deleted once written.
      'list secrets certkeeper',
      'delete secrets certkeeper',
      'watch configmaps certkeeper',
      'patch configmaps certkeeper',
      'create leases certkeeper',
      'update leases certkeeper',
    ]) {
      expect(allowed).toContain(want);
    }
    // Nothing of the unlisted namespace was touched.
    expect(proxy.decisions.filter((d) => d.namespace === 'blog-a')).toEqual([]);

    // `kubectl exec deploy/certkeeper -- certkeeper status` has the pod's environment.
    const status = await runCertkeeper(['status', '--kubeconfig', kubeconfig, '--directory', env.directoryUrl, '-o', 'json'], { env: rendered.env.run ?? {} });
    expect(status.code, status.stderr).toBe(0);
    const rows = (JSON.parse(status.stdout) as { certificates: { namespace: string; secretName: string; state: string }[] }).certificates;
    expect(rows.map((r) => `${r.namespace}/${r.secretName} ${r.state}`).sort()).toEqual(['shop-a/api-tls NotManaged', 'shop-a/web-tls Valid']);
    // The copy of api-tls in blog-a is out of sight in this scope: reported missing, not misplaced.
    const check = await runCertkeeper(['check', '--kubeconfig', kubeconfig, '-o', 'json'], { env: rendered.env.run ?? {} });
    const findings = (JSON.parse(check.stdout) as { findings: { code: string; object: { namespace?: string; name: string } }[] }).findings;
    expect(findings.filter((f) => f.object.name === 'api-tls').map((f) => f.code)).toEqual(['SecretMissing']);
  });

  it('renews from the CronJob while the `serve` Deployment answers, with the Roles alone', async () => {
    env.api.ensureNamespace('shop-b');
    env.api.create(ingress('shop-b', 'web', 'web-tls', [host('web-b')]));
    const rendered = await render('mode=cronjob,rbac.scope=namespaces,rbac.namespaces={shop-b}');
    expect(rendered.env.run).toBeUndefined();
    const { proxy, kubeconfig } = await asServiceAccount(rendered);
    const serve = spawnCertkeeper(['serve', '--kubeconfig', kubeconfig, '--http-port', String(env.pebble.httpPort), '--http-address', '127.0.0.1'], rendered.env.serve ?? {});
    let renew: CliResult;
    try {
      await waitFor(() => /listening on/.test(serve.out()), 15_000, () => `serve did not start:\n${serve.out()}`);
      renew = await runCertkeeper(['renew', ...local(kubeconfig), '-o', 'json'], { env: rendered.env.renew ?? {} });
    } finally {
      expect(await stop(serve)).toBe(0);
    }
    expect(renew.code, renew.stderr).toBe(0);
    expect(secretIssued('shop-b', 'web-tls')).toBe(true);
    // The CA's request was answered by `serve`, from the ConfigMap it watches.
    expect(serve.out()).toContain('answered challenge');
    expect(proxy.decisions.filter((d) => !d.allowed).map(describeDecision)).toEqual([]);
    expect(uniq(proxy.decisions.filter((d) => d.allowed).map(describeDecision))).toContain('watch configmaps certkeeper');
  });
});

describe('rbac.scope=cluster', () => {
  it('runs a whole pass with no refusal, and finds a Secret in the wrong namespace anywhere', async () => {
    for (const ns of ['shop-c', 'blog-c']) env.api.ensureNamespace(ns);
    env.api.create(ingress('blog-c', 'news', 'news-tls', [host('news-c')]));
    misplaced('shop-c', 'blog-c', 'api-tls');
    const rendered = await render('rbac.scope=cluster');
    expect(rendered.env.run?.['CERTKEEPER_NAMESPACE']).toBeUndefined();
    const { proxy, kubeconfig } = await asServiceAccount(rendered);
    const out = await runOnePass(rendered, kubeconfig);
    expect(out).toContain('"pass finished"');
    expect(proxy.decisions.filter((d) => !d.allowed).map(describeDecision)).toEqual([]);
    expect(secretIssued('blog-c', 'news-tls')).toBe(true);
    // Lists are cluster-wide in this scope; the kept certificate is written and deleted in certkeeper's namespace.
    expect(uniq(proxy.decisions.map(describeDecision))).toEqual(
      expect.arrayContaining(['list ingresses (cluster)', 'list secrets (cluster)', 'list secrets (cluster) by name', 'create secrets certkeeper', 'delete secrets certkeeper']),
    );

    const check = await runCertkeeper(['check', '--kubeconfig', kubeconfig, '--namespace', 'shop-c', '-o', 'json'], { env: rendered.env.run ?? {} });
    const findings = (JSON.parse(check.stdout) as { findings: { code: string; message: string }[] }).findings;
    expect(findings.find((f) => f.code === 'SecretInOtherNamespace')?.message).toContain('blog-c');
  });
});

describe('rbac.scope=namespaces with several namespaces', () => {
  it('fails as the NOTES warn: certkeeper cannot list a set of namespaces yet', async () => {
    for (const ns of ['shop-d', 'blog-d']) env.api.ensureNamespace(ns);
    const rendered = await render('mode=cronjob,rbac.scope=namespaces,rbac.namespaces={shop-d,blog-d}');
    expect(rendered.env.renew?.['CERTKEEPER_NAMESPACE']).toBeUndefined();
    const { kubeconfig } = await asServiceAccount(rendered);
    const renew = await runCertkeeper(['renew', ...local(kubeconfig)], { env: rendered.env.renew ?? {} });
    expect(renew.code).not.toBe(0);
    expect(renew.stderr).toContain('403 forbidden: cannot list ingresses cluster-wide');
  });
});
