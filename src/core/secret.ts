// The kubernetes.io/tls Secret certkeeper writes, and the records it keeps on it. Pure: builds and
// reads plain objects; the kube adapter sends them.
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, TLS_SECRET_TYPE } from './audit.js';
import { isRecord } from './ingress.js';

export const ANNOTATION = {
  hosts: 'certkeeper.dev/hosts',
  notAfter: 'certkeeper.dev/not-after',
  renewAt: 'certkeeper.dev/renew-at',
  issuer: 'certkeeper.dev/issuer',
  failures: 'certkeeper.dev/failures',
  retryAfter: 'certkeeper.dev/retry-after',
  lastError: 'certkeeper.dev/last-error',
} as const;

export { MANAGED_BY_LABEL, MANAGED_BY_VALUE, TLS_SECRET_TYPE };

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

export function asSecret(obj: unknown): SecretObject | undefined {
  if (!isRecord(obj) || !isRecord(obj.metadata)) return undefined;
  const m = obj.metadata;
  if (typeof m.name !== 'string' || typeof m.namespace !== 'string') return undefined;
  return obj as unknown as SecretObject;
}

export function isManaged(secret: SecretObject | undefined): boolean {
  return secret?.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/** Decoded value of a data key, or undefined. */
export function secretData(secret: SecretObject | undefined, key: string): string | undefined {
  const v = secret?.data?.[key];
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

export interface FailureRecord {
  failures: number;
  retryAfter: Date;
  lastError: string;
}

/** Reads the failure record kept in annotations so backoff survives restarts. */
export function readFailureRecord(annotations: Record<string, string> | undefined): FailureRecord | undefined {
  const n = Number(annotations?.[ANNOTATION.failures] ?? '');
  const t = Date.parse(annotations?.[ANNOTATION.retryAfter] ?? '');
  if (!Number.isInteger(n) || n <= 0 || Number.isNaN(t)) return undefined;
  return { failures: n, retryAfter: new Date(t), lastError: annotations?.[ANNOTATION.lastError] ?? '' };
}

export function failureAnnotations(r: FailureRecord): Record<string, string> {
  return {
    [ANNOTATION.failures]: String(r.failures),
    [ANNOTATION.retryAfter]: r.retryAfter.toISOString(),
    // Annotations are limited to 256 KiB in total; an error message needs a few hundred bytes.
    [ANNOTATION.lastError]: r.lastError.length > 500 ? `${r.lastError.slice(0, 497)}...` : r.lastError,
  };
}

export interface IssuedForSecret {
  fullchainPem: string;
  keyPem: string;
  hosts: readonly string[];
  notAfter: Date;
  renewAt: Date;
  issuerUrl: string;
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
  Object.assign(annotations, {
    [ANNOTATION.hosts]: cert.hosts.join(','),
    [ANNOTATION.notAfter]: cert.notAfter.toISOString(),
    [ANNOTATION.renewAt]: cert.renewAt.toISOString(),
    [ANNOTATION.issuer]: cert.issuerUrl,
  });
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
