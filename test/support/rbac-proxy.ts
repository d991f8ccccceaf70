// An RBAC-enforcing front for the in-process Kubernetes API: requests are authorized against
// Roles, ClusterRoles and their bindings (the chart's rendered objects) for one ServiceAccount,
// the way kube-apiserver's RBAC authorizer decides, and forwarded only when allowed. A refusal is
// the API server's 403 Status, so certkeeper meets exactly what it would meet in a cluster where
// the chart's roles are the only grant.
//
// What is modelled: resource requests of /api and /apis paths (namespaced, cluster-wide and
// cluster-scoped), verbs from method + name + watch, rules with apiGroups/resources/verbs and
// resourceNames, "*" wildcards, subresources, RoleBindings to Roles or ClusterRoles. Non-resource
// paths (/api, /apis, /version, /openapi) are allowed, as system:discovery allows them to every
// authenticated user.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

export interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** The request path and query, for messages. */
  url: string;
}

export interface RbacProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Every resource request, with the decision. */
  readonly decisions: (RequestAttributes & { allowed: boolean })[];
  close(): Promise<void>;
}

/** The RBAC attributes of a request, or undefined for a non-resource path. */
export function requestAttributes(method: string, rawUrl: string): RequestAttributes | undefined {
  const url = new URL(rawUrl, 'http://x');
  const seg = url.pathname.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (seg[0] === 'api' && seg.length >= 3) {
    group = '';
    rest = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 4) {
    group = seg[1] as string;
    rest = seg.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest as [string, string?, string?];
  const watch = ['true', '1'].includes(url.searchParams.get('watch') ?? '');
  const verb =
    method === 'GET' || method === 'HEAD'
      ? name
        ? 'get'
        : watch
          ? 'watch'
          : 'list'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : method === 'DELETE'
              ? name
                ? 'delete'
                : 'deletecollection'
              : method.toLowerCase();
  const out: RequestAttributes = { verb, group, resource, url: `${url.pathname}${url.search}` };
  if (subresource) out.subresource = subresource;
  if (namespace) out.namespace = namespace;
  if (name) out.name = name;
  return out;
}

function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  const has = (list: string[] | undefined, v: string) => (list ?? []).includes('*') || (list ?? []).includes(v);
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (!has(rule.apiGroups, a.group) || !has(rule.verbs, a.verb) || !has(rule.resources, resource)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

/** Whether the ServiceAccount may make the request, given these RBAC objects. */
export function authorize(objects: readonly RbacObject[], sa: { namespace: string; name: string }, a: RequestAttributes): boolean {
  const isSubject = (b: RbacObject) => (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === sa.name && s.namespace === sa.namespace);
  const find = (kind: string, name: string, namespace?: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name && (kind === 'ClusterRole' || o.metadata.namespace === namespace));
  for (const b of objects) {
    if (!isSubject(b) || !b.roleRef) continue;
    let role: RbacObject | undefined;
    if (b.kind === 'ClusterRoleBinding' && b.roleRef.kind === 'ClusterRole') role = find('ClusterRole', b.roleRef.name);
    else if (b.kind === 'RoleBinding') {
      // A RoleBinding grants only inside its own namespace, whatever it refers to.
      if (a.namespace !== b.metadata.namespace) continue;
      role = find(b.roleRef.kind, b.roleRef.name, b.metadata.namespace);
    }
    if (role?.rules?.some((r) => ruleAllows(r, a))) return true;
  }
  return false;
}

function forbidden(res: ServerResponse, sa: { namespace: string; name: string }, a: RequestAttributes): void {
  const user = `system:serviceaccount:${sa.namespace}:${sa.name}`;
  const what = a.name ? `${a.resource} "${a.name}"` : a.resource;
  const where = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const body = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `${what} is forbidden: User "${user}" cannot ${a.verb} resource "${a.subresource ? `${a.resource}/${a.subresource}` : a.resource}" in API group "${a.group}" ${where}`,
    reason: 'Forbidden',
    details: { ...(a.name ? { name: a.name } : {}), ...(a.group ? { group: a.group } : {}), kind: a.resource },
    code: 403,
  };
  res.writeHead(403, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startRbacProxy(upstream: string, objects: readonly RbacObject[], sa: { namespace: string; name: string }): Promise<RbacProxy> {
  const target = new URL(upstream);
  const decisions: RbacProxy['decisions'] = [];
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const a = requestAttributes(req.method ?? 'GET', req.url ?? '/');
    if (a) {
      const allowed = authorize(objects, sa, a);
      decisions.push({ ...a, allowed });
      if (!allowed) {
        req.resume();
        forbidden(res, sa, a);
        return;
      }
    }
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    // A watch ends when its client goes away; so does the upstream request.
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    decisions,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
