// Fault injection for the in-process Kubernetes API: makes chosen requests fail the way a real
// control plane fails them, so retry and error paths are tested against the wire, not a mock.
//
//   const rule = api.faults.add({ method: ['PUT', 'POST', 'PATCH'], resource: 'secrets', namespace: 'shop',
//                                 fault: { type: 'status', code: 500 }, probability: 0.5, seed: 7 });
//   api.faults.add({ verb: 'create', resource: 'secrets', fault: { type: 'admission', webhook: 'validate.kyverno.svc', message: '…' } });
//   api.faults.add({ verb: 'get', resource: 'secrets', fault: { type: 'drop' }, count: 1 });
//   const outage = api.faults.outage({ durationMs: 30_000, mode: 'refuse' });   // "down for 30 s"
//   rule.injected; api.faults.count({ type: 'drop' }); rule.remove(); api.faults.clear();
//
// It is its own module with one hook in server.ts (`intercept` at the top of the request handler,
// `attach` after listen, `dispose` on close), so server changes and fault changes do not collide.
// Decisions are reproducible: each rule draws from its own PRNG, seeded, so the n-th matching
// request gets the same answer on every run whatever other rules and requests do.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ApiError, forbidden, genericError } from './errors.js';
import type { ResourceTable, ResourceType } from './resources.js';

export type FaultVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

/** What an injected fault does to a matching request. */
export type Fault =
  /** An HTTP error with a Kubernetes Status body; the reason and message default to the apiserver's for the code. */
  | { type: 'status'; code: number; reason?: string; message?: string; retryAfterSeconds?: number }
  /** 403 from RBAC, in the authorizer's exact wording for this verb, resource and namespace. */
  | { type: 'forbidden' }
  /** A validating admission webhook said no: `admission webhook "<webhook>" denied the request: <message>` (403 by default). */
  | { type: 'admission'; webhook: string; message: string; code?: number }
  /**
   * The connection is destroyed. `before` (default): the request never reaches storage.
   * `after`: the request is applied, then the response is lost — the ambiguous case a retry must handle.
   */
  | { type: 'drop'; when?: 'before' | 'after' }
  /** No answer at all until the client gives up (or the server closes). `after`: applied first. */
  | { type: 'hang'; when?: 'before' | 'after' };

export interface FaultMatch {
  /** HTTP method(s), upper case. */
  method?: string | string[];
  verb?: FaultVerb | FaultVerb[];
  /** Plural resource, optionally with subresource (`ingresses/status`). */
  resource?: string;
  group?: string;
  namespace?: string;
  name?: string;
  /** The URL path (no query): a RegExp, or a string the path must contain. */
  path?: RegExp | string;
}

export interface FaultSpec extends FaultMatch {
  fault: Fault;
  /** Chance that a matching request gets the fault, 0..1; default 1. */
  probability?: number;
  /** At most this many injections, then the rule retires; default unlimited. */
  count?: number;
  /** The rule is active for this long from now (a time window); default until removed. */
  durationMs?: number;
  /** PRNG seed of this rule; default the injector's seed. */
  seed?: number;
  /** Name in the injection log; default the fault type and a number. */
  label?: string;
}

export interface FaultRule {
  readonly label: string;
  /** Matching requests seen while active, injected or not. */
  readonly matched: number;
  readonly injected: number;
  readonly active: boolean;
  /** Changes the rule at runtime (probability, count left, fault). */
  update(change: Partial<Pick<FaultSpec, 'probability' | 'count' | 'fault'>>): void;
  remove(): void;
}

export interface Injection {
  rule: string;
  type: Fault['type'] | 'refuse' | 'reset' | 'unavailable';
  method?: string;
  path?: string;
  verb?: FaultVerb;
  resource?: string;
  namespace?: string;
  name?: string;
  /** Status code sent, for status-like faults. */
  code?: number;
  /** ms since the injector started. */
  at: number;
}

export interface OutageSpec {
  /**
   * refuse: the port stops listening (clients get ECONNREFUSED) and open connections drop;
   * reset: connections are accepted and destroyed at once (ECONNRESET);
   * unavailable: every request is answered 503 ServiceUnavailable, as a load balancer with no
   * healthy apiserver behind it would, with Retry-After when `retryAfterSeconds` is set.
   */
  mode: 'refuse' | 'reset' | 'unavailable';
  /** Default: until end() is called. */
  durationMs?: number;
  retryAfterSeconds?: number;
}

export interface Outage {
  readonly active: boolean;
  /** Ends it now; resolves once requests are served again (the port listens again). */
  end(): Promise<void>;
  /** Resolves when it is over, by time or end(). */
  readonly ended: Promise<void>;
}

export interface FaultInjector {
  add(spec: FaultSpec): FaultRule;
  outage(spec: OutageSpec): Outage;
  /** Everything injected, in order. */
  readonly injected: readonly Injection[];
  /** How many injections match (all fields optional). */
  count(filter?: Partial<Pick<Injection, 'rule' | 'type' | 'method' | 'verb' | 'resource' | 'namespace' | 'name'>>): number;
  /** Removes every rule and ends every outage; the log stays (resetLog clears it). */
  clear(): Promise<void>;
  resetLog(): void;
}

/** What server.ts calls. Not for tests. */
export interface FaultHook extends FaultInjector {
  /** At the top of the request handler; true when the fault took over the response. */
  intercept(req: IncomingMessage, res: ServerResponse, record?: RecordFields): boolean;
  /** After listen: connection-level faults need the server. */
  attach(server: Server): void;
  dispose(): void;
}

/** The request-log fields the hook fills in for requests it answers itself (the server never routes those). */
export interface RecordFields {
  verb?: FaultVerb;
  resource?: string;
  group?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

interface ParsedPath {
  group: string;
  version: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  watch: boolean;
}

/** The resource part of a Kubernetes API path, parsed the way the apiserver's request info does. */
export function parseApiPath(path: string): ParsedPath | undefined {
  const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
  let rest: string[];
  let group: string;
  let version: string;
  if (seg[0] === 'api' && seg.length >= 3) {
    group = '';
    version = seg[1] ?? '';
    rest = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 4) {
    group = seg[1] ?? '';
    version = seg[2] ?? '';
    rest = seg.slice(3);
  } else {
    return undefined;
  }
  let watch = false;
  if (rest[0] === 'watch') {
    watch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  // /namespaces/<ns>/<resource>…, but /namespaces/<name>/status is the namespace itself.
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest;
  if (!resource) return undefined;
  return {
    group,
    version,
    resource,
    watch,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(subresource !== undefined ? { subresource } : {}),
  };
}

function verbFor(method: string, p: ParsedPath, query: URLSearchParams): FaultVerb | undefined {
  switch (method) {
    case 'GET':
      return p.watch || query.get('watch') === 'true' || query.get('watch') === '1' ? 'watch' : p.name ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return p.name ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}

/** mulberry32: small, fast, and the same sequence on every platform for a seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const oneOf = <T>(rule: T | T[] | undefined, value: T | undefined): boolean =>
  rule === undefined || (Array.isArray(rule) ? value !== undefined && rule.includes(value) : rule === value);

interface RuleState {
  spec: FaultSpec;
  label: string;
  /** How its injections are logged (an 'unavailable' outage is a 503 rule underneath). */
  logAs?: Injection['type'];
  random: () => number;
  matched: number;
  injected: number;
  remaining: number;
  until: number;
  removed: boolean;
}

export function createFaultInjector(opts: { user: string; table: ResourceTable; seed?: number }): FaultHook {
  const started = performance.now();
  const now = () => performance.now() - started;
  const baseSeed = opts.seed ?? 0x5eed;
  let rules: RuleState[] = [];
  const injected: Injection[] = [];
  let server: Server | undefined;
  let port = 0;
  let host = '127.0.0.1';
  let disposed = false;
  let labels = 0;
  const sockets = new Set<Socket>();
  /** Connection-level modes in force (an outage of each kind can overlap another). */
  const resetOutages = new Set<object>();
  const refuseOutages = new Set<object>();
  let relisten: Promise<void> | undefined;
  const outageTimers = new Set<NodeJS.Timeout>();
  const outageEnds = new Set<() => Promise<void>>();

  const active = (r: RuleState): boolean => !r.removed && r.remaining > 0 && now() < r.until;

  function log(entry: Omit<Injection, 'at'>): void {
    injected.push({ ...entry, at: Math.round(now()) });
  }

  function typeOf(p: ParsedPath): ResourceType | undefined {
    return opts.table.groupVersion(p.group, p.version)?.find((t) => t.resource === p.resource);
  }

  function errorFor(fault: Fault, p: ParsedPath | undefined, verb: FaultVerb | undefined): ApiError {
    switch (fault.type) {
      case 'status':
        return genericError(fault.code, fault.reason, fault.message, fault.retryAfterSeconds);
      case 'forbidden': {
        const t = p && typeOf(p);
        if (!t || !verb) return genericError(403);
        return forbidden({
          user: opts.user,
          verb,
          type: t,
          ...(p.subresource ? { subresource: p.subresource } : {}),
          ...(p.namespace ? { namespace: p.namespace } : {}),
          ...(p.name ? { name: p.name } : {}),
        });
      }
      case 'admission': {
        // apiserver's webhookerrors.ToStatusErr: the webhook's code (403 from Kyverno and Gatekeeper)
        // and no reason, so kubectl prints "Error from server: admission webhook … denied the request: …".
        const err = new ApiError(fault.code ?? 403, '', `admission webhook "${fault.webhook}" denied the request: ${fault.message}`);
        delete (err.status as { reason?: string }).reason;
        return err;
      }
      default:
        throw new Error(`fault ${fault.type} is not a status`);
    }
  }

  function sendStatus(res: ServerResponse, err: ApiError): void {
    res.writeHead(err.status.code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', ...err.headers });
    res.end(JSON.stringify(err.status));
  }

  /** Lets the handler run, then loses (drop) or withholds (hang) its response. */
  function swallowResponse(res: ServerResponse, drop: boolean): void {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (drop) res.socket?.destroy();
    };
    const swallow = function (this: ServerResponse) {
      finish();
      return this;
    };
    res.writeHead = swallow as unknown as ServerResponse['writeHead'];
    res.flushHeaders = () => finish();
    res.write = ((..._args: unknown[]) => {
      finish();
      return true;
    }) as ServerResponse['write'];
    res.end = swallow as unknown as ServerResponse['end'];
  }

  function addRule(spec: FaultSpec, logAs?: Injection['type']): FaultRule {
    const label = spec.label ?? `${spec.fault.type}#${++labels}`;
    const state: RuleState = {
      spec: { ...spec },
      label,
      ...(logAs ? { logAs } : {}),
      random: prng(spec.seed ?? baseSeed),
      matched: 0,
      injected: 0,
      remaining: spec.count ?? Number.POSITIVE_INFINITY,
      until: spec.durationMs !== undefined ? now() + spec.durationMs : Number.POSITIVE_INFINITY,
      removed: false,
    };
    rules.push(state);
    return {
      label,
      get matched() {
        return state.matched;
      },
      get injected() {
        return state.injected;
      },
      get active() {
        return active(state);
      },
      update(change) {
        if (change.probability !== undefined) state.spec.probability = change.probability;
        if (change.fault !== undefined) state.spec.fault = change.fault;
        if (change.count !== undefined) state.remaining = change.count;
      },
      remove() {
        state.removed = true;
        rules = rules.filter((r) => r !== state);
      },
    };
  }

  const hook: FaultHook = {
    get injected() {
      return injected;
    },

    add(spec) {
      return addRule(spec);
    },

    outage(spec) {
      const token = {};
      let resolveEnded: () => void = () => undefined;
      const ended = new Promise<void>((r) => (resolveEnded = r));
      let over = false;
      let rule: FaultRule | undefined;
      if (spec.mode === 'unavailable') {
        rule = addRule(
          {
            label: 'outage',
            path: /^\//,
            fault: { type: 'status', code: 503, ...(spec.retryAfterSeconds !== undefined ? { retryAfterSeconds: spec.retryAfterSeconds } : {}) },
          },
          'unavailable',
        );
      } else if (spec.mode === 'reset') {
        resetOutages.add(token);
        for (const s of sockets) s.destroy();
      } else {
        refuseOutages.add(token);
        stopListening();
      }
      const end = async (): Promise<void> => {
        if (!over) {
          over = true;
          outageEnds.delete(end);
          rule?.remove();
          resetOutages.delete(token);
          if (refuseOutages.delete(token) && refuseOutages.size === 0) await startListening();
          resolveEnded();
        }
        await relisten;
      };
      outageEnds.add(end);
      if (spec.durationMs !== undefined) {
        const timer = setTimeout(() => {
          outageTimers.delete(timer);
          void end();
        }, spec.durationMs);
        outageTimers.add(timer);
      }
      return {
        get active() {
          return !over;
        },
        end,
        ended,
      };
    },

    count(filter = {}) {
      return injected.filter((i) => Object.entries(filter).every(([k, v]) => v === undefined || i[k as keyof Injection] === v)).length;
    },

    async clear() {
      rules = [];
      for (const t of outageTimers) clearTimeout(t);
      outageTimers.clear();
      await Promise.all([...outageEnds].map((end) => end()));
    },

    resetLog() {
      injected.length = 0;
    },

    intercept(req, res, record) {
      if (rules.length === 0) return false;
      const method = (req.method ?? 'GET').toUpperCase();
      const url = new URL(req.url ?? '/', 'http://kube-api');
      const p = parseApiPath(url.pathname);
      const verb = p ? verbFor(method, p, url.searchParams) : undefined;
      const resourceFull = p ? (p.subresource ? `${p.resource}/${p.subresource}` : p.resource) : undefined;
      const rule = rules.find((r) => {
        const s = r.spec;
        if (!active(r)) return false;
        if (!oneOf(s.method, method) || !oneOf(s.verb, verb)) return false;
        if (s.resource !== undefined && s.resource !== p?.resource && s.resource !== resourceFull) return false;
        if (s.group !== undefined && s.group !== p?.group) return false;
        if (s.namespace !== undefined && s.namespace !== p?.namespace) return false;
        if (s.name !== undefined && s.name !== p?.name) return false;
        if (s.path !== undefined && !(typeof s.path === 'string' ? url.pathname.includes(s.path) : s.path.test(url.pathname))) return false;
        return true;
      });
      if (!rule) return false;
      rule.matched++;
      // Draw for every match, even at probability 1, so changing it at runtime keeps the sequence.
      const draw = rule.random();
      if (draw >= (rule.spec.probability ?? 1)) return false;
      rule.injected++;
      rule.remaining--;
      if (rule.remaining <= 0) rules = rules.filter((r) => r !== rule);

      const fault = rule.spec.fault;
      const entry: Omit<Injection, 'at'> = {
        rule: rule.label,
        type: rule.logAs ?? fault.type,
        method,
        path: url.pathname,
        ...(verb ? { verb } : {}),
        ...(p ? { resource: resourceFull } : {}),
        ...(p?.namespace ? { namespace: p.namespace } : {}),
        ...(p?.name ? { name: p.name } : {}),
      };
      if (record && p) {
        record.verb ??= verb;
        record.resource ??= p.resource;
        record.group ??= p.group;
        if (p.namespace) record.namespace ??= p.namespace;
        if (p.name) record.name ??= p.name;
        if (p.subresource) record.subresource ??= p.subresource;
      }

      if (fault.type === 'drop' || fault.type === 'hang') {
        log(entry);
        if ((fault.when ?? 'before') === 'after') {
          swallowResponse(res, fault.type === 'drop');
          return false;
        }
        if (fault.type === 'drop') req.socket.destroy();
        // A hang holds the socket until the client gives up or the server closes it.
        return true;
      }
      const err = errorFor(fault, p, verb);
      log({ ...entry, code: err.status.code });
      sendStatus(res, err);
      return true;
    },

    attach(s) {
      server = s;
      const a = s.address() as AddressInfo;
      port = a.port;
      host = a.address;
      s.on('connection', (socket: Socket) => {
        if (resetOutages.size > 0) {
          log({ rule: 'outage', type: 'reset' });
          socket.destroy();
          return;
        }
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
    },

    dispose() {
      disposed = true;
      rules = [];
      for (const t of outageTimers) clearTimeout(t);
      outageTimers.clear();
    },
  };

  function stopListening(): void {
    if (!server?.listening) return;
    // An apiserver that is down drops what it had open, watches included.
    server.close();
    for (const s of sockets) s.destroy();
  }

  /** Listens on the same port again; another process may grab it meanwhile, so retry briefly. */
  function startListening(): Promise<void> {
    const s = server;
    if (!s || disposed) return Promise.resolve();
    relisten = (async () => {
      for (let attempt = 0; !disposed && !s.listening; attempt++) {
        const ok = await new Promise<boolean>((resolve) => {
          const onError = () => resolve(false);
          s.once('error', onError);
          s.listen(port, host, () => {
            s.off('error', onError);
            resolve(true);
          });
        });
        if (ok) return;
        if (attempt > 100) throw new Error(`kube-api: cannot listen on ${host}:${port} again after an outage`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    return relisten;
  }

  return hook;
}
