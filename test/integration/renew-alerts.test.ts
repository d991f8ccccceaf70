// CronJob mode: every `certkeeper renew` is a new process, and with a webhook configured it sends
// the service's alerts with the same once-per-level state, kept in the certkeeper-state ConfigMap.
// NoSuccessfulPass counts from the history stored there, since no process lives between Jobs.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCert } from '../support/certs.js';
import { ingress, startClusterEnv, type ClusterEnv } from '../support/cluster-env.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receivers.js';

const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const CONFIGMAPS = { group: '', version: 'v1', resource: 'configmaps' };

let env: ClusterEnv;
let hook: WebhookReceiver;

interface Sent {
  status: string;
  code: string;
  level: string;
  object: { namespace: string | null; name: string };
}

beforeAll(async () => {
  env = await startClusterEnv();
  hook = await startWebhookReceiver();
});
afterAll(async () => {
  await hook?.close();
  await env?.close();
});

describe('certkeeper renew with alert channels (CronJob mode)', () => {
  it('alerts once per level across separate runs, raises NoSuccessfulPass from the stored history, and resolves both', async () => {
    env.api.ensureNamespace('cron');
    const h = `cron-${randomUUID().slice(0, 8)}.example.test`;
    env.api.create(ingress('cron', 'web', 'web-tls', [h]));
    // A hand-made Secret under an opted-in Ingress: renew refuses it, every run.
    const cert = createCert({ subject: h, sans: [h], validDays: 365, keySlot: 'renew-alerts' });
    env.api.create({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { namespace: 'cron', name: 'web-tls' },
      data: { 'tls.crt': Buffer.from(cert.chain).toString('base64'), 'tls.key': Buffer.from(cert.key).toString('base64') },
    });
    const alerting = ['--webhook-url', hook.url, '--schedule', '7 * * * *'];
    const sent = (): Sent[] => hook.requests.map((r) => r.json as Sent);

    // Job 1: the refusal alerts.
    const first = await env.renew(alerting);
    expect(first.code, first.stderr).toBe(1);
    expect(sent().map((s) => `${s.status} ${s.code} ${s.level}`)).toEqual(['firing SecretNotManaged warning']);
    expect(sent()[0]?.object).toEqual({ kind: 'Secret', namespace: 'cron', name: 'web-tls' });

    // Job 2, a new process: the same alert is still firing, and is not sent again.
    const second = await env.renew(alerting);
    expect(second.code, second.stderr).toBe(1);
    expect(hook.requests).toHaveLength(1);

    // Job 3, three hours on with no pass succeeding: two hourly intervals have gone by.
    const third = await env.renew([...alerting, '--clock-offset', '3h']);
    expect(third.code, third.stderr).toBe(1);
    expect(sent().slice(1).map((s) => `${s.status} ${s.code} ${s.level}`)).toEqual(['firing NoSuccessfulPass warning']);

    // Hand the Secret over: Job 4 issues, and both alerts clear in that run.
    env.api.delete(SECRETS, 'cron', 'web-tls');
    const fourth = await env.renew([...alerting, '--clock-offset', '3h']);
    expect(fourth.code, fourth.stderr).toBe(0);
    expect(sent().slice(2).map((s) => `${s.status} ${s.code}`).sort()).toEqual(['resolved NoSuccessfulPass', 'resolved SecretNotManaged']);
    const state = env.api.get(CONFIGMAPS, 'certkeeper', 'certkeeper-state') as { data?: Record<string, string> } | undefined;
    expect(Date.parse(state?.data?.['pass.last-success'] ?? '')).toBeGreaterThan(Date.now() + 2 * 3_600_000);

    // A --dry-run and a renew without channels send nothing.
    await env.renew([...alerting, '--dry-run']);
    await env.renew([]);
    expect(hook.requests).toHaveLength(4);
  });
});
