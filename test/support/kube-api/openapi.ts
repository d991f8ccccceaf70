// A minimal OpenAPI v3 surface: just enough for kubectl's decisions, no schemas.
//
// kubectl reads /openapi/v3 for two things:
// 1. `apply --validate=strict` (the default) asks whether the PATCH operation of the kind lists
//    the `fieldValidation` query parameter; if so it leaves validation to the server and never
//    needs a schema. Without it kubectl falls back to client-side validation against
//    /openapi/v2, which it only accepts as protobuf.
// 2. client-side `apply` computes strategic merge patches from OpenAPI v3 only when the PATCH
//    operation declares an `application/strategic-merge-patch+json` request body. We declare
//    none, so kubectl uses the merge keys compiled into it for built-in kinds (exact) and a
//    JSON merge patch for custom resources, as it does against real servers for CRDs.
//
// /openapi/v2 is still fetched, always as protobuf, in two cases: a kind whose group version is
// unknown (kubectl validates it client-side, finds no schema and skips, so the user then sees
// the real "no matches for kind" error), and apply's patch computation, which likewise skips
// kinds without a schema. An empty Document is therefore exactly right.
import { createHash } from 'node:crypto';
import { groupVersion, type ResourceTable, type ResourceType } from './resources.js';

const gvPath = (group: string, version: string): string => (group ? `apis/${group}/${version}` : `api/${version}`);

function paths(types: ResourceType[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const t of types) {
    const base = t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`;
    const item = t.namespaced ? `${base}/namespaces/{namespace}/${t.resource}/{name}` : `${base}/${t.resource}/{name}`;
    const gvk = { group: t.group, version: t.version, kind: t.kind };
    const query = (name: string) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } });
    out[item] = {
      get: { operationId: `read${t.kind}`, 'x-kubernetes-action': 'get', 'x-kubernetes-group-version-kind': gvk, responses: { '200': { description: 'OK' } } },
      put: {
        operationId: `replace${t.kind}`,
        'x-kubernetes-action': 'put',
        'x-kubernetes-group-version-kind': gvk,
        parameters: [query('dryRun'), query('fieldManager'), query('fieldValidation')],
        responses: { '200': { description: 'OK' } },
      },
      patch: {
        operationId: `patch${t.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': gvk,
        parameters: [query('dryRun'), query('fieldManager'), query('fieldValidation'), { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } }],
        responses: { '200': { description: 'OK' } },
      },
      delete: { operationId: `delete${t.kind}`, 'x-kubernetes-action': 'delete', 'x-kubernetes-group-version-kind': gvk, responses: { '200': { description: 'OK' } } },
    };
  }
  return out;
}

export function openApiV3Document(table: ResourceTable, path: string): unknown | undefined {
  const m = /^(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
  if (!m) return undefined;
  const [group, version] = m[1] ? ['', m[1]] : [m[2] ?? '', m[3] ?? ''];
  const types = table.groupVersion(group, version);
  if (!types) return undefined;
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.34.0' },
    paths: paths(types),
    components: { schemas: {} },
  };
}

/** /openapi/v3: one entry per group version, with a content hash clients cache by. */
export function openApiV3Index(table: ResourceTable): unknown {
  const entries: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const t of table.all) {
    const gv = groupVersion(t);
    if (seen.has(gv)) continue;
    seen.add(gv);
    const p = gvPath(t.group, t.version);
    const hash = createHash('sha512').update(JSON.stringify(openApiV3Document(table, p))).digest('hex').slice(0, 128).toUpperCase();
    entries[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
  }
  return { paths: entries };
}

/** Go's mime parser rejects the `@v1.0` form clients ask for, so servers answer with `.v1.0`. */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

/** A protobuf length-delimited field (wire type 2). Lengths here stay below 128 bytes. */
const pbField = (field: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([(field << 3) | 2, payload.length]), payload]);

/** gnostic openapi_v2.Document {swagger: "2.0", info: {title, version}} with no paths or definitions. */
export function openApiV2Protobuf(): Buffer {
  const info = Buffer.concat([pbField(1, Buffer.from('Kubernetes')), pbField(2, Buffer.from('v1.34.0'))]);
  return Buffer.concat([pbField(1, Buffer.from('2.0')), pbField(2, info)]);
}

export const openApiV2Json = (): unknown => ({ swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.34.0' }, paths: {}, definitions: {} });
