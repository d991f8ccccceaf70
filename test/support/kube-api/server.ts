// The HTTP face of the fake API server: routing, content negotiation, list/watch, patch
// dispatch, fault injection and the request log. Storage semantics live in store.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  aggregatedDiscovery,
  AGGREGATED_CONTENT_TYPE,
  apiGroupDoc,
  apiGroupList,
  apiResourceList,
  apiVersions,
  versionInfo,
  wantsAggregated,
} from './discovery.js';
import {
  ApiError,
  badRequest,
  conflict,
  forbidden,
  genericError,
  invalid,
  methodNotSupported,
  notAcceptable,
  notFound,
  pathNotFound,
  unsupportedMediaType,
} from './errors.js';
import { OPENAPI_V2_PROTOBUF, openApiV2Json, openApiV2Protobuf, openApiV3Document, openApiV3Index } from './openapi.js';
import { applyPatch, isMap, jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import {
  DEFAULT_RESOURCES,
  groupVersion,
  ResourceTable,
  type KubeObject,
  type ResourceRef,
  type ResourceType,
} from './resources.js';
import { decodeProtobuf } from './protobuf.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { decodeError, unknownFields } from './validation.js';
import { Store, type WatchEvent } from './store.js';
import { createFaultInjector, type FaultInjector } from './faults.js';
import { toTable, type IncludeObject } from './table.js';
import { GATEWAY_API_BUNDLE_VERSION, GATEWAY_API_RESOURCES } from './gateway-api.js';

export interface KubeApiOptions {
  /** The user named in Forbidden messages. */
  user?: string;
  /** Watch events kept for resuming watches; older resourceVersions get 410 Expired. */
  historySize?: number;
  /** How often a watch with allowWatchBookmarks=true gets a BOOKMARK (real servers: ~1 min). */
  bookmarkIntervalMs?: number;
  /** Resources served in addition to the default table. */
  resources?: ResourceType[];
  /** Serve apidiscovery.k8s.io/v2 when asked (default true); false tests the legacy fallback. */
  aggregatedDiscovery?: boolean;
  /** Print every request to stderr (default: environment variable KUBE_API_LOG=1). */
  logRequests?: boolean;
  /** How long a deleted namespace stays Terminating before it and its objects go (default 100 ms). */
  namespaceTerminationMs?: number;
  /** Namespaces to create at start, besides default, kube-system, kube-public, kube-node-lease. */
  namespaces?: string[];
  /**
   * Serve the Gateway API standard channel (v1.6.1 CRDs: GatewayClass, Gateway, HTTPRoute,
   * ListenerSet, ReferenceGrant) and list its CRDs. Default false: a cluster without the CRDs,
   * where discovery has no gateway.networking.k8s.io and its paths answer 404, which is what
   * every test written before Gateway support saw.
   */
  gatewayApi?: boolean;
  /** Seed of the fault injector's random decisions (faults.ts); the same seed, the same faults. */
  faultSeed?: number;
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Set for resource requests. */
  verb?: Verb;
  /** Plural resource name, e.g. `secrets`. */
  resource?: string;
  group?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Request Content-Type, when the request had a body. */
  contentType?: string;
  /** HTTP status sent (0 while a watch is still streaming). */
  status: number;
}

export interface DenyRule {
  verb?: Verb | Verb[];
  /** Plural, optionally with subresource (`ingresses/status`). */
  resource?: string;
  group?: string;
  namespace?: string;
  name?: string;
  /** How many matching requests to deny (denyNext only); default 1. */
  count?: number;
}

export interface FailRule {
  method?: string;
  pathIncludes?: string;
  verb?: Verb | Verb[];
  resource?: string;
  status: number;
  reason?: string;
  message?: string;
  retryAfterSeconds?: number;
  /** How many matching requests fail; default 1. */
  count?: number;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface KubeApi {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  close(): Promise<void>;
  writeKubeconfig(path: string, opts?: { namespace?: string }): Promise<void>;
  /** A @kubernetes/client-node KubeConfig pointing at this server. */
  kubeConfig(opts?: { namespace?: string }): KubeConfig;

  // Direct store access: plain JS objects, copies in and out, same validation as the API.
  // The type parameters are unchecked conveniences (`api.get<V1Secret>(…)`), as JSON.parse is.
  get<T = KubeObject>(ref: ResourceRef, namespace: string | undefined, name: string): T | undefined;
  list<T = KubeObject>(ref: ResourceRef, namespace?: string, opts?: ListOptions): T[];
  /** Creates from any object with apiVersion, kind and metadata; throws ApiError like a POST. */
  create<T = KubeObject>(obj: object): T;
  /** Creates or replaces (unconditionally unless obj carries a resourceVersion). */
  put<T = KubeObject>(obj: object): T;
  /**
   * Writes only the status, as PUT …/status does (custom resources need the resourceVersion
   * read with the object). What controllers do; clients of the API never see the difference.
   */
  putStatus<T = KubeObject>(obj: object): T;
  /** Deletes; false when it did not exist. */
  delete(ref: ResourceRef, namespace: string | undefined, name: string): boolean;
  ensureNamespace(name: string, labels?: Record<string, string>): KubeObject;
  /** The resource types served (for discovery-driven tests). */
  readonly resources: ResourceTable;
  /** Current global resourceVersion. */
  readonly resourceVersion: string;
  /** Forgets all watch history, so resuming any earlier resourceVersion gets 410 Expired. */
  compactHistory(): void;
  /** Watches currently streaming. */
  readonly openWatches: number;

  // Fault injection.
  denyNext(rule: DenyRule): void;
  /** Denies matching requests until the returned function is called (or clearFaults). */
  denyAlways(rule: Omit<DenyRule, 'count'>): () => void;
  failNext(rule: FailRule): void;
  setLatency(ms: number): void;
  /** Clears denyNext/failNext/latency and the rules and outages of `faults`. */
  clearFaults(): void;
  /** Rule-based faults: errors, drops, hangs, probabilities, outages (faults.ts). */
  readonly faults: FaultInjector;

  /** Every request received, in order. */
  readonly requests: RequestRecord[];
  resetRequests(): void;
}

const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

interface ResourceRoute {
  kind: 'resource';
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  watch: boolean;
}

type Route = ResourceRoute | { kind: 'other'; handle: () => void };

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

const encodeContinue = (t: ContinueToken): string => Buffer.from(JSON.stringify(t)).toString('base64url');

function decodeContinue(s: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as ContinueToken;
    if (t.v === 'meta.k8s.io/v1' && typeof t.start === 'string' && typeof t.rv === 'number') return t;
  } catch {
    // fall through to the apiserver's message
  }
  throw badRequest(`continue key is not valid: ${s}`);
}

const PATCH_OPTIONS_TYPE: ResourceType = { group: 'meta.k8s.io', version: 'v1', resource: 'patchoptions', kind: 'PatchOptions', singular: '', namespaced: false };

const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function matchesList<T extends string>(rule: T | T[] | undefined, value: T | undefined): boolean {
  if (rule === undefined) return true;
  return Array.isArray(rule) ? value !== undefined && rule.includes(value) : rule === value;
}

function verbOf(method: string, route: ResourceRoute): Verb | undefined {
  switch (method) {
    case 'GET':
      return route.watch ? 'watch' : route.name ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return route.name ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}

export async function startKubeApi(opts: KubeApiOptions = {}): Promise<KubeApi> {
  const user = opts.user ?? 'system:serviceaccount:certkeeper:certkeeper';
  const table = new ResourceTable([...DEFAULT_RESOURCES, ...(opts.gatewayApi ? GATEWAY_API_RESOURCES : []), ...(opts.resources ?? [])]);
  const store = new Store(table, opts.historySize ?? 10_000);
  const bookmarkMs = opts.bookmarkIntervalMs ?? 1000;
  const aggregated = opts.aggregatedDiscovery ?? true;
  // KUBE_API_LOG=1 prints every request to stderr: the quickest way to see what a client did.
  const logRequests = opts.logRequests ?? process.env['KUBE_API_LOG'] === '1';
  const requests: RequestRecord[] = [];
  let denies: (DenyRule & { remaining: number })[] = [];
  let failures: (FailRule & { remaining: number })[] = [];
  let latency = 0;
  const watchClosers = new Set<() => void>();
  const faults = createFaultInjector({ user, table, ...(opts.faultSeed !== undefined ? { seed: opts.faultSeed } : {}) });
  /** Last configuration each field manager applied, by object uid (server-side apply). */
  const appliedConfigs = new Map<string, unknown>();
  let url = '';
  const nsTimers = new Set<NodeJS.Timeout>();
  function scheduleNamespaceFinalize(name: string): void {
    const timer = setTimeout(() => {
      nsTimers.delete(timer);
      store.finalizeNamespace(name);
    }, opts.namespaceTerminationMs ?? 100);
    nsTimers.add(timer);
  }

  const nsType = table.resolve('namespaces');
  for (const ns of [...SYSTEM_NAMESPACES, ...(opts.namespaces ?? [])]) {
    if (!store.get(nsType, undefined, ns)) store.create(nsType, undefined, { metadata: { name: ns } });
  }
  if (opts.gatewayApi) installCrds(store, table, GATEWAY_API_RESOURCES);

  // ---- routing ------------------------------------------------------------------------------

  function parseResourcePath(segments: string[], group: string, version: string): ResourceRoute {
    const types = table.groupVersion(group, version);
    if (!types) throw pathNotFound();
    let rest = segments;
    let watch = false;
    if (rest[0] === 'watch') {
      watch = true; // legacy /watch/ paths, still served by real clusters
      rest = rest.slice(1);
    }
    let namespace: string | undefined;
    // /namespaces/<ns>/<resource>…, but /namespaces/<name>/status is the namespace itself.
    if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [resource, name, subresource, ...extra] = rest;
    const type = types.find((t) => t.resource === resource);
    if (!type || extra.length) throw pathNotFound();
    if (namespace !== undefined && !type.namespaced) throw pathNotFound();
    if (!type.namespaced && type.resource !== 'namespaces' && namespace) throw pathNotFound();
    if (subresource !== undefined && !(subresource === 'status' && type.status)) throw pathNotFound();
    // A named namespaced object must be addressed through its namespace.
    if (type.namespaced && namespace === undefined && name !== undefined) throw pathNotFound();
    return {
      kind: 'resource',
      type,
      watch,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(subresource !== undefined ? { subresource } : {}),
    };
  }

  function route(path: string, req: IncomingMessage, res: ServerResponse): Route {
    const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
    const accept = req.headers.accept;
    const json = (body: unknown, contentType = 'application/json') => () => send(res, 200, body, contentType);
    const [root, a, b] = segments;
    if (root === 'api') {
      if (segments.length === 1) {
        return wantsAggregated(accept) && aggregated
          ? { kind: 'other', handle: json(aggregatedDiscovery(table, true), AGGREGATED_CONTENT_TYPE) }
          : { kind: 'other', handle: json(apiVersions(url.replace(/^https?:\/\//, ''))) };
      }
      if (a !== 'v1') throw pathNotFound();
      if (segments.length === 2) return { kind: 'other', handle: json(apiResourceList(table.groupVersion('', 'v1') ?? [], 'v1')) };
      return parseResourcePath(segments.slice(2), '', 'v1');
    }
    if (root === 'apis') {
      if (segments.length === 1) {
        return wantsAggregated(accept) && aggregated
          ? { kind: 'other', handle: json(aggregatedDiscovery(table, false), AGGREGATED_CONTENT_TYPE) }
          : { kind: 'other', handle: json(apiGroupList(table)) };
      }
      if (segments.length === 2) {
        const doc = apiGroupDoc(table, a ?? '');
        if (!doc) throw pathNotFound();
        return { kind: 'other', handle: json(doc) };
      }
      const types = table.groupVersion(a ?? '', b ?? '');
      if (!types) throw pathNotFound();
      if (segments.length === 3) return { kind: 'other', handle: json(apiResourceList(types, `${a}/${b}`)) };
      return parseResourcePath(segments.slice(3), a ?? '', b ?? '');
    }
    if (path === '/version') return { kind: 'other', handle: json(versionInfo()) };
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      return { kind: 'other', handle: () => send(res, 200, 'ok', 'text/plain') };
    }
    if (path === '/openapi/v2') {
      return (accept ?? '').includes('protobuf')
        ? { kind: 'other', handle: () => send(res, 200, openApiV2Protobuf(), OPENAPI_V2_PROTOBUF) }
        : { kind: 'other', handle: json(openApiV2Json()) };
    }
    if (root === 'openapi' && a === 'v3') {
      if (segments.length === 2) return { kind: 'other', handle: json(openApiV3Index(table)) };
      const doc = openApiV3Document(table, segments.slice(2).join('/'));
      if (!doc) throw pathNotFound();
      return { kind: 'other', handle: json(doc) };
    }
    // The real server's mux answers unknown non-API paths in plain text.
    return { kind: 'other', handle: () => send(res, 404, '404 page not found\n', 'text/plain; charset=utf-8') };
  }

  // ---- responses ----------------------------------------------------------------------------

  function send(res: ServerResponse, code: number, body: unknown, contentType = 'application/json', headers: Record<string, string> = {}): void {
    const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': contentType, 'Cache-Control': 'no-cache, private', ...headers });
    res.end(text);
  }

  function sendError(res: ServerResponse, err: ApiError): void {
    send(res, err.status.code, err.status, 'application/json', err.headers);
  }

  /** Clients asking for Table (kubectl get) and whether they want the object embedded. */
  function tableRequest(req: IncomingMessage, query: URLSearchParams): IncludeObject | undefined {
    const accept = req.headers.accept ?? '';
    if (!/as=Table/.test(accept) || !/g=meta\.k8s\.io/.test(accept)) return undefined;
    const include = query.get('includeObject');
    return include === 'None' || include === 'Object' ? include : 'Metadata';
  }

  function checkAcceptable(req: IncomingMessage): void {
    const accept = req.headers.accept;
    if (!accept) return;
    const ok = accept.split(',').some((m) => {
      const type = m.split(';')[0]?.trim() ?? '';
      return type === 'application/json' || type === '*/*' || type === 'application/*' || type === 'application/yaml';
    });
    if (!ok) throw notAcceptable();
  }

  /** Built-in typed lists carry no kind/apiVersion on items; custom resources (unstructured) do. */
  function listItem(t: ResourceType, o: KubeObject): KubeObject {
    if (t.returnsDeletedObject) return o;
    const { kind: _k, apiVersion: _a, ...rest } = o;
    return rest as KubeObject;
  }

  // ---- verbs --------------------------------------------------------------------------------

  function selectors(t: ResourceType, query: URLSearchParams) {
    const label = parseLabelSelector(query.get('labelSelector'));
    const field = parseFieldSelector(query.get('fieldSelector'), t.selectableFields);
    return { label, field: field.matcher, name: field.name };
  }

  function handleList(req: IncomingMessage, res: ServerResponse, r: ResourceRoute, query: URLSearchParams): void {
    const t = r.type;
    const sel = selectors(t, query);
    const limit = Number(query.get('limit') ?? 0);
    if (!Number.isInteger(limit) || limit < 0) throw badRequest(`limit: Invalid value: "${query.get('limit') ?? ''}"`);
    const cont = query.get('continue');
    const token = cont ? decodeContinue(cont) : undefined;
    const rv = token ? token.rv : store.resourceVersion;
    const items: KubeObject[] = [];
    let lastKey: string | undefined;
    let more = false;
    const selective = !!query.get('labelSelector') || !!query.get('fieldSelector');
    for (const [key, obj] of store.iterate(t, r.namespace, token?.start)) {
      if (limit && items.length === limit) {
        more = true;
        break;
      }
      if (!sel.label(obj) || !sel.field(obj)) continue;
      items.push(obj);
      lastKey = key;
    }
    const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
    if (more && lastKey !== undefined) {
      metadata['continue'] = encodeContinue({ v: 'meta.k8s.io/v1', rv, start: lastKey });
      // Like etcd3, the count is only known (and only sent) when nothing is filtered.
      if (!selective) metadata['remainingItemCount'] = store.countAfter(t, r.namespace, lastKey);
    }
    const include = tableRequest(req, query);
    if (include) {
      send(res, 200, toTable(t, items, metadata, include), 'application/json');
      return;
    }
    send(res, 200, { kind: `${t.kind}List`, apiVersion: groupVersion(t), metadata, items: items.map((o) => listItem(t, o)) });
  }

  function handleGet(req: IncomingMessage, res: ServerResponse, r: ResourceRoute, query: URLSearchParams): void {
    const t = r.type;
    const obj = store.get(t, r.namespace, r.name ?? '');
    if (!obj) throw notFound(t, r.name ?? '');
    const include = tableRequest(req, query);
    if (include) send(res, 200, toTable(t, [obj], { resourceVersion: obj.metadata.resourceVersion }, include));
    else send(res, 200, obj);
  }

  function handleWatch(req: IncomingMessage, res: ServerResponse, r: ResourceRoute, query: URLSearchParams, record: RequestRecord): void {
    const t = r.type;
    const sel = selectors(t, query);
    const name = r.name ?? sel.name;
    const fieldMatcher = name !== undefined ? (o: KubeObject) => o.metadata.name === name && sel.field(o) : sel.field;
    const rvParam = query.get('resourceVersion') ?? '';
    const sendInitial = query.get('sendInitialEvents') === 'true';
    let since: number | undefined;
    if (rvParam !== '' && rvParam !== '0' && !sendInitial) {
      since = Number(rvParam);
      if (!Number.isInteger(since) || since < 0) {
        throw invalid(t, '', [{ type: 'FieldValueInvalid', field: 'resourceVersion', value: rvParam, detail: 'must be a non-negative integer' }]);
      }
    }
    const include = tableRequest(req, query);
    const bookmarks = query.get('allowWatchBookmarks') === 'true';
    const wrap = (o: unknown): unknown =>
      include && isMap(o) && o['kind'] !== 'Status' ? toTable(t, [o as KubeObject], {}, include) : o;

    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    // Clients (client-node's Watch) wait for headers before they consider the watch open.
    res.flushHeaders();
    record.status = 200;
    const write = (e: WatchEvent) => {
      if (!res.writableEnded) res.write(`${JSON.stringify({ type: e.type, object: wrap(e.object) })}\n`);
    };
    const bookmark = (annotations?: Record<string, string>) =>
      write({
        type: 'BOOKMARK',
        object: {
          kind: t.kind,
          apiVersion: groupVersion(t),
          metadata: { resourceVersion: String(store.resourceVersion), ...(annotations ? { annotations } : {}) },
        },
      });

    let unsubscribe: () => void = () => undefined;
    try {
      unsubscribe = store.watch(t, { ...(r.namespace ? { namespace: r.namespace } : {}), label: sel.label, field: fieldMatcher }, since, write);
    } catch (err) {
      // The watch cache answers a too-old resourceVersion with an ERROR event on a 200 stream.
      if (err instanceof ApiError) {
        write({ type: 'ERROR', object: err.status });
        res.end();
        return;
      }
      throw err;
    }
    if (sendInitial && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });

    const timers: NodeJS.Timeout[] = [];
    const close = () => {
      unsubscribe();
      timers.forEach((x) => clearTimeout(x));
      watchClosers.delete(close);
      if (!res.writableEnded) res.end();
    };
    watchClosers.add(close);
    if (bookmarks) timers.push(setInterval(() => bookmark(), bookmarkMs));
    const timeout = Number(query.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(close, timeout * 1000));
    req.on('close', close);
    res.on('close', close);
  }

  function dryRun(query: URLSearchParams, body?: unknown): boolean {
    if (query.getAll('dryRun').includes('All')) return true;
    return isMap(body) && Array.isArray(body['dryRun']) && body['dryRun'].includes('All');
  }

  /**
   * SelfSubjectAccessReview answers from the deny rules (without consuming denyNext counts), so
   * a permission pre-check and the real request agree; SelfSubjectReview names the user.
   */
  function handleReview(res: ServerResponse, t: ResourceType, body: unknown): void {
    const review = isMap(body) ? body : {};
    if (t.kind === 'SelfSubjectReview') {
      send(res, 201, { kind: t.kind, apiVersion: groupVersion(t), metadata: { creationTimestamp: null }, status: { userInfo: { username: user, groups: ['system:serviceaccounts', 'system:authenticated'] } } });
      return;
    }
    const spec = isMap(review['spec']) ? review['spec'] : {};
    const attrs = isMap(spec['resourceAttributes']) ? spec['resourceAttributes'] : {};
    const text = (k: string): string | undefined => (typeof attrs[k] === 'string' && attrs[k] !== '' ? attrs[k] : undefined);
    const target = table.all.find((x) => x.resource === text('resource') && x.group === (text('group') ?? ''));
    const denied =
      !!target &&
      denies.some((d) =>
        denyMatches(d, text('verb') as Verb | undefined, target, text('subresource'), text('namespace'), text('name')),
      );
    send(res, 201, {
      kind: t.kind,
      apiVersion: groupVersion(t),
      metadata: { creationTimestamp: null },
      spec,
      status: denied ? { allowed: false, denied: true, reason: 'denied by test rule' } : { allowed: true, reason: 'allowed by test server' },
    });
  }

  /**
   * fieldValidation: Strict (kubectl's default) rejects unknown fields with the decoder's 400;
   * Warn, also the default when the parameter is absent, answers with Warning headers.
   */
  function checkFields(res: ServerResponse, t: ResourceType, body: unknown, query: URLSearchParams): void {
    const mode = query.get('fieldValidation') ?? 'Warn';
    if (mode === 'Ignore' || !isMap(body)) return;
    const unknown = unknownFields(t, body as KubeObject);
    if (!unknown.length) return;
    if (mode === 'Strict') throw decodeError(t, `strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
    res.setHeader('Warning', unknown.map((f) => `299 - "unknown field \\"${f}\\""`));
  }

  function handleCreate(res: ServerResponse, r: ResourceRoute, body: unknown, query: URLSearchParams): void {
    if (r.type.review) return handleReview(res, r.type, body);
    if (r.name !== undefined) throw methodNotSupported(r.type, 'create');
    checkFields(res, r.type, body, query);
    if (r.type.namespaced && r.namespace === undefined) throw methodNotSupported(r.type, 'create');
    const created = store.create(r.type, r.namespace, body, { dryRun: dryRun(query) });
    send(res, 201, created);
  }

  function handleUpdate(res: ServerResponse, r: ResourceRoute, body: unknown, query: URLSearchParams): void {
    const name = r.name ?? '';
    checkFields(res, r.type, body, query);
    const existed = !!store.get(r.type, r.namespace, name);
    const updated = store.update(r.type, r.namespace, name, body, {
      dryRun: dryRun(query),
      ...(r.subresource ? { subresource: r.subresource } : {}),
    });
    send(res, existed ? 200 : 201, updated);
  }

  function handlePatch(res: ServerResponse, r: ResourceRoute, raw: Buffer, contentType: string, query: URLSearchParams): void {
    const t = r.type;
    const name = r.name ?? '';
    const isApply = contentType === 'application/apply-patch+yaml' || contentType === 'application/apply-patch+cbor';
    if (isApply && !query.get('fieldManager')) {
      throw invalid(PATCH_OPTIONS_TYPE, '', [{ type: 'FieldValueRequired', field: 'fieldManager', detail: 'is required for apply patch' }]);
    }
    if (!isApply && query.has('force')) {
      throw invalid(PATCH_OPTIONS_TYPE, '', [{ type: 'FieldValueForbidden', field: 'force', detail: 'may not be specified for non-apply patch' }]);
    }
    let patch: unknown;
    try {
      patch = isApply ? parseYaml(raw.toString('utf8')) : JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw badRequest(`error decoding patch: ${(err as Error).message}`);
    }
    const existing = store.get(t, r.namespace, name);
    const options = { dryRun: dryRun(query), ...(r.subresource ? { subresource: r.subresource } : {}) };
    const manager = query.get('fieldManager') ?? '';
    const remember = (obj: KubeObject) => {
      if (isApply && !options.dryRun) appliedConfigs.set(`${obj.metadata.uid ?? ''}/${r.subresource ?? ''}/${manager}`, patch);
      return obj;
    };
    checkFields(res, t, patch, query);
    if (!existing) {
      if (isApply && !r.subresource) {
        const obj = applyPatch({}, patch) as KubeObject;
        const meta = isMap(obj.metadata) ? obj.metadata : {};
        obj.metadata = { ...meta, name };
        send(res, 201, remember(store.create(t, r.namespace, obj, options)));
        return;
      }
      throw notFound(t, name);
    }
    let patched: unknown;
    switch (contentType) {
      case 'application/merge-patch+json':
        patched = mergePatch(existing, patch);
        break;
      case 'application/strategic-merge-patch+json':
        if (t.returnsDeletedObject) {
          // Custom resources have no Go struct to take merge keys from.
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
          );
        }
        patched = strategicMergePatch(existing, patch);
        break;
      case 'application/json-patch+json':
        patched = jsonPatch(existing, patch);
        break;
      default:
        patched = applyPatch(existing, patch, appliedConfigs.get(`${existing.metadata.uid ?? ''}/${r.subresource ?? ''}/${manager}`));
    }
    if (!isMap(patched)) throw badRequest('patch produced a non-object');
    const result = patched as KubeObject;
    if (!isMap(result.metadata)) result.metadata = {};
    // A resourceVersion in the patch is a precondition (it stays equal when the patch omits it).
    const patchedRv = result.metadata.resourceVersion;
    if (patchedRv !== undefined && patchedRv !== existing.metadata.resourceVersion) throw conflict(t, name);
    result.metadata.resourceVersion = existing.metadata.resourceVersion;
    send(res, 200, remember(store.update(t, r.namespace, name, result, options)));
  }

  function deleteOptions(body: unknown, query: URLSearchParams): { dryRun: boolean; preconditions?: { uid?: string; resourceVersion?: string } } {
    const pre = isMap(body) && isMap(body['preconditions']) ? body['preconditions'] : undefined;
    return {
      dryRun: dryRun(query, body),
      ...(pre
        ? {
            preconditions: {
              ...(typeof pre['uid'] === 'string' ? { uid: pre['uid'] } : {}),
              ...(typeof pre['resourceVersion'] === 'string' ? { resourceVersion: pre['resourceVersion'] } : {}),
            },
          }
        : {}),
    };
  }

  function handleDelete(res: ServerResponse, r: ResourceRoute, body: unknown, query: URLSearchParams): void {
    const t = r.type;
    const { obj, deleted } = store.delete(t, r.namespace, r.name ?? '', deleteOptions(body, query));
    if (!deleted) {
      // Held by finalizers or Terminating: 200 with the marked object (not 202, for old clients).
      if (t.group === '' && t.resource === 'namespaces') scheduleNamespaceFinalize(obj.metadata.name ?? '');
      send(res, 200, obj);
    } else if (t.returnsDeletedObject) {
      send(res, 200, obj);
    } else {
      send(res, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name: obj.metadata.name, ...(t.group ? { group: t.group } : {}), kind: t.resource, uid: obj.metadata.uid },
      });
    }
  }

  function handleDeleteCollection(res: ServerResponse, r: ResourceRoute, body: unknown, query: URLSearchParams): void {
    const t = r.type;
    const sel = selectors(t, query);
    const victims = [...store.iterate(t, r.namespace)].map(([, o]) => o).filter((o) => sel.label(o) && sel.field(o));
    const opts = deleteOptions(body, query);
    const items = victims.map((o) => store.delete(t, o.metadata.namespace, o.metadata.name ?? '', opts).obj);
    send(res, 200, { kind: `${t.kind}List`, apiVersion: groupVersion(t), metadata: { resourceVersion: String(store.resourceVersion) }, items: items.map((o) => listItem(t, o)) });
  }

  // ---- faults -------------------------------------------------------------------------------

  function checkFaults(method: string, path: string, r: ResourceRoute | undefined, verb: Verb | undefined): void {
    const resourceName = r ? (r.subresource ? `${r.type.resource}/${r.subresource}` : r.type.resource) : undefined;
    const failure = failures.find(
      (f) =>
        f.remaining > 0 &&
        (f.method === undefined || f.method.toUpperCase() === method) &&
        (f.pathIncludes === undefined || path.includes(f.pathIncludes)) &&
        matchesList(f.verb, verb) &&
        (f.resource === undefined || f.resource === r?.type.resource || f.resource === resourceName),
    );
    if (failure) {
      failure.remaining--;
      failures = failures.filter((f) => f.remaining > 0);
      throw injectedError(failure, r, verb);
    }
    if (!r || !verb) return;
    if (r.type.review && verb !== 'create') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', { kind: r.type.resource, group: r.type.group });
    const deny = denies.find((d) => denyMatches(d, verb, r.type, r.subresource, r.namespace, r.name));
    if (deny) {
      deny.remaining--;
      denies = denies.filter((d) => d.remaining > 0);
      throw forbidden({
        user,
        verb,
        type: r.type,
        ...(r.subresource ? { subresource: r.subresource } : {}),
        ...(r.namespace ? { namespace: r.namespace } : {}),
        ...(r.name ? { name: r.name } : {}),
      });
    }
  }

  function denyMatches(d: DenyRule & { remaining: number }, verb: Verb | undefined, t: ResourceType, subresource?: string, namespace?: string, name?: string): boolean {
    const full = subresource ? `${t.resource}/${subresource}` : t.resource;
    return (
      d.remaining > 0 &&
      matchesList(d.verb, verb) &&
      (d.resource === undefined || d.resource === t.resource || d.resource === full) &&
      (d.group === undefined || d.group === t.group) &&
      (d.namespace === undefined || d.namespace === namespace) &&
      (d.name === undefined || d.name === name)
    );
  }

  /** An injected failure, worded like the real one where the request says enough. */
  function injectedError(f: FailRule, r: ResourceRoute | undefined, verb: Verb | undefined): ApiError {
    if (r && !f.message && !f.reason) {
      if (f.status === 409 && r.name) return conflict(r.type, r.name);
      if (f.status === 404 && r.name) return notFound(r.type, r.name);
      if (f.status === 403 && verb) {
        return forbidden({ user, verb, type: r.type, ...(r.namespace ? { namespace: r.namespace } : {}), ...(r.name ? { name: r.name } : {}) });
      }
    }
    return genericError(f.status, f.reason, f.message, f.retryAfterSeconds);
  }

  // ---- the handler --------------------------------------------------------------------------

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const parsed = new URL(req.url ?? '/', 'http://kube-api');
    const query = parsed.searchParams;
    const record: RequestRecord = { method, path: parsed.pathname, query: Object.fromEntries(query), status: 0 };
    if (req.headers['content-type']) record.contentType = req.headers['content-type'];
    requests.push(record);
    res.on('finish', () => {
      if (!record.status) record.status = res.statusCode;
      if (logRequests) console.error(`kube-api ${method} ${req.url ?? ''} ${record.status}`);
    });
    if (faults.intercept(req, res, record)) return;
    if (latency > 0) await sleep(latency);
    try {
      const r = route(parsed.pathname, req, res);
      const resourceRoute = r.kind === 'resource' ? r : undefined;
      if (resourceRoute) {
        if (query.get('watch') === 'true' || query.get('watch') === '1') resourceRoute.watch = true;
        record.resource = resourceRoute.type.resource;
        record.group = resourceRoute.type.group;
        if (resourceRoute.namespace) record.namespace = resourceRoute.namespace;
        if (resourceRoute.name) record.name = resourceRoute.name;
        if (resourceRoute.subresource) record.subresource = resourceRoute.subresource;
      }
      const verb = resourceRoute ? verbOf(method, resourceRoute) : undefined;
      if (verb) record.verb = verb;
      checkFaults(method, parsed.pathname, resourceRoute, verb);
      if (r.kind === 'other') {
        if (method !== 'GET' && method !== 'HEAD') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        r.handle();
        return;
      }
      checkAcceptable(req);
      const rr = r;
      const body = method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE' ? await readBody(req) : undefined;
      const contentType = (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
      if (method === 'PATCH') {
        const patchTypes = ['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml'];
        if (!patchTypes.includes(contentType)) throw unsupportedMediaType('patch');
        if (!rr.name) throw methodNotSupported(rr.type, 'patch');
        handlePatch(res, rr, body ?? Buffer.alloc(0), contentType, query);
        return;
      }
      const decoded = body && body.length ? decodeBody(body, contentType) : undefined;
      switch (verb) {
        case 'get':
          return handleGet(req, res, rr, query);
        case 'list':
          return handleList(req, res, rr, query);
        case 'watch':
          return handleWatch(req, res, rr, query, record);
        case 'create':
          return handleCreate(res, rr, decoded, query);
        case 'update':
          if (!rr.name) throw methodNotSupported(rr.type, 'update');
          return handleUpdate(res, rr, decoded, query);
        case 'delete':
          return handleDelete(res, rr, decoded, query);
        case 'deletecollection':
          return handleDeleteCollection(res, rr, decoded, query);
        default:
          throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      }
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) sendError(res, err);
      else sendError(res, new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).stack ?? String(err)}`));
    }
  }

  function decodeBody(body: Buffer, contentType: string): unknown {
    if (contentType === 'application/vnd.kubernetes.protobuf') {
      const decoded = decodeProtobuf(body);
      if (!decoded) throw unsupportedMediaType(contentType);
      return decoded;
    }
    if (contentType === 'application/cbor') throw unsupportedMediaType(contentType);
    try {
      if (contentType === 'application/yaml') return parseYaml(body.toString('utf8'));
      if (contentType === 'application/json' || contentType === '' || contentType === '*/*') return JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw badRequest(`error decoding request body: ${(err as Error).message}`);
    }
    throw unsupportedMediaType(contentType);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, new ApiError(500, 'InternalError', String(err)).status);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  faults.attach(server);

  // ---- the public object --------------------------------------------------------------------

  function typeFor(input: object): { t: ResourceType; obj: KubeObject } {
    const obj = copy(input) as KubeObject;
    const t = table.forObject(obj);
    if (!t) throw new Error(`kube-api: no resource serves apiVersion ${String(obj.apiVersion)} kind ${String(obj.kind)}`);
    if (!isMap(obj.metadata)) obj.metadata = {};
    return { t, obj };
  }

  function kubeConfigSpec(namespace?: string) {
    return {
      clusters: [{ name: 'kube-api', server: url, skipTLSVerify: true }],
      users: [{ name: 'tester', token: 'kube-api-test-token' }],
      contexts: [{ name: 'kube-api', cluster: 'kube-api', user: 'tester', ...(namespace ? { namespace } : {}) }],
      currentContext: 'kube-api',
    };
  }

  const api: KubeApi = {
    url,
    resources: table,
    requests,
    faults,
    get resourceVersion() {
      return String(store.resourceVersion);
    },
    get openWatches() {
      return watchClosers.size;
    },
    async close() {
      faults.dispose();
      for (const close of [...watchClosers]) close();
      for (const timer of nsTimers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async writeKubeconfig(path, o = {}) {
      const spec = kubeConfigSpec(o.namespace);
      const doc = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: spec.clusters.map((c) => ({ name: c.name, cluster: { server: c.server, 'insecure-skip-tls-verify': true } })),
        users: spec.users.map((u) => ({ name: u.name, user: { token: u.token } })),
        contexts: spec.contexts.map(({ name, ...context }) => ({ name, context })),
        'current-context': spec.currentContext,
      };
      await mkdir(dirname(path), { recursive: true });
      // 0600: helm warns about group-readable kubeconfigs.
      await writeFile(path, stringifyYaml(doc), { mode: 0o600 });
      await chmod(path, 0o600);
    },
    kubeConfig(o = {}) {
      const kc = new KubeConfig();
      kc.loadFromOptions(kubeConfigSpec(o.namespace));
      return kc;
    },
    get<T>(ref: ResourceRef, namespace: string | undefined, name: string) {
      const obj = store.get(table.resolve(ref), namespace, name);
      return obj ? (copy(obj) as T) : undefined;
    },
    list<T>(ref: ResourceRef, namespace?: string, o: ListOptions = {}) {
      const t = table.resolve(ref);
      const label = parseLabelSelector(o.labelSelector);
      const field = parseFieldSelector(o.fieldSelector, t.selectableFields).matcher;
      return [...store.iterate(t, namespace)].map(([, obj]) => obj).filter((obj) => label(obj) && field(obj)).map((obj) => copy(obj) as T);
    },
    create<T>(input: object) {
      const { t, obj } = typeFor(input);
      return copy(store.create(t, obj.metadata.namespace, obj)) as T;
    },
    putStatus<T>(input: object) {
      const { t, obj } = typeFor(input);
      if (!t.status) throw new Error(`kube-api: ${t.resource} has no status subresource`);
      return copy(store.update(t, obj.metadata.namespace, obj.metadata.name ?? '', obj, { subresource: 'status' })) as T;
    },
    put<T>(input: object) {
      const { t, obj } = typeFor(input);
      const name = obj.metadata.name ?? '';
      if (!store.get(t, obj.metadata.namespace, name)) return copy(store.create(t, obj.metadata.namespace, obj)) as T;
      return copy(store.update(t, obj.metadata.namespace, name, obj)) as T;
    },
    delete(ref, namespace, name) {
      const t = table.resolve(ref);
      if (!store.get(t, namespace, name)) return false;
      // Direct deletes of namespaces skip Terminating: tests want the result at once.
      store.delete(t, namespace, name, { immediate: true });
      return true;
    },
    ensureNamespace(name, labels) {
      const existing = store.get(nsType, undefined, name);
      if (existing) return copy(existing);
      return copy(store.create(nsType, undefined, { metadata: { name, ...(labels ? { labels } : {}) } }));
    },
    compactHistory() {
      store.compact();
    },
    denyNext(rule) {
      denies.push({ ...rule, remaining: rule.count ?? 1 });
    },
    denyAlways(rule) {
      const entry = { ...rule, remaining: Number.POSITIVE_INFINITY };
      denies.push(entry);
      return () => {
        denies = denies.filter((d) => d !== entry);
      };
    },
    failNext(rule) {
      failures.push({ ...rule, remaining: rule.count ?? 1 });
    },
    setLatency(ms) {
      latency = ms;
    },
    clearFaults() {
      denies = [];
      failures = [];
      latency = 0;
      void faults.clear();
    },
    resetRequests() {
      requests.length = 0;
    },
  };
  return api;
}



/**
 * The CustomResourceDefinition objects `kubectl get crd` lists for served custom resources, with
 * the bundle-version and channel annotations tools read to tell which Gateway API is installed.
 * Their OpenAPI schemas are left out (the validation lives in gateway-api.ts).
 */
function installCrds(store: Store, table: ResourceTable, types: readonly ResourceType[]): void {
  const crdType = table.resolve({ group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' });
  const byResource = new Map<string, ResourceType[]>();
  for (const t of types) byResource.set(`${t.resource}.${t.group}`, [...(byResource.get(`${t.resource}.${t.group}`) ?? []), t]);
  for (const [name, versions] of byResource) {
    const first = versions[0] as ResourceType;
    const storage = first.storageVersion ?? first.version;
    const names = {
      kind: first.kind,
      listKind: `${first.kind}List`,
      plural: first.resource,
      singular: first.singular,
      ...(first.shortNames ? { shortNames: first.shortNames } : {}),
      ...(first.categories ? { categories: first.categories } : {}),
    };
    const created = store.create(crdType, undefined, {
      metadata: {
        name,
        annotations: {
          'api-approved.kubernetes.io': 'https://github.com/kubernetes-sigs/gateway-api/pull/4530',
          'gateway.networking.k8s.io/bundle-version': GATEWAY_API_BUNDLE_VERSION,
          'gateway.networking.k8s.io/channel': 'standard',
        },
      },
      spec: {
        group: first.group,
        names,
        scope: first.namespaced ? 'Namespaced' : 'Cluster',
        versions: versions.map((t) => ({ name: t.version, served: true, storage: t.version === storage, ...(t.status ? { subresources: { status: {} } } : {}) })),
      },
    });
    const now = created.metadata.creationTimestamp;
    store.update(crdType, undefined, name, {
      ...created,
      status: {
        acceptedNames: names,
        conditions: [
          { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: now },
          { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: now },
        ],
        storedVersions: [storage],
      },
    }, { subresource: 'status' });
  }
}
