// Tolerant, typed views of the Gateway API objects certkeeper reads (Gateway, ListenerSet,
// HTTPRoute, ReferenceGrant), and the spec's rules that decide where traffic goes: hostname
// matching, allowedRoutes and allowedListeners, ReferenceGrants, route attachment and listener
// and match precedence. The shapes are those of @kubernetes-models/gateway-api (the types of the
// Go API, apis/v1); objects arrive as `unknown` (users' YAML as often as the API server's JSON),
// so every field is checked before use and nothing here throws. Pure.
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IListenerSet } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ListenerSet';
import type { IReferenceGrant } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ReferenceGrant';
import { canonicalHost } from './hosts.js';
import { isRecord } from './ingress.js';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

type Listener = IGateway['spec']['listeners'][number];
type AllowedRoutes = NonNullable<Listener['allowedRoutes']>;
type LabelSelector = NonNullable<NonNullable<AllowedRoutes['namespaces']>['selector']>;
type SecretRef = NonNullable<NonNullable<Listener['tls']>['certificateRefs']>[number];
type ParentRef = NonNullable<IHTTPRoute['spec']['parentRefs']>[number];
type RouteRule = NonNullable<IHTTPRoute['spec']['rules']>[number];
type RouteMatch = NonNullable<RouteRule['matches']>[number];
type GrantFrom = NonNullable<IReferenceGrant['spec']>['from'][number];
type GrantTo = NonNullable<IReferenceGrant['spec']>['to'][number];
type StatusAddress = NonNullable<NonNullable<IGateway['status']>['addresses']>[number];

/** A Gateway or ListenerSet: what owns listeners. */
export interface OwnerRef {
  kind: 'Gateway' | 'ListenerSet';
  namespace: string;
  name: string;
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export interface ListenerView {
  owner: OwnerRef;
  /** The Gateway the listener belongs to (its own for Gateway listeners). */
  gateway: GatewayView;
  /** spec.listeners[i] of the owner, for messages. */
  path: string;
  name: Listener['name'];
  port: Listener['port'] | undefined;
  protocol: Listener['protocol'] | undefined;
  /** Canonical; undefined when the listener takes every host. */
  hostname?: string;
  /** As written (for findings that quote it). */
  rawHostname?: string;
  /** Terminate by default, as the CRD defaults it. */
  tlsMode?: string;
  certificateRefs: Pick<SecretRef, 'group' | 'kind' | 'name' | 'namespace'>[];
  /** Whether tls was given at all (an HTTPS listener needs it). */
  hasTls: boolean;
  allowedRoutes: { from: string; selector?: LabelSelector; kinds?: { group: string; kind: string }[] };
  /** The controller's status of this listener (owner's status.listeners[name]), when written. */
  conditions: Condition[];
  /** Listener precedence among equal hostnames: Gateway listeners first, then ListenerSets by age. */
  order: number;
}

export interface GatewayView {
  ref: OwnerRef & { kind: 'Gateway' };
  index: number;
  annotations: unknown;
  generation?: number;
  listeners: ListenerView[];
  allowedListeners: { from: string; selector?: LabelSelector };
  /** status.addresses values (IP or hostname), in order. */
  addresses: StatusAddress['value'][];
}

export interface ListenerSetView {
  ref: OwnerRef & { kind: 'ListenerSet' };
  index: number;
  generation?: number;
  creationTimestamp: string;
  parent: { namespace: string; name: string } | undefined;
  listeners: ListenerView[];
  rawListeners: unknown[];
  status: unknown;
}

export interface RouteView {
  namespace: string;
  name: string;
  creationTimestamp: string;
  /** Canonical hostnames; [] = every host its listeners take. */
  hostnames: string[];
  parentRefs: { group: string; kind: string; name: string; namespace: string; sectionName?: string; port?: number }[];
  rules: { matches: { pathType: string; pathValue: string; method?: string; headers: number; queryParams: number }[]; redirect: boolean }[];
}

export interface GrantView {
  namespace: string;
  from: Pick<GrantFrom, 'group' | 'kind' | 'namespace'>[];
  to: Pick<GrantTo, 'group' | 'kind' | 'name'>[];
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const rec = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);

/** Is this an object of `kind` in the Gateway API group (any version; manifests may omit apiVersion)? */
export function isGatewayApiObject(obj: unknown, kind: string): obj is Record<string, unknown> {
  if (!isRecord(obj) || obj.kind !== kind) return false;
  const av = obj.apiVersion;
  return av === undefined || (typeof av === 'string' && av.startsWith(`${GATEWAY_GROUP}/`));
}

function meta(obj: Record<string, unknown>, defaultNamespace: string): { name: string; namespace: string; generation?: number; creationTimestamp: string; annotations: unknown } {
  const m = rec(obj.metadata);
  const out: ReturnType<typeof meta> = {
    name: text(m.name) ?? '(unnamed)',
    namespace: text(m.namespace) ?? defaultNamespace,
    creationTimestamp: text(m.creationTimestamp) ?? '',
    annotations: m.annotations,
  };
  const g = int(m.generation);
  if (g !== undefined) out.generation = g;
  return out;
}

function selectorOf(v: unknown): LabelSelector | undefined {
  return isRecord(v) ? (v as LabelSelector) : undefined;
}

function conditionsOf(v: unknown): Condition[] {
  return list(v)
    .filter(isRecord)
    .map((c) => {
      const out: Condition = { type: text(c.type) ?? '', status: text(c.status) ?? '', reason: text(c.reason) ?? '', message: typeof c.message === 'string' ? c.message : '' };
      const g = int(c.observedGeneration);
      if (g !== undefined) out.observedGeneration = g;
      return out;
    });
}

function listenerStatus(status: unknown, name: string): Condition[] {
  const entry = list(rec(status).listeners).find((l) => isRecord(l) && l.name === name);
  return isRecord(entry) ? conditionsOf(entry.conditions) : [];
}

function viewListener(raw: unknown, i: number, owner: OwnerRef, gateway: GatewayView, status: unknown, order: number): ListenerView | undefined {
  if (!isRecord(raw)) return undefined;
  const name = text(raw.name) ?? `#${i}`;
  const tls = isRecord(raw.tls) ? raw.tls : undefined;
  const ar = rec(raw.allowedRoutes);
  const ns = rec(ar.namespaces);
  const l: ListenerView = {
    owner,
    gateway,
    path: `spec.listeners[${i}]`,
    name,
    port: int(raw.port),
    protocol: text(raw.protocol),
    certificateRefs: list(tls?.certificateRefs)
      .filter(isRecord)
      .map((r) => {
        const ref: ListenerView['certificateRefs'][number] = { name: text(r.name) ?? '' };
        if (typeof r.group === 'string') ref.group = r.group;
        if (typeof r.kind === 'string') ref.kind = r.kind;
        if (text(r.namespace) !== undefined) ref.namespace = text(r.namespace);
        return ref;
      }),
    hasTls: tls !== undefined,
    allowedRoutes: { from: text(ns.from) ?? 'Same' },
    conditions: listenerStatus(status, name),
    order,
  };
  const host = text(raw.hostname);
  if (host !== undefined) {
    l.hostname = canonicalHost(host);
    l.rawHostname = host;
  }
  if (tls) l.tlsMode = text(tls.mode) ?? 'Terminate';
  const sel = selectorOf(ns.selector);
  if (sel) l.allowedRoutes.selector = sel;
  if (Array.isArray(ar.kinds)) l.allowedRoutes.kinds = ar.kinds.filter(isRecord).map((k) => ({ group: typeof k.group === 'string' ? k.group : GATEWAY_GROUP, kind: text(k.kind) ?? '' }));
  return l;
}

export function viewGateway(obj: Record<string, unknown>, index: number, defaultNamespace: string): GatewayView {
  const m = meta(obj, defaultNamespace);
  const spec = rec(obj.spec);
  const al = rec(rec(spec.allowedListeners).namespaces);
  const g: GatewayView = {
    ref: { kind: 'Gateway', namespace: m.namespace, name: m.name },
    index,
    annotations: m.annotations,
    listeners: [],
    // The CRD defaults allowedListeners to None: ListenerSets attach only when the Gateway says so.
    allowedListeners: { from: text(al.from) ?? 'None' },
    addresses: list(rec(obj.status).addresses)
      .filter(isRecord)
      .map((a) => text(a.value))
      .filter((v): v is string => v !== undefined),
  };
  const sel = selectorOf(al.selector);
  if (sel) g.allowedListeners.selector = sel;
  if (m.generation !== undefined) g.generation = m.generation;
  list(spec.listeners).forEach((raw, i) => {
    const l = viewListener(raw, i, g.ref, g, obj.status, i);
    if (l) g.listeners.push(l);
  });
  return g;
}

export function viewListenerSet(obj: Record<string, unknown>, index: number, defaultNamespace: string): ListenerSetView {
  const m = meta(obj, defaultNamespace);
  const spec = rec(obj.spec) as Partial<Record<keyof NonNullable<IListenerSet['spec']>, unknown>>;
  const p = rec(spec.parentRef);
  const parentName = text(p.name);
  const pointsAtGateway = (p.group === undefined || p.group === GATEWAY_GROUP) && (p.kind === undefined || p.kind === 'Gateway');
  const v: ListenerSetView = {
    ref: { kind: 'ListenerSet', namespace: m.namespace, name: m.name },
    index,
    creationTimestamp: m.creationTimestamp,
    parent: parentName !== undefined && pointsAtGateway ? { namespace: text(p.namespace) ?? m.namespace, name: parentName } : undefined,
    listeners: [],
    rawListeners: list(spec.listeners),
    status: obj.status,
  };
  if (m.generation !== undefined) v.generation = m.generation;
  return v;
}

/** Reads a ListenerSet's listeners once it is known to attach to `gateway`. */
export function attachListenerSet(ls: ListenerSetView, gateway: GatewayView, firstOrder: number): void {
  ls.listeners = [];
  ls.rawListeners.forEach((raw, i) => {
    const l = viewListener(raw, i, ls.ref, gateway, ls.status, firstOrder + i);
    if (l) ls.listeners.push(l);
  });
}

export function viewRoute(obj: Record<string, unknown>, defaultNamespace: string): RouteView {
  const m = meta(obj, defaultNamespace);
  const spec = rec(obj.spec) as Partial<Record<keyof IHTTPRoute['spec'], unknown>>;
  return {
    namespace: m.namespace,
    name: m.name,
    creationTimestamp: m.creationTimestamp,
    hostnames: list(spec.hostnames)
      .map(text)
      .filter((h): h is string => h !== undefined)
      .map(canonicalHost),
    parentRefs: list(spec.parentRefs)
      .filter(isRecord)
      .map((raw) => {
        const p = raw as Partial<Record<keyof ParentRef, unknown>>;
        const out: RouteView['parentRefs'][number] = {
          group: typeof p.group === 'string' ? p.group : GATEWAY_GROUP,
          kind: text(p.kind) ?? 'Gateway',
          name: text(p.name) ?? '',
          namespace: text(p.namespace) ?? m.namespace,
        };
        const section = text(p.sectionName);
        if (section !== undefined) out.sectionName = section;
        const port = int(p.port);
        if (port !== undefined) out.port = port;
        return out;
      }),
    rules: list(spec.rules)
      .filter(isRecord)
      .map((raw) => {
        const r = raw as Partial<Record<keyof RouteRule, unknown>>;
        const matches = Array.isArray(r.matches) && r.matches.length > 0 ? r.matches : [{}];
        return {
          redirect: list(r.filters).some((f) => isRecord(f) && f.type === 'RequestRedirect'),
          matches: matches.filter(isRecord).map((mm) => {
            const match = mm as Partial<Record<keyof RouteMatch, unknown>>;
            const path = rec(match.path);
            const out: RouteView['rules'][number]['matches'][number] = {
              pathType: text(path.type) ?? 'PathPrefix',
              pathValue: typeof path.value === 'string' ? path.value : '/',
              headers: list(match.headers).length,
              queryParams: list(match.queryParams).length,
            };
            const method = text(match.method);
            if (method !== undefined) out.method = method;
            return out;
          }),
        };
      }),
  };
}

export function viewGrant(obj: Record<string, unknown>, defaultNamespace: string): GrantView {
  const m = meta(obj, defaultNamespace);
  const spec = rec(obj.spec);
  return {
    namespace: m.namespace,
    from: list(spec.from)
      .filter(isRecord)
      .map((f) => ({ group: typeof f.group === 'string' ? f.group : '', kind: text(f.kind) ?? '', namespace: text(f.namespace) ?? '' })),
    to: list(spec.to)
      .filter(isRecord)
      .map((t) => {
        const out: GrantView['to'][number] = { group: typeof t.group === 'string' ? t.group : '', kind: text(t.kind) ?? '' };
        const name = text(t.name);
        if (name !== undefined) out.name = name;
        return out;
      }),
  };
}

// ---- the spec's rules ----------------------------------------------------------------------------

/**
 * Does a Gateway API hostname (exact, or `*.suffix`) take `host`? Unlike a certificate's wildcard
 * (one label), a listener or route wildcard matches any number of labels; no hostname takes all.
 */
export function gatewayHostMatches(pattern: string | undefined, host: string): boolean {
  if (pattern === undefined) return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

/** Do a listener hostname and a route's hostnames overlap (the spec's intersection is not empty)? */
export function hostnamesIntersect(listener: string | undefined, routeHosts: readonly string[]): boolean {
  if (routeHosts.length === 0 || listener === undefined) return true;
  return routeHosts.some((h) => gatewayHostMatches(listener, h) || (h.startsWith('*.') && gatewayHostMatches(h, listener.startsWith('*.') ? `x${listener.slice(1)}` : listener)));
}

/**
 * Whether a label selector selects namespace `ns`. Only the label every namespace carries,
 * kubernetes.io/metadata.name, is known without reading Namespace objects: a selector that needs
 * another label is 'unknown'.
 */
export function selectorSelects(sel: LabelSelector | undefined, ns: string): 'yes' | 'no' | 'unknown' {
  if (!sel) return 'no';
  const known: Record<string, string> = { 'kubernetes.io/metadata.name': ns };
  let unknown = false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (!(k in known)) unknown = true;
    else if (known[k] !== v) return 'no';
  }
  for (const e of sel.matchExpressions ?? []) {
    if (!(e.key in known)) {
      unknown = true;
      continue;
    }
    const v = known[e.key] ?? '';
    const values = e.values ?? [];
    if (e.operator === 'In' && !values.includes(v)) return 'no';
    if (e.operator === 'NotIn' && values.includes(v)) return 'no';
    if (e.operator === 'DoesNotExist') return 'no';
  }
  return unknown ? 'unknown' : 'yes';
}

/** allowedRoutes.namespaces / allowedListeners.namespaces: is `ns` admitted by an owner in `ownerNs`? */
export function admitsNamespace(rule: { from: string; selector?: LabelSelector }, ownerNs: string, ns: string): 'yes' | 'no' | 'unknown' {
  if (rule.from === 'All') return 'yes';
  if (rule.from === 'Same') return ns === ownerNs ? 'yes' : 'no';
  if (rule.from === 'Selector') return selectorSelects(rule.selector, ns);
  return 'no';
}

/** Does the listener accept HTTPRoutes at all (allowedRoutes.kinds, protocol)? */
export function acceptsHttpRoutes(l: ListenerView): boolean {
  if (l.protocol !== 'HTTP' && l.protocol !== 'HTTPS') return false;
  return l.allowedRoutes.kinds === undefined || l.allowedRoutes.kinds.length === 0 || l.allowedRoutes.kinds.some((k) => k.group === GATEWAY_GROUP && k.kind === 'HTTPRoute');
}

/** Whether a ReferenceGrant in `to.namespace` lets `from` refer to `to` (cross-namespace references only). */
export function referenceGranted(grants: readonly GrantView[], from: { kind: string; namespace: string }, to: { group: string; kind: string; namespace: string; name: string }): boolean {
  if (from.namespace === to.namespace) return true;
  return grants.some(
    (g) =>
      g.namespace === to.namespace &&
      g.from.some((f) => f.group === GATEWAY_GROUP && f.kind === from.kind && f.namespace === from.namespace) &&
      g.to.some((t) => t.group === to.group && t.kind === to.kind && (t.name === undefined || t.name === to.name)),
  );
}

/**
 * Is the route attached to the listener: a parentRef naming the listener's owner (with the
 * listener's sectionName or port, or neither), admitted by allowedRoutes (an undecidable selector
 * counts as admitting), and hostnames that intersect?
 */
export function routeAttaches(route: RouteView, l: ListenerView): boolean {
  if (!acceptsHttpRoutes(l)) return false;
  const names = route.parentRefs.some(
    (p) =>
      p.group === GATEWAY_GROUP &&
      p.kind === l.owner.kind &&
      p.name === l.owner.name &&
      p.namespace === l.owner.namespace &&
      (p.sectionName === undefined || p.sectionName === l.name) &&
      (p.port === undefined || p.port === l.port),
  );
  if (!names) return false;
  if (admitsNamespace(l.allowedRoutes, l.owner.namespace, route.namespace) === 'no') return false;
  return hostnamesIntersect(l.hostname, route.hostnames);
}

/** Listener precedence for a host: exact hostname, then the longest wildcard, then none; then `order`. */
function hostnameRank(h: string | undefined): number {
  if (h === undefined) return 0;
  return h.startsWith('*.') ? 1 + h.length : 10_000;
}

/** The listener of `listeners` that takes requests for `host` (the spec's listener precedence). */
export function selectListener(listeners: readonly ListenerView[], host: string): ListenerView | undefined {
  let best: ListenerView | undefined;
  for (const l of listeners) {
    if (!gatewayHostMatches(l.hostname, host)) continue;
    if (!best || hostnameRank(l.hostname) > hostnameRank(best.hostname) || (hostnameRank(l.hostname) === hostnameRank(best.hostname) && l.order < best.order)) best = l;
  }
  return best;
}

/** Per the spec's precedence, how a route's match fares against certkeeper's Exact match on `path`. */
export type MatchVerdict = 'no-match' | 'loses' | 'wins' | 'implementation-specific';

/**
 * HTTPRoute precedence (apis/v1 HTTPRouteRule): an Exact path match goes first, then the longest
 * PathPrefix, then method, headers and query parameters; ties go to the oldest route. A match that
 * takes `path` beats certkeeper's Exact match only when it is Exact on the same path too (it then
 * wins on its extra matchers or its age); RegularExpression precedence is left to implementations.
 */
export function matchVerdict(m: RouteView['rules'][number]['matches'][number], path: string): MatchVerdict {
  if (m.pathType === 'Exact') return m.pathValue === path ? 'wins' : 'no-match';
  if (m.pathType === 'RegularExpression') {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${m.pathValue})$`);
    } catch {
      return 'no-match';
    }
    return re.test(path) ? 'implementation-specific' : 'no-match';
  }
  const p = m.pathValue.length > 1 ? m.pathValue.replace(/\/+$/, '') : m.pathValue;
  return p === '/' || path === p || path.startsWith(`${p}/`) ? 'loses' : 'no-match';
}
