// The live audit: what the cluster holds (Ingresses, Secrets) and, with a probe, what the ingress
// controller really serves, as Findings plus one row per certificate. `check`, `status` and the cron
// service share it, so a certificate that `status` calls Valid is one `renew` skips and `check`
// passes: rows come from the same `decide`, findings from the same audit chain (core/checks.ts).
// It depends on ports (src/ports.ts) and the routing orchestrator, never on client-node.
import type { CertificateState } from './core/alerts.js';
import { resolveDirectory } from './core/annotations.js';
import type { CertInfo } from './core/cert.js';
import { auditSecret } from './core/checks.js';
import { describeObject, finding, type Finding, type ObjectRef } from './core/findings.js';
import { canonicalHost, checkHost } from './core/hosts.js';
import { attachListenerSet, isGatewayApiObject, viewGateway, viewListenerSet } from './core/gateway-api.js';
import { mergePlans, planGateways } from './core/gateways.js';
import { describeUsers, isRecord, viewIngress, type IngressRef } from './core/ingress.js';
import { decide, type Decision } from './core/policy.js';
import type { AriWindow } from './core/ari.js';
import { lifetimeMs } from './core/cert.js';
import { renewalPlan, type RenewalBasis } from './core/renewal.js';
import { failureKey, readFailureRecord, viewSecret, type FailureRecord, type SecretObject } from './core/secret.js';
import { listNamespaceOf, planTargets, type PlanOptions, type SecretUse, type Selection, type Target } from './core/targets.js';
import { DAY, isoSeconds } from './core/time.js';
import { errorMessage } from './errors.js';
import type { AuditClusterPort } from './ports.js';
import {
  describeAddress,
  judgeNoSniCertificate,
  judgeServedCertificate,
  probeAll,
  probeTls,
  type ProbeAddress,
  type TlsProbeResult,
} from './probe/index.js';
import type { ChallengeRouting, ProbeRouteItem } from './routing.js';

export interface LiveProbeOptions {
  /** TLS probes connect here instead of each Ingress's status.loadBalancer address on port 443. */
  address?: ProbeAddress;
  /** HTTP-01 probes connect here (the port stands for 80); default: `address`'s host on port 80. */
  httpAddress?: ProbeAddress;
  /** Extra trusted roots (PEM) for verifying served chains. */
  caBundle?: string;
  /** Deadline of one handshake or HTTP request. */
  timeoutMs: number;
  concurrency: number;
  /** HTTP-01 reachability of managed hosts; omitted → TLS only. */
  http01?: {
    routing: Pick<ChallengeRouting, 'probe'>;
    /** How long the controller gets to route the new solver route before failures count. */
    waitMs: number;
    intervalMs?: number;
  };
}

export interface AuditClusterOptions {
  now: Date;
  selection?: Selection;
  /** The service-wide ACME directory; with it, a CA switch shows as RenewalDue like `renew` sees it. */
  directoryUrl?: string;
  /** Service-wide renewBefore; a Target's annotation wins (as in `renew`). */
  renewBeforeMs?: number;
  /** The service's ACME profile; a Target's annotation wins (as in `renew`). */
  profile?: string;
  /** certkeeper's namespace: where a Gateway's solver HTTPRoute goes when the listener admits it. */
  selfNamespace?: string;
  probe?: LiveProbeOptions;
  /** Progress and cleanup problems; optional. */
  log?: { debug(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** SIGINT/SIGTERM: stop between steps (a probe route and token are still removed), say what was left. */
  signal?: AbortSignal;
}

// ---- result --------------------------------------------------------------------------------------

export const CERTIFICATE_STATUSES = ['Valid', 'RenewalDue', 'Expired', 'Missing', 'Invalid', 'Failing', 'InBackoff', 'NotManaged'] as const;
export type CertificateStatus = (typeof CERTIFICATE_STATUSES)[number];

/**
 * One certificate: a Target, or a Secret used by Ingresses certkeeper does not manage. A superset of
 * the alerts' CertificateState, so the cron service hands rows to alerting unchanged.
 */
export interface CertificateRow extends CertificateState {
  managed: boolean;
  state: CertificateStatus;
  /** The policy's reason (UpToDate, RenewalDue, SecretDoesNotExist, InBackoff, …), or NotManaged. */
  reason: string;
  message: string;
  /** Issuer CN (or DN) of the leaf. */
  issuer?: string;
  /** Whole days until notAfter, rounded down; negative once expired. */
  daysLeft?: number;
  serial?: string;
  fingerprint?: string;
  /** The Secret's type when it is not kubernetes.io/tls. */
  secretType?: string;
  /** The profile the certificate was issued under (certkeeper.dev/profile on the Secret). */
  profile?: string;
  /** notAfter − notBefore: what the CA really issued, whatever the profile's name promises. */
  lifetimeMs?: number;
  /** What RENEWS AT follows: the CA's ARI window, the lifetime ratio or renewBefore. */
  renewalBasis?: RenewalBasis;
  /** The CA's ARI window recorded for the certificate. */
  ari?: AriWindow;
}

export interface LiveAuditResult {
  findings: Finding[];
  certificates: CertificateRow[];
  counts: { ingresses: number; gateways: number; secrets: number; tlsProbes: number; http01Probes: number };
  /** What could not be checked and why (printed to stderr by the commands). */
  notes: string[];
  /** Set when `signal` stopped the audit before it was done: the reason and what was left undone. */
  stopped?: { reason: string; undone: string[] };
}

function stopReason(signal: AbortSignal): string {
  return errorMessage(signal.reason ?? 'stopped');
}

const keyOf = (x: { namespace: string; secretName: string }) => `${x.namespace}/${x.secretName}`;
/** "shop/web" for an Ingress, "Gateway:shop/edge" for a Gateway API object (they may share a name). */
const refKey = (r: IngressRef) => (r.kind && r.kind !== 'Ingress' ? `${r.kind}:${r.namespace}/${r.name}` : `${r.namespace}/${r.name}`);

// ---- the audit -----------------------------------------------------------------------------------

export async function auditCluster(port: AuditClusterPort, opts: AuditClusterOptions): Promise<LiveAuditResult> {
  const notes: string[] = [];
  const listNamespace = listNamespaceOf(opts.selection);
  const [ingresses, tlsSecrets, stored] = await Promise.all([
    port.listIngresses(listNamespace),
    port.listTlsSecrets(listNamespace),
    port.loadFailures
      ? port.loadFailures().catch((e: unknown) => {
          notes.push(`failure records of certificates without a Secret were not read: ${errorMessage(e)}`);
          return new Map<string, FailureRecord>();
        })
      : Promise.resolve(new Map<string, FailureRecord>()),
  ]);
  // After the Ingress lists (see pass.ts): their error first, and nothing left retrying.
  const gatewayApi = await port.listGatewayApi?.(listNamespace);
  const planOpts: PlanOptions = { ...opts.selection, includeUnmanaged: true };
  const gatewayObjects = gatewayApi ?? [];
  const plan = mergePlans(
    planTargets(ingresses, planOpts),
    planGateways(gatewayObjects, { ...planOpts, ...(opts.selfNamespace !== undefined ? { selfNamespace: opts.selfNamespace } : {}) }),
  );

  const secrets = new Map<string, SecretObject>();
  for (const s of tlsSecrets) secrets.set(`${s.metadata.namespace}/${s.metadata.name}`, s);

  // Secrets the TLS list lacks may exist with another type, or in another namespace. One list per
  // distinct missing name (field selector metadata.name, all namespaces) answers both questions.
  const missingNames = new Map<string, Set<string>>();
  for (const u of plan.secretUses) {
    if (secrets.has(keyOf(u))) continue;
    const set = missingNames.get(u.secretName) ?? new Set<string>();
    set.add(u.namespace);
    missingNames.set(u.secretName, set);
  }
  const named = new Map<string, SecretObject[]>();
  const undone: string[] = [];
  const lookups = await probeAll(
    [...missingNames],
    ([name, namespaces]) => (opts.signal?.aborted ? Promise.resolve(undefined) : port.listSecretsNamed(name, [...namespaces])),
    5,
  );
  [...missingNames.keys()].forEach((name, i) => {
    const found = lookups[i];
    if (found === undefined) undone.push(`the search for Secret ${name} in other namespaces`);
    named.set(name, found ?? []);
  });

  const findings: Finding[] = [...plan.findings];
  const certificates: CertificateRow[] = [];
  const targets = new Map(plan.targets.map((t) => [keyOf(t), t]));
  const secretFor = new Map<string, SecretObject | undefined>();

  for (const use of plan.secretUses) {
    const others = named.get(use.secretName) ?? [];
    const secret = secrets.get(keyOf(use)) ?? others.find((s) => s.metadata.namespace === use.namespace);
    secretFor.set(keyOf(use), secret);
    const renewBeforeMs = use.settings?.renewBeforeMs ?? opts.renewBeforeMs;
    const subject = { ...use, ...(renewBeforeMs !== undefined ? { settings: { renewBeforeMs } } : {}) };
    const elsewhere = secret ? [] : others.filter((s) => s.metadata.namespace !== use.namespace).map((s) => ({ namespace: s.metadata.namespace }));
    findings.push(...auditSecret(subject, secret, { now: opts.now, secretsElsewhere: elsewhere }));

    const target = targets.get(keyOf(use));
    const failure = readFailureRecord(secret?.metadata.annotations) ?? (target ? stored.get(failureKey(target)) : undefined);
    const row = certificateRow(use, target, secret, failure, opts);
    certificates.push(row);
    if (target && failure) findings.push(failureFinding(target, failure, opts.now));
  }

  const result: LiveAuditResult = {
    findings,
    certificates,
    counts: { ingresses: ingresses.length, gateways: gatewayObjects.filter((o) => isGatewayApiObject(o, 'Gateway')).length, secrets: tlsSecrets.length, tlsProbes: 0, http01Probes: 0 },
    notes,
  };
  if (opts.probe && !opts.signal?.aborted) await probeLive(result, [...ingresses, ...gatewayObjects], plan.secretUses, plan.targets, secretFor, opts.probe, opts, undone);
  else if (opts.probe) undone.push('every TLS and HTTP-01 probe');
  if (opts.signal?.aborted) result.stopped = { reason: stopReason(opts.signal), undone };
  return result;
}

function failureFinding(target: Target, f: FailureRecord, now: Date): Finding {
  const ref: ObjectRef = { kind: 'Secret', namespace: target.namespace, name: target.secretName };
  const attempts = `${f.failures} failed attempt${f.failures === 1 ? '' : 's'}`;
  const first = target.ingresses[0];
  const retry = `certkeeper renew --${first?.kind === 'Gateway' ? 'gateway' : first?.kind === 'ListenerSet' ? 'namespace' : 'ingress'} ${first ? (first.kind === 'ListenerSet' ? first.namespace : `${first.namespace}/${first.name}`) : `${target.namespace}/…`} --force`;
  if (f.step === 'write') {
    // The certificate exists and is kept: what fails is the write, and the fix is the write's.
    return finding(
      'SecretWriteFailed',
      ref,
      `a certificate for ${target.hosts.join(', ')} was issued but writing Secret ${keyOf(target)} failed (${attempts}); it is kept and written at the next attempt${f.retryAfter > now ? `, ${isoSeconds(f.retryAfter)}` : ''}, without a new order. Last error: ${f.lastError}`,
      `fix what refused the write (RBAC, an admission webhook, a quota), then run \`${retry}\` to write it now`,
    );
  }
  if (f.retryAfter > now) {
    return finding(
      'IssuanceBackoff',
      ref,
      `issuing a certificate for ${target.hosts.join(', ')} failed (${attempts}); the next attempt is at ${isoSeconds(f.retryAfter)}. Last error: ${f.lastError}`,
      `fix the cause named by the last error, then run \`${retry}\` to retry now`,
    );
  }
  return finding(
    'IssuanceFailed',
    ref,
    `issuing a certificate for ${target.hosts.join(', ')} failed (${attempts}; the next pass retries). Last error: ${f.lastError}`,
    `fix the cause named by the last error; \`${retry}\` retries now and explains every step`,
  );
}

/** The state of one certificate, from the same `decide` that `renew` runs. */
function certificateRow(use: SecretUse, target: Target | undefined, secret: SecretObject | undefined, failure: FailureRecord | undefined, opts: AuditClusterOptions): CertificateRow {
  const { now } = opts;
  const view = viewSecret(secret);
  const info = view.info;
  const renewBeforeMs = target?.settings.renewBeforeMs ?? opts.renewBeforeMs;
  const row: CertificateRow = {
    namespace: use.namespace,
    secretName: use.secretName,
    hosts: [...use.hosts],
    ingresses: use.ingresses.map((i) => ({ namespace: i.namespace, name: i.name, ...(i.kind !== undefined ? { kind: i.kind } : {}) })),
    managed: use.managed,
    state: 'Valid',
    reason: 'UpToDate',
    message: '',
    failures: failure?.failures ?? 0,
  };
  if (secret?.type !== undefined && secret.type !== 'kubernetes.io/tls') row.secretType = secret.type;
  if (target?.settings.profile) row.profile = target.settings.profile;
  if (info) {
    row.notBefore = info.notBefore;
    row.notAfter = info.notAfter;
    row.issuer = info.issuerCN ?? info.issuer;
    row.daysLeft = Math.floor((info.notAfter.getTime() - now.getTime()) / DAY);
    row.serial = info.serial;
    row.fingerprint = info.fingerprint;
    row.lifetimeMs = lifetimeMs(info);
  }
  if (view.profile) row.profile = view.profile;
  if (failure) {
    row.lastError = failure.lastError;
    row.retryAfter = failure.retryAfter;
  }

  if (!use.managed) {
    row.state = 'NotManaged';
    row.reason = 'NotManaged';
    row.message = secret
      ? `used by ${describeUsers(row.ingresses)}, which certkeeper does not manage${info ? `; ${info.notAfter <= now ? 'expired' : 'valid until'} ${isoSeconds(info.notAfter)}` : ''}`
      : `Secret ${keyOf(use)} does not exist; ${describeUsers(row.ingresses)} ${row.ingresses.length === 1 ? 'is' : 'are'} not managed by certkeeper`;
    return row;
  }
  if (!target) {
    row.state = 'Invalid';
    row.reason = 'NotIssuable';
    row.message = 'certkeeper cannot issue for this Secret as configured (an invalid certkeeper.dev/ca or too many names); see `certkeeper check`';
    return row;
  }
  if (info) {
    const plan = renewalPlan(info, { renewBeforeMs, ari: view.ari });
    row.renewAt = plan.renewAt;
    row.renewalBasis = plan.basis;
    if (plan.ari) row.ari = plan.ari;
  }

  const issuerUrl = target.settings.ca ? resolveDirectory(target.settings.ca) : (opts.directoryUrl ?? secret?.metadata.annotations?.['certkeeper.dev/issuer'] ?? '');
  const input: Parameters<typeof decide>[0] = { target, secret, now, issuerUrl };
  if (opts.renewBeforeMs !== undefined) input.renewBeforeMs = opts.renewBeforeMs;
  const profile = target.settings.profile ?? opts.profile;
  if (profile !== undefined) input.profile = profile;
  if (failure) input.failure = failure;
  const d: Decision = decide(input);
  row.reason = d.reason;
  row.message = d.message;
  if (d.action === 'refuse') {
    row.state = d.reason === 'SecretNotManaged' ? 'NotManaged' : 'Invalid';
    return row;
  }
  if (d.action === 'skip') {
    row.state = d.reason === 'InBackoff' ? 'InBackoff' : 'Valid';
    if (d.renewAt) row.renewAt = d.renewAt;
    return row;
  }
  // The next pass issues: say why, the worst first.
  if (failure) row.state = 'Failing';
  else if (d.reason === 'SecretDoesNotExist') row.state = 'Missing';
  else if (info && info.notAfter <= now) row.state = 'Expired';
  else if (['RenewalDue', 'AriRenewalDue', 'HostsChanged', 'IssuerChanged', 'ProfileChanged'].includes(d.reason)) row.state = 'RenewalDue';
  else if (d.reason === 'CertificateExpired') row.state = 'Expired';
  else row.state = 'Invalid';
  if (failure) row.message = `${d.message}; ${failure.failures} failed attempt${failure.failures === 1 ? '' : 's'}, last error: ${failure.lastError}`;
  return row;
}

// ---- the probe -----------------------------------------------------------------------------------

interface IngressFacts {
  key: string;
  ref: ObjectRef;
  /** status.loadBalancer of an Ingress, status.addresses of a Gateway (and of its ListenerSets). */
  addresses: string[];
  /** spec.tls hosts (canonical) by secretName; a Gateway's listener hostnames by certificateRefs Secret. */
  tlsHosts: Map<string, Set<string>>;
  /** Gateway listeners: the port serving TLS for each hostname (443 otherwise). */
  tlsPorts?: Map<string, number>;
}

/** The probe's facts of Gateways and ListenerSets: where they serve which listener hostname. */
function gatewayFacts(objects: readonly unknown[], out: Map<string, IngressFacts>): void {
  const gateways = objects.flatMap((o, i) => (isGatewayApiObject(o, 'Gateway') ? [viewGateway(o, i, 'default')] : []));
  const sets = objects.flatMap((o, i) => (isGatewayApiObject(o, 'ListenerSet') ? [viewListenerSet(o, i, 'default')] : []));
  for (const g of gateways) {
    const owners: { ref: ObjectRef & IngressRef; listeners: typeof g.listeners }[] = [{ ref: g.ref, listeners: g.listeners }];
    for (const s of sets) {
      if (s.parent?.namespace !== g.ref.namespace || s.parent.name !== g.ref.name) continue;
      attachListenerSet(s, g, 0);
      owners.push({ ref: s.ref, listeners: s.listeners });
    }
    for (const o of owners) {
      const tlsHosts = new Map<string, Set<string>>();
      const tlsPorts = new Map<string, number>();
      for (const l of o.listeners) {
        if (l.protocol !== 'HTTPS' || l.hostname === undefined) continue;
        const ref = l.certificateRefs[0];
        if (ref) tlsHosts.set(ref.name, (tlsHosts.get(ref.name) ?? new Set<string>()).add(l.hostname));
        if (l.port !== undefined) tlsPorts.set(l.hostname, l.port);
      }
      const key = refKey(o.ref);
      out.set(key, { key, ref: { ...o.ref }, addresses: [...g.addresses], tlsHosts, tlsPorts });
    }
  }
}

function ingressFacts(objects: readonly unknown[]): Map<string, IngressFacts> {
  const out = new Map<string, IngressFacts>();
  gatewayFacts(objects, out);
  for (const obj of objects) {
    if (!isRecord(obj) || obj.kind !== 'Ingress') continue;
    const view = viewIngress(obj);
    const namespace = view.namespace ?? 'default';
    const addresses: string[] = [];
    const status = isRecord(obj.status) && isRecord(obj.status.loadBalancer) ? obj.status.loadBalancer : {};
    for (const lb of Array.isArray(status.ingress) ? status.ingress : []) {
      if (!isRecord(lb)) continue;
      const a = typeof lb.ip === 'string' && lb.ip !== '' ? lb.ip : typeof lb.hostname === 'string' && lb.hostname !== '' ? lb.hostname : undefined;
      if (a !== undefined && !addresses.includes(a)) addresses.push(a);
    }
    const tlsHosts = new Map<string, Set<string>>();
    for (const t of view.tls) {
      if (t.secretName === undefined) continue;
      const set = tlsHosts.get(t.secretName) ?? new Set<string>();
      for (const h of t.hosts ?? []) set.add(canonicalHost(h));
      tlsHosts.set(t.secretName, set);
    }
    out.set(`${namespace}/${view.name}`, { key: `${namespace}/${view.name}`, ref: { kind: 'Ingress', namespace, name: view.name }, addresses, tlsHosts });
  }
  return out;
}

/** The Ingress of `use` whose spec.tls lists `host` for this Secret (the one a user would fix). */
function ingressFor(use: { secretName: string; ingresses: readonly IngressRef[] }, host: string, facts: Map<string, IngressFacts>): IngressFacts | undefined {
  const all = use.ingresses.map((i) => facts.get(refKey(i))).filter((f): f is IngressFacts => f !== undefined);
  return all.find((f) => f.tlsHosts.get(use.secretName)?.has(host)) ?? all[0];
}

function unknownAddress(f: IngressFacts, hosts: readonly string[]): Finding {
  if (f.ref.kind !== 'Ingress') {
    return finding(
      'ProbeAddressUnknown',
      f.ref,
      `${describeObject(f.ref)} has no address in ${f.ref.kind === 'Gateway' ? 'its' : 'its Gateway\'s'} status.addresses, so what the Gateway serves for ${hosts.join(', ')} cannot be probed`,
      'pass --probe-address HOST:PORT with the address of the Gateway\'s Service or load balancer; a Gateway without status.addresses is usually not programmed yet (kubectl describe gateway)',
    );
  }
  return finding(
    'ProbeAddressUnknown',
    f.ref,
    `${describeObject(f.ref)} has no address in status.loadBalancer, so what the ingress controller serves for ${hosts.join(', ')} cannot be probed`,
    'pass --probe-address HOST:PORT with the address of the ingress controller\'s Service (kubectl get svc -A | grep -i ingress); controllers publish the address only when told where they are exposed (ingress-nginx: --publish-service, Traefik: providers.kubernetesIngress.ingressEndpoint)',
  );
}

async function probeLive(
  result: LiveAuditResult,
  ingresses: readonly unknown[],
  uses: readonly SecretUse[],
  targets: readonly Target[],
  secretFor: Map<string, SecretObject | undefined>,
  probe: LiveProbeOptions,
  opts: AuditClusterOptions,
  undone: string[],
): Promise<void> {
  const facts = ingressFacts(ingresses);
  const { now } = opts;
  const tlsAddresses = (f: IngressFacts, name: string): ProbeAddress[] => (probe.address ? [probe.address] : f.addresses.map((host) => ({ host, port: f.tlsPorts?.get(name) ?? 443 })));

  // --- TLS: one handshake per (address, host), one without SNI per address ---
  interface TlsCheck {
    host: string;
    ingress: IngressFacts;
    address: ProbeAddress;
    expected: CertInfo | undefined;
  }
  const checks: TlsCheck[] = [];
  const unaddressed = new Map<string, { f: IngressFacts; hosts: Set<string> }>();
  for (const use of uses) {
    const expected = viewSecret(secretFor.get(keyOf(use))).info;
    for (const host of use.hosts) {
      // A wildcard is not a name a client sends; nothing to ask the controller for.
      if (!checkHost(host).ok) continue;
      const f = ingressFor(use, host, facts);
      if (!f) continue;
      const addresses = tlsAddresses(f, host);
      if (addresses.length === 0) {
        const u = unaddressed.get(f.key) ?? { f, hosts: new Set<string>() };
        u.hosts.add(host);
        unaddressed.set(f.key, u);
        continue;
      }
      for (const address of addresses) checks.push({ host, ingress: f, address, expected });
    }
  }
  for (const { f, hosts } of unaddressed.values()) result.findings.push(unknownAddress(f, [...hosts].sort()));

  const handshakeKey = (a: ProbeAddress, host: string | undefined) => `${describeAddress(a)}|${host ?? ''}`;
  const handshakes = new Map<string, { address: ProbeAddress; servername: string | undefined }>();
  for (const c of checks) handshakes.set(handshakeKey(c.address, c.host), { address: c.address, servername: c.host });
  for (const c of checks) handshakes.set(handshakeKey(c.address, undefined), { address: c.address, servername: undefined });
  const jobs = [...handshakes.entries()];
  const served = await probeAll(
    jobs,
    ([, j]) =>
      opts.signal?.aborted
        ? Promise.resolve(undefined)
        : probeTls({
            address: j.address,
            timeoutMs: probe.timeoutMs,
            ...(j.servername !== undefined ? { servername: j.servername } : {}),
            ...(probe.caBundle !== undefined ? { caBundle: probe.caBundle } : {}),
          }),
    probe.concurrency,
  );
  const byKey = new Map<string, TlsProbeResult>();
  let skipped = 0;
  jobs.forEach(([k], i) => {
    const r = served[i];
    if (r) byKey.set(k, r);
    else skipped++;
  });
  if (skipped > 0) undone.push(`${skipped} of ${jobs.length} TLS handshake${jobs.length === 1 ? '' : 's'}`);
  result.counts.tlsProbes = jobs.length - skipped;
  const judged = new Set<string>();
  for (const c of checks) {
    const r = byKey.get(handshakeKey(c.address, c.host));
    const once = `${c.ingress.key}|${handshakeKey(c.address, c.host)}`;
    if (!r || judged.has(once)) continue;
    judged.add(once);
    const input: Parameters<typeof judgeServedCertificate>[0] = { host: c.host, served: r, ingressRef: c.ingress.ref, now };
    if (c.expected) input.expected = c.expected;
    result.findings.push(...judgeServedCertificate(input));
  }
  for (const [k, j] of jobs) {
    if (j.servername !== undefined) continue;
    const r = byKey.get(k);
    if (r) result.findings.push(...judgeNoSniCertificate({ served: r, object: { kind: 'LoadBalancer', name: describeAddress(j.address) }, now }));
  }

  if (probe.http01 && opts.signal?.aborted) undone.push('the HTTP-01 reachability probe');
  else if (probe.http01) {
    await probeHttp01Reachability(result, targets, facts, probe, opts.signal);
    if (opts.signal?.aborted) undone.push('the HTTP-01 reachability probe of the hosts that had not answered yet');
  }
}

/**
 * HTTP-01 reachability of the hosts certkeeper manages, through the routing orchestrator: a probe
 * token, a solver route per kind and class, the one reachability loop, and cleanup.
 */
async function probeHttp01Reachability(result: LiveAuditResult, targets: readonly Target[], facts: Map<string, IngressFacts>, probe: LiveProbeOptions, signal?: AbortSignal): Promise<void> {
  const http01 = probe.http01;
  if (!http01) return;
  const items = new Map<string, ProbeRouteItem>();
  for (const t of targets) {
    for (const host of t.hosts) {
      const f = ingressFor(t, host, facts);
      if (!f) continue;
      const first = f.addresses[0];
      const address = probe.httpAddress ?? (probe.address ? { host: probe.address.host, port: 80 } : first !== undefined ? { host: first, port: 80 } : undefined);
      // No address: ProbeAddressUnknown is already reported for this Ingress.
      if (!address || items.has(host)) continue;
      const item: ProbeRouteItem = { host, target: t, ref: f.ref, address };
      // A redirect to https://HOST/ goes to the TLS address when one was given.
      if (probe.address) item.ports = { https: probe.address.port };
      items.set(host, item);
    }
  }
  const report = await http01.routing.probe([...items.values()], {
    waitMs: http01.waitMs,
    requestTimeoutMs: probe.timeoutMs,
    concurrency: probe.concurrency,
    ...(http01.intervalMs !== undefined ? { intervalMs: http01.intervalMs } : {}),
    ...(signal ? { signal } : {}),
  });
  result.findings.push(...report.findings);
  result.counts.http01Probes += report.requests;
  result.notes.push(...report.notes);
}
