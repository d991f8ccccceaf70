// One pass: plan → issue what is due → write Secrets → audit. The cron service and the one-shot
// `renew` run exactly this. It depends on ports (below), not on libraries: the kube adapter, the
// ACME adapter and the clock are passed in.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { mapBounded } from './bounded.js';
import { resolveDirectory } from './core/annotations.js';
import type { CertInfo } from './core/cert.js';
import { auditSecret } from './core/checks.js';
import { describeObject, finding, type Finding } from './core/findings.js';
import { decide, type Decision } from './core/policy.js';
import { nextRetry, renewalPlan } from './core/renewal.js';
import { buildTlsSecret, failureAnnotations, failureKey, isManaged, readFailureRecord, type FailureRecord, type SecretObject } from './core/secret.js';
import { listNamespaceOf, planTargets, type Selection, type Target } from './core/targets.js';
import { isoSeconds } from './core/time.js';
import { AcmeError, CertkeeperError, ClusterError, errorMessage, SelfCheckError } from './errors.js';
import type { Clock, ClusterPort, FailureStatePort, HeldLock, IssuedCertificate, IssuerPort, IssueRequest, PassLockPort, RoutingPort } from './ports.js';

export interface PassPorts {
  cluster: ClusterPort;
  /** The issuer for an ACME directory URL (one account per CA). */
  issuer(directoryUrl: string): IssuerPort;
  routing: RoutingPort;
  failures: FailureStatePort;
  lock: PassLockPort;
  clock: Clock;
  log: Logger;
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
  /** Findings raised while issuing (a failed self-check's Http01 findings). */
  private readonly issueFindings: Finding[] = [];
  private secretsWritten = 0;

  constructor(
    private readonly ports: PassPorts,
    private readonly opts: PassOptions,
    private readonly startedAt: Date,
    /** The pass lease: once another pass took it over, no order may start. */
    private readonly lock: HeldLock | undefined,
  ) {}

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
    const input: Parameters<typeof decide>[0] = { target, secret, now: ports.clock(), issuerUrl };
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

  private describeExisting(o: TargetOutcome, info: CertInfo | undefined, renewAt: Date | undefined, secret: SecretObject | undefined): void {
    if (info) {
      o.notBefore = info.notBefore;
      o.notAfter = info.notAfter;
      o.serial = info.serial;
      o.issuer = info.issuerCN ?? info.issuer;
      o.renewAt = renewAt ?? renewalPlan(info, this.renewBeforeFor(o.target)).renewAt;
    }
    const recorded = readFailureRecord(secret?.metadata.annotations);
    if (recorded) o.failure = recorded;
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
      if (target.settings.profile) req.profile = target.settings.profile;
      cert = await ports.issuer(issuerUrl).issue(req);
    } catch (e) {
      const failed = await this.recordFailure(target, secret, e, decision);
      // The old certificate is still what is served: report its dates for alerts and metrics.
      this.describeExisting(failed, decision.existing, undefined, undefined);
      return failed;
    }
    const { renewAt } = renewalPlan(cert.info, this.renewBeforeFor(target));
    // The certificate exists now; from here on only the write is retried, never the order
    // (re-ordering burns Let's Encrypt's 5-per-week duplicate certificate limit).
    try {
      const written = await this.writeWithRetry(target, cert, renewAt, issuerUrl, secret);
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
      this.describeExisting(failed, decision.existing, undefined, undefined);
      return failed;
    }
    if (secret === undefined || !readFailureRecord(secret.metadata.annotations)) {
      // A failure record kept in the state ConfigMap is cleared by the success.
      await ports.failures.save(failureKey(target), undefined).catch(() => undefined);
    }
    const result: OutcomeResult = decision.renewal ? 'renewed' : 'issued';
    const message = `${result} for ${target.hosts.join(', ')}: valid until ${isoSeconds(cert.info.notAfter)}, renews at ${isoSeconds(renewAt)}`;
    log.info({ target: name, reason: decision.reason, serial: cert.info.serial, notAfter: cert.info.notAfter.toISOString() }, `${name}: ${message}`);
    return {
      target,
      result,
      reason: decision.reason,
      message,
      notBefore: cert.info.notBefore,
      notAfter: cert.info.notAfter,
      renewAt,
      serial: cert.info.serial,
      issuer: cert.info.issuerCN ?? cert.info.issuer,
    };
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
        { fullchainPem: cert.fullchainPem, keyPem: cert.keyPem, hosts: target.hosts, notAfter: cert.info.notAfter, renewAt, issuerUrl },
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
    this.describeExisting(o, decision.existing, undefined, undefined);
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
    if (o.result === 'skipped' && o.reason === 'InBackoff') {
      // One Ingress's certificate, not every certificate --force alone would renew.
      const first = o.target.ingresses[0];
      const retry = `certkeeper renew ${first ? `--ingress ${first.namespace}/${first.name}` : `--namespace ${o.target.namespace}`} --force`;
      out.push(finding('IssuanceBackoff', ref, o.message, `fix the cause named by the last error, then \`${retry}\` retries now`));
    }
  }
  return out;
}

