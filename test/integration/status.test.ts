// `certkeeper status` as a real process against the in-process Kubernetes API: one row per
// certificate, states from the same policy `renew` runs, and a clock moved with --clock-offset.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA, tlsSecret, type TestCA } from '../support/certs.js';
import { runCertkeeper } from '../support/cli.js';
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const ns = 'st';
const h = (label: string) => `${label}.st.example.test`;

interface Row {
  namespace: string;
  secretName: string;
  hosts: string[];
  ingresses: string[];
  managed: boolean;
  state: string;
  reason: string;
  message: string;
  issuer?: string;
  notAfter?: string;
  daysLeft?: number;
  renewAt?: string;
  failure?: { failures: number; retryAfter: string; lastError: string };
}
interface StatusJson {
  now: string;
  certificates: Row[];
  summary: Record<string, number>;
}

let api: KubeApi;
let dir: string;
let kubeconfig: string;
let intermediate: TestCA;
// Certificate dates sit half a day off whole days from here, so DAYS LEFT does not depend on how
// long the process takes to start. X.509 times have whole seconds.
const base = Math.floor(Date.now() / 1000) * 1000;
const at = (days: number) => new Date(base + days * DAY + 12 * HOUR);

function ingress(name: string, hosts: string[], managed = true): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { namespace: ns, name, ...(managed ? { annotations: { 'kubernetes.io/tls-acme': 'true' } } : {}) },
    spec: {
      ingressClassName: 'nginx',
      tls: [{ hosts, secretName: `${name}-tls` }],
      rules: hosts.map((host) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } })),
    },
  };
}

function secret(name: string, days: { from: number; to: number }, extra: Partial<Parameters<typeof tlsSecret>[0]> = {}, sans = [h(name)]): Record<string, unknown> {
  return tlsSecret({ name: `${name}-tls`, namespace: ns, cert: intermediate.issue({ sans, notBefore: at(days.from), notAfter: at(days.to) }), managed: true, ...extra });
}

async function status(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; json?: StatusJson }> {
  // A wide terminal: rows stay on one line here (test/unit/layout.test.ts covers wrapping).
  const r = await runCertkeeper(['status', '--kubeconfig', kubeconfig, '--namespace', ns, ...args], { env: { COLUMNS: '400' } });
  try {
    return { ...r, json: JSON.parse(r.stdout) as StatusJson };
  } catch {
    return r;
  }
}

const states = (json: StatusJson | undefined) => Object.fromEntries((json?.certificates ?? []).map((c) => [c.secretName.replace(/-tls$/, ''), c.state]));

beforeAll(async () => {
  api = await startKubeApi({ namespaces: ['certkeeper', ns] });
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-status-'));
  kubeconfig = join(dir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  const ca = createCA({ subject: { CN: 'certkeeper status test root', O: 'certkeeper tests' } });
  intermediate = ca.intermediate({ subject: { CN: 'certkeeper status test intermediate', O: 'certkeeper tests' } });
  const failed = (retryDays: number) => ({
    annotations: {
      'certkeeper.dev/failures': '3',
      'certkeeper.dev/retry-after': new Date(base + retryDays * DAY).toISOString(),
      'certkeeper.dev/last-error': 'connection: 203.0.113.7: Connection refused',
    },
  });
  const objects: [string, Record<string, unknown> | undefined, boolean?][] = [
    // 90-day lifetime, 80 days left: renews 30 days before the end.
    ['valid', secret('valid', { from: -10, to: 80 })],
    ['due', secret('due', { from: -70, to: 20 })],
    ['expired', secret('expired', { from: -100, to: -10 })],
    ['missing', undefined],
    ['invalid', secret('invalid', { from: -10, to: 80 }, {}, [h('somewhere-else')])],
    ['failing', secret('failing', { from: -70, to: 20 }, failed(-1))],
    ['backoff', secret('backoff', { from: -70, to: 20 }, failed(1))],
    ['foreign', secret('foreign', { from: -10, to: 80 }, { managed: false })],
    ['unmanaged', secret('unmanaged', { from: -10, to: 80 }, { managed: false }), false],
    ['stored', undefined],
  ];
  for (const [name, s, managed] of objects) {
    api.create(ingress(name, [h(name)], managed ?? true));
    if (s) api.create(s);
  }
  // A Target without a Secret keeps its failure record in certkeeper's state ConfigMap.
  api.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { namespace: 'certkeeper', name: 'certkeeper-state' },
    data: { [`failure.${ns}.stored-tls`]: JSON.stringify({ failures: 1, retryAfter: new Date(base + HOUR).toISOString(), lastError: 'rateLimited' }) },
  });
});

afterAll(async () => {
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('certkeeper status', () => {
  it('prints one JSON row per certificate with dates, issuer and state', async () => {
    const r = await status(['-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(states(r.json)).toEqual({
      backoff: 'InBackoff',
      due: 'RenewalDue',
      expired: 'Expired',
      failing: 'Failing',
      foreign: 'NotManaged',
      invalid: 'Invalid',
      missing: 'Missing',
      stored: 'InBackoff',
      unmanaged: 'NotManaged',
      valid: 'Valid',
    });
    const row = (name: string) => r.json?.certificates.find((c) => c.secretName === `${name}-tls`) as Row;
    expect(row('valid')).toMatchObject({
      namespace: ns,
      hosts: [h('valid')],
      ingresses: [`${ns}/valid`],
      managed: true,
      reason: 'UpToDate',
      issuer: 'certkeeper status test intermediate',
      notAfter: at(80).toISOString(),
      daysLeft: 80,
      renewAt: at(50).toISOString(),
    });
    expect(row('due')).toMatchObject({ daysLeft: 20, reason: 'RenewalDue', renewAt: at(-10).toISOString() });
    expect(row('expired')).toMatchObject({ daysLeft: -10, reason: 'CertificateExpired' });
    expect(row('missing')).toMatchObject({ reason: 'SecretDoesNotExist', managed: true });
    expect(row('missing').notAfter).toBeUndefined();
    expect(row('invalid')).toMatchObject({ reason: 'SansNotCoveringHosts' });
    expect(row('failing').failure).toMatchObject({ failures: 3, lastError: 'connection: 203.0.113.7: Connection refused' });
    expect(row('foreign')).toMatchObject({ reason: 'SecretNotManaged', managed: true });
    expect(row('unmanaged')).toMatchObject({ managed: false, daysLeft: 80 });
    expect(row('unmanaged').renewAt).toBeUndefined();
    expect(row('stored')).toMatchObject({ reason: 'InBackoff', failure: { failures: 1, lastError: 'rateLimited' } });
    expect(r.json?.summary).toEqual({ Valid: 1, RenewalDue: 1, Expired: 1, Missing: 1, Invalid: 1, Failing: 1, InBackoff: 2, NotManaged: 2 });
  });

  it('prints a table with NAMESPACE, SECRET, HOSTS, NOT AFTER, DAYS LEFT, RENEWS AT and STATE; -o wide adds ISSUER and PROFILE (and lifetime)', async () => {
    const narrow = await status([]);
    expect(narrow.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual(['NAMESPACE', 'SECRET', 'HOSTS', 'NOT AFTER (UTC)', 'DAYS LEFT', 'RENEWS AT (UTC)', 'STATE']);
    const r = await status(['-o', 'wide']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]?.split(/\s{2,}/)).toEqual(['NAMESPACE', 'SECRET', 'HOSTS', 'ISSUER', 'PROFILE', 'NOT AFTER (UTC)', 'DAYS LEFT', 'RENEWS AT (UTC)', 'STATE']);
    const cells = (name: string) => lines.find((l) => l.split(/\s{2,}/)[1] === `${name}-tls`)?.split(/\s{2,}/);
    const minute = (d: Date) => d.toISOString().slice(0, 16).replace('T', ' ');
    // A certificate from a CA without profiles records none; its lifetime is what its dates say.
    expect(cells('valid')).toEqual([ns, 'valid-tls', h('valid'), 'certkeeper status test intermediate', '90d', minute(at(80)), '80', minute(at(50)), 'Valid']);
    expect(cells('missing')).toEqual([ns, 'missing-tls', h('missing'), '-', '-', '-', '-', '-', 'Missing']);
    expect(cells('unmanaged')?.at(-2)).toBe('-');
    expect(cells('unmanaged')?.at(-1)).toBe('NotManaged');
    // Every row that is not Valid says why, below the table.
    expect(r.stdout).toContain(`${ns}/due-tls: RenewalDue: the certificate expires at ${at(20).toISOString().replace(/\.\d{3}Z$/, 'Z')}`);
    expect(r.stdout).toContain(`${ns}/failing-tls: Failing: `);
    expect(r.stdout).toContain('Connection refused');
    expect(lines.filter(Boolean).at(-1)).toBe('10 certificates: 1 Valid, 1 RenewalDue, 1 Expired, 1 Missing, 1 Invalid, 1 Failing, 2 InBackoff, 2 NotManaged');
  });

  it('follows the clock: --clock-offset moves certificates into their renewal window and past expiry', async () => {
    const r = await status(['-o', 'json', '--clock-offset', '55d']);
    expect(r.code, r.stderr).toBe(0);
    const s = states(r.json);
    expect(s.valid).toBe('RenewalDue');
    expect(s.due).toBe('Expired');
    // The backoff of one day is over: the failures remain, and the next pass retries.
    expect(s.backoff).toBe('Failing');
    expect(r.json?.certificates.find((c) => c.secretName === 'valid-tls')?.daysLeft).toBe(25);
  });

  it('agrees with what `renew --dry-run` would do, at any clock', async () => {
    for (const clock of [[], ['--clock-offset', '55d']]) {
      const st = await status(['-o', 'json', ...clock]);
      const plan = await runCertkeeper(['renew', '--kubeconfig', kubeconfig, '--namespace', ns, '--dry-run', '-o', 'json', ...clock]);
      expect(plan.code === 0 || plan.code === 1, plan.stderr).toBe(true);
      const outcomes = (JSON.parse(plan.stdout) as { certificates: { secretName: string; result: string; reason: string }[] }).certificates;
      expect(outcomes.length).toBe(9);
      for (const o of outcomes) {
        const row = st.json?.certificates.find((c) => c.secretName === o.secretName) as Row;
        expect(row.reason, o.secretName).toBe(o.reason);
        const expected =
          o.result === 'planned'
            ? ['RenewalDue', 'Expired', 'Missing', 'Invalid', 'Failing']
            : o.result === 'refused'
              ? ['NotManaged', 'Invalid']
              : o.reason === 'InBackoff'
                ? ['InBackoff']
                : ['Valid'];
        expect(expected, `${o.secretName}: renew ${o.result} ${o.reason}, status ${row.state}`).toContain(row.state);
      }
    }
  });

  it('exits 1 with the reason when the cluster cannot be read', async () => {
    const undo = api.denyAlways({ verb: 'list', resource: 'ingresses' });
    try {
      const r = await status([]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('403 forbidden: cannot list ingresses in namespace st');
    } finally {
      undo();
    }
  });
});
