// What a TLS Secret holds, judged against the hosts the Ingresses need. Pure: the Secret comes in
// as an unknown object (API or YAML), `now` is a parameter, and every defect is a Finding.
import { checkKeyMatches, defaultCertificateKind, describeDefaultCertificate, lifetimeMs, parseCertificate, type CertInfo } from './cert.js';
import { finding, type Finding, type FindingCode, type ObjectRef } from './findings.js';
import { uncoveredHosts } from './hosts.js';
import { isRecord, type IngressRef } from './ingress.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'certkeeper';
export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

const DAY_MS = 86_400_000;

/** What the Secret must serve: a Target, or a SecretUse of an Ingress certkeeper does not manage. */
export interface AuditSubject {
  namespace: string;
  secretName: string;
  hosts: readonly string[];
  ingresses?: readonly IngressRef[];
  /** False for Secrets of Ingresses certkeeper does not manage (no SecretNotManaged then). Default true. */
  managed?: boolean;
  settings?: { renewBeforeMs?: number };
}

export interface AuditOptions {
  now: Date;
  /** Secrets of the same name found in other namespaces (only used when `secret` is undefined). */
  secretsElsewhere?: readonly { namespace: string }[];
  /** Value of app.kubernetes.io/managed-by that marks certkeeper's Secrets; default "certkeeper". */
  managedByLabel?: string;
  /** Where the Secret came from (lint), copied into findings. */
  location?: { file?: string; line?: number };
}

/**
 * The renewal window: renew (and warn) when less than 1/3 of the lifetime remains, 1/2 for
 * lifetimes of 10 days or less (Let's Encrypt's 160-hour "shortlived" profile needs the margin:
 * a failed attempt must leave room for retries within days, not weeks). `renewBeforeMs` overrides.
 */
export function renewalWindowMs(info: Pick<CertInfo, 'notBefore' | 'notAfter'>, renewBeforeMs?: number): number {
  if (renewBeforeMs !== undefined) return renewBeforeMs;
  const life = lifetimeMs(info);
  return life <= 10 * DAY_MS ? life / 2 : life / 3;
}

function days(ms: number): string {
  const d = ms / DAY_MS;
  if (Math.abs(d) >= 2) return `${Math.floor(d)} days`;
  const h = ms / 3_600_000;
  return `${Math.floor(h)} hours`;
}

/** Decodes a `data` value (base64) or takes a `stringData` value as is. */
function secretValue(secret: Record<string, unknown>, key: string): { value?: string; badBase64?: boolean } {
  const sd = isRecord(secret.stringData) ? secret.stringData[key] : undefined;
  // The API server merges stringData over data, so stringData wins here too.
  if (typeof sd === 'string') return { value: sd };
  const d = isRecord(secret.data) ? secret.data[key] : undefined;
  if (typeof d !== 'string') return {};
  const compact = d.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return { badBase64: true };
  return { value: Buffer.from(compact, 'base64').toString('utf8') };
}

/**
 * Audits one Secret for the hosts it must serve. `secret` undefined means it was not found in
 * the subject's namespace. Never throws.
 */
export function auditSecret(subject: AuditSubject, secret: unknown, opts: AuditOptions): Finding[] {
  const out: Finding[] = [];
  const ref: ObjectRef = { kind: 'Secret', namespace: subject.namespace, name: subject.secretName };
  if (opts.location?.file !== undefined) ref.file = opts.location.file;
  if (opts.location?.line !== undefined) ref.line = opts.location.line;
  const add = (code: FindingCode, message: string, hint: string, host?: string): void => {
    out.push(finding(code, ref, message, hint, host));
  };
  const users = (subject.ingresses ?? []).map((i) => `${i.namespace}/${i.name}`);
  const usedBy = users.length > 0 ? `Ingress ${users.join(', ')}` : 'the Ingress';
  const managed = subject.managed !== false;

  if (secret === undefined || secret === null) {
    const elsewhere = [...new Set((opts.secretsElsewhere ?? []).map((s) => s.namespace).filter((n) => n !== subject.namespace))].sort();
    if (elsewhere.length > 0) {
      add(
        'SecretInOtherNamespace',
        `Secret "${subject.secretName}" exists in namespace ${elsewhere.join(', ')} but not in ${subject.namespace}; an Ingress can only use Secrets of its own namespace, so ${usedBy} gets the controller's default certificate`,
        managed
          ? `nothing to copy: certkeeper issues the certificate into ${subject.namespace}/${subject.secretName}; delete the stray copy in ${elsewhere.join(', ')} if nothing else uses it`
          : `create the Secret in namespace ${subject.namespace}, or move the Ingress to namespace ${elsewhere[0] ?? ''}`,
      );
    } else {
      add(
        'SecretMissing',
        `Secret ${subject.namespace}/${subject.secretName} used by ${usedBy} does not exist, so the controller serves its default certificate`,
        managed
          ? 'certkeeper issues it on the next pass; run `certkeeper renew` to do it now, and check the renewal log if it stays missing'
          : `create a kubernetes.io/tls Secret named ${subject.secretName} in ${subject.namespace}, or annotate the Ingress with kubernetes.io/tls-acme: "true" to let certkeeper issue it`,
      );
    }
    return out;
  }
  if (!isRecord(secret)) {
    add('InvalidManifest', `Secret ${subject.namespace}/${subject.secretName} is not an object`, 'check the manifest that defines it');
    return out;
  }

  const meta = isRecord(secret.metadata) ? secret.metadata : {};
  const labels = isRecord(meta.labels) ? meta.labels : {};
  const wantLabel = opts.managedByLabel ?? MANAGED_BY_VALUE;
  if (managed && labels[MANAGED_BY_LABEL] !== wantLabel) {
    add(
      'SecretNotManaged',
      `Secret ${subject.namespace}/${subject.secretName} lacks the label ${MANAGED_BY_LABEL}: ${wantLabel}; certkeeper will not overwrite a Secret it did not create`,
      `run certkeeper renew --adopt (or label it: kubectl label secret -n ${subject.namespace} ${subject.secretName} ${MANAGED_BY_LABEL}=${wantLabel}) to let certkeeper take it over, or remove the opt-in annotation from ${usedBy}`,
    );
  }

  const type = secret.type;
  if (type !== TLS_SECRET_TYPE) {
    add(
      'SecretWrongType',
      `Secret ${subject.namespace}/${subject.secretName} has type ${typeof type === 'string' ? type : 'Opaque (unset)'}, not ${TLS_SECRET_TYPE}`,
      `recreate it as type ${TLS_SECRET_TYPE} (kubectl create secret tls ${subject.secretName} -n ${subject.namespace} --cert=… --key=…); the type of an existing Secret cannot be changed`,
    );
  }

  const crt = secretValue(secret, 'tls.crt');
  const key = secretValue(secret, 'tls.key');
  for (const [name, v] of [['tls.crt', crt], ['tls.key', key]] as const) {
    if (v.badBase64) {
      add(
        'CertificateUnparsable',
        `data.${name} of Secret ${subject.namespace}/${subject.secretName} is not valid base64`,
        'values under data: must be base64-encoded; put PEM text under stringData: instead, or encode it with base64 -w0',
      );
    }
  }
  const missing = [crt.value ? undefined : crt.badBase64 ? undefined : 'tls.crt', key.value ? undefined : key.badBase64 ? undefined : 'tls.key'].filter(
    (x): x is string => x !== undefined,
  );
  if (missing.length > 0) {
    add(
      'SecretKeysMissing',
      `Secret ${subject.namespace}/${subject.secretName} has no ${missing.join(' and no ')} (or ${missing.length > 1 ? 'they are' : 'it is'} empty)`,
      'a TLS Secret needs tls.crt (certificate and chain, PEM) and tls.key (private key, PEM)',
    );
  }
  if (!crt.value) return out;

  let info: CertInfo;
  try {
    info = parseCertificate(crt.value);
  } catch (e) {
    add(
      'CertificateUnparsable',
      `tls.crt of Secret ${subject.namespace}/${subject.secretName} cannot be parsed: ${(e as Error).message}`,
      'put the PEM certificate (-----BEGIN CERTIFICATE-----) followed by its intermediates in tls.crt',
    );
    return out;
  }

  if (key.value) {
    let kc: ReturnType<typeof checkKeyMatches>;
    try {
      kc = checkKeyMatches(crt.value, key.value);
    } catch (e) {
      kc = { ok: false, reason: 'Unparsable', message: (e as Error).message };
    }
    if (!kc.ok && kc.reason === 'Unparsable') {
      add('CertificateUnparsable', `tls.key of Secret ${subject.namespace}/${subject.secretName}: ${kc.message}`, 'put the PEM private key (-----BEGIN PRIVATE KEY-----) in tls.key');
    } else if (!kc.ok) {
      add(
        'KeyMismatch',
        `tls.key of Secret ${subject.namespace}/${subject.secretName} does not belong to the certificate in tls.crt (${info.subjectCN ?? info.subject}); TLS handshakes fail`,
        'put the private key that was used for this certificate in tls.key, or issue a new certificate with the key',
      );
    }
  }

  const now = opts.now.getTime();
  const na = info.notAfter.toISOString();
  if (now >= info.notAfter.getTime()) {
    add(
      'CertificateExpired',
      `the certificate in Secret ${subject.namespace}/${subject.secretName} expired at ${na} (${days(now - info.notAfter.getTime())} ago)`,
      managed ? 'run certkeeper renew --force for this Ingress, and check why the renewal did not happen' : 'replace the certificate, or let certkeeper manage it with kubernetes.io/tls-acme: "true"',
    );
  } else if (now < info.notBefore.getTime()) {
    add(
      'CertificateNotYetValid',
      `the certificate in Secret ${subject.namespace}/${subject.secretName} is valid only from ${info.notBefore.toISOString()} (in ${days(info.notBefore.getTime() - now)})`,
      'check the clock of the machine that issued it, or replace it with a certificate that is valid now',
    );
  } else {
    const left = info.notAfter.getTime() - now;
    const window = renewalWindowMs(info, subject.settings?.renewBeforeMs);
    if (left < window) {
      add(
        'CertificateNearExpiry',
        `the certificate in Secret ${subject.namespace}/${subject.secretName} expires at ${na}, in ${days(left)} (lifetime ${days(lifetimeMs(info))}; renewal is due when less than ${days(window)} remain)`,
        managed ? 'certkeeper renews it on its next pass; if this persists, look at the renewal log and Events of the Ingress' : 'renew the certificate soon',
      );
    }
  }

  const kind = defaultCertificateKind(info);
  if (kind !== undefined) {
    add(
      'DefaultCertificateInSecret',
      `Secret ${subject.namespace}/${subject.secretName} holds ${describeDefaultCertificate(kind)}, the controller's self-signed default that no browser trusts`,
      managed ? 'delete the Secret (or run certkeeper renew --adopt) so certkeeper issues a real certificate' : 'replace it with a certificate for the Ingress hosts',
    );
    return out;
  }

  const uncovered = uncoveredHosts(info.sans, subject.hosts);
  for (const host of uncovered) {
    add(
      'SansNotCoveringHosts',
      `the certificate in Secret ${subject.namespace}/${subject.secretName} does not cover "${host}" (its names: ${info.sans.length > 0 ? info.sans.join(', ') : 'none'}; uncovered: ${uncovered.join(', ')})`,
      managed ? 'certkeeper reissues it with all hosts on its next pass (certkeeper renew --force to do it now)' : `replace it with a certificate whose subjectAltName includes ${uncovered.join(', ')}`,
      host,
    );
  }

  if (info.selfSigned) {
    add(
      'SelfSignedCertificate',
      `the certificate in Secret ${subject.namespace}/${subject.secretName} is self-signed (${info.subject}); clients do not trust it`,
      managed ? 'delete the Secret or adopt it (certkeeper renew --adopt) so certkeeper replaces it with a CA-issued one' : 'use a certificate issued by a trusted CA',
    );
  } else if (info.chain.length === 0) {
    add(
      'ChainIncomplete',
      `tls.crt of Secret ${subject.namespace}/${subject.secretName} holds only the leaf certificate (issued by ${info.issuer}); clients without that intermediate cached fail to verify it`,
      'append the intermediate certificate(s) after the leaf in tls.crt (the fullchain.pem of ACME clients)',
    );
  }
  return out;
}
