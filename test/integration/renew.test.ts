// `certkeeper renew` as a real process against Pebble and the in-process Kubernetes API.
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkKeyMatches, parseCertificate } from '../../src/core/cert.js';
import { ariCertId, pebbleAcceptsReplaces } from '../support/ari.js';
import { runCertkeeper } from '../support/cli.js';
import { startClusterEnv, ingress, type ClusterEnv } from '../support/cluster-env.js';

let env: ClusterEnv;
const host = (label: string) => `${label}-${randomUUID().slice(0, 8)}.example.test`;
const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const INGRESSES = { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses' };
const EVENTS = { group: '', version: 'v1', resource: 'events' };
const CONFIGMAPS = { group: '', version: 'v1', resource: 'configmaps' };

function decode(secret: Record<string, unknown> | undefined, key: string): string {
  const data = (secret?.data ?? {}) as Record<string, string>;
  return Buffer.from(data[key] ?? '', 'base64').toString('utf8');
}

beforeAll(async () => {
  env = await startClusterEnv();
});
afterAll(async () => {
  await env?.close();
});

describe('certkeeper renew', () => {
  it('issues a certificate for an opted-in Ingress into a Secret in the Ingress namespace', async () => {
    env.api.ensureNamespace('shop');
    const hosts = [host('shop'), host('www')];
    env.api.create(ingress('shop', 'web', 'web-tls', hosts));
    const r = await env.renew(['--ingress', 'shop/web']);
    expect(r.code, r.stderr).toBe(0);
    const secret = env.api.get(SECRETS, 'shop', 'web-tls') as Record<string, unknown> | undefined;
    expect(secret?.type).toBe('kubernetes.io/tls');
    const crt = decode(secret, 'tls.crt');
    const info = parseCertificate(crt);
    expect([...info.sans].sort()).toEqual([...hosts].sort());
    expect(info.chain.length).toBeGreaterThan(0);
    expect(checkKeyMatches(crt, decode(secret, 'tls.key')).ok).toBe(true);
    const meta = secret?.metadata as { labels: Record<string, string>; annotations: Record<string, string> };
    expect(meta.labels['app.kubernetes.io/managed-by']).toBe('certkeeper');
    expect(meta.annotations['certkeeper.dev/hosts']).toBe([...hosts].sort().join(','));
    expect(meta.annotations['certkeeper.dev/issuer']).toBe(env.directoryUrl);
    expect(r.json?.certificates[0]).toMatchObject({ namespace: 'shop', secretName: 'web-tls', result: 'issued', reason: 'SecretDoesNotExist' });
    // An Event on the Ingress says what happened.
    const events = env.api.list(EVENTS, 'shop') as { reason: string; involvedObject: { name: string } }[];
    expect(events.some((e) => e.reason === 'CertificateIssued' && e.involvedObject.name === 'web')).toBe(true);
    // Nothing of the order is left behind.
    expect(env.api.list(INGRESSES, 'certkeeper')).toEqual([]);
    const cm = env.api.get(CONFIGMAPS, 'certkeeper', 'certkeeper-challenges') as { data?: Record<string, string> } | undefined;
    expect(Object.keys(cm?.data ?? {})).toEqual([]);
  });

  it('writes two Ingresses of two namespaces into two Secrets, each in its own namespace', async () => {
    env.api.ensureNamespace('team-a');
    env.api.ensureNamespace('team-b');
    const a = host('a');
    const b = host('b');
    env.api.create(ingress('team-a', 'site', 'site-tls', [a]));
    env.api.create(ingress('team-b', 'site', 'site-tls', [b]));
    const r = await env.renew(['--namespace', 'team-a']);
    expect(r.code, r.stderr).toBe(0);
    const r2 = await env.renew(['--namespace', 'team-b']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(parseCertificate(decode(env.api.get(SECRETS, 'team-a', 'site-tls'), 'tls.crt')).sans).toEqual([a]);
    expect(parseCertificate(decode(env.api.get(SECRETS, 'team-b', 'site-tls'), 'tls.crt')).sans).toEqual([b]);
    expect(env.api.get(SECRETS, 'certkeeper', 'site-tls')).toBeUndefined();
  });

  it('does nothing on a second pass: no order, no write, one line per certificate saying why', async () => {
    env.api.ensureNamespace('idle');
    env.api.create(ingress('idle', 'web', 'web-tls', [host('idle')]));
    expect((await env.renew(['--namespace', 'idle'])).code).toBe(0);
    env.api.resetRequests();
    const r = await env.renew(['--namespace', 'idle', '-o', 'text']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skip idle\/web-tls: valid until \d{4}-\d\d-\d\dT[\d:]+Z, renews at \d{4}-/);
    const writes = env.api.requests.filter((q) => q.method !== 'GET' && (q.resource === 'secrets' || q.resource === 'ingresses'));
    expect(writes).toEqual([]);
    // A constant number of list calls, no per-object GET of Secrets.
    expect(env.api.requests.filter((q) => q.resource === 'secrets' && q.verb === 'get')).toEqual([]);
  });

  it('renews with --force, and when the clock enters the CA\'s ARI window, naming the certificate it replaces', async () => {
    env.api.ensureNamespace('due');
    env.api.create(ingress('due', 'web', 'web-tls', [host('due')]));
    expect((await env.renew(['--namespace', 'due'])).code).toBe(0);
    const crt = () => decode(env.api.get(SECRETS, 'due', 'web-tls'), 'tls.crt');
    const serial = () => parseCertificate(crt()).serial;
    const first = crt();
    const forced = await env.renew(['--namespace', 'due', '--force']);
    expect(forced.json?.certificates[0]).toMatchObject({ result: 'renewed', reason: 'Forced' });
    // Pebble fails `replaces` for 1 serial in 256 (test/support/ari.ts); certkeeper then orders without it.
    expect(forced.json?.certificates[0]?.replaces).toBe(pebbleAcceptsReplaces(first) ? ariCertId(first) : undefined);
    const second = serial();
    expect(second).not.toBe(parseCertificate(first).serial);
    // Pebble's classic certificates last 90 days, and its ARI window is days 59 to 61.
    const early = await env.renew(['--namespace', 'due', '--clock-offset', '50d']);
    expect(early.json?.certificates[0]).toMatchObject({ result: 'skipped', reason: 'UpToDate', renewalBasis: 'Ari' });
    expect(early.json?.ordersPlaced).toBe(0);
    const late = await env.renew(['--namespace', 'due', '--clock-offset', '62d']);
    expect(late.code, late.stderr).toBe(0);
    expect(late.json?.certificates[0]).toMatchObject({ result: 'renewed', reason: 'AriRenewalDue' });
    expect(serial()).not.toBe(second);
  });

  it('leaves a Secret certkeeper does not manage alone and reports it, unless --adopt', async () => {
    env.api.ensureNamespace('legacy');
    const h = host('legacy');
    env.api.create(ingress('legacy', 'web', 'web-tls', [h]));
    env.api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'legacy', name: 'web-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from('hand-made').toString('base64'), 'tls.key': Buffer.from('hand-made').toString('base64') } });
    const r = await env.renew(['--namespace', 'legacy']);
    expect(r.code).toBe(1);
    expect(r.json?.certificates[0]).toMatchObject({ result: 'refused', reason: 'SecretNotManaged' });
    expect(r.json?.certificates[0]?.hint).toContain('--adopt');
    expect(r.json?.ordersPlaced).toBe(0);
    expect(decode(env.api.get(SECRETS, 'legacy', 'web-tls'), 'tls.crt')).toBe('hand-made');
    const adopted = await env.renew(['--namespace', 'legacy', '--adopt']);
    expect(adopted.code, adopted.stderr).toBe(0);
    expect(parseCertificate(decode(env.api.get(SECRETS, 'legacy', 'web-tls'), 'tls.crt')).sans).toEqual([h]);
  });

  it('retries a write that hits a 409 on top of the concurrent change, losing neither', async () => {
    env.api.ensureNamespace('race');
    const h = host('race');
    env.api.create(ingress('race', 'web', 'web-tls', [h]));
    expect((await env.renew(['--namespace', 'race'])).code).toBe(0);
    // While the order is validated, someone else annotates the Secret: our write carries the
    // old resourceVersion and gets a real 409 Conflict.
    env.onValidation.hook = () => {
      const s = env.api.get(SECRETS, 'race', 'web-tls') as { metadata: { annotations?: Record<string, string> } };
      if (s.metadata.annotations?.['team'] === 'payments') return;
      s.metadata.annotations = { ...s.metadata.annotations, team: 'payments' };
      env.api.put(s as never);
    };
    try {
      const r = await env.renew(['--namespace', 'race', '--force']);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      env.onValidation.hook = undefined;
    }
    const conflicts = env.api.requests.filter((q) => q.resource === 'secrets' && q.method === 'PUT' && q.status === 409);
    expect(conflicts.length).toBeGreaterThan(0);
    const s = env.api.get(SECRETS, 'race', 'web-tls') as { metadata: { annotations: Record<string, string> } };
    expect(s.metadata.annotations.team).toBe('payments');
    expect(s.metadata.annotations['certkeeper.dev/hosts']).toBe(h);
    expect(parseCertificate(decode(s as never, 'tls.crt')).sans).toEqual([h]);
  });

  it('keeps the old Secret when the CA is down, records the failure, backs off, then succeeds', async () => {
    env.api.ensureNamespace('down');
    const h = host('down');
    env.api.create(ingress('down', 'web', 'web-tls', [h]));
    expect((await env.renew(['--namespace', 'down'])).code).toBe(0);
    const before = decode(env.api.get(SECRETS, 'down', 'web-tls'), 'tls.crt');
    // A new host makes the certificate due; the CA goes away.
    const h2 = host('down2');
    env.api.put(ingress('down', 'web', 'web-tls', [h, h2]) as never);
    await env.proxy.down();
    let failed;
    try {
      failed = await env.renew(['--namespace', 'down']);
    } finally {
      await env.proxy.up();
    }
    expect(failed.code).toBe(1);
    expect(failed.json?.certificates[0]).toMatchObject({ result: 'failed', reason: 'IssuanceFailed' });
    expect(failed.json?.certificates[0]?.message).toMatch(/cannot reach the ACME server at https:\/\/127\.0\.0\.1:\d+\/dir.*ECONNREFUSED/);
    const afterFail = env.api.get(SECRETS, 'down', 'web-tls') as { metadata: { annotations: Record<string, string> } };
    expect(decode(afterFail as never, 'tls.crt')).toBe(before);
    expect(afterFail.metadata.annotations['certkeeper.dev/failures']).toBe('1');
    const retryAt = Date.parse(afterFail.metadata.annotations['certkeeper.dev/retry-after'] ?? '');
    expect(retryAt - Date.now()).toBeGreaterThan(55 * 60_000);
    // Within the backoff: no order, and the reason says when the next attempt is.
    const waiting = await env.renew(['--namespace', 'down']);
    expect(waiting.json?.certificates[0]).toMatchObject({ result: 'skipped', reason: 'InBackoff' });
    expect(waiting.json?.ordersPlaced).toBe(0);
    // After the backoff (an hour later): issued, and the failure record is gone.
    const later = await env.renew(['--namespace', 'down', '--clock-offset', '61m']);
    expect(later.code, later.stderr).toBe(0);
    const fixed = env.api.get(SECRETS, 'down', 'web-tls') as { metadata: { annotations: Record<string, string> } };
    expect([...parseCertificate(decode(fixed as never, 'tls.crt')).sans].sort()).toEqual([h, h2].sort());
    expect(fixed.metadata.annotations['certkeeper.dev/failures']).toBeUndefined();
  });

  it('prints the plan with --dry-run and touches nothing', async () => {
    env.api.ensureNamespace('plan');
    env.api.create(ingress('plan', 'web', 'web-tls', [host('plan')]));
    env.api.resetRequests();
    const r = await env.renew(['--namespace', 'plan', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.certificates[0]).toMatchObject({ result: 'planned', reason: 'SecretDoesNotExist' });
    expect(env.api.requests.filter((q) => q.method !== 'GET')).toEqual([]);
    expect(env.api.get(SECRETS, 'plan', 'web-tls')).toBeUndefined();
  });

  it('keeps a certificate whose Secret RBAC refuses, backs off, and writes that same certificate once allowed: one order', async () => {
    env.api.ensureNamespace('locked');
    env.api.create(ingress('locked', 'web', 'web-tls', [host('locked')]));
    const kept = () => env.api.list<{ type: string; metadata: { annotations: Record<string, string> }; data: Record<string, string> }>(SECRETS, 'certkeeper', { labelSelector: 'certkeeper.dev/issued-certificate=true' });
    const undo = env.api.denyAlways({ verb: 'create', resource: 'secrets', namespace: 'locked' });
    let stashedSerial: string;
    try {
      const r = await env.renew(['--namespace', 'locked', '-o', 'text']);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('403 forbidden: cannot create secrets in namespace locked');
      expect(r.stdout).toMatch(/hint: grant certkeeper's ServiceAccount "create" on secrets in locked/);
      // The verb, the status and who refused, and where the certificate waits.
      expect(r.stdout).toMatch(/SecretWriteFailed/);
      expect(r.stdout).toContain('create secrets → 403 Forbidden, refused by RBAC');
      expect(r.stdout).toMatch(/the certificate is kept in certkeeper's namespace and written at the next attempt \(\d{4}-.*, attempt 2\) without a new order/);
      const stash = kept();
      expect(stash).toHaveLength(1);
      expect(stash[0]?.type).toBe('certkeeper.dev/issued-certificate');
      expect(stash[0]?.metadata.annotations['certkeeper.dev/target']).toBe('locked/web-tls');
      stashedSerial = parseCertificate(decode(stash[0] as never, 'tls.crt')).serial;
      // The key is in the stash Secret, never in the output.
      expect(r.stdout + r.stderr).not.toContain('PRIVATE KEY');
      expect(r.stdout + r.stderr).not.toContain(decode(stash[0] as never, 'tls.key').split('\n')[1]);

      // Within the backoff: no order, no write, exit 1 because there is no valid certificate, and
      // the output says when the next try is.
      env.api.resetRequests();
      const waiting = await env.renew(['--namespace', 'locked', '-o', 'text']);
      expect(waiting.code).toBe(1);
      expect(waiting.stdout).toMatch(/ s, 0 orders, 0 Secret writes\)/);
      expect(waiting.stdout).toMatch(/not valid after this pass \(1\):\n {2}locked\/web-tls \(InBackoff; next try at \d{4}-\d\d-\d\dT[\d:]+Z \(or now with --force\)\)/);
      expect(env.api.requests.filter((q) => q.resource === 'secrets' && q.namespace === 'locked' && q.method !== 'GET')).toEqual([]);
    } finally {
      undo();
    }
    // The write is allowed again: --force writes the kept certificate instead of ordering a new one.
    const fixed = await env.renew(['--namespace', 'locked', '--force']);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.json).toMatchObject({ ok: true, allValid: true, ordersPlaced: 0, certificatesIssued: 0, secretsWritten: 1 });
    expect(fixed.json?.certificates[0]?.message).toMatch(/from the certificate kept since \d{4}-.* \(no new order\)/);
    expect(parseCertificate(decode(env.api.get(SECRETS, 'locked', 'web-tls'), 'tls.crt')).serial).toBe(stashedSerial);
    expect(kept()).toEqual([]);
    const state = env.api.get<{ data?: Record<string, string> }>(CONFIGMAPS, 'certkeeper', 'certkeeper-state');
    expect(state?.data?.['failure.locked.web-tls']).toBeUndefined();
  });

  it('writes a forced renewal whose write was refused once allowed, although the old certificate is still valid', async () => {
    env.api.ensureNamespace('rotate');
    env.api.create(ingress('rotate', 'web', 'web-tls', [host('rotate')]));
    expect((await env.renew(['--namespace', 'rotate'])).code).toBe(0);
    const serial = () => parseCertificate(decode(env.api.get(SECRETS, 'rotate', 'web-tls'), 'tls.crt')).serial;
    const old = serial();
    // A key rotation (--force) whose write an admission webhook refuses.
    const rule = env.api.faults.add({ verb: 'update', resource: 'secrets', namespace: 'rotate', fault: { type: 'admission', webhook: 'freeze.example', message: 'change freeze' } });
    let forced;
    try {
      forced = await env.renew(['--namespace', 'rotate', '--force']);
    } finally {
      rule.remove();
    }
    expect(forced.json?.certificates[0]).toMatchObject({ result: 'failed', reason: 'SecretWriteFailed' });
    expect(serial()).toBe(old);
    // After the backoff the old certificate is still up to date, yet the newer one is written.
    const later = await env.renew(['--namespace', 'rotate', '--clock-offset', '61m']);
    expect(later.code, later.stderr).toBe(0);
    expect(later.json).toMatchObject({ ordersPlaced: 0, secretsWritten: 1 });
    expect(later.json?.certificates[0]).toMatchObject({ result: 'renewed', reason: 'Forced' });
    expect(serial()).not.toBe(old);
    expect(env.api.list(SECRETS, 'certkeeper', { labelSelector: 'certkeeper.dev/issued-certificate=true' })).toEqual([]);
  });

  it('stops on SIGTERM during the self-check: nothing ordered, route and token removed, what was left undone said', async () => {
    env.api.ensureNamespace('sig');
    for (const n of ['a', 'b']) env.api.create(ingress('sig', n, `${n}-tls`, [host(`sig-${n}`)]));
    // A controller that accepts connections and never answers: the self-check would wait 60 s.
    const accepted: Socket[] = [];
    const silent = createServer((socket) => void accepted.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const running = env.startRenew(['--namespace', 'sig', '--concurrency', '1', '--self-check-address', `127.0.0.1:${port}`, '--self-check-timeout', '60s']);
      const deadline = Date.now() + 30_000;
      while (accepted.length === 0 && Date.now() < deadline && running.child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      expect(accepted.length).toBeGreaterThan(0);
      const signalled = Date.now();
      running.kill('SIGTERM');
      const r = await running.result;
      expect(Date.now() - signalled).toBeLessThan(5_000);
      expect(r.code, r.stderr).toBe(1);
      expect(r.json?.ordersPlaced).toBe(0);
      expect(r.json?.stopped).toBe('received SIGTERM');
      expect(r.json?.certificates.map((c) => c.reason)).toEqual(['PassStopped', 'PassStopped']);
      expect(r.stderr).toContain('certkeeper: the pass stopped: received SIGTERM; left undone: sig/a-tls, sig/b-tls');
    } finally {
      for (const s of accepted) s.destroy();
      await new Promise((r) => silent.close(r));
    }
    expect(env.api.list(INGRESSES, 'certkeeper')).toEqual([]);
    const cm = env.api.get(CONFIGMAPS, 'certkeeper', 'certkeeper-challenges') as { data?: Record<string, string> } | undefined;
    expect(Object.keys(cm?.data ?? {})).toEqual([]);
    // The lease is handed back, so the next pass need not wait for it to expire.
    expect(env.api.get<{ spec: { holderIdentity?: string } }>({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases' }, 'certkeeper', 'certkeeper-pass')?.spec.holderIdentity ?? '').toBe('');
  });

  it('says there is no kubeconfig, instead of failing to connect to localhost:8080', async () => {
    const home = await mkdtemp(join(tmpdir(), 'certkeeper-home-'));
    try {
      const r = await runCertkeeper(['renew'], { env: { HOME: home, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('no kubeconfig found');
      expect(r.stderr).toMatch(/hint: pass --kubeconfig FILE or set KUBECONFIG/);
      expect(r.stderr).not.toContain('localhost:8080');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
