// Opt-in and per-Ingress settings read from annotations. Pure: the annotations come in as an
// unknown value (from YAML or the API) and every oddity becomes a Finding, never an exception.
import { finding, type Finding, type ObjectRef } from './findings.js';
import { editDistance } from './hosts.js';

export const KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'ecdsa-p256';

export const ANNOTATION_PREFIX = 'certkeeper.dev/';
/** The kube-lego convention that cert-manager also honours. */
export const TLS_ACME_ANNOTATION = 'kubernetes.io/tls-acme';
export const ENABLED_ANNOTATION = 'certkeeper.dev/enabled';
export const INGRESS_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

/** The certkeeper.dev/* annotation names an Ingress may carry, without the prefix. */
export const KNOWN_ANNOTATIONS = ['enabled', 'key-type', 'ca', 'profile', 'renew-before'] as const;

/** ACME directories behind the `certkeeper.dev/ca` keywords. */
export const CA_DIRECTORIES = {
  production: 'https://acme-v02.api.letsencrypt.org/directory',
  staging: 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;

/** `staging`, `production` or a URL → the directory URL. */
export function resolveDirectory(value: string): string {
  if (value === 'production' || value === 'staging') return CA_DIRECTORIES[value];
  return value;
}

export interface IngressSettings {
  keyType: KeyType;
  /** `staging`, `production`, or an https ACME directory URL, as written; undefined = the service default. */
  ca?: string;
  /** ACME profile name (draft-aaron-acme-profiles), passed through to the CA. */
  profile?: string;
  renewBeforeMs?: number;
}

export interface AnnotationResult {
  /** Whether certkeeper manages the Ingress. */
  managed: boolean;
  /** What made it managed, or why not; used in "ignored" reasons and log lines. */
  reason: string;
  /** `certkeeper.dev/enabled: "false"` opts out even under --all-ingresses. */
  optedOut: boolean;
  /** Opted in explicitly by annotation (as opposed to --all-ingresses). */
  explicit: boolean;
  settings: IngressSettings;
  /**
   * A `certkeeper.dev/ca` value that cannot be used. Such an Ingress is not issued for: falling
   * back to the default CA could burn production rate limits or hand out an untrusted certificate.
   */
  caInvalid: boolean;
  /** `kubernetes.io/ingress.class`, the pre-1.18 way to pick a controller. */
  legacyIngressClass?: string;
  findings: Finding[];
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

/**
 * Parses Go-style durations extended with days and weeks (`720h`, `30d`, `1h30m`, `2w`).
 * Returns undefined for anything else, including zero, which would mean "never renew early".
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (!DURATION.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(DURATION_PART)) total += Number(m[1]) * (UNITS_MS[m[2] ?? ''] ?? 0);
  return total > 0 && Number.isFinite(total) ? Math.round(total) : undefined;
}

/** "30d", "36h", "90m": the shortest exact rendering, for messages. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The candidate closest to `word` within a small edit distance, for "did you mean" hints. */
export function closestName(word: string, candidates: readonly string[], maxDistance?: number): string | undefined {
  const max = maxDistance ?? (word.length > 6 ? 3 : 2);
  let best: string | undefined;
  let bestD = max + 1;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = c.toLowerCase() === w ? 0 : editDistance(w, c.toLowerCase(), max);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `the ${typeof v} ${String(v)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bool(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  return s === 'true' ? true : s === 'false' ? false : undefined;
}

const PROFILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Reads opt-in and settings. `annotations` is `metadata.annotations` as found; `ref` names the
 * Ingress in findings.
 */
export function readAnnotations(annotations: unknown, ref: ObjectRef, opts: { allIngresses?: boolean } = {}): AnnotationResult {
  const findings: Finding[] = [];
  const settings: IngressSettings = { keyType: DEFAULT_KEY_TYPE };
  const res: AnnotationResult = {
    managed: false,
    reason: '',
    optedOut: false,
    explicit: false,
    settings,
    caInvalid: false,
    findings,
  };
  const ann = isRecord(annotations) ? annotations : {};
  const invalid = (key: string, message: string, hint: string): void => {
    findings.push(finding('InvalidAnnotationValue', ref, `annotation ${key}: ${message}`, hint));
  };
  // Kubernetes annotation values are strings; an unquoted `true` in YAML is a boolean that the
  // API server rejects, so say so instead of guessing.
  const str = (key: string): string | undefined => {
    const v = ann[key];
    if (v === undefined) return undefined;
    if (typeof v === 'string') return v;
    const scalar = typeof v === 'boolean' || typeof v === 'number';
    invalid(key, `the value is ${describeValue(v)}, but annotation values must be strings`, scalar ? `quote the value: ${key}: "${String(v)}"` : `write ${key} as a quoted string`);
    return scalar ? String(v) : undefined;
  };

  let tlsAcme: boolean | undefined;
  const tlsAcmeRaw = str(TLS_ACME_ANNOTATION);
  if (tlsAcmeRaw !== undefined) {
    tlsAcme = bool(tlsAcmeRaw);
    if (tlsAcme === undefined) invalid(TLS_ACME_ANNOTATION, `"${tlsAcmeRaw}" is neither "true" nor "false"`, `set ${TLS_ACME_ANNOTATION}: "true" to let certkeeper manage this Ingress`);
  }
  const legacyClass = ann[INGRESS_CLASS_ANNOTATION];
  if (typeof legacyClass === 'string' && legacyClass.trim() !== '') res.legacyIngressClass = legacyClass.trim();

  let enabled: boolean | undefined;
  for (const key of Object.keys(ann)) {
    const prefix = key.slice(0, key.indexOf('/') + 1);
    const short = key.slice(prefix.length);
    if (prefix !== ANNOTATION_PREFIX) {
      // A misspelt prefix (certkeper.dev/key-type) would otherwise be silently ignored.
      if (prefix !== '' && editDistance(prefix, ANNOTATION_PREFIX, 2) <= 2) {
        const known = closestName(short, KNOWN_ANNOTATIONS) ?? short;
        findings.push(
          finding(
            'UnknownAnnotation',
            ref,
            `annotation "${key}" looks like a misspelt certkeeper annotation and is ignored`,
            `rename it to "${ANNOTATION_PREFIX}${known}"`,
          ),
        );
      }
      continue;
    }
    switch (short) {
      case 'enabled': {
        const v = str(key);
        if (v === undefined) break;
        enabled = bool(v);
        if (enabled === undefined) invalid(key, `"${v}" is neither "true" nor "false"`, `set ${key}: "true" to opt in, or "false" to opt out`);
        break;
      }
      case 'key-type': {
        const v = str(key);
        if (v === undefined) break;
        const k = v.trim().toLowerCase();
        if ((KEY_TYPES as readonly string[]).includes(k)) settings.keyType = k as KeyType;
        else {
          const near = closestName(k, KEY_TYPES, 3);
          invalid(
            key,
            `"${v}" is not a key type certkeeper can generate; using ${DEFAULT_KEY_TYPE}`,
            `${near ? `did you mean "${near}"? ` : ''}use one of ${KEY_TYPES.join(', ')}`,
          );
        }
        break;
      }
      case 'ca': {
        const v = str(key);
        if (v === undefined) break;
        const s = v.trim();
        const lower = s.toLowerCase();
        if (lower === 'staging' || lower === 'production') settings.ca = lower;
        else if (isHttpsUrl(s)) settings.ca = s;
        else {
          res.caInvalid = true;
          invalid(
            key,
            `"${v}" is neither "staging", "production" nor an https:// ACME directory URL; certkeeper will not issue for this ${ref.kind} until it is fixed`,
            `use "staging" while testing, "production" for trusted certificates, or the full https:// directory URL of another ACME CA`,
          );
        }
        break;
      }
      case 'profile': {
        const v = str(key);
        if (v === undefined) break;
        const s = v.trim();
        if (PROFILE.test(s)) settings.profile = s;
        else invalid(key, `"${v}" is not an ACME profile name`, 'use a profile the CA offers, such as "classic", "tlsserver" or "shortlived" for Let\'s Encrypt');
        break;
      }
      case 'renew-before': {
        const v = str(key);
        if (v === undefined) break;
        const ms = parseDuration(v);
        if (ms !== undefined) settings.renewBeforeMs = ms;
        else invalid(key, `"${v}" is not a positive duration; renewal uses the default 1/3 of the lifetime`, 'write a duration such as "720h", "30d" or "90m"');
        break;
      }
      default: {
        const near = closestName(short, KNOWN_ANNOTATIONS);
        findings.push(
          finding(
            'UnknownAnnotation',
            ref,
            `unknown annotation "${key}" is ignored`,
            near
              ? `did you mean "${ANNOTATION_PREFIX}${near}"?`
              : `known certkeeper annotations: ${KNOWN_ANNOTATIONS.map((k) => ANNOTATION_PREFIX + k).join(', ')}`,
          ),
        );
      }
    }
  }

  if (enabled === false) {
    res.optedOut = true;
    res.reason = `opted out with ${ENABLED_ANNOTATION}: "false"`;
  } else if (enabled === true) {
    res.managed = res.explicit = true;
    res.reason = `${ENABLED_ANNOTATION}: "true"`;
  } else if (tlsAcme === true) {
    res.managed = res.explicit = true;
    res.reason = `${TLS_ACME_ANNOTATION}: "true"`;
  } else if (opts.allIngresses) {
    res.managed = true;
    res.reason = '--all-ingresses';
  } else {
    res.reason = `not opted in (no ${TLS_ACME_ANNOTATION}: "true" or ${ENABLED_ANNOTATION}: "true" annotation)`;
  }
  return res;
}

function isHttpsUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' && u.hostname !== '';
  } catch {
    return false;
  }
}
