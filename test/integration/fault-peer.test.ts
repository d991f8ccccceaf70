// The fault peers themselves, proven with clients nobody here wrote: kubectl 1.34 and
// @kubernetes/client-node against the in-process API's fault injector, fetch and nodemailer
// against the hanging receivers, and raw JWS requests against Pebble's nonce rejection. If these
// hold, a retry test that passes against the fault peer says something about real outages.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { Agent, request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiException, CoreV1Api, Observable, type ConfigurationOptions, type V1Secret } from '@kubernetes/client-node';
import nodemailer from 'nodemailer';
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';
import { runKubectl } from '../support/kubectl.js';
import { startPebble } from '../support/pebble.js';
import { hang, startSmtpReceiver, startWebhookReceiver } from '../support/receivers.js';

const secret = (name: string, namespace: string): V1Secret => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'Opaque', stringData: { k: 'v' } });

/** A per-request deadline through client-node's middleware, as an adapter would set one. */
const deadline = (ms: number): ConfigurationOptions => ({
  middleware: [
    {
      pre: (ctx) => {
        ctx.setSignal(AbortSignal.timeout(ms));
        return new Observable(Promise.resolve(ctx));
      },
      post: (ctx) => new Observable(Promise.resolve(ctx)),
    },
  ],
  middlewareMergeStrategy: 'append',
});

/** The settled outcome of a client-node call: 'ok', the HTTP code, or the transport error's code/name. */
async function outcome(p: Promise<unknown>): Promise<string | number> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof ApiException) return e.code;
    const err = e as { code?: string; name?: string; type?: string };
    return err.code ?? err.type ?? err.name ?? String(e);
  }
}

describe('Kubernetes API faults, seen by kubectl', () => {
  let api: KubeApi;
  let dir: string;
  let kubeconfig: string;
  const kubectl = (args: string[]) => runKubectl(args, { kubeconfig });

  beforeAll(async () => {
    api = await startKubeApi({ namespaces: ['shop', 'blog'] });
    dir = await mkdtemp(join(tmpdir(), 'certkeeper-faults-'));
    kubeconfig = join(dir, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig, { namespace: 'shop' });
    api.create(secret('present', 'shop'));
    // Warm kubectl's discovery cache, so the faults below hit the request under test.
    expect((await kubectl(['get', 'secrets'])).code).toBe(0);
  });
  afterAll(async () => {
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await api.faults.clear();
  });

  it('denies writes to Secrets in one namespace with the RBAC wording, and only there', async () => {
    api.faults.add({ method: ['PUT', 'POST', 'PATCH'], resource: 'secrets', namespace: 'shop', fault: { type: 'forbidden' } });
    const denied = await kubectl(['create', 'secret', 'generic', 'web-tls', '--from-literal=a=b']);
    expect(denied.code).toBe(1);
    expect(denied.stderr.trim()).toBe(
      'error: failed to create secret secrets is forbidden: User "system:serviceaccount:certkeeper:certkeeper" cannot create resource "secrets" in API group "" in the namespace "shop"',
    );
    expect((await kubectl(['create', 'secret', 'generic', 'web-tls', '-n', 'blog', '--from-literal=a=b'])).code).toBe(0);
    expect((await kubectl(['get', 'secret', 'present', '-o', 'name'])).stdout.trim()).toBe('secret/present');
    expect(api.faults.count({ type: 'forbidden', verb: 'create', namespace: 'shop' })).toBe(1);
  });

  it('rejects a create the way an admission webhook does, with its message', async () => {
    api.faults.add({
      verb: 'create',
      resource: 'secrets',
      fault: { type: 'admission', webhook: 'validate.kyverno.svc-fail', message: 'policy require-labels: label "team" is required' },
    });
    const applied = await runKubectl(['apply', '-f', '-'], {
      kubeconfig,
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'no-team' }, stringData: { a: 'b' } }),
    });
    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain(
      'admission webhook "validate.kyverno.svc-fail" denied the request: policy require-labels: label "team" is required',
    );
    expect(applied.stderr).not.toContain('(Forbidden)');
    expect(api.get('secrets', 'shop', 'no-team')).toBeUndefined();
  });

  it('answers 429 with Retry-After, which kubectl waits out and retries', async () => {
    const rule = api.faults.add({ verb: 'get', resource: 'secrets', name: 'present', fault: { type: 'status', code: 429, retryAfterSeconds: 1 }, count: 1 });
    api.resetRequests();
    const started = performance.now();
    const r = await kubectl(['get', 'secret', 'present', '-o', 'name']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('secret/present');
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(api.requests.filter((q) => q.verb === 'get' && q.name === 'present').map((q) => q.status)).toEqual([429, 200]);
    expect(rule.injected).toBe(1);
    expect(rule.active).toBe(false);
  });

  it('hangs a request until kubectl\'s own --request-timeout ends it', async () => {
    api.faults.add({ verb: 'get', resource: 'secrets', fault: { type: 'hang' } });
    const r = await kubectl(['get', 'secret', 'present', '--request-timeout=1s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Client\.Timeout exceeded|context deadline exceeded|timeout/i);
    expect(api.faults.count({ type: 'hang' })).toBeGreaterThanOrEqual(1);
  });

  it('answers 503 to everything during an outage window, then serves again', async () => {
    const outage = api.faults.outage({ mode: 'unavailable', durationMs: 60_000 });
    const down = await kubectl(['get', 'secret', 'present']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/ServiceUnavailable|unable to handle the request/);
    await outage.end();
    expect((await kubectl(['get', 'secret', 'present', '-o', 'name'])).stdout.trim()).toBe('secret/present');
  });
});

describe('Kubernetes API faults, seen by client-node', () => {
  let api: KubeApi;
  let core: CoreV1Api;

  beforeAll(async () => {
    api = await startKubeApi({ namespaces: ['shop', 'blog'] });
    core = api.kubeConfig().makeApiClient(CoreV1Api);
    api.create(secret('present', 'shop'));
    api.create(secret('present', 'blog'));
  });
  afterAll(async () => {
    await api?.close();
  });
  afterEach(async () => {
    await api.faults.clear();
    api.faults.resetLog();
    api.resetRequests();
  });

  it('sends each status kind with a Status body and the headers a real server sends', async () => {
    const cases: [Parameters<KubeApi['faults']['add']>[0]['fault'], number, string | undefined, string][] = [
      [{ type: 'status', code: 500 }, 500, 'InternalError', 'Internal error occurred: injected failure'],
      [{ type: 'status', code: 503 }, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request'],
      [{ type: 'status', code: 429, retryAfterSeconds: 3 }, 429, 'TooManyRequests', 'Too many requests, please try again later.'],
      [
        { type: 'forbidden' },
        403,
        'Forbidden',
        'secrets "present" is forbidden: User "system:serviceaccount:certkeeper:certkeeper" cannot get resource "secrets" in API group "" in the namespace "shop"',
      ],
      [{ type: 'admission', webhook: 'gatekeeper', message: 'no' }, 403, undefined, 'admission webhook "gatekeeper" denied the request: no'],
    ];
    for (const [fault, code, reason, message] of cases) {
      const rule = api.faults.add({ verb: 'get', resource: 'secrets', fault, count: 1 });
      const res = await fetch(`${api.url}/api/v1/namespaces/shop/secrets/present`);
      const body = (await res.json()) as { kind: string; status: string; code: number; reason?: string; message: string; details?: { retryAfterSeconds?: number } };
      expect({ status: res.status, kind: body.kind, code: body.code, reason: body.reason, message: body.message }).toEqual({ status: code, kind: 'Status', code, reason, message });
      expect(res.headers.get('content-type')).toBe('application/json');
      if (code === 429) {
        expect(res.headers.get('retry-after')).toBe('3');
        expect(body.details?.retryAfterSeconds).toBe(3);
      }
      expect(rule.injected).toBe(1);
    }
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe('ok');
  });

  it('matches by method, resource and namespace: writes to Secrets in shop fail, reads and blog do not', async () => {
    api.faults.add({ method: ['PUT', 'POST', 'PATCH'], resource: 'secrets', namespace: 'shop', fault: { type: 'status', code: 500 } });
    expect(await outcome(core.createNamespacedSecret({ namespace: 'shop', body: secret('new', 'shop') }))).toBe(500);
    expect(await outcome(core.replaceNamespacedSecret({ namespace: 'shop', name: 'present', body: secret('present', 'shop') }))).toBe(500);
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe('ok');
    expect(await outcome(core.createNamespacedSecret({ namespace: 'blog', body: secret('new', 'blog') }))).toBe('ok');
    expect(await outcome(core.createNamespacedConfigMap({ namespace: 'shop', body: { metadata: { name: 'cm' } } }))).toBe('ok');
    expect(api.faults.count()).toBe(2);
    expect(api.faults.injected.map((i) => `${i.method} ${i.verb} ${i.resource} ${i.namespace} ${i.code}`)).toEqual([
      'POST create secrets shop 500',
      'PUT update secrets shop 500',
    ]);
    // The request log has them too, with what they were.
    expect(api.requests.filter((r) => r.status === 500).map((r) => `${r.verb} ${r.resource}`)).toEqual(['create secrets', 'update secrets']);
  });

  it('fails a seeded share of requests, the same ones on every run', async () => {
    const run = async (probability: number, seed: number): Promise<number[]> => {
      const rule = api.faults.add({ verb: 'get', resource: 'secrets', fault: { type: 'status', code: 503 }, probability, seed });
      const failed: number[] = [];
      for (let i = 0; i < 60; i++) {
        if ((await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))) === 503) failed.push(i);
      }
      expect(rule.matched).toBe(60);
      expect(rule.injected).toBe(failed.length);
      rule.remove();
      return failed;
    };
    // Seeded, so these bounds cannot flake: the same 60 draws come every time.
    const half = await run(0.5, 42);
    expect(half.length).toBeGreaterThan(18);
    expect(half.length).toBeLessThan(42);
    expect(await run(0.5, 42)).toEqual(half);
    expect(await run(0.5, 43)).not.toEqual(half);
    const tenth = await run(0.1, 42);
    expect(tenth.length).toBeGreaterThan(0);
    expect(tenth.length).toBeLessThan(15);
    expect(await run(1, 42)).toHaveLength(60);
  });

  it('changes a rule at runtime and retires it after its count', async () => {
    const rule = api.faults.add({ verb: 'get', resource: 'secrets', fault: { type: 'status', code: 500 } });
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe(500);
    rule.update({ fault: { type: 'status', code: 429, retryAfterSeconds: 1 }, count: 1 });
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe(429);
    expect(rule.active).toBe(false);
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe('ok');
    expect(rule.injected).toBe(2);
  });

  it('drops the connection before the request is applied, or after (the write happened, the answer is lost)', async () => {
    api.faults.add({ verb: 'get', resource: 'secrets', fault: { type: 'drop' }, count: 1 });
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe('ECONNRESET');
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe('ok');

    api.faults.add({ verb: 'create', resource: 'secrets', fault: { type: 'drop' }, count: 1 });
    expect(await outcome(core.createNamespacedSecret({ namespace: 'shop', body: secret('before', 'shop') }))).toBe('ECONNRESET');
    expect(api.get('secrets', 'shop', 'before')).toBeUndefined();

    api.faults.add({ verb: 'create', resource: 'secrets', fault: { type: 'drop', when: 'after' }, count: 1 });
    expect(await outcome(core.createNamespacedSecret({ namespace: 'shop', body: secret('after', 'shop') }))).toBe('ECONNRESET');
    expect(api.get('secrets', 'shop', 'after')).toMatchObject({ metadata: { name: 'after' } });
    // A naive retry of that create now meets its own object.
    expect(await outcome(core.createNamespacedSecret({ namespace: 'shop', body: secret('after', 'shop') }))).toBe(409);
    expect(api.faults.count({ type: 'drop' })).toBe(3);
  });

  it('hangs until the client\'s deadline, before or after applying', async () => {
    api.faults.add({ verb: 'get', resource: 'secrets', fault: { type: 'hang' }, count: 1 });
    const started = performance.now();
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }, deadline(300)))).toBe('aborted');
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);

    api.faults.add({ verb: 'update', resource: 'secrets', fault: { type: 'hang', when: 'after' }, count: 1 });
    const current = await core.readNamespacedSecret({ namespace: 'shop', name: 'present' });
    const changed = { ...current, data: { k: Buffer.from('changed').toString('base64') } };
    expect(await outcome(core.replaceNamespacedSecret({ namespace: 'shop', name: 'present', body: changed }, deadline(300)))).toBe('aborted');
    expect(api.get<V1Secret>('secrets', 'shop', 'present')?.data?.['k']).toBe(Buffer.from('changed').toString('base64'));
    expect(api.faults.count({ type: 'hang' })).toBe(2);
  });

  it('is down for a time window: connections refused, then served again on the same port', async () => {
    const outage = api.faults.outage({ mode: 'refuse', durationMs: 400 });
    const started = performance.now();
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe('ECONNREFUSED');
    await vi.waitFor(async () => expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe('ok'), { timeout: 10_000, interval: 50 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    await outage.ended;
    expect(outage.active).toBe(false);
  });

  it('resets every connection during a reset outage, and counts them', async () => {
    const outage = api.faults.outage({ mode: 'reset' });
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe('ECONNRESET');
    expect(api.faults.count({ type: 'reset' })).toBeGreaterThanOrEqual(1);
    await outage.end();
    expect(await outcome(core.readNamespacedSecret({ namespace: 'shop', name: 'present' }))).toBe('ok');
  });
});

describe('receivers that hang', () => {
  it('a webhook that reads the request and never answers: only the client\'s deadline ends it', async () => {
    const hook = await startWebhookReceiver({ responder: hang });
    try {
      const started = performance.now();
      const pending = fetch(hook.url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(300) }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      // While the client waits, the receiver holds the request open.
      await vi.waitFor(() => expect(hook.requests).toHaveLength(1), { timeout: 5000, interval: 10 });
      expect(hook.openConnections).toBeGreaterThanOrEqual(1);
      const err = await pending;
      expect(err?.name).toBe('TimeoutError');
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(hook.requests).toHaveLength(1);
    } finally {
      await hook.close();
    }
  });

  it('an SMTP relay that accepts the connection and never greets', async () => {
    const relay = await startSmtpReceiver({ hang: 'greeting' });
    try {
      const transport = nodemailer.createTransport({ host: relay.host, port: relay.port, ignoreTLS: true, greetingTimeout: 300, connectionTimeout: 300, socketTimeout: 300 });
      const started = performance.now();
      await expect(transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' })).rejects.toThrow(/Greeting never received/);
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(relay.connections).toBe(1);
      expect(relay.mails).toEqual([]);
    } finally {
      await relay.close();
    }
  });

  it('an SMTP relay that takes the message and never confirms it', async () => {
    const relay = await startSmtpReceiver({ hang: 'data' });
    try {
      const transport = nodemailer.createTransport({ host: relay.host, port: relay.port, ignoreTLS: true, socketTimeout: 300 });
      await expect(transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' })).rejects.toThrow(/Timeout/i);
      expect(relay.connections).toBe(1);
      expect(relay.mails).toEqual([]);
    } finally {
      await relay.close();
    }
  });
});

describe('Pebble with a chosen nonce-rejection rate', () => {
  const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

  function post(url: string, agent: Agent, body?: string): Promise<{ status: number; nonce: string; json: { type?: string; status?: string } }> {
    return new Promise((resolve, reject) => {
      // Pebble 2.10 refuses requests without a User-Agent (RFC 8555 §6.1), and node:https sends none.
      const req = request(url, { method: body ? 'POST' : 'HEAD', agent, headers: { 'user-agent': 'certkeeper-tests', ...(body ? { 'content-type': 'application/jose+json' } : {}) }, timeout: 5000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, nonce: String(res.headers['replay-nonce'] ?? ''), json: text ? (JSON.parse(text) as { type?: string }) : {} }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** newAccount signed by hand (RFC 8555 §7.3, ES256), `n` times, each with the last fresh nonce. */
  async function newAccountResults(directoryUrl: string, ca: string, n: number): Promise<string[]> {
    // One kept-alive TLS connection: the nonces are the subject, not the handshakes.
    const agent = new Agent({ ca, keepAlive: true, maxSockets: 1 });
    try {
      return await signedRequests(directoryUrl, agent, n);
    } finally {
      agent.destroy();
    }
  }

  async function signedRequests(directoryUrl: string, agent: Agent, n: number): Promise<string[]> {
    const dir = (await fetchJson(directoryUrl, agent)) as { newNonce: string; newAccount: string };
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
    let nonce = (await post(dir.newNonce, agent)).nonce;
    const results: string[] = [];
    for (let i = 0; i < n; i++) {
      const jws = signJws(privateKey, { alg: 'ES256', jwk: { crv, kty, x, y }, nonce, url: dir.newAccount }, { termsOfServiceAgreed: true });
      const r = await post(dir.newAccount, agent, jws);
      results.push(r.status < 300 ? 'ok' : (r.json.type ?? String(r.status)).replace('urn:ietf:params:acme:error:', ''));
      nonce = r.nonce;
    }
    return results;
  }

  function signJws(key: KeyObject, protectedHeader: object, payload: object): string {
    const p = b64u(JSON.stringify(protectedHeader));
    const body = b64u(JSON.stringify(payload));
    const signature = b64u(sign('sha256', Buffer.from(`${p}.${body}`), { key, dsaEncoding: 'ieee-p1363' }));
    return JSON.stringify({ protected: p, payload: body, signature });
  }

  function fetchJson(url: string, agent: Agent): Promise<unknown> {
    return new Promise((resolve, reject) => {
      request(url, { agent, headers: { 'user-agent': 'certkeeper-tests' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(JSON.parse(text)));
      })
        .on('error', reject)
        .end();
    });
  }

  it('rejects every nonce at 100 %, none at 0 %, about half at 50 %', async () => {
    const [all, none, half] = await Promise.all([startPebble({ nonceRejectPercent: 100 }), startPebble({ nonceRejectPercent: 0 }), startPebble({ nonceRejectPercent: 50 })]);
    try {
      expect(new Set(await newAccountResults(all.directoryUrl, all.apiCaPem, 10))).toEqual(new Set(['badNonce']));
      expect(new Set(await newAccountResults(none.directoryUrl, none.apiCaPem, 20))).toEqual(new Set(['ok']));
      const mixed = await newAccountResults(half.directoryUrl, half.apiCaPem, 60);
      const rejected = mixed.filter((r) => r === 'badNonce').length;
      expect(rejected).toBeGreaterThan(12);
      expect(rejected).toBeLessThan(48);
      expect(mixed.filter((r) => r !== 'badNonce' && r !== 'ok')).toEqual([]);
    } finally {
      await Promise.all([all.stop(), none.stop(), half.stop()]);
    }
  });
});
