// `certkeeper run` as real processes against Pebble and the in-process Kubernetes API: the
// schedule issues and renews, /metrics tells the truth, two replicas elect one leader and hand
// over on SIGTERM, and a failing renewal alerts exactly once per level by webhook and email.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/core/cert.js';
import { CLI } from '../support/cli.js';
import { ingress, startClusterEnv, type ClusterEnv } from '../support/cluster-env.js';
import { startSmtpReceiver, startWebhookReceiver, type SmtpReceiver, type WebhookReceiver } from '../support/receivers.js';

const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const LEASES = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' };
const CONFIGMAPS = { group: '', version: 'v1', resource: 'configmaps' };
const host = (label: string) => `${label}-${randomUUID().slice(0, 8)}.example.test`;

let env: ClusterEnv;
const balancers: Server[] = [];

/** A TCP balancer: round-robin over backends, skipping those that refuse (a stopped replica). */
function startBalancer(port: number, backends: number[]): Promise<Server> {
  let next = 0;
  const server = createServer((client) => {
    const start = next++;
    const tryBackend = (attempt: number) => {
      const target = backends[(start + attempt) % backends.length] as number;
      const upstream = connect(target, '127.0.0.1');
      upstream.once('connect', () => {
        client.pipe(upstream).pipe(client);
      });
      upstream.once('error', () => {
        if (attempt + 1 < backends.length) tryBackend(attempt + 1);
        else client.destroy();
      });
      client.once('close', () => upstream.destroy());
    };
    client.on('error', () => undefined);
    tryBackend(0);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}
let dir: string;
const procs: Service[] = [];

interface Service {
  child: ChildProcess;
  out: () => string;
  adminPort: number;
  challengePort: number;
  exited: Promise<number | null>;
}

async function startService(name: string, extra: string[] = [], opts: { httpPort?: number } = {}): Promise<Service> {
  const args = [
    CLI,
    'run',
    '--kubeconfig', env.kubeconfig,
    '--directory', env.directoryUrl,
    '--acme-ca-bundle', env.pebble.apiCaFile,
    '--http-port', String(opts.httpPort ?? env.pebble.httpPort),
    '--http-address', '127.0.0.1',
    '--admin-port', '0',
    '--admin-address', '127.0.0.1',
    '--self-check-address', `127.0.0.1:${env.pebble.httpPort}`,
    '--acme-poll-interval', '50',
    '--schedule', '*/1 * * * * *',
    '--leader-lease-duration', '3s',
    '--identity', name,
    '--clock-offset-file', join(dir, 'clock'),
    '--log-format', 'json',
    ...extra,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const m = await waitFor(() => /listening on challenge port (\d+) and admin port (\d+)/.exec(out), 15_000, () => `service ${name} did not start:\n${out}`);
  const s: Service = { child, out: () => out, challengePort: Number(m[1]), adminPort: Number(m[2]), exited };
  procs.push(s);
  return s;
}

async function waitFor<T>(probe: () => T | undefined | null | false | Promise<T | undefined>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function secretCert(ns: string, name: string) {
  const s = env.api.get(SECRETS, ns, name) as { data?: Record<string, string> } | undefined;
  const crt = s?.data?.['tls.crt'];
  return crt ? parseCertificate(Buffer.from(crt, 'base64').toString('utf8')) : undefined;
}

async function stop(s: Service): Promise<void> {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
  await s.exited;
}

beforeAll(async () => {
  env = await startClusterEnv();
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-svc-'));
  await writeFile(join(dir, 'clock'), '0s');
});
// A failed test must not leave a replica holding the challenge port for the next one.
afterEach(async () => {
  for (const p of procs.splice(0)) await stop(p);
  for (const b of balancers.splice(0)) await new Promise((r) => b.close(r));
  await writeFile(join(dir, 'clock'), '0s');
});
afterAll(async () => {
  for (const p of procs) await stop(p);
  for (const b of balancers) await new Promise((r) => b.close(r));
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('certkeeper run', () => {
  it('issues on schedule, renews when the clock passes the renewal point, and /metrics matches the Secret', async () => {
    env.api.ensureNamespace('svc');
    const h = host('svc');
    const svc = await startService('solo', ['--leader-election', 'false']);
    env.api.create(ingress('svc', 'web', 'web-tls', [h]));
    const first = await waitFor(() => secretCert('svc', 'web-tls'), 20_000, () => `no Secret was written:\n${svc.out()}`);
    expect(first.sans).toEqual([h]);
    const metrics = await waitFor(
      async () => {
        const m = await httpGet(svc.adminPort, '/metrics');
        return m.body.includes('certkeeper_certificate_not_after_timestamp_seconds{namespace="svc",secret="web-tls"}') ? m : undefined;
      },
      10_000,
      () => 'metrics never showed the certificate',
    );
    const body = metrics.body;
    const notAfter = Number(/certkeeper_certificate_not_after_timestamp_seconds\{namespace="svc",secret="web-tls"\} (\S+)/.exec(body)?.[1]);
    expect(notAfter).toBe(first.notAfter.getTime() / 1000);
    expect(body).toMatch(/certkeeper_certificate_ready\{namespace="svc",secret="web-tls"\} 1/);
    expect(body).toMatch(/certkeeper_passes_total\{result="success"\} [1-9]/);
    // The profile Pebble issued under, the real lifetime, and the CA's ARI window the renewal follows.
    expect(body).toMatch(/certkeeper_certificate_info\{namespace="svc",secret="web-tls",profile="classic",issuer="Pebble Intermediate CA [0-9a-f]+",renewal_basis="Ari"\} 1/);
    expect(body).toContain(`certkeeper_certificate_lifetime_seconds{namespace="svc",secret="web-tls"} ${90 * 86_400 - 1}`);
    expect(body).toMatch(/certkeeper_certificate_ari_window_start_timestamp_seconds\{namespace="svc",secret="web-tls"\} \d+/);
    // The live audit after each pass also covers Ingresses certkeeper does not manage.
    const manual = ingress('svc', 'manual', 'nobody-made-this', [host('manual')]);
    delete (manual.metadata as { annotations?: unknown }).annotations;
    env.api.create(manual as never);
    await waitFor(
      async () => /certkeeper_findings\{code="SecretMissing",severity="error"\} 1/.test((await httpGet(svc.adminPort, '/metrics')).body),
      10_000,
      () => `the audit finding never reached /metrics:\n${svc.out().slice(-1500)}`,
    );
    expect((await httpGet(svc.adminPort, '/readyz')).status).toBe(200);
    // Past the CA's ARI window (days 59 to 61 of a 90-day classic certificate), the next tick renews.
    await writeFile(join(dir, 'clock'), '62d');
    const renewed = await waitFor(
      () => {
        const c = secretCert('svc', 'web-tls');
        return c && c.serial !== first.serial ? c : undefined;
      },
      20_000,
      () => `not renewed:\n${svc.out().slice(-3000)}`,
    );
    expect(renewed.sans).toEqual([h]);
    await writeFile(join(dir, 'clock'), '0s');
    await stop(svc);
    expect(await svc.exited).toBe(0);
  });

  it('runs passes only on the leader while every replica answers challenges, and hands over on SIGTERM', async () => {
    env.api.ensureNamespace('ha');
    // Like the chart's Service, a balancer on the challenge port spreads connections over the replicas.
    const a = await startService('replica-a', [], { httpPort: 0 });
    const b = await startService('replica-b', [], { httpPort: 0 });
    const lb = await startBalancer(env.pebble.httpPort, [a.challengePort, b.challengePort]);
    balancers.push(lb);
    const holder = () => (env.api.get(LEASES, 'certkeeper', 'certkeeper-leader') as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity;
    const leader = await waitFor(() => holder(), 10_000, () => 'no leader elected');
    expect(['replica-a', 'replica-b']).toContain(leader);
    // Both answer a published token from the shared ConfigMap.
    const token = `tok${randomUUID().replace(/-/g, '')}`;
    const cm = env.api.get(CONFIGMAPS, 'certkeeper', 'certkeeper-challenges') as { data?: Record<string, string> } | undefined;
    env.api.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'certkeeper', name: 'certkeeper-challenges' }, data: { ...(cm?.data ?? {}), [token]: `${token}.thumb` } } as never);
    for (const r of [a, b]) {
      const got = await waitFor(
        async () => {
          const res = await httpGet(r.challengePort, `/.well-known/acme-challenge/${token}`);
          return res.status === 200 ? res : undefined;
        },
        5_000,
        () => 'a replica did not serve the token',
      );
      expect(got.body).toBe(`${token}.thumb`);
    }
    const [lead, follower] = leader === 'replica-a' ? [a, b] : [b, a];
    await waitFor(() => lead.out().includes('pass finished'), 10_000, () => 'the leader ran no pass');
    expect(follower.out()).not.toContain('pass finished');
    expect(follower.out()).not.toContain('became leader');
    // SIGTERM on the leader hands the lease over at once; the follower takes over and runs passes.
    await stop(lead);
    expect(await lead.exited).toBe(0);
    await waitFor(() => holder() === (leader === 'replica-a' ? 'replica-b' : 'replica-a'), 10_000, () => `lease still held by ${holder()}`);
    env.api.create(ingress('ha', 'web', 'web-tls', [host('ha')]));
    await waitFor(() => secretCert('ha', 'web-tls'), 20_000, () => `the new leader issued nothing:\n${follower.out().slice(-2000)}`);
    await stop(follower);
    await new Promise((r) => lb.close(r));
    balancers.splice(balancers.indexOf(lb), 1);
  });

  describe('alerts', () => {
    let hook: WebhookReceiver;
    let smtp: SmtpReceiver;
    beforeAll(async () => {
      hook = await startWebhookReceiver();
      smtp = await startSmtpReceiver();
    });
    afterAll(async () => {
      await hook?.close();
      await smtp?.close();
    });

    it('alerts once when renewals keep failing, and once more when it clears', async () => {
      env.api.ensureNamespace('alerting');
      const svc = await startService('alerter', [
        '--leader-election', 'false',
        '--namespace', 'alerting',
        '--webhook-url', hook.url,
        '--smtp-host', '127.0.0.1',
        '--smtp-port', String(smtp.port),
        '--smtp-security', 'none',
        '--smtp-from', 'certkeeper@example.com',
        '--smtp-to', 'oncall@example.com',
      ]);
      await env.proxy.down();
      try {
        env.api.create(ingress('alerting', 'web', 'web-tls', [host('alert')]));
        const failures = () => {
          const cm = env.api.get(CONFIGMAPS, 'certkeeper', 'certkeeper-state') as { data?: Record<string, string> } | undefined;
          const rec = cm?.data?.['failure.alerting.web-tls'];
          return rec ? (JSON.parse(rec) as { failures: number }).failures : 0;
        };
        await waitFor(() => failures() === 1, 15_000, () => `no failure recorded:\n${svc.out().slice(-2000)}`);
        // Each backoff step is waited out by moving the clock: 1 h, then 2 h more.
        await writeFile(join(dir, 'clock'), '61m');
        await waitFor(() => failures() === 2, 15_000, () => 'no second failure');
        await writeFile(join(dir, 'clock'), '182m');
        await waitFor(() => failures() === 3, 15_000, () => 'no third failure');
        const firing = await waitFor(
          () => {
            const got = hook.requests.filter((r) => (r.json as { code?: string; status?: string })?.code === 'IssuanceFailing');
            return got.length > 0 ? got : undefined;
          },
          10_000,
          () => `no IssuanceFailing webhook:\n${JSON.stringify(hook.requests.map((r) => r.json))}`,
        );
        // A few more passes: still exactly one firing notification per channel.
        await new Promise((r) => setTimeout(r, 2500));
        const fired = hook.requests.filter((r) => (r.json as { code?: string; status?: string })?.code === 'IssuanceFailing' && (r.json as { status?: string }).status === 'firing');
        expect(fired).toHaveLength(1);
        expect(firing[0]?.json).toMatchObject({ status: 'firing', level: 'critical', code: 'IssuanceFailing' });
        expect(JSON.stringify(firing[0]?.json)).toContain('alerting/web-tls');
        const mails = smtp.mails.filter((m) => m.subject.includes('IssuanceFailing'));
        expect(mails).toHaveLength(1);
        expect(mails[0]?.subject).toMatch(/CRITICAL/);
        expect(mails[0]?.text).toContain('cannot reach the ACME server');
      } finally {
        await env.proxy.up();
      }
      // The CA is back and the next attempt (after the 4 h backoff) succeeds: one resolved message.
      await writeFile(join(dir, 'clock'), '8h');
      await waitFor(() => secretCert('alerting', 'web-tls'), 20_000, () => `never issued after recovery:\n${svc.out().slice(-2000)}`);
      await waitFor(
        () => hook.requests.some((r) => (r.json as { code?: string; status?: string })?.code === 'IssuanceFailing' && (r.json as { status?: string }).status === 'resolved'),
        10_000,
        () => 'no resolved webhook',
      );
      await waitFor(() => smtp.mails.filter((m) => m.subject.includes('IssuanceFailing')).length === 2, 10_000, () => 'no resolved mail');
      expect(svc.out()).not.toContain(hook.url);
      await writeFile(join(dir, 'clock'), '0s');
      await stop(svc);
    });
  });

  it('sums unknown challenge tokens up in one line, caps connections with --http-max-connections, and exits within 10 s of SIGTERM', async () => {
    const svc = await startService('responder', ['--leader-election', 'false', '--namespace', 'nothing-here', '--http-max-connections', '2'], { httpPort: 0 });
    for (let i = 0; i < 5; i++) expect((await httpGet(svc.challengePort, `/.well-known/acme-challenge/unknown${i}`)).status).toBe(404);
    // Two idle connections fill the cap; a third is closed unanswered.
    const opened = (): Promise<Socket> =>
      new Promise((resolve) => {
        const sock = connect(svc.challengePort, '127.0.0.1', () => resolve(sock));
      });
    const held = [await opened(), await opened()];
    const extra = await opened();
    const got = await new Promise<string>((resolve) => {
      let data = '';
      extra.on('data', (c: Buffer) => (data += c.toString('latin1')));
      extra.on('error', () => undefined);
      extra.on('close', () => resolve(data));
    });
    expect(got).toBe('');
    for (const sock of held) sock.destroy();
    const signalled = Date.now();
    await stop(svc);
    expect(await svc.exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    // No line per unknown token: one summary, written at shutdown for the partial interval.
    const lines = svc.out().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => String(l['msg']).includes('unknown'))).toEqual([expect.objectContaining({ unknownTokenRequests: 5, msg: expect.stringMatching(/^5 requests for unknown tokens in the last \d+ s from 1 address/) })]);
  });

  it('refuses a schedule too sparse for the shortest certificates, with the reason', async () => {
    const child = spawn(process.execPath, [CLI, 'run', '--kubeconfig', env.kubeconfig, '--schedule', '0 3 * * *'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(2);
    expect(err).toContain('leaves up to 24 h between passes');
    expect(err).toContain('run at least every 20 hours');
  });
});
