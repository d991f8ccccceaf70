// Alert delivery against real receivers: an HTTP webhook endpoint and an SMTP server on port 0,
// the dispatcher run over simulated passes with an advancing `now`, state in a real file.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { evaluateAlerts, type Alert, type CertificateState } from '../../src/core/alerts.js';
import {
  AlertDispatcher,
  EmailNotifier,
  EventNotifier,
  FileAlertStateStore,
  LogNotifier,
  MemoryAlertStateStore,
  WebhookNotifier,
  pendingDeliveries,
  redactUrl,
  type Notification,
  type Notifier,
  type SlackPayload,
  type WebhookPayload,
} from '../../src/alerts/index.js';
import { createLogger, type Logger } from '../../src/log.js';
import type { EventRecorder, IngressEvent } from '../../src/ports.js';
import { down, hang, ok, startSmtpReceiver, startWebhookReceiver, type SmtpReceiver, type WebhookReceiver } from '../support/receivers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = new Date('2026-09-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function webhook(opts: Parameters<typeof startWebhookReceiver>[0] = {}): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(opts);
  cleanups.push(() => r.close());
  return r;
}

async function smtp(opts: Parameters<typeof startSmtpReceiver>[0] = {}): Promise<SmtpReceiver> {
  const r = await startSmtpReceiver(opts);
  cleanups.push(() => r.close());
  return r;
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'certkeeper-alerts-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** A JSON pino logger writing into a buffer, at debug so retries are in it too. */
function capturedLogger(): { logger: Logger; text: () => string; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger({ format: 'json', level: 'debug', destination });
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Records Events the way src/kube/'s recorder would deliver them. */
class RecordingEvents implements EventRecorder {
  events: IngressEvent[] = [];
  async record(e: IngressEvent): Promise<void> {
    this.events.push(e);
  }
}

/** A 45-day certificate issued at T0 (renewal due at day 30, warning after day 30.9, critical below 4.5 days). */
function shopCert(extra: Partial<CertificateState> = {}): CertificateState {
  return {
    namespace: 'shop',
    secretName: 'shop-tls',
    hosts: ['shop.example.com', 'www.shop.example.com'],
    ingresses: [{ namespace: 'shop', name: 'web' }],
    notBefore: T0,
    notAfter: at(45 * DAY),
    failures: 0,
    ...extra,
  };
}

/** The same certificate two days before it expires. */
function expiringCert(extra: Partial<CertificateState> = {}): CertificateState {
  return shopCert({ notBefore: at(-43 * DAY), notAfter: at(2 * DAY), ...extra });
}

const failing = { failures: 2, lastError: 'urn:ietf:params:acme:error:connection: Connection refused', retryAfter: undefined };

function evaluate(now: Date, certs: CertificateState[]): Alert[] {
  return evaluateAlerts({ certificates: certs, findings: [], now });
}

/** SlackPayload with the block shapes slackPayload() builds. */
type SlackMessage = Omit<SlackPayload, 'blocks'> & { blocks: { type: string; text?: { type: string; text: string }; elements?: { text: string }[] }[] };

const payloads = (r: WebhookReceiver) => r.requests.map((q) => q.json as WebhookPayload);

describe('dispatcher over passes: webhook, email, Events and log', () => {
  it('fires once per level, escalates once, stays quiet on repeats and across a restart, resolves once', async () => {
    const hook = await webhook();
    const mail = await smtp();
    const dir = await tempDir();
    const statePath = join(dir, 'state', 'alerts.json');
    const log = capturedLogger();
    const events = new RecordingEvents();
    const channels = (): Notifier[] => [
      new LogNotifier(log.logger),
      new EventNotifier(events),
      new WebhookNotifier({ url: hook.url, logger: log.logger, backoffMs: 10 }),
      new EmailNotifier({ host: mail.host, port: mail.port, starttls: 'disabled', from: 'certkeeper@example.com', to: ['oncall@example.com'], logger: log.logger }),
    ];
    let dispatcher = new AlertDispatcher({ store: new FileAlertStateStore(statePath), notifiers: channels(), logger: log.logger });
    const pass = (now: Date, cert: CertificateState) => dispatcher.dispatch(evaluate(now, [cert]), { now });

    // Day 20: fine.
    expect((await pass(at(20 * DAY), shopCert())).sent).toEqual([]);
    // Day 31: a day past the planned renewal, two attempts failed: one warning per channel.
    const p2 = await pass(at(31 * DAY), shopCert(failing));
    expect(p2.sent.map((d) => `${d.channel}:${d.kind}:${d.level}`).sort()).toEqual(['email:firing:warning', 'event:firing:warning', 'log:firing:warning', 'webhook:firing:warning']);
    expect(hook.requests).toHaveLength(1);
    expect(mail.mails).toHaveLength(1);
    const warn = payloads(hook)[0];
    expect(warn).toMatchObject({
      version: 1,
      status: 'firing',
      level: 'warning',
      previousLevel: null,
      code: 'CertificateRenewalOverdue',
      key: 'shop/shop-tls:expiry',
      object: { kind: 'Secret', namespace: 'shop', name: 'shop-tls' },
      host: null,
      hosts: ['shop.example.com', 'www.shop.example.com'],
      notAfter: '2026-10-16T00:00:00Z',
      at: '2026-10-02T00:00:00Z',
    });
    expect(warn?.message).toContain('renewal was planned for 2026-10-01T00:00:00Z (1 day ago); 2 attempts in a row failed, last error: urn:ietf:params:acme:error:connection: Connection refused');
    expect(warn?.hint).toContain('certkeeper renew --ingress shop/web --force');
    expect(mail.mails[0]?.subject).toBe('[certkeeper] WARNING CertificateRenewalOverdue shop/shop-tls renewal overdue by 1 day, expires in 14 days');

    // Day 32: still a warning: nothing.
    expect((await pass(at(32 * DAY), shopCert(failing))).sent).toEqual([]);

    // Day 41: 4 days left, below 4.5: escalation fires once more, as critical.
    const p4 = await pass(at(41 * DAY), shopCert({ ...failing, failures: 3 }));
    expect(p4.firing).toEqual(['shop/shop-tls:IssuanceFailing', 'shop/shop-tls:expiry']);
    const crit = payloads(hook).filter((p) => p.key === 'shop/shop-tls:expiry')[1];
    expect(crit).toMatchObject({ status: 'firing', level: 'critical', previousLevel: 'warning', code: 'CertificateExpiringSoon' });
    expect(mail.mails.map((m) => m.subject)).toContain('[certkeeper] CRITICAL CertificateExpiringSoon shop/shop-tls expires in 4 days');
    expect(hook.requests).toHaveLength(3); // the escalation and IssuanceFailing
    expect(mail.mails).toHaveLength(3);

    // An hour later: nothing.
    expect((await pass(at(41 * DAY + HOUR), shopCert({ ...failing, failures: 3 }))).sent).toEqual([]);

    // Restart: a new dispatcher and new channels on the same state file: still nothing.
    dispatcher = new AlertDispatcher({ store: new FileAlertStateStore(statePath), notifiers: channels(), logger: log.logger });
    expect((await pass(at(41 * DAY + 2 * HOUR), shopCert({ ...failing, failures: 3 }))).sent).toEqual([]);
    expect(hook.requests).toHaveLength(3);

    // Renewed: both alerts clear, each channel hears it exactly once.
    const renewed = shopCert({ notBefore: at(41 * DAY + 3 * HOUR), notAfter: at(86 * DAY + 3 * HOUR) });
    const p7 = await pass(at(41 * DAY + 3 * HOUR), renewed);
    expect(p7.sent.filter((d) => d.kind === 'resolved')).toHaveLength(8);
    expect(p7.firing).toEqual([]);
    const resolved = payloads(hook).find((p) => p.status === 'resolved' && p.key === 'shop/shop-tls:expiry');
    expect(resolved).toMatchObject({ level: 'critical', code: 'CertificateExpiringSoon', at: '2026-10-12T03:00:00Z', since: '2026-10-02T00:00:00Z' });
    expect(resolved?.message).toBe('CertificateExpiringSoon for Secret shop/shop-tls cleared at 2026-10-12T03:00:00Z after 10 days.');
    const resolvedMail = mail.mails.find((m) => m.subject.startsWith('[certkeeper] RESOLVED CertificateExpiringSoon'));
    expect(resolvedMail?.subject).toBe('[certkeeper] RESOLVED CertificateExpiringSoon shop/shop-tls after 10 days');
    expect(resolvedMail?.text).toContain('Cleared at: 2026-10-12T03:00:00Z (lasted 10 days)');

    // And then quiet, with nothing left in the state file.
    expect((await pass(at(42 * DAY), renewed)).sent).toEqual([]);
    expect(hook.requests).toHaveLength(5);
    expect(mail.mails).toHaveLength(5);
    expect(JSON.parse(await readFile(statePath, 'utf8'))).toEqual({ version: 1, alerts: {} });
    // Atomic writes leave no temporary files behind.
    expect(await readdir(join(dir, 'state'))).toEqual(['alerts.json']);

    // Events: Warning on the Ingress per firing, Normal per resolution, reason = the code.
    expect(events.events.map((e) => `${e.type} ${e.reason} ${e.involvedObject.namespace}/${e.involvedObject.name}`)).toEqual([
      'Warning CertificateRenewalOverdue shop/web',
      'Warning IssuanceFailing shop/web',
      'Warning CertificateExpiringSoon shop/web',
      'Normal IssuanceFailing shop/web',
      'Normal CertificateExpiringSoon shop/web',
    ]);
    expect(events.events[4]?.message).toMatch(/^RESOLVED: CertificateExpiringSoon for Secret shop\/shop-tls cleared at/);

    // The log channel: one line per notification, the code as a field.
    const alertLines = log.lines().filter((l) => l.alert !== undefined);
    expect(alertLines.map((l) => `${String(l.level)} ${String(l.alert)} ${String(l.code)}`)).toEqual([
      '40 firing CertificateRenewalOverdue',
      '50 firing IssuanceFailing',
      '50 firing CertificateExpiringSoon',
      '30 resolved IssuanceFailing',
      '30 resolved CertificateExpiringSoon',
    ]);
  });

  it('sends a resolved notice when the level drops, and keeps alerts a partial pass did not see', async () => {
    const seen: Notification[] = [];
    const recorder: Notifier = { name: 'memory', send: async (n) => void seen.push(n) };
    const dispatcher = new AlertDispatcher({ store: new MemoryAlertStateStore(), notifiers: [recorder], logger: capturedLogger().logger });
    const alert = (level: 'warning' | 'critical'): Alert => ({
      key: 'shop/shop-tls:Http01Unreachable',
      level,
      code: 'Http01Unreachable',
      object: { kind: 'Ingress', namespace: 'shop', name: 'web' },
      hosts: ['shop.example.com'],
      ingresses: [{ namespace: 'shop', name: 'web' }],
      summary: 'port 80',
      message: 'closed',
      hint: 'open it',
    });
    await dispatcher.dispatch([alert('critical')], { now: at(0) });
    await dispatcher.dispatch([alert('warning')], { now: at(HOUR) });
    // The cluster was unreachable: no alerts known, but nothing is resolved either.
    const partial = await dispatcher.dispatch([], { now: at(2 * HOUR), complete: false });
    expect(partial.sent).toEqual([]);
    await dispatcher.dispatch([], { now: at(3 * HOUR) });
    expect(seen.map((n) => `${n.kind} ${n.alert.level} ${n.previousLevel ?? '-'}`)).toEqual(['firing critical -', 'resolved warning critical', 'resolved warning warning']);
    expect((await dispatcher.snapshot()).alerts).toEqual({});
  });
});

describe('webhook delivery', () => {
  const oneAlert = (now: Date) => evaluate(now, [expiringCert()]);

  it('retries a 500 twice and delivers once', async () => {
    const hook = await webhook({ responder: (_r, i) => (i < 2 ? { status: 500, body: 'boom' } : { status: 200, body: 'ok' }) });
    const log = capturedLogger();
    const d = new AlertDispatcher({ store: new MemoryAlertStateStore(), notifiers: [new WebhookNotifier({ url: hook.url, backoffMs: 20, logger: log.logger })], logger: log.logger });
    const r1 = await d.dispatch(oneAlert(T0), { now: T0 });
    expect(r1.sent).toHaveLength(1);
    expect(r1.failed).toEqual([]);
    expect(hook.requests).toHaveLength(3);
    expect(new Set(hook.requests.map((q) => q.body)).size).toBe(1);
    const retries = log.lines().filter((l) => typeof l.msg === 'string' && l.msg.includes('retrying'));
    expect(retries.map((l) => l.err)).toEqual(['HTTP 500 (boom)', 'HTTP 500 (boom)']);
    // Delivered: the next pass sends nothing.
    await d.dispatch(oneAlert(at(HOUR)), { now: at(HOUR) });
    expect(hook.requests).toHaveLength(3);
  });

  it('honours a short 429 Retry-After and gives up at once on a long one', async () => {
    const hook = await webhook({ responder: (_r, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }) });
    const n = new WebhookNotifier({ url: hook.url, backoffMs: 10 });
    const started = Date.now();
    const [alert] = oneAlert(T0);
    await n.send({ kind: 'firing', alert: alert as Alert, at: T0, since: T0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(hook.requests).toHaveLength(2);

    const limited = await webhook({ responder: () => ({ status: 429, headers: { 'retry-after': '3600' } }) });
    const m = new WebhookNotifier({ url: limited.url, backoffMs: 10 });
    await expect(m.send({ kind: 'firing', alert: alert as Alert, at: T0, since: T0 })).rejects.toThrow(/rate limited for 3600 s/);
    expect(limited.requests).toHaveLength(1);
  });

  it('does not retry a 4xx (the payload or URL is wrong), and times out a hanging endpoint', async () => {
    const gone = await webhook({ responder: () => ({ status: 404, body: 'no_service' }) });
    const [alert] = oneAlert(T0);
    const n: Notification = { kind: 'firing', alert: alert as Alert, at: T0, since: T0 };
    await expect(new WebhookNotifier({ url: gone.url, backoffMs: 10 }).send(n)).rejects.toThrow(/was refused: HTTP 404 \(no_service\)/);
    expect(gone.requests).toHaveLength(1);

    // Never answers: the request's own timeout must end it.
    const hang = await webhook({ responder: () => 'hang' });
    await expect(new WebhookNotifier({ url: hang.url, timeoutMs: 200, retries: 1, backoffMs: 10 }).send(n)).rejects.toThrow(/failed after 2 attempts: no response within 200 ms/);
  });

  it('a webhook that is down does not block email, and gets the alert on the next pass', async () => {
    const hook = await webhook({ responder: down });
    const mail = await smtp();
    const log = capturedLogger();
    const d = new AlertDispatcher({
      store: new MemoryAlertStateStore(),
      notifiers: [
        new WebhookNotifier({ url: hook.url, retries: 1, backoffMs: 10, logger: log.logger }),
        new EmailNotifier({ host: mail.host, port: mail.port, starttls: 'disabled', from: 'certkeeper@example.com', to: ['oncall@example.com'] }),
      ],
      logger: log.logger,
    });
    const r1 = await d.dispatch(oneAlert(T0), { now: T0 });
    expect(r1.sent.map((x) => x.channel)).toEqual(['email']);
    expect(r1.failed.map((x) => x.channel)).toEqual(['webhook']);
    expect(r1.failed[0]?.error).toMatch(/^POST http:\/\/127\.0\.0\.1:\d+\/\*\*\* failed after 2 attempts: /);
    expect(hook.resets).toBe(2);
    expect(mail.mails).toHaveLength(1);

    hook.respond(ok);
    const r2 = await d.dispatch(oneAlert(at(HOUR)), { now: at(HOUR) });
    expect(r2.sent.map((x) => `${x.channel}:${x.kind}`)).toEqual(['webhook:firing']);
    expect(hook.requests.filter((q) => q.json !== undefined).length).toBe(3);
    expect(mail.mails).toHaveLength(1);
    expect(payloads(hook).at(-1)).toMatchObject({ status: 'firing', code: 'CertificateExpiringSoon', at: '2026-09-01T01:00:00Z' });
  });

  it('a channel that never delivered the firing gets no resolved message; the others do', async () => {
    const hook = await webhook({ responder: down });
    const seen: Notification[] = [];
    const d = new AlertDispatcher({
      store: new MemoryAlertStateStore(),
      notifiers: [new WebhookNotifier({ url: hook.url, retries: 0 }), { name: 'memory', send: async (n) => void seen.push(n) }],
      logger: capturedLogger().logger,
    });
    await d.dispatch(oneAlert(T0), { now: T0 });
    const r2 = await d.dispatch([], { now: at(HOUR) });
    expect(r2.sent.map((x) => `${x.channel}:${x.kind}`)).toEqual(['memory:resolved']);
    expect(r2.failed).toEqual([]);
    expect(hook.requests).toHaveLength(1);
    expect(seen.map((n) => n.kind)).toEqual(['firing', 'resolved']);
  });

  it('a resolved message that failed is retried next pass, still saying when it cleared', async () => {
    const hook = await webhook();
    const d = new AlertDispatcher({
      store: new MemoryAlertStateStore(),
      notifiers: [new WebhookNotifier({ url: hook.url, retries: 0 })],
      logger: capturedLogger().logger,
    });
    await d.dispatch(oneAlert(T0), { now: T0 });
    hook.respond(down);
    expect((await d.dispatch([], { now: at(HOUR) })).failed.map((x) => x.kind)).toEqual(['resolved']);
    hook.respond(ok);
    expect((await d.dispatch([], { now: at(2 * HOUR) })).sent.map((x) => x.kind)).toEqual(['resolved']);
    expect(payloads(hook).at(-1)).toMatchObject({ status: 'resolved', at: '2026-09-01T01:00:00Z', since: '2026-09-01T00:00:00Z' });
    expect((await d.dispatch([], { now: at(3 * HOUR) })).sent).toEqual([]);
    expect((await d.snapshot()).alerts).toEqual({});
  });

  it('defers the rest of a channel after repeated failures within a pass', async () => {
    const hook = await webhook({ responder: down });
    const log = capturedLogger();
    const d = new AlertDispatcher({
      store: new MemoryAlertStateStore(),
      notifiers: [new WebhookNotifier({ url: hook.url, retries: 0 })],
      logger: log.logger,
      maxConsecutiveFailures: 2,
    });
    const certs = ['a', 'b', 'c', 'd'].map((n) => expiringCert({ secretName: `${n}-tls` }));
    const r = await d.dispatch(evaluate(T0, certs), { now: T0 });
    expect(r.failed).toHaveLength(2);
    expect(r.deferred.map((x) => x.key)).toEqual(['shop/c-tls:expiry', 'shop/d-tls:expiry']);
    expect(hook.requests).toHaveLength(2);
  });

  it('posts the Slack incoming-webhook shape', async () => {
    const hook = await webhook({ path: '/services/T04F8Q2KX/B07H3M9ZP1C/4xQv7RkL2nWp9TsYb3Jd8eFh' });
    const d = new AlertDispatcher({
      store: new MemoryAlertStateStore(),
      notifiers: [new WebhookNotifier({ url: hook.url, format: 'slack', name: 'slack' })],
      logger: capturedLogger().logger,
    });
    const cert = expiringCert({ failures: 1, lastError: 'the <html> answer was wrong & not the key' });
    await d.dispatch(evaluate(T0, [cert]), { now: T0 });
    await d.dispatch([], { now: at(2 * HOUR) });
    const [firing, resolved] = hook.requests.map((q) => q.json as SlackMessage);
    expect(hook.requests[0]?.headers['content-type']).toBe('application/json');
    expect(firing?.text.split('\n')[0]).toBe(':rotating_light: CRITICAL CertificateExpiringSoon shop/shop-tls expires in 2 days');
    expect(firing?.text).toContain('What to do: renew now with `certkeeper renew --ingress shop/web --force`');
    expect(firing?.blocks.map((b) => b.type)).toEqual(['section', 'section', 'context']);
    expect(firing?.blocks[0]?.text?.type).toBe('mrkdwn');
    expect(firing?.blocks[0]?.text?.text).toMatch(/^:rotating_light: \*CRITICAL CertificateExpiringSoon shop\/shop-tls expires in 2 days\*\n/);
    // mrkdwn control characters are escaped in blocks.
    expect(firing?.blocks[0]?.text?.text).toContain('the &lt;html&gt; answer was wrong &amp; not the key');
    expect(firing?.blocks[1]?.text?.text).toMatch(/^\*What to do:\* renew now/);
    expect(firing?.blocks[2]?.elements?.[0]?.text).toContain('Not after: 2026-09-03T00:00:00Z (in 2 days)');
    expect(resolved?.text.split('\n')[0]).toBe(':white_check_mark: RESOLVED CertificateExpiringSoon shop/shop-tls after 2 hours');
  });

  it('never logs the webhook URL, only a redacted form', async () => {
    const secretPath = '/services/T0SECRET/B0SECRET/abcdefSECRETTOKEN';
    const hook = await webhook({ path: secretPath, responder: (_r, i) => (i < 2 ? 'reset' : i < 4 ? { status: 500, body: 'boom' } : { status: 200 }) });
    const log = capturedLogger();
    const d = new AlertDispatcher({
      store: new MemoryAlertStateStore(),
      notifiers: [new LogNotifier(log.logger), new WebhookNotifier({ url: hook.url, format: 'slack', retries: 1, backoffMs: 10, logger: log.logger })],
      logger: log.logger,
    });
    await d.dispatch(oneAlert(T0), { now: T0 }); // two resets: failed
    await d.dispatch(oneAlert(at(HOUR)), { now: at(HOUR) }); // two 500s: failed
    const r3 = await d.dispatch(oneAlert(at(2 * HOUR)), { now: at(2 * HOUR) });
    expect(r3.sent.map((x) => x.channel)).toEqual(['webhook']);
    const text = log.text();
    expect(text).toContain('retrying on the next pass');
    expect(text).toMatch(/http:\/\/127\.0\.0\.1:\d+\/\*\*\*/);
    expect(text).not.toContain('SECRET');
    expect(text).not.toContain(hook.url);
    expect(redactUrl('https://hooks.slack.com/services/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')).toBe('https://hooks.slack.com/services/***');
    expect(redactUrl('https://user:pw@alerts.example.com/hook?token=abc')).toBe('https://alerts.example.com/***');
    expect(() => new WebhookNotifier({ url: 'not a url/SECRET' })).toThrow(/^the alert webhook URL is not a valid URL$/);
  });
});

describe('email delivery', () => {
  it('sends subject and plain-text body over SMTP with AUTH, never logging the password', async () => {
    const mail = await smtp({ auth: { user: 'certkeeper', password: 'pa55-SECRET-word' } });
    const log = capturedLogger();
    const email = new EmailNotifier({
      host: mail.host,
      port: mail.port,
      starttls: 'disabled',
      user: 'certkeeper',
      password: 'pa55-SECRET-word',
      from: 'certkeeper@example.com',
      to: ['oncall@example.com', 'platform@example.com'],
      logger: log.logger,
    });
    const d = new AlertDispatcher({ store: new MemoryAlertStateStore(), notifiers: [email, new LogNotifier(log.logger)], logger: log.logger });
    const cert = expiringCert({ failures: 1, lastError: 'dns: NXDOMAIN looking up A for www.shop.example.com' });
    await d.dispatch(evaluate(T0, [cert]), { now: T0 });
    await d.dispatch([], { now: at(5 * HOUR + 30 * 60_000) });

    expect(mail.logins).toEqual([
      { user: 'certkeeper', ok: true },
      { user: 'certkeeper', ok: true },
    ]);
    const [firing, resolved] = mail.mails;
    expect(firing?.from).toBe('certkeeper@example.com');
    expect(firing?.to).toEqual(['oncall@example.com', 'platform@example.com']);
    expect(firing?.subject).toBe('[certkeeper] CRITICAL CertificateExpiringSoon shop/shop-tls expires in 2 days');
    expect(firing?.headers['content-type']).toMatch(/^text\/plain/);
    const body = firing?.text ?? '';
    expect(body).toContain(
      'the certificate in Secret shop/shop-tls for shop.example.com, www.shop.example.com expires at 2026-09-03T00:00:00Z, in 2 days (lifetime 45 days), less than the 4 days 12 hours that make it critical',
    );
    expect(body).toContain('1 attempt in a row failed, last error: dns: NXDOMAIN looking up A for www.shop.example.com');
    expect(body).toContain('What to do: renew now with `certkeeper renew --ingress shop/web --force`');
    expect(body).toContain('Hosts: shop.example.com, www.shop.example.com');
    expect(body).toContain('Ingresses: shop/web');
    expect(body).toContain('Not after: 2026-09-03T00:00:00Z (in 2 days)');
    expect(body).toContain('Alert key: shop/shop-tls:expiry');
    expect(resolved?.subject).toBe('[certkeeper] RESOLVED CertificateExpiringSoon shop/shop-tls after 5 hours 30 minutes');
    expect(resolved?.text).toMatch(/^CertificateExpiringSoon for Secret shop\/shop-tls cleared at 2026-09-01T05:30:00Z after 5 hours 30 minutes\.\n\nIt was: the certificate/);
    expect(log.text()).not.toContain('pa55-SECRET-word');
    expect(log.text()).not.toContain(Buffer.from('\u0000certkeeper\u0000pa55-SECRET-word').toString('base64'));
    email.close();
  });

  it('a wrong password fails the channel without echoing it', async () => {
    const mail = await smtp({ auth: { user: 'certkeeper', password: 'right' } });
    const email = new EmailNotifier({ host: mail.host, port: mail.port, starttls: 'disabled', user: 'certkeeper', password: 'wr0ng-SECRET', from: 'a@example.com', to: ['b@example.com'] });
    const [alert] = evaluate(T0, [expiringCert()]);
    const err = await email.send({ kind: 'firing', alert: alert as Alert, at: T0, since: T0 }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^sending alert email via 127\.0\.0\.1:\d+ failed: /);
    expect((err as Error).message).not.toContain('wr0ng-SECRET');
    expect(mail.mails).toHaveLength(0);
    email.close();
  });
});

describe('FileAlertStateStore', () => {
  it('starts empty without a file, and over a corrupt one with a warning', async () => {
    const dir = await tempDir();
    const log = capturedLogger();
    const store = new FileAlertStateStore(join(dir, 'alerts.json'), log.logger);
    expect(await store.load()).toEqual({ version: 1, alerts: {} });
    await writeFile(join(dir, 'alerts.json'), '{"version":1,"alerts":{');
    expect(await store.load()).toEqual({ version: 1, alerts: {} });
    expect(log.text()).toContain('alert state file is not valid JSON');
    await writeFile(join(dir, 'alerts.json'), JSON.stringify({ version: 1, alerts: { 'x:y': { level: 'loud' } } }));
    expect(await store.load()).toEqual({ version: 1, alerts: {} });
    expect(log.text()).toContain('dropped unreadable records');
  });
});

describe('delivery that cannot block shutdown', () => {
  const oneAlert = (now: Date) => evaluate(now, [expiringCert()]);
  const mailTo = (r: SmtpReceiver) => ({ host: r.host, port: r.port, starttls: 'disabled' as const, from: 'certkeeper@example.com', to: ['oncall@example.com'] });

  it('stops within 2 s with a hanging webhook and SMTP relay; the alert stays owed and is delivered exactly once after the restart', async () => {
    const hookDown = await webhook({ responder: hang });
    const relayDown = await smtp({ hang: 'greeting' });
    const path = join(await tempDir(), 'alerts.json');
    const log = capturedLogger();
    // Production timeouts: 10 s per webhook attempt, 15 s for SMTP, 20 s per delivery.
    const before = new AlertDispatcher({
      store: new FileAlertStateStore(path),
      notifiers: [new LogNotifier(log.logger), new WebhookNotifier({ url: hookDown.url }), new EmailNotifier(mailTo(relayDown))],
      logger: log.logger,
    });
    const dispatched = before.dispatch(oneAlert(T0), { now: T0 });
    await vi.waitFor(() => expect(hookDown.requests.length === 1 && relayDown.connections === 1).toBe(true), { timeout: 10_000, interval: 10 });

    const started = performance.now();
    expect(await before.stop()).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    const r = await dispatched;
    expect(r.sent.map((x) => x.channel)).toEqual(['log']);
    expect(r.failed.map((x) => `${x.channel}: ${x.error ?? ''}`).sort()).toEqual([
      'email: abandoned: certkeeper is stopping',
      'webhook: abandoned: certkeeper is stopping',
    ]);
    expect(log.text()).toContain('stopping: 2 alert notifications stay owed in the saved alert state');
    // What is owed is on disk, for a process that starts from nothing but the file.
    const saved = await new FileAlertStateStore(path).load();
    expect(pendingDeliveries(saved, ['log', 'webhook', 'email'], T0)).toEqual([
      { channel: 'webhook', kind: 'firing', key: 'shop/shop-tls:expiry', code: 'CertificateExpiringSoon', level: 'critical' },
      { channel: 'email', kind: 'firing', key: 'shop/shop-tls:expiry', code: 'CertificateExpiringSoon', level: 'critical' },
    ]);
    // The abandoned SMTP connection is closed, not left to its 15 s timeout.
    await vi.waitFor(() => expect(relayDown.openConnections).toBe(0), { timeout: 2_000, interval: 10 });

    const hook = await webhook();
    const relay = await smtp();
    const after = new AlertDispatcher({
      store: new FileAlertStateStore(path),
      notifiers: [new LogNotifier(log.logger), new WebhookNotifier({ url: hook.url }), new EmailNotifier(mailTo(relay))],
      logger: log.logger,
    });
    const r2 = await after.dispatch(oneAlert(at(HOUR)), { now: at(HOUR) });
    expect(r2.sent.map((x) => `${x.channel}:${x.kind}`).sort()).toEqual(['email:firing', 'webhook:firing']);
    await after.dispatch(oneAlert(at(2 * HOUR)), { now: at(2 * HOUR) });
    expect(payloads(hook).map((p) => `${p.status} ${p.code} ${p.since}`)).toEqual(['firing CertificateExpiringSoon 2026-09-01T00:00:00Z']);
    // Evaluated an hour later than the first try, so the subject says so.
    expect(relay.mails.map((m) => m.subject)).toEqual(['[certkeeper] CRITICAL CertificateExpiringSoon shop/shop-tls expires in 1 day 23 hours']);
    expect(pendingDeliveries(await new FileAlertStateStore(path).load(), ['log', 'webhook', 'email'], at(2 * HOUR))).toEqual([]);
  });

  it('after abort, a pass\'s alerts are recorded and saved, not sent', async () => {
    const hook = await webhook();
    const store = new MemoryAlertStateStore();
    const d = new AlertDispatcher({ store, notifiers: [new WebhookNotifier({ url: hook.url })], logger: capturedLogger().logger });
    d.abort();
    const r = await d.dispatch(oneAlert(T0), { now: T0 });
    expect(r.sent).toEqual([]);
    expect(r.deferred.map((x) => `${x.channel}:${x.kind}:${x.code}`)).toEqual(['webhook:firing:CertificateExpiringSoon']);
    expect(hook.requests).toHaveLength(0);
    expect(pendingDeliveries(await store.load(), ['webhook'], T0).map((p) => p.key)).toEqual(['shop/shop-tls:expiry']);
  });

  it('gives each delivery a deadline: a hanging webhook and SMTP relay cannot hold a pass', async () => {
    const hookDown = await webhook({ responder: hang });
    const relayDown = await smtp({ hang: 'data' });
    const d = new AlertDispatcher({
      store: new MemoryAlertStateStore(),
      notifiers: [new WebhookNotifier({ url: hookDown.url }), new EmailNotifier(mailTo(relayDown))],
      logger: capturedLogger().logger,
      deliveryTimeoutMs: 500,
    });
    const started = performance.now();
    const r = await d.dispatch(oneAlert(T0), { now: T0 });
    expect(performance.now() - started).toBeLessThan(2_500);
    expect(r.failed.map((x) => `${x.channel}: ${x.error ?? ''}`).sort()).toEqual(['email: no delivery within the 0.5 s deadline', 'webhook: no delivery within the 0.5 s deadline']);
    // Not stopped: the next pass tries again.
    expect(d.stopped).toBe(false);
    await vi.waitFor(() => expect(relayDown.openConnections).toBe(0), { timeout: 2_000, interval: 10 });
  });

  it('the channels themselves stop when told: fetch is aborted, the SMTP connection closed', async () => {
    const [alert] = oneAlert(T0);
    const n: Notification = { kind: 'firing', alert: alert as Alert, at: T0, since: T0 };
    const hookDown = await webhook({ responder: hang });
    let started = performance.now();
    await expect(new WebhookNotifier({ url: hookDown.url }).send(n, AbortSignal.timeout(300))).rejects.toThrow(
      /^POST http:\/\/127\.0\.0\.1:\d+\/\*\*\* was abandoned after 1 attempt: no response before the delivery was stopped$/,
    );
    expect(performance.now() - started).toBeLessThan(1_500);
    // Also while it waits out a Retry-After.
    const limited = await webhook({ responder: () => ({ status: 429, headers: { 'retry-after': '20' } }) });
    started = performance.now();
    await expect(new WebhookNotifier({ url: limited.url }).send(n, AbortSignal.timeout(300))).rejects.toThrow(/was abandoned after 1 attempt: HTTP 429/);
    expect(performance.now() - started).toBeLessThan(1_500);

    for (const mode of ['greeting', 'data'] as const) {
      const relay = await smtp({ hang: mode });
      started = performance.now();
      await expect(new EmailNotifier(mailTo(relay)).send(n, AbortSignal.timeout(300))).rejects.toThrow(
        new RegExp(`^sending alert email via 127\\.0\\.0\\.1:${relay.port} was abandoned before the SMTP server confirmed it`),
      );
      expect(performance.now() - started).toBeLessThan(1_500);
      await vi.waitFor(() => expect(relay.openConnections).toBe(0), { timeout: 2_000, interval: 10 });
      expect(relay.mails).toEqual([]);
    }
  });
});
