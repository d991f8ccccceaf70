// Every interface the core's orchestrators (pass.ts, audit-live.ts, routing.ts, service.ts,
// listeners.ts) need from the world. Adapters (acme/, kube/, http/, files) implement them and import
// them from here; nothing here knows about a library, and no adapter imports an orchestrator.
import type { AriWindow } from './core/ari.js';
import type { CertInfo } from './core/cert.js';
import type { KeyType } from './core/annotations.js';
import type { Ledger } from './core/ratelimits.js';
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
  /** DNS names, and IP addresses (identifier type ip, RFC 8738) for `issue`. */
  hosts: readonly string[];
  keyType: KeyType;
  /** ACME profile (draft-aaron-acme-profiles), passed through when set. */
  profile?: string;
  /**
   * The ARI certID of the certificate this order replaces (RFC 9773 §5): the CA links the two,
   * and Let's Encrypt exempts such renewals from its rate limits.
   */
  replaces?: string;
  /**
   * Called when the CA refused `replaces` (alreadyReplaced, or the field itself), before ordering
   * again without it; the new order counts against rate limits, so this may throw to stop it.
   */
  beforeOrderWithoutReplaces?: (why: string) => Promise<void>;
  signal?: AbortSignal;
  /** Runs after the answers are published and before the CA is asked to validate them. */
  beforeValidation?: (entries: readonly ChallengeEntry[]) => Promise<void>;
  /** Runs after the order, whatever its outcome. */
  afterValidation?: (entries: readonly ChallengeEntry[]) => Promise<void>;
  /**
   * Runs when the order is ready, right before the CA is asked to issue; throwing abandons the
   * order. A pass confirms here that it may still store what it gets (its lease, the API).
   */
  beforeFinalize?: () => Promise<void>;
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
  /** The profile the order was issued under, as the CA echoes it. */
  profile?: string;
  /** The certID the order replaced, when the CA accepted `replaces`. */
  replaced?: string;
  /** Why the order went without `replaces` after the CA refused it. */
  replacesDropped?: string;
}

/** What a CA's directory offers beyond RFC 8555. */
export interface CaInfo {
  directoryUrl: string;
  /** meta.profiles: name → description; absent when the CA offers none. */
  profiles?: Record<string, string>;
  /** The renewalInfo resource (RFC 9773); absent when the CA has no ARI. */
  renewalInfoUrl?: string;
}

/** The CA's answer to a renewalInfo request, or why there is none; `nextCheck` says when to ask again. */
export type RenewalInfoAnswer =
  | { kind: 'window'; window: AriWindow; nextCheck: Date }
  | { kind: 'failed'; problem: string; nextCheck: Date }
  /** The CA has no ARI, or the certificate has no certID (no Authority Key Identifier). */
  | { kind: 'unsupported'; problem: string };

export interface IssuerPort {
  readonly directoryUrl: string;
  issue(req: IssueRequest): Promise<IssuedCertificate>;
  /** The directory's profiles and ARI resource, read once per issuer. */
  caInfo(): Promise<CaInfo>;
  /** The CA's renewal window for a certificate it issued (GET renewalInfo). Never throws. */
  renewalInfo(cert: Pick<CertInfo, 'certId'>): Promise<RenewalInfoAnswer>;
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
  /** A merge patch of annotations; resolves to the Secret's new resourceVersion when the API returns it. */
  patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<string | undefined | void>;
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

/**
 * A certificate the CA issued that is not in its Target's Secret yet (the write failed, or the
 * process died before it). It holds a private key: never logged.
 */
export interface StashedCertificate {
  /** The Target it was issued for. */
  namespace: string;
  secretName: string;
  hosts: string[];
  /** Leaf and chain, PEM, as written to tls.crt. */
  fullchainPem: string;
  /** PKCS#8 PEM, as written to tls.key. */
  keyPem: string;
  /** The ACME directory that issued it. */
  issuerUrl: string;
  /** When it was kept. */
  keptAt: Date;
}

/**
 * Where issued certificates wait until they are written, so that a failed write is retried with the
 * same certificate instead of a new order (Let's Encrypt allows 5 duplicates a week).
 */
export interface CertificateStashPort {
  /** Every kept certificate, by `namespace/secretName` of its Target. */
  list(): Promise<Map<string, StashedCertificate>>;
  /** Keeps one (replacing an older one of the same Target); returns where, for messages. */
  save(cert: StashedCertificate): Promise<string>;
  remove(target: { namespace: string; secretName: string }): Promise<void>;
}

/** Failure records of Targets that have no Secret to carry them. */
export interface FailureStatePort {
  load(): Promise<Map<string, FailureRecord>>;
  save(key: string, record: FailureRecord | undefined): Promise<void>;
}

/** The rate-limit ledger (core/ratelimits.ts): a ConfigMap in the cluster, a file for `issue`. */
export interface RateLimitLedgerPort {
  /** "ConfigMap certkeeper/certkeeper-ratelimits", for messages. */
  readonly location: string;
  load(): Promise<Ledger>;
  save(ledger: Ledger): Promise<void>;
}

/** A lock held for a whole pass; `lost` aborts when another holder took it over. */
export interface HeldLock {
  readonly lost: AbortSignal;
  /**
   * Checks with the cluster that the lock is still ours (before spending an order, before a
   * finalize); false once lost. Throws when the cluster cannot be reached at all.
   */
  confirm(): Promise<boolean>;
  release(): Promise<void>;
}

export interface PassLockPort {
  /** Waits for the lock (bounded); `signal` stops the wait. */
  acquire(signal?: AbortSignal): Promise<HeldLock>;
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
  /**
   * True when the route sends every token under the challenge path to certkeeper (a Prefix path),
   * so the tokens of an order need no route of their own; absent or false for exact-path routes.
   */
  readonly anyToken?: boolean;
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
  /**
   * Per order: `prove` routes the Target's hosts and shows with a probe token of its own that they
   * reach certkeeper, before anything is asked of the CA; `before` routes and checks the order's
   * own tokens before the CA validates them; `after` removes what was presented (always call it).
   * `signal` stops waiting.
   */
  forOrder(target: Target, signal?: AbortSignal): OrderRouting;
}

export interface OrderRouting {
  prove(): Promise<void>;
  before(entries: readonly ChallengeEntry[]): Promise<void>;
  after(): Promise<void>;
}
