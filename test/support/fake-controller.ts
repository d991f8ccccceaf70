// A small ingress controller for tests, modelled on ingress-nginx: it reads Ingresses and Secrets
// from the in-process Kubernetes API's store, routes HTTP ("port 80") and HTTPS ("port 443", SNI)
// by Host and longest path over the rules of every Ingress of its class in every namespace, and
// proxies to Service backends that the test maps to real ports. It is what stands between Pebble
// and certkeeper in production, so tests can walk the same path: CA → controller → solver Ingress
// rule → certkeeper Service → responder.
//
// Modelled (ingress-nginx behaviour): ingress class by spec.ingressClassName or the
// kubernetes.io/ingress.class annotation; rules of one host merged across Ingresses and namespaces
// (the oldest Ingress wins a host+path both claim); Exact/Prefix/ImplementationSpecific paths;
// rules without host as the catch-all server; "default backend - 404" with Server: nginx; 503 for a
// Service without endpoints; certificates only from Secrets in the Ingress's own namespace, only
// when tls.crt/tls.key parse, match, and cover the host (else the "Kubernetes Ingress Controller
// Fake Certificate"), looked up by exact spec.tls[].hosts entry first and then by any spec.tls
// Secret whose certificate covers the host; ssl-redirect (308, /.well-known/acme-challenge exempt as
// no-tls-redirect-locations does, per-Ingress nginx.ingress.kubernetes.io/ssl-redirect: "false").
// Not modelled: IngressClass objects and default classes, spec.defaultBackend, regex paths,
// rewrites, auth and the other annotations, ssl-passthrough, HTTP/2, keep-alive tuning.
//
// mode 'gateway' turns it into a Gateway API implementation instead (Ingresses are then ignored):
// it programs the listeners of Gateways (and attached ListenerSets) of GatewayClasses naming its
// controllerName, routes HTTPRoutes, and writes the status of all of these, by the rules in
// fake-gateway.ts. Listener port 80 is served on `httpPort`, 443 on `httpsPort` (SNI picks the
// listener certificate, the fake certificate stands in for a missing or unusable one), any other
// listener port is bound on 127.0.0.1 as it is (`gatewayPort()` says where). All Gateways share
// the address 127.0.0.1, which is what their status.addresses says. Responses keep the nginx
// personality of the ingress mode (error pages, Server header, fake certificate).
import { X509Certificate } from 'node:crypto';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import { ingressNginxFakeCertificate, type TestCert } from './certs.js';
import {
  buildGatewayConfig,
  GATEWAY_RESOURCES,
  modifyPath,
  redirectLocation,
  selectListener,
  selectRule,
  unsupportedFilters,
  type BackendRefSpec,
  type Condition,
  type GatewayConfig,
  type HTTPRouteFilter,
  type ProgrammedListener,
  type StatusWrite,
} from './fake-gateway.js';
import type { KubeApi, KubeObject } from './kube-api/index.js';
import { freePort } from './ports.js';

const INGRESSES = { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses' };
const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge';

export type SslRedirectMode = 'off' | 'on' | 'loop';

export const FAKE_GATEWAY_CONTROLLER = 'gateway.test/fake-controller';

export interface GatewayModeOptions {
  /** The spec.controllerName of GatewayClasses this implementation handles. Default gateway.test/fake-controller. */
  controllerName?: string;
  /**
   * A GatewayClass with that controllerName created at start when missing, as an implementation's
   * chart installs one. Default "fake"; null creates none.
   */
  gatewayClass?: string | null;
  /**
   * An HTTPS listener without a usable certificate: 'default' serves the fake certificate (as
   * ingress-nginx and Traefik do), 'reject' aborts the handshake (as Envoy-based ones do). Default 'default'.
   */
  invalidCertificate?: 'default' | 'reject';
}

export interface ServiceAddress {
  host: string;
  port: number;
}

export interface FakeControllerOptions {
  api: KubeApi;
  /** 'ingress' (default): an ingress-nginx. 'gateway': a Gateway API implementation (needs startKubeApi({ gatewayApi: true })). */
  mode?: 'ingress' | 'gateway';
  gateway?: GatewayModeOptions;
  /** Serve only Ingresses of this class (spec.ingressClassName or kubernetes.io/ingress.class). Default nginx. */
  ingressClass?: string;
  /** Where a Service backend's endpoints are (namespace, name, port number or name); undefined = no endpoints (503). */
  services: (namespace: string, name: string, port: number | string) => ServiceAddress | undefined;
  /**
   * Default true. false: a NodePort/bare-metal controller — nothing answers on `httpPort` (the
   * "port 80" DNS points at); HTTP is served on `nodePort` only.
   */
  http?: boolean;
  /**
   * off: no redirects. on: ingress-nginx's default ssl-redirect — plain HTTP to a host with TLS
   * gets 308 to https, except under /.well-known/acme-challenge/. loop: a load balancer terminating
   * TLS in front of a force-ssl-redirect controller — every http request gets 308 to https, and
   * https requests for the challenge path come back as 308 to http. Default off.
   */
  sslRedirect?: SslRedirectMode;
  /** Keep serving the certificates loaded so far (a controller that stopped reloading); routing still updates. */
  frozen?: boolean;
  /** How often the store is looked at for changes (besides on every request); default 100 ms. */
  pollMs?: number;
}

export interface ControllerRequest {
  scheme: 'http' | 'https';
  host: string;
  path: string;
  status: number;
  /** "namespace/service:port" the request went to, or "default-backend". */
  backend: string;
  userAgent: string | undefined;
  /** Gateway mode: the listener that took the request ("Gateway ns/name listener"). */
  listener?: string;
  /** Gateway mode: "ns/name" of the HTTPRoute whose rule answered. */
  route?: string;
}

export interface FakeController {
  /** "Port 80": what Pebble and the self-check connect to. Nothing listens here when http is false. */
  readonly httpPort: number;
  /** Where plain HTTP is really served: httpPort, or the NodePort when http is false. */
  readonly nodePort: number;
  /** "Port 443". */
  readonly httpsPort: number;
  /** The certificate served without SNI and for hosts without a usable Secret. */
  readonly fakeCertificate: TestCert;
  sslRedirect: SslRedirectMode;
  /** See FakeControllerOptions.frozen; settable at any time. */
  frozen: boolean;
  /** Every request answered, in order. */
  readonly requests: ControllerRequest[];
  /** Re-reads Ingresses and Secrets now (certificates too, even when frozen). */
  reload(): void;
  close(): Promise<void>;
  readonly mode: 'ingress' | 'gateway';
  /** Gateway mode: the controllerName it handles. */
  readonly controllerName: string;
  /** Gateway mode: the real port serving a listener port (80 → httpPort, 443 → httpsPort, others as bound); undefined when not served. */
  gatewayPort(listenerPort: number): number | undefined;
  /** Gateway mode: status writes the API refused (a bug here or a test racing the controller). */
  readonly statusErrors: string[];
}

type PathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';

interface Location {
  path: string;
  pathType: PathType;
  backend: { namespace: string; service: string; port: number | string } | undefined;
  ingress: string;
  sslRedirect: boolean;
}

interface LoadedCertificate {
  secret: string;
  context: SecureContext;
  x509: X509Certificate;
}

interface VirtualServer {
  host: string;
  locations: Location[];
  /** Some Ingress routing this host lists it in spec.tls (what ssl-redirect keys on). */
  tlsConfigured: boolean;
  certificate: LoadedCertificate | undefined;
}

interface IngressLike {
  metadata: { namespace?: string; name?: string; creationTimestamp?: string; annotations?: Record<string, string> };
  spec?: {
    ingressClassName?: string;
    tls?: { hosts?: string[]; secretName?: string }[];
    rules?: {
      host?: string;
      http?: { paths?: { path?: string; pathType?: string; backend?: { service?: { name?: string; port?: { number?: number; name?: string } } } }[] };
    }[];
  };
}

interface SecretLike {
  metadata: { namespace?: string; name?: string; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

const STATUS_PAGES: Record<number, string> = {
  301: '301 Moved Permanently',
  302: '302 Found',
  303: '303 See Other',
  307: '307 Temporary Redirect',
  308: '308 Permanent Redirect',
  404: '404 Not Found',
  421: '421 Misdirected Request',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Temporarily Unavailable',
  504: '504 Gateway Time-out',
};

// nginx's own error pages, byte for byte in shape, so "what answered?" heuristics see nginx.
function nginxPage(status: number): string {
  const title = STATUS_PAGES[status] ?? `${status}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'server']);

let fakeCert: TestCert | undefined;
/** Generated once per test process, as ingress-nginx generates its own once at start. */
function fakeCertificate(): TestCert {
  fakeCert ??= ingressNginxFakeCertificate();
  return fakeCert;
}

function classOf(ing: IngressLike): string | undefined {
  // ingress-nginx reads the legacy annotation first when both are set.
  return ing.metadata.annotations?.['kubernetes.io/ingress.class'] ?? ing.spec?.ingressClassName;
}

function hostOf(header: string | undefined): string {
  if (!header) return '';
  // Pebble (like Go's client) sends "Host: name:port" for a non-default port; nginx matches the name.
  const h = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : (header.split(':')[0] ?? '');
  return h.toLowerCase().replace(/\.$/, '');
}

/** Kubernetes Prefix semantics: element-wise, trailing slash ignored ("/foo" matches "/foo" and "/foo/x", not "/foobar"). */
function matchLength(loc: Location, path: string): number {
  if (loc.pathType === 'Exact') return path === loc.path ? Number.MAX_SAFE_INTEGER : -1;
  if (loc.pathType === 'ImplementationSpecific') return path.startsWith(loc.path) ? loc.path.length : -1;
  const p = loc.path.length > 1 ? loc.path.replace(/\/+$/, '') : loc.path;
  if (p === '/' || path === p || path.startsWith(`${p}/`)) return p.length;
  return -1;
}

function lookupServer(servers: Map<string, VirtualServer>, host: string): VirtualServer | undefined {
  const exact = servers.get(host);
  if (exact) return exact;
  const dot = host.indexOf('.');
  return dot > 0 ? servers.get(`*${host.slice(dot)}`) : undefined;
}

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startFakeController(opts: FakeControllerOptions): Promise<FakeController> {
  const { api } = opts;
  const ingressClass = opts.ingressClass ?? 'nginx';
  const fake = fakeCertificate();
  const defaultContext = tls.createSecureContext({ cert: fake.cert, key: fake.key });
  const requests: ControllerRequest[] = [];
  // Parsed Secrets by "ns/name", kept while their resourceVersion stays the same.
  const secretCache = new Map<string, { rv: string | undefined; loaded: { crt: string; key: string; x509: X509Certificate; context: SecureContext } | undefined; problem?: string }>();
  let servers = new Map<string, VirtualServer>();
  let seenVersion = '';
  let closed = false;

  const state = {
    sslRedirect: opts.sslRedirect ?? 'off',
    frozen: opts.frozen ?? false,
  };

  /** A Secret's certificate, or why it cannot serve one. Parsed once per resourceVersion. */
  function parseSecret(s: SecretLike): LoadedCertificate | string {
    const key = `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`;
    const cached = secretCache.get(key);
    if (cached && cached.rv === s.metadata.resourceVersion) return cached.loaded ? { secret: key, context: cached.loaded.context, x509: cached.loaded.x509 } : (cached.problem ?? 'unusable');
    let loaded: { crt: string; key: string; x509: X509Certificate; context: SecureContext } | undefined;
    let problem: string | undefined;
    try {
      // ingress-nginx accepts any Secret type as long as both keys hold a matching pair.
      const crt = Buffer.from(s.data?.['tls.crt'] ?? '', 'base64').toString('utf8');
      const pem = Buffer.from(s.data?.['tls.key'] ?? '', 'base64').toString('utf8');
      if (!crt || !pem) throw new Error(`has no ${!crt ? 'tls.crt' : 'tls.key'}`);
      const x509 = new X509Certificate(crt);
      // Throws on unparsable PEM and on a key that does not belong to the certificate.
      const context = tls.createSecureContext({ cert: crt, key: pem });
      loaded = { crt, key: pem, x509, context };
    } catch (err) {
      problem = `Secret ${key} holds no usable certificate and key: ${(err as Error).message}`;
    }
    secretCache.set(key, { rv: s.metadata.resourceVersion, loaded, problem });
    return loaded ? { secret: key, context: loaded.context, x509: loaded.x509 } : (problem ?? 'unusable');
  }

  function loadSecret(namespace: string, name: string, secrets: Map<string, SecretLike>): LoadedCertificate | undefined {
    const s = secrets.get(`${namespace}/${name}`);
    if (!s) return undefined;
    const parsed = parseSecret(s);
    return typeof parsed === 'string' ? undefined : parsed;
  }

  function build(reloadCertificates: boolean): void {
    const ingresses = api
      .list<IngressLike>(INGRESSES)
      .filter((i) => classOf(i) === ingressClass)
      // The oldest Ingress wins conflicts, as in ingress-nginx.
      .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
    const secrets = new Map(api.list<SecretLike>(SECRETS).map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
    const next = new Map<string, VirtualServer>();
    for (const ing of ingresses) {
      const namespace = ing.metadata.namespace ?? 'default';
      const id = `${namespace}/${ing.metadata.name ?? ''}`;
      const sslRedirect = ing.metadata.annotations?.['nginx.ingress.kubernetes.io/ssl-redirect'] !== 'false';
      for (const rule of ing.spec?.rules ?? []) {
        const host = (rule.host ?? '').toLowerCase();
        let server = next.get(host);
        if (!server) {
          server = { host, locations: [], tlsConfigured: false, certificate: undefined };
          next.set(host, server);
        }
        for (const p of rule.http?.paths ?? []) {
          const path = p.path ?? '/';
          const pathType = (p.pathType ?? 'ImplementationSpecific') as PathType;
          if (server.locations.some((l) => l.path === path && l.pathType === pathType)) continue;
          const svc = p.backend?.service;
          const port = svc?.port?.number ?? svc?.port?.name;
          server.locations.push({
            path,
            pathType,
            backend: svc?.name !== undefined && port !== undefined ? { namespace, service: svc.name, port } : undefined,
            ingress: id,
            sslRedirect,
          });
        }
        if (!host) continue;
        // The certificate comes from this Ingress's spec.tls and a Secret of its own namespace.
        const tlsEntries = ing.spec?.tls ?? [];
        const listed = tlsEntries.find((t) => (t.hosts ?? []).some((h) => h.toLowerCase() === host));
        if (listed) server.tlsConfigured = true;
        if (server.certificate) continue;
        const candidates = listed ? [listed, ...tlsEntries.filter((t) => t !== listed)] : tlsEntries;
        for (const t of candidates) {
          if (!t.secretName) continue;
          const cert = loadSecret(namespace, t.secretName, secrets);
          // ingress-nginx logs "SSL certificate … does not contain a Common Name or Subject
          // Alternative Name for server" and keeps the default certificate.
          if (cert && cert.x509.checkHost(host) !== undefined) {
            server.certificate = cert;
            server.tlsConfigured = true;
            break;
          }
        }
      }
    }
    if (!reloadCertificates) {
      for (const [host, s] of next) s.certificate = servers.get(host)?.certificate;
    }
    servers = next;
  }

  // ---- gateway mode: configuration, status, extra listener ports ----

  const mode = opts.mode ?? 'ingress';
  const controllerName = opts.gateway?.controllerName ?? FAKE_GATEWAY_CONTROLLER;
  const invalidCertificate = opts.gateway?.invalidCertificate ?? 'default';
  const statusErrors: string[] = [];
  let gateway: GatewayConfig = { listeners: [], statuses: [], backend: () => 'ok' };
  /** Listener ports other than 80/443, bound on 127.0.0.1 as the first listener using them asks. */
  const extraPorts = new Map<number, { protocol: 'HTTP' | 'HTTPS'; state: 'binding' | 'bound' | 'failed'; server?: Server }>();
  /** Weighted backend choice: a counter per rule, so a split is exact and repeatable. */
  const spread = new Map<string, number>();

  if (mode === 'gateway') {
    if (!api.resources.lookup(GATEWAY_RESOURCES.gateways.group, 'v1', 'gateways')) {
      throw new Error('fake controller: gateway mode needs the Gateway API in the test cluster: startKubeApi({ gatewayApi: true })');
    }
    const className = opts.gateway?.gatewayClass === undefined ? 'fake' : opts.gateway.gatewayClass;
    if (className !== null && !api.get(GATEWAY_RESOURCES.gatewayClasses, undefined, className)) {
      api.create({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: className }, spec: { controllerName } });
    }
  }

  function portProtocol(port: number): 'HTTP' | 'HTTPS' | 'any' | 'unavailable' {
    if (port === 80) return 'HTTP';
    if (port === 443) return 'HTTPS';
    const bound = extraPorts.get(port);
    if (!bound) return 'any';
    return bound.state === 'failed' ? 'unavailable' : bound.protocol;
  }

  function buildGateway(reloadCertificates: boolean): void {
    const previous = new Map(gateway.listeners.map((l) => [l.id, l.certificate]));
    gateway = buildGatewayConfig({
      api,
      controllerName,
      loadSecret: (s) => parseSecret(s as SecretLike),
      portProtocol,
      hasEndpoints: (namespace, name, port) => opts.services(namespace, name, port) !== undefined,
    });
    if (!reloadCertificates) for (const l of gateway.listeners) l.certificate = previous.get(l.id);
    for (const l of gateway.listeners) {
      if (l.serving && l.port !== 80 && l.port !== 443 && !extraPorts.has(l.port)) bindExtraPort(l.port, l.protocol === 'HTTPS' ? 'HTTPS' : 'HTTP');
    }
    for (const w of gateway.statuses) writeStatus(w);
  }

  function bindExtraPort(port: number, protocol: 'HTTP' | 'HTTPS'): void {
    const entry: { protocol: 'HTTP' | 'HTTPS'; state: 'binding' | 'bound' | 'failed'; server?: Server } = { protocol, state: 'binding' };
    extraPorts.set(port, entry);
    const scheme = protocol === 'HTTPS' ? 'https' : 'http';
    const server = protocol === 'HTTPS' ? makeSecureServer(port) : http.createServer((req, res) => handleGateway(port, scheme, req, res));
    entry.server = server;
    listen(server, port).then(
      () => {
        entry.state = closed ? 'failed' : 'bound';
        if (closed) server.close();
        else sync(true);
      },
      () => {
        // Someone else holds the port: its listeners become PortUnavailable.
        entry.state = 'failed';
        sync(true);
      },
    );
  }

  const conditionKey = (c: { type: string }) => c.type;
  /** Keeps lastTransitionTime while a condition's status stays, and stamps observedGeneration. */
  function stamp(conditions: unknown, old: unknown, generation: number, now: string): Condition[] {
    const before = new Map((Array.isArray(old) ? (old as Condition[]) : []).map((c) => [conditionKey(c), c]));
    return (conditions as Omit<Condition, 'lastTransitionTime'>[]).map((c) => {
      const prev = before.get(c.type);
      return { ...c, observedGeneration: generation, lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : now };
    });
  }

  function writeStatus(w: StatusWrite): void {
    const current = api.get<KubeObject & { status?: Record<string, unknown> }>(w.ref, w.namespace, w.name);
    if (!current) return;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const old = current.status ?? {};
    const status: Record<string, unknown> = { ...w.status };
    if (status['conditions']) status['conditions'] = stamp(status['conditions'], old['conditions'], w.generation, now);
    if (Array.isArray(status['listeners'])) {
      const oldListeners = new Map((Array.isArray(old['listeners']) ? (old['listeners'] as { name: string; conditions: unknown }[]) : []).map((l) => [l.name, l.conditions]));
      status['listeners'] = (status['listeners'] as { name: string; conditions: unknown }[]).map((l) => ({ ...l, conditions: stamp(l.conditions, oldListeners.get(l.name), w.generation, now) }));
    }
    if (Array.isArray(status['parents'])) {
      const parentKey = (p: { parentRef: unknown; controllerName: string }) => `${p.controllerName} ${JSON.stringify(p.parentRef)}`;
      const oldParents = new Map((Array.isArray(old['parents']) ? (old['parents'] as { parentRef: unknown; controllerName: string; conditions: unknown }[]) : []).map((p) => [parentKey(p), p.conditions]));
      status['parents'] = (status['parents'] as { parentRef: unknown; controllerName: string; conditions: unknown }[]).map((p) =>
        p.controllerName === controllerName ? { ...p, conditions: stamp(p.conditions, oldParents.get(parentKey(p)), w.generation, now) } : p,
      );
    }
    try {
      // A write that changes nothing keeps the resourceVersion (the store drops it as a no-op).
      api.putStatus({ ...current, status });
    } catch (err) {
      const message = `status of ${w.ref.resource} ${w.namespace ? `${w.namespace}/` : ''}${w.name}: ${(err as Error).message}`;
      if (statusErrors[statusErrors.length - 1] !== message) statusErrors.push(message);
    }
  }

  function sync(force = false): void {
    if (closed) return;
    const version = api.resourceVersion;
    if (!force && version === seenVersion) return;
    if (mode === 'gateway') {
      buildGateway(force || !state.frozen);
      // Our own status writes change nothing we route by.
      seenVersion = api.resourceVersion;
      return;
    }
    seenVersion = version;
    build(force || !state.frozen);
  }
  const timer = setInterval(() => sync(), opts.pollMs ?? 100);
  timer.unref();

  function send(res: ServerResponse, status: number, body: string, headers: OutgoingHttpHeaders = {}): void {
    res.writeHead(status, { server: 'nginx', 'content-type': 'text/html', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  function handle(scheme: 'http' | 'https', req: IncomingMessage, res: ServerResponse): void {
    // Besides the poll: a request never sees a configuration older than the store (tests stay fast
    // and deterministic; a real controller lags by a second or so, which the self-check retries cover).
    sync();
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0] ?? '/';
    const sni = scheme === 'https' ? (req.socket as TLSSocket).servername : undefined;
    const host = hostOf(req.headers.host) || (typeof sni === 'string' ? sni.toLowerCase() : '');
    const record = (status: number, backend: string): void => {
      requests.push({ scheme, host, path, status, backend, userAgent: req.headers['user-agent'] });
    };
    const server = lookupServer(servers, host);
    let location: Location | undefined;
    let best = -1;
    for (const candidate of [server, host ? servers.get('') : undefined]) {
      if (!candidate) continue;
      for (const l of candidate.locations) {
        const n = matchLength(l, path);
        if (n > best) {
          best = n;
          location = l;
        }
      }
      if (location) break;
    }
    const challenge = path === ACME_CHALLENGE_PREFIX || path.startsWith(`${ACME_CHALLENGE_PREFIX}/`);
    const redirect = (to: 'http' | 'https'): void => {
      record(308, 'redirect');
      send(res, 308, nginxPage(308), { location: `${to}://${host}${url}` });
    };
    if (state.sslRedirect === 'loop') {
      if (scheme === 'http') return redirect('https');
      if (challenge) return redirect('http');
    } else if (state.sslRedirect === 'on' && scheme === 'http' && server?.tlsConfigured && (location?.sslRedirect ?? true) && !challenge) {
      return redirect('https');
    }
    if (!location) {
      record(404, 'default-backend');
      send(res, 404, 'default backend - 404', { 'content-type': 'text/plain; charset=utf-8' });
      return;
    }
    const b = location.backend;
    const target = b ? opts.services(b.namespace, b.service, b.port) : undefined;
    if (!b || !target) {
      record(503, b ? `${b.namespace}/${b.service}:${b.port}` : 'none');
      send(res, 503, nginxPage(503));
      return;
    }
    proxy(req, res, { scheme, host, path: url, target, backend: `${b.namespace}/${b.service}:${b.port}`, record });
  }

  interface ProxyRequest {
    scheme: 'http' | 'https';
    host: string;
    /** Path and query sent upstream. */
    path: string;
    target: ServiceAddress;
    backend: string;
    record: (status: number, backend: string) => void;
    listenerPort?: number;
    requestHeaders?: HTTPRouteFilter['requestHeaderModifier'];
    responseHeaders?: HTTPRouteFilter['responseHeaderModifier'];
    /** Host header sent upstream (URLRewrite hostname); default unchanged. */
    upstreamHost?: string;
  }

  function modifyHeaders(headers: OutgoingHttpHeaders, m: HTTPRouteFilter['requestHeaderModifier']): void {
    if (!m) return;
    for (const h of m.set ?? []) headers[h.name.toLowerCase()] = h.value;
    for (const h of m.add ?? []) {
      const k = h.name.toLowerCase();
      const prev = headers[k];
      headers[k] = prev === undefined ? h.value : `${Array.isArray(prev) ? prev.join(',') : String(prev)},${h.value}`;
    }
    for (const name of m.remove ?? []) delete headers[name.toLowerCase()];
  }

  function proxy(req: IncomingMessage, res: ServerResponse, p: ProxyRequest): void {
    const { scheme, host, target, backend, record } = p;
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    const remote = req.socket.remoteAddress ?? '';
    Object.assign(headers, {
      'x-real-ip': remote,
      'x-forwarded-for': remote,
      'x-forwarded-host': host,
      'x-forwarded-port': String(p.listenerPort ?? (scheme === 'https' ? 443 : 80)),
      'x-forwarded-proto': scheme,
      'x-scheme': scheme,
    });
    if (p.upstreamHost) headers['host'] = p.upstreamHost;
    modifyHeaders(headers, p.requestHeaders);
    const upstream = http.request({ host: target.host, port: target.port, method: req.method, path: p.path, headers, agent: false, timeout: 10_000 }, (up) => {
      const out: OutgoingHttpHeaders = { server: 'nginx' };
      for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      modifyHeaders(out, p.responseHeaders);
      record(up.statusCode ?? 502, backend);
      res.writeHead(up.statusCode ?? 502, out);
      up.pipe(res);
    });
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
    upstream.on('error', (e) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      record(e.message.includes('timed out') ? 504 : 502, backend);
      send(res, e.message.includes('timed out') ? 504 : 502, nginxPage(e.message.includes('timed out') ? 504 : 502));
    });
    req.pipe(upstream);
  }

  function handleGateway(listenerPort: number, scheme: 'http' | 'https', req: IncomingMessage, res: ServerResponse): void {
    sync();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    const search = q >= 0 ? url.slice(q) : '';
    const rawSni = scheme === 'https' ? (req.socket as TLSSocket).servername : undefined;
    const sni = typeof rawSni === 'string' ? rawSni.toLowerCase() : '';
    const host = hostOf(req.headers.host) || sni;
    // Filled in as the request gets routed, so every log entry says how far it got.
    const at: { listener?: string; route?: string } = {};
    const record = (status: number, backend: string): void => {
      requests.push({ scheme, host, path, status, backend, userAgent: req.headers['user-agent'], ...at });
    };
    const fail = (status: number, backend: string): void => {
      record(status, backend);
      if (status === 404) send(res, 404, 'default backend - 404', { 'content-type': 'text/plain; charset=utf-8' });
      else send(res, status, nginxPage(status));
    };
    const onPort = gateway.listeners.filter((l) => l.port === listenerPort);
    const l = selectListener(onPort, host);
    // Listener isolation across TLS and HTTP: a Host another listener should have taken is misdirected.
    if (scheme === 'https' && sni && l && selectListener(onPort, sni) !== l) return fail(421, 'misdirected');
    if (!l) return fail(404, 'default-backend');
    at.listener = l.id;
    const decision = selectRule(l, { host, path, method: req.method ?? 'GET', headers: req.headers, query: new URLSearchParams(search) });
    if (!decision) return fail(404, 'default-backend');
    const { route: r, rule, match } = decision;
    const routeNs = r.metadata.namespace ?? 'default';
    at.route = `${routeNs}/${r.metadata.name}`;
    // Filters this stand-in cannot apply must not be skipped: such requests fail (as the spec asks).
    if (unsupportedFilters(rule).length > 0 || (rule.backendRefs ?? []).some((b) => ((b as { filters?: unknown[] }).filters ?? []).length > 0)) return fail(500, 'unsupported-filter');
    const filter = (type: string) => rule.filters?.find((f) => f.type === type);
    const redirect = filter('RequestRedirect')?.requestRedirect;
    if (redirect) {
      const status = redirect.statusCode ?? 302;
      record(status, 'redirect');
      send(res, status, nginxPage(status), { location: redirectLocation(redirect, { scheme, host, path, search, listenerPort }, match) });
      return;
    }
    const refs = (rule.backendRefs ?? []).filter((b) => (b.weight ?? 1) > 0);
    const total = refs.reduce((n, b) => n + (b.weight ?? 1), 0);
    if (total === 0) return fail(500, 'none');
    const spreadKey = `${at.route ?? ''}#${decision.ruleIndex}`;
    let turn = (spread.get(spreadKey) ?? 0) % total;
    spread.set(spreadKey, turn + 1);
    let chosen: BackendRefSpec = refs[0] as BackendRefSpec;
    for (const b of refs) {
      turn -= b.weight ?? 1;
      if (turn < 0) {
        chosen = b;
        break;
      }
    }
    const ns = chosen.namespace ?? routeNs;
    const backend = `${ns}/${chosen.name}:${chosen.port ?? ''}`;
    const state = gateway.backend(r, chosen);
    if (typeof state === 'object') return fail(500, backend);
    const target = opts.services(ns, chosen.name, chosen.port ?? 0);
    if (state === 'no-endpoints' || !target) return fail(503, backend);
    const rewrite = filter('URLRewrite')?.urlRewrite;
    proxy(req, res, {
      scheme,
      host,
      path: rewrite?.path ? `${modifyPath(rewrite.path, path, match)}${search}` : url,
      target,
      backend,
      record,
      listenerPort,
      requestHeaders: filter('RequestHeaderModifier')?.requestHeaderModifier,
      responseHeaders: filter('ResponseHeaderModifier')?.responseHeaderModifier,
      ...(rewrite?.hostname ? { upstreamHost: rewrite.hostname } : {}),
    });
  }

  /** Gateway mode: the certificate of the listener SNI selects on a listener port. */
  function gatewayContext(listenerPort: number, servername: string): SecureContext | undefined {
    const l: ProgrammedListener | undefined = selectListener(
      gateway.listeners.filter((x) => x.port === listenerPort),
      servername.toLowerCase(),
    );
    if (l?.certificate) return l.certificate.context as SecureContext;
    return invalidCertificate === 'reject' ? undefined : defaultContext;
  }

  function makeSecureServer(listenerPort: number): Server {
    const server = https.createServer(
      {
        cert: fake.cert,
        key: fake.key,
        // No SNI: this callback is not called and the default (fake) certificate is served.
        SNICallback: (servername, cb) => {
          sync();
          if (mode === 'gateway') {
            const context = gatewayContext(listenerPort, servername);
            if (context) cb(null, context);
            else cb(new Error(`no usable certificate for ${servername}`));
            return;
          }
          const s = lookupServer(servers, servername.toLowerCase());
          cb(null, s?.certificate?.context ?? defaultContext);
        },
      },
      (req, res) => (mode === 'gateway' ? handleGateway(listenerPort, 'https', req, res) : handle('https', req, res)),
    );
    return server;
  }

  const servingHttp = opts.http ?? true;
  const plain = http.createServer((req, res) => (mode === 'gateway' ? handleGateway(80, 'http', req, res) : handle('http', req, res)));
  const secure = makeSecureServer(443);
  const nodePort = await listen(plain);
  // Bare metal: "port 80" is a port nobody listens on; HTTP answers on the NodePort only.
  const httpPort = servingHttp ? nodePort : await freePort();
  const httpsPort = await listen(secure);

  return {
    httpPort,
    nodePort,
    httpsPort,
    fakeCertificate: fake,
    get sslRedirect() {
      return state.sslRedirect;
    },
    set sslRedirect(m: SslRedirectMode) {
      state.sslRedirect = m;
    },
    get frozen() {
      return state.frozen;
    },
    set frozen(f: boolean) {
      state.frozen = f;
      // A controller that starts reloading again catches up at once.
      if (!f) sync(true);
    },
    requests,
    mode,
    controllerName,
    statusErrors,
    gatewayPort(listenerPort: number) {
      if (listenerPort === 80) return servingHttp ? httpPort : undefined;
      if (listenerPort === 443) return httpsPort;
      return extraPorts.get(listenerPort)?.state === 'bound' ? listenerPort : undefined;
    },
    reload: () => sync(true),
    close: async () => {
      closed = true;
      clearInterval(timer);
      const all = [plain, secure, ...[...extraPorts.values()].filter((e) => e.state === 'bound' && e.server).map((e) => e.server as Server)];
      for (const s of all) s.closeAllConnections();
      await Promise.all(all.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
