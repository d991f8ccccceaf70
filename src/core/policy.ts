// Should this Target's certificate be (re)issued now? The refusal chain, the backoff, then the
// renewal chain of core/checks.ts: the first check that fires decides, and its name is the reason
// that appears unchanged in the log line, the Event, the metric label and the JSON output. When the
// certificate renews comes from core/renewal.ts. Pure: `now` is a parameter.
import type { CertInfo } from './cert.js';
import { firstHit, REFUSAL_CHAIN, RENEWAL_CHAIN, type CheckInput, type IssueReason, type RefuseReason } from './checks.js';
import { describePlan, renewalPlan, type RenewalPlan } from './renewal.js';
import { ANNOTATION, readFailureRecord, TLS_SECRET_TYPE, viewSecret, type FailureRecord, type SecretObject } from './secret.js';
import type { Target } from './targets.js';
import { isoSeconds } from './time.js';

export type { IssueReason, RefuseReason } from './checks.js';
export type SkipReason = 'UpToDate' | 'InBackoff';
/** Findings of the Gateway planner that stop an order before it is placed (Target.blockers). */
export type BlockReason = 'GatewayHttpListenerMissing' | 'SolverRouteNotAllowed' | 'ChallengePathRedirected';

export type Decision =
  | { action: 'issue'; reason: IssueReason | 'Forced'; message: string; renewal: boolean; existing?: CertInfo }
  | { action: 'skip'; reason: SkipReason; message: string; notAfter?: Date; renewAt?: Date; plan?: RenewalPlan; failure?: FailureRecord; existing?: CertInfo }
  | { action: 'refuse'; reason: RefuseReason | BlockReason; message: string; hint: string };

export interface PolicyInput {
  target: Target;
  /** The Secret named by the Target in its namespace, or undefined when there is none. */
  secret: SecretObject | undefined;
  now: Date;
  /** The ACME directory URL this Target would be issued from. */
  issuerUrl: string;
  force?: boolean;
  adopt?: boolean;
  /** Service-wide renewBefore; the Target's own annotation wins. */
  renewBeforeMs?: number;
  /** A failure record kept outside the Secret (when there is no Secret to hold it). */
  failure?: FailureRecord;
  /** The ACME profile the Target asks for (its annotation, else the service's). */
  profile?: string;
  /** When the next scheduled pass runs, when known: an ARI moment before it is due now. */
  nextPassAt?: Date;
}

export function decide(input: PolicyInput): Decision {
  const { target, now } = input;
  const view = viewSecret(input.secret);
  const renewBeforeMs = target.settings.renewBeforeMs ?? input.renewBeforeMs;
  const checkInput: CheckInput = { subject: target, secret: view, now, issuerUrl: input.issuerUrl };
  if (renewBeforeMs !== undefined) checkInput.renewBeforeMs = renewBeforeMs;
  if (input.adopt) checkInput.adopt = true;
  if (input.profile !== undefined) checkInput.profile = input.profile;
  if (input.nextPassAt !== undefined) checkInput.nextPassAt = input.nextPassAt;

  const refused = firstHit(REFUSAL_CHAIN, checkInput);
  if (refused) return { action: 'refuse', reason: refused.name, message: refused.hit.because, hint: refused.hit.hint };

  const info = view.info;
  const failure = readFailureRecord(input.secret?.metadata.annotations) ?? input.failure;
  if (failure && failure.retryAfter > now && !input.force) {
    const d: Decision = {
      action: 'skip',
      reason: 'InBackoff',
      message: `${failure.failures} failed attempt${failure.failures === 1 ? '' : 's'}, next at ${isoSeconds(failure.retryAfter)}; last error: ${failure.lastError}`,
      failure,
    };
    if (info) {
      d.notAfter = info.notAfter;
      d.existing = info;
    }
    return d;
  }

  const due = firstHit(RENEWAL_CHAIN, checkInput);
  // Only an order that would be placed is refused: a valid certificate stays valid while the
  // route is fixed, and the finding says what to fix before it is due.
  const blocker = target.blockers?.[0];
  if (blocker && (due || input.force)) {
    const more = (target.blockers?.length ?? 1) - 1;
    return {
      action: 'refuse',
      reason: blocker.code as BlockReason,
      message: `${due ? due.hit.because : 'renewal forced'}, but ${blocker.message}${more > 0 ? ` (and ${more} more problem${more === 1 ? '' : 's'} like it)` : ''}`,
      hint: blocker.hint,
    };
  }
  if (due) {
    const d: Decision = { action: 'issue', reason: due.name, message: due.hit.because, renewal: input.secret !== undefined };
    if (info) d.existing = info;
    return d;
  }
  // Every check passed, so the certificate parsed.
  const cert = info as CertInfo;
  if (input.force) return { action: 'issue', reason: 'Forced', message: 'renewal forced with --force', renewal: true, existing: cert };
  const plan = renewalPlan(cert, { renewBeforeMs, ari: view.ari });
  return {
    action: 'skip',
    reason: 'UpToDate',
    message: `valid until ${isoSeconds(cert.notAfter)}, ${describePlan(plan)}`,
    notAfter: cert.notAfter,
    renewAt: plan.renewAt,
    plan,
    existing: cert,
  };
}

/** A certificate issued earlier and kept because it could not be written (ports.ts StashedCertificate). */
export interface KeptCertificate {
  fullchainPem: string;
  keyPem: string;
  /** The hosts it was ordered for. */
  hosts: readonly string[];
  issuerUrl: string;
}

export type KeptVerdict = { use: true; info: CertInfo } | { use: false; reason: IssueReason; because: string };

/**
 * May a kept certificate be written instead of ordering a new one? Yes when the renewal chain,
 * run on it as if it were the Secret, finds nothing to renew: it parses, its key matches, it is
 * unexpired and not yet due, and it was issued for exactly these hosts by this CA. `--force` does
 * not change that: a certificate issued and never written is new.
 */
export function judgeKept(input: { target: Target; kept: KeptCertificate; now: Date; issuerUrl: string; renewBeforeMs?: number }): KeptVerdict {
  const { target, kept } = input;
  const view = viewSecret({
    metadata: { annotations: { [ANNOTATION.hosts]: kept.hosts.join(','), [ANNOTATION.issuer]: kept.issuerUrl } },
    type: TLS_SECRET_TYPE,
    stringData: { 'tls.crt': kept.fullchainPem, 'tls.key': kept.keyPem },
  });
  const checkInput: CheckInput = { subject: target, secret: view, now: input.now, issuerUrl: input.issuerUrl };
  const renewBeforeMs = target.settings.renewBeforeMs ?? input.renewBeforeMs;
  if (renewBeforeMs !== undefined) checkInput.renewBeforeMs = renewBeforeMs;
  const due = firstHit(RENEWAL_CHAIN, checkInput);
  if (due) return { use: false, reason: due.name, because: due.hit.because };
  return { use: true, info: view.info as CertInfo };
}
