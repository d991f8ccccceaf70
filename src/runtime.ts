// The composition root for cluster commands: configuration → adapters → the ports a pass needs.
// `renew`, `run` and `status` build their world here, so they cannot drift apart.
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { AcmeIssuer, resolveDirectory } from './acme/issuer.js';
import { configureAcmeTransport } from './acme/transport.js';
import { parseDuration } from './core/annotations.js';
import { ConfigError } from './errors.js';
import { MemoryChallengeStore } from './http/memory-store.js';
import { startResponder, type Responder } from './http/responder.js';
import { SecretAccountStore } from './kube/account-store.js';
import { ConfigMapChallengeStore } from './kube/challenges.js';
import { loadKubeConfig } from './kube/client.js';
import { Kube } from './kube/cluster.js';
import { KubeEventRecorder } from './kube/events.js';
import { PassLease } from './kube/lease.js';
import { KubeRouting, type SelfCheckMode } from './kube/routing.js';
import { solverIngressesFor } from './kube/solver.js';
import { ConfigMapState } from './kube/state-store.js';
import type { FailureStatePort, PassOptions, PassPorts } from './pass.js';
import type { ChallengeEntry, ChallengeStore, Clock } from './ports.js';

export interface RuntimeConfig {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  selfNamespace: string;
  serviceName: string;
  servicePort: number;
  solverPathType: 'Prefix' | 'Exact' | 'ImplementationSpecific';
  solverAnnotations: [string, string][];
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
}

export interface KubeRuntime {
  kube: Kube;
  ports: PassPorts;
  events: KubeEventRecorder;
  state: ConfigMapState;
  clock: Clock;
  directoryUrl: string;
  identity: string;
  /** The local responder when answering in this process (--answer-locally). */
  responder?: Responder;
  close(): Promise<void>;
}

/** Publishes to several stores: the shared ConfigMap and, with --answer-locally, this process. */
class FanOutChallengeStore implements ChallengeStore {
  constructor(private readonly stores: ChallengeStore[]) {}
  async publish(entries: readonly ChallengeEntry[]): Promise<void> {
    await Promise.all(this.stores.map((s) => s.publish(entries)));
  }
  async remove(tokens: readonly string[]): Promise<void> {
    await Promise.all(this.stores.map((s) => s.remove(tokens)));
  }
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

export async function createKubeRuntime(cfg: RuntimeConfig, log: Logger): Promise<KubeRuntime> {
  if ((cfg.eabKid === undefined) !== (cfg.eabHmacKey === undefined)) {
    throw new ConfigError('external account binding needs both --eab-kid and --eab-hmac-key', 'copy both from your CA account page');
  }
  let caBundlePem: string | undefined;
  if (cfg.acmeCaBundle) {
    try {
      caBundlePem = await readFile(cfg.acmeCaBundle, 'utf8');
    } catch (e) {
      throw new ConfigError(`--acme-ca-bundle ${cfg.acmeCaBundle} cannot be read: ${(e as Error).message}`, 'pass a PEM file holding the CA\'s root');
    }
  }
  configureAcmeTransport(caBundlePem ? { caBundlePem } : {});
  const kube = new Kube(loadKubeConfig({ ...(cfg.kubeconfig ? { kubeconfig: cfg.kubeconfig } : {}), ...(cfg.context ? { context: cfg.context } : {}) }));
  const clock = clockWithOffset(cfg.clockOffset, cfg.clockOffsetFile);
  const identity = cfg.holderIdentity ?? `${hostname()}-${process.pid}`;
  const configMapStore = new ConfigMapChallengeStore(kube, cfg.selfNamespace);
  let responder: Responder | undefined;
  let store: ChallengeStore = configMapStore;
  if (cfg.answerLocally) {
    const local = new MemoryChallengeStore();
    responder = await startResponder({ lookup: local, port: cfg.httpPort, ...(cfg.httpAddress ? { host: cfg.httpAddress } : {}) });
    log.info({ port: responder.address.port }, 'answering HTTP-01 challenges in this process too');
    store = new FanOutChallengeStore([configMapStore, local]);
  }
  const solvers = solverIngressesFor(kube, cfg, log);
  const routing = new KubeRouting(
    solvers,
    configMapStore,
    {
      mode: cfg.selfCheck,
      timeoutMs: cfg.selfCheckTimeout,
      ...(cfg.selfCheckAddress ? { address: cfg.selfCheckAddress } : {}),
      ...(cfg.selfCheckHttpsPort ? { httpsPort: cfg.selfCheckHttpsPort } : {}),
    },
    log,
  );
  const state = new ConfigMapState(kube, cfg.selfNamespace);
  const failures: FailureStatePort = {
    load: () => state.readFailures(),
    save: (key, record) => state.writeFailure(key, record),
  };
  // A manual `kubectl exec … certkeeper renew` shares POD_NAME with the service in that pod: the
  // process id keeps their pass-lease identities apart, or each would take the other's lease as its own.
  const lease = new PassLease(kube, { namespace: cfg.selfNamespace, name: 'certkeeper-pass', identity: `${identity}/${process.pid}`, durationSeconds: Math.max(1, Math.round(cfg.leaseDuration / 1000)), waitMs: cfg.leaseWait }, log);
  const issuers = new Map<string, AcmeIssuer>();
  const directoryUrl = resolveDirectory(cfg.directory);
  const ports: PassPorts = {
    cluster: kube,
    issuer: (url) => {
      let i = issuers.get(url);
      if (!i) {
        i = new AcmeIssuer({
          directoryUrl: url,
          accountStore: new SecretAccountStore(kube, cfg.selfNamespace, url),
          challengeStore: store,
          ...(cfg.email ? { email: cfg.email } : {}),
          ...(cfg.eabKid && cfg.eabHmacKey ? { eab: { kid: cfg.eabKid, hmacKey: cfg.eabHmacKey } } : {}),
          polling: { intervalMs: cfg.acmePollInterval, maxIntervalMs: cfg.acmePollInterval * 32, timeoutMs: 180_000 },
          log,
        });
        issuers.set(url, i);
      }
      return i;
    },
    routing,
    failures,
    lock: lease,
    clock,
    log,
  };
  const events = new KubeEventRecorder(kube, log, identity);
  const runtime: KubeRuntime = {
    kube,
    ports,
    events,
    state,
    clock,
    directoryUrl,
    identity,
    close: async () => {
      await responder?.close();
    },
  };
  if (responder) runtime.responder = responder;
  return runtime;
}

/** The settings `renew` and `run` share, as PassOptions. */
export function passOptionsFrom(
  directoryUrl: string,
  cfg: {
    concurrency: number;
    force?: boolean;
    dryRun?: boolean;
    adopt?: boolean;
    renewBefore?: number | undefined;
    allIngresses?: boolean;
    ingressClass?: string | undefined;
    namespace?: string | undefined;
    ingress?: { namespace: string; name: string } | undefined;
  },
): PassOptions {
  const opts: PassOptions = { directoryUrl, resolveDirectory, concurrency: cfg.concurrency };
  if (cfg.force) opts.force = true;
  if (cfg.dryRun) opts.dryRun = true;
  if (cfg.adopt) opts.adopt = true;
  if (cfg.renewBefore !== undefined) opts.renewBeforeMs = cfg.renewBefore;
  if (cfg.allIngresses) opts.allIngresses = true;
  if (cfg.ingressClass) opts.ingressClass = cfg.ingressClass;
  if (cfg.namespace) opts.namespace = cfg.namespace;
  if (cfg.ingress) opts.ingress = cfg.ingress;
  return opts;
}
