// The one composition root: settings → adapters → what each command runs. Commands parse flags and
// print; they never construct an adapter. `renew` and `run` get the same pass ports, `check`,
// `status` and `run` the same live audit, so none of them can drift apart.
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Alerting, buildNotifiers, ConfigMapAlertStateStore, hasAlertChannels, readPassHistory, type AlertChannelConfig } from './alerting.js';
import { auditCluster, type AuditClusterOptions, type LiveProbeOptions } from './audit-live.js';
import { parseDuration, resolveDirectory } from './core/annotations.js';
import { parseCertificate } from './core/cert.js';
import type { Selection } from './core/targets.js';
import { ConfigError, errorMessage } from './errors.js';
import { onAcmeResponse } from './acme/responses.js';
import { MemoryChallengeStore } from './http/memory-store.js';
import { startResponder, type Responder } from './http/responder.js';
import { SecretAccountStore } from './kube/account-store.js';
import { kubeAuditPort } from './kube/audit-port.js';
import { ConfigMapChallengeLookup, ConfigMapChallengeStore } from './kube/challenges.js';
import { loadKubeConfig } from './kube/client.js';
import { Kube } from './kube/cluster.js';
import { KubeEventRecorder } from './kube/events.js';
import { KubeGatewayApi } from './kube/gateway-api.js';
import { LeaderElector } from './kube/leader.js';
import { PassLease } from './kube/lease.js';
import { HttpRouteSolverRoute } from './kube/solvers/httproute.js';
import { IngressSolverRoute } from './kube/solvers/ingress.js';
import { ConfigMapRateLimitLedger } from './kube/ratelimit-store.js';
import { ConfigMapState } from './kube/state-store.js';
import { SecretCertificateStash } from './kube/stash.js';
import type { Finding } from './core/findings.js';
import { eventListener, type PassListener } from './listeners.js';
import { Metrics } from './metrics.js';
import type { PassOptions, PassPorts } from './pass.js';
import type { AuditClusterPort, ChallengeEntry, ChallengeStore, Clock, ClusterPort, IssuerPort } from './ports.js';
import type { RateLimitMode } from './ratelimit-guard.js';
import { ChallengeRouting, CombinedSolverRoute, type SelfCheckMode, type SolverRoutes } from './routing.js';
import { CertkeeperService, checkSchedule } from './service.js';
import { StatusHistory } from './status-history.js';

// ---- shared pieces -------------------------------------------------------------------------------

/** The cluster connection every cluster command makes, once. */
export function connectKube(cfg: { kubeconfig?: string | undefined; context?: string | undefined }): Kube {
  return new Kube(loadKubeConfig({ ...(cfg.kubeconfig ? { kubeconfig: cfg.kubeconfig } : {}), ...(cfg.context ? { context: cfg.context } : {}) }));
}

/** The selection flags (--namespace, --ingress, --gateway, --all-ingresses, --ingress-class) as one value. */
export function selectionFrom(cfg: {
  namespace?: string | undefined;
  ingress?: { namespace: string; name: string } | undefined;
  gateway?: { namespace: string; name: string } | undefined;
  allIngresses?: boolean;
  ingressClass?: string | undefined;
}): Selection {
  const s: Selection = {};
  if (cfg.namespace) s.namespace = cfg.namespace;
  if (cfg.ingress) s.ingress = cfg.ingress;
  if (cfg.gateway) s.gateway = cfg.gateway;
  if (cfg.allIngresses) s.allIngresses = true;
  if (cfg.ingressClass) s.ingressClass = cfg.ingressClass;
  return s;
}

export function clockWithOffset(offsetMs: number | undefined, offsetFile?: string): Clock {
  if (offsetFile) {
    // Tests move a running service's time forward by writing a duration ("1250d") to the file.
    let mtime = -1;
    let offset = 0;
    return () => {
      try {
        const m = statSync(offsetFile).mtimeMs;
        if (m !== mtime) {
          mtime = m;
          offset = parseDuration(readFileSync(offsetFile, 'utf8').trim()) ?? 0;
        }
      } catch {
        offset = 0;
      }
      return new Date(Date.now() + (offsetMs ?? 0) + offset);
    };
  }
  return offsetMs ? () => new Date(Date.now() + offsetMs) : () => new Date();
}

interface SolverSettings {
  selfNamespace: string;
  serviceName: string;
  servicePort: number;
  solverPathType: 'Prefix' | 'Exact' | 'ImplementationSpecific';
  solverAnnotations: [string, string][];
  /** --namespace: with namespace-scoped RBAC, leftovers are looked for there and in certkeeper's namespace. */
  namespace?: string | undefined;
}

/**
 * Every kind of solver route, and which one serves a Target: a solver Ingress for Ingresses, an
 * HTTPRoute for Gateways, both for a Secret that Ingresses and Gateways name alike.
 */
function solverRoutes(kube: Kube, gatewayApi: KubeGatewayApi, cfg: SolverSettings, log: Logger): SolverRoutes {
  const ingress = new IngressSolverRoute(
    kube,
    { namespace: cfg.selfNamespace, serviceName: cfg.serviceName, servicePort: cfg.servicePort, pathType: cfg.solverPathType, annotations: Object.fromEntries(cfg.solverAnnotations) },
    log,
  );
  const httpRoute = new HttpRouteSolverRoute(
    gatewayApi,
    { namespace: cfg.selfNamespace, serviceName: cfg.serviceName, servicePort: cfg.servicePort, ...(cfg.namespace ? { gcNamespaces: [...new Set([cfg.selfNamespace, cfg.namespace])] } : {}) },
    log,
  );
  const both = new CombinedSolverRoute([ingress, httpRoute]);
  return {
    forTarget: (t) => {
      if (!t.gatewayRoutes?.length) return ingress;
      return t.ingresses.some((u) => (u.kind ?? 'Ingress') === 'Ingress') ? both : httpRoute;
    },
    all: [ingress, httpRoute],
  };
}

/** The pass's cluster port: client-node for Ingresses and Secrets, the Gateway API adapter for Gateways. */
function clusterPort(kube: Kube, gatewayApi: KubeGatewayApi): ClusterPort {
  return {
    listIngresses: (namespace) => kube.listIngresses(namespace),
    listTlsSecrets: (namespace) => kube.listTlsSecrets(namespace),
    listGatewayApi: (namespace) => gatewayApi.listAll(namespace),
    getSecret: (namespace, name) => kube.getSecret(namespace, name),
    createSecret: (secret) => kube.createSecret(secret),
    replaceSecret: (secret) => kube.replaceSecret(secret),
    patchSecretAnnotations: (namespace, name, annotations) => kube.patchSecretAnnotations(namespace, name, annotations),
  };
}

// ---- renew and run: the pass ---------------------------------------------------------------------

export interface RuntimeConfig extends SolverSettings {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  directory: string;
  email?: string | undefined;
  eabKid?: string | undefined;
  eabHmacKey?: string | undefined;
  acmeCaBundle?: string | undefined;
  acmePollInterval: number;
  selfCheck: SelfCheckMode;
  selfCheckAddress?: { host: string; port: number } | undefined;
  selfCheckTimeout: number;
  selfCheckHttpsPort?: number | undefined;
  leaseWait: number;
  leaseDuration: number;
  holderIdentity?: string | undefined;
  answerLocally: boolean;
  httpPort: number;
  httpAddress?: string | undefined;
  clockOffset?: number | undefined;
  clockOffsetFile?: string | undefined;
  gatewayApi: boolean;
}

export interface KubeRuntime {
  kube: Kube;
  gatewayApi: KubeGatewayApi;
  ports: PassPorts;
  events: KubeEventRecorder;
  state: ConfigMapState;
  clock: Clock;
  directoryUrl: string;
  identity: string;
  /** The local responder when answering in this process (--answer-locally). */
  responder?: Responder;
  /**
   * Aborted when something a pass relies on is gone (the local responder stopped listening): a
   * pass given it stops instead of ordering certificates nobody can validate.
   */
  lost: AbortSignal;
  close(): Promise<void>;
}

/** Publishes to several stores: the shared ConfigMap and, with --answer-locally, this process. */
class FanOutChallengeStore implements ChallengeStore {
  constructor(
    private readonly stores: ChallengeStore[],
    private readonly shared: ConfigMapChallengeStore,
  ) {}
  async publish(entries: readonly ChallengeEntry[]): Promise<void> {
    await Promise.all(this.stores.map((s) => s.publish(entries)));
  }
  async remove(tokens: readonly string[]): Promise<void> {
    await Promise.all(this.stores.map((s) => s.remove(tokens)));
  }
  clear(): Promise<number> {
    return this.shared.clear();
  }
}

async function readPem(file: string | undefined, flag: string): Promise<string | undefined> {
  if (!file) return undefined;
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${flag} ${file} cannot be read: ${errorMessage(e)}`, 'pass a PEM file holding the CA\'s root certificate');
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`${flag} ${file} holds no PEM certificate`, 'pass a PEM file holding the CA\'s root certificate');
  // Checked now: the ACME client that uses it loads only when the first order starts.
  try {
    parseCertificate(pem);
  } catch (e) {
    throw new ConfigError(`${flag} ${file}: ${errorMessage(e)}`, 'pass a PEM file holding the CA\'s root certificate');
  }
  return pem;
}

/** An issuer whose ACME client is created (and loaded) when its first order starts. */
function lazyIssuer(directoryUrl: string, create: () => Promise<IssuerPort>): IssuerPort {
  let issuer: Promise<IssuerPort> | undefined;
  const get = () => (issuer ??= create());
  return {
    directoryUrl,
    issue: async (req) => (await get()).issue(req),
    caInfo: async () => (await get()).caInfo(),
    renewalInfo: async (cert) => (await get()).renewalInfo(cert),
  };
}

export async function createKubeRuntime(cfg: RuntimeConfig, log: Logger): Promise<KubeRuntime> {
  if ((cfg.eabKid === undefined) !== (cfg.eabHmacKey === undefined)) {
    throw new ConfigError('external account binding needs both --eab-kid and --eab-hmac-key', 'copy both from your CA account page');
  }
  const caBundlePem = await readPem(cfg.acmeCaBundle, '--acme-ca-bundle');
  // The ACME client (acme-client, axios, @peculiar/*) loads when the first order starts: a pass
  // with nothing to order never loads it (a fifth of the memory of a pass over 1,000 Ingresses).
  let acmeClient: Promise<typeof import('./acme/issuer.js').AcmeIssuer> | undefined;
  const loadAcme = () =>
    (acmeClient ??= Promise.all([import('./acme/issuer.js'), import('./acme/transport.js')]).then(([{ AcmeIssuer }, { configureAcmeTransport }]) => {
      configureAcmeTransport(caBundlePem ? { caBundlePem } : {});
      return AcmeIssuer;
    }));
  const kube = connectKube(cfg);
  const gatewayApi = new KubeGatewayApi(kube, { enabled: cfg.gatewayApi }, log);
  const clock = clockWithOffset(cfg.clockOffset, cfg.clockOffsetFile);
  const identity = cfg.holderIdentity ?? `${hostname()}-${process.pid}`;
  const configMapStore = new ConfigMapChallengeStore(kube, cfg.selfNamespace);
  let responder: Responder | undefined;
  let store: ChallengeStore = configMapStore;
  const lost = new AbortController();
  let closing = false;
  if (cfg.answerLocally) {
    const local = new MemoryChallengeStore();
    responder = await startResponder({ lookup: local, port: cfg.httpPort, ...(cfg.httpAddress ? { host: cfg.httpAddress } : {}) });
    log.info({ port: responder.address.port }, 'answering HTTP-01 challenges in this process too');
    store = new FanOutChallengeStore([configMapStore, local], configMapStore);
    const port = responder.address.port;
    responder.server.once('close', () => {
      if (!closing) lost.abort(new Error(`the --answer-locally responder on port ${port} stopped listening`));
    });
  }
  const routing = new ChallengeRouting(
    store,
    solverRoutes(kube, gatewayApi, cfg, log),
    {
      mode: cfg.selfCheck,
      timeoutMs: cfg.selfCheckTimeout,
      ...(cfg.selfCheckAddress ? { address: cfg.selfCheckAddress } : {}),
      ...(cfg.selfCheckHttpsPort ? { httpsPort: cfg.selfCheckHttpsPort } : {}),
    },
    log,
  );
  const state = new ConfigMapState(kube, cfg.selfNamespace);
  // A manual `kubectl exec … certkeeper renew` shares POD_NAME with the service in that pod: the
  // process id keeps their pass-lease identities apart, or each would take the other's lease as its own.
  const lease = new PassLease(
    kube,
    { namespace: cfg.selfNamespace, name: 'certkeeper-pass', identity: `${identity}/${process.pid}`, durationSeconds: Math.max(1, Math.round(cfg.leaseDuration / 1000)), waitMs: cfg.leaseWait },
    log,
  );
  const issuers = new Map<string, IssuerPort>();
  const ports: PassPorts = {
    cluster: clusterPort(kube, gatewayApi),
    issuer: (url) => {
      let i = issuers.get(url);
      if (!i) {
        i = lazyIssuer(url, async () => {
          const AcmeIssuer = await loadAcme();
          return new AcmeIssuer({
            directoryUrl: url,
            accountStore: new SecretAccountStore(kube, cfg.selfNamespace, url),
            challengeStore: store,
            ...(cfg.email ? { email: cfg.email } : {}),
            ...(cfg.eabKid && cfg.eabHmacKey ? { eab: { kid: cfg.eabKid, hmacKey: cfg.eabHmacKey } } : {}),
            polling: { intervalMs: cfg.acmePollInterval, maxIntervalMs: cfg.acmePollInterval * 32, timeoutMs: 180_000 },
            clock,
            log,
          });
        });
        issuers.set(url, i);
      }
      return i;
    },
    routing,
    failures: { load: () => state.readFailures(), save: (key, record) => state.writeFailure(key, record) },
    stash: new SecretCertificateStash(kube, cfg.selfNamespace),
    lock: lease,
    clock,
    log,
    ledger: new ConfigMapRateLimitLedger(kube, cfg.selfNamespace),
  };
  const runtime: KubeRuntime = {
    kube,
    gatewayApi,
    ports,
    events: new KubeEventRecorder(kube, log, identity),
    state,
    clock,
    directoryUrl: resolveDirectory(cfg.directory),
    identity,
    lost: lost.signal,
    close: async () => {
      closing = true;
      await responder?.close();
    },
  };
  if (responder) runtime.responder = responder;
  return runtime;
}

/** The settings `renew` and `run` share, as PassOptions. */
export function passOptionsFrom(
  directoryUrl: string,
  cfg: Parameters<typeof selectionFrom>[0] & {
    selfNamespace: string;
    concurrency: number;
    force?: boolean;
    dryRun?: boolean;
    adopt?: boolean;
    renewBefore?: number | undefined;
    profile?: string | undefined;
    rateLimits?: RateLimitMode;
  },
): PassOptions {
  const opts: PassOptions = { selection: selectionFrom(cfg), directoryUrl, concurrency: cfg.concurrency, selfNamespace: cfg.selfNamespace };
  if (cfg.profile) opts.profile = cfg.profile;
  if (cfg.rateLimits) opts.rateLimits = cfg.rateLimits;
  if (cfg.force) opts.force = true;
  if (cfg.dryRun) opts.dryRun = true;
  if (cfg.adopt) opts.adopt = true;
  if (cfg.renewBefore !== undefined) opts.renewBeforeMs = cfg.renewBefore;
  return opts;
}

// ---- renew: alerts in CronJob mode ---------------------------------------------------------------

export interface PassAlerts {
  /** After the pass: the live audit (as the service runs it), then alerts with the stored history. */
  listeners(): readonly PassListener[];
  /** The live audit's findings to alert on with the pass's own (Secrets of unmanaged Ingresses, the probe). */
  audit(now: Date): Promise<Finding[]>;
  /** This pass succeeded: NoSuccessfulPass clears in this very run. */
  passSucceeded(startedAt: Date): void;
}

/**
 * `renew`'s alerts, for the CronJob mode where no service runs: the service's channels, the same
 * once-per-level state in the certkeeper-state ConfigMap, and NoSuccessfulPass from the pass
 * history stored there. Undefined when no webhook or email is configured, or on --dry-run.
 */
export async function createPassAlerts(
  cfg: AlertChannelConfig & AuditSettings & { schedule: string; timezone: string; dryRun?: boolean },
  runtime: KubeRuntime,
  log: Logger,
): Promise<PassAlerts | undefined> {
  if (!hasAlertChannels(cfg) || cfg.dryRun) return undefined;
  const { intervalMs } = checkSchedule(cfg.schedule, cfg.timezone);
  const alerting = new Alerting(new ConfigMapAlertStateStore(runtime.state, log), buildNotifiers(cfg, log, runtime.events), log, intervalMs);
  const history = await readPassHistory(runtime.state, runtime.clock());
  const audit = await createLiveAudit(cfg, runtime.kube, log);
  // One Ingress's pass did not look at the others: their alerts stay as they are.
  const partial = cfg.ingress !== undefined;
  return {
    listeners: () => [alerting.listener(() => ({ ...history, partial }))],
    audit: async (now) => (await auditCluster(audit.port, audit.options(now))).findings,
    passSucceeded: (startedAt) => {
      history.lastSuccessfulPass = startedAt;
    },
  };
}

// ---- check, status and run: the live audit -------------------------------------------------------

/** The settings of a live audit (`check`, `status`, the service's post-pass audit). */
export interface AuditSettings extends Partial<SolverSettings> {
  selfNamespace: string;
  namespace?: string | undefined;
  ingress?: { namespace: string; name: string } | undefined;
  gateway?: { namespace: string; name: string } | undefined;
  gatewayApi: boolean;
  allIngresses: boolean;
  ingressClass?: string | undefined;
  renewBefore?: number | undefined;
  /** The service's ACME profile (`status` and the service; `check` judges by what each Secret records). */
  profile?: string | undefined;
  /** `status` and the service name the CA in use; `check` judges by what each Secret records. */
  directory?: string | undefined;
  probe?: boolean;
  probeAddress?: { host: string; port: number } | undefined;
  probeHttpAddress?: { host: string; port: number } | undefined;
  probeHttp01?: 'on' | 'off';
  caBundle?: string | undefined;
  probeTimeout?: number;
  probeConcurrency?: number;
  selfCheckTimeout?: number;
}

export interface LiveAudit {
  port: AuditClusterPort;
  /** The audit's options at `now` (the probe's routing included). */
  options(now: Date): AuditClusterOptions;
}

function hasSolverSettings(cfg: AuditSettings): cfg is AuditSettings & SolverSettings {
  return cfg.serviceName !== undefined && cfg.servicePort !== undefined && cfg.solverPathType !== undefined && cfg.solverAnnotations !== undefined;
}

/** The live audit's cluster port and options; reads --ca-bundle once. */
export async function createLiveAudit(cfg: AuditSettings, kube: Kube, log: Logger, gatewayApi = new KubeGatewayApi(kube, { enabled: cfg.gatewayApi }, log)): Promise<LiveAudit> {
  const caBundle = await readPem(cfg.caBundle, '--ca-bundle');
  let probe: LiveProbeOptions | undefined;
  if (cfg.probe) {
    probe = { timeoutMs: cfg.probeTimeout ?? 5000, concurrency: cfg.probeConcurrency ?? 20 };
    if (cfg.probeAddress) probe.address = cfg.probeAddress;
    if (cfg.probeHttpAddress) probe.httpAddress = cfg.probeHttpAddress;
    if (caBundle !== undefined) probe.caBundle = caBundle;
    if (cfg.probeHttp01 !== 'off' && hasSolverSettings(cfg)) {
      const routing = new ChallengeRouting(new ConfigMapChallengeStore(kube, cfg.selfNamespace), solverRoutes(kube, gatewayApi, cfg, log), { mode: 'enforce', timeoutMs: cfg.selfCheckTimeout ?? 60_000 }, log);
      probe.http01 = { routing, waitMs: cfg.selfCheckTimeout ?? 60_000 };
    }
  }
  const selection = selectionFrom(cfg);
  return {
    port: kubeAuditPort(kube, { selfNamespace: cfg.selfNamespace, gatewayApi }),
    options: (now) => {
      const opts: AuditClusterOptions = { now, log, selection, selfNamespace: cfg.selfNamespace };
      if (cfg.directory) opts.directoryUrl = resolveDirectory(cfg.directory);
      if (cfg.renewBefore !== undefined) opts.renewBeforeMs = cfg.renewBefore;
      if (cfg.profile) opts.profile = cfg.profile;
      if (probe) opts.probe = probe;
      return opts;
    },
  };
}

// ---- serve and run: the responder ----------------------------------------------------------------

/** The challenge ConfigMap, watched: what every responder replica answers from. */
export function createChallengeLookup(cfg: { kubeconfig?: string | undefined; context?: string | undefined; selfNamespace: string }, log: Logger, kube = connectKube(cfg)): ConfigMapChallengeLookup {
  return new ConfigMapChallengeLookup(kube, cfg.selfNamespace, log);
}

// ---- run: the service ----------------------------------------------------------------------------

export type ServiceConfig = RuntimeConfig & AuditSettings & AlertChannelConfig & {
  schedule: string;
  timezone: string;
  runOnStart: boolean;
  adminPort: number;
  adminAddress?: string | undefined;
  leaderElection: boolean;
  leaderLeaseDuration: number;
  concurrency: number;
  adopt?: boolean;
  httpMaxConnections?: number;
};

/** `certkeeper run`: the pass runtime, the responder's lookup, the leader, alerts and metrics. */
export async function createService(cfg: ServiceConfig, log: Logger): Promise<{ service: CertkeeperService; close(): Promise<void> }> {
  const { intervalMs } = checkSchedule(cfg.schedule, cfg.timezone);
  const runtime = await createKubeRuntime({ ...cfg, answerLocally: false }, log);
  const metrics = new Metrics();
  onAcmeResponse((status) => metrics.acmeRequest(status));
  const alerting = new Alerting(new ConfigMapAlertStateStore(runtime.state, log), buildNotifiers(cfg, log, runtime.events), log, intervalMs);
  const audit = await createLiveAudit(cfg, runtime.kube, log, runtime.gatewayApi);
  const status = new StatusHistory(runtime.clock());
  // The elector reports leadership to the service, which is created right after it.
  const holder: { service?: CertkeeperService } = {};
  const leader = cfg.leaderElection
    ? new LeaderElector(
        runtime.kube,
        {
          namespace: cfg.selfNamespace,
          name: 'certkeeper-leader',
          identity: runtime.identity,
          durationMs: cfg.leaderLeaseDuration,
          now: runtime.clock,
          onChange: (isLeader) => holder.service?.onLeaderChange(isLeader),
        },
        log,
      )
    : undefined;
  const service = new CertkeeperService(
    {
      schedule: cfg.schedule,
      timezone: cfg.timezone,
      runOnStart: cfg.runOnStart,
      httpPort: cfg.httpPort,
      httpAddress: cfg.httpAddress,
      adminPort: cfg.adminPort,
      adminAddress: cfg.adminAddress,
      httpMaxConnections: cfg.httpMaxConnections,
      pass: passOptionsFrom(runtime.directoryUrl, cfg),
    },
    {
      ports: runtime.ports,
      lookup: createChallengeLookup(cfg, log, runtime.kube),
      leader,
      metrics,
      // The status page listens last, so each pass is listed with the alerts it left firing.
      listeners: (history) => [
        eventListener(runtime.events),
        metrics.listener(),
        alerting.listener(history, (alerts) => {
          metrics.setAlerts(alerts);
          status.recordAlerts(alerts);
        }),
        status.listener(),
      ],
      state: runtime.state,
      log,
      audit: async (now) => {
        const r = await auditCluster(audit.port, audit.options(now));
        return { findings: r.findings, certificates: r.certificates };
      },
      alerts: alerting,
      status,
    },
  );
  holder.service = service;
  return { service, close: () => runtime.close() };
}
