// A tolerant, typed view of an Ingress built from `unknown`. Objects come from users' YAML as
// often as from the API server, so any field may be missing, misspelt or of the wrong type; the
// view records what it found and what it could not use, and never throws.
import { ANNOTATION_PREFIX, KNOWN_ANNOTATIONS, TLS_ACME_ANNOTATION, closestName } from './annotations.js';

/**
 * An object that names a TLS Secret: an Ingress, or (with `kind`) a Gateway or ListenerSet whose
 * HTTPS listener does. Events, findings and "used by" texts go to this object.
 */
export interface IngressRef {
  namespace: string;
  name: string;
  /** Absent (or "Ingress") for an Ingress; "Gateway" or "ListenerSet" for Gateway API objects. */
  kind?: string;
}

/** "Ingress shop/web", "Gateway shop/edge". */
export function describeUser(r: IngressRef): string {
  return `${r.kind ?? 'Ingress'} ${r.namespace}/${r.name}`;
}

/** "Ingress shop/web, blog/x; Gateway shop/edge": users grouped by kind, in order. */
export function describeUsers(refs: readonly IngressRef[]): string {
  const byKind = new Map<string, string[]>();
  for (const r of refs) {
    const k = r.kind ?? 'Ingress';
    byKind.set(k, [...(byKind.get(k) ?? []), `${r.namespace}/${r.name}`]);
  }
  return [...byKind].map(([k, names]) => `${k} ${names.join(', ')}`).join('; ');
}

export const INGRESS_V1 = 'networking.k8s.io/v1';
/** Both were removed in Kubernetes 1.22; the API server no longer accepts them. */
export const REMOVED_INGRESS_VERSIONS = ['extensions/v1beta1', 'networking.k8s.io/v1beta1'] as const;

export interface BackendView {
  /** JSON-path-like location, e.g. `spec.rules[0].http.paths[0].backend`. */
  path: string;
  serviceName?: string;
  servicePort?: string | number;
  /** serviceName/servicePort keys present (the v1beta1 form). */
  legacyFields: string[];
}

export interface PathView {
  path?: string;
  pathType?: string;
  backend?: BackendView;
}

export interface RuleView {
  index: number;
  /** As written (trimmed); undefined when absent or empty, which makes the rule a catch-all. */
  host?: string;
  hasHttp: boolean;
  paths: PathView[];
}

export interface TlsEntryView {
  index: number;
  /** undefined when the key is absent or not a list; [] when an empty list. */
  hosts?: string[];
  secretName?: string;
}

/** Something in the object that does not fit the Ingress schema. */
export type SchemaIssue =
  | { kind: 'WrongType'; path: string; expected: string; found: string; hint?: string }
  | { kind: 'UnknownField'; path: string; field: string; suggestion?: string; known: readonly string[] };

export interface IngressView {
  apiVersion: string;
  removedApi: boolean;
  /** `metadata.namespace` as written; undefined in many manifests (kubectl's current namespace applies). */
  namespace?: string;
  name: string;
  annotations: unknown;
  labels: Record<string, string>;
  ingressClassName?: string;
  /** spec.tls present (even if empty). */
  tlsPresent: boolean;
  tls: TlsEntryView[];
  rulesPresent: boolean;
  rules: RuleView[];
  defaultBackend?: BackendView;
  /** A v1 object using `spec.backend`, the v1beta1 name of `spec.defaultBackend`. */
  legacySpecBackend?: boolean;
  backends: BackendView[];
  issues: SchemaIssue[];
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return `the ${typeof v} ${String(v)}`;
}

/** Is this an Ingress of a group certkeeper understands (current or removed versions)? */
export function isIngressObject(obj: unknown): obj is Record<string, unknown> {
  if (!isRecord(obj) || obj.kind !== 'Ingress') return false;
  const av = obj.apiVersion;
  return av === undefined || (typeof av === 'string' && (av.startsWith('networking.k8s.io/') || av.startsWith('extensions/')));
}

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const;
const SPEC_V1 = ['defaultBackend', 'ingressClassName', 'rules', 'tls'] as const;
const SPEC_V1BETA1 = ['backend', 'ingressClassName', 'rules', 'tls'] as const;
const RULE_FIELDS = ['host', 'http'] as const;
const HTTP_FIELDS = ['paths'] as const;
const PATH_FIELDS = ['path', 'pathType', 'backend'] as const;
const BACKEND_V1 = ['service', 'resource'] as const;
const BACKEND_V1BETA1 = ['serviceName', 'servicePort', 'resource'] as const;
const SERVICE_FIELDS = ['name', 'port'] as const;
const PORT_FIELDS = ['name', 'number'] as const;
const RESOURCE_FIELDS = ['apiGroup', 'kind', 'name'] as const;
const TLS_FIELDS = ['hosts', 'secretName'] as const;
const LEGACY_BACKEND = ['serviceName', 'servicePort'];
const OWN_ANNOTATIONS = new Set<string>([TLS_ACME_ANNOTATION, ...KNOWN_ANNOTATIONS.map((k) => ANNOTATION_PREFIX + k)]);
/**
 * Label and annotation values are strings; kubectl rejects the object otherwise ("cannot unmarshal
 * bool into Go struct field ObjectMeta.metadata.annotations of type string"). The value is not
 * repeated in the hint: `on` and `0755` arrive here as true and 493, and quoting those would
 * change what the user wrote.
 */
const NOT_A_STRING_HINT =
  'quote the value as written: kubectl reads YAML 1.1, where unquoted true/false, yes/no, on/off, y/n and numbers are not strings, and rejects the object';

class Builder {
  issues: SchemaIssue[] = [];
  backends: BackendView[] = [];
  constructor(private readonly legacy: boolean) {}

  wrong(path: string, expected: string, value: unknown, hint?: string): void {
    const issue: SchemaIssue = { kind: 'WrongType', path, expected, found: typeName(value) };
    if (hint !== undefined) issue.hint = hint;
    this.issues.push(issue);
  }

  fields(obj: Record<string, unknown>, path: string, known: readonly string[], allowed: readonly string[] = []): void {
    for (const field of Object.keys(obj)) {
      if (known.includes(field) || allowed.includes(field)) continue;
      this.issues.push({ kind: 'UnknownField', path: path === '' ? field : `${path}.${field}`, field, known });
    }
  }

  record(v: unknown, path: string): Record<string, unknown> | undefined {
    if (v === undefined || v === null) return undefined;
    if (isRecord(v)) return v;
    this.wrong(path, 'a mapping', v);
    return undefined;
  }

  list(v: unknown, path: string, hint?: string): unknown[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v)) return v;
    this.wrong(path, 'a list', v, hint);
    return undefined;
  }

  string(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') {
      this.wrong(path, 'a string', v, `quote the value: "${String(v)}"`);
      return String(v);
    }
    this.wrong(path, 'a string', v);
    return undefined;
  }

  backend(v: unknown, path: string): BackendView | undefined {
    const b = this.record(v, path);
    if (!b) return undefined;
    const view: BackendView = { path, legacyFields: Object.keys(b).filter((k) => LEGACY_BACKEND.includes(k)) };
    // In v1 the legacy names get their own finding (LegacyBackendFields), not "unknown field".
    this.fields(b, path, this.legacy ? BACKEND_V1BETA1 : BACKEND_V1, this.legacy ? [] : LEGACY_BACKEND);
    const sn = b.serviceName;
    if (typeof sn === 'string') view.serviceName = sn;
    const sp = b.servicePort;
    if (typeof sp === 'string' || typeof sp === 'number') view.servicePort = sp;
    const svc = this.record(b.service, `${path}.service`);
    if (svc) {
      this.fields(svc, `${path}.service`, SERVICE_FIELDS);
      if (typeof svc.name === 'string') view.serviceName = svc.name;
      const port = this.record(svc.port, `${path}.service.port`);
      if (port) {
        this.fields(port, `${path}.service.port`, PORT_FIELDS);
        if (typeof port.number === 'number') view.servicePort = port.number;
        else if (typeof port.name === 'string') view.servicePort = port.name;
      }
    }
    const res = this.record(b.resource, `${path}.resource`);
    if (res) this.fields(res, `${path}.resource`, RESOURCE_FIELDS);
    this.backends.push(view);
    return view;
  }
}

/** Builds the view. Call only for objects where isIngressObject is true; anything else gives an empty view. */
export function viewIngress(obj: unknown): IngressView {
  const o = isRecord(obj) ? obj : {};
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
  const removedApi = (REMOVED_INGRESS_VERSIONS as readonly string[]).includes(apiVersion);
  const b = new Builder(removedApi);
  b.fields(o, '', TOP_FIELDS);

  const meta = b.record(o.metadata, 'metadata') ?? {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : undefined;
  const labels: Record<string, string> = {};
  const rawLabels = b.record(meta.labels, 'metadata.labels');
  if (rawLabels) {
    for (const [k, v] of Object.entries(rawLabels)) {
      if (typeof v === 'string') labels[k] = v;
      else if (v !== null) b.wrong(`metadata.labels["${k}"]`, 'a string', v, NOT_A_STRING_HINT);
    }
  }
  const annotations = meta.annotations;
  if (annotations !== undefined && annotations !== null && !isRecord(annotations)) b.wrong('metadata.annotations', 'a mapping', annotations);
  if (isRecord(annotations)) {
    // certkeeper's own annotations get InvalidAnnotationValue from readAnnotations instead.
    for (const [k, v] of Object.entries(annotations)) {
      if (typeof v === 'string' || v === null || OWN_ANNOTATIONS.has(k)) continue;
      b.wrong(`metadata.annotations["${k}"]`, 'a string', v, NOT_A_STRING_HINT);
    }
  }

  const view: IngressView = {
    apiVersion,
    removedApi,
    name,
    annotations,
    labels,
    tlsPresent: false,
    tls: [],
    rulesPresent: false,
    rules: [],
    backends: b.backends,
    issues: b.issues,
  };
  if (namespace !== undefined) view.namespace = namespace;

  const spec = b.record(o.spec, 'spec');
  if (!spec) return view;
  // spec.backend in a v1 object is the v1beta1 name of defaultBackend: a LegacyBackendFields case.
  b.fields(spec, 'spec', removedApi ? SPEC_V1BETA1 : SPEC_V1, removedApi ? [] : ['backend']);
  if (!removedApi && spec.backend !== undefined) view.legacySpecBackend = true;

  const cls = b.string(spec.ingressClassName, 'spec.ingressClassName');
  if (cls !== undefined && cls.trim() !== '') view.ingressClassName = cls.trim();

  const db = spec.defaultBackend ?? spec.backend;
  const dbPath = spec.defaultBackend !== undefined ? 'spec.defaultBackend' : 'spec.backend';
  const dbView = b.backend(db, dbPath);
  if (dbView) view.defaultBackend = dbView;

  view.tlsPresent = spec.tls !== undefined && spec.tls !== null;
  view.tls = parseTls(b, spec.tls, 'spec.tls');
  view.rulesPresent = spec.rules !== undefined && spec.rules !== null;
  view.rules = parseRules(b, spec.rules, 'spec.rules');
  // A misspelt container ("rouls") is dropped by Kubernetes, so it routes nothing; still read it
  // as what it was meant to be, so the mistakes inside it are reported in the same run.
  const known = removedApi ? SPEC_V1BETA1 : SPEC_V1;
  for (const field of Object.keys(spec)) {
    if ((known as readonly string[]).includes(field) || field === 'backend') continue;
    const meant = closestName(field, known);
    if (meant === 'rules') parseRules(b, spec[field], `spec.${field}`);
    else if (meant === 'tls') parseTls(b, spec[field], `spec.${field}`);
    else if (meant === 'defaultBackend' || meant === 'backend') b.backend(spec[field], `spec.${field}`);
  }
  return view;
}

function parseTls(b: Builder, value: unknown, base: string): TlsEntryView[] {
  const out: TlsEntryView[] = [];
  (b.list(value, base) ?? []).forEach((raw, index) => {
    const path = `${base}[${index}]`;
    const entry: TlsEntryView = { index };
    const e = b.record(raw, path);
    if (e) {
      b.fields(e, path, TLS_FIELDS);
      const sn = b.string(e.secretName, `${path}.secretName`);
      if (sn !== undefined && sn.trim() !== '') entry.secretName = sn.trim();
      const hosts = b.list(e.hosts, `${path}.hosts`, typeof e.hosts === 'string' ? `write it as a list: hosts: ["${e.hosts}"]` : undefined);
      if (hosts) {
        const list: string[] = [];
        hosts.forEach((h, i) => {
          // An empty list item ("- ") is null in YAML: keep it as "" so it is reported as an empty name.
          if (h === null || h === undefined) list.push('');
          else {
            const s = b.string(h, `${path}.hosts[${i}]`);
            if (s !== undefined) list.push(s);
          }
        });
        entry.hosts = list;
      }
    }
    out.push(entry);
  });
  return out;
}

function parseRules(b: Builder, value: unknown, base: string): RuleView[] {
  const out: RuleView[] = [];
  (b.list(value, base) ?? []).forEach((raw, index) => {
    const path = `${base}[${index}]`;
    const rule: RuleView = { index, hasHttp: false, paths: [] };
    const r = b.record(raw, path);
    if (r) {
      b.fields(r, path, RULE_FIELDS);
      const host = b.string(r.host, `${path}.host`);
      if (host !== undefined && host.trim() !== '') rule.host = host.trim();
      const http = b.record(r.http, `${path}.http`);
      if (http) {
        rule.hasHttp = true;
        b.fields(http, `${path}.http`, HTTP_FIELDS);
        (b.list(http.paths, `${path}.http.paths`) ?? []).forEach((p, pi) => {
          const pp = `${path}.http.paths[${pi}]`;
          const pr = b.record(p, pp);
          if (!pr) return;
          b.fields(pr, pp, PATH_FIELDS);
          const pv: PathView = {};
          if (typeof pr.path === 'string') pv.path = pr.path;
          if (typeof pr.pathType === 'string') pv.pathType = pr.pathType;
          const bv = b.backend(pr.backend, `${pp}.backend`);
          if (bv) pv.backend = bv;
          rule.paths.push(pv);
        });
      }
    }
    out.push(rule);
  });
  return out;
}

/** The class the Ingress asks for: spec.ingressClassName, else the legacy annotation. */
export function ingressClassOf(view: IngressView, legacyAnnotationClass: string | undefined): string | undefined {
  return view.ingressClassName ?? legacyAnnotationClass;
}
