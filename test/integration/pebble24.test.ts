// Against Debian 12's Pebble 2.4, a CA with neither ARI nor profiles (as many ACME CAs are):
// everything still works on the lifetime ratio, certkeeper says once that the CA offers neither,
// and a profile asked for is refused before ordering instead of failing at the CA.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lifetimeMs, parseCertificate } from '../../src/core/cert.js';
import { runCertkeeper } from '../support/cli.js';
import { ingress, startClusterEnv, type ClusterEnv } from '../support/cluster-env.js';

const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const DAY = 86_400_000;
const host = (label: string) => `${label}-${randomUUID().slice(0, 8)}.example.test`;

let env: ClusterEnv;
let work: string;

beforeAll(async () => {
  env = await startClusterEnv({ pebble: { version: '2.4' } });
  work = await mkdtemp(join(tmpdir(), 'certkeeper-pebble24-'));
});
afterAll(async () => {
  await env?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const annotationsOf = (ns: string, name: string) => (env.api.get(SECRETS, ns, name) as { metadata: { annotations?: Record<string, string> } } | undefined)?.metadata.annotations ?? {};

describe('Pebble 2.4: no ARI, no profiles', () => {
  it('issues and renews on the lifetime ratio, and says once that the CA offers neither', async () => {
    env.api.ensureNamespace('old');
    env.api.create(ingress('old', 'a', 'a-tls', [host('a')]));
    env.api.create(ingress('old', 'b', 'b-tls', [host('b')]));
    const r = await env.renew(['--namespace', 'old']);
    expect(r.code, r.stderr).toBe(0);
    const said = r.stderr.split('\n').filter((l) => l.includes(`the CA at ${env.directoryUrl} offers neither ACME Renewal Information (ARI) nor profiles; renewals follow the lifetime ratio`));
    expect(said).toHaveLength(1);
    for (const name of ['a-tls', 'b-tls']) {
      const c = r.json?.certificates.find((x) => x.secretName === name);
      expect(c).toMatchObject({ result: 'issued', renewalBasis: 'LifetimeRatio' });
      expect(c?.profile).toBeUndefined();
      expect(Object.keys(annotationsOf('old', name)).filter((k) => k.startsWith('certkeeper.dev/ari-') || k === 'certkeeper.dev/profile')).toEqual([]);
    }
    // Pebble 2.4 certificates last five years; the renewal is due after two thirds of that.
    const crt = Buffer.from((env.api.get(SECRETS, 'old', 'a-tls') as { data: Record<string, string> }).data['tls.crt'] ?? '', 'base64').toString('utf8');
    const info = parseCertificate(crt);
    expect(lifetimeMs(info)).toBeGreaterThan(4 * 365 * DAY);
    const st = await runCertkeeper(['status', '--kubeconfig', env.kubeconfig, '--namespace', 'old', '-o', 'wide'], { env: { COLUMNS: '400' } });
    expect(st.stdout.split('\n')[0]).toContain('PROFILE');
    expect(st.stdout).not.toContain('Renewal windows the CA suggests');
    const days = Math.ceil((info.notAfter.getTime() - Date.now() - lifetimeMs(info) / 3) / DAY) + 1;
    const late = await env.renew(['--namespace', 'old', '--clock-offset', `${days}d`]);
    expect(late.code, late.stderr).toBe(0);
    expect(late.json?.certificates.map((c) => [c.result, c.reason])).toEqual([
      ['renewed', 'RenewalDue'],
      ['renewed', 'RenewalDue'],
    ]);
    // No `replaces` is sent to a CA without ARI.
    expect(late.json?.certificates.every((c) => c.replaces === undefined)).toBe(true);
  });

  it('refuses a profile asked for before ordering: the CA offers none', async () => {
    env.api.ensureNamespace('oldprofile');
    env.api.create(ingress('oldprofile', 'web', 'web-tls', [host('p')], { annotations: { 'certkeeper.dev/profile': 'tlsserver' } }));
    const r = await env.renew(['--namespace', 'oldprofile']);
    expect(r.code).toBe(1);
    expect(r.json?.ordersPlaced).toBe(0);
    expect(r.json?.certificates[0]).toMatchObject({ result: 'refused', reason: 'ProfileUnknown' });
    expect(r.json?.findings.find((f) => f.code === 'ProfileUnknown')?.message).toContain(`profile "tlsserver" was asked for, but the CA at ${env.directoryUrl} offers no profiles`);
  });

  it('certkeeper issue orders once when run twice, on the lifetime ratio', async () => {
    const out = join(work, 'issue');
    const args = [
      'issue',
      '--directory', env.pebble.directoryUrl,
      '--acme-ca-bundle', env.pebble.apiCaFile,
      '--account-dir', join(work, 'accounts'),
      '--http-port', String(env.pebble.httpPort),
      '--http-address', '127.0.0.1',
      '--acme-poll-interval', '50',
      '--out', out,
      '-d', host('issue'),
    ];
    const first = await runCertkeeper(args);
    expect(first.code, first.stderr).toBe(0);
    const pem = await readFile(join(out, 'fullchain.pem'), 'utf8');
    const again = await runCertkeeper(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^not due: .* renews at \S+ \(LifetimeRatio\); nothing ordered\n$/);
    expect(again.stderr).toContain('offers neither ACME Renewal Information (ARI) nor profiles');
    expect(await readFile(join(out, 'fullchain.pem'), 'utf8')).toBe(pem);
  });
});
