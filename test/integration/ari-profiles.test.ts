// certkeeper renew, status, check and run against Pebble 2.10 offering Let's Encrypt's three
// profiles: each profile end to end, an unknown profile refused before ordering, ARI windows moved
// through Pebble's management port (renew with `replaces` when due, not before), the fallback on
// alreadyReplaced, a subject-less certificate from issuance to the alert, the rate-limit ledger and
// the schedule check. Real processes (dist/cli.js), real Pebble, the in-process Kubernetes API.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { displayName, lifetimeMs, parseCertificate } from '../../src/core/cert.js';
import { ariCertId, pebbleAcceptsReplaces } from '../support/ari.js';
import { CLI, runCertkeeper } from '../support/cli.js';
import { ingress, startClusterEnv, type ClusterEnv, type RenewJson } from '../support/cluster-env.js';
import { PEBBLE_PROFILES } from '../support/pebble.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receivers.js';

const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const EVENTS = { group: '', version: 'v1', resource: 'events' };
const CONFIGMAPS = { group: '', version: 'v1', resource: 'configmaps' };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const host = (label: string) => `${label}-${randomUUID().slice(0, 8)}.example.test`;

let env: ClusterEnv;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await startClusterEnv({ pebble: { profiles: PEBBLE_PROFILES } });
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-ari-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
  }
});
afterAll(async () => {
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type SecretLike = { metadata: { annotations?: Record<string, string>; resourceVersion?: string; [k: string]: unknown }; data?: Record<string, string>; [k: string]: unknown };
const secretOf = (ns: string, name: string) => env.api.get(SECRETS, ns, name) as SecretLike | undefined;
const crtOf = (ns: string, name: string) => Buffer.from(secretOf(ns, name)?.data?.['tls.crt'] ?? '', 'base64').toString('utf8');
const annotationsOf = (ns: string, name: string) => secretOf(ns, name)?.metadata.annotations ?? {};
const row = (r: { json?: RenewJson }, secretName: string) => r.json?.certificates.find((c) => c.secretName === secretName);

async function status(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCertkeeper(['status', '--kubeconfig', env.kubeconfig, '--directory', env.directoryUrl, ...args], { env: { COLUMNS: '400' } });
}

/** The ACME account certkeeper registered in the cluster (one Secret per CA in its namespace). */
function clusterAccount(): { keyPem: string; url: string } {
  const accounts = env.api.list(SECRETS, 'certkeeper') as SecretLike[];
  const s = accounts.find((a) => a.data?.['account.json'] && (a.metadata.annotations?.['certkeeper.dev/directory'] ?? '') === env.directoryUrl);
  if (!s?.data) throw new Error('no ACME account Secret in namespace certkeeper');
  const meta = JSON.parse(Buffer.from(s.data['account.json'] ?? '', 'base64').toString('utf8')) as { url: string };
  return { keyPem: Buffer.from(s.data['key.pem'] ?? '', 'base64').toString('utf8'), url: meta.url };
}

/**
 * Issues for a new Ingress and returns its certificate, renewed with --force until Pebble can
 * look it up as `replaces` (its 1-in-256 serial bug, test/support/ari.ts), for tests that assert
 * the CA accepted `replaces`.
 */
async function issueReplaceable(ns: string, name: string, hosts: string[], annotations: Record<string, string> = { 'certkeeper.dev/profile': 'classic' }): Promise<string> {
  env.api.ensureNamespace(ns);
  env.api.create(ingress(ns, name, `${name}-tls`, hosts, { annotations }));
  const r = await env.renew(['--namespace', ns]);
  expect(r.code, r.stderr).toBe(0);
  for (let i = 0; i < 5 && !pebbleAcceptsReplaces(crtOf(ns, `${name}-tls`)); i++) expect((await env.renew(['--namespace', ns, '--force'])).code).toBe(0);
  return crtOf(ns, `${name}-tls`);
}

describe('profiles (Pebble 2.10 with classic, tlsserver and shortlived)', () => {
  it('issues each profile through renew: its lifetime and CN, recorded on the Secret and shown by status', async () => {
    env.api.ensureNamespace('profiles');
    const hosts: Record<string, string> = {};
    for (const p of Object.keys(PEBBLE_PROFILES)) {
      hosts[p] = host(p);
      env.api.create(ingress('profiles', p, `${p}-tls`, [hosts[p] as string], { annotations: { 'certkeeper.dev/profile': p } }));
    }
    const r = await env.renew(['--namespace', 'profiles']);
    expect(r.code, r.stderr).toBe(0);
    for (const [p, spec] of Object.entries(PEBBLE_PROFILES)) {
      const info = parseCertificate(crtOf('profiles', `${p}-tls`));
      expect(lifetimeMs(info), p).toBe(spec.validitySeconds * 1000 - 1000);
      expect(info.subjectCN, p).toBe(spec.commonName ? hosts[p] : undefined);
      expect(annotationsOf('profiles', `${p}-tls`)['certkeeper.dev/profile']).toBe(p);
      expect(row(r, `${p}-tls`)).toMatchObject({ result: 'issued', profile: p, renewalBasis: 'Ari' });
    }
    const st = await status(['--namespace', 'profiles', '-o', 'json']);
    const rows = (JSON.parse(st.stdout) as { certificates: { secretName: string; profile?: string; lifetimeSeconds?: number; renewalBasis?: string; ari?: { start: string; end: string } }[] }).certificates;
    for (const [p, spec] of Object.entries(PEBBLE_PROFILES)) {
      const s = rows.find((x) => x.secretName === `${p}-tls`);
      expect(s).toMatchObject({ profile: p, lifetimeSeconds: spec.validitySeconds - 1, renewalBasis: 'Ari' });
      expect(Date.parse(s?.ari?.start ?? '')).toBeLessThan(Date.parse(s?.ari?.end ?? ''));
    }
    const text = await status(['--namespace', 'profiles', '-o', 'wide']);
    const line = (p: string) => text.stdout.split('\n').find((l) => l.split(/\s{2,}/)[1] === `${p}-tls`)?.split(/\s{2,}/);
    expect(line('classic')?.[4]).toBe('classic 90d');
    expect(line('tlsserver')?.[4]).toBe('tlsserver 45d');
    expect(line('shortlived')?.[4]).toBe('shortlived 160h');
    expect(text.stdout).toContain('Renewal windows the CA suggests (ARI):');
    expect(text.stdout).toMatch(/profiles\/shortlived-tls: \d{4}-\d\d-\d\d \d\d:\d\d – \d{4}-\d\d-\d\d \d\d:\d\d UTC, renews at a moment inside it/);
  });

  it('refuses an unknown profile before ordering, listing the profiles the CA offers', async () => {
    env.api.ensureNamespace('badprofile');
    env.api.create(ingress('badprofile', 'web', 'web-tls', [host('bad')], { annotations: { 'certkeeper.dev/profile': 'longlived' } }));
    const r = await env.renew(['--namespace', 'badprofile']);
    expect(r.code).toBe(1);
    expect(r.json?.ordersPlaced).toBe(0);
    expect(row(r, 'web-tls')).toMatchObject({ result: 'refused', reason: 'ProfileUnknown' });
    const f = r.json?.findings.find((x) => x.code === 'ProfileUnknown');
    expect(f?.object).toEqual({ kind: 'Ingress', namespace: 'badprofile', name: 'web' });
    expect(f?.message).toContain(
      `profile "longlived" is not offered by the CA at ${env.directoryUrl}; it offers classic (https://letsencrypt.org/docs/profiles#classic), shortlived (https://letsencrypt.org/docs/profiles#shortlived), tlsserver (https://letsencrypt.org/docs/profiles#tlsserver)`,
    );
    expect(f?.hint).toBe('set certkeeper.dev/profile (or --profile) to one of: classic, shortlived, tlsserver');
    expect(secretOf('badprofile', 'web-tls')).toBeUndefined();
  });

  it('checks the service-wide --profile the same way, and reissues when the profile asked for changes', async () => {
    env.api.ensureNamespace('svcprofile');
    const h = host('svcprofile');
    env.api.create(ingress('svcprofile', 'web', 'web-tls', [h]));
    const bad = await env.renew(['--namespace', 'svcprofile', '--profile', 'nope']);
    expect(row(bad, 'web-tls')).toMatchObject({ result: 'refused', reason: 'ProfileUnknown' });
    const good = await env.renew(['--namespace', 'svcprofile', '--profile', 'tlsserver']);
    expect(row(good, 'web-tls')).toMatchObject({ result: 'issued', profile: 'tlsserver' });
    // Changing the profile asked for reissues under the new one.
    const changed = await env.renew(['--namespace', 'svcprofile', '--profile', 'shortlived']);
    expect(row(changed, 'web-tls')).toMatchObject({ result: 'renewed', reason: 'ProfileChanged', profile: 'shortlived' });
  });
});

describe('ARI (RFC 9773) through renew', () => {
  /** The Secret as the first certificate left it (certificate, key, annotations), for the restore below. */
  let backup: SecretLike;
  let first: string;

  it('renews when the CA moves the window into the past, naming the old certificate in `replaces`, and not while it is in the future', async () => {
    first = await issueReplaceable('ari', 'web', [host('ari')]);
    backup = structuredClone(secretOf('ari', 'web-tls') as SecretLike);
    const certId = ariCertId(first);
    expect(annotationsOf('ari', 'web-tls')['certkeeper.dev/ari-cert-id']).toBe(certId);
    // A window in the future: recorded on the next pass after the CA's Retry-After (6 h), no order.
    const start = new Date(Math.floor(Date.now() / 1000) * 1000 + 10 * DAY);
    await env.pebble.setRenewalInfo(first, { start, end: new Date(start.getTime() + DAY) });
    const later = await env.renew(['--namespace', 'ari', '--clock-offset', '7h']);
    expect(later.code, later.stderr).toBe(0);
    expect(later.json?.ordersPlaced).toBe(0);
    const skipped = row(later, 'web-tls');
    expect(skipped).toMatchObject({ result: 'skipped', reason: 'UpToDate', renewalBasis: 'Ari', ari: { start: start.toISOString(), end: new Date(start.getTime() + DAY).toISOString() } });
    expect(Date.parse(skipped?.renewAt ?? '')).toBeGreaterThanOrEqual(start.getTime());
    expect(Date.parse(skipped?.renewAt ?? '')).toBeLessThan(start.getTime() + DAY);
    expect(skipped?.message).toContain("inside the CA's ARI window");
    // The CA moves it into the past (an incident): the next pass after the next check renews.
    const past = new Date(Date.now() - 2 * DAY);
    await env.pebble.setRenewalInfo(first, { start: past, end: new Date(past.getTime() + DAY), explanationURL: 'https://status.example.test/incident-42' });
    const r = await env.renew(['--namespace', 'ari', '--clock-offset', '14h']);
    expect(r.code, r.stderr).toBe(0);
    const renewed = row(r, 'web-tls');
    expect(renewed).toMatchObject({ result: 'renewed', reason: 'AriRenewalDue', replaces: certId });
    expect(renewed?.message).toContain('https://status.example.test/incident-42');
    // Pebble holds the order with `replaces` set to the old certificate's identifier.
    const order = await env.pebble.readOrder(renewed?.order ?? '', clusterAccount());
    expect(order.replaces).toBe(certId);
    expect(parseCertificate(crtOf('ari', 'web-tls')).serial).not.toBe(parseCertificate(first).serial);
    // The Event on the Ingress carries the reason and the CA's explanation.
    const events = env.api.list(EVENTS, 'ari') as { reason: string; message: string }[];
    expect(events.some((e) => e.reason === 'CertificateRenewed' && e.message.includes('AriRenewalDue') && e.message.includes('incident-42'))).toBe(true);
    // The new certificate has a window of its own; the old one's is never applied to it.
    expect(annotationsOf('ari', 'web-tls')['certkeeper.dev/ari-cert-id']).toBe(ariCertId(crtOf('ari', 'web-tls')));
    expect(annotationsOf('ari', 'web-tls')['certkeeper.dev/ari-explanation-url']).toBeUndefined();
  });

  it('renews in this pass when the moment chosen inside the window comes before the next scheduled run, and not when run by hand', async () => {
    const pem = await issueReplaceable('arinext', 'web', [host('arinext')]);
    // Seven hours on (past the CA's Retry-After), the CA's window is one to two hours ahead.
    const start = new Date(Math.floor((Date.now() + 8 * HOUR) / 1000) * 1000);
    await env.pebble.setRenewalInfo(pem, { start, end: new Date(start.getTime() + HOUR) });
    const byHand = await env.renew(['--namespace', 'arinext', '--clock-offset', '7h']);
    expect(byHand.code, byHand.stderr).toBe(0);
    expect(row(byHand, 'web-tls')).toMatchObject({ result: 'skipped', reason: 'UpToDate', renewalBasis: 'Ari', ari: { start: start.toISOString() } });
    // The CronJob's schedule runs daily, 5 to 6 hours from now: it would wake long after that moment.
    const hour = (new Date().getUTCHours() + 6) % 24;
    const scheduled = await env.renew(['--namespace', 'arinext', '--clock-offset', '7h'], { env: { CERTKEEPER_SCHEDULE: `7 ${hour} * * *` } });
    expect(scheduled.code, scheduled.stderr).toBe(0);
    const renewed = row(scheduled, 'web-tls');
    expect(renewed).toMatchObject({ result: 'renewed', reason: 'AriRenewalDue', replaces: ariCertId(pem) });
    expect(renewed?.message).toContain('comes before the next scheduled pass at');
  });

  it('falls back to an order without `replaces` when the CA answers alreadyReplaced, and says so', async () => {
    // The Secret is restored from a backup: it holds the certificate that was already replaced.
    env.api.put({ ...backup, metadata: { ...backup.metadata, resourceVersion: undefined } });
    expect(crtOf('ari', 'web-tls')).toBe(first);
    const r = await env.renew(['--namespace', 'ari', '--force']);
    expect(r.code, r.stderr).toBe(0);
    const o = row(r, 'web-tls');
    expect(o).toMatchObject({ result: 'renewed', reason: 'Forced' });
    expect(o?.replaces).toBeUndefined();
    expect(o?.message).toMatch(/the CA refused "replaces" \(alreadyReplaced: .+\), so it was ordered without "replaces" and counts against rate limits/);
    expect(r.stderr).toContain('ordering again without it');
    expect((await env.pebble.readOrder(o?.order ?? '', clusterAccount())).replaces).toBeUndefined();
  });
});

describe('a certificate without a subject, from issuance to the alert', () => {
  let hook: WebhookReceiver;
  beforeAll(async () => {
    hook = await startWebhookReceiver();
  });
  afterAll(async () => {
    await hook?.close();
  });

  it('is issued, stored, shown by status, reported by check and alerted on, named by its first SAN', async () => {
    const h = host('nocn');
    const pem = await issueReplaceable('nocn', 'web', [h], { 'certkeeper.dev/profile': 'tlsserver' });
    const info = parseCertificate(pem);
    expect(info.subject).toBe('');
    expect(displayName(info)).toBe(h);
    const st = await status(['--namespace', 'nocn', '-o', 'wide']);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout.split('\n')[1]?.split(/\s{2,}/).slice(0, 5)).toEqual(['nocn', 'web-tls', h, info.issuerCN, 'tlsserver 45d']);
    // The CA asks for an early renewal: window 20 to 21 days after issuance, with an explanation.
    const start = new Date(info.notBefore.getTime() + 20 * DAY);
    await env.pebble.setRenewalInfo(pem, { start, end: new Date(start.getTime() + DAY), explanationURL: 'https://status.example.test/mass-revocation' });
    expect((await env.renew(['--namespace', 'nocn', '--clock-offset', '7h'])).json?.ordersPlaced).toBe(0);
    // Days later, inside and past that window, check and status say the CA asked for it.
    const check = await runCertkeeper(['check', '--kubeconfig', env.kubeconfig, '--namespace', 'nocn', '--clock-offset', '23d'], { env: { COLUMNS: '400' } });
    expect(check.stdout).toContain('CertificateNearExpiry');
    expect(check.stdout).toContain('the CA asks for the certificate in Secret nocn/web-tls to be renewed within');
    expect(check.stdout).toContain('https://status.example.test/mass-revocation');
    const due = await status(['--namespace', 'nocn', '--clock-offset', '23d']);
    expect(due.stdout).toContain("nocn/web-tls: RenewalDue (AriRenewalDue): the CA's renewal window (ARI) is");
    // The service cannot renew (the CA is unreachable): the alert names profile, lifetime, window and reason.
    await env.proxy.down();
    try {
      await alertsWhileTheCaIsDown(h, hook);
    } finally {
      await env.proxy.up();
    }
  });
});

/** The service, with the CA unreachable and the clock past the ARI window: the renewal alert. */
async function alertsWhileTheCaIsDown(h: string, hook: WebhookReceiver): Promise<void> {
  const clock = join(dir, 'clock');
  await writeFile(clock, '23d');
  const svc = startService(['--namespace', 'nocn', '--leader-election', 'false', '--webhook-url', hook.url, '--clock-offset-file', clock]);
  const alert = await waitFor(
    () => hook.requests.map((q) => q.json as { code?: string; message?: string; status?: string }).find((j) => j.code === 'CertificateRenewalOverdue' && j.status === 'firing'),
    30_000,
    () => `no CertificateRenewalOverdue webhook:\n${svc.out().slice(-3000)}`,
  );
  expect(alert.message).toContain(`the certificate in Secret nocn/web-tls for ${h} was not renewed`);
  expect(alert.message).toContain('(lifetime 45 days, profile tlsserver)');
  expect(alert.message).toMatch(/by the CA \(AriRenewalDue: its ARI window is \S+ – \S+; explanation: https:\/\/status\.example\.test\/mass-revocation\)/);
  expect(alert.message).toContain('cannot reach the ACME server');
}

describe('the rate-limit ledger', () => {
  it('refuses a sixth certificate for one name set within the week, but never a renewal that names what it replaces', async () => {
    env.api.ensureNamespace('limits');
    const h = host('limits');
    // Named, because Pebble gives an order without a profile a random one.
    env.api.create(ingress('limits', 'web', 'web-tls', [h], { annotations: { 'certkeeper.dev/profile': 'classic' } }));
    // Four certificates for exactly these names in the last hours, as an earlier pass recorded them.
    const seed = { version: 1, cas: { [env.directoryUrl]: { certificates: { [h]: [1, 2, 3, 4].map((i) => new Date(Date.now() - i * HOUR).toISOString()) }, failures: {}, orders: [] } } };
    env.api.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'certkeeper', name: 'certkeeper-ratelimits' }, data: { 'ledger.json': JSON.stringify(seed) } });
    const limits = ['--namespace', 'limits', '--rate-limits', 'letsencrypt'];
    const fifth = await env.renew(limits);
    expect(row(fifth, 'web-tls')).toMatchObject({ result: 'issued' });
    const ledger = () => JSON.parse((env.api.get(CONFIGMAPS, 'certkeeper', 'certkeeper-ratelimits') as { data: Record<string, string> }).data['ledger.json'] ?? '{}') as typeof seed;
    expect(ledger().cas[env.directoryUrl]?.certificates[h]).toHaveLength(5);
    // A renewal that names the certificate it replaces is exempt (unless Pebble's serial bug makes it fall back).
    const pem = crtOf('limits', 'web-tls');
    const forced = await env.renew([...limits, '--force']);
    if (pebbleAcceptsReplaces(pem)) expect(row(forced, 'web-tls')).toMatchObject({ result: 'renewed', replaces: ariCertId(pem) });
    else expect(row(forced, 'web-tls')).toMatchObject({ result: 'refused', reason: 'RateLimitAhead' });
    // A new certificate for the same names is not: refused before the CA, with the count and the time.
    env.api.delete(SECRETS, 'limits', 'web-tls');
    const sixth = await env.renew(limits);
    expect(sixth.code).toBe(1);
    expect(sixth.json?.ordersPlaced).toBe(0);
    expect(row(sixth, 'web-tls')).toMatchObject({ result: 'refused', reason: 'RateLimitAhead' });
    const f = sixth.json?.findings.find((x) => x.code === 'RateLimitAhead');
    expect(f?.message).toMatch(new RegExp(`"New Certificates per Exact Set of Identifiers" \\(5 per 7 days\\): 5 certificates for exactly ${h.replace(/\./g, '\\.')} in that window, and the next one is allowed at \\d{4}-`));
    // Off, the ledger holds nothing back (the CA's own answer still would).
    expect(row(await env.renew(['--namespace', 'limits', '--rate-limits', 'off']), 'web-tls')).toMatchObject({ result: 'issued' });
  });
});

describe('the schedule against the shortest certificate in use', () => {
  it('warns ScheduleTooSparse when passes come further apart than a quarter of a shortlived renewal window', async () => {
    env.api.ensureNamespace('sparse');
    env.api.create(ingress('sparse', 'web', 'web-tls', [host('sparse')], { annotations: { 'certkeeper.dev/profile': 'shortlived' } }));
    // Every 20 hours passes the start-up check (the 160-hour certificates' 80-hour ratio window),
    // but the CA's ARI window puts the renewal later, leaving less than 80 hours.
    const svc = startService(['--namespace', 'sparse', '--leader-election', 'false', '--schedule', '7 */20 * * *']);
    const line = await waitFor(() => svc.out().split('\n').find((l) => l.includes('ScheduleTooSparse')), 30_000, () => `no ScheduleTooSparse:\n${svc.out().slice(-3000)}`);
    expect(line).toMatch(/--schedule \\"7 \*\/20 \* \* \*\\" leaves up to 20 hours between passes, but the certificate in Secret sparse\/web-tls \(profile shortlived\) renews with only \d+ (hours|days) left/);
    const m = await waitFor(async () => (/certkeeper_findings\{code="ScheduleTooSparse",severity="warning"\} 1/.test(await metrics(svc)) ? true : undefined), 10_000, () => 'not in /metrics');
    expect(m).toBe(true);
  });
});

// ---- the service ---------------------------------------------------------------------------------

interface Svc {
  child: ChildProcess;
  out(): string;
}

function startService(extra: string[]): Svc {
  const child = spawn(
    process.execPath,
    [
      CLI, 'run',
      '--kubeconfig', env.kubeconfig,
      '--directory', env.directoryUrl,
      '--acme-ca-bundle', env.pebble.apiCaFile,
      '--http-port', String(env.pebble.httpPort),
      '--http-address', '127.0.0.1',
      '--admin-port', '0',
      '--admin-address', '127.0.0.1',
      '--self-check-address', `127.0.0.1:${env.pebble.httpPort}`,
      '--acme-poll-interval', '50',
      '--schedule', '*/1 * * * * *',
      '--log-format', 'json',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  return { child, out: () => out };
}

async function metrics(svc: Svc): Promise<string> {
  const port = Number(/admin port (\d+)/.exec(svc.out())?.[1]);
  if (!port) return '';
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
