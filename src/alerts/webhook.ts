// Alerts as HTTP POSTs: a generic JSON document, or the incoming-webhook format Slack (and
// Mattermost, Rocket.Chat, Discord's /slack endpoint) accept. The URL is a secret: a Slack
// webhook URL is the whole credential, so it never reaches a log line or an error message.
import { isoTime } from '../core/alerts.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { detailLines, isFullyResolved, resolvedSentence, title, type Notification, type Notifier } from './notification.js';

export type WebhookFormat = 'json' | 'slack';

export interface WebhookOptions {
  url: string;
  format?: WebhookFormat;
  /** Channel name for delivery state and logs; default "webhook" (give several webhooks distinct names). */
  name?: string;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 3 (four attempts). */
  retries?: number;
  /** First retry delay, doubling: 0.5 s, 1 s, 2 s by default. */
  backoffMs?: number;
  /** A 429/503 Retry-After up to this long is waited out; a longer one fails the pass (the next pass retries). Default 30 s. */
  maxRetryAfterMs?: number;
  /** Extra request headers (an Authorization header for a generic receiver). */
  headers?: Record<string, string>;
  logger?: Logger;
}

/** The generic JSON body, version 1. Fields are null rather than absent, so receivers can rely on the shape. */
export interface WebhookPayload {
  version: 1;
  status: 'firing' | 'resolved';
  level: 'warning' | 'critical';
  previousLevel: 'warning' | 'critical' | null;
  code: string;
  key: string;
  object: { kind: string; namespace: string | null; name: string };
  host: string | null;
  hosts: string[];
  /** The objects naming the Secret; `kind` only for Gateway API objects (Gateway, ListenerSet). */
  ingresses: { namespace: string; name: string; kind?: string }[];
  title: string;
  summary: string;
  message: string;
  hint: string;
  notAfter: string | null;
  at: string;
  since: string;
}

export interface SlackPayload {
  text: string;
  blocks?: unknown[];
}

/**
 * The URL as it may appear in logs: the origin, and for Slack its public path prefix, the rest
 * masked — `https://hooks.slack.com/services/***`. Userinfo and query are dropped with the path.
 */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return '(invalid URL)';
  }
  const prefix = u.hostname === 'hooks.slack.com' && u.pathname.startsWith('/services/') ? '/services' : '';
  return u.pathname === '/' && u.search === '' ? u.origin : `${u.origin}${prefix}/***`;
}

export function jsonPayload(n: Notification): WebhookPayload {
  const a = n.alert;
  return {
    version: 1,
    status: n.kind,
    level: a.level,
    previousLevel: n.previousLevel ?? null,
    code: a.code,
    key: a.key,
    object: { kind: a.object.kind, namespace: a.object.namespace ?? null, name: a.object.name },
    host: a.host ?? null,
    hosts: [...a.hosts],
    ingresses: a.ingresses.map((i) => ({ namespace: i.namespace, name: i.name, ...(i.kind !== undefined && i.kind !== 'Ingress' ? { kind: i.kind } : {}) })),
    title: title(n),
    summary: a.summary,
    message: n.kind === 'firing' ? a.message : resolvedSentence(n),
    hint: a.hint,
    notAfter: a.notAfter ? isoTime(a.notAfter) : null,
    at: isoTime(n.at),
    since: isoTime(n.since),
  };
}

/** Slack's mrkdwn treats &, < and > as markup (links, mentions); everything else is literal enough. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// Section text is limited to 3000 characters; longer blocks make Slack reject the whole message.
const clip = (s: string, max = 2900): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

export function slackPayload(n: Notification): SlackPayload {
  const a = n.alert;
  const emoji = n.kind === 'resolved' ? (isFullyResolved(n) ? ':white_check_mark:' : ':arrow_down:') : a.level === 'critical' ? ':rotating_light:' : ':warning:';
  const head = `${emoji} ${title(n)}`;
  const body = n.kind === 'firing' ? a.message : `${resolvedSentence(n)}\nWas: ${a.message}`;
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: clip(`${emoji} *${slackEscape(title(n))}*\n${slackEscape(body)}`) } },
  ];
  if (n.kind === 'firing') blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(`*What to do:* ${slackEscape(a.hint)}`) } });
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(slackEscape(detailLines(n).join(' · '))) }] });
  // `text` is the fallback for notifications and clients without blocks: it carries the hint too.
  return { text: clip(`${head}\n${body}${n.kind === 'firing' ? `\nWhat to do: ${a.hint}` : ''}`, 3900), blocks };
}

class WebhookError extends Error {
  override name = 'WebhookError';
}

/** Resolves after `ms`, or as soon as `signal` fires. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), in ms from now. */
function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const s = header.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export class WebhookNotifier implements Notifier {
  readonly name: string;
  private readonly url: URL;
  private readonly where: string;
  private readonly format: WebhookFormat;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxRetryAfterMs: number;

  constructor(private readonly opts: WebhookOptions) {
    try {
      this.url = new URL(opts.url);
    } catch {
      // Not the URL in the message, nor as a cause: URL's TypeError carries the input.
      throw new ConfigError('the alert webhook URL is not a valid URL', 'pass the full URL, e.g. https://hooks.slack.com/services/…');
    }
    if (this.url.protocol !== 'https:' && this.url.protocol !== 'http:') {
      throw new ConfigError(`the alert webhook URL must be http or https, not ${this.url.protocol}`, 'pass an https:// URL');
    }
    this.where = redactUrl(this.url);
    this.name = opts.name ?? 'webhook';
    this.format = opts.format ?? 'json';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.retries = opts.retries ?? 3;
    this.backoffMs = opts.backoffMs ?? 500;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 30_000;
  }

  /** Where it posts, redacted: safe for logs and status output. */
  get endpoint(): string {
    return this.where;
  }

  async send(n: Notification, signal?: AbortSignal): Promise<void> {
    const body = JSON.stringify(this.format === 'slack' ? slackPayload(n) : jsonPayload(n));
    const headers = { 'content-type': 'application/json', 'user-agent': 'certkeeper', ...this.opts.headers };
    let last = '';
    for (let attempt = 1; attempt <= this.retries + 1; attempt++) {
      let wait = this.backoffMs * 2 ** (attempt - 1);
      try {
        const timeout = AbortSignal.timeout(this.timeoutMs);
        const res = await fetch(this.url, { method: 'POST', headers, body, redirect: 'manual', signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
        const text = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ').trim();
        if (res.status >= 200 && res.status < 300) return;
        last = `HTTP ${res.status}${text ? ` (${this.scrub(text)})` : ''}`;
        if (res.status >= 300 && res.status < 400) {
          throw new WebhookError(`POST ${this.where} was redirected (${last}); configure the final URL`);
        }
        const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
        if (!retryable) throw new WebhookError(`POST ${this.where} was refused: ${last}`);
        const after = retryAfterMs(res.headers.get('retry-after'));
        if (after !== undefined) {
          if (after > this.maxRetryAfterMs) {
            throw new WebhookError(`POST ${this.where} is rate limited for ${Math.ceil(after / 1000)} s (${last}); retrying on the next pass`);
          }
          wait = Math.max(wait, after);
        }
      } catch (e) {
        if (e instanceof WebhookError) throw e;
        last = this.describe(e, signal);
      }
      // Stopped or past the delivery's deadline: no more attempts, and say why.
      if (signal?.aborted) throw new WebhookError(`POST ${this.where} was abandoned after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${last}`);
      if (attempt <= this.retries) {
        this.opts.logger?.debug({ channel: this.name, endpoint: this.where, attempt, retryInMs: wait, err: last }, `webhook ${this.name} attempt ${attempt} failed; retrying`);
        await sleep(wait, signal);
        if (signal?.aborted) throw new WebhookError(`POST ${this.where} was abandoned after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${last}`);
      }
    }
    throw new WebhookError(`POST ${this.where} failed after ${this.retries + 1} attempt${this.retries === 0 ? '' : 's'}: ${last}`);
  }

  /** fetch's errors name the cause in `cause`; the message alone is "fetch failed". */
  private describe(e: unknown, signal?: AbortSignal): string {
    const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    // The caller's signal (the delivery's deadline, or certkeeper stopping) ended it, whatever its reason says.
    if (signal?.aborted) return 'no response before the delivery was stopped';
    if (err.name === 'TimeoutError') return `no response within ${this.timeoutMs} ms`;
    const cause = err.cause;
    const text = cause ? `${cause.code ?? ''}${cause.code && cause.message ? ': ' : ''}${cause.message ?? ''}` : (err.message ?? String(e));
    return this.scrub(text);
  }

  /** Belt and braces: no text leaves this class with the URL in it. */
  private scrub(s: string): string {
    const full = this.url.href;
    return s.split(full).join(this.where).split(this.url.pathname.length > 1 ? this.url.pathname : '\u0000').join('/***');
  }
}
