// The big lists of a pass (every Ingress, every TLS Secret), read page by page and reduced to what
// certkeeper reads before the next page is asked for.
//
// client-node's generated client turns every object of a page into a typed model (ObjectSerializer,
// Date objects included), which the adapter then had to turn back into plain JSON: three copies of
// each object, and every field of it, kept for the whole pass. Over 10,000 Ingresses and Secrets that
// was most of a pass's memory. These calls go through client-node all the same for everything that
// makes a request safe (kubeconfig credentials, exec and OIDC plugins, client certificates, proxies,
// the CA: KubeConfig.applySecurityAuthentication, as generated calls do) and through kubeCall for
// deadlines, retries and errors; only the answer is read as JSON instead of as models.
import { ApiException, HttpMethod, IsomorphicFetchHttpLibrary, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { isRecord } from '../core/ingress.js';
import type { SecretObject } from '../core/secret.js';
import { kubeCall, PAGE_SIZE, type RequestDescription, type RetryPolicy } from './client.js';

/**
 * Written by `kubectl apply` (client-side): the whole object as JSON, read by kubectl alone. On a
 * GitOps-managed Ingress it is often the largest field, and certkeeper never reads it.
 */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Json = Record<string, unknown>;

function metadataOf(obj: Json, dropAnnotations: readonly string[]): Json {
  const m = isRecord(obj.metadata) ? obj.metadata : {};
  const out: Json = {};
  for (const k of ['name', 'namespace', 'uid', 'resourceVersion', 'labels'] as const) if (m[k] !== undefined) out[k] = m[k];
  if (isRecord(m.annotations)) {
    const annotations = { ...m.annotations };
    for (const k of dropAnnotations) delete annotations[k];
    out.annotations = annotations;
  }
  return out;
}

/**
 * An Ingress as the plan, the audit and the probe read it (core/ingress.ts viewIngress, core/targets.ts,
 * audit-live.ts): its name, labels and annotations, the whole spec, and status.loadBalancer. Dropped:
 * managedFields, kubectl's last-applied copy of the object, owner references, timestamps.
 */
export function reduceIngress(item: unknown): Json {
  const obj = isRecord(item) ? item : {};
  // The API omits apiVersion and kind on list items; the core recognises Ingresses by them.
  const out: Json = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: metadataOf(obj, [LAST_APPLIED]) };
  if (obj.spec !== undefined) out.spec = obj.spec;
  if (isRecord(obj.status) && obj.status.loadBalancer !== undefined) out.status = { loadBalancer: obj.status.loadBalancer };
  return out;
}

/**
 * A Secret as the checks read it and as a rewrite builds on it (core/secret.ts viewSecret,
 * buildTlsSecret): name, resourceVersion, labels, every annotation, type and every data key (a
 * rewrite keeps the keys it does not own, ca.crt for one). Dropped: managedFields, timestamps, owner
 * references, none of which a rewrite sends.
 */
export function reduceSecret(item: unknown): SecretObject {
  const obj = isRecord(item) ? item : {};
  const out = { apiVersion: 'v1', kind: 'Secret', metadata: metadataOf(obj, []) } as SecretObject;
  if (typeof obj.type === 'string') out.type = obj.type;
  if (isRecord(obj.data)) out.data = obj.data as Record<string, string>;
  return out;
}

interface Page {
  items?: unknown[];
  metadata?: { continue?: string };
}

const http = new IsomorphicFetchHttpLibrary();

/** One page of a list, as JSON, with the kubeconfig's credentials. HTTP errors become ApiException, as from generated calls. */
async function fetchPage(kc: KubeConfig, url: string, query: Record<string, string>, signal: AbortSignal): Promise<Page> {
  const ctx = new RequestContext(url, HttpMethod.GET);
  for (const [k, v] of Object.entries(query)) ctx.setQueryParam(k, v);
  ctx.setHeaderParam('Accept', 'application/json');
  await kc.applySecurityAuthentication(ctx);
  ctx.setSignal(signal);
  const res = await http.send(ctx).toPromise();
  const text = await res.body.text();
  if (res.httpStatusCode < 200 || res.httpStatusCode > 299) throw new ApiException(res.httpStatusCode, `HTTP ${res.httpStatusCode}`, text, res.headers);
  return JSON.parse(text) as Page;
}

export interface ListTarget {
  kc: KubeConfig;
  server: string;
  retry: Partial<RetryPolicy>;
}

/**
 * Every page of `path` (limit/continue), each item reduced as its page arrives: the pass holds one
 * reduced copy of each object and at most one page as the API sent it.
 */
export async function listReduced<T>(
  target: ListTarget,
  r: RequestDescription,
  path: string,
  query: Record<string, string>,
  reduce: (item: unknown) => T,
): Promise<T[]> {
  const url = `${target.server.replace(/\/+$/, '')}${path}`;
  const out: T[] = [];
  let cont: string | undefined;
  do {
    const pageQuery: Record<string, string> = { ...query, limit: String(PAGE_SIZE) };
    if (cont) pageQuery.continue = cont;
    const page = await kubeCall(r, (_options, signal) => fetchPage(target.kc, url, pageQuery, signal), target.server, { policy: target.retry });
    for (const item of page.items ?? []) out.push(reduce(item));
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return out;
}
