// The Gateway API half of the controller stand-in (fake-controller.ts, mode 'gateway'): from the
// GatewayClasses, Gateways, ListenerSets, HTTPRoutes, ReferenceGrants and Secrets in the
// in-process API it computes what a conformant implementation programs and reports — listeners
// with their certificates, route attachment, and the status of every object it owns — and picks
// the rule a request goes to. fake-controller.ts owns the sockets and writes the status.
//
// Follows the spec texts of apis/v1 (v1.6): listener precedence by hostname (exact, then longer
// wildcard suffix, then none; a wildcard matches any number of labels), listener isolation
// (requests go only to routes of the most specific listener; SNI and Host disagreeing → 421),
// allowedRoutes (from Same/All/Selector, kinds), parentRef sectionName and port, ListenerSets
// (allowedListeners, precedence after the Gateway, routes attach to them only by naming them),
// hostname intersection, HTTPRoute match precedence (Exact, longest PathPrefix, method, header
// and query counts, oldest route, namespace/name, rule order), cross-namespace certificateRefs
// and backendRefs only with a ReferenceGrant, RequestRedirect / URLRewrite / header modifiers.
// Condition reasons are those the conformance tests expect.
//
// Not modelled: TLS passthrough and TLSRoute/GRPCRoute/TCP/UDP (UnsupportedProtocol), request
// mirrors, CORS and ExtensionRef filters (requests of such rules get 500), timeouts, retries,
// session persistence, Gateway spec.addresses (always 127.0.0.1), infrastructure, frontend TLS
// validation, BackendTLSPolicy, more than one certificate per listener (the first usable one is
// served).
import type { X509Certificate } from 'node:crypto';
import type { KubeApi, KubeObject } from './kube-api/index.js';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
const R = (resource: string, version = 'v1') => ({ group: GATEWAY_GROUP, version, resource });
export const GATEWAY_RESOURCES = {
  gatewayClasses: R('gatewayclasses'),
  gateways: R('gateways'),
  listenerSets: R('listenersets'),
  httpRoutes: R('httproutes'),
  referenceGrants: R('referencegrants', 'v1beta1'),
  secrets: { group: '', version: 'v1', resource: 'secrets' },
  services: { group: '', version: 'v1', resource: 'services' },
  namespaces: { group: '', version: 'v1', resource: 'namespaces' },
} as const;

// ---- the objects as read (after the CRD defaults, so defaulted fields are present) -------------

interface Meta {
  [key: string]: unknown;
  name: string;
  namespace?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  resourceVersion?: string;
}
interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface RefSpec {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}
export interface ListenerSpec {
  name: string;
  hostname?: string;
  port?: number;
  protocol: string;
  tls?: { mode?: string; certificateRefs?: RefSpec[] };
  allowedRoutes?: { namespaces?: { from?: string; selector?: Selector }; kinds?: { group?: string; kind: string }[] };
}
export interface GatewayObj extends KubeObject {
  metadata: Meta;
  spec: { gatewayClassName: string; listeners: ListenerSpec[]; allowedListeners?: { namespaces?: { from?: string; selector?: Selector } } };
  status?: Record<string, unknown>;
}
export interface ListenerSetObj extends KubeObject {
  metadata: Meta;
  spec: { parentRef: RefSpec; listeners: ListenerSpec[] };
  status?: Record<string, unknown>;
}
interface ParentRef extends RefSpec {
  sectionName?: string;
  port?: number;
}
interface PathMatch {
  type?: string;
  value?: string;
}
export interface HTTPRouteMatch {
  path?: PathMatch;
  headers?: { name: string; type?: string; value: string }[];
  queryParams?: { name: string; type?: string; value: string }[];
  method?: string;
}
interface HeaderModifier {
  set?: { name: string; value: string }[];
  add?: { name: string; value: string }[];
  remove?: string[];
}
interface PathModifier {
  type: string;
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}
export interface HTTPRouteFilter {
  type: string;
  requestRedirect?: { scheme?: string; hostname?: string; path?: PathModifier; port?: number; statusCode?: number };
  urlRewrite?: { hostname?: string; path?: PathModifier };
  requestHeaderModifier?: HeaderModifier;
  responseHeaderModifier?: HeaderModifier;
}
export interface BackendRefSpec extends RefSpec {
  port?: number;
  weight?: number;
}
export interface HTTPRouteRule {
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: BackendRefSpec[];
}
export interface HTTPRouteObj extends KubeObject {
  metadata: Meta;
  spec: { parentRefs?: ParentRef[]; hostnames?: string[]; rules?: HTTPRouteRule[] };
  status?: { parents?: { parentRef: ParentRef; controllerName: string; conditions: Condition[] }[] };
}
interface GrantObj extends KubeObject {
  metadata: Meta;
  spec: { from: { group: string; kind: string; namespace: string }[]; to: { group: string; kind: string; name?: string }[] };
}
interface SecretObj {
  metadata: Meta;
  data?: Record<string, string>;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}
type Cond = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;
const cond = (type: string, ok: boolean, reason: string, message: string): Cond => ({ type, status: ok ? 'True' : 'False', reason, message });

// ---- the computed configuration ------------------------------------------------------------------

export interface LoadedCertificate {
  secret: string;
  x509: X509Certificate;
  /** Opaque to this module: the TLS context fake-controller.ts built. */
  context: unknown;
}

export interface Attachment {
  route: HTTPRouteObj;
  /** Route hostnames that survive the intersection with the listener; [] = any host the listener takes. */
  hostnames: string[];
}

export interface ProgrammedListener {
  /** `Gateway ns/name` or `ListenerSet ns/name`, then the listener name. */
  id: string;
  owner: { kind: 'Gateway' | 'ListenerSet'; namespace: string; name: string };
  gateway: GatewayObj;
  spec: ListenerSpec;
  port: number;
  protocol: string;
  hostname: string | undefined;
  /** Precedence among listeners of equal hostname: lower wins (Gateway first, then ListenerSets by age). */
  order: number;
  accepted: Cond;
  resolvedRefs: Cond;
  conflicted: Cond | undefined;
  /** Serving traffic (accepted and not conflicted); it may still lack a usable certificate. */
  serving: boolean;
  certificate: LoadedCertificate | undefined;
  attachments: Attachment[];
  supportedKinds: { group: string; kind: string }[];
}

export interface StatusWrite {
  ref: { group: string; version: string; resource: string };
  namespace: string | undefined;
  name: string;
  /** The status the controller wants; conditions carry no timestamps yet. */
  status: Record<string, unknown>;
  generation: number;
}

export type BackendState = 'ok' | 'no-endpoints' | { invalid: Cond };

export interface GatewayConfig {
  listeners: ProgrammedListener[];
  statuses: StatusWrite[];
  /** Whether a backendRef of a route can take traffic (the same judgement as its ResolvedRefs). */
  backend: (route: HTTPRouteObj, ref: BackendRefSpec) => BackendState;
}

export interface BuildInput {
  api: KubeApi;
  controllerName: string;
  /** Parses a Secret into a certificate, or explains why it cannot be used. */
  loadSecret: (secret: SecretObj) => LoadedCertificate | string;
  /** Listener ports the data plane can serve, with the protocol each one speaks. */
  portProtocol: (port: number) => 'HTTP' | 'HTTPS' | 'any' | 'unavailable';
  /** True when the stand-in knows where the Service's endpoints are. */
  hasEndpoints: (namespace: string, name: string, port: number) => boolean;
}

const key = (o: { metadata: Meta }) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byAge = <T extends { metadata: Meta }>(a: T, b: T): number =>
  (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || key(a).localeCompare(key(b));

function selects(sel: Selector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const v = labels[e.key];
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(v ?? ''))) return false;
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(v ?? '')) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Does Gateway API hostname `pattern` (exact or `*.suffix`, any number of labels) cover `host`? */
export function hostMatches(pattern: string | undefined, host: string): boolean {
  if (!pattern) return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

/** The route hostnames a listener hostname keeps (the spec's intersection); undefined = no overlap. */
function intersect(listener: string | undefined, routeHosts: string[]): string[] | undefined {
  if (routeHosts.length === 0) return listener ? [listener] : [];
  if (!listener) return routeHosts;
  const out: string[] = [];
  for (const h of routeHosts) {
    if (hostMatches(listener, h)) out.push(h);
    else if (h.startsWith('*.') && hostMatches(h, listener.startsWith('*.') ? `x${listener.slice(1)}` : listener)) out.push(listener);
  }
  return out.length ? [...new Set(out)] : undefined;
}

/** Hostname specificity for listener selection: exact beats wildcard beats none; longer wildcard suffix first. */
function hostnameRank(h: string | undefined): number {
  if (!h) return 0;
  return h.startsWith('*.') ? 1 + h.split('.').length : 1_000;
}

/** The listener a host (Host header or SNI) goes to among the serving listeners of one port. */
export function selectListener(listeners: ProgrammedListener[], host: string): ProgrammedListener | undefined {
  let best: ProgrammedListener | undefined;
  for (const l of listeners) {
    if (!l.serving || !hostMatches(l.hostname, host)) continue;
    if (!best || hostnameRank(l.hostname) > hostnameRank(best.hostname) || (hostnameRank(l.hostname) === hostnameRank(best.hostname) && l.order < best.order)) best = l;
  }
  return best;
}

/** Whether a ReferenceGrant in `toNamespace` lets `from` refer to `to`. */
function granted(grants: GrantObj[], from: { kind: string; namespace: string }, to: { group: string; kind: string; namespace: string; name: string }): boolean {
  return grants.some(
    (g) =>
      g.metadata.namespace === to.namespace &&
      g.spec.from.some((f) => f.group === GATEWAY_GROUP && f.kind === from.kind && f.namespace === from.namespace) &&
      g.spec.to.some((t) => t.group === to.group && t.kind === to.kind && (!t.name || t.name === to.name)),
  );
}

const SUPPORTED_FILTERS = new Set(['RequestRedirect', 'URLRewrite', 'RequestHeaderModifier', 'ResponseHeaderModifier']);

export function buildGatewayConfig(input: BuildInput): GatewayConfig {
  const { api, controllerName } = input;
  const statuses: StatusWrite[] = [];
  const classes = api.list<KubeObject & { metadata: Meta; spec: { controllerName: string } }>(GATEWAY_RESOURCES.gatewayClasses).filter((c) => c.spec.controllerName === controllerName);
  for (const c of classes) {
    statuses.push({ ref: GATEWAY_RESOURCES.gatewayClasses, namespace: undefined, name: c.metadata.name, generation: c.metadata.generation ?? 1, status: { conditions: [cond('Accepted', true, 'Accepted', `Handled by ${controllerName}`)] } });
  }
  const classNames = new Set(classes.map((c) => c.metadata.name));
  const gateways = api.list<GatewayObj>(GATEWAY_RESOURCES.gateways).filter((g) => classNames.has(g.spec.gatewayClassName)).sort(byAge);
  const gatewayKeys = new Set(gateways.map(key));
  const namespaceLabels = new Map(api.list<{ metadata: Meta }>(GATEWAY_RESOURCES.namespaces).map((n) => [n.metadata.name, n.metadata.labels ?? {}]));
  const grants = api.list<GrantObj>(GATEWAY_RESOURCES.referenceGrants);
  const secrets = new Map(api.list<SecretObj>(GATEWAY_RESOURCES.secrets).map((s) => [key(s), s]));
  const serviceKeys = new Set(api.list<{ metadata: Meta }>(GATEWAY_RESOURCES.services).map(key));
  const listenerSets = api.list<ListenerSetObj>(GATEWAY_RESOURCES.listenerSets).sort(byAge);

  const allowedFrom = (from: string | undefined, selector: Selector | undefined, ownerNs: string, ns: string): boolean =>
    from === 'All' || (from === 'Same' && ns === ownerNs) || (from === 'Selector' && selects(selector, namespaceLabels.get(ns) ?? {}));

  const listeners: ProgrammedListener[] = [];
  const lsState = new Map<string, { ls: ListenerSetObj; gateway: GatewayObj | undefined; allowed: boolean }>();
  let order = 0;

  function makeListener(owner: ProgrammedListener['owner'], gateway: GatewayObj, spec: ListenerSpec): ProgrammedListener {
    const protocol = spec.protocol;
    const port = spec.port ?? 0;
    const l: ProgrammedListener = {
      id: `${owner.kind} ${owner.namespace}/${owner.name} ${spec.name}`,
      owner,
      gateway,
      spec,
      port,
      protocol,
      hostname: spec.hostname,
      order: order++,
      accepted: cond('Accepted', true, 'Accepted', 'Listener is accepted'),
      resolvedRefs: cond('ResolvedRefs', true, 'ResolvedRefs', 'All references are resolved'),
      conflicted: undefined,
      serving: false,
      certificate: undefined,
      attachments: [],
      supportedKinds: [],
    };
    const kinds = spec.allowedRoutes?.kinds;
    const http = protocol === 'HTTP' || protocol === 'HTTPS';
    l.supportedKinds = !http ? [] : kinds?.length ? kinds.filter((k) => (k.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && k.kind === 'HTTPRoute').map(() => ({ group: GATEWAY_GROUP, kind: 'HTTPRoute' })) : [{ group: GATEWAY_GROUP, kind: 'HTTPRoute' }];
    if (!http) {
      l.accepted = cond('Accepted', false, 'UnsupportedProtocol', `Protocol ${protocol} is not supported by the controller stand-in (HTTP and HTTPS only)`);
      return l;
    }
    const served = input.portProtocol(port);
    if (served === 'unavailable' || (served !== 'any' && served !== protocol)) {
      l.accepted = cond('Accepted', false, 'PortUnavailable', served === 'unavailable' ? `Port ${port} cannot be bound on 127.0.0.1` : `Port ${port} serves ${served} only`);
      return l;
    }
    // Within one Gateway and its ListenerSets, listeners are distinct by port and hostname; the
    // one of higher precedence keeps the pair. Across Gateways (all share 127.0.0.1 here) the
    // oldest Gateway's listener takes a request both would match, without a conflict reported.
    const clash = listeners.find((o) => o.serving && o.gateway === gateway && o.port === port && (o.protocol !== protocol || (o.hostname ?? '') === (spec.hostname ?? '')));
    if (clash) {
      const reason = clash.protocol !== protocol ? 'ProtocolConflict' : 'HostnameConflict';
      const message = `${reason === 'ProtocolConflict' ? 'Port' : 'Port and hostname'} already used by ${clash.id}`;
      l.conflicted = cond('Conflicted', true, reason, message);
      l.accepted = cond('Accepted', false, reason, message);
      return l;
    }
    l.serving = true;
    if (kinds?.length && l.supportedKinds.length === 0) {
      l.resolvedRefs = cond('ResolvedRefs', false, 'InvalidRouteKinds', 'None of the allowedRoutes kinds is supported (HTTPRoute only)');
    }
    if (protocol === 'HTTPS') resolveCertificate(l);
    return l;
  }

  function resolveCertificate(l: ProgrammedListener): void {
    const refs = l.spec.tls?.certificateRefs ?? [];
    let problem: Cond | undefined;
    for (const ref of refs) {
      const ns = ref.namespace ?? l.owner.namespace;
      const name = `${ns}/${ref.name}`;
      if ((ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret') {
        problem ??= cond('ResolvedRefs', false, 'InvalidCertificateRef', `Unsupported certificate reference kind ${ref.group ? `${ref.group}/` : ''}${ref.kind ?? ''} ${name}`);
        continue;
      }
      if (ns !== l.owner.namespace && !granted(grants, { kind: l.owner.kind, namespace: l.owner.namespace }, { group: '', kind: 'Secret', namespace: ns, name: ref.name })) {
        problem ??= cond('ResolvedRefs', false, 'RefNotPermitted', `Certificate reference to Secret ${name} is not permitted by any ReferenceGrant in namespace ${ns}`);
        continue;
      }
      const secret = secrets.get(name);
      const loaded = secret ? input.loadSecret(secret) : `Secret ${name} does not exist`;
      if (typeof loaded === 'string') {
        problem ??= cond('ResolvedRefs', false, 'InvalidCertificateRef', loaded);
        continue;
      }
      l.certificate ??= loaded;
    }
    if (refs.length === 0) problem = cond('ResolvedRefs', false, 'InvalidCertificateRef', 'No certificateRefs on an HTTPS listener');
    if (problem && l.resolvedRefs.status === 'True') l.resolvedRefs = problem;
  }

  for (const g of gateways) {
    const gns = g.metadata.namespace ?? 'default';
    for (const spec of g.spec.listeners) listeners.push(makeListener({ kind: 'Gateway', namespace: gns, name: g.metadata.name }, g, spec));
    const from = g.spec.allowedListeners?.namespaces?.from ?? 'None';
    for (const ls of listenerSets) {
      const ref = ls.spec.parentRef;
      const lns = ls.metadata.namespace ?? 'default';
      if ((ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (ref.kind ?? 'Gateway') !== 'Gateway' || `${ref.namespace ?? lns}/${ref.name}` !== key(g)) continue;
      const allowed = from !== 'None' && allowedFrom(from, g.spec.allowedListeners?.namespaces?.selector, gns, lns);
      lsState.set(key(ls), { ls, gateway: g, allowed });
      if (!allowed) continue;
      for (const spec of ls.spec.listeners) listeners.push(makeListener({ kind: 'ListenerSet', namespace: lns, name: ls.metadata.name }, g, spec));
    }
  }

  // ---- routes ----
  const routes = api.list<HTTPRouteObj>(GATEWAY_RESOURCES.httpRoutes).sort(byAge);
  const attached = new Map<ProgrammedListener, number>();
  for (const route of routes) {
    const rns = route.metadata.namespace ?? 'default';
    const ours: { parentRef: ParentRef; conditions: Cond[] }[] = [];
    const resolved = resolveBackends(route);
    for (const pr of route.spec.parentRefs ?? []) {
      const group = pr.group ?? GATEWAY_GROUP;
      const kind = pr.kind ?? 'Gateway';
      if (group !== GATEWAY_GROUP) continue;
      const pkey = `${pr.namespace ?? rns}/${pr.name}`;
      let candidates: ProgrammedListener[];
      if (kind === 'Gateway') {
        if (!gatewayKeys.has(pkey)) continue;
        candidates = listeners.filter((l) => l.owner.kind === 'Gateway' && `${l.owner.namespace}/${l.owner.name}` === pkey);
      } else if (kind === 'ListenerSet') {
        const st = lsState.get(pkey);
        if (!st) continue;
        candidates = listeners.filter((l) => l.owner.kind === 'ListenerSet' && `${l.owner.namespace}/${l.owner.name}` === pkey);
        if (!st.allowed) {
          ours.push({ parentRef: pr, conditions: [cond('Accepted', false, 'NoMatchingParent', `ListenerSet ${pkey} is not attached to its Gateway`), resolved] });
          continue;
        }
      } else continue;
      const named = candidates.filter((l) => (pr.sectionName === undefined || l.spec.name === pr.sectionName) && (pr.port === undefined || l.port === pr.port));
      let accepted: Cond;
      if (named.length === 0) {
        accepted = cond('Accepted', false, 'NoMatchingParent', pr.sectionName !== undefined ? `No listener named ${pr.sectionName}${pr.port !== undefined ? ` on port ${pr.port}` : ''}` : `No listener on port ${pr.port ?? ''}`);
      } else {
        const allowed = named.filter(
          (l) =>
            l.supportedKinds.length > 0 &&
            allowedFrom(l.spec.allowedRoutes?.namespaces?.from ?? 'Same', l.spec.allowedRoutes?.namespaces?.selector, l.owner.namespace, rns),
        );
        const matching = allowed.map((l) => ({ l, hosts: intersect(l.hostname, route.spec.hostnames ?? []) })).filter((x) => x.hosts !== undefined);
        if (allowed.length === 0) accepted = cond('Accepted', false, 'NotAllowedByListeners', `No listener of ${kind} ${pkey}${pr.sectionName ? ` named ${pr.sectionName}` : ''} allows HTTPRoutes from namespace ${rns}`);
        else if (matching.length === 0) accepted = cond('Accepted', false, 'NoMatchingListenerHostname', 'No listener hostname matches the route hostnames');
        else {
          accepted = cond('Accepted', true, 'Accepted', 'Route is accepted');
          for (const { l, hosts } of matching) {
            if (!l.attachments.some((a) => a.route === route)) {
              l.attachments.push({ route, hostnames: hosts ?? [] });
              attached.set(l, (attached.get(l) ?? 0) + 1);
            }
          }
        }
      }
      ours.push({ parentRef: pr, conditions: [accepted, resolved] });
    }
    if (ours.length === 0 && !(route.status?.parents ?? []).some((p) => p.controllerName === controllerName)) continue;
    const others = (route.status?.parents ?? []).filter((p) => p.controllerName !== controllerName);
    statuses.push({
      ref: GATEWAY_RESOURCES.httpRoutes,
      namespace: rns,
      name: route.metadata.name,
      generation: route.metadata.generation ?? 1,
      status: { parents: [...others, ...ours.map((o) => ({ parentRef: o.parentRef, controllerName, conditions: o.conditions }))] },
    });
  }

  function backend(route: HTTPRouteObj, b: BackendRefSpec): BackendState {
    const rns = route.metadata.namespace ?? 'default';
    const ns = b.namespace ?? rns;
    if ((b.group ?? '') !== '' || (b.kind ?? 'Service') !== 'Service') return { invalid: cond('ResolvedRefs', false, 'InvalidKind', `Unsupported backend kind ${b.group ? `${b.group}/` : ''}${b.kind ?? ''}`) };
    if (ns !== rns && !granted(grants, { kind: 'HTTPRoute', namespace: rns }, { group: '', kind: 'Service', namespace: ns, name: b.name })) {
      return { invalid: cond('ResolvedRefs', false, 'RefNotPermitted', `Backend reference to Service ${ns}/${b.name} is not permitted by any ReferenceGrant in namespace ${ns}`) };
    }
    // The test's endpoint map stands for a Service with endpoints; a Service object without
    // endpoints resolves but answers 503, a missing one is BackendNotFound.
    if (input.hasEndpoints(ns, b.name, b.port ?? 0)) return 'ok';
    if (serviceKeys.has(`${ns}/${b.name}`)) return 'no-endpoints';
    return { invalid: cond('ResolvedRefs', false, 'BackendNotFound', `Service ${ns}/${b.name} not found`) };
  }

  function resolveBackends(route: HTTPRouteObj): Cond {
    for (const rule of route.spec.rules ?? []) {
      for (const b of rule.backendRefs ?? []) {
        const state = backend(route, b);
        if (typeof state === 'object') return state.invalid;
      }
    }
    return cond('ResolvedRefs', true, 'ResolvedRefs', 'All references are resolved');
  }

  // ---- listener, ListenerSet and Gateway status ----
  const listenerStatus = (l: ProgrammedListener) => {
    const programmed = !l.serving
      ? cond('Programmed', false, l.conflicted?.reason ?? 'Invalid', l.accepted.message)
      : l.resolvedRefs.status === 'False'
        ? cond('Programmed', false, 'Invalid', `Listener is invalid: ${l.resolvedRefs.message}`)
        : cond('Programmed', true, 'Programmed', 'Listener is programmed');
    return {
      name: l.spec.name,
      supportedKinds: l.supportedKinds,
      attachedRoutes: attached.get(l) ?? 0,
      conditions: [l.accepted, programmed, l.resolvedRefs, ...(l.conflicted ? [l.conflicted] : [])],
    };
  };
  const summary = (ls: ProgrammedListener[]) => {
    const acceptedCount = ls.filter((l) => l.accepted.status === 'True').length;
    const programmedCount = ls.filter((l) => l.serving && l.resolvedRefs.status === 'True').length;
    return { acceptedCount, programmedCount, all: ls.length };
  };
  for (const g of gateways) {
    const own = listeners.filter((l) => l.owner.kind === 'Gateway' && l.gateway === g);
    const s = summary(own);
    const attachedSets = [...lsState.values()].filter((x) => x.gateway === g && x.allowed && listeners.some((l) => l.owner.kind === 'ListenerSet' && l.owner.name === x.ls.metadata.name && l.owner.namespace === (x.ls.metadata.namespace ?? 'default') && l.accepted.status === 'True')).length;
    statuses.push({
      ref: GATEWAY_RESOURCES.gateways,
      namespace: g.metadata.namespace,
      name: g.metadata.name,
      generation: g.metadata.generation ?? 1,
      status: {
        addresses: [{ type: 'IPAddress', value: '127.0.0.1' }],
        conditions: [
          s.acceptedCount === s.all
            ? cond('Accepted', true, 'Accepted', 'Gateway is accepted')
            : cond('Accepted', s.acceptedCount > 0, 'ListenersNotValid', `${s.all - s.acceptedCount} of ${s.all} listeners are not accepted`),
          s.programmedCount > 0 ? cond('Programmed', true, 'Programmed', 'Gateway is programmed') : cond('Programmed', false, 'Invalid', 'No listener is programmed'),
        ],
        listeners: own.map(listenerStatus),
        attachedListenerSets: attachedSets,
      },
    });
  }
  for (const { ls, gateway, allowed } of lsState.values()) {
    if (!gateway) continue;
    const own = listeners.filter((l) => l.owner.kind === 'ListenerSet' && l.owner.name === ls.metadata.name && l.owner.namespace === (ls.metadata.namespace ?? 'default'));
    const s = summary(own);
    const conditions = !allowed
      ? [
          cond('Accepted', false, 'NotAllowed', `Gateway ${key(gateway)} does not allow ListenerSets from namespace ${ls.metadata.namespace ?? ''}`),
          cond('Programmed', false, 'NotAllowed', `Gateway ${key(gateway)} does not allow ListenerSets from namespace ${ls.metadata.namespace ?? ''}`),
        ]
      : s.acceptedCount === 0
        ? [cond('Accepted', false, 'ListenersNotValid', 'No listener is accepted'), cond('Programmed', false, 'ListenersNotValid', 'No listener is accepted')]
        : [
            s.acceptedCount === s.all ? cond('Accepted', true, 'Accepted', 'ListenerSet is accepted') : cond('Accepted', true, 'ListenersNotValid', `${s.all - s.acceptedCount} of ${s.all} listeners are not accepted`),
            s.programmedCount > 0 ? cond('Programmed', true, 'Programmed', 'ListenerSet is programmed') : cond('Programmed', false, 'Invalid', 'No listener is programmed'),
          ];
    statuses.push({
      ref: GATEWAY_RESOURCES.listenerSets,
      namespace: ls.metadata.namespace,
      name: ls.metadata.name,
      generation: ls.metadata.generation ?? 1,
      status: { conditions, ...(allowed ? { listeners: own.map(listenerStatus) } : {}) },
    });
  }
  return { listeners, statuses, backend };
}

// ---- request routing ---------------------------------------------------------------------------

export interface RequestFacts {
  host: string;
  path: string;
  method: string;
  headers: Record<string, string | string[] | undefined>;
  query: URLSearchParams;
}

export interface RouteDecision {
  route: HTTPRouteObj;
  rule: HTTPRouteRule;
  ruleIndex: number;
  /** The matched path match (for ReplacePrefixMatch). */
  match: HTTPRouteMatch;
}

function pathMatches(m: PathMatch | undefined, path: string): boolean {
  const type = m?.type ?? 'PathPrefix';
  const value = m?.value ?? '/';
  if (type === 'Exact') return path === value;
  if (type === 'RegularExpression') {
    try {
      return new RegExp(`^(?:${value})$`).test(path);
    } catch {
      return false;
    }
  }
  // PathPrefix is element-wise: "/foo" matches "/foo" and "/foo/bar", not "/foobar".
  const p = value.length > 1 ? value.replace(/\/+$/, '') : value;
  return p === '/' || path === p || path.startsWith(`${p}/`);
}

function matchMatches(m: HTTPRouteMatch, r: RequestFacts): boolean {
  if (!pathMatches(m.path, r.path)) return false;
  if (m.method && m.method !== r.method) return false;
  for (const h of m.headers ?? []) {
    const v = r.headers[h.name.toLowerCase()];
    const s = Array.isArray(v) ? v.join(',') : v;
    if (s === undefined) return false;
    if ((h.type ?? 'Exact') === 'Exact' ? s !== h.value : !new RegExp(`^(?:${h.value})$`).test(s)) return false;
  }
  for (const q of m.queryParams ?? []) {
    const s = r.query.get(q.name);
    if (s === null) return false;
    if ((q.type ?? 'Exact') === 'Exact' ? s !== q.value : !new RegExp(`^(?:${q.value})$`).test(s)) return false;
  }
  return true;
}

/** Sort key, larger first: hostname specificity, then the HTTPRoute match precedence. */
function precedence(hostname: string | undefined, m: HTTPRouteMatch): number[] {
  const type = m.path?.type ?? 'PathPrefix';
  return [
    hostname && !hostname.startsWith('*.') ? hostname.length : 0,
    hostname?.length ?? 0,
    type === 'Exact' ? 2 : type === 'PathPrefix' ? 1 : 0,
    type === 'PathPrefix' ? (m.path?.value ?? '/').length : 0,
    m.method ? 1 : 0,
    m.headers?.length ?? 0,
    m.queryParams?.length ?? 0,
  ];
}

/** The rule of the listener's routes a request goes to, by the Gateway API precedence rules. */
export function selectRule(l: ProgrammedListener, r: RequestFacts): RouteDecision | undefined {
  let best: { d: RouteDecision; key: number[]; age: string; id: string; order: number } | undefined;
  for (const a of l.attachments) {
    // The most specific of the route's hostnames that takes this host: exact before wildcard.
    const host = a.hostnames
      .filter((h) => hostMatches(h, r.host))
      .sort((x, y) => Number(!y.startsWith('*.')) - Number(!x.startsWith('*.')) || y.length - x.length)[0];
    if (a.hostnames.length > 0 && host === undefined) continue;
    (a.route.spec.rules ?? []).forEach((rule, ruleIndex) => {
      (rule.matches ?? [{}]).forEach((match, matchIndex) => {
        if (!matchMatches(match, r)) return;
        const cand = { d: { route: a.route, rule, ruleIndex, match }, key: precedence(host, match), age: a.route.metadata.creationTimestamp ?? '', id: key(a.route), order: ruleIndex * 100 + matchIndex };
        if (!best || better(cand, best)) best = cand;
      });
    });
  }
  return best?.d;
}

function better(a: { key: number[]; age: string; id: string; order: number }, b: { key: number[]; age: string; id: string; order: number }): boolean {
  for (let i = 0; i < a.key.length; i++) if ((a.key[i] ?? 0) !== (b.key[i] ?? 0)) return (a.key[i] ?? 0) > (b.key[i] ?? 0);
  if (a.age !== b.age) return a.age < b.age;
  if (a.id !== b.id) return a.id < b.id;
  return a.order < b.order;
}

/** Location of a RequestRedirect, with the spec's port rules (no port for http:80 and https:443). */
export function redirectLocation(f: NonNullable<HTTPRouteFilter['requestRedirect']>, req: { scheme: 'http' | 'https'; host: string; path: string; search: string; listenerPort: number }, match: HTTPRouteMatch): string {
  const scheme = f.scheme ?? req.scheme;
  const port = f.port ?? (f.scheme ? (scheme === 'https' ? 443 : 80) : req.listenerPort);
  const showPort = !((scheme === 'http' && port === 80) || (scheme === 'https' && port === 443));
  const path = f.path ? modifyPath(f.path, req.path, match) : req.path;
  return `${scheme}://${f.hostname ?? req.host}${showPort ? `:${port}` : ''}${path}${req.search}`;
}

export function modifyPath(m: PathModifier, path: string, match: HTTPRouteMatch): string {
  if (m.type === 'ReplaceFullPath') return m.replaceFullPath ?? '/';
  const prefix = (match.path?.value ?? '/').replace(/\/+$/, '');
  const rest = path.slice(prefix.length);
  const replacement = (m.replacePrefixMatch ?? '/').replace(/\/+$/, '');
  const out = `${replacement}${rest}`;
  return out.startsWith('/') ? out : `/${out}`;
}

export const unsupportedFilters = (rule: HTTPRouteRule): string[] => (rule.filters ?? []).map((f) => f.type).filter((t) => !SUPPORTED_FILTERS.has(t));
