// Everything certkeeper needs to know about acme-client's HTTP layer, in one place.
//
// acme-client loses what users need to act on an error: api requests throw `new Error(detail)`
// without the problem type or Retry-After; transport failures end, after five slow retries, in
// `Cannot read properties of undefined (reading 'config')`; and a 429 with a long Retry-After would
// make it sleep for hours inside the request. We put one interceptor in front of its own: it records
// every ACME problem document in the async context of the operation that caused it, fails fast on
// transport errors with the URL and socket error, and never sleeps through a rate limit.
//
// acme-client also asks for a fresh nonce (HEAD newNonce) before every signed request, doubling
// the round trips of an order. RFC 8555 §7.2 lets a client use the Replay-Nonce of any response
// instead; reuseNonces() makes it do so, with the HEAD left as the fallback when none is at hand.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';
import acme from 'acme-client';
import { CaUnreachableError } from '../errors.js';
import { notifyAcmeResponse } from './responses.js';

export { onAcmeResponse, type AcmeRequestInfo } from './responses.js';

export interface ProblemRecord {
  type: string;
  detail: string;
  status: number;
  url: string;
  retryAfter?: Date;
  subproblems?: { type: string; detail: string; identifier?: { value: string } }[];
}

interface OperationContext {
  lastProblem?: ProblemRecord;
  /** The Retry-After of the last successful response (RFC 8555 §7.5.1: when to poll again). */
  retryAfter?: Date;
}

const context = new AsyncLocalStorage<OperationContext>();

/** Runs `fn` with its own record of ACME problems, so concurrent orders never see each other's. */
export function withAcmeContext<T>(fn: () => Promise<T>): Promise<T> {
  return context.run({}, fn);
}

/** The last problem document the CA returned inside the current withAcmeContext, then forgets it. */
export function takeLastProblem(): ProblemRecord | undefined {
  const store = context.getStore();
  const p = store?.lastProblem;
  if (store) delete store.lastProblem;
  return p;
}

/**
 * The Retry-After the CA sent with the last successful response inside the current
 * withAcmeContext (an order or challenge still being processed), then forgets it.
 */
export function takeRetryAfter(): Date | undefined {
  const store = context.getStore();
  const r = store?.retryAfter;
  if (store) delete store.retryAfter;
  return r;
}

const PREFIX = 'urn:ietf:params:acme:error:';

export function shortProblemType(type: string): string {
  return type.startsWith(PREFIX) ? type.slice(PREFIX.length) : type;
}

/** RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP-date. */
export function parseRetryAfter(value: unknown, now: Date): Date | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return new Date(now.getTime() + Number(value.trim()) * 1000);
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t);
}

// Structural types for the parts of axios we touch; axios is acme-client's dependency, not ours.
interface AxiosLikeResponse {
  status: number;
  headers: Record<string, unknown>;
  data: unknown;
}
interface AxiosLikeError {
  code?: string;
  message: string;
  config?: { url?: string; method?: string };
  response?: AxiosLikeResponse;
}

// ---------------------------------------------------------------------------------------------
// Nonces

/** Unused nonces by CA origin. A few are plenty: each request uses one and its response brings the next. */
const nonces = new Map<string, string[]>();
const MAX_POOLED_NONCES = 32;

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function keepNonce(config: AxiosLikeError['config'], resp: AxiosLikeResponse): void {
  const nonce = resp.headers['replay-nonce'];
  if (typeof nonce !== 'string' || nonce === '' || !config?.url) return;
  // acme-client uses these two itself: the answer to its HEAD newNonce, and the nonce of a
  // badNonce error for its retry. Pooling them too would spend each nonce twice.
  if (config.method?.toLowerCase() === 'head') return;
  if (resp.status === 400 && (resp.data as { type?: unknown } | undefined)?.type === `${PREFIX}badNonce`) return;
  const origin = originOf(config.url);
  if (!origin) return;
  const pool = nonces.get(origin) ?? [];
  pool.push(nonce);
  // The oldest are the likeliest to have expired at the CA.
  if (pool.length > MAX_POOLED_NONCES) pool.splice(0, pool.length - MAX_POOLED_NONCES);
  nonces.set(origin, pool);
}

/** The part of acme-client's HttpClient that fetches nonces (`client.http`; not in its typings). */
interface NonceSource {
  getNonce(): Promise<string>;
  getResourceUrl(resource: string): Promise<string>;
}

/**
 * Makes an acme-client Client sign each request with a nonce from an earlier response instead of
 * asking newNonce first. The newest nonce is used first. A nonce the CA has meanwhile expired
 * (or, like Pebble, rejects at random) comes back as badNonce, which acme-client retries with the
 * fresh nonce of that error response, as before.
 */
export function reuseNonces(client: object): void {
  const http = (client as { http?: NonceSource }).http;
  if (!http || typeof http.getNonce !== 'function') {
    throw new Error('acme-client changed: Client.http.getNonce is missing, so nonces cannot be reused');
  }
  const fresh = http.getNonce.bind(http);
  http.getNonce = async () => {
    const origin = originOf(await http.getResourceUrl('newNonce'));
    const pooled = origin ? nonces.get(origin)?.pop() : undefined;
    return pooled ?? fresh();
  };
}
interface InterceptorHandler {
  fulfilled: ((v: unknown) => unknown) | null;
  rejected: ((e: AxiosLikeError) => unknown) | null;
  synchronous: boolean;
  runWhen: null;
}

let installed = false;

/** Server errors (5xx) are retried by acme-client; a Retry-After longer than this is not worth waiting inside a pass. */
const MAX_INLINE_RETRY_AFTER_MS = 10_000;

function recordProblem(resp: AxiosLikeResponse, url: string): ProblemRecord | undefined {
  const data = resp.data as { type?: unknown; detail?: unknown; subproblems?: unknown } | undefined;
  if (!data || typeof data !== 'object' || typeof data.type !== 'string') return undefined;
  const record: ProblemRecord = {
    type: shortProblemType(data.type),
    detail: typeof data.detail === 'string' ? data.detail : '',
    status: resp.status,
    url,
  };
  const retryAfter = parseRetryAfter(resp.headers['retry-after'], new Date());
  if (retryAfter) record.retryAfter = retryAfter;
  if (Array.isArray(data.subproblems)) {
    record.subproblems = (data.subproblems as { type?: string; detail?: string; identifier?: { value: string } }[]).map((s) => ({
      type: shortProblemType(String(s.type ?? '')),
      detail: String(s.detail ?? ''),
      ...(s.identifier ? { identifier: s.identifier } : {}),
    }));
  }
  const store = context.getStore();
  // badNonce is retried by acme-client itself and is never the reason an operation failed.
  if (store && record.type !== 'badNonce') store.lastProblem = record;
  return record;
}

/**
 * Installs the interceptor (once per process) and sets how acme-client retries server errors.
 * `caBundlePem` adds trust for a private ACME server (Pebble, step-ca) on top of the public roots.
 */
export function configureAcmeTransport(opts: { caBundlePem?: string; serverErrorRetries?: number } = {}): void {
  const instance = acme.axios as unknown as {
    defaults: { acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number }; httpsAgent?: unknown; timeout?: number };
    interceptors: { response: { handlers: InterceptorHandler[] } };
  };
  instance.defaults.acmeSettings.retryMaxAttempts = opts.serverErrorRetries ?? 3;
  instance.defaults.acmeSettings.retryDefaultDelay = 1;
  // A stalled CA must not hang a pass forever.
  instance.defaults.timeout = 30_000;
  if (opts.caBundlePem) {
    // One secure context for every connection: with a `ca` option alone, Node builds a new one
    // (parsing ~140 public roots) for each connection, which made 20 concurrent orders 4x slower.
    const secureContext = createSecureContext({ ca: [...rootCertificates, opts.caBundlePem] });
    instance.defaults.httpsAgent = new HttpsAgent({ secureContext, keepAlive: true });
  } else {
    instance.defaults.httpsAgent = new HttpsAgent({ keepAlive: true });
  }
  if (installed) return;
  installed = true;
  const handler: InterceptorHandler = {
    fulfilled: null,
    // acme-client makes axios reject every response (its validateStatus is `() => false`), so
    // successful ones arrive here too.
    rejected: (error: AxiosLikeError) => {
      const url = error.config?.url ?? '(unknown URL)';
      notifyAcmeResponse(error.response ? `${Math.floor(error.response.status / 100)}xx` : (error.code ?? 'ERROR'), {
        method: (error.config?.method ?? 'get').toUpperCase(),
        url,
      });
      if (error.response) keepNonce(error.config, error.response);
      if (!error.response) {
        // Transport failure: no ACME response at all. Rejecting with an error that has no
        // `config` makes acme-client's own interceptor pass it through untouched.
        const code = error.code ?? 'ERROR';
        const detail = code === 'ECONNABORTED' ? `timed out (${error.message})` : `${code}: ${error.message}`;
        return Promise.reject(new CaUnreachableError(url, code, detail, { cause: error }));
      }
      const status = error.response.status;
      if (status < 400) {
        const store = context.getStore();
        const retryAfter = parseRetryAfter(error.response.headers['retry-after'], new Date());
        if (store && retryAfter) store.retryAfter = retryAfter;
        return Promise.reject(error);
      }
      const problem = recordProblem(error.response, url);
      if (status === 429 || (status >= 500 && problem?.retryAfter && problem.retryAfter.getTime() - Date.now() > MAX_INLINE_RETRY_AFTER_MS)) {
        // Hand the response back as-is: acme-client's api layer turns it into an error whose
        // details we already recorded, instead of sleeping for the Retry-After.
        return error.response;
      }
      return Promise.reject(error);
    },
    synchronous: false,
    runWhen: null,
  };
  // Ours must run before acme-client's retry interceptor, which was registered at import time.
  instance.interceptors.response.handlers.unshift(handler);
}
