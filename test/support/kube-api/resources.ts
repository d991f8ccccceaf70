// The one table of resources the fake API server serves. Discovery, routing, storage and
// validation all read it, so adding a resource is one line here.

export type JsonObject = Record<string, unknown>;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: JsonObject[];
  managedFields?: JsonObject[];
  [key: string]: unknown;
}

/** Any Kubernetes object as plain JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  /** Plural, lower case, as in URLs: `ingresses`. */
  resource: string;
  kind: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** Has a `/status` subresource: the main endpoint ignores status changes and vice versa. */
  status?: boolean;
  /** metadata.generation is set on create and bumped when anything but metadata/status changes. */
  generation?: boolean;
  /** PUT of a missing object creates it (the registry's AllowCreateOnUpdate). */
  createOnUpdate?: boolean;
  /** DELETE answers with the deleted object instead of a Status (custom resources do this). */
  returnsDeletedObject?: boolean;
  /**
   * Served from a CustomResourceDefinition: create drops the status, PUT needs a
   * resourceVersion (no unconditional updates), schema defaults and pruning apply.
   */
  customResource?: boolean;
  /**
   * The version objects are stored as when several versions of one resource share storage
   * (Gateway v1 and v1beta1): every version sees the same objects, each with its own apiVersion.
   */
  storageVersion?: string;
  /** Rule metadata.name must follow. */
  nameRule?: 'subdomain' | 'label' | 'dns1035';
  /** Extra fields accepted in fieldSelector besides metadata.name and metadata.namespace. */
  selectableFields?: string[];
  /**
   * Review resources (SelfSubjectAccessReview, SelfSubjectReview) are create-only and never
   * stored: the server computes the answer.
   */
  review?: boolean;
}

const core = (r: Omit<ResourceType, 'group' | 'version'>): ResourceType => ({ group: '', version: 'v1', ...r });
const gv = (group: string, version: string) => (r: Omit<ResourceType, 'group' | 'version'>): ResourceType => ({
  group,
  version,
  ...r,
});
const networking = gv('networking.k8s.io', 'v1');
const apps = gv('apps', 'v1');
const batch = gv('batch', 'v1');
const rbac = gv('rbac.authorization.k8s.io', 'v1');
const monitoring = gv('monitoring.coreos.com', 'v1');

const EVENT_FIELDS = [
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'source',
  'type',
];

export const DEFAULT_RESOURCES: readonly ResourceType[] = [
  core({ resource: 'namespaces', kind: 'Namespace', singular: 'namespace', namespaced: false, shortNames: ['ns'], status: true, nameRule: 'label', selectableFields: ['status.phase'] }),
  core({ resource: 'secrets', kind: 'Secret', singular: 'secret', namespaced: true, selectableFields: ['type'] }),
  core({ resource: 'configmaps', kind: 'ConfigMap', singular: 'configmap', namespaced: true, shortNames: ['cm'] }),
  core({ resource: 'services', kind: 'Service', singular: 'service', namespaced: true, shortNames: ['svc'], categories: ['all'], status: true, nameRule: 'dns1035' }),
  core({ resource: 'serviceaccounts', kind: 'ServiceAccount', singular: 'serviceaccount', namespaced: true, shortNames: ['sa'] }),
  core({ resource: 'events', kind: 'Event', singular: 'event', namespaced: true, shortNames: ['ev'], createOnUpdate: true, selectableFields: EVENT_FIELDS }),
  core({ resource: 'pods', kind: 'Pod', singular: 'pod', namespaced: true, shortNames: ['po'], categories: ['all'], status: true, selectableFields: ['spec.nodeName', 'status.phase'] }),
  core({ resource: 'endpoints', kind: 'Endpoints', singular: 'endpoints', namespaced: true, shortNames: ['ep'], createOnUpdate: true }),
  core({ resource: 'nodes', kind: 'Node', singular: 'node', namespaced: false, shortNames: ['no'], status: true }),
  networking({ resource: 'ingresses', kind: 'Ingress', singular: 'ingress', namespaced: true, shortNames: ['ing'], status: true, generation: true }),
  networking({ resource: 'ingressclasses', kind: 'IngressClass', singular: 'ingressclass', namespaced: false, generation: true }),
  networking({ resource: 'networkpolicies', kind: 'NetworkPolicy', singular: 'networkpolicy', namespaced: true, shortNames: ['netpol'], generation: true }),
  gv('coordination.k8s.io', 'v1')({ resource: 'leases', kind: 'Lease', singular: 'lease', namespaced: true, createOnUpdate: true }),
  gv('events.k8s.io', 'v1')({ resource: 'events', kind: 'Event', singular: 'event', namespaced: true, shortNames: ['ev'], createOnUpdate: true }),
  apps({ resource: 'deployments', kind: 'Deployment', singular: 'deployment', namespaced: true, shortNames: ['deploy'], categories: ['all'], status: true, generation: true }),
  apps({ resource: 'replicasets', kind: 'ReplicaSet', singular: 'replicaset', namespaced: true, shortNames: ['rs'], categories: ['all'], status: true, generation: true }),
  apps({ resource: 'statefulsets', kind: 'StatefulSet', singular: 'statefulset', namespaced: true, shortNames: ['sts'], categories: ['all'], status: true, generation: true }),
  apps({ resource: 'daemonsets', kind: 'DaemonSet', singular: 'daemonset', namespaced: true, shortNames: ['ds'], categories: ['all'], status: true, generation: true }),
  batch({ resource: 'cronjobs', kind: 'CronJob', singular: 'cronjob', namespaced: true, shortNames: ['cj'], categories: ['all'], status: true, generation: true }),
  batch({ resource: 'jobs', kind: 'Job', singular: 'job', namespaced: true, categories: ['all'], status: true, generation: true }),
  rbac({ resource: 'roles', kind: 'Role', singular: 'role', namespaced: true }),
  rbac({ resource: 'rolebindings', kind: 'RoleBinding', singular: 'rolebinding', namespaced: true }),
  rbac({ resource: 'clusterroles', kind: 'ClusterRole', singular: 'clusterrole', namespaced: false }),
  rbac({ resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', singular: 'clusterrolebinding', namespaced: false }),
  gv('discovery.k8s.io', 'v1')({ resource: 'endpointslices', kind: 'EndpointSlice', singular: 'endpointslice', namespaced: true }),
  gv('authorization.k8s.io', 'v1')({ resource: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', singular: 'selfsubjectaccessreview', namespaced: false, review: true }),
  gv('authentication.k8s.io', 'v1')({ resource: 'selfsubjectreviews', kind: 'SelfSubjectReview', singular: 'selfsubjectreview', namespaced: false, review: true }),
  gv('policy', 'v1')({ resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', singular: 'poddisruptionbudget', namespaced: true, shortNames: ['pdb'], status: true, generation: true }),
  // Served so kubectl finds the CRD PATCH operation in OpenAPI v3: that is how it decides an
  // unknown kind may still be a custom resource and defers to the server ("no matches for kind").
  // Creating a CRD stores it but does not serve a new resource.
  gv('apiextensions.k8s.io', 'v1')({ resource: 'customresourcedefinitions', kind: 'CustomResourceDefinition', singular: 'customresourcedefinition', namespaced: false, shortNames: ['crd', 'crds'], status: true, generation: true }),
  monitoring({ resource: 'servicemonitors', kind: 'ServiceMonitor', singular: 'servicemonitor', namespaced: true, shortNames: ['smon'], generation: true, returnsDeletedObject: true }),
  monitoring({ resource: 'prometheusrules', kind: 'PrometheusRule', singular: 'prometheusrule', namespaced: true, shortNames: ['promrule'], generation: true, returnsDeletedObject: true }),
];

export const groupVersion = (t: Pick<ResourceType, 'group' | 'version'>): string =>
  t.group ? `${t.group}/${t.version}` : t.version;

/** `secrets`, `ingresses.networking.k8s.io`: how the apiserver names a resource in messages. */
export const qualifiedResource = (t: ResourceType): string => (t.group ? `${t.resource}.${t.group}` : t.resource);

export const typeKey = (t: Pick<ResourceType, 'group' | 'version' | 'resource'>): string =>
  `${t.group}/${t.version}/${t.resource}`;

/** The storage a resource lives in: one per group/resource/storage version, shared by its served versions. */
export const storageKey = (t: Pick<ResourceType, 'group' | 'version' | 'resource' | 'storageVersion'>): string =>
  `${t.group}/${t.storageVersion ?? t.version}/${t.resource}`;

/**
 * How tests name a resource in direct store calls: a plural (`secrets`), a Kind (`Secret`),
 * `ingresses.networking.k8s.io`, `networking.k8s.io/v1/ingresses`, `v1/secrets`, or an object
 * `{group, version, resource}`. Ambiguous plurals (`events`) resolve to the core group.
 */
export type ResourceRef = string | { group?: string; version?: string; resource: string };

export class ResourceTable {
  readonly all: readonly ResourceType[];
  private readonly byKey = new Map<string, ResourceType>();
  private readonly byGroupVersion = new Map<string, ResourceType[]>();

  constructor(types: readonly ResourceType[]) {
    this.all = types;
    for (const t of types) {
      this.byKey.set(typeKey(t), t);
      const gvKey = groupVersion(t);
      const list = this.byGroupVersion.get(gvKey) ?? [];
      list.push(t);
      this.byGroupVersion.set(gvKey, list);
    }
  }

  lookup(group: string, version: string, resource: string): ResourceType | undefined {
    return this.byKey.get(`${group}/${version}/${resource}`);
  }

  /** Resources of one group/version, or undefined when the server does not serve it. */
  groupVersion(group: string, version: string): ResourceType[] | undefined {
    return this.byGroupVersion.get(group ? `${group}/${version}` : version);
  }

  /** Groups in the order discovery lists them (core excluded), each with its versions. */
  groups(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const t of this.all) {
      if (!t.group) continue;
      const versions = groups.get(t.group) ?? [];
      if (!versions.includes(t.version)) versions.push(t.version);
      groups.set(t.group, versions);
    }
    return groups;
  }

  /** Finds the resource of an object from its apiVersion and kind. */
  forObject(obj: { apiVersion?: unknown; kind?: unknown }): ResourceType | undefined {
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') return undefined;
    const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/', 2) : ['', obj.apiVersion];
    return this.all.find((t) => t.group === group && t.version === version && t.kind === obj.kind);
  }

  resolve(ref: ResourceRef): ResourceType {
    const found = this.tryResolve(ref);
    if (!found) throw new Error(`kube-api: unknown resource ${JSON.stringify(ref)}`);
    return found;
  }

  private tryResolve(ref: ResourceRef): ResourceType | undefined {
    if (typeof ref !== 'string') {
      return this.all.find(
        (t) =>
          t.resource === ref.resource &&
          (ref.group === undefined || t.group === ref.group) &&
          (ref.version === undefined || t.version === ref.version),
      );
    }
    if (ref.includes('/')) {
      const parts = ref.split('/');
      const resource = parts.pop() ?? '';
      const version = parts.pop() ?? '';
      return this.lookup(parts.join('/'), version, resource);
    }
    const dot = ref.indexOf('.');
    if (dot > 0) {
      const resource = ref.slice(0, dot);
      const group = ref.slice(dot + 1);
      return this.all.find((t) => t.resource === resource && t.group === group);
    }
    // Core first so `events` means v1 Event, as kubectl resolves it.
    const ordered = [...this.all].sort((a, b) => Number(a.group !== '') - Number(b.group !== ''));
    return (
      ordered.find((t) => t.resource === ref) ??
      ordered.find((t) => t.kind === ref) ??
      ordered.find((t) => t.singular === ref || t.shortNames?.includes(ref))
    );
  }
}
