// One pass: plan → issue what is due → write Secrets → audit. The cron service and the one-shot
// `renew` run exactly this. It depends on ports (below), not on libraries: the kube adapter, the
// ACME adapter and the clock are passed in.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AriRefresher } from './ari-refresh.js';
import { mapBounded } from './bounded.js';
import { resolveDirectory } from './core/annotations.js';
import type { CertInfo } from './core/cert.js';
import { auditSecret } from './core/checks.js';
import { describeObject, finding, type Finding } from './core/findings.js';
import { decide, type Decision } from './core/policy.js';
import type { AriWindow } from './core/ari.js';
import { checkProfileOffered, checkProfileRules, type OrderIdentifier } from './core/profiles.js';
import { describePlan, nextRetry, renewalPlan, type RenewalBasis } from './core/renewal.js';
import { ANNOTATION, buildTlsSecret, failureAnnotations, failureKey, isManaged, readFailureRecord, viewSecret, type FailureRecord, type SecretObject } from './core/secret.js';
import { listNamespaceOf, planTargets, type Selection, type Target } from './core/targets.js';
import { isoSeconds } from './core/time.js';
import { AcmeError, CertkeeperError, ClusterError, errorMessage, OrderRefusedError, SelfCheckError } from './errors.js';
import type { Clock, ClusterPort, FailureStatePort, HeldLock, IssuedCertificate, IssuerPort, IssueRequest, PassLockPort, RateLimitLedgerPort, RoutingPort } from './ports.js';
import { RateLimitGuard, type RateLimitMode } from './ratelimit-guard.js';

export interface PassPorts {
  cluster: ClusterPort;
  /** The issuer for an ACME directory URL (one account per CA). */
  issuer(directoryUrl: string): IssuerPort;
  routing: RoutingPort;
  failures: FailureStatePort;
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
  /** How often a failed Secret write is tried before the pass gives up on it. */
  writeAttempts?: number;
  /** The service's ACME profile; a Target's certkeeper.dev/profile wins. */
  profile?: string;
  /** Which CAs the rate-limit ledger holds orders back for (default auto: Let's Encrypt's). */
  rateLimits?: RateLimitMode;
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
  ordersPlaced: number;
  secretsWritten: number;
  garbageCollected: string[];
  dryRun: boolean;
  /** False when any Target failed or was refused. */
  ok: boolean;
}

export async function runPass(ports: PassPorts, opts: PassOptions): Promise<PassResult> {
  const startedAt = ports.clock();
  const lock = opts.dryRun ? undefined : await ports.lock.acquire();
  try {
    return await new Pass(ports, opts, startedAt, lock).run();
  } finally {
    await lock?.release();
  }
}

class Pass {
  private ordersPlaced = 0;
  private readonly ari: AriRefresher;
  private readonly limits: RateLimitGuard;
  /** Findings raised while issuing (a failed self-check's Http01 findings). */
  private readonly issueFindings: Finding[] = [];
  private secretsWritten = 0;

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
    const { ports, opts, log } = this;
    const garbage = opts.dryRun ? [] : await ports.routing.collectGarbage();
    if (garbage.length > 0) log.info({ removed: garbage }, `removed ${garbage.length} leftover solver object(s) of an interrupted pass`);

    const listNamespace = listNamespaceOf(opts.selection);
    const [ingresses, secrets, failures] = await Promise.all([
      ports.cluster.listIngresses(listNamespace),
      ports.cluster.listTlsSecrets(listNamespace),
      ports.failures.load(),
    ]);
    const plan = planTargets(ingresses, opts.selection);
    const byName = new Map<string, SecretObject>();
    for (const s of secrets) byName.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    log.debug({ ingresses: ingresses.length, targets: plan.targets.length, secrets: secrets.length }, 'planned');
    for (const f of plan.findings) {
      log.warn({ code: f.code, object: describeObject(f.object), host: f.host, hint: f.hint }, f.message);
    }

    const outcomes = await mapBounded(plan.targets, opts.concurrency ?? 5, (target) => this.handle(target, byName, failures));
    const findings = [...plan.findings, ...this.issueFindings];
    // Audit what each Target's Secret holds now (after the writes), with the same checks as `check`.
    for (const o of outcomes) {
      const key = `${o.target.namespace}/${o.target.secretName}`;
      const secret = byName.get(key);
      findings.push(...auditSecret(o.target, secret, { now: ports.clock() }).filter((f) => f.code !== 'SecretNotManaged' || o.result !== 'refused'));
    }
    const ok = outcomes.every((o) => o.result !== 'failed' && o.result !== 'refused');
    return {
      startedAt: this.startedAt,
      finishedAt: ports.clock(),
      outcomes,
      findings,
      ordersPlaced: this.ordersPlaced,
      secretsWritten: this.secretsWritten,
      garbageCollected: garbage,
      dryRun: opts.dryRun ?? false,
      ok,
    };
  }

  private directoryFor(target: Target): string {
    return target.settings.ca ? resolveDirectory(target.settings.ca) : this.opts.directoryUrl;
  }

  private async handle(target: Target, secrets: Map<string, SecretObject>, failures: Map<string, FailureRecord>): Promise<TargetOutcome> {
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
    const stored = failures.get(failureKey(target));
    if (stored) input.failure = stored;
    const decision = decide(input);
    const base = { target };
    if (decision.action === 'refuse') {
      this.log.warn({ target: name, reason: decision.reason, hint: decision.hint }, `refuse ${name}: ${decision.message}`);
      return { ...base, result: 'refused', reason: decision.reason, message: decision.message, hint: decision.hint };
    }
    if (decision.action === 'skip') {
      this.log.info({ target: name, reason: decision.reason }, `skip ${name}: ${decision.message}`);
      const o: TargetOutcome = { ...base, result: 'skipped', reason: decision.reason, message: decision.message };
      this.describeExisting(o, decision.existing, decision.renewAt, secret);
      if (decision.failure) o.failure = decision.failure;
      return o;
    }
    const verb = decision.renewal ? 'renew' : 'issue';
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

  private async issueAndWrite(
    target: Target,
    decision: Extract<Decision, { action: 'issue' }>,
    secret: SecretObject | undefined,
    issuerUrl: string,
    secrets: Map<string, SecretObject>,
  ): Promise<TargetOutcome> {
    const { ports, log } = this;
    const name = `${target.namespace}/${target.secretName}`;
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
    if (this.lock && !(await this.lock.confirm())) return this.stopped(target, decision);
    const routing = ports.routing.forOrder(target);
    let cert: IssuedCertificate;
    this.ordersPlaced++;
    try {
      const req: IssueRequest = {
        hosts: target.hosts,
        keyType: target.settings.keyType,
        beforeValidation: routing.before,
        afterValidation: routing.after,
      };
      if (profile) req.profile = profile;
      if (replaces) {
        req.replaces = replaces;
        // Without `replaces` the order is no longer exempt: the ledger gets its say again.
        req.beforeOrderWithoutReplaces = () => this.limits.check({ directoryUrl: issuerUrl, names: target.hosts });
      }
      cert = await issuer.issue(req);
    } catch (e) {
      if (e instanceof OrderRefusedError) return this.refusedBeforeOrder(target, decision, secret, e);
      if (e instanceof AcmeError && e.problem.failedHosts && !replaces) {
        await this.limits.orderPlaced(issuerUrl);
        await this.limits.validationFailed(issuerUrl, e.problem.failedHosts);
      }
      const failed = await this.recordFailure(target, secret, e, decision);
      // The old certificate is still what is served: report its dates for alerts and metrics.
      this.describeExisting(failed, decision.existing, undefined, secret, false);
      return failed;
    }
    if (!cert.replaced) {
      // Orders that replaced a certificate are exempt from the CA's limits and are not counted.
      await this.limits.orderPlaced(issuerUrl);
      await this.limits.certificateIssued(issuerUrl, target.hosts);
    }
    let { renewAt } = renewalPlan(cert.info, this.renewBeforeFor(target));
    // The certificate exists now; from here on only the write is retried, never the order
    // (re-ordering burns Let's Encrypt's 5-per-week duplicate certificate limit).
    let written: SecretObject;
    try {
      written = await this.writeWithRetry(target, cert, renewAt, issuerUrl, secret);
      secrets.set(name, written);
    } catch (e) {
      const err = e as CertkeeperError;
      log.error({ target: name, err: err.message, hint: err.hint }, `issued a certificate for ${name} but could not write the Secret`);
      const failed: TargetOutcome = {
        target,
        result: 'failed',
        reason: 'SecretWriteFailed',
        message: `the certificate was issued but writing Secret ${name} failed: ${err.message}`,
        hint: err.hint ?? 'fix the cause (RBAC, admission webhook, quota) and run again',
      };
      this.describeExisting(failed, decision.existing, undefined, secret, false);
      return failed;
    }
    if (secret === undefined || !readFailureRecord(secret.metadata.annotations)) {
      // A failure record kept in the state ConfigMap is cleared by the success.
      await ports.failures.save(failureKey(target), undefined).catch(() => undefined);
    }
    // The new certificate's window, recorded right away so that status shows the CA's plan.
    const withAri = await this.ari.refresh(written, issuerUrl, { force: true, renewBeforeMs: this.renewBeforeFor(target) });
    if (withAri) secrets.set(name, withAri);
    const plan = renewalPlan(cert.info, { renewBeforeMs: this.renewBeforeFor(target), ari: withAri ? viewSecret(withAri).ari : undefined });
    renewAt = plan.renewAt;
    const result: OutcomeResult = decision.renewal ? 'renewed' : 'issued';
    let message = `${result} for ${target.hosts.join(', ')}: valid until ${isoSeconds(cert.info.notAfter)}, ${describePlan(plan)}`;
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
    o.orderUrl = cert.orderUrl;
    return o;
  }

  private async writeWithRetry(
    target: Target,
    cert: IssuedCertificate,
    renewAt: Date,
    issuerUrl: string,
    initial: SecretObject | undefined,
  ): Promise<SecretObject> {
    const { cluster } = this.ports;
    const attempts = this.opts.writeAttempts ?? 6;
    let existing = initial;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const body = buildTlsSecret(
        target.namespace,
        target.secretName,
        { fullchainPem: cert.fullchainPem, keyPem: cert.keyPem, hosts: target.hosts, notAfter: cert.info.notAfter, renewAt, issuerUrl, profile: cert.profile },
        existing,
      );
      try {
        const written = existing ? await cluster.replaceSecret(body) : await cluster.createSecret(body);
        this.secretsWritten++;
        return written;
      } catch (e) {
        lastError = e;
        const status = e instanceof ClusterError ? e.request.status : undefined;
        // 409: someone wrote in between (Conflict) or created it (AlreadyExists): read again and
        // write on top of their version, keeping their labels and annotations.
        if (status === 409 || status === 404) {
          existing = await cluster.getSecret(target.namespace, target.secretName);
          if (existing && !isManaged(existing) && !this.opts.adopt) {
            throw new ClusterError(
              `Secret ${target.namespace}/${target.secretName} was created by someone else during the order; it is left alone`,
              { verb: 'update', resource: 'secrets', namespace: target.namespace, name: target.secretName, status: 409 },
              'delete it or run with --adopt',
            );
          }
          continue;
        }
        if (status === 403 || status === 422) throw e; // retrying cannot fix permissions or validation
        this.log.warn({ target: `${target.namespace}/${target.secretName}`, attempt, err: errorMessage(e) }, 'writing the Secret failed; retrying the write');
        await sleep(Math.min(200 * 2 ** (attempt - 1), 3000));
      }
    }
    throw lastError;
  }

  /** The pass lost its lease: another pass owns the cluster now, so this one orders nothing more. */
  private stopped(target: Target, decision: Extract<Decision, { action: 'issue' }>): TargetOutcome {
    const name = `${target.namespace}/${target.secretName}`;
    const message = `not ordered: this pass lost the certkeeper-pass Lease to another pass, which decides for ${name} now`;
    this.log.warn({ target: name, reason: 'PassLeaseLost' }, message);
    const o: TargetOutcome = { target, result: 'failed', reason: 'PassLeaseLost', message, hint: 'nothing to do if the other pass succeeds; if this repeats, two certkeeper instances are fighting over the lease (check --lease-duration and the clocks)' };
    this.describeExisting(o, decision.existing, undefined, undefined, false);
    return o;
  }

  private async recordFailure(target: Target, secret: SecretObject | undefined, e: unknown, decision: Decision): Promise<TargetOutcome> {
    const { ports, log } = this;
    const name = `${target.namespace}/${target.secretName}`;
    const now = ports.clock();
    const previous = readFailureRecord(secret?.metadata.annotations) ?? (await ports.failures.load().then((m) => m.get(failureKey(target))));
    const failures = (previous?.failures ?? 0) + 1;
    const caRetry = e instanceof AcmeError ? e.problem.retryAfter : undefined;
    const record: FailureRecord = { failures, retryAfter: nextRetry(failures, now, caRetry), lastError: errorMessage(e) };
    try {
      if (secret && isManaged(secret)) {
        await ports.cluster.patchSecretAnnotations(target.namespace, target.secretName, failureAnnotations(record));
      } else {
        await ports.failures.save(failureKey(target), record);
      }
    } catch (err) {
      log.warn({ target: name, err: errorMessage(err) }, 'could not record the failure; backoff restarts from scratch');
    }
    if (e instanceof SelfCheckError) this.issueFindings.push(...e.findings);
    const hint = e instanceof CertkeeperError ? e.hint : undefined;
    const problem = e instanceof AcmeError ? e.problem.type : undefined;
    log.error(
      { target: name, reason: 'IssuanceFailed', problem, failures, retryAfter: record.retryAfter.toISOString(), hint },
      `failed ${name} (${decision.reason}): ${errorMessage(e)}`,
    );
    const o: TargetOutcome = {
      target,
      result: 'failed',
      reason: 'IssuanceFailed',
      message: `${errorMessage(e)} (attempt ${failures}; next at ${isoSeconds(record.retryAfter)})`,
      failure: record,
    };
    if (hint) o.hint = hint;
    if (problem) o.problem = problem;
    return o;
  }
}

/** Findings for outcomes that failed or were refused, for check/status output and alerts. */
export function outcomeFindings(outcomes: readonly TargetOutcome[]): Finding[] {
  const out: Finding[] = [];
  for (const o of outcomes) {
    const ref = { kind: 'Secret', namespace: o.target.namespace, name: o.target.secretName };
    if (o.result === 'failed') out.push(finding('IssuanceFailed', ref, o.message, o.hint ?? 'see the log line for this Secret'));
    if (o.result === 'skipped' && o.reason === 'InBackoff') out.push(finding('IssuanceBackoff', ref, o.message, 'run `certkeeper renew --force` to retry now'));
  }
  return out;
}

