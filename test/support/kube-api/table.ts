// Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for with
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. The columns copy the apiserver's
// printers for the kinds certkeeper users look at; everything else gets the default
// Name / Created At table the apiserver uses for types without a printer.
import { isMap } from './patch.js';
import type { KubeObject, ResourceType } from './resources.js';

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date' | 'number' | 'boolean';
  format?: string;
  priority?: number;
  cell: (o: KubeObject, now: number) => unknown;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const obj = (v: unknown): Record<string, unknown> => (isMap(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration, which kubectl's AGE column uses. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 60 * 2) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 60 * 3) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  const y = Math.floor(h / 24 / 365);
  if (y < 8) return `${y}y${Math.floor(h / 24) % 365}d`;
  return `${y}y`;
}

const NAME: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata.name ?? '' };
const AGE: Column = {
  name: 'Age',
  type: 'string',
  cell: (o, now) => (o.metadata.creationTimestamp ? humanDuration(now - Date.parse(o.metadata.creationTimestamp)) : '<unknown>'),
};
const count = (field: string): Column => ({ name: 'Data', type: 'integer', cell: (o) => Object.keys(obj(o[field])).length + Object.keys(obj(o['binaryData'])).length });

function ingressHosts(o: KubeObject): string {
  const hosts = arr(obj(o['spec'])['rules']).map((r) => str(obj(r)['host']) || '*');
  if (hosts.length === 0) return '*';
  // The printer shows three hosts and summarises the rest.
  return hosts.length > 3 ? `${hosts.slice(0, 3).join(',')} + ${hosts.length - 3} more...` : hosts.join(',');
}

function loadBalancerAddress(o: KubeObject): string {
  const ingress = arr(obj(obj(o['status'])['loadBalancer'])['ingress']);
  return ingress.map((i) => str(obj(i)['ip']) || str(obj(i)['hostname'])).filter(Boolean).join(',');
}

const COLUMNS: Record<string, Column[]> = {
  '/Secret': [NAME, { name: 'Type', type: 'string', cell: (o) => str(o['type']) }, count('data'), AGE],
  '/ConfigMap': [NAME, count('data'), AGE],
  '/Namespace': [NAME, { name: 'Status', type: 'string', cell: (o) => str(obj(o['status'])['phase']) }, AGE],
  '/ServiceAccount': [NAME, { name: 'Secrets', type: 'integer', cell: (o) => arr(o['secrets']).length }, AGE],
  '/Service': [
    NAME,
    { name: 'Type', type: 'string', cell: (o) => str(obj(o['spec'])['type']) || 'ClusterIP' },
    { name: 'Cluster-IP', type: 'string', cell: (o) => str(obj(o['spec'])['clusterIP']) || '<none>' },
    { name: 'External-IP', type: 'string', cell: (o) => loadBalancerAddress(o) || '<none>' },
    {
      name: 'Port(s)',
      type: 'string',
      cell: (o) => arr(obj(o['spec'])['ports']).map((p) => `${String(obj(p)['port'])}/${str(obj(p)['protocol']) || 'TCP'}`).join(',') || '<none>',
    },
    AGE,
  ],
  'networking.k8s.io/Ingress': [
    NAME,
    { name: 'Class', type: 'string', cell: (o) => str(obj(o['spec'])['ingressClassName']) || '<none>' },
    { name: 'Hosts', type: 'string', cell: ingressHosts },
    { name: 'Address', type: 'string', cell: loadBalancerAddress },
    { name: 'Ports', type: 'string', cell: (o) => (arr(obj(o['spec'])['tls']).length ? '80, 443' : '80') },
    AGE,
  ],
  'networking.k8s.io/IngressClass': [
    NAME,
    { name: 'Controller', type: 'string', cell: (o) => str(obj(o['spec'])['controller']) },
    { name: 'Parameters', type: 'string', cell: () => '<none>' },
    AGE,
  ],
  'apps/Deployment': [
    NAME,
    { name: 'Ready', type: 'string', cell: (o) => `${Number(obj(o['status'])['readyReplicas'] ?? 0)}/${Number(obj(o['spec'])['replicas'] ?? 1)}` },
    { name: 'Up-to-date', type: 'integer', cell: (o) => Number(obj(o['status'])['updatedReplicas'] ?? 0) },
    { name: 'Available', type: 'integer', cell: (o) => Number(obj(o['status'])['availableReplicas'] ?? 0) },
    AGE,
  ],
  'coordination.k8s.io/Lease': [NAME, { name: 'Holder', type: 'string', cell: (o) => str(obj(o['spec'])['holderIdentity']) }, AGE],
};

// Custom resources print their CRD's additionalPrinterColumns: JSONPath cells (the first match,
// arrays as JSON, nothing when absent) and `date` columns converted to an age on the server.
const CR_AGE: Column = { ...AGE, type: 'date' };
const conditionStatus = (type: string): Column => ({
  name: type,
  type: 'string',
  cell: (o) => {
    const c = arr(obj(o['status'])['conditions']).find((x) => obj(x)['type'] === type);
    return c === undefined ? null : (obj(c)['status'] ?? null);
  },
});
const GATEWAY_COLUMNS: Record<string, Column[]> = {
  'gateway.networking.k8s.io/GatewayClass': [
    NAME,
    { name: 'Controller', type: 'string', cell: (o) => obj(o['spec'])['controllerName'] ?? null },
    conditionStatus('Accepted'),
    CR_AGE,
    { name: 'Description', type: 'string', priority: 1, cell: (o) => obj(o['spec'])['description'] ?? null },
  ],
  'gateway.networking.k8s.io/Gateway': [
    NAME,
    { name: 'Class', type: 'string', cell: (o) => obj(o['spec'])['gatewayClassName'] ?? null },
    { name: 'Address', type: 'string', cell: (o) => obj(arr(obj(o['status'])['addresses'])[0])['value'] ?? null },
    conditionStatus('Programmed'),
    CR_AGE,
  ],
  'gateway.networking.k8s.io/HTTPRoute': [
    NAME,
    { name: 'Hostnames', type: 'string', cell: (o) => (Array.isArray(obj(o['spec'])['hostnames']) ? JSON.stringify(obj(o['spec'])['hostnames']) : null) },
    CR_AGE,
  ],
  'gateway.networking.k8s.io/ListenerSet': [NAME, conditionStatus('Accepted'), conditionStatus('Programmed'), CR_AGE],
  'gateway.networking.k8s.io/ReferenceGrant': [NAME, CR_AGE],
};

const DEFAULT_COLUMNS: Column[] = [
  NAME,
  { name: 'Created At', type: 'date', cell: (o) => o.metadata.creationTimestamp ?? '' },
];

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** Builds a Table for a list (or one object); `metadata` carries resourceVersion/continue. */
export function toTable(t: ResourceType, items: KubeObject[], metadata: Record<string, unknown>, include: IncludeObject, now = Date.now()): unknown {
  const columns = COLUMNS[`${t.group}/${t.kind}`] ?? GATEWAY_COLUMNS[`${t.group}/${t.kind}`] ?? DEFAULT_COLUMNS;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: '', priority: c.priority ?? 0 })),
    rows: items.map((o) => ({
      cells: columns.map((c) => c.cell(o, now)),
      ...(include === 'None'
        ? {}
        : { object: include === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } }),
    })),
  };
}
