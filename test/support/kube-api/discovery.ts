// Discovery documents: the legacy per-group-version ones (/api, /apis, /apis/<g>/<v>) and the
// aggregated apidiscovery.k8s.io/v2 ones that kubectl ≥ 1.30 asks for first, which save it one
// request per group version.
import { type ResourceTable, type ResourceType } from './resources.js';

export const KUBE_VERSION = { major: '1', minor: '34', gitVersion: 'v1.34.0' } as const;

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];
const verbsOf = (t: ResourceType): string[] => (t.review ? ['create'] : VERBS);

export const AGGREGATED_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** True when the client accepts the aggregated v2 document (kubectl sends it first in Accept). */
export const wantsAggregated = (accept: string | undefined): boolean =>
  !!accept && /as=APIGroupDiscoveryList/.test(accept) && /v=v2(?![a-z0-9])/.test(accept);

export function versionInfo(): unknown {
  return {
    ...KUBE_VERSION,
    emulationMajor: KUBE_VERSION.major,
    emulationMinor: KUBE_VERSION.minor,
    minCompatibilityMajor: KUBE_VERSION.major,
    minCompatibilityMinor: String(Number(KUBE_VERSION.minor) - 1),
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-08-27T00:00:00Z',
    goVersion: 'go1.24.6',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function apiVersions(serverAddress: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(name: string, versions: string[]): Record<string, unknown> {
  const gvs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: gvs, preferredVersion: gvs[0] };
}

export function apiGroupList(table: ResourceTable): unknown {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...table.groups()].map(([name, versions]) => apiGroup(name, versions)),
  };
}

export function apiGroupDoc(table: ResourceTable, group: string): unknown | undefined {
  const versions = table.groups().get(group);
  return versions ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, versions) } : undefined;
}

export function apiResourceList(types: ResourceType[], gv: string): unknown {
  const resources: unknown[] = [];
  for (const t of types) {
    resources.push({
      name: t.resource,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: verbsOf(t),
      ...(t.shortNames ? { shortNames: t.shortNames } : {}),
      ...(t.categories ? { categories: t.categories } : {}),
    });
    if (t.status) {
      resources.push({ name: `${t.resource}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: STATUS_VERBS });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources };
}

function aggregatedResource(t: ResourceType): unknown {
  const responseKind = { group: t.group, version: t.version, kind: t.kind };
  return {
    resource: t.resource,
    responseKind,
    scope: t.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: t.singular,
    verbs: verbsOf(t),
    ...(t.shortNames ? { shortNames: t.shortNames } : {}),
    ...(t.categories ? { categories: t.categories } : {}),
    ...(t.status ? { subresources: [{ subresource: 'status', responseKind, verbs: STATUS_VERBS }] } : {}),
  };
}

/** APIGroupDiscoveryList for /api (core only) or /apis (every named group). */
export function aggregatedDiscovery(table: ResourceTable, core: boolean): unknown {
  const groups = core ? new Map([['', ['v1']]]) : table.groups();
  const items = [...groups].map(([name, versions]) => ({
    metadata: { name, creationTimestamp: null },
    versions: versions.map((version) => ({
      version,
      resources: (table.groupVersion(name, version) ?? []).map(aggregatedResource),
      freshness: 'Current',
    })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}
