// A hint that names a command must name one that works in that situation: the command is taken
// from `certkeeper check`'s own hint and run for real against Pebble and the in-process API. And
// `lint` reports a Secret left in another namespace as `check` does, hint included.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCert } from '../support/certs.js';
import { runCertkeeper } from '../support/cli.js';
import { ingress, startClusterEnv, type ClusterEnv } from '../support/cluster-env.js';

const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const MANAGED = 'app.kubernetes.io/managed-by';

interface JsonFinding {
  code: string;
  host?: string;
  message: string;
  hint: string;
  object: { kind: string; namespace?: string; name: string; file?: string; line?: number };
}

let env: ClusterEnv;
let dir: string;
const host = (label: string) => `${label}-${randomUUID().slice(0, 8)}.example.test`;

beforeAll(async () => {
  env = await startClusterEnv();
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-hints-'));
});
afterAll(async () => {
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function check(namespace: string): Promise<JsonFinding[]> {
  const r = await runCertkeeper(['check', '--kubeconfig', env.kubeconfig, '-n', namespace, '-o', 'json']);
  expect(r.code, r.stderr).not.toBe(3);
  return (JSON.parse(r.stdout) as { findings: JsonFinding[] }).findings;
}

/** The `certkeeper renew …` a hint names, run as written (plus how to reach this test's CA). */
async function runHint(f: JsonFinding | undefined) {
  const cmd = /`certkeeper (renew [^`]+)`/.exec(f?.hint ?? '')?.[1];
  expect(cmd, `no renew command in the hint of ${f?.code}: ${f?.hint}`).toBeDefined();
  return runCertkeeper([...(cmd ?? '').split(' '), ...env.flags()]);
}

function handMade(namespace: string, name: string, h: string, cert: { chain: string; key: string }): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { namespace, name },
    data: { 'tls.crt': Buffer.from(cert.chain).toString('base64'), 'tls.key': Buffer.from(cert.key).toString('base64') },
  };
}

const isOurs = (namespace: string, name: string) => (env.api.get(SECRETS, namespace, name) as { metadata: { labels?: Record<string, string> } } | undefined)?.metadata.labels?.[MANAGED] === 'certkeeper';

describe('hints name commands that work', () => {
  it('an expired hand-made certificate: the finding names the host, and its renew command replaces it', async () => {
    env.api.ensureNamespace('hexp');
    const h = host('expired');
    env.api.create(ingress('hexp', 'web', 'web-tls', [h]));
    const old = new Date(Date.now() - 100 * 86_400_000);
    env.api.create(handMade('hexp', 'web-tls', h, createCert({ subject: h, sans: [h], notBefore: old, validDays: 30, keySlot: 'hints-expired' })));
    const findings = await check('hexp');
    const expired = findings.find((f) => f.code === 'CertificateExpired');
    expect(expired?.message).toContain(`Secret hexp/web-tls for ${h} expired at`);
    expect(expired?.hint).toContain('--adopt');
    const r = await runHint(expired);
    expect(r.code, r.stderr).toBe(0);
    expect(isOurs('hexp', 'web-tls')).toBe(true);
    expect((await check('hexp')).map((f) => f.code)).not.toContain('CertificateExpired');
  });

  it('a valid hand-made self-signed certificate: SecretNotManaged\'s command takes it over for good', async () => {
    env.api.ensureNamespace('hself');
    const h = host('self');
    env.api.create(ingress('hself', 'web', 'web-tls', [h]));
    env.api.create(handMade('hself', 'web-tls', h, createCert({ subject: h, sans: [h], validDays: 365, keySlot: 'hints-self' })));
    const findings = await check('hself');
    expect(findings.find((f) => f.code === 'SelfSignedCertificate')?.message).toContain(`Secret hself/web-tls for ${h} is self-signed`);
    const r = await runHint(findings.find((f) => f.code === 'SecretNotManaged'));
    expect(r.code, r.stderr).toBe(0);
    expect(isOurs('hself', 'web-tls')).toBe(true);
    // Taken over for good: the next plain pass is not refused.
    const next = await env.renew(['--namespace', 'hself']);
    expect(next.code, next.stderr).toBe(0);
    expect(next.json?.certificates[0]).toMatchObject({ result: 'skipped', reason: 'UpToDate' });
  });

  it('a certificate that no longer covers the Ingress hosts: the command reissues it, without --adopt for certkeeper\'s own', async () => {
    env.api.ensureNamespace('hsans');
    const [a, b] = [host('a'), host('b')];
    env.api.create(ingress('hsans', 'web', 'web-tls', [a]));
    expect((await env.renew(['--namespace', 'hsans'])).code).toBe(0);
    env.api.put(ingress('hsans', 'web', 'web-tls', [a, b]));
    const sans = (await check('hsans')).find((f) => f.code === 'SansNotCoveringHosts');
    expect(sans?.hint).not.toContain('--adopt');
    const r = await runHint(sans);
    expect(r.code, r.stderr).toBe(0);
    expect((await check('hsans')).map((f) => f.code)).not.toContain('SansNotCoveringHosts');
  });
});

describe('lint and check agree', () => {
  it('report a Secret of the right name in another namespace alike, when both objects are linted', async () => {
    env.api.ensureNamespace('hblog');
    env.api.ensureNamespace('hstray');
    const h = host('blog');
    const ing = ingress('hblog', 'blog', 'blog-tls', [h]);
    const stray = handMade('hstray', 'blog-tls', h, createCert({ subject: h, sans: [h], validDays: 365, keySlot: 'hints-stray' }));
    env.api.create(ing);
    env.api.create(stray);
    const file = join(dir, 'blog.yaml');
    await writeFile(file, `${stringify(ing)}---\n${stringify(stray)}`);
    const lint = await runCertkeeper(['lint', '-o', 'json', file]);
    const linted = (JSON.parse(lint.stdout) as { findings: JsonFinding[] }).findings.find((f) => f.code === 'SecretInOtherNamespace');
    const checked = (await check('hblog')).find((f) => f.code === 'SecretInOtherNamespace');
    expect(checked).toBeDefined();
    expect(linted?.message).toBe(checked?.message);
    expect(linted?.hint).toBe(checked?.hint);
    expect(linted?.object).toMatchObject({ kind: 'Secret', namespace: 'hblog', name: 'blog-tls', file });
  });
});
