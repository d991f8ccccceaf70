// The four PATCH flavours the apiserver accepts, applied to plain JSON.
//
// - merge patch: RFC 7386, exact.
// - strategic merge patch: the apimachinery algorithm for the fields kubectl actually touches.
//   Real servers take list merge keys from Go struct tags; we keep a small table of the
//   well-known ones (containers by name, container ports by containerPort, …) and replace every
//   other list, which is what the real server does for lists without a patch strategy
//   (Ingress rules and tls are such lists). Directives ($patch, $setElementOrder/…,
//   $deleteFromPrimitiveList/…, $retainKeys) are honoured and never stored.
// - JSON patch: RFC 6902, with the apiserver's status codes (400 for a malformed patch,
//   422 when an operation cannot be applied).
// - apply patch (server-side apply): approximated as a strategic merge of the applied
//   configuration, after removing what the same field manager applied last time and no longer
//   applies. managedFields are not written.
import { ApiError, badRequest } from './errors.js';

type Json = unknown;
type JsonMap = Record<string, unknown>;

export const isMap = (v: unknown): v is JsonMap => v !== null && typeof v === 'object' && !Array.isArray(v);

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** RFC 7386 JSON Merge Patch. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isMap(patch)) return clone(patch);
  const result: JsonMap = isMap(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const PRIMITIVE = Symbol('primitive merge list');
type MergeKey = string | typeof PRIMITIVE | undefined;

/**
 * patchMergeKey of the list at `path` (field names from the root, list indices omitted), from
 * the Go types of k8s.io/api. undefined means the list has no strategy and is replaced.
 */
function mergeKeyFor(path: readonly string[]): MergeKey {
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  switch (last) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'imagePullSecrets':
    case 'resourceClaims':
    case 'schedulingGates':
    case 'volumes':
    case 'env':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'hostAliases':
      return 'ip';
    case 'topologySpreadConstraints':
      return 'topologyKey';
    case 'ownerReferences':
      return 'uid';
    case 'conditions':
      return 'type';
    case 'finalizers':
      return parent === 'metadata' ? PRIMITIVE : undefined;
    case 'secrets':
      return path.length === 1 ? 'name' : undefined; // ServiceAccount.secrets
    case 'ports':
      if (parent === 'containers' || parent === 'initContainers' || parent === 'ephemeralContainers') return 'containerPort';
      return path.length === 2 && parent === 'spec' ? 'port' : undefined; // Service.spec.ports
    default:
      return undefined;
  }
}

const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

/** Strategic merge patch (application/strategic-merge-patch+json). */
export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isMap(patch)) throw badRequest('strategic merge patch must be a JSON object');
  return smpMap(isMap(target) ? target : {}, patch, []);
}

function smpMap(target: JsonMap, patch: JsonMap, path: string[]): JsonMap | undefined {
  const directive = patch['$patch'];
  if (directive === 'delete') return undefined;
  if (directive === 'replace') return stripDirectives(patch) as JsonMap;
  if (directive !== undefined && directive !== 'merge') throw badRequest(`Unknown patch type: ${String(directive)} in map: ${JSON.stringify(patch)}`);

  const result: JsonMap = { ...target };
  const orders: [string, unknown[]][] = [];
  let retainKeys: unknown[] | undefined;
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch') continue;
    if (key === '$retainKeys') {
      if (Array.isArray(value)) retainKeys = value;
      continue;
    }
    if (key.startsWith(SET_ORDER)) {
      if (Array.isArray(value)) orders.push([key.slice(SET_ORDER.length), value]);
      continue;
    }
    if (key.startsWith(DELETE_PRIMITIVE)) {
      const field = key.slice(DELETE_PRIMITIVE.length);
      const current = result[field];
      if (Array.isArray(current) && Array.isArray(value)) {
        const drop = new Set(value.map((v) => JSON.stringify(v)));
        result[field] = current.filter((v) => !drop.has(JSON.stringify(v)));
      }
      continue;
    }
    if (value === null) {
      delete result[key];
      continue;
    }
    const childPath = [...path, key];
    const current = result[key];
    if (isMap(value)) {
      const merged = smpMap(isMap(current) ? current : {}, value, childPath);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(value)) {
      result[key] = smpList(Array.isArray(current) ? current : [], value, childPath);
    } else {
      result[key] = value;
    }
  }
  for (const [field, order] of orders) {
    const list = result[field];
    if (Array.isArray(list)) result[field] = applyOrder(list, order, mergeKeyFor([...path, field]));
  }
  if (retainKeys) {
    const keep = new Set(retainKeys.map(String));
    for (const key of Object.keys(result)) if (!keep.has(key)) delete result[key];
  }
  return result;
}

function smpList(target: unknown[], patch: unknown[], path: string[]): unknown[] {
  // {"$patch": "replace"} anywhere in the list replaces the whole list with the rest of it.
  if (patch.some((e) => isMap(e) && e['$patch'] === 'replace')) {
    return patch.filter((e) => !(isMap(e) && e['$patch'] === 'replace')).map(stripDirectives);
  }
  const key = mergeKeyFor(path);
  if (key === undefined) return patch.map(stripDirectives);
  if (key === PRIMITIVE) {
    const seen = new Set(target.map((v) => JSON.stringify(v)));
    return [...target, ...patch.filter((v) => !seen.has(JSON.stringify(v)))];
  }
  const result = [...target];
  for (const item of patch) {
    if (!isMap(item)) {
      result.push(item);
      continue;
    }
    const id = item[key];
    const index = result.findIndex((e) => isMap(e) && e[key] === id);
    if (item['$patch'] === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const existing = result[index];
      result[index] = smpMap(isMap(existing) ? existing : {}, item, path) ?? {};
    } else {
      result.push(smpMap({}, item, path) ?? {});
    }
  }
  return result;
}

/** $setElementOrder: listed elements first, in the given order; the rest keep their order. */
function applyOrder(list: unknown[], order: unknown[], key: MergeKey): unknown[] {
  const idOf = (e: unknown): string =>
    JSON.stringify(typeof key === 'string' && isMap(e) ? e[key] : e);
  const wanted = order.map(idOf);
  const rank = new Map(wanted.map((id, i) => [id, i]));
  const ordered = list.filter((e) => rank.has(idOf(e))).sort((a, b) => (rank.get(idOf(a)) ?? 0) - (rank.get(idOf(b)) ?? 0));
  return [...ordered, ...list.filter((e) => !rank.has(idOf(e)))];
}

/** Drops every $-directive so none reaches storage (a create from a patch, a replaced list). */
function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isMap(v)) return v;
  const out: JsonMap = {};
  for (const [k, val] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    out[k] = stripDirectives(val);
  }
  return out;
}

/**
 * Server-side apply, approximated. `previous` is what the same field manager applied last time:
 * fields it applied then and omits now are removed, which is what field ownership achieves for
 * the common single-manager case (helm upgrade dropping a value, say). Conflicts between
 * managers are not detected.
 */
export function applyPatch(target: Json, applied: Json, previous?: Json): Json {
  if (!isMap(applied)) throw badRequest('apply patch must be an object');
  const config = stripDirectives(applied) as JsonMap;
  const base = previous === undefined ? target : prune(target, previous, config, []);
  return smpMap(isMap(base) ? base : {}, config, []) ?? {};
}

function prune(live: unknown, prev: unknown, next: unknown, path: string[]): unknown {
  if (isMap(live) && isMap(prev)) {
    const out: JsonMap = { ...live };
    for (const key of Object.keys(prev)) {
      if (!isMap(next) || !(key in next)) delete out[key];
      else if (key in out) out[key] = prune(out[key], prev[key], next[key], [...path, key]);
    }
    return out;
  }
  if (Array.isArray(live) && Array.isArray(prev) && Array.isArray(next)) {
    const key = mergeKeyFor(path);
    if (key === PRIMITIVE) {
      const dropped = new Set(prev.map((v) => JSON.stringify(v)).filter((v) => !next.some((n) => JSON.stringify(n) === v)));
      return live.filter((v) => !dropped.has(JSON.stringify(v)));
    }
    if (typeof key === 'string') {
      const id = (e: unknown): string => JSON.stringify(isMap(e) ? e[key] : e);
      const prevById = new Map(prev.map((e) => [id(e), e]));
      const nextById = new Map(next.map((e) => [id(e), e]));
      return live
        .filter((e) => !(prevById.has(id(e)) && !nextById.has(id(e))))
        .map((e) => (prevById.has(id(e)) ? prune(e, prevById.get(id(e)), nextById.get(id(e)), path) : e));
    }
  }
  return live;
}

// ---- RFC 6902 -------------------------------------------------------------------------------

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

/** The apiserver reports a patch that cannot be applied as 422 with the library's message. */
const cannotApply = (message: string): ApiError =>
  new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request', {
    causes: [{ reason: 'UnexpectedServerResponse', message }],
  });

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`JSON pointer must start with '/': ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(arr: unknown[], token: string, forInsert: boolean, op: string): number {
  if (forInsert && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw cannotApply(`${op} operation: invalid index ${token}`);
  const i = Number(token);
  if (i > arr.length || (!forInsert && i === arr.length)) throw cannotApply(`${op} operation: index out of bounds: ${token}`);
  return i;
}

/** Returns the container of the last token, walking existing values only. */
function parentOf(doc: unknown, tokens: string[], op: string, pointer: string): unknown {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false, op)];
    else if (isMap(cur) && Object.prototype.hasOwnProperty.call(cur, t)) cur = cur[t];
    else throw cannotApply(`${op} operation does not apply: doc is missing path: "${pointer}": missing value`);
  }
  return cur;
}

function getAt(doc: unknown, pointer: string, op: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return doc;
  const parent = parentOf(doc, tokens, op, pointer);
  const last = tokens[tokens.length - 1] ?? '';
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false, op)];
  if (isMap(parent) && Object.prototype.hasOwnProperty.call(parent, last)) return parent[last];
  throw cannotApply(`${op} operation does not apply: doc is missing path: "${pointer}": missing value`);
}

function removeAt(doc: unknown, pointer: string, op: string): unknown {
  const tokens = parsePointer(pointer);
  const parent = parentOf(doc, tokens, op, pointer);
  const last = tokens[tokens.length - 1] ?? '';
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, false, op), 1)[0];
  if (isMap(parent) && Object.prototype.hasOwnProperty.call(parent, last)) {
    const old = parent[last];
    delete parent[last];
    return old;
  }
  throw cannotApply(`${op} operation does not apply: doc is missing path: "${pointer}": missing value`);
}

function addAt(doc: unknown, pointer: string, value: unknown, op: string, replace: boolean): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens, op, pointer);
  const last = tokens[tokens.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, last, !replace, op);
    parent.splice(i, replace ? 1 : 0, value);
  } else if (isMap(parent)) {
    if (replace && !Object.prototype.hasOwnProperty.call(parent, last)) {
      throw cannotApply(`replace operation does not apply: doc is missing key: ${pointer}: missing value`);
    }
    parent[last] = value;
  } else {
    throw cannotApply(`${op} operation does not apply: doc is missing path: "${pointer}": missing value`);
  }
  return doc;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 6902 JSON Patch (application/json-patch+json). */
export function jsonPatch(target: Json, patch: Json): Json {
  if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target);
  for (const raw of patch) {
    if (!isMap(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') {
      throw badRequest(`invalid JSON patch operation: ${JSON.stringify(raw)}`);
    }
    const op = raw as unknown as Operation;
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, clone(op.value), 'add', false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, clone(op.value), 'replace', true);
        break;
      case 'remove':
        removeAt(doc, op.path, 'remove');
        break;
      case 'move': {
        const value = removeAt(doc, op.from ?? '', 'move');
        doc = addAt(doc, op.path, value, 'move', false);
        break;
      }
      case 'copy':
        doc = addAt(doc, op.path, clone(getAt(doc, op.from ?? '', 'copy')), 'copy', false);
        break;
      case 'test':
        if (!deepEqual(getAt(doc, op.path, 'test'), op.value)) throw cannotApply(`testing value ${op.path} failed: test failed`);
        break;
      default:
        throw badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}
