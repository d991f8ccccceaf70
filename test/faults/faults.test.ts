// The fault suite (`npm run test:faults`, also part of `npm test`): real `renew` and `run`
// processes against the in-process Kubernetes API with injected faults and Pebble (5 % nonce
// rejection, 30 % in one scenario), one scenario per way production fails. Each scenario ends
// with the same checks (harness.ts: orders and certificates as Pebble counts them, whole Secrets,
// untouched foreign Secrets, no leftovers, truthful exit codes) and adds a row to the table
// printed at the end (and written to .tmp/fault-suite.md; docs/reliability.md has a real run).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkoutRoot } from '../support/checkout.js';
import { startClusterEnv, type ClusterEnv } from '../support/cluster-env.js';
import type { Outage } from '../support/kube-api/faults.js';
import { hang, startSmtpReceiver, startWebhookReceiver } from '../support/receivers.js';
import { CONFIGMAPS, FaultScenario, LEASES, seconds, startBalancer, startRun, table, waitFor, type Row, type RunProcess } from './harness.js';

const rows: Row[] = [];
let env: ClusterEnv;

/** The scenario's hosts, as Pebble's validator asks DNS for them. */
const ours = (s: FaultScenario, name: string): boolean => s.targets.some((t) => t.hosts.includes(name.replace(/\.$/, '')));
/** Past each backoff step (1 h, 2 h, 4 h, 8 h after the previous attempt), with a margin. */
const LATER = [['--clock-offset', '61m'], ['--clock-offset', '3h5m'], ['--clock-offset', '7h10m'], ['--clock-offset', '15h15m']];
const WRITES = ['POST', 'PUT', 'PATCH'];

beforeAll(async () => {
  env = await startClusterEnv();
});

afterAll(async () => {
  if (rows.length > 0) {
    const text = table(rows);
    // The table is the point of the suite: shown with the test output, and kept for docs/reliability.md.
    console.log(`\nfault suite, ${new Date().toISOString()}:\n\n${text}`);
    const dir = join(checkoutRoot(), '.tmp');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'fault-suite.md'), text);
  }
  await env?.close();
});

describe.sequential('fault suite', () => {
  it('Secret writes refused by RBAC (403), every time: the issued certificates are kept and written once allowed, never ordered again', async () => {
    const s = new FaultScenario('Secret writes 403 (RBAC), 100 %', env, 'f-rbac', 2);
    const rule = env.api.faults.add({ method: WRITES, resource: 'secrets', namespace: s.namespace, fault: { type: 'forbidden' } });
    try {
      const first = await s.renew();
      expect(first.code).toBe(1);
      expect(first.json?.certificates.map((c) => c.reason)).toEqual(['SecretWriteFailed', 'SecretWriteFailed']);
      expect(first.json?.certificates[0]?.message).toContain('create secrets → 403 Forbidden, refused by RBAC');
      expect(first.json?.findings.filter((f) => f.code === 'SecretWriteFailed')).toHaveLength(2);
      expect(s.keptCertificates()).toHaveLength(2);
      const waiting = await s.renew();
      expect(waiting.json).toMatchObject({ ordersPlaced: 0, secretsWritten: 0 });
      const retried = await s.renew(LATER[0]);
      expect(retried.json?.ordersPlaced).toBe(0);
      expect(retried.json?.certificates.map((c) => c.failure?.failures)).toEqual([2, 2]);
    } finally {
      rule.remove();
    }
    const fixed = await s.renew(['--clock-offset', '4h']);
    expect(fixed.json).toMatchObject({ ok: true, ordersPlaced: 0, secretsWritten: 2 });
    rows.push(s.finish({ maxOrders: 2 }));
  });

  it('every Secret write refused, certkeeper\'s own namespace too: nothing can be kept, so the backoff alone bounds the orders', async () => {
    const s = new FaultScenario('Secret writes 403 everywhere (nothing can be kept)', env, 'f-locked', 1);
    const rule = env.api.faults.add({ method: WRITES, resource: 'secrets', fault: { type: 'forbidden' } });
    try {
      const first = await s.renew();
      expect(first.json?.certificates[0]?.reason).toBe('SecretWriteFailed');
      expect(first.json?.certificates[0]?.message).toContain('could not be kept either, so the next attempt');
      expect((await s.renew()).json?.ordersPlaced).toBe(0);
      // The backoff allows one more order an hour later, and it fails the same way.
      expect((await s.renew(LATER[0])).json?.ordersPlaced).toBe(1);
    } finally {
      rule.remove();
    }
    expect((await s.renew(['--clock-offset', '4h'])).code).toBe(0);
    rows.push(s.finish({ maxOrders: 3, wasted: 2 }));
  });

  it('Secret writes refused by an admission webhook half of the time: each Target ordered once', async () => {
    const s = new FaultScenario('Secret writes 403 (admission webhook), 50 %', env, 'f-webhook', 4);
    const rule = env.api.faults.add({
      method: WRITES,
      resource: 'secrets',
      namespace: s.namespace,
      fault: { type: 'admission', webhook: 'require-team-label.policy.example', message: 'Secrets must carry the label "team"' },
      probability: 0.5,
      seed: 17,
    });
    try {
      for (const extra of [[], ...LATER]) if ((await s.renew(extra)).validAfter) break;
    } finally {
      rule.remove();
    }
    if (!s.allValid()) await s.renew(['--clock-offset', '40h']);
    expect(rule.injected).toBeGreaterThan(0);
    const refused = s.runs.flatMap((r) => r.json?.certificates ?? []).filter((c) => c.reason === 'SecretWriteFailed');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]?.message).toContain('refused by admission webhook');
    expect(refused[0]?.hint).toContain('the admission webhook "require-team-label.policy.example" refuses');
    rows.push(s.finish({ maxOrders: 4 }));
  });

  it('Secret writes answered 500 every time: the adapter retries, then the kept certificate waits out the backoff', async () => {
    const s = new FaultScenario('Secret writes 500, 100 %', env, 'f-500', 2);
    const rule = env.api.faults.add({ method: WRITES, resource: 'secrets', namespace: s.namespace, fault: { type: 'status', code: 500 } });
    try {
      const first = await s.renew();
      expect(first.json?.certificates.map((c) => c.reason)).toEqual(['SecretWriteFailed', 'SecretWriteFailed']);
      expect(first.json?.certificates[0]?.message).toMatch(/create secrets → 500 InternalError.*\(4 attempts in/);
      expect((await s.renew(LATER[0])).json?.ordersPlaced).toBe(0);
    } finally {
      rule.remove();
    }
    expect((await s.renew(['--clock-offset', '4h'])).json).toMatchObject({ ok: true, ordersPlaced: 0, secretsWritten: 2 });
    rows.push(s.finish({ maxOrders: 2 }));
  });

  it('Secret writes answered 500 half of the time: retries absorb it', async () => {
    const s = new FaultScenario('Secret writes 500, 50 %', env, 'f-500-half', 4);
    const rule = env.api.faults.add({ method: WRITES, resource: 'secrets', namespace: s.namespace, fault: { type: 'status', code: 500 }, probability: 0.5, seed: 5 });
    try {
      for (const extra of [[], ...LATER]) if ((await s.renew(extra)).validAfter) break;
    } finally {
      rule.remove();
    }
    if (!s.allValid()) await s.renew(['--clock-offset', '40h']);
    expect(rule.injected).toBeGreaterThan(0);
    rows.push(s.finish({ maxOrders: 4 }));
  });

  it('10 % of connections to the API dropped, before reads and after writes were applied', async () => {
    const s = new FaultScenario('10 % of API connections dropped', env, 'f-drops', 4);
    const reads = env.api.faults.add({ method: 'GET', path: '/ap', fault: { type: 'drop' }, probability: 0.1, seed: 3 });
    const writes = env.api.faults.add({ method: [...WRITES, 'DELETE'], path: '/ap', fault: { type: 'drop', when: 'after' }, probability: 0.1, seed: 4 });
    try {
      for (const extra of [[], ...LATER]) if ((await s.renew(extra)).validAfter) break;
    } finally {
      reads.remove();
      writes.remove();
    }
    expect(reads.injected + writes.injected).toBeGreaterThan(0);
    rows.push(s.finish({ maxOrders: 4 }));
  });

  it('the Kubernetes API goes down mid-pass: renew stops every Target within seconds and the next pass cleans up', async () => {
    // 30 s, three times the adapter's whole retry budget (10 s): no retry can bridge it.
    const OUTAGE_MS = 30_000;
    const s = new FaultScenario(`API down ${OUTAGE_MS / 1000} s mid-pass`, env, 'f-outage', 3);
    let outage: Outage | undefined;
    let began: number | undefined;
    env.onValidation.hook = (name) => {
      if (outage || !ours(s, name)) return;
      began = Date.now();
      outage = env.api.faults.outage({ mode: 'refuse', durationMs: OUTAGE_MS });
    };
    let cut;
    try {
      cut = await s.startRenew(['--concurrency', '1', '--lease-duration', '6s']).finish(() => began);
    } finally {
      env.onValidation.hook = undefined;
    }
    expect(outage).toBeDefined();
    expect(cut.code, cut.stderr).toBe(1);
    expect(cut.json?.stopped).toMatch(/cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:\d+ to .*ECONNREFUSED/);
    // The order under way was abandoned before finalize (no certificate nobody could store), and
    // no other order started after the decision to stop.
    expect(cut.json).toMatchObject({ ordersPlaced: 1, certificatesIssued: 0 });
    expect(cut.json?.certificates.map((c) => c.reason)).toEqual(['PassStopped', 'PassStopped', 'PassStopped']);
    expect(cut.stderr).toMatch(/certkeeper: the pass stopped: cannot reach the Kubernetes API.*; left undone: f-outage\/site-0-tls, f-outage\/site-1-tls, f-outage\/site-2-tls/);
    expect(cut.exitAfterMs).toBeLessThan(10_000);
    await outage?.ended;
    const next = await s.renew();
    expect(next.code, next.stderr).toBe(0);
    expect(next.json?.garbageCollected.length).toBeGreaterThan(0);
    rows.push(s.finish({ maxOrders: 4, timeToExit: `${seconds(cut.exitAfterMs ?? 0)} after the API went down` }));
    // The scenario itself lasts the 30 s outage; the default 60 s would leave too little for the rest.
  }, 120_000);

  it('SIGKILL after finalize, before the Secret is written: the next pass writes the kept certificate, no new order', async () => {
    const s = new FaultScenario('SIGKILL after finalize, before the write', env, 'f-kill', 1);
    // The Secret's create never gets an answer: the process is between "issued" and "written".
    const rule = env.api.faults.add({ verb: 'create', resource: 'secrets', namespace: s.namespace, fault: { type: 'hang' } });
    const running = s.startRenew(['--lease-duration', '6s']);
    let killedAt: number | undefined;
    try {
      await waitFor(() => rule.injected > 0, 30_000, () => 'the Secret write never started');
      expect(s.keptCertificates()).toHaveLength(1);
      killedAt = Date.now();
      running.child.kill('SIGKILL');
      const killed = await running.finish(() => killedAt);
      expect(killed.signal).toBe('SIGKILL');
    } finally {
      rule.remove();
    }
    const next = await s.renew(['--lease-duration', '6s']);
    expect(next.code, next.stderr).toBe(0);
    expect(next.json).toMatchObject({ ordersPlaced: 0, certificatesIssued: 0, secretsWritten: 1 });
    expect(next.json?.certificates[0]?.message).toMatch(/from the certificate kept since/);
    rows.push(s.finish({ maxOrders: 1, timeToExit: 'SIGKILL' }));
  });

  it('two run replicas, the leader killed mid-pass: the other takes over, cleans up and issues; SIGTERM ends it within 10 s', async () => {
    const ns = 'f-ha';
    const flags = ['--namespace', ns, '--leader-lease-duration', '3s', '--lease-duration', '6s', '--concurrency', '1'];
    const replicas: RunProcess[] = [];
    let lb: Server | undefined;
    try {
      replicas.push(await startRun(env, 'replica-a', flags), await startRun(env, 'replica-b', flags));
      lb = await startBalancer(env.pebble.httpPort, () => replicas.map((r) => r.challengePort));
      const leaderName = () => env.api.get<{ spec: { holderIdentity?: string } }>(LEASES, 'certkeeper', 'certkeeper-leader')?.spec.holderIdentity;
      await waitFor(() => leaderName(), 15_000, () => 'no leader elected');
      const s = new FaultScenario('2 run replicas, leader SIGKILLed mid-pass', env, ns, 3);
      let killed: RunProcess | undefined;
      env.onValidation.hook = (name) => {
        if (killed || !ours(s, name)) return;
        killed = replicas[leaderName() === 'replica-a' ? 0 : 1];
        killed?.child.kill('SIGKILL');
      };
      try {
        await waitFor(() => killed, 30_000, () => 'the leader never started an order');
        await waitFor(() => s.allValid(), 45_000, () => `the other replica did not issue:\n${replicas.map((r) => r.out().slice(-2000)).join('\n---\n')}`);
      } finally {
        env.onValidation.hook = undefined;
      }
      const survivor = replicas.find((r) => r !== killed) as RunProcess;
      const dead = await (killed as RunProcess).exited;
      s.record({ kind: 'run', code: dead.code, signal: dead.signal, ms: 0, stdout: '', stderr: '' });
      expect(survivor.out()).toMatch(/taking over an expired lease/);
      expect(survivor.out()).toMatch(/removed \d+ leftover solver object/);
      const signalled = Date.now();
      survivor.child.kill('SIGTERM');
      const ended = await survivor.exited;
      s.record({ kind: 'run', code: ended.code, signal: ended.signal, ms: 0, exitAfterMs: ended.at - signalled, stdout: survivor.out(), stderr: '' });
      expect(ended.code).toBe(0);
      expect(ended.at - signalled).toBeLessThan(10_000);
      s.runPasses = replicas.reduce((n, r) => n + (r.out().match(/"msg":"pass finished"/g) ?? []).length, 0);
      rows.push(s.finish({ maxOrders: 4, timeToExit: `${seconds(ended.at - signalled)} after SIGTERM (survivor)` }));
    } finally {
      for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
      await new Promise((r) => (lb ? lb.close(r) : r(undefined)));
    }
  });

  it('Pebble rejecting 30 % of nonces: acme-client retries badNonce, every certificate issued with one order', async () => {
    const noisy = await startClusterEnv({ pebble: { nonceRejectPercent: 30 } });
    try {
      expect(noisy.pebble.output()).toContain('Configured to reject 30% of good nonces');
      const s = new FaultScenario('Pebble rejects 30 % of nonces', noisy, 'f-nonce', 3);
      const r = await s.renew();
      expect(r.code, r.stderr).toBe(0);
      rows.push(s.finish({ maxOrders: 3 }));
    } finally {
      await noisy.close();
    }
  });

  it('the CA goes down mid-order: the failure is recorded, the backoff holds, the retry after it issues', async () => {
    const s = new FaultScenario('CA down mid-order', env, 'f-ca', 2);
    let down = false;
    env.onValidation.hook = (name) => {
      if (down || !ours(s, name)) return;
      down = true;
      void env.proxy.down();
    };
    try {
      const first = await s.renew(['--concurrency', '1']);
      expect(first.code).toBe(1);
      expect(first.json?.certificates.map((c) => c.reason)).toEqual(['IssuanceFailed', 'IssuanceFailed']);
      expect(first.json?.certificates[0]?.message).toMatch(/cannot reach the ACME server/);
    } finally {
      env.onValidation.hook = undefined;
      await env.proxy.up();
    }
    const waiting = await s.renew();
    expect(waiting.json?.ordersPlaced).toBe(0);
    expect(waiting.stdout).toMatch(/"reason": "InBackoff"/);
    expect((await s.renew(LATER[0])).code).toBe(0);
    // 2 certificates needed, plus the order the CA's outage broke, retried after the backoff.
    rows.push(s.finish({ maxOrders: 3 }));
  });

  it('a renew told to stop (SIGTERM) during validation: exits within seconds, abandons the order, leaves nothing', async () => {
    const s = new FaultScenario('SIGTERM to renew during validation', env, 'f-sigterm', 1);
    const running = s.startRenew();
    let signalled: number | undefined;
    env.onValidation.hook = (name) => {
      if (signalled !== undefined || !ours(s, name)) return;
      signalled = Date.now();
      running.child.kill('SIGTERM');
    };
    let stopped;
    try {
      stopped = await running.finish(() => signalled);
    } finally {
      env.onValidation.hook = undefined;
    }
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.json).toMatchObject({ stopped: 'received SIGTERM', certificatesIssued: 0 });
    expect(stopped.exitAfterMs).toBeLessThan(5_000);
    expect(s.leftovers()).toEqual([]);
    const next = await s.renew();
    expect(next.code, next.stdout + next.stderr).toBe(0);
    rows.push(s.finish({ maxOrders: 2, timeToExit: `${seconds(stopped.exitAfterMs ?? 0)} after SIGTERM` }));
  });

  it('webhook and SMTP endpoints that hang: run exits within 10 s of SIGTERM, and what they owed goes out after the restart', async () => {
    const s = new FaultScenario('webhook and SMTP hang, then SIGTERM', env, 'f-alerts', 1);
    const hook = await startWebhookReceiver({ responder: hang });
    const smtp = await startSmtpReceiver({ hang: 'greeting' });
    const channels = (h: { url: string }, port: number) => [
      '--leader-election', 'false',
      '--namespace', s.namespace,
      '--http-port', String(env.pebble.httpPort),
      '--webhook-url', h.url,
      '--smtp-host', '127.0.0.1',
      '--smtp-port', String(port),
      '--smtp-security', 'none',
      '--smtp-from', 'certkeeper@example.com',
      '--smtp-to', 'oncall@example.com',
    ];
    let run: RunProcess | undefined;
    try {
      run = await startRun(env, 'alerter', channels(hook, smtp.port));
      // The first pass issues, its audit finds the hand-made manual-tls without a key, and the
      // alert's delivery hangs on both channels.
      await waitFor(() => s.allValid() && hook.requests.length > 0 && smtp.connections > 0, 30_000, () => `no hanging delivery:\n${run?.out().slice(-2000)}`);
      const signalled = Date.now();
      run.child.kill('SIGTERM');
      const ended = await run.exited;
      s.record({ kind: 'run', code: ended.code, signal: ended.signal, ms: 0, exitAfterMs: ended.at - signalled, stdout: run.out(), stderr: '' });
      s.runPasses += (run.out().match(/"msg":"pass finished"/g) ?? []).length;
      expect(ended.code).toBe(0);
      expect(ended.at - signalled).toBeLessThan(10_000);
      // What the hanging channels did not deliver is still owed in the saved alert state.
      const state = JSON.parse(env.api.get<{ data?: Record<string, string> }>(CONFIGMAPS, 'certkeeper', 'certkeeper-state')?.data?.['alerts.json'] ?? '{}') as {
        alerts?: Record<string, { code: string; delivered: Record<string, unknown> }>;
      };
      const owed = Object.values(state.alerts ?? {}).filter((a) => a.code === 'SecretKeysMissing');
      expect(owed.length).toBeGreaterThan(0);
      expect(owed.every((a) => !a.delivered.webhook && !a.delivered.email)).toBe(true);

      // After the restart, with endpoints that answer, the owed alert goes out on both channels.
      const hook2 = await startWebhookReceiver();
      const smtp2 = await startSmtpReceiver();
      try {
        run = await startRun(env, 'alerter', channels(hook2, smtp2.port));
        await waitFor(
          () => hook2.requests.some((r) => (r.json as { code?: string })?.code === 'SecretKeysMissing') && smtp2.mails.some((m) => m.subject.includes('SecretKeysMissing')),
          30_000,
          () => `the owed alert was not delivered after the restart:\n${run?.out().slice(-2000)}`,
        );
        const again = Date.now();
        run.child.kill('SIGTERM');
        const second = await run.exited;
        s.record({ kind: 'run', code: second.code, signal: second.signal, ms: 0, exitAfterMs: second.at - again, stdout: run.out(), stderr: '' });
        s.runPasses += (run.out().match(/"msg":"pass finished"/g) ?? []).length;
        rows.push(s.finish({ maxOrders: 1, timeToExit: `${seconds(ended.at - signalled)} after SIGTERM (deliveries hanging)` }));
      } finally {
        await hook2.close();
        await smtp2.close();
      }
    } finally {
      if (run && run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
      await hook.close();
      await smtp.close();
    }
  });
});
