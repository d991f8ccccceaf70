// One pass: plan → issue what is due → write Secrets → audit. The cron service and the one-shot
// `renew` run exactly this. It depends on ports (below), not on libraries: the kube adapter, the
// ACME adapter and the clock are passed in.
//
// Two promises it keeps under failure. A certificate the CA issued is kept (ports.stash) before its
// Secret is written, and a later attempt writes the kept one instead of ordering again. A pass that
// cannot go on (the API server gone, a signal) stops every Target: nothing is ordered after that
// decision, orders under way are abandoned before their certificate is issued, and the pass
// returns with the cause once everything it started has settled.
import type { Logger } from 'pino';
import { AriRefresher } from './ari-refresh.js';
import { mapBounded } from './bounded.js';
import { resolveDirectory } from './core/annotations.js';
import type { CertInfo } from './core/cert.js';
import { auditSecret } from './core/checks.js';
import { describeObject, finding, type Finding } from './core/findings.js';
import type { AriWindow } from './core/ari.js';
import { decide, judgeKept, type Decision } from './core/policy.js';
import { checkProfileOffered, checkProfileRules, type OrderIdentifier } from './core/profiles.js';
import { describePlan, nextRetry, renewalPlan, type RenewalBasis } from './core/renewal.js';
import { ANNOTATION, buildTlsSecret, failureAnnotations, failureKey, isManaged, readFailureRecord, viewSecret, type FailureRecord, type SecretObject } from './core/secret.js';
import { mergePlans, planGateways } from './core/gateways.js';
import { listNamespaceOf, planTargets, type Selection, type Target } from './core/targets.js';
import { isoSeconds } from './core/time.js';
import { AcmeError, CertkeeperError, ClusterError, errorMessage, isApiUnreachable, OrderRefusedError, SelfCheckError } from './errors.js';
import type {
  CertificateStashPort,
  Clock,
  ClusterPort,
  FailureStatePort,
  HeldLock,
  IssuerPort,
  IssueRequest,
  PassLockPort,
  RateLimitLedgerPort,
  RoutingPort,
  StashedCertificate,
} from './ports.js';
import { RateLimitGuard, type RateLimitMode } from './ratelimit-guard.js';

export interface PassPorts {
  cluster: ClusterPort;
  /** The issuer for an ACME directory URL (one account per CA). */
  issuer(directoryUrl: string): IssuerPort;
  routing: RoutingPort;
  failures: FailureStatePort;
  /** Issued certificates kept until their Secret is written. */
  stash: CertificateStashPort;
  lock: PassLockPort;
  clock: Clock;
  log: Logger;
  /** Where the rate-limit ledger lives (core/ratelimits.ts); without it no limits are checked ahead. */
  ledger?: RateLimitLedgerPort;
}

export interface PassOptions {
  selection: Selection;
  /** The service-wide ACME directory URL; a Target's certkeeper.dev/ca overrides it. */
  directoryUrl: string;
  force?: boolean;
  dryRun?: boolean;
  adopt?: boolean;
  renewBeforeMs?: number;
  concurrency?: number;
  /** Stops the pass (SIGTERM, the local responder gone): no order starts after it fires. */
  signal?: AbortSignal;
  /** The service's ACME profile; a Target's certkeeper.dev/profile wins. */
  profile?: string;
  /** Which CAs the rate-limit ledger holds orders back for (default auto: Let's Encrypt's). */
  rateLimits?: RateLimitMode;
  /** certkeeper's namespace (its Service): where a Gateway's solver HTTPRoute goes when the listener admits it. */
  selfNamespace?: string;
  /**
   * How long after this pass the next scheduled one runs (the service's schedule, or the
   * CronJob's): a certificate whose ARI moment falls before it renews in this pass (RFC 9773 §4.2).
   */
  nextPassInMs?: number;
}

export type OutcomeResult = 'issued' | 'renewed' | 'skipped' | 'refused' | 'failed' | 'planned';

export interface TargetOutcome {
  target: Target;
  result: OutcomeResult;
  /** The CamelCase reason: a policy check name, or the failure's problem. */
  reason: string;
  message: string;
  hint?: string;
  notBefore?: Date;
  notAfter?: Date;
  renewAt?: Date;
  serial?: string;
  issuer?: string;
  failure?: FailureRecord;
  /** The ACME problem type when an order failed. */
  problem?: string;
  /** After the pass: the Secret holds a certificate that works for every host (no audit error). */
  valid?: boolean;
  /** The profile the certificate was issued under (recorded on the Secret). */
  profile?: string;
  /** What renewAt follows: the CA's ARI window, the lifetime ratio or renewBefore. */
  renewalBasis?: RenewalBasis;
  /** The CA's ARI window, when one is known for the certificate. */
  ari?: AriWindow;
  /** The certID a renewal named in `replaces`, when the CA accepted it. */
  replaced?: string;
  /** The ACME order that issued the certificate (its URL at the CA). */
  orderUrl?: string;
}

export interface PassResult {
  startedAt: Date;
  finishedAt: Date;
  outcomes: TargetOutcome[];
  /** Spec findings of the plan, and audit findings of every Target's Secret after the pass. */
  findings: Finding[];
  /** Orders started at the CA (a route that failed its self-check starts none). */
  ordersPlaced: number;
  /** Orders that ended with a certificate. */
  certificatesIssued: number;
  secretsWritten: number;
  garbageCollected: string[];
  dryRun: boolean;
  /** False when any Target failed or was refused, or the pass stopped. */
  ok: boolean;
  /** Every selected Target's Secret holds a valid certificate for its hosts after the pass. */
  allValid: boolean;
  /** Why the pass stopped before it was done (API unreachable, a signal), when it did. */
  stopped?: string;
}

const WRITTEN = 'written into its Secret';

/** A certificate on its way into its Secret: just issued, or kept from an earlier attempt. */
interface IssuedForWrite {
  fullchainPem: string;
  keyPem: string;
  info: CertInfo;
  issuerUrl: string;
  profile?: string;
  replaced?: string;
  replacesDropped?: string;
  orderUrl?: string;
}

/** The pass's lease was taken over by another pass: the order at hand must not be finalized. */
class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

export async function runPass(ports: PassPorts, opts: PassOptions): Promise<PassResult> {
  const startedAt = ports.clock();
  opts.signal?.throwIfAborted();
  const lock = opts.dryRun ? undefined : await ports.lock.acquire(opts.signal);
  try {
    return await new Pass(ports, opts, startedAt, lock).run();
  } finally {
    await lock?.release();
  }
}

class Pass {
  private ordersPlaced = 0;
  private certificatesIssued = 0;
  /** Findings raised while issuing (a failed self-check's Http01 findings). */
  private readonly issueFindings: Finding[] = [];
  private secretsWritten = 0;
  /** Aborted when the pass must stop: the cause is its reason. */
  private readonly halt = new AbortController();
  private stopCause: string | undefined;
  private kept = new Map<string, StashedCertificate>();
  private failureState = new Map<string, FailureRecord>();
  private readonly ari: AriRefresher;
  private readonly limits: RateLimitGuard;

  constructor(
    private readonly ports: PassPorts,
    private readonly opts: PassOptions,
    private readonly startedAt: Date,
    /** The pass lease: once another pass took it over, no order may start. */
    private readonly lock: HeldLock | undefined,
  ) {
    this.ari = new AriRefresher({ issuer: (url) => ports.issuer(url), cluster: ports.cluster, clock: ports.clock, log: ports.log, ...(opts.dryRun ? { dryRun: true } : {}) });
    this.limits = new RateLimitGuard(ports.ledger, opts.rateLimits ?? 'auto', ports.clock, ports.log);
  }

  private get log(): Logger {
    return this.ports.log;
  }

  async run(): Promise<PassResult> {
    const external = this.opts.signal;
    const onAbort = () => this.stop(external?.reason);
    if (external?.aborted) onAbort();
    external?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.runInner();
    } finally {
      external?.removeEventListener('abort', onAbort);
    }
  }

  private async runInner(): Promise<PassResult> {
    const { ports, opts, log } = this;
    const garbage = opts.dryRun ? [] : await ports.routing.collectGarbage();
    if (garbage.length > 0) log.info({ removed: garbage }, `removed ${garbage.length} leftover solver object(s) of an interrupted pass`);

    const listNamespace = listNamespaceOf(opts.selection);
    const [ingresses, secrets, failures, kept] = await Promise.all([
      ports.cluster.listIngresses(listNamespace),
      ports.cluster.listTlsSecrets(listNamespace),
      ports.failures.load(),
      ports.stash.list(),
    ]);
    this.failureState = failures;
    this.kept = kept;
    // After the Ingress lists, not beside them: when the cluster cannot be read, their error is the
    // one reported, and no Gateway list is left retrying in the background of a finished command.
    const gatewayApi = await ports.cluster.listGatewayApi?.(listNamespace);
    const plan = mergePlans(
      planTargets(ingresses, opts.selection),
      planGateways(gatewayApi ?? [], { ...opts.selection, ...(opts.selfNamespace !== undefined ? { selfNamespace: opts.selfNamespace } : {}) }),
    );
    const byName = new Map<string, SecretObject>();
    for (const s of secrets) byName.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    log.debug({ ingresses: ingresses.length, gatewayApiObjects: gatewayApi?.length ?? 0, targets: plan.targets.length, secrets: secrets.length, kept: kept.size }, 'planned');
    // What a Gateway controller reported about its listeners before this pass is the live audit's
    // news (`check`, the service's audit), not the pass's: a missing Secret it complains about is
    // the one this pass writes.
    plan.findings = plan.findings.filter((f) => f.code !== 'ListenerRefsNotResolved' && f.code !== 'ListenerNotProgrammed');
    for (const f of plan.findings) {
      log.warn({ code: f.code, object: describeObject(f.object), host: f.host, hint: f.hint }, f.message);
    }

    const outcomes = await mapBounded(plan.targets, opts.concurrency ?? 5, (target) => this.guarded(target, () => this.handle(target, byName)));
    if (!opts.dryRun && !this.halt.signal.aborted) await this.dropOrphanedKept(plan.targets);
    const findings = [...plan.findings, ...this.issueFindings];
    // Audit what each Target's Secret holds now (after the writes), with the same checks as `check`.
    for (const o of outcomes) {
      const key = `${o.target.namespace}/${o.target.secretName}`;
      const audit = auditSecret(o.target, byName.get(key), { now: ports.clock() });
      o.valid = !audit.some((f) => f.severity === 'error');
      findings.push(...audit.filter((f) => f.code !== 'SecretNotManaged' || o.result !== 'refused'));
    }
    const ok = this.stopCause === undefined && outcomes.every((o) => o.result !== 'failed' && o.result !== 'refused');
    const result: PassResult = {
      startedAt: this.startedAt,
      finishedAt: ports.clock(),
      outcomes,
      findings,
      ordersPlaced: this.ordersPlaced,
      certificatesIssued: this.certificatesIssued,
      secretsWritten: this.secretsWritten,
      garbageCollected: garbage,
      dryRun: opts.dryRun ?? false,
      ok,
      allValid: outcomes.every((o) => o.valid),
    };
    if (this.stopCause !== undefined) result.stopped = this.stopCause;
    return result;
  }

  /** The decision to stop: once, with its cause; every Target checks it before its next step. */
  private stop(cause: unknown): void {
    if (this.halt.signal.aborted) return;
    this.stopCause = errorMessage(cause ?? 'stopped');
    this.halt.abort(cause instanceof Error ? cause : new Error(this.stopCause));
    this.log.error({ cause: this.stopCause }, `stopping the pass: ${this.stopCause}; no order starts after this, and orders under way are abandoned before their certificate is issued`);
  }

  /** One Target, whatever happens: an unreachable API stops the pass, anything else fails only this Target. */
  private async guarded(target: Target, fn: () => Promise<TargetOutcome>): Promise<TargetOutcome> {
    if (this.halt.signal.aborted) return this.notDone(target, undefined, 'not started');
    try {
      return await fn();
    } catch (e) {
      if (isApiUnreachable(e)) this.stop(e);
      if (this.halt.signal.aborted) return this.notDone(target, undefined, 'not finished');
      const name = `${target.namespace}/${target.secretName}`;
      this.log.error({ target: name, err: errorMessage(e) }, `failed ${name}: ${errorMessage(e)}`);
      const o: TargetOutcome = { target, result: 'failed', reason: 'IssuanceFailed', message: errorMessage(e) };
      const hint = e instanceof CertkeeperError ? e.hint : undefined;
      if (hint) o.hint = hint;
      return o;
    }
  }

  /** A Target the stopped pass did not finish. Its backoff is untouched: the Target did nothing wrong. */
  private notDone(target: Target, existing: CertInfo | undefined, what: string): TargetOutcome {
    const o: TargetOutcome = {
      target,
      result: 'failed',
      reason: 'PassStopped',
      message: `${what}: the pass stopped (${this.stopCause ?? 'stopped'})`,
      hint: 'fix the cause and run certkeeper renew again; nothing of this Target was ordered or written after the pass stopped',
    };
    this.describeExisting(o, existing, undefined, undefined);
    return o;
  }

  private directoryFor(target: Target): string {
    return target.settings.ca ? resolveDirectory(target.settings.ca) : this.opts.directoryUrl;
  }

  private async handle(target: Target, secrets: Map<string, SecretObject>): Promise<TargetOutcome> {
    const { ports, opts } = this;
    const name = `${target.namespace}/${target.secretName}`;
    const issuerUrl = this.directoryFor(target);
    let secret = secrets.get(name);
    if (!secret && !opts.dryRun) {
      // Not among the kubernetes.io/tls Secrets: it may still exist with another type. One GET,
      // only for missing Secrets, so an order is never spent on a name we cannot write.
      secret = await ports.cluster.getSecret(target.namespace, target.secretName);
      if (secret) secrets.set(name, secret);
    }
    // The CA's ARI window decides with the lifetime ratio: bring it up to date first.
    const refreshed = await this.ari.refresh(secret, issuerUrl, { renewBeforeMs: this.renewBeforeFor(target) });
    if (refreshed && refreshed !== secret) {
      secret = refreshed;
      secrets.set(name, refreshed);
    }
    const input: Parameters<typeof decide>[0] = { target, secret, now: ports.clock(), issuerUrl };
    const profile = this.profileFor(target);
    if (profile) input.profile = profile;
    if (opts.force) input.force = true;
    if (opts.adopt) input.adopt = true;
    if (opts.renewBeforeMs !== undefined) input.renewBeforeMs = opts.renewBeforeMs;
    if (opts.nextPassInMs !== undefined) input.nextPassAt = new Date(input.now.getTime() + opts.nextPassInMs);
    const stored = this.failureState.get(failureKey(target));
    if (stored) input.failure = stored;
    const decision = decide(input);
    const kept = this.kept.get(name);
    const base = { target };
    if (decision.action === 'refuse') {
      this.log.warn({ target: name, reason: decision.reason, hint: decision.hint }, `refuse ${name}: ${decision.message}`);
      return { ...base, result: 'refused', reason: decision.reason, message: decision.message, hint: decision.hint };
    }
    if (decision.action === 'skip' && decision.reason === 'UpToDate' && kept && !opts.dryRun) {
      // Up to date while a certificate is kept. Written but not yet removed (the process died in
      // between), or superseded by another pass: not needed. But a newer one comes from a forced
      // renewal whose write failed (a key rotated after a compromise, say): that one is written.
      const verdict = judgeKept({ target, kept, now: ports.clock(), issuerUrl, ...(this.renewBeforeFor(target) !== undefined ? { renewBeforeMs: this.renewBeforeFor(target) } : {}) });
      const current = decision.existing;
      if (verdict.use && current && verdict.info.fingerprint !== current.fingerprint && verdict.info.notBefore > current.notBefore) {
        const forced: Extract<Decision, { action: 'issue' }> = {
          action: 'issue',
          reason: 'Forced',
          message: `an earlier forced renewal issued a newer certificate (kept since ${isoSeconds(kept.keptAt)}) that could not be written then`,
          renewal: true,
          existing: current,
        };
        this.log.info({ target: name, reason: forced.reason }, `renew ${name}: ${forced.message}; writing it now`);
        return this.writeAndReport(target, forced, secret, secrets, { fullchainPem: kept.fullchainPem, keyPem: kept.keyPem, info: verdict.info, issuerUrl: kept.issuerUrl }, { kept: true, keptSince: kept.keptAt });
      }
      await this.dropKept(
        target,
        !verdict.use ? `it cannot be used: ${verdict.because}` : current && verdict.info.fingerprint === current.fingerprint ? 'it is already in the Secret' : 'the Secret holds a newer valid certificate',
      );
    }
    if (decision.action === 'skip') {
      let message = decision.message;
      if (kept && decision.reason === 'InBackoff') message += `; the certificate issued at ${isoSeconds(kept.keptAt)} is kept and is written then, without a new order`;
      this.log.info({ target: name, reason: decision.reason }, `skip ${name}: ${message}`);
      const o: TargetOutcome = { ...base, result: 'skipped', reason: decision.reason, message };
      this.describeExisting(o, decision.existing, decision.renewAt, secret);
      if (decision.failure) o.failure = decision.failure;
      return o;
    }
    const verb = decision.renewal ? 'renew' : 'issue';
    if (kept) {
      const verdict = judgeKept({ target, kept, now: ports.clock(), issuerUrl, ...(this.renewBeforeFor(target) !== undefined ? { renewBeforeMs: this.renewBeforeFor(target) } : {}) });
      if (verdict.use) {
        if (opts.dryRun) {
          this.log.info({ target: name, reason: decision.reason }, `would write ${name}: the certificate issued at ${isoSeconds(kept.keptAt)} is kept and still good (no new order)`);
          const o: TargetOutcome = { ...base, result: 'planned', reason: decision.reason, message: `would write the certificate kept since ${isoSeconds(kept.keptAt)} (no new order): ${decision.message}` };
          this.describeExisting(o, decision.existing, undefined, secret);
          return o;
        }
        this.log.info({ target: name, reason: decision.reason }, `${verb} ${name}: ${decision.message}; writing the certificate kept since ${isoSeconds(kept.keptAt)} instead of ordering`);
        return this.writeAndReport(target, decision, secret, secrets, { fullchainPem: kept.fullchainPem, keyPem: kept.keyPem, info: verdict.info, issuerUrl: kept.issuerUrl }, { kept: true, keptSince: kept.keptAt });
      }
      if (!opts.dryRun) await this.dropKept(target, `it cannot be used: ${verdict.because}`);
    }
    if (opts.dryRun) {
      this.log.info({ target: name, reason: decision.reason, hosts: target.hosts }, `would ${verb} ${name}: ${decision.message}`);
      const o: TargetOutcome = { ...base, result: 'planned', reason: decision.reason, message: `would ${verb}: ${decision.message}` };
      this.describeExisting(o, decision.existing, undefined, secret);
      return o;
    }
    this.log.info({ target: name, reason: decision.reason, hosts: target.hosts, issuer: issuerUrl }, `${verb} ${name}: ${decision.message}`);
    return this.issueAndWrite(target, decision, secret, issuerUrl, secrets);
  }

  private renewBeforeFor(target: Target): number | undefined {
    return target.settings.renewBeforeMs ?? this.opts.renewBeforeMs;
  }

  private profileFor(target: Target): string | undefined {
    return target.settings.profile ?? this.opts.profile;
  }

  /** The facts of the certificate the Secret holds now; `withFailure` copies its failure record too. */
  private describeExisting(o: TargetOutcome, info: CertInfo | undefined, renewAt: Date | undefined, secret: SecretObject | undefined, withFailure = true): void {
    if (info) {
      o.notBefore = info.notBefore;
      o.notAfter = info.notAfter;
      o.serial = info.serial;
      o.issuer = info.issuerCN ?? info.issuer;
      const view = secret ? viewSecret(secret) : undefined;
      const plan = renewalPlan(info, { renewBeforeMs: this.renewBeforeFor(o.target), ari: view?.ari });
      o.renewAt = renewAt ?? plan.renewAt;
      o.renewalBasis = plan.basis;
      if (plan.ari) o.ari = plan.ari;
      if (view?.profile) o.profile = view.profile;
    }
    const recorded = withFailure ? readFailureRecord(secret?.metadata.annotations) : undefined;
    if (recorded) o.failure = recorded;
  }

  /** The certID the order replaces: the Secret's certificate, when this CA issued it and has ARI. */
  private async replacesFor(issuer: IssuerPort, existing: CertInfo | undefined, secret: SecretObject | undefined, issuerUrl: string): Promise<string | undefined> {
    if (!existing?.certId) return undefined;
    const recorded = secret?.metadata.annotations?.[ANNOTATION.issuer];
    // Another CA cannot link its order to a certificate it never issued.
    if (recorded !== undefined && recorded !== issuerUrl) return undefined;
    // RFC 9773 §5 is an extension: a CA without renewalInfo does not know the field.
    const info = await issuer.caInfo().catch(() => undefined);
    return info?.renewalInfoUrl ? existing.certId : undefined;
  }

  /**
   * What the CA would refuse, refused here before an order spends anything: Let's Encrypt's
   * profile rules, a profile the CA does not offer, a published rate limit the order would exceed.
   */
  private async beforeOrder(issuer: IssuerPort, order: { issuerUrl: string; profile: string | undefined; hosts: readonly string[]; replaces: string | undefined }): Promise<void> {
    const identifiers: OrderIdentifier[] = order.hosts.map((value) => ({ type: 'dns', value }));
    const rule = checkProfileRules(order.profile, identifiers, order.issuerUrl);
    if (rule) throw new OrderRefusedError(rule.code, rule.message, rule.hint);
    if (order.profile !== undefined) {
      // A directory that cannot be read fails the order below, with its backoff; nothing to judge here.
      const info = await issuer.caInfo().catch(() => undefined);
      const offered = info ? checkProfileOffered(order.profile, info.profiles, order.issuerUrl) : undefined;
      if (offered) throw new OrderRefusedError(offered.code, offered.message, offered.hint);
    }
    await this.limits.check({ directoryUrl: order.issuerUrl, names: order.hosts, replaces: order.replaces });
  }

  private refusedBeforeOrder(target: Target, decision: Extract<Decision, { action: 'issue' }>, secret: SecretObject | undefined, e: OrderRefusedError): TargetOutcome {
    const name = `${target.namespace}/${target.secretName}`;
    this.log.warn({ target: name, reason: e.code, hint: e.hint }, `refuse ${name} before ordering (${decision.reason}): ${e.message}`);
    const first = target.ingresses[0];
    const ref = e.code === 'RateLimitAhead' || !first ? { kind: 'Secret', namespace: target.namespace, name: target.secretName } : { kind: 'Ingress', namespace: first.namespace, name: first.name };
    this.issueFindings.push(finding(e.code, ref, `${name}: ${e.message}`, e.hint ?? ''));
    const o: TargetOutcome = { target, result: 'refused', reason: e.code, message: e.message, hint: e.hint ?? '' };
    this.describeExisting(o, decision.existing, undefined, secret, false);
    return o;
  }

  /** Before the CA issues: still the lease holder, and the pass still going. Throws to abandon the order. */
  private async mayFinalize(): Promise<void> {
    this.halt.signal.throwIfAborted();
    let mine: boolean;
    try {
      mine = this.lock ? await this.lock.confirm() : true;
    } catch (e) {
      if (isApiUnreachable(e)) this.stop(e);
      throw e;
    }
    if (!mine) throw new LeaseLostError('this pass lost the certkeeper-pass Lease');
    this.halt.signal.throwIfAborted();
  }

  private async issueAndWrite(
    target: Target,
    decision: Extract<Decision, { action: 'issue' }>,
    secret: SecretObject | undefined,
    issuerUrl: string,
    secrets: Map<string, SecretObject>,
  ): Promise<TargetOutcome> {
    const { ports } = this;
    const issuer = ports.issuer(issuerUrl);
    const profile = this.profileFor(target);
    // RFC 9773 §5: a renewal names the certificate it replaces.
    const replaces = decision.renewal ? await this.replacesFor(issuer, decision.existing, secret, issuerUrl) : undefined;
    try {
      await this.beforeOrder(issuer, { issuerUrl, profile, hosts: target.hosts, replaces });
    } catch (e) {
      if (e instanceof OrderRefusedError) return this.refusedBeforeOrder(target, decision, secret, e);
      throw e;
    }
    if (this.lock && !(await this.lock.confirm())) return this.stopped(target, decision, 'not ordered');
    if (this.halt.signal.aborted) return this.notDone(target, decision.existing, 'not ordered');
    const routing = ports.routing.forOrder(target, this.halt.signal);
    let issued: IssuedForWrite | undefined;
    let keptIn: string | undefined;
    try {
      // The route is proven before the CA is asked: a route that does not answer costs no order.
      await routing.prove();
      if (this.halt.signal.aborted) return this.notDone(target, decision.existing, 'not ordered');
      this.ordersPlaced++;
      const req: IssueRequest = {
        hosts: target.hosts,
        keyType: target.settings.keyType,
        signal: this.halt.signal,
        beforeValidation: routing.before,
        beforeFinalize: () => this.mayFinalize(),
      };
      if (profile) req.profile = profile;
      if (replaces) {
        req.replaces = replaces;
        // Without `replaces` the order is no longer exempt: the ledger gets its say again.
        req.beforeOrderWithoutReplaces = () => this.limits.check({ directoryUrl: issuerUrl, names: target.hosts });
      }
      const cert = await issuer.issue(req);
      this.certificatesIssued++;
      issued = { fullchainPem: cert.fullchainPem, keyPem: cert.keyPem, info: cert.info, issuerUrl, orderUrl: cert.orderUrl };
      if (cert.profile) issued.profile = cert.profile;
      if (cert.replaced) issued.replaced = cert.replaced;
      if (cert.replacesDropped) issued.replacesDropped = cert.replacesDropped;
      if (!cert.replaced) {
        // Orders that replaced a certificate are exempt from the CA's limits and are not counted.
        await this.limits.orderPlaced(issuerUrl);
        await this.limits.certificateIssued(issuerUrl, target.hosts);
      }
      // Kept before anything else happens: if the write fails or the process dies now, the next
      // attempt writes this certificate instead of ordering a duplicate.
      keptIn = await this.keep(target, issued);
    } catch (e) {
      if (e instanceof OrderRefusedError) return this.refusedBeforeOrder(target, decision, secret, e);
      if (e instanceof AcmeError && e.problem.failedHosts && !replaces) {
        await this.limits.orderPlaced(issuerUrl);
        await this.limits.validationFailed(issuerUrl, e.problem.failedHosts);
      }
      if (e instanceof LeaseLostError) return this.stopped(target, decision, 'abandoned before the certificate was issued');
      if (isApiUnreachable(e)) this.stop(e);
      if (this.halt.signal.aborted) {
        return this.notDone(target, decision.existing, this.ordersPlaced > 0 && !(e instanceof SelfCheckError) ? 'the order under way was abandoned before its certificate was issued' : 'not ordered');
      }
      const failed = await this.recordFailure(target, secret, e, decision);
      // The old certificate is still what is served: report its dates for alerts and metrics.
      this.describeExisting(failed, decision.existing, undefined, secret, false);
      return failed;
    } finally {
      await routing.after();
    }
    return this.writeAndReport(target, decision, secret, secrets, issued, { kept: keptIn !== undefined });
  }

  /** Keeps an issued certificate until it is written; returns where, or undefined when it could not be kept. */
  private async keep(target: Target, cert: { fullchainPem: string; keyPem: string; issuerUrl: string }): Promise<string | undefined> {
    const name = `${target.namespace}/${target.secretName}`;
    try {
      const where = await this.ports.stash.save({
        namespace: target.namespace,
        secretName: target.secretName,
        hosts: [...target.hosts],
        fullchainPem: cert.fullchainPem,
        keyPem: cert.keyPem,
        issuerUrl: cert.issuerUrl,
        keptAt: this.ports.clock(),
      });
      this.log.debug({ target: name, keptIn: where }, 'issued certificate kept until its Secret is written');
      return where;
    } catch (e) {
      this.log.warn({ target: name, err: errorMessage(e) }, 'could not keep the issued certificate; writing its Secret now is its only chance');
      return undefined;
    }
  }

  private async dropKept(target: Target, why: string): Promise<void> {
    const name = `${target.namespace}/${target.secretName}`;
    try {
      await this.ports.stash.remove(target);
      this.kept.delete(name);
      // Written into its Secret is every issuance's normal end: the issued line says it; the rest is news.
      const line = `removed the certificate kept for ${name}: ${why}`;
      if (why === WRITTEN) this.log.debug({ target: name }, line);
      else this.log.info({ target: name }, line);
    } catch (e) {
      this.log.warn({ target: name, err: errorMessage(e) }, 'could not remove a kept certificate; the next pass removes it');
    }
  }

  /** Kept certificates whose Target is gone (Ingress deleted or no longer opted in): only a full pass knows. */
  private async dropOrphanedKept(targets: readonly Target[]): Promise<void> {
    const sel = this.opts.selection;
    if (sel.namespace || sel.ingress || sel.ingressClass || this.kept.size === 0) return;
    const planned = new Set(targets.map((t) => `${t.namespace}/${t.secretName}`));
    for (const [key, k] of [...this.kept]) {
      if (!planned.has(key)) await this.dropKept({ namespace: k.namespace, secretName: k.secretName } as Target, 'no Ingress asks for it any more');
    }
  }

  /** Writes an issued (or kept) certificate into the Target's Secret and reports the outcome. */
  private async writeAndReport(
    target: Target,
    decision: Extract<Decision, { action: 'issue' }>,
    secret: SecretObject | undefined,
    secrets: Map<string, SecretObject>,
    cert: IssuedForWrite,
    how: { kept: boolean; keptSince?: Date },
  ): Promise<TargetOutcome> {
    const { ports, log } = this;
    const name = `${target.namespace}/${target.secretName}`;
    let { renewAt } = renewalPlan(cert.info, this.renewBeforeFor(target));
    let written: SecretObject;
    try {
      written = await this.writeSecret(target, cert, renewAt, secrets.get(name) ?? secret);
      secrets.set(name, written);
    } catch (e) {
      if (isApiUnreachable(e)) this.stop(e);
      return this.writeFailed(target, secrets.get(name) ?? secret, cert.info, e, decision, how.kept);
    }
    if (how.kept) await this.dropKept(target, WRITTEN);
    if (this.failureState.has(failureKey(target))) {
      // A failure record kept in the state ConfigMap is cleared by the success.
      await ports.failures.save(failureKey(target), undefined).catch(() => undefined);
    }
    // The new certificate's window, recorded right away so that status shows the CA's plan.
    const withAri = await this.ari.refresh(written, cert.issuerUrl, { force: true, renewBeforeMs: this.renewBeforeFor(target) });
    if (withAri) secrets.set(name, withAri);
    const plan = renewalPlan(cert.info, { renewBeforeMs: this.renewBeforeFor(target), ari: withAri ? viewSecret(withAri).ari : undefined });
    renewAt = plan.renewAt;
    const fromKept = how.keptSince ? ` from the certificate kept since ${isoSeconds(how.keptSince)} (no new order)` : '';
    const result: 'issued' | 'renewed' = decision.renewal ? 'renewed' : 'issued';
    let message = `${result} for ${target.hosts.join(', ')}${fromKept}: valid until ${isoSeconds(cert.info.notAfter)}, ${describePlan(plan)}`;
    if (cert.profile) message += `; profile ${cert.profile}`;
    if (decision.reason === 'AriRenewalDue') message += `; the CA asked for it (AriRenewalDue): ${decision.message}`;
    if (cert.replaced) message += `; replaces ${cert.replaced}`;
    if (cert.replacesDropped) message += `; ${cert.replacesDropped}, so it was ordered without "replaces" and counts against rate limits`;
    log.info(
      { target: name, reason: decision.reason, serial: cert.info.serial, notAfter: cert.info.notAfter.toISOString(), profile: cert.profile, replaces: cert.replaced },
      `${name}: ${message}`,
    );
    const o: TargetOutcome = {
      target,
      result,
      reason: decision.reason,
      message,
      notBefore: cert.info.notBefore,
      notAfter: cert.info.notAfter,
      renewAt,
      serial: cert.info.serial,
      issuer: cert.info.issuerCN ?? cert.info.issuer,
      renewalBasis: plan.basis,
    };
    if (plan.ari) o.ari = plan.ari;
    if (cert.profile) o.profile = cert.profile;
    if (cert.replaced) o.replaced = cert.replaced;
    if (cert.orderUrl) o.orderUrl = cert.orderUrl;
    return o;
  }

  /**
   * One write of the Secret, guarded by resourceVersion. Transient API failures are retried by the
   * adapter; what is left here is the answer about the Secret itself: 409 (someone wrote or
   * created it in between) and 404 (it was deleted in between) mean read again and write on top,
   * keeping the other writer's labels and annotations.
   */
  private async writeSecret(
    target: Target,
    cert: IssuedForWrite,
    renewAt: Date,
    initial: SecretObject | undefined,
  ): Promise<SecretObject> {
    const { cluster } = this.ports;
    let existing = initial;
    for (let round = 1; ; round++) {
      const body = buildTlsSecret(
        target.namespace,
        target.secretName,
        { fullchainPem: cert.fullchainPem, keyPem: cert.keyPem, hosts: target.hosts, notAfter: cert.info.notAfter, renewAt, issuerUrl: cert.issuerUrl, ...(cert.profile ? { profile: cert.profile } : {}) },
        existing,
      );
      try {
        const written = existing ? await cluster.replaceSecret(body) : await cluster.createSecret(body);
        this.secretsWritten++;
        return written;
      } catch (e) {
        const status = e instanceof ClusterError ? e.request.status : undefined;
        if ((status !== 409 && status !== 404) || round >= 4) throw e;
        existing = await cluster.getSecret(target.namespace, target.secretName);
        if (existing && !isManaged(existing) && !this.opts.adopt) {
          throw new ClusterError(
            `Secret ${target.namespace}/${target.secretName} was created by someone else during the order; it is left alone`,
            { verb: 'update', resource: 'secrets', namespace: target.namespace, name: target.secretName, status: 409 },
            'delete it or run with --adopt; the certificate is kept and written on the next attempt',
          );
        }
      }
    }
  }

  /** The certificate exists but its Secret could not be written: backoff, a finding, and where it waits. */
  private async writeFailed(
    target: Target,
    secret: SecretObject | undefined,
    info: CertInfo,
    e: unknown,
    decision: Extract<Decision, { action: 'issue' }>,
    kept: boolean,
  ): Promise<TargetOutcome> {
    const name = `${target.namespace}/${target.secretName}`;
    const what = describeWriteFailure(e);
    const record = await this.saveFailure(target, secret, `writing Secret ${name} failed: ${what}`, undefined, 'write');
    const next = isoSeconds(record.retryAfter);
    const message =
      `the certificate was issued (serial ${info.serial}, valid until ${isoSeconds(info.notAfter)}) but writing Secret ${name} failed: ${what}; ` +
      (kept
        ? `the certificate is kept in certkeeper's namespace and written at the next attempt (${next}, attempt ${record.failures + 1}) without a new order`
        : `it could not be kept either, so the next attempt (${next}) orders again`);
    const hint = e instanceof CertkeeperError && e.hint ? e.hint : 'fix what refused the write (RBAC, an admission webhook, a quota) and run certkeeper renew --force';
    this.log.error({ target: name, reason: 'SecretWriteFailed', failures: record.failures, retryAfter: record.retryAfter.toISOString(), hint }, `failed ${name} (${decision.reason}): ${message}`);
    const o: TargetOutcome = { target, result: 'failed', reason: 'SecretWriteFailed', message, hint };
    this.describeExisting(o, decision.existing, undefined, undefined);
    o.failure = record;
    this.issueFindings.push(finding('SecretWriteFailed', { kind: 'Secret', namespace: target.namespace, name: target.secretName }, message, hint));
    return o;
  }

  /** The pass lost its lease: another pass owns the cluster now, so this one orders nothing more. */
  private stopped(target: Target, decision: Extract<Decision, { action: 'issue' }>, what: string): TargetOutcome {
    const name = `${target.namespace}/${target.secretName}`;
    const message = `${what}: this pass lost the certkeeper-pass Lease to another pass, which decides for ${name} now`;
    this.log.warn({ target: name, reason: 'PassLeaseLost' }, message);
    const o: TargetOutcome = { target, result: 'failed', reason: 'PassLeaseLost', message, hint: 'nothing to do if the other pass succeeds; if this repeats, two certkeeper instances are fighting over the lease (check --lease-duration and the clocks)' };
    this.describeExisting(o, decision.existing, undefined, undefined);
    return o;
  }

  /**
   * Counts one more failed attempt and sets the next one (backoff): on the Secret when certkeeper
   * manages it, else, or when that write is refused too, in the state ConfigMap.
   */
  private async saveFailure(target: Target, secret: SecretObject | undefined, lastError: string, caRetry?: Date, step?: 'write'): Promise<FailureRecord> {
    const { ports, log } = this;
    const name = `${target.namespace}/${target.secretName}`;
    const previous = readFailureRecord(secret?.metadata.annotations) ?? this.failureState.get(failureKey(target));
    const failures = (previous?.failures ?? 0) + 1;
    const record: FailureRecord = { failures, retryAfter: nextRetry(failures, ports.clock(), caRetry), lastError };
    if (step) record.step = step;
    if (secret && isManaged(secret)) {
      try {
        await ports.cluster.patchSecretAnnotations(target.namespace, target.secretName, failureAnnotations(record));
        return record;
      } catch (err) {
        log.warn({ target: name, err: errorMessage(err) }, 'could not record the failure on the Secret; recording it in the state ConfigMap');
      }
    }
    try {
      await ports.failures.save(failureKey(target), record);
      this.failureState.set(failureKey(target), record);
    } catch (err) {
      log.warn({ target: name, err: errorMessage(err) }, 'could not record the failure; backoff restarts from scratch');
    }
    return record;
  }

  private async recordFailure(target: Target, secret: SecretObject | undefined, e: unknown, decision: Decision): Promise<TargetOutcome> {
    const name = `${target.namespace}/${target.secretName}`;
    const caRetry = e instanceof AcmeError ? e.problem.retryAfter : undefined;
    const record = await this.saveFailure(target, secret, errorMessage(e), caRetry);
    if (e instanceof SelfCheckError) this.issueFindings.push(...e.findings);
    const hint = e instanceof CertkeeperError ? e.hint : undefined;
    const problem = e instanceof AcmeError ? e.problem.type : undefined;
    this.log.error(
      { target: name, reason: 'IssuanceFailed', problem, failures: record.failures, retryAfter: record.retryAfter.toISOString(), hint },
      `failed ${name} (${decision.reason}): ${errorMessage(e)}`,
    );
    const o: TargetOutcome = {
      target,
      result: 'failed',
      reason: 'IssuanceFailed',
      message: `${errorMessage(e)} (attempt ${record.failures}; next at ${isoSeconds(record.retryAfter)})`,
      failure: record,
    };
    if (hint) o.hint = hint;
    if (problem) o.problem = problem;
    return o;
  }
}

/** "create secrets → 403, refused by RBAC: …": the verb, the status and who refused, then the API's words. */
export function describeWriteFailure(e: unknown): string {
  if (!(e instanceof ClusterError)) return errorMessage(e);
  const r = e.request;
  const status = r.status !== undefined ? `${r.status}${r.reason ? ` ${r.reason}` : ''}` : 'no answer';
  const by = r.deniedBy ? `, refused by ${r.deniedBy}` : '';
  return `${r.verb} ${r.resource} → ${status}${by}: ${e.message}`;
}

/** Findings for outcomes that failed or were refused, for check/status output and alerts. */
export function outcomeFindings(outcomes: readonly TargetOutcome[]): Finding[] {
  const out: Finding[] = [];
  for (const o of outcomes) {
    const ref = { kind: 'Secret', namespace: o.target.namespace, name: o.target.secretName };
    // A stopped pass is its own error (the command reports the cause); the Target did nothing wrong.
    if (o.result === 'failed' && o.reason === 'SecretWriteFailed') out.push(finding('SecretWriteFailed', ref, o.message, o.hint ?? 'see the log line for this Secret'));
    else if (o.result === 'failed' && o.reason !== 'PassStopped') out.push(finding('IssuanceFailed', ref, o.message, o.hint ?? 'see the log line for this Secret'));
    if (o.result === 'skipped' && o.reason === 'InBackoff') {
      // One object's certificate, not every certificate --force alone would renew.
      const first = o.target.ingresses[0];
      const only = first?.kind === 'Gateway' ? `--gateway ${first.namespace}/${first.name}` : first && first.kind !== 'ListenerSet' ? `--ingress ${first.namespace}/${first.name}` : `--namespace ${o.target.namespace}`;
      out.push(finding('IssuanceBackoff', ref, o.message, `fix the cause named by the last error, then \`certkeeper renew ${only} --force\` retries now`));
    }
  }
  return out;
}
