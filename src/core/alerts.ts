// Which alerts are firing after a pass, and how loud. Pure: the pass hands over what it knows about
// every certificate and the findings of its check, `now` is a parameter, and nothing here sends,
// remembers or deduplicates anything (src/alerts/dispatcher.ts does).
//
// Levels follow the certificate's lifetime, never fixed days: Let's Encrypt certificates last 90
// days, 45 days (`tlsserver`) or 160 hours (`shortlived`), and a "warn at 30 days" rule would be
// permanently red for two of them and far too late for none.
import type { AriWindow } from './ari.js';
import { renewalWindowMs } from './renewal.js';
import { describeObject, type Finding, type FindingCode, type ObjectRef } from './findings.js';
import type { IngressRef } from './ingress.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** What a pass knows about one managed certificate (one Target and its Secret). */
export interface CertificateState {
  namespace: string;
  secretName: string;
  hosts: string[];
  ingresses: IngressRef[];
  /** Validity of the certificate in the Secret; absent when there is none (yet) or it cannot be parsed. */
  notBefore?: Date;
  notAfter?: Date;
  /**
   * The renewal time the policy planned from the lifetime (or renewBefore). Not moved by backoff:
   * retryAfter says when the next attempt is. Absent → derived from notBefore/notAfter the way the
   * policy does.
   */
  renewAt?: Date;
  /** Consecutive failed issuance attempts (the Secret's failure record). */
  failures: number;
  /** The profile the certificate was issued under. */
  profile?: string;
  /** The CA's ARI window, when renewAt follows it (the renewal reason is then AriRenewalDue). */
  ari?: AriWindow;
  lastError?: string;
  retryAfter?: Date;
}

export type AlertLevel = 'warning' | 'critical';

/** Codes that only alerts use; every other alert code is the FindingCode it came from, unchanged. */
export type DerivedAlertCode =
  | 'CertificateRenewalOverdue'
  | 'CertificateExpiringSoon'
  | 'CertificateExpired'
  | 'IssuanceFailing'
  | 'NoSuccessfulPass';
export type AlertCode = DerivedAlertCode | FindingCode;

export interface Alert {
  /**
   * Stable identity for deduplication: `${namespace}/${secretName}:${kind}`, where kind is
   * `expiry` for the one ladder RenewalOverdue → ExpiringSoon → Expired (so that escalating is one
   * alert changing level, not one alert resolving and another firing) and the code otherwise;
   * `ingress:${namespace}/${name}:${code}` for Ingress findings no managed certificate claims;
   * `pass:NoSuccessfulPass` for the one global alert.
   */
  key: string;
  level: AlertLevel;
  code: AlertCode;
  object: ObjectRef;
  /** The host, when the alert is about exactly one. */
  host?: string;
  /** Hosts concerned (all hosts of the certificate, or the ones a finding names). */
  hosts: string[];
  /** Ingresses to record Events on. */
  ingresses: IngressRef[];
  /** A few words for subject lines: "expires in 2 days", "does not cover www.shop.example". */
  summary: string;
  message: string;
  hint: string;
  notAfter?: Date;
}

export interface AlertInput {
  certificates: readonly CertificateState[];
  findings: readonly Finding[];
  /** Start time of the last pass that completed without error. */
  lastSuccessfulPass?: Date;
  /**
   * Since when passes have been attempted (process start, or the first pass ever recorded). With
   * no successful pass at all, NoSuccessfulPass counts from here; without either, it cannot fire.
   */
  watchingSince?: Date;
  now: Date;
}

export interface AlertOptions {
  /** Time after renewAt before an unrenewed certificate becomes a warning. Default: defaultGraceMs(lifetime). */
  graceMs?: number | ((lifetimeMs: number | undefined) => number);
  /** Consecutive failed attempts that make IssuanceFailing critical. Default 3. */
  failureThreshold?: number;
  /** The schedule's interval; NoSuccessfulPass defaults to twice it. */
  scheduleIntervalMs?: number;
  /** Age of the last successful pass that raises NoSuccessfulPass (warning). Default 2 × scheduleIntervalMs. */
  noSuccessfulPassMs?: number;
  /** Age that makes NoSuccessfulPass critical. Default max(24 h, 2 × noSuccessfulPassMs). */
  noSuccessfulPassCriticalMs?: number;
}

export const DEFAULT_FAILURE_THRESHOLD = 3;

/**
 * Grace after the planned renewal before a warning: max(1 h, 2 % of the lifetime).
 * The first pass after renewAt attempts the renewal and a failure backs off 1 h, then 2 h, so
 * 3.2 h on a 160-hour certificate covers the first attempt and two retries (a CA blip does not
 * page), while on a 90-day certificate 1.8 days still leaves four weeks before expiry. The 1 h
 * floor covers an hourly schedule for certificates of unknown lifetime.
 */
export function defaultGraceMs(lifetimeMs: number | undefined): number {
  return Math.max(HOUR, (lifetimeMs ?? 0) / 50);
}

/**
 * Remaining time below which an unexpired certificate is critical: max(1/10 of the lifetime,
 * 3 days). Three days is what a human needs to react over a weekend; 1/10 is 9 days on a 90-day
 * certificate. Capped at 90 % of the renewal window, so that a certificate is never critical
 * before its renewal was even due (a 5-day certificate, or renewBefore shorter than 3 days).
 */
export function criticalWindowMs(lifetimeMs: number | undefined, renewalWindow: number | undefined): number {
  const want = Math.max((lifetimeMs ?? 0) / 10, 3 * DAY);
  return renewalWindow !== undefined && renewalWindow > 0 ? Math.min(want, 0.9 * renewalWindow) : want;
}

/** How each finding code alerts. Codes not listed (spec lint, info, near-expiry) do not. */
export const FINDING_ALERT_LEVELS: Partial<Record<FindingCode, AlertLevel>> = {
  // Clients reject what they get right now.
  CertificateExpired: 'critical',
  CertificateNotYetValid: 'critical',
  SansNotCoveringHosts: 'critical',
  DefaultCertificateServed: 'critical',
  DefaultCertificateInSecret: 'critical',
  KeyMismatch: 'critical',
  ServedCertificateUntrusted: 'critical',
  // Issued and not served: RBAC, an admission webhook or a quota refuses the write, and that
  // does not fix itself. The certificate is kept, so no order is burnt while a person fixes it.
  SecretWriteFailed: 'critical',
  // Something certkeeper cannot fix or will not manage to renew; IssuanceFailing and the expiry
  // ladder escalate these in time. SecretMissing is a warning because a new Ingress has no Secret
  // until its first issuance succeeds.
  SecretMissing: 'warning',
  SecretInOtherNamespace: 'warning',
  SecretWrongType: 'warning',
  SecretKeysMissing: 'warning',
  CertificateUnparsable: 'warning',
  SecretNotManaged: 'warning',
  ChainIncomplete: 'warning',
  ServedCertificateMismatch: 'warning',
  TlsProbeFailed: 'warning',
  Http01Unreachable: 'warning',
  Http01WrongResponse: 'warning',
  Http01RedirectLoop: 'warning',
  // Renewals stop until the configuration changes.
  ProfileUnknown: 'warning',
  ProfileNotAllowed: 'warning',
  ScheduleTooSparse: 'warning',
  // Gateways: the listener serves no certificate of its Secret, or certkeeper cannot renew through it.
  ListenerRefsNotResolved: 'warning',
  ListenerNotProgrammed: 'warning',
  CertificateRefNotPermitted: 'warning',
  GatewayHttpListenerMissing: 'warning',
  SolverRouteNotAllowed: 'warning',
  ChallengePathRedirected: 'warning',
};

const LEVEL_RANK: Record<AlertLevel, number> = { warning: 1, critical: 2 };

export function levelRank(level: AlertLevel): number {
  return LEVEL_RANK[level];
}

/** Order by UTF-16 code units: the same everywhere, unlike localeCompare, which follows ICU data. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** "2026-11-20T10:00:00Z": ISO without milliseconds. */
export function isoTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "2 days 4 hours", "20 hours", "35 minutes": coarse on purpose, for people. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (abs >= DAY) {
    const d = Math.floor(abs / DAY);
    const h = Math.floor((abs % DAY) / HOUR);
    return d < 10 && h > 0 ? `${plural(d, 'day')} ${plural(h, 'hour')}` : plural(d, 'day');
  }
  if (abs >= HOUR) {
    const h = Math.floor(abs / HOUR);
    const m = Math.floor((abs % HOUR) / MINUTE);
    return h < 10 && m > 0 ? `${plural(h, 'hour')} ${plural(m, 'minute')}` : plural(h, 'hour');
  }
  return plural(Math.max(0, Math.floor(abs / MINUTE)), 'minute');
}

/** "in 2 days" / "5 hours ago". */
export function relativeTime(then: Date, now: Date): string {
  const ms = then.getTime() - now.getTime();
  return ms >= 0 ? `in ${formatDuration(ms)}` : `${formatDuration(ms)} ago`;
}

function secretKey(namespace: string, name: string, kind: string): string {
  return `${namespace}/${name}:${kind}`;
}

/** To the minute: notAfter is inclusive, so a 45-day certificate spans 45 days minus one second. */
function lifetimeOf(s: CertificateState): number | undefined {
  return s.notBefore && s.notAfter ? Math.round((s.notAfter.getTime() - s.notBefore.getTime()) / MINUTE) * MINUTE : undefined;
}

function plannedRenewal(s: CertificateState): Date | undefined {
  if (s.renewAt) return s.renewAt;
  if (s.notBefore && s.notAfter) return new Date(s.notAfter.getTime() - renewalWindowMs({ notBefore: s.notBefore, notAfter: s.notAfter }));
  return undefined;
}

/** " by the CA (AriRenewalDue: its ARI window …, explanation …)" when the CA set the renewal time. */
function ariText(s: CertificateState): string {
  if (!s.ari) return '';
  return ` by the CA (AriRenewalDue: its ARI window is ${isoTime(s.ari.start)} – ${isoTime(s.ari.end)}${s.ari.explanationUrl ? `; explanation: ${s.ari.explanationUrl}` : ''})`;
}

function renewCommand(s: Pick<CertificateState, 'ingresses'>): string {
  const first = s.ingresses[0];
  if (first?.kind === 'Gateway') return `certkeeper renew --gateway ${first.namespace}/${first.name} --force`;
  if (first?.kind === 'ListenerSet') return `certkeeper renew --namespace ${first.namespace} --force`;
  return first ? `certkeeper renew --ingress ${first.namespace}/${first.name} --force` : 'certkeeper renew --force';
}

function hostList(hosts: readonly string[]): string {
  if (hosts.length === 0) return '(no hosts)';
  return hosts.length > 5 ? `${hosts.slice(0, 5).join(', ')} and ${hosts.length - 5} more` : hosts.join(', ');
}

/** "; 3 attempts failed, last error: …; next attempt after …" — the why of an overdue renewal. */
function failureText(s: CertificateState, now: Date): string {
  if (s.failures <= 0) return '; no failed attempt is recorded, so no pass has tried (is the schedule running? `certkeeper status` shows the plan)';
  let t = `; ${s.failures} attempt${s.failures === 1 ? '' : 's'} in a row failed`;
  if (s.lastError) t += `, last error: ${s.lastError}`;
  if (s.retryAfter && s.retryAfter > now) t += `; next attempt after ${isoTime(s.retryAfter)} (${relativeTime(s.retryAfter, now)})`;
  return t;
}

function fixHint(s: CertificateState): string {
  return `renew now with \`${renewCommand(s)}\` and read its log; if the CA cannot validate the hosts, \`certkeeper check --probe\` tests that http://HOST/.well-known/acme-challenge/ reaches certkeeper through the ingress controller`;
}

function expiryAlert(s: CertificateState, now: Date, opts: AlertOptions): Alert | undefined {
  if (!s.notAfter) return undefined;
  const name = `${s.namespace}/${s.secretName}`;
  const life = lifetimeOf(s);
  const renewAt = plannedRenewal(s);
  const left = s.notAfter.getTime() - now.getTime();
  const base = {
    key: secretKey(s.namespace, s.secretName, 'expiry'),
    object: { kind: 'Secret', namespace: s.namespace, name: s.secretName },
    hosts: [...s.hosts],
    ingresses: [...s.ingresses],
    notAfter: s.notAfter,
  };
  const lifeText = life !== undefined ? ` (lifetime ${formatDuration(life)}${s.profile ? `, profile ${s.profile}` : ''})` : '';
  const planned = renewAt ? `; renewal was planned for ${isoTime(renewAt)} (${relativeTime(renewAt, now)})${ariText(s)}` : '';
  const why = `${planned}${failureText(s, now)}`;
  const head = `the certificate in Secret ${name} for ${hostList(s.hosts)}`;

  if (left <= 0) {
    return {
      ...base,
      level: 'critical',
      code: 'CertificateExpired',
      summary: `expired ${formatDuration(left)} ago`,
      message: `${head} expired at ${isoTime(s.notAfter)} (${formatDuration(left)} ago)${lifeText}; clients reject it${why}`,
      hint: fixHint(s),
    };
  }
  const window = renewAt ? s.notAfter.getTime() - renewAt.getTime() : undefined;
  const critical = criticalWindowMs(life, window);
  if (left < critical) {
    return {
      ...base,
      level: 'critical',
      code: 'CertificateExpiringSoon',
      summary: `expires in ${formatDuration(left)}`,
      message: `${head} expires at ${isoTime(s.notAfter)}, in ${formatDuration(left)}${lifeText}, less than the ${formatDuration(critical)} that make it critical${why}`,
      hint: fixHint(s),
    };
  }
  if (renewAt) {
    const grace = typeof opts.graceMs === 'function' ? opts.graceMs(life) : (opts.graceMs ?? defaultGraceMs(life));
    const overdueBy = now.getTime() - renewAt.getTime();
    if (overdueBy > grace) {
      return {
        ...base,
        level: 'warning',
        code: 'CertificateRenewalOverdue',
        summary: `renewal overdue by ${formatDuration(overdueBy)}, expires in ${formatDuration(left)}`,
        message: `${head} was not renewed: it expires at ${isoTime(s.notAfter)}, in ${formatDuration(left)}${lifeText}${why}; it turns critical at ${isoTime(new Date(s.notAfter.getTime() - critical))}`,
        hint: fixHint(s),
      };
    }
  }
  return undefined;
}

function issuanceAlert(s: CertificateState, now: Date, threshold: number): Alert | undefined {
  if (s.failures < threshold) return undefined;
  const name = `${s.namespace}/${s.secretName}`;
  const renewAt = plannedRenewal(s);
  const validity = s.notAfter
    ? `the current certificate is valid until ${isoTime(s.notAfter)} (${relativeTime(s.notAfter, now)})`
    : 'there is no valid certificate in the Secret, so the controller serves its default certificate';
  const planned = renewAt ? `renewal was planned for ${isoTime(renewAt)}; ` : '';
  const next = s.retryAfter && s.retryAfter > now ? `; next attempt after ${isoTime(s.retryAfter)} (${relativeTime(s.retryAfter, now)})` : '';
  const a: Alert = {
    key: secretKey(s.namespace, s.secretName, 'IssuanceFailing'),
    level: 'critical',
    code: 'IssuanceFailing',
    object: { kind: 'Secret', namespace: s.namespace, name: s.secretName },
    hosts: [...s.hosts],
    ingresses: [...s.ingresses],
    summary: `${s.failures} issuance attempts failed`,
    message: `issuing the certificate for Secret ${name} (${hostList(s.hosts)}) failed ${s.failures} times in a row; ${planned}last error: ${s.lastError ?? 'unknown'}${next}; ${validity}`,
    hint: `read the error above; \`certkeeper check --probe\` tests that HTTP-01 reaches certkeeper on port 80 and DNS points at the ingress controller, then \`${renewCommand(s)}\` retries at once (mind the CA's limit of 5 failed validations per host per hour)`,
  };
  if (s.notAfter) a.notAfter = s.notAfter;
  return a;
}

function passAlert(input: AlertInput, opts: AlertOptions): Alert | undefined {
  const warnAfter = opts.noSuccessfulPassMs ?? (opts.scheduleIntervalMs !== undefined ? 2 * opts.scheduleIntervalMs : undefined);
  const since = input.lastSuccessfulPass ?? input.watchingSince;
  if (warnAfter === undefined || since === undefined) return undefined;
  const age = input.now.getTime() - since.getTime();
  if (age <= warnAfter) return undefined;
  const criticalAfter = opts.noSuccessfulPassCriticalMs ?? Math.max(DAY, 2 * warnAfter);
  const level: AlertLevel = age > criticalAfter ? 'critical' : 'warning';
  const what = input.lastSuccessfulPass
    ? `the last successful pass started at ${isoTime(input.lastSuccessfulPass)}, ${formatDuration(age)} ago`
    : `no pass has succeeded since certkeeper started watching at ${isoTime(since)}, ${formatDuration(age)} ago`;
  return {
    key: 'pass:NoSuccessfulPass',
    level,
    code: 'NoSuccessfulPass',
    object: { kind: 'Deployment', name: 'certkeeper' },
    hosts: [],
    ingresses: [],
    summary: `no successful pass for ${formatDuration(age)}`,
    message: `${what}; nothing is being renewed or checked (alert after ${formatDuration(warnAfter)}, critical after ${formatDuration(criticalAfter)})`,
    hint: 'read the certkeeper log (kubectl logs deploy/certkeeper) for the failing step: an unreachable API server or CA, or missing RBAC permissions; `certkeeper renew` runs one pass in the foreground and exits non-zero with the error',
  };
}

/** The certificate state a finding is about: its Secret, or the Target serving that Ingress host. */
function ownerOf(f: Finding, states: readonly CertificateState[]): CertificateState | undefined {
  const o = f.object;
  if (o.namespace === undefined) return undefined;
  if (o.kind === 'Secret') return states.find((s) => s.namespace === o.namespace && s.secretName === o.name);
  if (o.kind === 'Ingress' || o.kind === 'Gateway' || o.kind === 'ListenerSet') {
    const users = states.filter((s) => s.ingresses.some((i) => (i.kind ?? 'Ingress') === o.kind && i.namespace === o.namespace && i.name === o.name));
    return (f.host !== undefined ? users.find((s) => s.hosts.includes(f.host as string)) : undefined) ?? users[0];
  }
  return undefined;
}

function findingAlerts(findings: readonly Finding[], states: readonly CertificateState[], now: Date): Alert[] {
  const groups = new Map<string, { level: AlertLevel; owner: CertificateState | undefined; findings: Finding[] }>();
  for (const f of findings) {
    const level = FINDING_ALERT_LEVELS[f.code];
    if (!level || f.object.namespace === undefined) continue;
    const owner = ownerOf(f, states);
    const kind = f.code === 'CertificateExpired' ? 'expiry' : f.code;
    const key = owner
      ? secretKey(owner.namespace, owner.secretName, kind)
      : f.object.kind === 'Secret'
        ? secretKey(f.object.namespace, f.object.name, kind)
        : `${f.object.kind.toLowerCase()}:${f.object.namespace}/${f.object.name}:${kind}`;
    const g = groups.get(key) ?? { level, owner, findings: [] };
    g.findings.push(f);
    groups.set(key, g);
  }
  const out: Alert[] = [];
  for (const [key, g] of groups) {
    const first = g.findings[0] as Finding;
    const hosts = [...new Set(g.findings.map((f) => f.host).filter((h): h is string => h !== undefined))];
    const messages = [...new Set(g.findings.map((f) => f.message))];
    let message = messages[0] ?? '';
    if (messages.length > 1) message += `; and ${messages.length - 1} more like it${hosts.length > 1 ? ` (hosts ${hostList(hosts)})` : ''}`;
    const owner = g.owner;
    if (owner) {
      const life = lifetimeOf(owner);
      const facts = [owner.profile ? `profile ${owner.profile}` : '', life !== undefined ? `lifetime ${formatDuration(life)}` : ''].filter(Boolean).join(', ');
      const validity = owner.notAfter ? `valid until ${isoTime(owner.notAfter)} (${relativeTime(owner.notAfter, now)}${facts ? `; ${facts}` : ''})` : 'no valid certificate';
      message += ` [Secret ${owner.namespace}/${owner.secretName} for ${hostList(owner.hosts)}: ${validity}]`;
    }
    const ingresses = owner
      ? [...owner.ingresses]
      : (first.object.kind === 'Ingress' || first.object.kind === 'Gateway' || first.object.kind === 'ListenerSet') && first.object.namespace !== undefined
        ? [{ namespace: first.object.namespace, name: first.object.name, ...(first.object.kind !== 'Ingress' ? { kind: first.object.kind } : {}) }]
        : [];
    const a: Alert = {
      key,
      level: g.level,
      code: first.code,
      object: first.object,
      hosts: hosts.length > 0 ? hosts : owner ? [...owner.hosts] : [],
      ingresses,
      summary: `${(FINDING_SUMMARY[first.code] ?? describeObject(first.object))}${hosts.length > 0 ? ` for ${hostList(hosts)}` : ''}`,
      message,
      hint: first.hint,
    };
    if (hosts.length === 1) a.host = hosts[0] as string;
    if (owner?.notAfter) a.notAfter = owner.notAfter;
    out.push(a);
  }
  return out;
}

/** Short phrases for subject lines; the finding's own summary (findings.ts) is written for --help. */
const FINDING_SUMMARY: Partial<Record<FindingCode, string>> = {
  CertificateExpired: 'expired',
  CertificateNotYetValid: 'not valid yet',
  SansNotCoveringHosts: 'does not cover',
  DefaultCertificateServed: 'default certificate served',
  DefaultCertificateInSecret: 'holds a default certificate',
  KeyMismatch: 'key does not match the certificate',
  ServedCertificateUntrusted: 'served chain not trusted',
  SecretMissing: 'Secret missing',
  SecretInOtherNamespace: 'Secret in another namespace',
  SecretWrongType: 'Secret has the wrong type',
  SecretKeysMissing: 'Secret lacks tls.crt or tls.key',
  CertificateUnparsable: 'certificate cannot be parsed',
  SecretNotManaged: 'Secret not managed by certkeeper',
  ChainIncomplete: 'chain incomplete',
  ServedCertificateMismatch: 'controller serves another certificate',
  TlsProbeFailed: 'TLS handshake failed',
  Http01Unreachable: 'HTTP-01 port 80 unreachable',
  Http01WrongResponse: 'HTTP-01 path does not reach certkeeper',
  Http01RedirectLoop: 'HTTP-01 path redirects in a loop',
  SecretWriteFailed: 'issued certificate not written',
  ProfileUnknown: 'profile not offered by the CA',
  ProfileNotAllowed: 'profile does not allow this certificate',
  ScheduleTooSparse: 'schedule too sparse for the renewal window',
};

/**
 * Every alert that is firing after one pass, critical first, one per key. Derived alerts (the
 * expiry ladder, IssuanceFailing) win over a finding with the same key because they carry the
 * renewal history.
 */
export function evaluateAlerts(input: AlertInput, options: AlertOptions = {}): Alert[] {
  const { now } = input;
  const threshold = options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
  const byKey = new Map<string, Alert>();
  const add = (a: Alert | undefined): void => {
    if (!a) return;
    const had = byKey.get(a.key);
    if (!had || levelRank(a.level) > levelRank(had.level)) byKey.set(a.key, a);
  };
  for (const s of input.certificates) {
    add(expiryAlert(s, now, options));
    add(issuanceAlert(s, now, threshold));
  }
  for (const a of findingAlerts(input.findings, input.certificates, now)) add(a);
  add(passAlert(input, options));
  return [...byKey.values()].sort((a, b) => levelRank(b.level) - levelRank(a.level) || byCodeUnits(a.key, b.key));
}
