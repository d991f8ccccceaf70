// The kubernetes.io/tls Secret certkeeper writes, the records it keeps on it, and the one decoder
// of what a Secret holds (API objects with base64 `data`, manifests with `stringData`). Pure:
// builds and reads plain objects; the kube adapter sends them.
import { createHash } from 'node:crypto';
import type { AriRecord } from './ari.js';
import { checkKeyMatches, parseCertificate, type CertInfo } from './cert.js';
import { isRecord } from './ingress.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'certkeeper';
export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

export const ANNOTATION = {
  hosts: 'certkeeper.dev/hosts',
  notAfter: 'certkeeper.dev/not-after',
  renewAt: 'certkeeper.dev/renew-at',
  issuer: 'certkeeper.dev/issuer',
  failures: 'certkeeper.dev/failures',
  retryAfter: 'certkeeper.dev/retry-after',
  lastError: 'certkeeper.dev/last-error',
  /** `write` when the certificate was issued and its Secret could not be written (it is kept). */
  failedStep: 'certkeeper.dev/failed-step',
  /** The ACME profile the CA issued the certificate under (the order's echo). */
  profile: 'certkeeper.dev/profile',
  // The CA's ARI window (RFC 9773) for the certificate in tls.crt, and when to ask again.
  ariCertId: 'certkeeper.dev/ari-cert-id',
  ariWindowStart: 'certkeeper.dev/ari-window-start',
  ariWindowEnd: 'certkeeper.dev/ari-window-end',
  ariExplanationUrl: 'certkeeper.dev/ari-explanation-url',
  ariNextCheck: 'certkeeper.dev/ari-next-check',
  /**
   * What certkeeper wrote into tls.crt and tls.key, as a digest (contentDigest), written only when
   * that content passed the checks that read the private key and every certificate of the chain.
   * While it matches, those checks are not run again: a pass over Secrets it wrote parses no key.
   */
  digest: 'certkeeper.dev/digest',
} as const;

const ARI_KEYS = [ANNOTATION.ariCertId, ANNOTATION.ariWindowStart, ANNOTATION.ariWindowEnd, ANNOTATION.ariExplanationUrl, ANNOTATION.ariNextCheck] as const;

/** The ARI window recorded on a Secret, when it is complete and readable. */
export function readAriRecord(annotations: Record<string, string> | undefined): AriRecord | undefined {
  const certId = annotations?.[ANNOTATION.ariCertId];
  const start = Date.parse(annotations?.[ANNOTATION.ariWindowStart] ?? '');
  const end = Date.parse(annotations?.[ANNOTATION.ariWindowEnd] ?? '');
  if (!certId || Number.isNaN(start) || Number.isNaN(end)) return undefined;
  const r: AriRecord = { certId, start: new Date(start), end: new Date(end) };
  const url = annotations?.[ANNOTATION.ariExplanationUrl];
  if (url) r.explanationUrl = url;
  const next = Date.parse(annotations?.[ANNOTATION.ariNextCheck] ?? '');
  if (!Number.isNaN(next)) r.nextCheck = new Date(next);
  return r;
}

/**
 * The annotations recording `r` (a merge patch: null removes). Without a window (the CA had none
 * for this certificate) only the certID and the next check are kept, so the CA is not asked again
 * before then.
 */
export function ariAnnotations(r: { certId: string; nextCheck: Date; window?: { start: Date; end: Date; explanationUrl?: string } | undefined }): Record<string, string | null> {
  return {
    [ANNOTATION.ariCertId]: r.certId,
    [ANNOTATION.ariNextCheck]: r.nextCheck.toISOString(),
    [ANNOTATION.ariWindowStart]: r.window ? r.window.start.toISOString() : null,
    [ANNOTATION.ariWindowEnd]: r.window ? r.window.end.toISOString() : null,
    [ANNOTATION.ariExplanationUrl]: r.window?.explanationUrl ?? null,
  };
}

/** When the Secret says the CA should next be asked for the certificate `certId` (undefined: ask now). */
export function ariNextCheckFor(annotations: Record<string, string> | undefined, certId: string): Date | undefined {
  if (annotations?.[ANNOTATION.ariCertId] !== certId) return undefined;
  const t = Date.parse(annotations[ANNOTATION.ariNextCheck] ?? '');
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** A Secret as the API returns it, reduced to what certkeeper reads and writes. */
export interface SecretObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  type?: string;
  data?: Record<string, string>;
}

export function isManaged(secret: SecretObject | undefined): boolean {
  return secret?.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/** One key of a Secret, decoded: `value` when readable, `badBase64` when `data` holds no base64. */
export interface SecretValue {
  /**
   * The text, decoded again on each read: a view, which lives as long as its Secret object, keeps
   * neither the private key nor a second copy of the certificates.
   */
  readonly value?: string;
  /** There is a value, and it is not only whitespace. */
  filled?: boolean;
  badBase64?: boolean;
}

/** What a Secret holds, read once; every check reads this, never the object. */
export interface SecretView {
  /** False when there is no Secret (undefined or null). */
  exists: boolean;
  /** False when something that is not an object stands where the Secret should be (manifests). */
  isObject: boolean;
  /** `type`, absent when unset (the API server defaults it to Opaque). */
  type: string | undefined;
  labels: Record<string, unknown>;
  annotations: Record<string, string>;
  crt: SecretValue;
  key: SecretValue;
  /** The leaf of tls.crt and its chain, when tls.crt parses. */
  info?: CertInfo;
  /** Why tls.crt does not parse, when it has a value that does not. */
  parseError?: string;
  /** The CA's ARI window recorded on the Secret (it may belong to an older certificate: renewalPlan checks). */
  ari?: AriRecord;
  /** The profile recorded on the Secret. */
  profile?: string;
  /**
   * tls.crt and tls.key are byte for byte what certkeeper wrote and checked (the digest annotation
   * matches): the key belongs to the leaf. Checks that would parse the key trust this instead.
   */
  trusted?: boolean;
}

/**
 * The digest of a Secret's content that certkeeper.dev/digest records: SHA-256 over the length of
 * tls.crt in bytes, a colon, tls.crt and tls.key (the length keeps a boundary moved between the two
 * from giving the same digest).
 */
export function contentDigest(crt: string, key: string): string {
  return `sha256:${createHash('sha256').update(`${Buffer.byteLength(crt)}:`).update(crt).update(key).digest('hex')}`;
}

function decodeValue(secret: Record<string, unknown>, key: string): { value?: string; badBase64?: boolean } {
  // The API server merges stringData over data, so stringData wins here too.
  const sd = isRecord(secret.stringData) ? secret.stringData[key] : undefined;
  if (typeof sd === 'string') return { value: sd };
  const d = isRecord(secret.data) ? secret.data[key] : undefined;
  if (typeof d !== 'string') return {};
  // The API server never sends whitespace in data; manifests may wrap long values.
  const compact = /\s/.test(d) ? d.replace(/\s+/g, '') : d;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return { badBase64: true };
  return { value: Buffer.from(compact, 'base64').toString('utf8') };
}

/**
 * Views of the Secret objects in use: a pass reads each Secret in `decide` and again in its audit,
 * the live audit three times. Objects from the API and from manifests are never changed in place
 * (a write builds a new object), so a view stays true for as long as its object lives.
 */
const views = new WeakMap<object, SecretView>();

/** Reads a Secret (an API object or a manifest) once. Never throws. */
export function viewSecret(secret: unknown): SecretView {
  if (!isRecord(secret)) return readSecret(secret);
  let view = views.get(secret);
  if (!view) {
    view = readSecret(secret);
    views.set(secret, view);
  }
  return view;
}

function readSecret(secret: unknown): SecretView {
  if (secret === undefined || secret === null) return { exists: false, isObject: false, type: undefined, labels: {}, annotations: {}, crt: {}, key: {} };
  if (!isRecord(secret)) return { exists: true, isObject: false, type: undefined, labels: {}, annotations: {}, crt: {}, key: {} };
  const meta = isRecord(secret.metadata) ? secret.metadata : {};
  const annotations: Record<string, string> = {};
  if (isRecord(meta.annotations)) for (const [k, v] of Object.entries(meta.annotations)) if (typeof v === 'string') annotations[k] = v;
  const crt = decodeValue(secret, 'tls.crt');
  const key = decodeValue(secret, 'tls.key');
  const view: SecretView = {
    exists: true,
    isObject: true,
    type: typeof secret.type === 'string' ? secret.type : undefined,
    labels: isRecord(meta.labels) ? meta.labels : {},
    annotations,
    crt: lazyValue(secret, 'tls.crt', crt),
    key: lazyValue(secret, 'tls.key', key),
  };
  const ari = readAriRecord(annotations);
  if (ari) view.ari = ari;
  if (annotations[ANNOTATION.profile]) view.profile = annotations[ANNOTATION.profile];
  if (crt.value?.trim()) {
    try {
      view.info = parseCertificate(crt.value);
    } catch (e) {
      view.parseError = e instanceof Error ? e.message : String(e);
    }
  }
  const recorded = annotations[ANNOTATION.digest];
  if (recorded !== undefined && view.info && crt.value !== undefined && key.value !== undefined && recorded === contentDigest(crt.value, key.value)) {
    view.trusted = true;
  }
  return view;
}

function lazyValue(secret: Record<string, unknown>, key: string, decoded: { value?: string; badBase64?: boolean }): SecretValue {
  if (decoded.badBase64) return { badBase64: true };
  if (decoded.value === undefined) return {};
  return {
    filled: decoded.value.trim() !== '',
    get value() {
      return decodeValue(secret, key).value;
    },
  };
}

/** The leaf certificate of a Secret, when it holds one that parses. */
export function leafOf(secret: unknown): CertInfo | undefined {
  return viewSecret(secret).info;
}

/** Where the failure record of a Target without a Secret is kept in certkeeper's state ConfigMap. */
export const failureKey = (t: { namespace: string; secretName: string }): string => `failure.${t.namespace}.${t.secretName}`;

export interface FailureRecord {
  failures: number;
  retryAfter: Date;
  lastError: string;
  /** `write`: issued but not written (SecretWriteFailed); absent: obtaining it failed. */
  step?: 'write';
}

/** Reads the failure record kept in annotations so backoff survives restarts. */
export function readFailureRecord(annotations: Record<string, string> | undefined): FailureRecord | undefined {
  const n = Number(annotations?.[ANNOTATION.failures] ?? '');
  const t = Date.parse(annotations?.[ANNOTATION.retryAfter] ?? '');
  if (!Number.isInteger(n) || n <= 0 || Number.isNaN(t)) return undefined;
  const r: FailureRecord = { failures: n, retryAfter: new Date(t), lastError: annotations?.[ANNOTATION.lastError] ?? '' };
  if (annotations?.[ANNOTATION.failedStep] === 'write') r.step = 'write';
  return r;
}

/** The record as a merge patch of annotations (null removes a step the last failure did not have). */
export function failureAnnotations(r: FailureRecord): Record<string, string | null> {
  return {
    [ANNOTATION.failures]: String(r.failures),
    [ANNOTATION.retryAfter]: r.retryAfter.toISOString(),
    // Annotations are limited to 256 KiB in total; an error message needs a few hundred bytes.
    [ANNOTATION.lastError]: r.lastError.length > 500 ? `${r.lastError.slice(0, 497)}...` : r.lastError,
    [ANNOTATION.failedStep]: r.step ?? null,
  };
}

/**
 * Whether the checks that a matching digest lets later passes skip pass now: every certificate of
 * the chain parses and the key belongs to the leaf. Content that fails them gets no digest, so every
 * pass checks it in full and decides exactly as without the digest.
 */
function passesContentChecks(fullchainPem: string, keyPem: string): boolean {
  try {
    parseCertificate(fullchainPem);
    return checkKeyMatches(fullchainPem, keyPem).ok;
  } catch {
    return false;
  }
}

export interface IssuedForSecret {
  fullchainPem: string;
  keyPem: string;
  hosts: readonly string[];
  notAfter: Date;
  renewAt: Date;
  issuerUrl: string;
  /** The profile the CA says it issued under; absent from CAs without profiles. */
  profile?: string | undefined;
}

/**
 * The Secret to write for a newly issued certificate. Labels and annotations that others put on
 * an existing Secret are kept; certkeeper's own failure record is cleared by the success.
 */
export function buildTlsSecret(namespace: string, name: string, cert: IssuedForSecret, existing?: SecretObject): SecretObject {
  const annotations: Record<string, string> = { ...(existing?.metadata.annotations ?? {}) };
  delete annotations[ANNOTATION.failures];
  delete annotations[ANNOTATION.retryAfter];
  delete annotations[ANNOTATION.lastError];
  delete annotations[ANNOTATION.failedStep];
  // The window of the previous certificate says nothing about this one.
  for (const k of ARI_KEYS) delete annotations[k];
  delete annotations[ANNOTATION.profile];
  if (cert.profile) annotations[ANNOTATION.profile] = cert.profile;
  delete annotations[ANNOTATION.digest];
  Object.assign(annotations, {
    [ANNOTATION.hosts]: cert.hosts.join(','),
    [ANNOTATION.notAfter]: cert.notAfter.toISOString(),
    [ANNOTATION.renewAt]: cert.renewAt.toISOString(),
    [ANNOTATION.issuer]: cert.issuerUrl,
  });
  if (passesContentChecks(cert.fullchainPem, cert.keyPem)) annotations[ANNOTATION.digest] = contentDigest(cert.fullchainPem, cert.keyPem);
  const metadata: SecretObject['metadata'] = {
    name,
    namespace,
    labels: { ...(existing?.metadata.labels ?? {}), [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    annotations,
  };
  if (existing?.metadata.resourceVersion) metadata.resourceVersion = existing.metadata.resourceVersion;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata,
    type: TLS_SECRET_TYPE,
    data: {
      ...(existing?.type === TLS_SECRET_TYPE ? (existing.data ?? {}) : {}),
      'tls.crt': Buffer.from(cert.fullchainPem).toString('base64'),
      'tls.key': Buffer.from(cert.keyPem).toString('base64'),
    },
  };
}
