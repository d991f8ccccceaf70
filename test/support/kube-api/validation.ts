// The part of apiserver validation and decoding that users of certkeeper can run into.
// Decoding problems (a non-string label, bad base64 in Secret data) are 400 BadRequest on a real
// server because the JSON never becomes a Go object; rule violations are 422 Invalid.
import { ApiError, invalid, type FieldError } from './errors.js';
import { gatewayApiErrors, gatewayApiUnknownFields, GATEWAY_GROUP } from './gateway-api.js';
import { isMap } from './patch.js';
import type { KubeObject, ResourceType } from './resources.js';

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const CONFIG_KEY_MSG =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

export function nameErrors(name: string, rule: ResourceType['nameRule'] = 'subdomain', field = 'metadata.name'): FieldError[] {
  const errs: FieldError[] = [];
  const max = rule === 'subdomain' ? 253 : 63;
  if (name.length > max) errs.push({ type: 'FieldValueInvalid', field, value: name, detail: `must be no more than ${max} characters` });
  const [re, msg] = rule === 'label' ? [LABEL, LABEL_MSG] : rule === 'dns1035' ? [DNS1035, DNS1035_MSG] : [SUBDOMAIN, SUBDOMAIN_MSG];
  if (!re.test(name)) errs.push({ type: 'FieldValueInvalid', field, value: name, detail: msg });
  return errs;
}

/** `Secret in version "v1" cannot be handled as a Secret: …`: the decoder's 400. */
export const decodeError = (t: ResourceType, why: string): ApiError =>
  new ApiError(400, 'BadRequest', `${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: ${why}`);

function checkStringMap(t: ResourceType, value: unknown, goField: string): void {
  if (value === undefined || value === null) return;
  if (!isMap(value)) throw decodeError(t, `json: cannot unmarshal ${typeof value} into Go struct field ${goField} of type map[string]string`);
  for (const v of Object.values(value)) {
    if (typeof v !== 'string') {
      throw decodeError(t, `json: cannot unmarshal ${v === null ? 'null' : typeof v} into Go struct field ${goField} of type string`);
    }
  }
}

function labelKeyValid(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0 && (prefix.length > 253 || !SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}

/** Checks the JSON shapes the Go decoder would reject; throws a 400. */
export function checkDecodable(t: ResourceType, obj: KubeObject): void {
  if (!isMap(obj.metadata)) throw decodeError(t, 'json: cannot unmarshal into Go struct field .metadata of type v1.ObjectMeta');
  checkStringMap(t, obj.metadata.labels, 'ObjectMeta.metadata.labels');
  checkStringMap(t, obj.metadata.annotations, 'ObjectMeta.metadata.annotations');
  if (t.group === '' && (t.kind === 'Secret' || t.kind === 'ConfigMap')) {
    checkStringMap(t, obj['data'], `${t.kind}.data`);
    if (t.kind === 'Secret') {
      checkStringMap(t, obj['stringData'], 'Secret.stringData');
      for (const v of Object.values((obj['data'] as Record<string, string> | undefined) ?? {})) {
        if (!BASE64.test(v)) {
          const at = v.search(/[^A-Za-z0-9+/=]/);
          throw decodeError(t, `illegal base64 data at input byte ${at >= 0 ? at : v.length}`);
        }
      }
    }
  }
}

/** Rule checks the real registry strategies run on create and update; throws a 422. */
export function validate(t: ResourceType, obj: KubeObject, old?: KubeObject): void {
  const name = obj.metadata.name ?? '';
  const errs: FieldError[] = [];
  if (!name) {
    errs.push({ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' });
  } else {
    errs.push(...nameErrors(name, t.nameRule));
  }
  for (const [key, value] of Object.entries(obj.metadata.labels ?? {})) {
    if (!labelKeyValid(key)) {
      errs.push({ type: 'FieldValueInvalid', field: 'metadata.labels', value: key, detail: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" });
    }
    if (value.length > 63 || !LABEL_VALUE.test(value)) {
      errs.push({ type: 'FieldValueInvalid', field: 'metadata.labels', value, detail: LABEL_VALUE_MSG });
    }
  }
  if (t.group === '' && t.kind === 'Secret') errs.push(...secretErrors(obj, old));
  if (t.group === '' && t.kind === 'ConfigMap') {
    for (const key of Object.keys(isMap(obj['data']) ? obj['data'] : {})) {
      if (!CONFIG_KEY.test(key)) errs.push({ type: 'FieldValueInvalid', field: `data[${key}]`, value: key, detail: CONFIG_KEY_MSG });
    }
  }
  if (t.group === 'networking.k8s.io' && t.kind === 'Ingress') errs.push(...ingressErrors(obj));
  if (t.kind === 'Event' && !old) errs.push(...eventErrors(t, obj));
  if (t.group === GATEWAY_GROUP) errs.push(...gatewayApiErrors(t, obj, old));
  if (errs.length) throw invalid(t, name, errs);
}

/**
 * ValidateEventCreate. Both Event APIs store one internal type; events.k8s.io names
 * involvedObject `regarding`, message `note`, and insists on the "new" fields.
 */
function eventErrors(t: ResourceType, obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const modern = t.group === 'events.k8s.io';
  const involved = isMap(obj[modern ? 'regarding' : 'involvedObject']) ? (obj[modern ? 'regarding' : 'involvedObject'] as Record<string, unknown>) : {};
  const involvedNs = typeof involved['namespace'] === 'string' ? involved['namespace'] : '';
  const ns = obj.metadata.namespace ?? '';
  const involvedField = 'involvedObject.namespace';
  const text = (k: string): string => (typeof obj[k] === 'string' ? (obj[k] as string) : '');
  if (!obj['eventTime']) {
    if (modern) errs.push({ type: 'FieldValueRequired', field: 'eventTime' });
    // An Event must live in the namespace of the object it is about (or default for cluster objects).
    else if (involvedNs ? ns !== involvedNs : ns !== '' && ns !== 'default') {
      errs.push({ type: 'FieldValueInvalid', field: involvedField, value: involvedNs, detail: 'does not match event.namespace' });
    }
  } else {
    if (!involvedNs && ns !== 'default' && ns !== 'kube-system') {
      errs.push({ type: 'FieldValueInvalid', field: involvedField, value: involvedNs, detail: 'does not match event.namespace' });
    }
    const controller = modern ? 'reportingController' : 'reportingComponent';
    for (const [field, key] of [[controller, controller], ['reportingInstance', 'reportingInstance'], ['action', 'action'], ['reason', 'reason']] as const) {
      if (!text(key)) errs.push({ type: 'FieldValueRequired', field });
    }
  }
  if (modern && obj['type'] !== 'Normal' && obj['type'] !== 'Warning') {
    errs.push({ type: 'FieldValueInvalid', field: 'type', value: '', detail: `has invalid value: ${text('type')}` });
  }
  return errs;
}

function secretErrors(obj: KubeObject, old?: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const data = (isMap(obj['data']) ? obj['data'] : {}) as Record<string, string>;
  let size = 0;
  for (const [key, value] of Object.entries(data)) {
    if (!CONFIG_KEY.test(key)) errs.push({ type: 'FieldValueInvalid', field: `data[${key}]`, value: key, detail: CONFIG_KEY_MSG });
    size += Buffer.byteLength(value, 'base64');
  }
  // The apiserver caps Secrets at 1 MiB of decoded data (etcd's request size is the reason).
  if (size > 1024 * 1024) errs.push({ type: 'FieldValueInvalid', field: 'data', value: '', detail: 'Too long: must have at most 1048576 bytes' });
  if (obj['type'] === 'kubernetes.io/tls') {
    for (const key of ['tls.crt', 'tls.key']) {
      if (!(key in data)) errs.push({ type: 'FieldValueRequired', field: `data[${key}]` });
    }
  }
  if (old && old['type'] !== obj['type']) {
    errs.push({ type: 'FieldValueInvalid', field: 'type', value: obj['type'], detail: 'field is immutable' });
  }
  return errs;
}

const PATH_TYPES = ['Exact', 'Prefix', 'ImplementationSpecific'];

function ingressErrors(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = isMap(obj['spec']) ? obj['spec'] : {};
  const rules = Array.isArray(spec['rules']) ? spec['rules'] : [];
  rules.forEach((rule: unknown, i: number) => {
    if (!isMap(rule)) return;
    const host = rule['host'];
    if (typeof host === 'string' && host !== '') {
      // Ingress hosts may be wildcards of exactly one leading label, never IP addresses.
      const bare = host.startsWith('*.') ? host.slice(2) : host;
      if (/^[0-9.]+$/.test(host)) {
        errs.push({ type: 'FieldValueInvalid', field: `spec.rules[${i}].host`, value: host, detail: 'must be a DNS name, not an IP address' });
      } else {
        for (const e of nameErrors(bare, 'subdomain', `spec.rules[${i}].host`)) errs.push({ ...e, value: host });
      }
    }
    const http = isMap(rule['http']) ? rule['http'] : undefined;
    const paths: unknown[] = http && Array.isArray(http['paths']) ? (http['paths'] as unknown[]) : [];
    paths.forEach((p, j) => {
      if (!isMap(p)) return;
      const field = `spec.rules[${i}].http.paths[${j}].pathType`;
      if (p['pathType'] === undefined) errs.push({ type: 'FieldValueRequired', field, detail: 'pathType must be specified' });
      else if (!PATH_TYPES.includes(String(p['pathType']))) {
        errs.push({ type: 'FieldValueNotSupported', field, value: p['pathType'], detail: `supported values: "Exact", "ImplementationSpecific", "Prefix"` });
      }
    });
  });
  return errs;
}

const OBJECT_META_FIELDS = new Set([
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
]);

/** Top-level fields of kinds that have no spec/status shape. */
const TOP_LEVEL_FIELDS: Record<string, string[]> = {
  '/Secret': ['data', 'stringData', 'type', 'immutable'],
  '/ConfigMap': ['data', 'binaryData', 'immutable'],
  '/ServiceAccount': ['secrets', 'imagePullSecrets', 'automountServiceAccountToken'],
  '/Endpoints': ['subsets'],
  '/Event': ['involvedObject', 'reason', 'message', 'source', 'firstTimestamp', 'lastTimestamp', 'count', 'type', 'eventTime', 'series', 'action', 'related', 'reportingComponent', 'reportingInstance'],
  'events.k8s.io/Event': ['eventTime', 'series', 'reportingController', 'reportingInstance', 'action', 'reason', 'regarding', 'related', 'note', 'type', 'deprecatedSource', 'deprecatedFirstTimestamp', 'deprecatedLastTimestamp', 'deprecatedCount'],
  'discovery.k8s.io/EndpointSlice': ['addressType', 'endpoints', 'ports'],
  'rbac.authorization.k8s.io/Role': ['rules'],
  'rbac.authorization.k8s.io/ClusterRole': ['rules', 'aggregationRule'],
  'rbac.authorization.k8s.io/RoleBinding': ['subjects', 'roleRef'],
  'rbac.authorization.k8s.io/ClusterRoleBinding': ['subjects', 'roleRef'],
};

/**
 * Unknown fields at the top level and in metadata: what fieldValidation=Strict (kubectl's
 * default) rejects and the default Warn mode reports. Deeper typos go unnoticed here, as we
 * carry no schemas.
 */
export function unknownFields(t: ResourceType, obj: KubeObject): string[] {
  // Custom resources have schemas: unknown fields are found at any depth, then pruned.
  const deep = gatewayApiUnknownFields(t, obj);
  if (deep) {
    if (isMap(obj.metadata)) deep.push(...Object.keys(obj.metadata).filter((k) => !OBJECT_META_FIELDS.has(k)).map((k) => `metadata.${k}`));
    return deep;
  }
  const allowed = new Set(['apiVersion', 'kind', 'metadata', ...(TOP_LEVEL_FIELDS[`${t.group}/${t.kind}`] ?? ['spec', 'status'])]);
  const unknown = Object.keys(obj).filter((k) => !allowed.has(k));
  if (isMap(obj.metadata)) unknown.push(...Object.keys(obj.metadata).filter((k) => !OBJECT_META_FIELDS.has(k)).map((k) => `metadata.${k}`));
  return unknown;
}
