// @kubernetes/client-node: configuration loading and error translation. Every API failure leaves
// this adapter as a ClusterError naming the verb, resource, namespace and object, with the status
// message of the API server and a hint (RBAC rule, namespace to create, kubeconfig to check).
import { ApiException, KubeConfig } from '@kubernetes/client-node';
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

/** Any failure of a client-node call → ClusterError with what was attempted and what to do. */
export function translateKubeError(e: unknown, r: RequestDescription, server?: string): ClusterError {
  if (e instanceof ClusterError) return e;
  const what = describeRequest(r);
  if (e instanceof ApiException) {
    const status = statusOf(e.body);
    const code = e.code;
    const reason = status.reason ?? (code === 401 ? 'Unauthorized' : undefined);
    const base: ConstructorParameters<typeof ClusterError>[1] = { ...r, status: code };
    if (reason) base.reason = reason;
    const apiMessage = status.message ?? `HTTP ${code}`;
    if (code === 403) {
      return new ClusterError(
        `${code} forbidden: cannot ${r.verb} ${r.resource}${r.namespace ? ` in namespace ${r.namespace}` : ' cluster-wide'} (${apiMessage})`,
        base,
        `grant certkeeper's ServiceAccount "${r.verb}" on ${r.resource}${r.namespace ? ` in ${r.namespace}` : ''}; the chart's ClusterRole and Role list every rule certkeeper needs`,
        { cause: e },
      );
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
      { ...r },
      'check the kubeconfig server address and that the cluster is reachable from here',
      { cause: e },
    );
  }
  return new ClusterError(`cannot ${what}: ${err?.message ?? String(e)}`, { ...r }, undefined, { cause: e });
}

/** Wraps one API call with translation. */
export async function kubeCall<T>(r: RequestDescription, fn: () => Promise<T>, server?: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw translateKubeError(e, r, server);
  }
}

/** Lists every page of a paginated list call (limit/continue), so memory stays bounded per page. */
export async function listAllPages<T>(
  r: RequestDescription,
  page: (cont: string | undefined) => Promise<{ items: T[]; metadata?: { _continue?: string } }>,
  server?: string,
): Promise<T[]> {
  const all: T[] = [];
  let cont: string | undefined;
  do {
    const res = await kubeCall(r, () => page(cont), server);
    all.push(...res.items);
    cont = res.metadata?._continue || undefined;
  } while (cont);
  return all;
}

export const PAGE_SIZE = 500;
