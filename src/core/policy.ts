// Should this Target's certificate be (re)issued now? An ordered chain of small named checks; the
// first that fires decides, and its name is the reason that appears unchanged in the log line, the
// Event, the metric label and the JSON output. Pure: `now` is a parameter.
import { checkKeyMatches, defaultCertificateKind, lifetimeMs, parseCertificate, type CertInfo } from './cert.js';
import { renewalWindowMs } from './audit.js';
import { uncoveredHosts } from './hosts.js';
import { ANNOTATION, isManaged, readFailureRecord, secretData, TLS_SECRET_TYPE, type FailureRecord, type SecretObject } from './secret.js';
import type { Target } from './targets.js';

export type IssueReason =
  | 'SecretDoesNotExist'
  | 'SecretKeysMissing'
  | 'CertificateUnparsable'
  | 'KeyMismatch'
  | 'DefaultCertificateInSecret'
  | 'SansNotCoveringHosts'
  | 'HostsChanged'
  | 'IssuerChanged'
  | 'CertificateExpired'
  | 'RenewalDue'
  | 'Forced';

export type SkipReason = 'UpToDate' | 'InBackoff';
export type RefuseReason = 'SecretNotManaged' | 'SecretWrongType';

export type Decision =
  | { action: 'issue'; reason: IssueReason; message: string; renewal: boolean; existing?: CertInfo }
  | { action: 'skip'; reason: SkipReason; message: string; notAfter?: Date; renewAt?: Date; failure?: FailureRecord; existing?: CertInfo }
  | { action: 'refuse'; reason: RefuseReason; message: string; hint: string };

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
}

const HOUR = 3_600_000;
const MAX_BACKOFF = 32 * HOUR;

/** 1 h after the first failure, doubling to 32 h; the CA's Retry-After wins when it is later. */
export function nextRetry(failures: number, now: Date, caRetryAfter?: Date): Date {
  const delay = Math.min(HOUR * 2 ** Math.max(0, failures - 1), MAX_BACKOFF);
  const ours = new Date(now.getTime() + delay);
  return caRetryAfter && caRetryAfter > ours ? caRetryAfter : ours;
}

/** When a certificate should be renewed: the start of its renewal window. */
export function renewAtFor(info: Pick<CertInfo, 'notBefore' | 'notAfter'>, renewBeforeMs?: number): Date {
  return new Date(info.notAfter.getTime() - renewalWindowMs(info, renewBeforeMs));
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

interface Facts {
  input: PolicyInput;
  secret: SecretObject | undefined;
  crt: string | undefined;
  key: string | undefined;
  info: CertInfo | undefined;
  parseError: string | undefined;
}

type Check = (f: Facts) => { reason: IssueReason; message: string } | undefined;

/** The chain, in order. Each check names the problem it detects. */
const CHECKS: [string, Check][] = [
  ['SecretDoesNotExist', (f) => (f.secret ? undefined : { reason: 'SecretDoesNotExist', message: 'the Secret does not exist' })],
  [
    'SecretKeysMissing',
    (f) =>
      f.crt === undefined || f.key === undefined || f.crt.trim() === '' || f.key.trim() === ''
        ? { reason: 'SecretKeysMissing', message: `the Secret has no ${f.crt?.trim() ? 'tls.key' : 'tls.crt'}` }
        : undefined,
  ],
  [
    'CertificateUnparsable',
    (f) => (f.info ? undefined : { reason: 'CertificateUnparsable', message: `tls.crt cannot be parsed: ${f.parseError ?? 'unknown error'}` }),
  ],
  [
    'KeyMismatch',
    (f) => {
      const k = checkKeyMatches(f.crt ?? '', f.key ?? '');
      return k.ok ? undefined : { reason: 'KeyMismatch', message: k.message };
    },
  ],
  [
    'DefaultCertificateInSecret',
    (f) =>
      f.info && defaultCertificateKind(f.info)
        ? { reason: 'DefaultCertificateInSecret', message: 'the Secret holds an ingress controller\'s default certificate' }
        : undefined,
  ],
  [
    'SansNotCoveringHosts',
    (f) => {
      const missing = uncoveredHosts(f.info?.sans ?? [], f.input.target.hosts);
      return missing.length > 0 ? { reason: 'SansNotCoveringHosts', message: `the certificate does not cover ${missing.join(', ')}` } : undefined;
    },
  ],
  [
    'HostsChanged',
    (f) => {
      // Hosts removed from the Ingress: the certificate still covers the rest, but it names
      // hosts nobody asked for any more. Reissue so the certificate says what the Ingress says.
      const recorded = f.secret?.metadata.annotations?.[ANNOTATION.hosts];
      if (recorded === undefined) return undefined;
      const want = [...f.input.target.hosts].sort().join(',');
      const had = recorded.split(',').filter(Boolean).sort().join(',');
      return want !== had ? { reason: 'HostsChanged', message: `the hosts changed from ${had || '(none)'} to ${want}` } : undefined;
    },
  ],
  [
    'IssuerChanged',
    (f) => {
      // Switching from staging to production must replace the untrusted staging certificate.
      const recorded = f.secret?.metadata.annotations?.[ANNOTATION.issuer];
      return recorded !== undefined && recorded !== f.input.issuerUrl
        ? { reason: 'IssuerChanged', message: `the CA changed from ${recorded} to ${f.input.issuerUrl}` }
        : undefined;
    },
  ],
  [
    'CertificateExpired',
    (f) => (f.info && f.info.notAfter <= f.input.now ? { reason: 'CertificateExpired', message: `the certificate expired at ${iso(f.info.notAfter)}` } : undefined),
  ],
  [
    'RenewalDue',
    (f) => {
      if (!f.info) return undefined;
      const renewAt = renewAtFor(f.info, f.input.target.settings.renewBeforeMs ?? f.input.renewBeforeMs);
      return f.input.now >= renewAt
        ? { reason: 'RenewalDue', message: `the certificate expires at ${iso(f.info.notAfter)}; renewal was due at ${iso(renewAt)}` }
        : undefined;
    },
  ],
];

export function decide(input: PolicyInput): Decision {
  const { secret, target } = input;
  const name = `${target.namespace}/${target.secretName}`;
  if (secret && !isManaged(secret) && !input.adopt) {
    return {
      action: 'refuse',
      reason: 'SecretNotManaged',
      message: `Secret ${name} exists and was not created by certkeeper; it is left alone`,
      hint: `delete it, point spec.tls[].secretName at a new name, or run with --adopt to let certkeeper replace it`,
    };
  }
  if (secret && secret.type !== undefined && secret.type !== TLS_SECRET_TYPE) {
    return {
      action: 'refuse',
      reason: 'SecretWrongType',
      message: `Secret ${name} is of type ${secret.type}, not ${TLS_SECRET_TYPE}, and a Secret's type cannot be changed`,
      hint: `delete the Secret (kubectl -n ${target.namespace} delete secret ${target.secretName}) and certkeeper creates a kubernetes.io/tls one`,
    };
  }
  const crt = secretData(secret, 'tls.crt');
  const key = secretData(secret, 'tls.key');
  let info: CertInfo | undefined;
  let parseError: string | undefined;
  if (crt?.trim()) {
    try {
      info = parseCertificate(crt);
    } catch (e) {
      parseError = (e as Error).message;
    }
  }
  const failure = readFailureRecord(secret?.metadata.annotations) ?? input.failure;
  if (failure && failure.retryAfter > input.now && !input.force) {
    const d: Decision = {
      action: 'skip',
      reason: 'InBackoff',
      message: `${failure.failures} failed attempt${failure.failures === 1 ? '' : 's'}, next at ${iso(failure.retryAfter)}; last error: ${failure.lastError}`,
      failure,
    };
    if (info) {
      d.notAfter = info.notAfter;
      d.existing = info;
    }
    return d;
  }
  const facts: Facts = { input, secret, crt, key, info, parseError };
  for (const [, check] of CHECKS) {
    const hit = check(facts);
    if (hit) {
      const d: Decision = { action: 'issue', reason: hit.reason, message: hit.message, renewal: secret !== undefined };
      if (info) d.existing = info;
      return d;
    }
  }
  // Every check passed, so the certificate parsed.
  const cert = info as CertInfo;
  const renewAt = renewAtFor(cert, target.settings.renewBeforeMs ?? input.renewBeforeMs);
  if (input.force) return { action: 'issue', reason: 'Forced', message: 'renewal forced with --force', renewal: true, existing: cert };
  return {
    action: 'skip',
    reason: 'UpToDate',
    message: `valid until ${iso(cert.notAfter)}, renews at ${iso(renewAt)}`,
    notAfter: cert.notAfter,
    renewAt,
    existing: cert,
  };
}

/** The lifetime fraction left, for status output. */
export function fractionLeft(info: Pick<CertInfo, 'notBefore' | 'notAfter'>, now: Date): number {
  return Math.max(0, (info.notAfter.getTime() - now.getTime()) / lifetimeMs(info));
}
