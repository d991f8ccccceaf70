// @kubernetes/client-node: configuration loading, error translation and retries. Every API
// failure leaves this adapter as a ClusterError naming the verb, resource, namespace and object,
// with the status message of the API server and a hint (RBAC rule, namespace to create,
// kubeconfig to check). Transient failures (connection reset or refused, no answer, 429, 5xx)
// are retried a few times with jitter first, where a retry cannot do something twice.
import { ApiException, KubeConfig, Observable, type ConfigurationOptions, type ObservableMiddleware, type RequestContext, type ResponseContext } from '@kubernetes/client-node';
import { ClusterError, ConfigError, errorMessage } from '../errors.js';

export interface KubeConnectOptions {
  kubeconfig?: string;
  context?: string;
}

/** $KUBECONFIG / ~/.kube/config, or in-cluster credentials, or an explicit file and context. */
export function loadKubeConfig(opts: KubeConnectOptions): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new ConfigError(
      `cannot load the kubeconfig${opts.kubeconfig ? ` ${opts.kubeconfig}` : ''}: ${errorMessage(e)}`,
      'pass --kubeconfig FILE, set KUBECONFIG, or run inside a cluster with a ServiceAccount',
    );
  }
  if (opts.context) {
    if (!kc.getContexts().some((c) => c.name === opts.context)) {
      throw new ConfigError(
        `the kubeconfig has no context "${opts.context}" (it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`,
        'list them with `kubectl config get-contexts`',
      );
    }
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  // With no kubeconfig and no in-cluster credentials, client-node quietly falls back to
  // http://localhost:8080, and the user would only see "connection refused" there.
  if (!opts.kubeconfig && cluster?.server === 'http://localhost:8080' && kc.getCurrentUser()?.name === 'user' && kc.contexts.length <= 1) {
    throw new ConfigError(
      'no kubeconfig found: KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod with a ServiceAccount',
      'pass --kubeconfig FILE or set KUBECONFIG (kubectl config view --raw > FILE writes one), or run certkeeper inside the cluster',
    );
  }
  if (!cluster) {
    throw new ConfigError('the kubeconfig has no current cluster', 'select one with --context, or set current-context in the kubeconfig');
  }
  // client-node refuses plain http:// servers unless TLS verification is off; there is no TLS
  // to verify on such a server (kubectl proxy, a local test API).
  if (cluster.server.startsWith('http://') && !cluster.skipTLSVerify) {
    const clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, skipTLSVerify: true } : c));
    kc.loadFromOptions({ clusters, users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext });
  }
  return kc;
}

export interface RequestDescription {
  verb: string;
  resource: string;
  namespace?: string;
  name?: string;
}

/** How hard a call tries before it reports a transient failure. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** No retry starts later than this after the first attempt began; attempts are cut to fit. */
  budgetMs: number;
  /** A request with no complete answer by then is aborted (then retried, where that is safe). */
  attemptTimeoutMs: number;
  /** The shortest deadline an attempt gets near the end of the budget. */
  minAttemptTimeoutMs: number;
  /** Backoff before the n-th retry: base × 2^(n−1), capped, half of it random. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After up to this long is waited out; longer ones are capped to it. */
  maxRetryAfterMs: number;
  random: () => number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  attempts: 4,
  budgetMs: 10_000,
  attemptTimeoutMs: 10_000,
  minAttemptTimeoutMs: 1_000,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
  maxRetryAfterMs: 5_000,
  random: Math.random,
});

export interface CallOptions<T> {
  policy?: Partial<RetryPolicy>;
  /**
   * The call may be repeated after an attempt that might have been applied (no answer, reset, 500,
   * 502, 504). True by default for get, list, update, patch and delete: reads change nothing, a PUT
   * carries its resourceVersion (a repeat gets 409, never a second write), certkeeper's patches are
   * merge patches that set values, and a repeated delete finds nothing. False by default for create:
   * pass true only for a named object whose AlreadyExists the caller or `reconcile` sorts out;
   * generateName creates (Events) would make a second object.
   */
  idempotent?: boolean;
  /**
   * After an attempt that might have been applied, a later attempt failed with `e` (typically 409
   * for a create or update, 404 for a delete): was that our own earlier attempt? Return the result
   * to report success, or undefined to report `e`.
   */
  reconcile?: (e: ClusterError) => Promise<T | undefined>;
}

interface StatusBody {
  message?: string;
  reason?: string;
}

function statusOf(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body.slice(0, 300) };
    }
  }
  return (body ?? {}) as StatusBody;
}

/** HTTP status of a failed API call, or undefined when no response came back. */
export function statusCode(e: unknown): number | undefined {
  if (e instanceof ClusterError) return e.request.status;
  if (e instanceof ApiException) return e.code;
  return undefined;
}

export function describeRequest(r: RequestDescription): string {
  const obj = r.name ? `${r.resource.replace(/s$/, '')} ${r.namespace ? `${r.namespace}/` : ''}${r.name}` : r.resource;
  return `${r.verb} ${obj}${!r.name && r.namespace ? ` in namespace ${r.namespace}` : ''}`;
}

/** node-fetch's AbortError: our per-attempt deadline ran out before the answer was complete. */
function isAbort(e: unknown): boolean {
  const err = e as { name?: string; type?: string };
  return err?.name === 'AbortError' || err?.type === 'aborted';
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/** Any failure of a client-node call → ClusterError with what was attempted and what to do. */
export function translateKubeError(e: unknown, r: RequestDescription, server?: string, attemptTimeoutMs?: number): ClusterError {
  if (e instanceof ClusterError) return e;
  const what = describeRequest(r);
  if (isAbort(e)) {
    return new ClusterError(
      `no answer from the Kubernetes API${server ? ` at ${server}` : ''} within ${attemptTimeoutMs !== undefined ? seconds(attemptTimeoutMs) : 'the deadline'} to ${what}`,
      { ...r, unreachable: true },
      'the API server is overloaded or a proxy in between holds the connection; check the control plane\'s health (kubectl get --raw /readyz)',
      { cause: e },
    );
  }
  if (e instanceof ApiException) {
    const status = statusOf(e.body);
    const code = e.code;
    const reason = status.reason ?? (code === 401 ? 'Unauthorized' : undefined);
    const base: ConstructorParameters<typeof ClusterError>[1] = { ...r, status: code };
    if (reason) base.reason = reason;
    // Still 503 after the retries: no apiserver behind the endpoint is serving. As good as unreachable.
    if (code === 503) base.unreachable = true;
    const apiMessage = status.message ?? `HTTP ${code}`;
    if (code === 403) {
      // One status code, three owners with three different fixes: RBAC, a validating admission
      // webhook (relayed without a reason), and a ResourceQuota ("exceeded quota").
      const where = r.namespace ? ` in ${r.namespace}` : '';
      const webhook = /admission webhook "([^"]+)" denied the request/.exec(apiMessage)?.[1];
      base.deniedBy = webhook !== undefined ? 'admission webhook' : /exceeded quota/.test(apiMessage) ? 'ResourceQuota' : 'RBAC';
      const hint =
        webhook !== undefined
          ? `the admission webhook "${webhook}" refuses to let certkeeper ${r.verb} ${r.resource}${where}: change its policy to allow certkeeper's ServiceAccount`
          : base.deniedBy === 'ResourceQuota'
            ? `a ResourceQuota${where} allows no more ${r.resource}: raise it (kubectl -n ${r.namespace ?? 'NAMESPACE'} describe resourcequota) or delete ${r.resource} nobody uses`
            : `grant certkeeper's ServiceAccount "${r.verb}" on ${r.resource}${where}; the chart's ClusterRole and Role list every rule certkeeper needs`;
      return new ClusterError(`${code} forbidden: cannot ${r.verb} ${r.resource}${r.namespace ? ` in namespace ${r.namespace}` : ' cluster-wide'} (${apiMessage})`, base, hint, { cause: e });
    }
    if (code === 401) {
      return new ClusterError(`401 unauthorized: the API server rejected the credentials while trying to ${what}`, base, 'refresh the kubeconfig credentials (expired token?)', { cause: e });
    }
    if (code === 404 && /namespaces? "[^"]+" not found/.test(apiMessage)) {
      return new ClusterError(`cannot ${what}: ${apiMessage}`, base, `create the namespace first (kubectl create namespace ${r.namespace ?? ''})`, { cause: e });
    }
    return new ClusterError(`cannot ${what}: ${code} ${reason ?? ''} ${apiMessage}`.replace(/\s+/g, ' ').trim(), base, undefined, { cause: e });
  }
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err?.code ?? err?.cause?.code;
  if (code) {
    // node-fetch says "request to URL failed, reason: connect ECONNREFUSED …": the reason is the news.
    const reason = /reason: (.*)$/.exec(err.message)?.[1] ?? err.message;
    return new ClusterError(
      `cannot reach the Kubernetes API${server ? ` at ${server}` : ''} to ${what}: ${reason}`,
      { ...r, unreachable: true },
      'check the kubeconfig server address and that the cluster is reachable from here',
      { cause: e },
    );
  }
  return new ClusterError(`cannot ${what}: ${err?.message ?? String(e)}`, { ...r }, undefined, { cause: e });
}

type Transient = { retry: false } | { retry: true; maybeApplied: boolean; retryAfterMs?: number };

/** Transport error codes where the request cannot have reached the API server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** Transport error codes where it may have arrived (and been applied) before the connection broke. */
const MAYBE_SENT = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), in ms from now. */
function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/**
 * Which failures are worth another attempt. 429 and 503 are refusals before any handler ran (API
 * priority and fairness, an unavailable apiserver or load balancer); 500, 502 and 504 may come
 * after storage took the write (an etcd timeout, a proxy that lost the answer). 403, 404, 409 and
 * 422 are answers about the request itself: repeating it gets the same answer.
 */
export function classifyFailure(e: unknown): Transient {
  if (e instanceof ApiException) {
    const headers = (e.headers ?? {}) as Record<string, string | undefined>;
    const after = retryAfterMs(headers['retry-after'] ?? headers['Retry-After']);
    if (e.code === 429 || e.code === 503) return { retry: true, maybeApplied: false, ...(after !== undefined ? { retryAfterMs: after } : {}) };
    if (e.code === 500 || e.code === 502 || e.code === 504) return { retry: true, maybeApplied: true, ...(after !== undefined ? { retryAfterMs: after } : {}) };
    return { retry: false };
  }
  if (isAbort(e)) return { retry: true, maybeApplied: true };
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err?.code ?? err?.cause?.code;
  if (code && NOT_SENT.has(code)) return { retry: true, maybeApplied: false };
  if (code && MAYBE_SENT.has(code)) return { retry: true, maybeApplied: true };
  return { retry: false };
}

/** Options that give one client-node request a deadline (its AbortSignal), on top of `base`. */
export function withSignal(signal: AbortSignal, base?: ConfigurationOptions): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (ctx: RequestContext) => {
      ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
  };
  return { ...base, middleware: [...(base?.middleware ?? []), middleware], middlewareMergeStrategy: 'append' };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One API call, retried on transient failures within the policy, translated into a ClusterError.
 * `fn` gets the options that carry each attempt's deadline; pass them to the client-node method
 * (or the deadline's signal itself to a request made without a generated method).
 */
export async function kubeCall<T>(
  r: RequestDescription,
  fn: (options: ConfigurationOptions, signal: AbortSignal) => Promise<T>,
  server?: string,
  opts: CallOptions<T> = {},
): Promise<T> {
  const policy = { ...DEFAULT_RETRY, ...opts.policy };
  const idempotent = opts.idempotent ?? r.verb !== 'create';
  const started = performance.now();
  const deadline = started + policy.budgetMs;
  let maybeApplied = false;
  let timeoutMs = policy.attemptTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    timeoutMs = Math.min(policy.attemptTimeoutMs, Math.max(deadline - performance.now(), policy.minAttemptTimeoutMs));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let failure: unknown;
    try {
      return await fn(withSignal(controller.signal), controller.signal);
    } catch (e) {
      failure = e;
    } finally {
      clearTimeout(timer);
    }
    const kind = classifyFailure(failure);
    const error = () => {
      const err = translateKubeError(failure, r, server, timeoutMs);
      if (attempt > 1) {
        err.message = `${err.message} (${attempt} attempts in ${seconds(performance.now() - started)})`;
        err.request.attempts = attempt;
      }
      return err;
    };
    if (!kind.retry && maybeApplied && opts.reconcile) {
      // Our earlier attempt may be why this one failed (AlreadyExists, Conflict, NotFound).
      const resolved = await opts.reconcile(error());
      if (resolved !== undefined) return resolved;
    }
    if (!kind.retry || attempt >= policy.attempts) throw error();
    if (kind.maybeApplied && !idempotent) throw error();
    const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    const jittered = backoff / 2 + (policy.random() * backoff) / 2;
    const wait = kind.retryAfterMs !== undefined ? Math.min(kind.retryAfterMs, policy.maxRetryAfterMs) : jittered;
    if (performance.now() + wait >= deadline) throw error();
    maybeApplied ||= kind.maybeApplied;
    await sleep(wait);
  }
}

/** Lists every page of a paginated list call (limit/continue), so memory stays bounded per page. */
export async function listAllPages<T>(
  r: RequestDescription,
  page: (cont: string | undefined, options: ConfigurationOptions) => Promise<{ items: T[]; metadata?: { _continue?: string } }>,
  server?: string,
  policy?: Partial<RetryPolicy>,
): Promise<T[]> {
  const all: T[] = [];
  let cont: string | undefined;
  do {
    const res = await kubeCall(r, (options) => page(cont, options), server, policy ? { policy } : {});
    all.push(...res.items);
    cont = res.metadata?._continue || undefined;
  } while (cont);
  return all;
}

export const PAGE_SIZE = 500;
