// The Gateway API kinds as the v1.5/v1.6 standard-channel CRDs serve them: resource types,
// defaulting, pruning, schema and CEL validation. Written from the Go types' kubebuilder markers
// (apis/v1/*_types.go); the CEL rules are re-expressed as JavaScript predicates with the exact
// messages the CRDs carry, because users see those messages verbatim (`The Gateway "x" is
// invalid: spec.listeners: Invalid value: "array": tls mode must be Terminate for protocol HTTPS`).
//
// Modelled: every field of GatewayClass, Gateway, ListenerSet, HTTPRoute and ReferenceGrant down
// to the level certkeeper and the controller stand-in read; deeper, rarely used subtrees
// (header modifiers, mirrors, CORS, timeouts, Gateway spec.tls, parametersRef) are accepted as
// they come and not checked. Not modelled: the experimental channel, GRPCRoute/TLSRoute/
// BackendTLSPolicy, the ValidatingAdmissionPolicy "safe upgrades" object.
import type { FieldError } from './errors.js';
import { isMap } from './patch.js';
import type { KubeObject, ResourceType } from './resources.js';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** What `gateway.networking.k8s.io/bundle-version` says on the installed CRDs. */
export const GATEWAY_API_BUNDLE_VERSION = 'v1.6.1';

const gw = (version: string, r: Omit<ResourceType, 'group' | 'version'>): ResourceType => ({
  group: GATEWAY_GROUP,
  version,
  categories: ['gateway-api'],
  customResource: true,
  returnsDeletedObject: true,
  generation: true,
  ...r,
});

/**
 * v1 first in each group so it is the preferred version, as on a cluster. v1beta1 of
 * GatewayClass/Gateway/HTTPRoute shares v1's storage; ReferenceGrant is still stored as v1beta1
 * and served as v1 too (v1.5+).
 */
export const GATEWAY_API_RESOURCES: readonly ResourceType[] = [
  gw('v1', { resource: 'gatewayclasses', kind: 'GatewayClass', singular: 'gatewayclass', namespaced: false, shortNames: ['gc'], status: true }),
  gw('v1', { resource: 'gateways', kind: 'Gateway', singular: 'gateway', namespaced: true, shortNames: ['gtw'], status: true }),
  gw('v1', { resource: 'httproutes', kind: 'HTTPRoute', singular: 'httproute', namespaced: true, status: true }),
  gw('v1', { resource: 'listenersets', kind: 'ListenerSet', singular: 'listenerset', namespaced: true, shortNames: ['lset'], status: true }),
  gw('v1', { resource: 'referencegrants', kind: 'ReferenceGrant', singular: 'referencegrant', namespaced: true, shortNames: ['refgrant'], storageVersion: 'v1beta1' }),
  gw('v1beta1', { resource: 'gatewayclasses', kind: 'GatewayClass', singular: 'gatewayclass', namespaced: false, shortNames: ['gc'], status: true, storageVersion: 'v1' }),
  gw('v1beta1', { resource: 'gateways', kind: 'Gateway', singular: 'gateway', namespaced: true, shortNames: ['gtw'], status: true, storageVersion: 'v1' }),
  gw('v1beta1', { resource: 'httproutes', kind: 'HTTPRoute', singular: 'httproute', namespaced: true, status: true, storageVersion: 'v1' }),
  gw('v1beta1', { resource: 'referencegrants', kind: 'ReferenceGrant', singular: 'referencegrant', namespaced: true, shortNames: ['refgrant'] }),
];

// ---- a small structural schema -------------------------------------------------------------

interface Rule {
  message: string;
  /** false = the rule fails. `old` is the previous value (transition rules), undefined on create. */
  check: (self: never, old?: never) => boolean;
  /** Transition rule: only evaluated on update when an old value exists (`self == oldSelf`). */
  transition?: boolean;
}

type Schema =
  | { t: 'string'; pattern?: string; min?: number; max?: number; enum?: readonly string[]; default?: string; rules?: Rule[] }
  | { t: 'integer'; min?: number; max?: number; enum?: readonly number[]; default?: number }
  | { t: 'boolean' }
  | { t: 'object'; props: Record<string, Schema>; required?: readonly string[]; default?: unknown; rules?: Rule[] }
  | { t: 'map'; values: Schema; maxProps?: number; rules?: Rule[] }
  | { t: 'array'; items: Schema; min?: number; max?: number; default?: unknown; rules?: Rule[]; mapKeys?: readonly string[] }
  /** A subtree kept as sent and not checked here. */
  | { t: 'any' };

const str = (o: Omit<Extract<Schema, { t: 'string' }>, 't'> = {}): Schema => ({ t: 'string', ...o });
const int = (o: Omit<Extract<Schema, { t: 'integer' }>, 't'> = {}): Schema => ({ t: 'integer', ...o });
const obj = (props: Record<string, Schema>, o: Omit<Extract<Schema, { t: 'object' }>, 't' | 'props'> = {}): Schema => ({ t: 'object', props, ...o });
const arr = (items: Schema, o: Omit<Extract<Schema, { t: 'array' }>, 't' | 'items'> = {}): Schema => ({ t: 'array', items, ...o });
const map = (values: Schema, o: Omit<Extract<Schema, { t: 'map' }>, 't' | 'values'> = {}): Schema => ({ t: 'map', values, ...o });
const ANY: Schema = { t: 'any' };

const SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const HOSTNAME = '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const GROUP = '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const KIND = '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$';
const NAMESPACE = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const PROTOCOL = '^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9]+$';
const CONTROLLER = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$";
const CONDITION_TYPE = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';
const CONDITION_REASON = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

const group = (def?: string): Schema => str({ pattern: GROUP, max: 253, ...(def !== undefined ? { default: def } : {}) });
const kind = (def?: string): Schema => str({ pattern: KIND, min: 1, max: 63, ...(def !== undefined ? { default: def } : {}) });
const objectName = str({ min: 1, max: 253 });
const namespaceName = str({ pattern: NAMESPACE, min: 1, max: 63 });
const sectionName = str({ pattern: SUBDOMAIN, min: 1, max: 253 });
const hostname = str({ pattern: HOSTNAME, min: 1, max: 253 });
const preciseHostname = str({ pattern: SUBDOMAIN, min: 1, max: 253 });
const port = int({ min: 1, max: 65535 });

const labelSelector = obj({
  matchLabels: map(str()),
  matchExpressions: arr(obj({ key: str(), operator: str(), values: arr(str()) }, { required: ['key', 'operator'] })),
});

const condition = obj(
  {
    type: str({ pattern: CONDITION_TYPE, max: 316 }),
    status: str({ enum: ['True', 'False', 'Unknown'] }),
    observedGeneration: int({ min: 0 }),
    lastTransitionTime: str(),
    reason: str({ pattern: CONDITION_REASON, min: 1, max: 1024 }),
    message: str({ max: 32768 }),
  },
  { required: ['lastTransitionTime', 'message', 'reason', 'status', 'type'] },
);
const conditions = (max: number, def?: unknown): Schema => arr(condition, { max, mapKeys: ['type'], ...(def !== undefined ? { default: def } : {}) });

const pending = (type: string) => ({ lastTransitionTime: '1970-01-01T00:00:00Z', message: 'Waiting for controller', reason: 'Pending', status: 'Unknown', type });

// CEL rules, re-expressed. `has(x)` in CEL is "present in the object", hence `!== undefined`.
type L = { name?: string; protocol?: string; port?: number; hostname?: string; tls?: { mode?: string; certificateRefs?: unknown[]; options?: object } };
const same = (a: L, b: L): boolean => a.port === b.port && a.protocol === b.protocol && (a.hostname !== undefined && b.hostname !== undefined ? a.hostname === b.hostname : a.hostname === undefined && b.hostname === undefined);
const listenerRules = (portOptional: boolean): Rule[] => [
  { message: "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']", check: (ls: L[]) => ls.every((l) => !['HTTP', 'TCP', 'UDP'].includes(l.protocol ?? '') || l.tls === undefined) },
  { message: 'tls mode must be Terminate for protocol HTTPS', check: (ls: L[]) => ls.every((l) => !(l.protocol === 'HTTPS' && l.tls) || l.tls.mode === '' || l.tls.mode === 'Terminate') },
  { message: 'tls mode must be set for protocol TLS', check: (ls: L[]) => ls.every((l) => l.protocol !== 'TLS' || (!!l.tls && !!l.tls.mode)) },
  { message: "hostname must not be specified for protocols ['TCP', 'UDP']", check: (ls: L[]) => ls.every((l) => !['TCP', 'UDP'].includes(l.protocol ?? '') || !l.hostname) },
  { message: 'Listener name must be unique within the Gateway', check: (ls: L[]) => ls.every((a) => ls.filter((b) => a.name === b.name).length === 1) },
  {
    message: 'Combination of port, protocol and hostname must be unique for each listener',
    check: (ls: L[]) => ls.every((a) => (portOptional && a.port === undefined) || ls.filter((b) => (!portOptional || b.port !== undefined) && same(a, b)).length === 1),
  },
];

const listener = obj(
  {
    name: sectionName,
    hostname,
    port,
    protocol: str({ pattern: PROTOCOL, min: 1, max: 255 }),
    tls: obj(
      {
        mode: str({ enum: ['Terminate', 'Passthrough'], default: 'Terminate' }),
        certificateRefs: arr(obj({ group: group(''), kind: kind('Secret'), name: objectName, namespace: namespaceName }, { required: ['name'] }), { max: 64 }),
        options: map(str({ max: 4096 }), { maxProps: 16 }),
      },
      {
        rules: [
          {
            message: 'certificateRefs or options must be specified when mode is Terminate',
            check: (t: { mode?: string; certificateRefs?: unknown[]; options?: object }) => t.mode !== 'Terminate' || (t.certificateRefs?.length ?? 0) > 0 || Object.keys(t.options ?? {}).length > 0,
          },
        ],
      },
    ),
    allowedRoutes: obj(
      {
        namespaces: obj({ from: str({ enum: ['All', 'Selector', 'Same'], default: 'Same' }), selector: labelSelector }, { default: { from: 'Same' } }),
        kinds: arr(obj({ group: group('gateway.networking.k8s.io'), kind: kind() }, { required: ['kind'] }), { max: 8 }),
      },
      { default: { namespaces: { from: 'Same' } } },
    ),
  },
  { required: ['name', 'port', 'protocol'] },
);

const listenerStatus = obj(
  {
    name: sectionName,
    supportedKinds: arr(obj({ group: group('gateway.networking.k8s.io'), kind: kind() }, { required: ['kind'] }), { max: 8 }),
    attachedRoutes: int(),
    conditions: conditions(8),
  },
  { required: ['attachedRoutes', 'conditions', 'name'] },
);

type Address = { type?: string; value?: string };
const addressRules: Rule[] = ['IPAddress', 'Hostname'].map((type) => ({
  message: `${type === 'IPAddress' ? 'IPAddress' : 'Hostname'} values must be unique`,
  check: (as: Address[]) => as.every((a) => a.type !== type || a.value === undefined || as.filter((b) => b.type === type && b.value === a.value).length === 1),
}));
const HOSTNAME_CHARS = `Hostname value must be empty or contain only valid characters (matching ${HOSTNAME})`;

const GATEWAY_CLASS: Schema = obj(
  {
    spec: obj(
      {
        controllerName: str({ pattern: CONTROLLER, min: 1, max: 253, rules: [{ message: 'Value is immutable', transition: true, check: (s: string, o?: string) => s === o }] }),
        description: str({ max: 64 }),
        parametersRef: ANY,
      },
      { required: ['controllerName'] },
    ),
    status: obj({ conditions: conditions(8, [pending('Accepted')]), supportedFeatures: ANY }, { default: { conditions: [pending('Accepted')] } }),
  },
  { required: ['spec'] },
);

const GATEWAY: Schema = obj(
  {
    spec: obj(
      {
        gatewayClassName: objectName,
        listeners: arr(listener, { min: 1, max: 64, mapKeys: ['name'], rules: listenerRules(false) }),
        addresses: arr(
          obj({ type: str({ pattern: '^Hostname|IPAddress|NamedAddress|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9\\/\\-._~%!$&\'()*+,;=:]+$', min: 1, max: 253, default: 'IPAddress' }), value: str({ max: 253 }) }, {
            rules: [{ message: HOSTNAME_CHARS, check: (a: Address) => a.type !== 'Hostname' || a.value === undefined || new RegExp(HOSTNAME).test(a.value) }],
          }),
          { max: 16, rules: addressRules },
        ),
        infrastructure: obj({ labels: map(str({ max: 63 }), { maxProps: 16 }), annotations: map(str({ max: 4096 }), { maxProps: 16 }), parametersRef: ANY }),
        allowedListeners: obj({ namespaces: obj({ from: str({ enum: ['All', 'Selector', 'Same', 'None'], default: 'None' }), selector: labelSelector }, { default: { from: 'None' } }) }),
        tls: ANY,
      },
      { required: ['gatewayClassName', 'listeners'] },
    ),
    status: obj(
      {
        addresses: arr(obj({ type: str({ min: 1, max: 253, default: 'IPAddress' }), value: str({ min: 1, max: 253 }) }, { required: ['value'] }), { max: 16 }),
        conditions: conditions(8, [pending('Accepted'), pending('Programmed')]),
        listeners: arr(listenerStatus, { max: 64, mapKeys: ['name'] }),
        attachedListenerSets: int(),
      },
      { default: { conditions: [pending('Accepted'), pending('Programmed')] } },
    ),
  },
  { required: ['spec'] },
);

const LISTENER_SET: Schema = obj(
  {
    spec: obj(
      {
        parentRef: obj({ group: group('gateway.networking.k8s.io'), kind: kind('Gateway'), name: objectName, namespace: namespaceName }, { required: ['name'] }),
        listeners: arr(listener, { min: 1, max: 64, mapKeys: ['name'], rules: listenerRules(true) }),
      },
      { required: ['listeners', 'parentRef'] },
    ),
    status: obj(
      { conditions: conditions(8, [pending('Accepted'), pending('Programmed')]), listeners: arr(listenerStatus, { max: 64, mapKeys: ['name'] }) },
      { default: { conditions: [pending('Accepted'), pending('Programmed')] } },
    ),
  },
  { required: ['spec'] },
);

// ---- HTTPRoute ----------------------------------------------------------------------------------

type PathMatch = { type?: string; value?: string };
const EXACT_OR_PREFIX = (p: PathMatch) => p.type === 'Exact' || p.type === 'PathPrefix';
const PATH_CHARS = "^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$";
const pathRules: Rule[] = [
  { message: "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']", check: (p: PathMatch) => !EXACT_OR_PREFIX(p) || (p.value ?? '').startsWith('/') },
  ...['//', '/./', '/../', '%2f', '%2F', '#'].map((s) => ({
    message: `must not contain '${s}' when type one of ['Exact', 'PathPrefix']`,
    check: (p: PathMatch) => !EXACT_OR_PREFIX(p) || !(p.value ?? '').includes(s),
  })),
  ...['/..', '/.'].map((s) => ({ message: `must not end with '${s}' when type one of ['Exact', 'PathPrefix']`, check: (p: PathMatch) => !EXACT_OR_PREFIX(p) || !(p.value ?? '').endsWith(s) })),
  { message: "type must be one of ['Exact', 'PathPrefix', 'RegularExpression']", check: (p: PathMatch) => EXACT_OR_PREFIX(p) || p.type === 'RegularExpression' },
  { message: `must only contain valid characters (matching ${PATH_CHARS}) for types ['Exact', 'PathPrefix']`, check: (p: PathMatch) => !EXACT_OR_PREFIX(p) || new RegExp(PATH_CHARS).test(p.value ?? '') },
];

type PathModifier = { type?: string; replaceFullPath?: string; replacePrefixMatch?: string };
const pathModifier = obj(
  { type: str({ enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] }), replaceFullPath: str({ max: 1024 }), replacePrefixMatch: str({ max: 1024 }) },
  {
    required: ['type'],
    rules: (['ReplaceFullPath', 'ReplacePrefixMatch'] as const).flatMap((type) => {
      const field = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
      return [
        { message: `${field} must be specified when type is set to '${type}'`, check: (p: PathModifier) => p.type !== type || p[field] !== undefined },
        { message: `type must be '${type}' when ${field} is set`, check: (p: PathModifier) => p[field] === undefined || p.type === type },
      ];
    }),
  },
);

const FILTER_FIELDS: [string, string][] = [
  ['CORS', 'cors'],
  ['RequestHeaderModifier', 'requestHeaderModifier'],
  ['ResponseHeaderModifier', 'responseHeaderModifier'],
  ['RequestMirror', 'requestMirror'],
  ['RequestRedirect', 'requestRedirect'],
  ['URLRewrite', 'urlRewrite'],
  ['ExtensionRef', 'extensionRef'],
];
type Filter = Record<string, unknown> & { type?: string };
const filter = obj(
  {
    type: str({ enum: ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'RequestRedirect', 'URLRewrite', 'ExtensionRef', 'CORS'] }),
    requestRedirect: obj({
      scheme: str({ enum: ['http', 'https'] }),
      hostname: preciseHostname,
      path: pathModifier,
      port,
      statusCode: int({ enum: [301, 302, 303, 307, 308], default: 302 }),
    }),
    urlRewrite: obj({ hostname: preciseHostname, path: pathModifier }),
    requestHeaderModifier: ANY,
    responseHeaderModifier: ANY,
    requestMirror: ANY,
    extensionRef: ANY,
    cors: ANY,
  },
  {
    required: ['type'],
    rules: FILTER_FIELDS.flatMap(([type, field]) => [
      { message: `filter.${field} must be nil if the filter.type is not ${type}`, check: (f: Filter) => !(f[field] !== undefined && f.type !== type) },
      { message: `filter.${field} must be specified for ${type} filter.type`, check: (f: Filter) => !(f[field] === undefined && f.type === type) },
    ]),
  },
);
const filterListRules: Rule[] = [
  {
    message: 'May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both',
    check: (fs: Filter[]) => !(fs.some((f) => f.type === 'RequestRedirect') && fs.some((f) => f.type === 'URLRewrite')),
  },
  ...['CORS', 'RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite'].map((type) => ({
    message: `${type} filter cannot be repeated`,
    check: (fs: Filter[]) => fs.filter((f) => f.type === type).length <= 1,
  })),
];
const filters = arr(filter, { max: 16, rules: filterListRules });

type BackendRef = { group?: string; kind?: string; port?: number; filters?: Filter[] };
const backendRef = obj(
  {
    group: group(''),
    kind: kind('Service'),
    name: objectName,
    namespace: namespaceName,
    port,
    weight: int({ min: 0, max: 1000000, default: 1 }),
    filters,
  },
  { required: ['name'], rules: [{ message: 'Must have port for Service reference', check: (b: BackendRef) => !(b.group === '' && b.kind === 'Service') || b.port !== undefined }] },
);

type RouteRule = { matches?: { path?: PathMatch }[]; filters?: Filter[]; backendRefs?: BackendRef[] };
const replacesPrefix = (fs: Filter[] | undefined, field: 'requestRedirect' | 'urlRewrite'): boolean =>
  (fs ?? []).filter((f) => {
    const p = isMap(f[field]) ? (f[field] as { path?: PathModifier }).path : undefined;
    return p?.type === 'ReplacePrefixMatch' && p.replacePrefixMatch !== undefined;
  }).length === 1;
const onePrefixMatch = (r: RouteRule): boolean => r.matches?.length === 1 && r.matches[0]?.path?.type === 'PathPrefix';
const ruleRules: Rule[] = [
  {
    message: 'RequestRedirect filter must not be used together with backendRefs',
    check: (r: RouteRule) => !(r.backendRefs && r.backendRefs.length > 0) || !r.filters || r.filters.every((f) => f['requestRedirect'] === undefined),
  },
  ...(['requestRedirect', 'urlRewrite'] as const).flatMap((field) => {
    const name = field === 'requestRedirect' ? 'RequestRedirect' : 'URLRewrite';
    return [
      { message: `When using ${name} filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified`, check: (r: RouteRule) => !replacesPrefix(r.filters, field) || onePrefixMatch(r) },
      {
        message: `Within backendRefs, ${field === 'requestRedirect' ? 'when' : 'When'} using ${name} filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified`,
        check: (r: RouteRule) => !((r.backendRefs ?? []).filter((b) => replacesPrefix(b.filters, field)).length === 1) || onePrefixMatch(r),
      },
    ];
  }),
];

const DEFAULT_MATCHES = [{ path: { type: 'PathPrefix', value: '/' } }];
const routeRule = obj(
  {
    name: str({ pattern: SUBDOMAIN, min: 1, max: 253 }),
    matches: arr(
      obj({
        path: obj({ type: str({ enum: ['Exact', 'PathPrefix', 'RegularExpression'], default: 'PathPrefix' }), value: str({ max: 1024, default: '/' }) }, { default: { type: 'PathPrefix', value: '/' }, rules: pathRules }),
        headers: arr(obj({ name: str({ min: 1, max: 256 }), type: str({ enum: ['Exact', 'RegularExpression'], default: 'Exact' }), value: str({ min: 1, max: 4096 }) }, { required: ['name', 'value'] }), { max: 16, mapKeys: ['name'] }),
        queryParams: arr(obj({ name: str({ min: 1, max: 256 }), type: str({ enum: ['Exact', 'RegularExpression'], default: 'Exact' }), value: str({ min: 1, max: 1024 }) }, { required: ['name', 'value'] }), { max: 16, mapKeys: ['name'] }),
        method: str({ enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] }),
      }),
      { max: 64, default: DEFAULT_MATCHES },
    ),
    filters,
    backendRefs: arr(backendRef, { max: 16 }),
    timeouts: ANY,
  },
  { rules: ruleRules },
);

type ParentRef = { group?: string; kind?: string; name?: string; namespace?: string; sectionName?: string };
const sameParent = (a: ParentRef, b: ParentRef): boolean =>
  a.group === b.group && a.kind === b.kind && a.name === b.name && ((!a.namespace && !b.namespace) || (!!a.namespace && a.namespace === b.namespace));
const parentRef = obj(
  { group: group('gateway.networking.k8s.io'), kind: kind('Gateway'), namespace: namespaceName, name: objectName, sectionName, port },
  { required: ['name'] },
);

const HTTP_ROUTE: Schema = obj(
  {
    spec: obj({
      parentRefs: arr(parentRef, {
        max: 32,
        rules: [
          {
            message: 'sectionName must be specified when parentRefs includes 2 or more references to the same parent',
            check: (ps: ParentRef[]) => ps.every((a) => ps.every((b) => !sameParent(a, b) || !a.sectionName === !b.sectionName)),
          },
          {
            message: 'sectionName must be unique when parentRefs includes 2 or more references to the same parent',
            check: (ps: ParentRef[]) => ps.every((a) => ps.filter((b) => sameParent(a, b) && (a.sectionName || '') === (b.sectionName || '')).length === 1),
          },
        ],
      }),
      hostnames: arr(hostname, { max: 16 }),
      rules: arr(routeRule, {
        max: 16,
        default: [{ matches: DEFAULT_MATCHES }],
        rules: [
          {
            message: 'While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128',
            check: (rs: RouteRule[]) => rs.slice(0, 16).reduce((n, r) => n + (r.matches?.length ?? 0), 0) <= 128,
          },
        ],
      }),
    }),
    status: obj({
      parents: arr(
        obj({ parentRef, controllerName: str({ pattern: CONTROLLER, min: 1, max: 253 }), conditions: conditions(8) }, { required: ['conditions', 'controllerName', 'parentRef'] }),
        { max: 32 },
      ),
    }, { required: ['parents'] }),
  },
  { required: ['spec'] },
);

const grantFrom = obj({ group: str({ pattern: GROUP, max: 253 }), kind: kind(), namespace: namespaceName }, { required: ['group', 'kind', 'namespace'] });
const grantTo = obj({ group: str({ pattern: GROUP, max: 253 }), kind: kind(), name: objectName }, { required: ['group', 'kind'] });
const REFERENCE_GRANT: Schema = obj(
  { spec: obj({ from: arr(grantFrom, { min: 1, max: 16 }), to: arr(grantTo, { min: 1, max: 16 }) }, { required: ['from', 'to'] }) },
  { required: ['spec'] },
);

const SCHEMAS: Record<string, Schema> = {
  GatewayClass: GATEWAY_CLASS,
  Gateway: GATEWAY,
  ListenerSet: LISTENER_SET,
  HTTPRoute: HTTP_ROUTE,
  ReferenceGrant: REFERENCE_GRANT,
};

const schemaOf = (t: ResourceType): Schema | undefined => (t.group === GATEWAY_GROUP ? SCHEMAS[t.kind] : undefined);

// ---- pruning and defaulting (structural schema semantics) ---------------------------------------

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Drops fields the schema does not know and nulls, as the apiserver prunes custom resources. */
function prune(s: Schema, v: unknown): void {
  if (s.t === 'object' && isMap(v)) {
    for (const k of Object.keys(v)) {
      const child = s.props[k];
      if (!child || v[k] === null) delete v[k];
      else prune(child, v[k]);
    }
  } else if (s.t === 'array' && Array.isArray(v)) v.forEach((x) => prune(s.items, x));
  else if (s.t === 'map' && isMap(v)) Object.values(v).forEach((x) => prune(s.values, x));
}

function applyDefaults(s: Schema, v: unknown): void {
  if (s.t === 'object' && isMap(v)) {
    for (const [k, child] of Object.entries(s.props)) {
      if (v[k] === undefined && 'default' in child && child.default !== undefined) v[k] = clone(child.default);
      if (v[k] !== undefined) applyDefaults(child, v[k]);
    }
  } else if (s.t === 'array' && Array.isArray(v)) v.forEach((x) => applyDefaults(s.items, x));
  else if (s.t === 'map' && isMap(v)) Object.values(v).forEach((x) => applyDefaults(s.values, x));
}

/**
 * Prunes unknown fields and applies schema defaults to everything but metadata. `status` is
 * part of it: a fresh Gateway reads back with the CRD's "Waiting for controller" conditions.
 */
export function defaultGatewayApiObject(t: ResourceType, o: KubeObject): void {
  const s = schemaOf(t);
  if (!s || s.t !== 'object') return;
  for (const k of Object.keys(o)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata') continue;
    const child = s.props[k];
    if (!child || o[k] === null) delete o[k];
    else prune(child, o[k]);
  }
  applyDefaults(s, o);
}

/** Paths of fields the schema does not know, as strict field validation names them. */
export function gatewayApiUnknownFields(t: ResourceType, o: KubeObject): string[] | undefined {
  const s = schemaOf(t);
  if (!s || s.t !== 'object') return undefined;
  const out: string[] = [];
  const walk = (sc: Schema, v: unknown, path: string): void => {
    if (sc.t === 'object' && isMap(v)) {
      for (const [k, x] of Object.entries(v)) {
        const child = sc.props[k];
        const p = path ? `${path}.${k}` : k;
        if (!child) out.push(p);
        else walk(child, x, p);
      }
    } else if (sc.t === 'array' && Array.isArray(v)) v.forEach((x, i) => walk(sc.items, x, `${path}[${i}]`));
    else if (sc.t === 'map' && isMap(v)) for (const [k, x] of Object.entries(v)) walk(sc.values, x, `${path}[${k}]`);
  };
  for (const [k, v] of Object.entries(o)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata') continue;
    const child = s.props[k];
    if (!child) out.push(k);
    else walk(child, v, k);
  }
  return out;
}

// ---- validation -----------------------------------------------------------------------------------

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v);

/** kube-openapi's "in body" errors and the CEL validator's `Invalid value: "<type>": <message>`. */
function check(s: Schema, v: unknown, old: unknown, path: string, errs: FieldError[]): void {
  if (s.t === 'any' || v === undefined) return;
  const want = s.t === 'map' ? 'object' : s.t;
  const got = typeName(v);
  if (!(got === want || (want === 'object' && got === 'object' && !Array.isArray(v)))) {
    errs.push({ type: 'FieldValueTypeInvalid', field: path, value: got, detail: `${path} in body must be of type ${want}: "${got}"` });
    return;
  }
  const celType = s.t === 'map' ? 'object' : s.t;
  const runRules = (rules: Rule[] | undefined): void => {
    for (const r of rules ?? []) {
      if (r.transition && old === undefined) continue;
      if (!(r.check as (a: unknown, b?: unknown) => boolean)(v, old)) errs.push({ type: 'FieldValueInvalid', field: path, value: celType, detail: r.message });
    }
  };
  switch (s.t) {
    case 'string': {
      const x = v as string;
      if (s.enum && !s.enum.includes(x)) {
        errs.push({ type: 'FieldValueNotSupported', field: path, value: x, detail: `supported values: ${s.enum.map((e) => `"${e}"`).join(', ')}` });
        break;
      }
      if (s.max !== undefined && x.length > s.max) errs.push({ type: 'FieldValueTooLong', field: path, detail: `may not be more than ${s.max} bytes` });
      if (s.min !== undefined && x.length < s.min) errs.push({ type: 'FieldValueInvalid', field: path, value: x, detail: `${path} in body should be at least ${s.min} chars long` });
      if (s.pattern && !new RegExp(s.pattern).test(x)) errs.push({ type: 'FieldValueInvalid', field: path, value: x, detail: `${path} in body should match '${s.pattern}'` });
      runRules(s.rules);
      break;
    }
    case 'integer': {
      const x = v as number;
      if (s.enum && !s.enum.includes(x)) {
        errs.push({ type: 'FieldValueNotSupported', field: path, value: x, detail: `supported values: ${s.enum.map((e) => `"${e}"`).join(', ')}` });
      }
      if (s.max !== undefined && x > s.max) errs.push({ type: 'FieldValueInvalid', field: path, value: x, detail: `${path} in body should be less than or equal to ${s.max}` });
      if (s.min !== undefined && x < s.min) errs.push({ type: 'FieldValueInvalid', field: path, value: x, detail: `${path} in body should be greater than or equal to ${s.min}` });
      break;
    }
    case 'boolean':
      break;
    case 'object': {
      const x = v as Record<string, unknown>;
      const o = isMap(old) ? old : undefined;
      for (const r of s.required ?? []) if (x[r] === undefined) errs.push({ type: 'FieldValueRequired', field: path ? `${path}.${r}` : r, detail: '' });
      for (const [k, child] of Object.entries(s.props)) check(child, x[k], o?.[k], path ? `${path}.${k}` : k, errs);
      runRules(s.rules);
      break;
    }
    case 'map': {
      const x = v as Record<string, unknown>;
      if (s.maxProps !== undefined && Object.keys(x).length > s.maxProps) {
        errs.push({ type: 'FieldValueTooMany', field: path, value: Object.keys(x).length, detail: `must have at most ${s.maxProps} items` });
      }
      for (const [k, y] of Object.entries(x)) check(s.values, y, undefined, `${path}[${k}]`, errs);
      runRules(s.rules);
      break;
    }
    case 'array': {
      const x = v as unknown[];
      if (s.max !== undefined && x.length > s.max) errs.push({ type: 'FieldValueTooMany', field: path, value: x.length, detail: `must have at most ${s.max} items` });
      if (s.min !== undefined && x.length < s.min) errs.push({ type: 'FieldValueInvalid', field: path, value: x.length, detail: `${path} in body should have at least ${s.min} items` });
      const seen = new Map<string, number>();
      x.forEach((item, i) => {
        // Old items are matched by list-map key, as CEL transition rules correlate them.
        const oldItem = s.mapKeys && Array.isArray(old) && isMap(item)
          ? (old as unknown[]).find((p) => isMap(p) && s.mapKeys?.every((k) => p[k] === item[k]))
          : undefined;
        check(s.items, item, oldItem, `${path}[${i}]`, errs);
        if (s.mapKeys && isMap(item)) {
          const key = JSON.stringify(s.mapKeys.map((k) => item[k]));
          if (seen.has(key)) {
            const shown = s.mapKeys.map((k) => `"${k}":${JSON.stringify(item[k])}`).join(', ');
            errs.push({ type: 'FieldValueDuplicate', field: `${path}[${i}]`, valueText: `map[string]interface {}{${shown}}` });
          }
          seen.set(key, i);
        }
      });
      runRules(s.rules);
      break;
    }
  }
}

/** Schema and CEL errors for a Gateway API object (empty when valid). */
export function gatewayApiErrors(t: ResourceType, o: KubeObject, old?: KubeObject): FieldError[] {
  const s = schemaOf(t);
  if (!s || s.t !== 'object') return [];
  const errs: FieldError[] = [];
  for (const r of s.required ?? []) if (o[r] === undefined) errs.push({ type: 'FieldValueRequired', field: r, detail: '' });
  for (const [k, child] of Object.entries(s.props)) check(child, o[k], old?.[k], k, errs);
  return errs;
}
