// Every interface the core's orchestrators (pass.ts, audit-live.ts, routing.ts, service.ts,
// listeners.ts) need from the world. Adapters (acme/, kube/, http/, files) implement them and import
// them from here; nothing here knows about a library, and no adapter imports an orchestrator.
import type { CertInfo } from './core/cert.js';
import type { KeyType } from './core/annotations.js';
import type { FailureRecord, SecretObject } from './core/secret.js';
import type { Target } from './core/targets.js';

/** Time as a parameter: production passes the wall clock, tests pin it. */
export type Clock = () => Date;

// ---- HTTP-01 answers -----------------------------------------------------------------------------

/** RFC 8555 §8.3: where the CA fetches http://HOST/.well-known/acme-challenge/TOKEN. */
export const ACME_CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** One pending HTTP-01 answer. Key authorizations are public by design (RFC 8555 §8.3). */
export interface ChallengeEntry {
  token: string;
  keyAuthorization: string;
  host: string;
}

/** Where pending challenge answers are published so that every responder can serve them. */
export interface ChallengeStore {
  publish(entries: readonly ChallengeEntry[]): Promise<void>;
  remove(tokens: readonly string[]): Promise<void>;
  /** Removes every answer (leftovers of a killed pass); returns how many. */
  clear?(): Promise<number>;
}

/** What a responder asks to answer a request. Synchronous: answers come from memory. */
export interface ChallengeLookup {
  lookup(token: string): string | undefined;
}

// ---- ACME ----------------------------------------------------------------------------------------

export interface StoredAccount {
  /** PKCS#8 PEM of the ACME account key. */
  keyPem: string;
  /** The account URL ("kid") the CA returned; absent until registered. */
  url?: string;
  directoryUrl: string;
  email?: string;
  createdAt?: string;
}

/** Where the ACME account key lives: a file for the standalone CLI, a Secret in the cluster. */
export interface AccountStore {
  /** Describes the location for messages ("file /root/.config/…", "Secret certkeeper/…"). */
  readonly location: string;
  load(): Promise<StoredAccount | undefined>;
  save(account: StoredAccount): Promise<void>;
}

export interface IssueRequest {
  hosts: readonly string[];
  keyType: KeyType;
  /** ACME profile (draft-aaron-acme-profiles), passed through when set. */
  profile?: string;
  signal?: AbortSignal;
  /** Runs after the answers are published and before the CA is asked to validate them. */
  beforeValidation?: (entries: readonly ChallengeEntry[]) => Promise<void>;
  /** Runs after the order, whatever its outcome. */
  afterValidation?: (entries: readonly ChallengeEntry[]) => Promise<void>;
}

export interface IssuedCertificate {
  hosts: string[];
  /** PKCS#8 PEM. Never logged. */
  keyPem: string;
  /** Leaf followed by the chain, as the CA sent it (tls.crt / fullchain.pem). */
  fullchainPem: string;
  leafPem: string;
  chainPem: string;
  info: CertInfo;
  orderUrl: string;
  issuerUrl: string;
}

export interface IssuerPort {
  readonly directoryUrl: string;
  issue(req: IssueRequest): Promise<IssuedCertificate>;
}

// ---- the cluster ---------------------------------------------------------------------------------

/** The paginated lists every reader of the cluster starts from; never one GET per object. */
export interface ClusterReadPort {
  listIngresses(namespace?: string): Promise<unknown[]>;
  /** kubernetes.io/tls Secrets (a field selector on type keeps Opaque Secrets out of memory). */
  listTlsSecrets(namespace?: string): Promise<SecretObject[]>;
  /**
   * The Gateway API objects certkeeper plans from: Gateways, ListenerSets, HTTPRoutes and
   * ReferenceGrants, each with apiVersion and kind. Undefined when the cluster does not serve the
   * Gateway API (no CRDs) or certkeeper was told not to look (--gateway-api false).
   */
  listGatewayApi?(namespace?: string): Promise<unknown[] | undefined>;
}

/** The cluster as a pass sees it: the lists, and the writes of the Secrets it keeps. */
export interface ClusterPort extends ClusterReadPort {
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  createSecret(secret: SecretObject): Promise<SecretObject>;
  replaceSecret(secret: SecretObject): Promise<SecretObject>;
  patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void>;
}

/** The cluster reads of the live audit (`check`, `status`, the service's audit). */
export interface AuditClusterPort extends ClusterReadPort {
  /**
   * Secrets of any type named `name`. Adapters should search every namespace (that is how a copy
   * in the wrong namespace is found); `namespaces` are where the Ingresses needing it live, the
   * minimum to search when cluster-wide reads are forbidden.
   */
  listSecretsNamed(name: string, namespaces: readonly string[]): Promise<SecretObject[]>;
  /** Failure records of Targets that have no Secret to carry them (certkeeper's state ConfigMap). */
  loadFailures?(): Promise<Map<string, FailureRecord>>;
}

/** Failure records of Targets that have no Secret to carry them. */
export interface FailureStatePort {
  load(): Promise<Map<string, FailureRecord>>;
  save(key: string, record: FailureRecord | undefined): Promise<void>;
}

/** A lock held for a whole pass; `lost` aborts when another holder took it over. */
export interface HeldLock {
  readonly lost: AbortSignal;
  /** Checks with the cluster that the lock is still ours (before spending an order); false once lost. */
  confirm(): Promise<boolean>;
  release(): Promise<void>;
}

export interface PassLockPort {
  acquire(): Promise<HeldLock>;
}

/**
 * A Kubernetes Event on the object that names a certificate's Secret (an Ingress, a Gateway or a
 * ListenerSet): `kubectl describe` shows it next to the controller's.
 */
export interface IngressEvent {
  involvedObject: { kind: 'Ingress' | 'Gateway' | 'ListenerSet'; namespace: string; name: string };
  type: 'Normal' | 'Warning';
  /** The CamelCase reason: an outcome's reason or an alert code. */
  reason: string;
  message: string;
}

/** The Event kind for an object that names a certificate's Secret (IngressRef.kind). */
export function eventKind(kind: string | undefined): IngressEvent['involvedObject']['kind'] {
  return kind === 'Gateway' || kind === 'ListenerSet' ? kind : 'Ingress';
}

export interface EventRecorder {
  record(e: IngressEvent): Promise<void>;
}

// ---- challenge routes ----------------------------------------------------------------------------

/** What a solver route must route to certkeeper for one order or one probe. */
export interface RouteRequest {
  /** The Target the route serves (its kind, class and parent decide where the route attaches). */
  target: Pick<Target, 'namespace' | 'secretName' | 'ingressClass' | 'gatewayRoutes' | 'ingresses'>;
  hosts: readonly string[];
  /** Tokens whose exact paths must reach certkeeper (exact-path routes need each one). */
  tokens: readonly string[];
  /** Who asked, for the route's annotations and the log ("shop/web-tls", "certkeeper-check-probe"). */
  purpose: string;
}

export interface PresentedRoute {
  /** "Ingress certkeeper/certkeeper-solver-3f2a…", for log lines and notes. */
  readonly description: string;
  cleanUp(): Promise<void>;
}

/**
 * One way of routing http://HOST/.well-known/acme-challenge/TOKEN through the user's controller to
 * certkeeper's Service (certmagic's solvers): a solver Ingress, or an HTTPRoute.
 */
export interface SolverRoute {
  /** Targets with the same key can share one presented route (`check --probe` routes many hosts at once). */
  groupKey(target: RouteRequest['target']): string;
  present(req: RouteRequest): Promise<PresentedRoute>;
  /** Removes the routes of killed passes; returns what was removed, for the log. */
  collectGarbage(): Promise<string[]>;
}

/** How challenge traffic reaches certkeeper for one order: route, prove, clean up. */
export interface RoutingPort {
  /** Removes leftovers of killed passes (routes, answers); returns what was removed, for the log. */
  collectGarbage(): Promise<string[]>;
  /** Per order: route and prove the hosts before the CA validates, unroute after. */
  forOrder(target: Target): {
    before(entries: readonly ChallengeEntry[]): Promise<void>;
    after(entries: readonly ChallengeEntry[]): Promise<void>;
  };
}
