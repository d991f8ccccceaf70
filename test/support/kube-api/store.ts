// Storage with the semantics of the apiserver's generic registry over etcd: one global,
// increasing resourceVersion; objects listed in key order (namespace/name); create/update/
// delete with optimistic concurrency, finalizers and status subresources; and a bounded event
// history that watches resume from, like the watch cache.
import { randomBytes, randomUUID } from 'node:crypto';
import { alreadyExists, ApiError, badRequest, conflict, expired, invalid, notFound } from './errors.js';
import { defaultGatewayApiObject, GATEWAY_GROUP } from './gateway-api.js';
import { isMap } from './patch.js';
import { groupVersion, qualifiedResource, storageKey, type KubeObject, type ResourceTable, type ResourceType } from './resources.js';
import type { Matcher } from './selectors.js';
import { checkDecodable, validate } from './validation.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  type: EventType;
  /** storageKey() of the resource. */
  resource: string;
  rv: number;
  key: string;
  obj: KubeObject;
  /** The object before this change, so a watch can tell when it entered or left a selector. */
  prev?: KubeObject;
}

export interface WatchFilter {
  namespace?: string;
  label: Matcher;
  field: Matcher;
}

export interface WatchEvent {
  type: EventType | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

interface Subscriber {
  /** The version the watcher asked for: events carry its apiVersion. */
  type: ResourceType;
  filter: WatchFilter;
  send: (e: WatchEvent) => void;
}

class Collection {
  readonly items = new Map<string, KubeObject>();
  private sorted: string[] | null = null;
  readonly subscribers = new Set<Subscriber>();

  constructor(readonly type: ResourceType) {}

  /** Keys in etcd order. Cached: sorting per request would make paging 1,000 objects O(n² log n). */
  keys(): string[] {
    if (!this.sorted) this.sorted = [...this.items.keys()].sort();
    return this.sorted;
  }

  set(key: string, obj: KubeObject): void {
    if (!this.items.has(key)) this.sorted = null;
    this.items.set(key, obj);
  }

  delete(key: string): void {
    if (this.items.delete(key)) this.sorted = null;
  }
}

export interface WriteOptions {
  dryRun?: boolean;
}

export interface DeleteOptions extends WriteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  /** Namespaces: skip the Terminating phase and delete the contents at once. */
  immediate?: boolean;
}

const isNamespaceType = (t: ResourceType): boolean => t.group === '' && t.resource === 'namespaces';

export const objectKey = (namespace: string | undefined, name: string): string => (namespace ? `${namespace}/${name}` : name);

/** RFC 3339 with second precision, as metav1.Time serialises. */
export const timestamp = (d = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

// The alphabet of apimachinery's utilrand.String: no vowels, no confusable characters.
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(): string {
  return [...randomBytes(5)].map((b) => NAME_ALPHABET[b % NAME_ALPHABET.length]).join('');
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** Everything but metadata and status: the part whose change bumps metadata.generation. */
function specPart(obj: KubeObject): Record<string, unknown> {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}

/** An object as one served version shows it: versions sharing storage differ only in apiVersion here. */
function view(t: ResourceType, obj: KubeObject): KubeObject {
  const gv = groupVersion(t);
  return obj.apiVersion === gv ? obj : { ...obj, apiVersion: gv };
}

/** Status a registry strategy resets on create (PrepareForCreate). */
function initialStatus(t: ResourceType): unknown {
  if (t.group === '' && t.kind === 'Namespace') return { phase: 'Active' };
  if (t.kind === 'Ingress' || (t.group === '' && t.kind === 'Service')) return { loadBalancer: {} };
  if (t.group === '' && t.kind === 'Pod') return { phase: 'Pending' };
  return {};
}

export class Store {
  private readonly collections = new Map<string, Collection>();
  private rv = 0;
  private history: StoredEvent[] = [];
  /** Every change with rv > historyStart is still in `history`. */
  private historyStart = 0;

  constructor(
    readonly table: ResourceTable,
    private readonly historySize: number,
  ) {
    for (const t of table.all) if (!this.collections.has(storageKey(t))) this.collections.set(storageKey(t), new Collection(t));
  }

  get resourceVersion(): number {
    return this.rv;
  }

  private collection(t: ResourceType): Collection {
    const c = this.collections.get(storageKey(t));
    if (!c) throw new Error(`kube-api: no collection for ${storageKey(t)}`);
    return c;
  }

  get(t: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.collection(t).items.get(objectKey(t.namespaced ? namespace : undefined, name));
    return obj && view(t, obj);
  }

  /** Objects in key order, optionally from one namespace, starting after `afterKey`. */
  *iterate(t: ResourceType, namespace?: string, afterKey?: string): Generator<[string, KubeObject]> {
    const c = this.collection(t);
    const keys = c.keys();
    // Namespaced keys are "ns/name", so one namespace is a contiguous run of sorted keys.
    const prefix = namespace && t.namespaced ? `${namespace}/` : undefined;
    let i = Math.max(prefix ? lowerBound(keys, prefix) : 0, afterKey !== undefined ? upperBound(keys, afterKey) : 0);
    for (; i < keys.length; i++) {
      const key = keys[i] ?? '';
      if (prefix && !key.startsWith(prefix)) break;
      const obj = c.items.get(key);
      if (obj) yield [key, view(t, obj)];
    }
  }

  /** How many objects (of one namespace, if given) sort after `key`: binary search, no scan. */
  countAfter(t: ResourceType, namespace: string | undefined, key: string): number {
    const keys = this.collection(t).keys();
    // "0" is the character after "/", so "<ns>0" bounds the run of "<ns>/…" keys.
    const end = namespace && t.namespaced ? lowerBound(keys, `${namespace}0`) : keys.length;
    return Math.max(0, end - upperBound(keys, key));
  }

  namespaceExists(name: string): boolean {
    const nsType = this.table.lookup('', 'v1', 'namespaces');
    return !!nsType && this.collection(nsType).items.has(name);
  }

  private requireNamespace(t: ResourceType, namespace: string | undefined, name: string): void {
    if (!t.namespaced) return;
    if (!namespace) throw badRequest('the server could not find the requested resource (namespace is required)');
    const nsType = this.table.lookup('', 'v1', 'namespaces');
    const ns = nsType && this.collection(nsType).items.get(namespace);
    if (nsType && !ns) throw notFound(nsType, namespace);
    if (ns?.metadata.deletionTimestamp) {
      throw new ApiError(403, 'Forbidden', `${qualifiedResource(t)} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, {
        name,
        ...(t.group ? { group: t.group } : {}),
        kind: t.resource,
      });
    }
  }

  /** Common normalisation of a request body: type meta, namespace, decodability. */
  private normalise(t: ResourceType, namespace: string | undefined, body: unknown): KubeObject {
    if (!isMap(body)) throw badRequest(`Object '${t.kind}' is missing in '${JSON.stringify(body)}'`);
    const obj = clone(body) as KubeObject;
    if (obj.kind !== undefined && obj.kind !== t.kind) {
      throw badRequest(`the kind of the object (${String(obj.kind)}) does not match the endpoint (${t.kind})`);
    }
    if (obj.apiVersion !== undefined && obj.apiVersion !== groupVersion(t)) {
      throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${groupVersion(t)})`);
    }
    if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
    checkDecodable(t, obj);
    if (t.namespaced) {
      if (obj.metadata.namespace && namespace && obj.metadata.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      obj.metadata.namespace = namespace ?? obj.metadata.namespace;
    } else {
      delete obj.metadata.namespace; // cluster-scoped objects silently lose a namespace, like BeforeCreate
    }
    // kind and apiVersion first: the key order a real server encodes. Stored as the storage version.
    const { kind: _k, apiVersion: _a, metadata, ...rest } = obj;
    return { kind: t.kind, apiVersion: groupVersion({ group: t.group, version: t.storageVersion ?? t.version }), metadata, ...rest };
  }

  /** Defaulting the real API does on every write that users notice. */
  private applyDefaults(t: ResourceType, obj: KubeObject): void {
    if (t.group === GATEWAY_GROUP) defaultGatewayApiObject(t, obj);
    if (t.group !== '') return;
    if (t.kind === 'Secret') {
      // stringData is write-only: merged into data, never stored (core/v1 conversion).
      const stringData = obj['stringData'];
      if (isMap(stringData)) {
        const data = (isMap(obj['data']) ? obj['data'] : {}) as Record<string, string>;
        for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(String(v)).toString('base64');
        obj['data'] = data;
      }
      delete obj['stringData'];
      if (!obj['type']) obj['type'] = 'Opaque';
    }
    if (t.kind === 'Namespace') {
      const name = obj.metadata.name ?? '';
      // Since 1.21 every namespace carries this immutable label (used by NetworkPolicy selectors).
      if (name) obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name };
      if (!isMap(obj['spec'])) obj['spec'] = { finalizers: ['kubernetes'] };
    }
  }

  create(t: ResourceType, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): KubeObject {
    const obj = this.normalise(t, namespace, body);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`;
    // "create cannot set status" (PrepareForCreate runs before validation); schema defaults refill it.
    if (t.customResource && t.status) delete obj['status'];
    this.applyDefaults(t, obj);
    validate(t, obj);
    this.requireNamespace(t, meta.namespace, meta.name ?? '');
    const c = this.collection(t);
    const key = objectKey(meta.namespace, meta.name ?? '');
    if (c.items.has(key)) throw alreadyExists(t, meta.name ?? '');
    // Fields the server owns: whatever the client sent is replaced (BeforeCreate).
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (t.generation) meta.generation = 1;
    else delete meta.generation;
    if (t.status && !t.customResource) obj['status'] = initialStatus(t);
    if (opts.dryRun) {
      delete meta.resourceVersion;
      return view(t, obj);
    }
    meta.resourceVersion = String(++this.rv);
    c.set(key, obj);
    this.record(t, { resource: storageKey(t), type: 'ADDED', rv: this.rv, key, obj });
    return view(t, obj);
  }

  /**
   * PUT. `subresource` 'status' takes only the status from the body; the main resource keeps
   * the stored status, as registries with a status subresource do.
   */
  update(t: ResourceType, namespace: string | undefined, name: string, body: unknown, opts: WriteOptions & { subresource?: string } = {}): KubeObject {
    const obj = this.normalise(t, namespace, body);
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    obj.metadata.name = name;
    const c = this.collection(t);
    const key = objectKey(t.namespaced ? namespace : undefined, name);
    const old = c.items.get(key);
    if (!old) {
      if (t.createOnUpdate && !opts.subresource) return this.create(t, namespace, obj, opts);
      throw notFound(t, name);
    }
    const rv = obj.metadata.resourceVersion;
    // Custom resources allow no unconditional update (kubectl replace of a file without one fails).
    if (!rv && t.customResource) {
      throw invalid(t, name, [{ type: 'FieldValueInvalid', field: 'metadata.resourceVersion', valueText: '0x0', detail: 'must be specified for an update' }]);
    }
    // An empty resourceVersion is an unconditional update, allowed for every built-in type we serve.
    if (rv && rv !== old.metadata.resourceVersion) throw conflict(t, name);
    let next: KubeObject;
    if (opts.subresource === 'status') {
      next = { ...clone(old), status: obj['status'] };
      if (t.customResource) this.applyDefaults(t, next);
    } else {
      next = obj;
      this.applyDefaults(t, next);
      if (t.status) {
        if (old['status'] === undefined) delete next['status'];
        else next['status'] = clone(old['status']);
      }
    }
    const meta = next.metadata;
    meta.uid = old.metadata.uid;
    meta.creationTimestamp = old.metadata.creationTimestamp;
    if (old.metadata.deletionTimestamp) meta.deletionTimestamp = old.metadata.deletionTimestamp;
    else delete meta.deletionTimestamp;
    if (t.generation) {
      const changed = !deepEqual(specPart(old), specPart(next));
      meta.generation = (old.metadata.generation ?? 1) + (changed ? 1 : 0);
    }
    validate(t, next, old);
    meta.resourceVersion = old.metadata.resourceVersion;
    // A write that changes nothing is not persisted: no new resourceVersion, no watch event.
    if (deepEqual(old, next)) return view(t, old);
    if (opts.dryRun) return view(t, next);
    meta.resourceVersion = String(++this.rv);
    if (meta.deletionTimestamp && !(meta.finalizers?.length ?? 0)) {
      // The last finalizer is gone: the pending delete completes now.
      c.delete(key);
      this.record(t, { resource: storageKey(t), type: 'DELETED', rv: this.rv, key, obj: next, prev: old });
      return view(t, next);
    }
    c.set(key, next);
    this.record(t, { resource: storageKey(t), type: 'MODIFIED', rv: this.rv, key, obj: next, prev: old });
    return view(t, next);
  }

  delete(t: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): { obj: KubeObject; deleted: boolean } {
    const c = this.collection(t);
    const key = objectKey(t.namespaced ? namespace : undefined, name);
    const old = c.items.get(key);
    if (!old) throw notFound(t, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw conflict(t, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid ?? ''}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(t, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion ?? ''}`);
    }
    if (opts.dryRun) return { obj: view(t, old), deleted: true };
    if (old.metadata.finalizers?.length) {
      // Finalizers hold the object: deletion only marks it, an update removing them completes it.
      if (old.metadata.deletionTimestamp) return { obj: view(t, old), deleted: false };
      const marked = clone(old);
      marked.metadata.deletionTimestamp = timestamp();
      marked.metadata.deletionGracePeriodSeconds = 0;
      marked.metadata.resourceVersion = String(++this.rv);
      c.set(key, marked);
      this.record(t, { resource: storageKey(t), type: 'MODIFIED', rv: this.rv, key, obj: marked, prev: old });
      return { obj: view(t, marked), deleted: false };
    }
    if (isNamespaceType(t) && !opts.immediate) {
      // A namespace goes Terminating; finalizeNamespace (the namespace controller's job) empties
      // and removes it later, so requests in between still find its objects, as on a cluster.
      if (old.metadata.deletionTimestamp) return { obj: old, deleted: false };
      const marked = clone(old);
      marked.metadata.deletionTimestamp = timestamp();
      marked['status'] = { ...(isMap(old['status']) ? old['status'] : {}), phase: 'Terminating' };
      marked.metadata.resourceVersion = String(++this.rv);
      c.set(key, marked);
      this.record(t, { resource: storageKey(t), type: 'MODIFIED', rv: this.rv, key, obj: marked, prev: old });
      return { obj: marked, deleted: false };
    }
    if (isNamespaceType(t)) this.deleteNamespaceContents(name);
    const gone = clone(old);
    // The DELETED event carries the revision of the delete, not of the last write.
    gone.metadata.resourceVersion = String(++this.rv);
    c.delete(key);
    this.record(t, { resource: storageKey(t), type: 'DELETED', rv: this.rv, key, obj: gone, prev: old });
    return { obj: view(t, gone), deleted: true };
  }

  /** Completes the deletion of a Terminating namespace: its objects first, then itself. */
  finalizeNamespace(name: string): void {
    const nsType = this.table.lookup('', 'v1', 'namespaces');
    const ns = nsType && this.get(nsType, undefined, name);
    if (nsType && ns?.metadata.deletionTimestamp) this.delete(nsType, undefined, name, { immediate: true });
  }

  /** Empties a namespace; finalizers of its objects are ignored. */
  private deleteNamespaceContents(namespace: string): void {
    for (const c of this.collections.values()) {
      if (!c.type.namespaced) continue;
      for (const [key, obj] of [...this.iterate(c.type, namespace)]) {
        const gone = clone(obj);
        gone.metadata.resourceVersion = String(++this.rv);
        c.delete(key);
        this.record(c.type, { resource: storageKey(c.type), type: 'DELETED', rv: this.rv, key, obj: gone, prev: obj });
      }
    }
  }

  private record(t: ResourceType, e: StoredEvent): void {
    this.history.push(e);
    if (this.history.length > this.historySize * 2) {
      // Drop the older half at once: amortised O(1) per write instead of a shift per write.
      const dropped = this.history.length - this.historySize;
      this.historyStart = this.history[dropped - 1]?.rv ?? this.historyStart;
      this.history = this.history.slice(dropped);
    }
    for (const s of this.collection(t).subscribers) deliver(s, e);
  }

  /**
   * Starts a watch. `since` undefined means "current state first" (synthetic ADDED events for
   * every matching object, as for resourceVersion "" and "0"); a number replays the history
   * after it, or fails with 410 Expired like the watch cache when that history is gone.
   */
  watch(t: ResourceType, filter: WatchFilter, since: number | undefined, send: (e: WatchEvent) => void): () => void {
    const c = this.collection(t);
    const sub: Subscriber = { type: t, filter, send };
    if (since === undefined) {
      for (const [, obj] of this.iterate(t, filter.namespace)) {
        if (filter.label(obj) && filter.field(obj)) send({ type: 'ADDED', object: obj });
      }
    } else {
      if (since < this.historyStart) {
        throw expired(`too old resource version: ${since} (${this.historyStart + 1})`);
      }
      const tk = storageKey(t);
      for (const e of this.history) {
        if (e.rv > since && e.resource === tk) deliver(sub, e);
      }
    }
    c.subscribers.add(sub);
    return () => c.subscribers.delete(sub);
  }

  /** Forgets the event history, as etcd compaction does: older watches must relist. */
  compact(): void {
    this.history = [];
    this.historyStart = this.rv;
  }

  /** Current count of objects of a type (for tests and benchmarks). */
  size(t: ResourceType): number {
    return this.collection(t).items.size;
  }
}

/**
 * Translates a change into what one watcher sees: an object moving into its selector is ADDED,
 * moving out is DELETED, as the apiserver's cacheWatcher does.
 */
function deliver(s: Subscriber, e: StoredEvent): void {
  const { filter } = s;
  const ns = e.obj.metadata.namespace;
  if (filter.namespace && ns !== filter.namespace) return;
  const matches = (o: KubeObject | undefined): boolean => !!o && filter.label(o) && filter.field(o);
  const now = e.type !== 'DELETED' && matches(e.obj);
  const before = e.type !== 'ADDED' && matches(e.prev ?? e.obj);
  const object = view(s.type, e.obj);
  if (e.type === 'DELETED') {
    if (before) s.send({ type: 'DELETED', object });
  } else if (now && before) s.send({ type: 'MODIFIED', object });
  else if (now) s.send({ type: 'ADDED', object });
  else if (before) s.send({ type: 'DELETED', object });
}

/** First index whose key is >= k. */
function lowerBound(keys: string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((keys[mid] ?? '') < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose key is > k. */
function upperBound(keys: string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((keys[mid] ?? '') <= k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
