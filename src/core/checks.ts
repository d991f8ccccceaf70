// What can be wrong with a TLS Secret, written once as small named checks (cert-manager's
// `policies`) and composed twice: the renewal chain, whose first hit is why `renew` acts, and the
// audit chain, every hit of which `check`, `lint`, `status`, the pass's own audit and alerts report.
// Renew and check therefore cannot disagree about the same Secret. Pure: the Secret comes in decoded
// (core/secret.ts viewSecret), `now` is a parameter.
import { checkKeyMatches, defaultCertificateKind, describeDefaultCertificate, displayName, lifetimeMs, type CertInfo, type KeyCheck } from './cert.js';
import { finding, type Finding, type FindingCode, type ObjectRef } from './findings.js';
import { uncoveredHosts } from './hosts.js';
import { describeUsers, type IngressRef } from './ingress.js';
import { renewalPlan, type RenewalPlan } from './renewal.js';
import { ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, TLS_SECRET_TYPE, viewSecret, type SecretView } from './secret.js';
import { isoSeconds, spanText } from './time.js';

/** Whose Secret it is: a Target, or a Secret used by Ingresses certkeeper does not manage. */
export interface CheckSubject {
  namespace: string;
  secretName: string;
  hosts: readonly string[];
  ingresses?: readonly IngressRef[];
  /** False for Secrets of Ingresses certkeeper does not manage (no SecretNotManaged then). Default true. */
  managed?: boolean;
}

export interface CheckInput {
  subject: CheckSubject;
  secret: SecretView;
  now: Date;
  /** The renewBefore in effect: the Target's annotation, else the service's. */
  renewBeforeMs?: number;
  /**
   * When the next scheduled pass runs, when it is known (the service's schedule, or the
   * CronJob's): a renewal moment the CA's ARI window put before it is due now (RFC 9773 §4.2).
   */
  nextPassAt?: Date;
  /** The ACME directory the Target is issued from now; without it IssuerChanged cannot fire. */
  issuerUrl?: string;
  /** The ACME profile the Target asks for now; without it ProfileChanged cannot fire. */
  profile?: string;
  /** --adopt: certkeeper may replace a Secret it did not create. */
  adopt?: boolean;
  /** Namespaces holding a Secret of the same name, when this one is missing. */
  secretsElsewhere?: readonly string[];
  /** The app.kubernetes.io/managed-by value that marks certkeeper's Secrets. */
  managedByValue?: string;
}

export interface Hit {
  /**
   * The finding code the audit reports: the check's name, or the audit's own older name for it.
   * Absent for checks only the renewal chain runs (a change the next pass makes, not a problem).
   */
  code?: FindingCode;
  /** Why `renew` acts, as one clause of its decision line. */
  because: string;
  /** The audit's sentence: the object and the facts. */
  message: string;
  hint: string;
  /** One finding per host instead of one for the Secret, each with its own sentence. */
  perHost?: { hosts: string[]; message: (host: string) => string };
}

export type RefuseReason = 'SecretNotManaged' | 'SecretWrongType';
export type IssueReason =
  | 'SecretDoesNotExist'
  | 'SecretKeysMissing'
  | 'CertificateUnparsable'
  | 'KeyMismatch'
  | 'DefaultCertificateInSecret'
  | 'SansNotCoveringHosts'
  | 'HostsChanged'
  | 'IssuerChanged'
  | 'ProfileChanged'
  | 'CertificateExpired'
  | 'AriRenewalDue'
  | 'RenewalDue';
type AuditOnly = 'InvalidManifest' | 'CertificateNotYetValid' | 'SelfSignedCertificate' | 'ChainIncomplete';

export interface SecretCheck<N extends string = RefuseReason | IssueReason | AuditOnly> {
  readonly name: N;
  run(input: CheckInput): Hit | undefined;
}

const check = <N extends RefuseReason | IssueReason | AuditOnly>(name: N, run: (i: CheckInput) => Hit | undefined): SecretCheck<N> => ({ name, run });

const secretName = (i: CheckInput): string => `${i.subject.namespace}/${i.subject.secretName}`;
const managed = (i: CheckInput): boolean => i.subject.managed !== false;
const usedBy = (i: CheckInput): string => {
  const users = i.subject.ingresses ?? [];
  return users.length > 0 ? describeUsers(users) : 'the Ingress';
};
/** "for shop.example.com, www.shop.example.com": the hosts that get this certificate. */
const forHosts = (i: CheckInput): string => {
  const h = i.subject.hosts;
  if (h.length === 0) return '';
  return ` for ${h.length > 5 ? `${h.slice(0, 5).join(', ')} and ${h.length - 5} more` : h.join(', ')}`;
};
/**
 * The `renew` that acts on this Secret now, and would not be refused: for its first Ingress, with
 * --adopt when certkeeper did not create the Secret, --force when the renewal chain alone would
 * not act (or a backoff might hold it).
 */
const renewNow = (i: CheckInput, opts: { force?: boolean } = {}): string => {
  const first = i.subject.ingresses?.[0];
  const notOurs = i.secret.isObject && !i.adopt && i.secret.labels[MANAGED_BY_LABEL] !== (i.managedByValue ?? MANAGED_BY_VALUE);
  return `certkeeper renew ${first ? `--ingress ${first.namespace}/${first.name}` : `--namespace ${i.subject.namespace}`}${notOurs ? ' --adopt' : ''}${opts.force ? ' --force' : ''}`;
};
const firstIngress = (i: CheckInput): string => {
  const first = i.subject.ingresses?.[0];
  return first ? `${first.namespace}/${first.name}` : `${i.subject.namespace}/…`;
};
/** Checks that read the certificate need a Secret object whose tls.crt parsed. */
const certOf = (i: CheckInput): CertInfo | undefined => (i.secret.isObject ? i.secret.info : undefined);
const isDefault = (info: CertInfo): boolean => defaultCertificateKind(info) !== undefined;
/** A certificate's name for people: its CN, else its first SAN (Let's Encrypt's tlsserver and shortlived certificates have no CN). */
const nameOf = (info: CertInfo): string => displayName(info);

function keyCheckOf(i: CheckInput): KeyCheck | undefined {
  const info = certOf(i);
  if (!info || !i.secret.crt.filled || !i.secret.key.filled) return undefined;
  // certkeeper checked this very content when it wrote it (core/secret.ts ANNOTATION.digest).
  if (i.secret.trusted) return { ok: true, keyType: info.keyType };
  const crt = i.secret.crt.value;
  const key = i.secret.key.value;
  if (crt === undefined || key === undefined) return undefined;
  try {
    return checkKeyMatches(crt, key);
  } catch (e) {
    return { ok: false, reason: 'Unparsable', message: e instanceof Error ? e.message : String(e) };
  }
}

export const SecretDoesNotExist = check('SecretDoesNotExist', (i) => {
  if (i.secret.exists) return undefined;
  const elsewhere = [...new Set(i.secretsElsewhere ?? [])].filter((n) => n !== i.subject.namespace).sort();
  const { namespace, secretName: name } = i.subject;
  if (elsewhere.length > 0) {
    return {
      code: 'SecretInOtherNamespace',
      because: 'the Secret does not exist',
      message: `Secret "${name}" exists in namespace ${elsewhere.join(', ')} but not in ${namespace}; ${
        (i.subject.ingresses ?? []).some((r) => r.kind !== undefined && r.kind !== 'Ingress')
          ? `a Gateway listener uses the Secret in the namespace its certificateRefs names (${namespace})`
          : 'an Ingress can only use Secrets of its own namespace'
      }, so ${usedBy(i)} gets the controller's default certificate`,
      hint: managed(i)
        ? `nothing to copy: certkeeper issues the certificate into ${namespace}/${name}; delete the stray copy in ${elsewhere.join(', ')} if nothing else uses it`
        : `create the Secret in namespace ${namespace}, or move the Ingress to namespace ${elsewhere[0] ?? ''}`,
    };
  }
  return {
    code: 'SecretMissing',
    because: 'the Secret does not exist',
    message: `Secret ${namespace}/${name} used by ${usedBy(i)} does not exist, so the controller serves its default certificate`,
    hint: managed(i)
      ? `certkeeper issues it on the next pass; \`${renewNow(i)}\` does it now, and its log says why if it stays missing`
      : `create a kubernetes.io/tls Secret named ${name} in ${namespace}, or annotate the Ingress with kubernetes.io/tls-acme: "true" to let certkeeper issue it`,
  };
});

export const InvalidManifest = check('InvalidManifest', (i) =>
  i.secret.exists && !i.secret.isObject
    ? { code: 'InvalidManifest', because: 'the Secret is not an object', message: `Secret ${secretName(i)} is not an object`, hint: 'check the manifest that defines it' }
    : undefined,
);

export const SecretNotManaged = check('SecretNotManaged', (i) => {
  if (!i.secret.isObject || !managed(i) || i.adopt) return undefined;
  const want = i.managedByValue ?? MANAGED_BY_VALUE;
  if (i.secret.labels[MANAGED_BY_LABEL] === want) return undefined;
  const { namespace, secretName: name } = i.subject;
  return {
    code: 'SecretNotManaged',
    because: `Secret ${namespace}/${name} exists and was not created by certkeeper; it is left alone`,
    message: `Secret ${namespace}/${name} lacks the label ${MANAGED_BY_LABEL}: ${want}; certkeeper will not overwrite a Secret it did not create`,
    // --adopt only lifts the refusal: without --force a certificate that is still good is kept
    // as it is, unlabelled, and the next pass refuses it again.
    hint: `\`certkeeper renew --ingress ${firstIngress(i)} --adopt --force\` replaces it with a certificate certkeeper keeps from then on (or label it, kubectl label secret -n ${namespace} ${name} ${MANAGED_BY_LABEL}=${want}, and certkeeper renews the one it holds when due), or remove the opt-in annotation from ${usedBy(i)}`,
  };
});

export const SecretWrongType = check('SecretWrongType', (i) => {
  // The API server defaults an unset type to Opaque.
  if (!i.secret.isObject || i.secret.type === TLS_SECRET_TYPE) return undefined;
  const { namespace, secretName: name } = i.subject;
  const type = i.secret.type ?? 'Opaque (unset)';
  return {
    code: 'SecretWrongType',
    because: `Secret ${namespace}/${name} is of type ${type}, not ${TLS_SECRET_TYPE}, and a Secret's type cannot be changed`,
    message: `Secret ${namespace}/${name} has type ${type}, not ${TLS_SECRET_TYPE}`,
    hint: managed(i)
      ? `delete the Secret (kubectl -n ${namespace} delete secret ${name}) and certkeeper creates a ${TLS_SECRET_TYPE} one; the type of an existing Secret cannot be changed`
      : `recreate it as type ${TLS_SECRET_TYPE} (kubectl create secret tls ${name} -n ${namespace} --cert=… --key=…); the type of an existing Secret cannot be changed`,
  };
});

export const SecretKeysMissing = check('SecretKeysMissing', (i) => {
  if (!i.secret.isObject) return undefined;
  const missing = (['tls.crt', 'tls.key'] as const).filter((k) => {
    const v = k === 'tls.crt' ? i.secret.crt : i.secret.key;
    return !v.badBase64 && !v.filled;
  });
  if (missing.length === 0) return undefined;
  return {
    code: 'SecretKeysMissing',
    because: `the Secret has no ${missing.join(' and no ')}`,
    message: `Secret ${secretName(i)} has no ${missing.join(' and no ')} (or ${missing.length > 1 ? 'they are' : 'it is'} empty)`,
    hint: `a TLS Secret needs tls.crt (certificate and chain, PEM) and tls.key (private key, PEM)${managed(i) ? `; \`${renewNow(i)}\` writes both` : ''}`,
  };
});

export const CertificateUnparsable = check('CertificateUnparsable', (i) => {
  if (!i.secret.isObject) return undefined;
  const name = secretName(i);
  const notBase64 = (['tls.crt', 'tls.key'] as const).filter((k) => (k === 'tls.crt' ? i.secret.crt : i.secret.key).badBase64);
  if (notBase64.length > 0) {
    return {
      code: 'CertificateUnparsable',
      because: `${notBase64.join(' and ')} of the Secret ${notBase64.length > 1 ? 'are' : 'is'} not valid base64`,
      message: `${notBase64.map((k) => `data.${k}`).join(' and ')} of Secret ${name} ${notBase64.length > 1 ? 'are' : 'is'} not valid base64`,
      hint: 'values under data: must be base64-encoded; put PEM text under stringData: instead, or encode it with base64 -w0',
    };
  }
  if (i.secret.parseError !== undefined) {
    return {
      code: 'CertificateUnparsable',
      because: `tls.crt cannot be parsed: ${i.secret.parseError}`,
      message: `tls.crt of Secret ${name} cannot be parsed: ${i.secret.parseError}`,
      hint: 'put the PEM certificate (-----BEGIN CERTIFICATE-----) followed by its intermediates in tls.crt',
    };
  }
  const kc = keyCheckOf(i);
  if (kc && !kc.ok && kc.reason === 'Unparsable') {
    return {
      code: 'CertificateUnparsable',
      because: `tls.key cannot be used: ${kc.message}`,
      message: `tls.key of Secret ${name}: ${kc.message}`,
      hint: 'put the PEM private key (-----BEGIN PRIVATE KEY-----) in tls.key',
    };
  }
  return undefined;
});

export const KeyMismatch = check('KeyMismatch', (i) => {
  const kc = keyCheckOf(i);
  const info = certOf(i);
  if (!info || !kc || kc.ok || kc.reason !== 'Mismatch') return undefined;
  return {
    code: 'KeyMismatch',
    because: kc.message,
    message: `tls.key of Secret ${secretName(i)} does not belong to the certificate in tls.crt (${nameOf(info)})${forHosts(i)}; TLS handshakes fail`,
    hint: managed(i)
      ? `\`${renewNow(i)}\` issues a new certificate with a new key`
      : 'put the private key that was used for this certificate in tls.key, or issue a new certificate with the key',
  };
});

export const DefaultCertificateInSecret = check('DefaultCertificateInSecret', (i) => {
  const info = certOf(i);
  const kind = info ? defaultCertificateKind(info) : undefined;
  if (!kind) return undefined;
  return {
    code: 'DefaultCertificateInSecret',
    because: 'the Secret holds an ingress controller\'s default certificate',
    message: `Secret ${secretName(i)} holds ${describeDefaultCertificate(kind)}, the controller's self-signed default that no browser trusts,${forHosts(i) || ' for its hosts'}`,
    hint: managed(i) ? `\`${renewNow(i)}\` replaces it with a real certificate (or delete the Secret, and the next pass issues one)` : `replace it with a certificate${forHosts(i) || ' for the Ingress hosts'}`,
  };
});

export const SansNotCoveringHosts = check('SansNotCoveringHosts', (i) => {
  const info = certOf(i);
  if (!info || isDefault(info)) return undefined;
  const uncovered = uncoveredHosts(info.sans, i.subject.hosts);
  if (uncovered.length === 0) return undefined;
  const names = info.sans.length > 0 ? info.sans.join(', ') : 'none';
  return {
    code: 'SansNotCoveringHosts',
    because: `the certificate does not cover ${uncovered.join(', ')}`,
    message: `the certificate in Secret ${secretName(i)} does not cover ${uncovered.join(', ')} (its names: ${names})`,
    hint: managed(i) ? `certkeeper reissues it with all hosts on its next pass (\`${renewNow(i)}\` does it now)` : `replace it with a certificate whose subjectAltName includes ${uncovered.join(', ')}`,
    perHost: {
      hosts: uncovered,
      message: (host) => `the certificate in Secret ${secretName(i)} does not cover "${host}" (its names: ${names}; uncovered: ${uncovered.join(', ')})`,
    },
  };
});

export const HostsChanged = check('HostsChanged', (i) => {
  // Hosts removed from the Ingress: the certificate still covers the rest, but it names hosts
  // nobody asked for any more. Reissue so the certificate says what the Ingress says.
  const recorded = i.secret.annotations[ANNOTATION.hosts];
  if (recorded === undefined || !certOf(i)) return undefined;
  const want = [...i.subject.hosts].sort().join(',');
  const had = recorded.split(',').filter(Boolean).sort().join(',');
  if (want === had) return undefined;
  return {
    because: `the hosts changed from ${had || '(none)'} to ${want}`,
    message: `Secret ${secretName(i)} was issued for ${had || '(none)'}, and its Ingresses now ask for ${want}`,
    hint: 'certkeeper reissues it on its next pass',
  };
});

export const IssuerChanged = check('IssuerChanged', (i) => {
  // Switching from staging to production must replace the untrusted staging certificate.
  const recorded = i.secret.annotations[ANNOTATION.issuer];
  if (recorded === undefined || i.issuerUrl === undefined || recorded === i.issuerUrl || !certOf(i)) return undefined;
  return {
    because: `the CA changed from ${recorded} to ${i.issuerUrl}`,
    message: `Secret ${secretName(i)} was issued by ${recorded}, and its Ingresses now ask for ${i.issuerUrl}`,
    hint: 'certkeeper reissues it from the new CA on its next pass',
  };
});

export const ProfileChanged = check('ProfileChanged', (i) => {
  // certkeeper.dev/profile set or changed on the Ingress (say classic → shortlived): the
  // certificate in the Secret was issued under another profile, or before profiles were recorded.
  if (i.profile === undefined || !certOf(i) || i.secret.profile === i.profile) return undefined;
  const had = i.secret.profile ?? '(none recorded)';
  return {
    because: `the profile changed from ${had} to ${i.profile}`,
    message: `Secret ${secretName(i)} was issued under profile ${had}, and its Ingresses now ask for ${i.profile}`,
    hint: 'certkeeper reissues it under the new profile on its next pass',
  };
});

export const CertificateExpired = check('CertificateExpired', (i) => {
  const info = certOf(i);
  if (!info || i.now < info.notAfter) return undefined;
  const at = isoSeconds(info.notAfter);
  return {
    code: 'CertificateExpired',
    because: `the certificate expired at ${at}`,
    message: `the certificate in Secret ${secretName(i)}${forHosts(i)} expired at ${info.notAfter.toISOString()} (${spanText(i.now.getTime() - info.notAfter.getTime())} ago)`,
    hint: managed(i)
      ? `\`${renewNow(i, { force: true })}\` renews it now; its log and the Ingress's Events say why it was not renewed in time`
      : `replace the certificate, or let certkeeper manage it: annotate Ingress ${firstIngress(i)} with kubernetes.io/tls-acme: "true" and run \`certkeeper renew --ingress ${firstIngress(i)} --adopt\``,
  };
});

export const CertificateNotYetValid = check('CertificateNotYetValid', (i) => {
  const info = certOf(i);
  if (!info || i.now >= info.notBefore || i.now >= info.notAfter) return undefined;
  return {
    code: 'CertificateNotYetValid',
    because: `the certificate is valid only from ${isoSeconds(info.notBefore)}`,
    message: `the certificate in Secret ${secretName(i)}${forHosts(i)} is valid only from ${info.notBefore.toISOString()} (in ${spanText(info.notBefore.getTime() - i.now.getTime())})`,
    hint: 'check the clock of the machine that issued it, or replace it with a certificate that is valid now',
  };
});

/** "45 days", "160 hours": notAfter is inclusive, so the span is a second short of the profile's lifetime. */
const lifetimeText = (info: CertInfo): string => spanText(Math.round(lifetimeMs(info) / 60_000) * 60_000);

/** The plan of a certificate that is valid now, with the Secret's ARI window. */
function planOf(i: CheckInput): { info: CertInfo; plan: RenewalPlan } | undefined {
  const info = certOf(i);
  if (!info || i.now >= info.notAfter || i.now < info.notBefore) return undefined;
  return { info, plan: renewalPlan(info, { renewBeforeMs: i.renewBeforeMs, ari: i.secret.ari }) };
}

/**
 * The CA asked, through ARI (RFC 9773), for the certificate to be renewed by now; or the moment
 * chosen inside its window comes before the next scheduled pass, and RFC 9773 §4.2 (step 5) says
 * to renew at once rather than sleep past it.
 */
export const AriRenewalDue = check('AriRenewalDue', (i) => {
  const p = planOf(i);
  if (!p || p.plan.basis !== 'Ari' || !p.plan.ari) return undefined;
  const early = i.now < p.plan.renewAt && i.nextPassAt !== undefined && i.nextPassAt > p.plan.renewAt;
  if (i.now < p.plan.renewAt && !early) return undefined;
  const { info, plan } = p;
  const ari = plan.ari as NonNullable<RenewalPlan['ari']>;
  const window = `${isoSeconds(ari.start)} – ${isoSeconds(ari.end)}`;
  const explained = ari.explanationUrl ? `; the CA explains why at ${ari.explanationUrl}` : '';
  const due = early
    ? `the moment chosen inside it, ${isoSeconds(plan.renewAt)}, comes before the next scheduled pass at ${isoSeconds(i.nextPassAt as Date)}, so this pass renews (RFC 9773 §4.2)`
    : `renewal was due at ${isoSeconds(plan.renewAt)}`;
  return {
    code: 'CertificateNearExpiry',
    because: `the CA's renewal window (ARI) is ${window}; ${due}${explained}`,
    message: `the CA asks for the certificate in Secret ${secretName(i)} to be renewed within ${window} (ACME Renewal Information)${explained}; it expires at ${info.notAfter.toISOString()}, in ${spanText(info.notAfter.getTime() - i.now.getTime())} (lifetime ${lifetimeText(info)})`,
    hint: managed(i) ? 'certkeeper renews it on its next pass; if this persists, look at the renewal log and Events of the Ingress' : 'renew the certificate now: its CA asked for it',
  };
});

export const RenewalDue = check('RenewalDue', (i) => {
  const p = planOf(i);
  if (!p || p.plan.basis === 'Ari' || i.now < p.plan.renewAt) return undefined;
  const { info, plan } = p;
  const left = info.notAfter.getTime() - i.now.getTime();
  return {
    code: 'CertificateNearExpiry',
    because: `the certificate expires at ${isoSeconds(info.notAfter)}; renewal was due at ${isoSeconds(plan.renewAt)}`,
    message: `the certificate in Secret ${secretName(i)}${forHosts(i)} expires at ${info.notAfter.toISOString()}, in ${spanText(left)} (lifetime ${lifetimeText(info)}; renewal is due when less than ${spanText(plan.windowMs)} remain)`,
    hint: managed(i)
      ? `certkeeper renews it on its next pass (\`${renewNow(i, { force: true })}\` does it now); if this persists, look at the renewal log and Events of the Ingress`
      : 'renew the certificate soon',
  };
});

export const SelfSignedCertificate = check('SelfSignedCertificate', (i) => {
  const info = certOf(i);
  if (!info || isDefault(info) || !info.selfSigned) return undefined;
  return {
    code: 'SelfSignedCertificate',
    because: 'the certificate is self-signed',
    message: `the certificate in Secret ${secretName(i)}${forHosts(i)} is self-signed (${info.subject || nameOf(info)}); clients do not trust it`,
    // A valid self-signed certificate is not a reason to renew by itself: --force makes renew act.
    hint: managed(i) ? `\`${renewNow(i, { force: true })}\` replaces it with a CA-issued one (or delete the Secret, and the next pass issues one)` : 'use a certificate issued by a trusted CA',
  };
});

export const ChainIncomplete = check('ChainIncomplete', (i) => {
  const info = certOf(i);
  if (!info || isDefault(info) || info.selfSigned || info.chain.length > 0) return undefined;
  return {
    code: 'ChainIncomplete',
    because: 'tls.crt holds only the leaf certificate',
    message: `tls.crt of Secret ${secretName(i)} holds only the leaf certificate${forHosts(i)} (issued by ${info.issuer}); clients without that intermediate cached fail to verify it`,
    hint: 'append the intermediate certificate(s) after the leaf in tls.crt (the fullchain.pem of ACME clients)',
  };
});

/** Reasons `renew` leaves a Secret alone instead of writing it. Checked before everything else. */
export const REFUSAL_CHAIN: readonly SecretCheck<RefuseReason>[] = [SecretNotManaged, SecretWrongType];

/** Reasons `renew` issues, in order; the first hit is the reason everywhere it appears. */
export const RENEWAL_CHAIN: readonly SecretCheck<IssueReason>[] = [
  SecretDoesNotExist,
  SecretKeysMissing,
  CertificateUnparsable,
  KeyMismatch,
  DefaultCertificateInSecret,
  SansNotCoveringHosts,
  HostsChanged,
  IssuerChanged,
  ProfileChanged,
  CertificateExpired,
  AriRenewalDue,
  RenewalDue,
];

/**
 * What `check`, `lint`, `status` and the pass's audit report: every problem a user must know about,
 * the renewal chain's included. HostsChanged and IssuerChanged are not problems of the Secret (the
 * next pass fixes them), so they are absent.
 */
export const AUDIT_CHAIN: readonly SecretCheck[] = [
  SecretDoesNotExist,
  InvalidManifest,
  SecretNotManaged,
  SecretWrongType,
  CertificateUnparsable,
  SecretKeysMissing,
  KeyMismatch,
  CertificateExpired,
  CertificateNotYetValid,
  AriRenewalDue,
  RenewalDue,
  DefaultCertificateInSecret,
  SansNotCoveringHosts,
  SelfSignedCertificate,
  ChainIncomplete,
];

/** The first check of `chain` that fires, with its hit. */
export function firstHit<N extends string>(chain: readonly SecretCheck<N>[], input: CheckInput): { name: N; hit: Hit } | undefined {
  for (const c of chain) {
    const hit = c.run(input);
    if (hit) return { name: c.name, hit };
  }
  return undefined;
}

/** What must be audited: a Target or a SecretUse, with the renewBefore it is renewed with. */
export interface AuditSubject extends CheckSubject {
  settings?: { renewBeforeMs?: number };
}

export interface AuditOptions {
  now: Date;
  /** Secrets of the same name found in other namespaces (only read when `secret` is missing). */
  secretsElsewhere?: readonly { namespace: string }[];
  /** Value of app.kubernetes.io/managed-by that marks certkeeper's Secrets; default "certkeeper". */
  managedByLabel?: string;
  /** Where the Secret came from (lint), copied into findings. */
  location?: { file?: string; line?: number };
}

/** Audits one Secret (API object or manifest; undefined when not found) for its hosts. Never throws. */
export function auditSecret(subject: AuditSubject, secret: unknown, opts: AuditOptions): Finding[] {
  const ref: ObjectRef = { kind: 'Secret', namespace: subject.namespace, name: subject.secretName };
  if (opts.location?.file !== undefined) ref.file = opts.location.file;
  if (opts.location?.line !== undefined) ref.line = opts.location.line;
  const input: CheckInput = { subject, secret: viewSecret(secret), now: opts.now };
  if (subject.settings?.renewBeforeMs !== undefined) input.renewBeforeMs = subject.settings.renewBeforeMs;
  if (opts.secretsElsewhere) input.secretsElsewhere = opts.secretsElsewhere.map((s) => s.namespace);
  if (opts.managedByLabel !== undefined) input.managedByValue = opts.managedByLabel;
  const out: Finding[] = [];
  for (const c of AUDIT_CHAIN) {
    const hit = c.run(input);
    if (!hit?.code) continue;
    if (!hit.perHost) out.push(finding(hit.code, ref, hit.message, hit.hint));
    else for (const host of hit.perHost.hosts) out.push(finding(hit.code, ref, hit.perHost.message(host), hit.hint, host));
  }
  return out;
}
