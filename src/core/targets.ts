// Ingresses → Targets (certificates to keep) + spec Findings. One code path serves `renew`
// (planTargets), `check` and `lint` (lintIngressSpec is planTargets on one object), so a host
// that lint calls broken is exactly a host that renew refuses, for the same stated reason.
import { closestName, readAnnotations, type IngressSettings } from './annotations.js';
import { finding, type Finding, type FindingCode, type ObjectRef } from './findings.js';
import { MAX_NAMES_PER_CERTIFICATE, NameSet, TypoIndex, canonicalHost, checkHost, type HostCheck } from './hosts.js';
import { INGRESS_V1, ingressClassOf, isIngressObject, viewIngress, type BackendView, type IngressRef, type IngressView } from './ingress.js';

export type { KeyType } from './annotations.js';
export type { IngressRef } from './ingress.js';

export type TargetSettings = IngressSettings;

/** One certificate to keep: a Secret in a namespace holding a certificate for `hosts`. */
export interface Target {
  namespace: string;
  secretName: string;
  /** Normalised (lower-case, punycode, no trailing dot), validated, routed, sorted. */
  hosts: string[];
  /** Every Ingress whose spec.tls names this Secret, sorted by namespace/name. */
  ingresses: IngressRef[];
  ingressClass?: string;
  settings: TargetSettings;
  /**
   * Gateway API: where the solver HTTPRoute attaches for which hosts. Absent for a Target only
   * Ingresses name; a Target both name gets a solver Ingress and an HTTPRoute.
   */
  gatewayRoutes?: GatewayRoutePlan[];
  /**
   * Problems found before any order that would make HTTP-01 validation fail (no port-80 listener,
   * allowedRoutes refusing the solver route, a redirect taking the challenge path). While any
   * remains no order is placed: an authorization the CA would fail is never spent.
   */
  blockers?: Finding[];
}

/** One solver HTTPRoute: its parent listener, its namespace, and the hosts it routes. */
export interface GatewayRoutePlan {
  /** The Gateway or ListenerSet owning the port-80 listener; `sectionName` is that listener. */
  parent: { kind: 'Gateway' | 'ListenerSet'; namespace: string; name: string; sectionName: string };
  /** Where the HTTPRoute is created: certkeeper's namespace when the listener admits it, else the parent's. */
  routeNamespace: string;
  /** The route lives outside certkeeper's namespace: a ReferenceGrant there must let it reach the Service. */
  needsGrant: boolean;
  hosts: string[];
}

/**
 * A Secret that Ingresses use for TLS, managed or not: what `check` and `lint` audit. Managed
 * uses carry the Target's hosts; unmanaged ones the routed hosts as written (wildcards included).
 */
export interface SecretUse {
  namespace: string;
  secretName: string;
  hosts: string[];
  ingresses: IngressRef[];
  managed: boolean;
  settings?: { renewBeforeMs?: number };
}

export interface SourceLocation {
  file?: string;
  line?: number;
}

export interface PlanOptions {
  /** Manage every Ingress that has spec.tls, not only annotated ones. */
  allIngresses?: boolean;
  /** Only Ingresses of this class (spec.ingressClassName or the legacy annotation). */
  ingressClass?: string;
  /** Only Ingresses of this namespace. */
  namespace?: string;
  /** Only this Ingress. */
  ingress?: IngressRef;
  /** Only this Gateway (then no Ingress is selected). */
  gateway?: IngressRef;
  /** Namespace of objects without metadata.namespace (manifests); "default" when not given. */
  defaultNamespace?: string;
  /**
   * Also report spec findings of Ingresses certkeeper does not manage (lint). Annotation
   * findings are always reported: a misspelt certkeeper.dev/enabled is why an Ingress is unmanaged.
   */
  includeUnmanaged?: boolean;
  /** Where each object of `objects` came from (same index), copied into findings. */
  locations?: readonly (SourceLocation | undefined)[];
}

/** Which Ingresses a command looks at: the selection flags every cluster command shares. */
export type Selection = Pick<PlanOptions, 'allIngresses' | 'ingressClass' | 'namespace' | 'ingress' | 'gateway'>;

/** The namespace to list in (undefined: all), so a selection never reads more than it needs. */
export function listNamespaceOf(sel: Selection | undefined): string | undefined {
  return sel?.ingress?.namespace ?? sel?.gateway?.namespace ?? sel?.namespace;
}

export interface IgnoredIngress {
  ref: ObjectRef;
  reason: string;
}

export interface Plan {
  targets: Target[];
  findings: Finding[];
  ignored: IgnoredIngress[];
  /** Every Secret referenced by a selected Ingress, managed Targets first-class; sorted. */
  secretUses: SecretUse[];
}

interface EntryPlan {
  tlsIndex: number;
  secretName: string;
  /** Canonical hosts as listed, sorted and unique: what "the same host set" compares. */
  requested: string[];
  /** Managed: issuable hosts. Unmanaged: routed hosts as canonical names. */
  hosts: string[];
}

interface Analysis {
  index: number;
  view: IngressView;
  ref: ObjectRef;
  ingress: IngressRef;
  managed: boolean;
  optedOut: boolean;
  caInvalid: boolean;
  managedReason: string;
  settings: TargetSettings;
  ingressClass?: string;
  /** Annotation findings, reported even for unmanaged Ingresses. */
  annotationFindings: Finding[];
  specFindings: Finding[];
  entries: EntryPlan[];
}

const HOST_PROBLEM_CODE = (c: Extract<HostCheck, { ok: false }>): FindingCode =>
  c.problem === 'Wildcard' ? 'WildcardHost' : c.problem === 'IpAddress' ? 'IpAddressHost' : 'InvalidHost';

/** Problems for which the Kubernetes API server itself rejects a rule host (DNS-1123 subdomain). */
const RULE_HOST_REJECTED = new Set(['Empty', 'InvalidCharacters', 'EmptyLabel', 'LabelTooLong', 'TooLong', 'HyphenAtLabelEdge']);

function list(items: readonly string[], max = 5): string {
  const shown = items.slice(0, max).map((s) => `"${s}"`);
  return items.length > max ? `${shown.join(', ')} and ${items.length - max} more` : shown.join(', ');
}

function backendHint(b: BackendView): string {
  const name = b.serviceName ?? '<service>';
  const port = b.servicePort;
  const portYaml = typeof port === 'number' ? `{number: ${port}}` : typeof port === 'string' && port !== '' ? (/^\d+$/.test(port) ? `{number: ${port}}` : `{name: ${port}}`) : '{number: <port>}';
  return `service: {name: ${name}, port: ${portYaml}}`;
}

function analyze(obj: unknown, index: number, opts: PlanOptions): Analysis {
  const view = viewIngress(obj);
  const loc = opts.locations?.[index];
  const ref: ObjectRef = { kind: 'Ingress', name: view.name || '(unnamed)' };
  if (view.namespace !== undefined) ref.namespace = view.namespace;
  if (loc?.file !== undefined) ref.file = loc.file;
  if (loc?.line !== undefined) ref.line = loc.line;
  const namespace = view.namespace ?? opts.defaultNamespace ?? 'default';
  const ann = readAnnotations(view.annotations, ref, { allIngresses: opts.allIngresses ?? false });
  const spec: Finding[] = [];
  const add = (code: FindingCode, message: string, hint: string, host?: string): void => {
    spec.push(finding(code, ref, message, hint, host));
  };

  const hasTls = view.tls.length > 0;
  // --all-ingresses means "every Ingress that asks for TLS"; a plain-HTTP Ingress is not a mistake.
  const managed = ann.managed && (ann.explicit || hasTls);
  const a: Analysis = {
    index,
    view,
    ref,
    ingress: { namespace, name: view.name },
    managed,
    optedOut: ann.optedOut,
    caInvalid: ann.caInvalid,
    managedReason: managed || !ann.managed ? ann.reason : 'no spec.tls entries (nothing to secure)',
    settings: ann.settings,
    annotationFindings: ann.findings,
    specFindings: spec,
    entries: [],
  };
  const cls = ingressClassOf(view, ann.legacyIngressClass);
  if (cls !== undefined) a.ingressClass = cls;

  if (view.name === '') add('InvalidManifest', 'the Ingress has no metadata.name', 'give it a name under metadata.name');

  // --- API version and schema ---
  if (view.removedApi) {
    add(
      'RemovedApiVersion',
      `apiVersion ${view.apiVersion} was removed in Kubernetes 1.22; the API server rejects this Ingress`,
      `change apiVersion to ${INGRESS_V1}, write each backend as service: {name, port: {number}} and give each path a pathType (Prefix or Exact)`,
    );
  }
  const legacy = view.backends.filter((b) => b.legacyFields.length > 0);
  if (legacy.length > 0 || view.legacySpecBackend) {
    const where = legacy.map((b) => `${b.path} (${b.legacyFields.join('/')})`);
    if (view.legacySpecBackend) where.push('spec.backend');
    const first = legacy[0];
    add(
      'LegacyBackendFields',
      `${where.slice(0, 3).join(', ')}${where.length > 3 ? ` and ${where.length - 3} more` : ''} use${where.length === 1 ? 's' : ''} the backend form of the removed v1beta1 Ingress API`,
      first
        ? `in ${INGRESS_V1}, write ${first.path} as ${backendHint(first)}${view.legacySpecBackend ? ', and rename spec.backend to spec.defaultBackend' : ''}`
        : 'rename spec.backend to spec.defaultBackend',
    );
  }
  const issuePaths = new Set<string>();
  for (const issue of view.issues) {
    issuePaths.add(issue.path);
    if (issue.kind === 'WrongType') {
      add('InvalidManifest', `${issue.path} is ${issue.found}, but the Ingress schema expects ${issue.expected}`, issue.hint ?? `write ${issue.path} as ${issue.expected}`);
    } else {
      const near = closestName(issue.field, issue.known);
      add(
        'UnknownSpecField',
        `unknown field "${issue.field}" at ${issue.path}: Kubernetes rejects it under strict field validation or drops it silently`,
        near ? `did you mean "${near}"? rename "${issue.field}" to "${near}"` : `remove it; known fields here: ${issue.known.join(', ')}`,
      );
    }
  }
  const rulesMisspelt = view.issues.find(
    (i): i is Extract<typeof i, { kind: 'UnknownField' }> => i.kind === 'UnknownField' && i.path === `spec.${i.field}` && closestName(i.field, ['rules']) === 'rules',
  );

  // --- rules ---
  // Every host is canonicalised once and looked up in indexes: an Ingress may list thousands of
  // hosts, and comparing each with each made lint quadratic.
  const ruleHosts: { host: string; index: number }[] = [];
  const ruleHostSeen = new Set<string>();
  for (const rule of view.rules) {
    if (rule.host === undefined) continue;
    const c = checkHost(rule.host);
    const canon = canonicalHost(rule.host);
    if (!c.ok && c.problem === 'IpAddress') {
      add('IpAddressHost', `spec.rules[${rule.index}].host ${c.message}; Kubernetes only accepts DNS names in rules`, c.hint, rule.host);
      continue;
    }
    if (!c.ok && RULE_HOST_REJECTED.has(c.problem)) {
      add('InvalidHost', `spec.rules[${rule.index}].host: ${c.message}`, c.hint, rule.host);
      continue;
    }
    if (canon !== rule.host) {
      add(
        'InvalidHost',
        `spec.rules[${rule.index}].host "${rule.host}" is not in the form Kubernetes accepts (lower-case ASCII, no trailing dot)`,
        `write it as "${canon}"`,
        rule.host,
      );
    }
    if (!ruleHostSeen.has(canon)) {
      ruleHostSeen.add(canon);
      ruleHosts.push({ host: canon, index: rule.index });
    }
  }
  const ruleNames = new NameSet(ruleHosts.map((r) => r.host));
  // A rule host already listed in spec.tls is not what a near-miss TLS host was meant to be.
  const tlsListed = new Set(view.tls.flatMap((t) => (t.hosts ?? []).map(canonicalHost)));
  let ruleTypos: { hosts: { host: string; index: number }[]; index: TypoIndex } | undefined;
  const ruleHostTypoOf = (host: string): { host: string; index: number } | undefined => {
    if (!ruleTypos) {
      const hosts = ruleHosts.filter((r) => !tlsListed.has(r.host));
      ruleTypos = { hosts, index: new TypoIndex(hosts.map((r) => r.host)) };
    }
    const i = ruleTypos.index.first(host);
    return i === undefined ? undefined : ruleTypos.hosts[i];
  };
  const hasCatchAll = view.rules.some((r) => r.host === undefined && r.hasHttp);
  // The YAML slip "- host: a" / "- http: ..." makes two rules: a host without paths and
  // paths without a host (a catch-all). Kubernetes accepts it; nothing routes as intended.
  for (let i = 0; i + 1 < view.rules.length; i++) {
    const r = view.rules[i];
    const next = view.rules[i + 1];
    if (!r || !next) continue;
    const hostOnly = (x: typeof r): boolean => x.host !== undefined && !x.hasHttp;
    const pathsOnly = (x: typeof r): boolean => x.host === undefined && x.hasHttp;
    if (hostOnly(r) && pathsOnly(next)) {
      add(
        'RuleSplitHostAndPaths',
        `spec.rules[${i}] has host "${r.host}" but no http paths, and spec.rules[${i + 1}] has http paths but no host: one rule was split into two list items, so "${r.host}" routes nowhere and the paths answer every host`,
        `remove the '-' before 'http:' in spec.rules[${i + 1}] and indent it under host: so host and http are one rule`,
        canonicalHost(r.host ?? ''),
      );
      i++;
    } else if (pathsOnly(r) && hostOnly(next)) {
      add(
        'RuleSplitHostAndPaths',
        `spec.rules[${i}] has http paths but no host, and spec.rules[${i + 1}] has host "${next.host}" but no http paths: one rule was split into two list items`,
        `remove the '-' before 'host:' in spec.rules[${i + 1}] and put host: and http: in the same list item`,
        canonicalHost(next.host ?? ''),
      );
      i++;
    }
  }

  // --- tls ---
  const allTlsHosts: { host: string; tlsIndex: number }[] = [];
  for (const entry of view.tls) {
    const path = `spec.tls[${entry.index}]`;
    const hostsWrongType = issuePaths.has(`${path}.hosts`) || issuePaths.has(path);
    if (managed && (entry.hosts === undefined || entry.hosts.length === 0) && !hostsWrongType) {
      const suggestion = ruleHosts.map((r) => r.host);
      add(
        'TlsHostsMissing',
        `${path} has no hosts, so certkeeper cannot tell which names the certificate for "${entry.secretName ?? '?'}" must cover`,
        suggestion.length > 0 ? `add hosts: [${suggestion.join(', ')}] to ${path}` : `add the hostnames to ${path}.hosts`,
      );
    }
    if (managed && entry.secretName === undefined && !issuePaths.has(path)) {
      add(
        'TlsSecretNameMissing',
        `${path} has no secretName: the controller serves its default (fake) certificate for ${list(entry.hosts ?? []) || 'these hosts'} and certkeeper has nowhere to write one`,
        `add secretName: ${view.name || 'web'}-tls${entry.index > 0 ? `-${entry.index}` : ''} to ${path}`,
      );
    }
    const requested = new Set<string>();
    const hosts = new Set<string>();
    for (const raw of entry.hosts ?? []) {
      const canon = canonicalHost(raw);
      const c = checkHost(raw);
      if (canon !== '') requested.add(canon);
      if (canon !== '') allTlsHosts.push({ host: canon, tlsIndex: entry.index });
      if (managed && !c.ok) add(HOST_PROBLEM_CODE(c), `${path}.hosts: ${c.message}`, c.hint, raw);
      // Names that can never be routed (empty, IP literals, garbage) get their validity finding only.
      const routable = c.ok || c.problem === 'Wildcard' || (!managed && !RULE_HOST_REJECTED.has(c.problem) && c.problem !== 'IpAddress');
      if (!routable) continue;
      const routed = ruleNames.covers(canon) || ruleNames.coversSome(canon);
      if (!routed) {
        const typoOf = ruleHostTypoOf(canon);
        const why =
          view.rules.length === 0
            ? rulesMisspelt
              ? ` (the Ingress has no spec.rules; "${rulesMisspelt.field}" is probably meant to be "rules")`
              : ' (the Ingress has no spec.rules)'
            : hasCatchAll
              ? ' (a rule without host is a catch-all, which the controller serves with its default certificate)'
              : '';
        add(
          'TlsHostNotRouted',
          typoOf
            ? `${path} lists "${canon}", which no rule routes; it is likely a typo of the rule host "${typoOf.host}"${managed ? ', and certkeeper will not request a certificate for it' : ''}`
            : `${path} lists "${canon}", but no rule routes that host${why}${managed ? '; certkeeper will not request a certificate for it' : ''}`,
          typoOf
            ? `change "${raw}" in ${path}.hosts to "${typoOf.host}" (or change the rule host if "${canon}" is the name you meant)`
            : `add a rule with host: ${canon} under spec.rules, or remove "${raw}" from ${path}.hosts`,
          canon,
        );
        continue;
      }
      if (managed) {
        if (c.ok) hosts.add(c.host);
      } else hosts.add(canon);
    }
    if (entry.secretName !== undefined && hosts.size > 0) {
      a.entries.push({ tlsIndex: entry.index, secretName: entry.secretName, requested: [...requested].sort(), hosts: [...hosts].sort() });
    }
  }

  // --- rule hosts that no tls entry covers ---
  if (hasTls) {
    const tlsNames = new NameSet(allTlsHosts.map((t) => t.host));
    let tlsTypos: TypoIndex | undefined;
    for (const r of ruleHosts) {
      if (tlsNames.covers(r.host)) continue;
      tlsTypos ??= new TypoIndex(allTlsHosts.map((t) => t.host));
      const at = tlsTypos.first(r.host);
      const typo = at === undefined ? undefined : allTlsHosts[at];
      add(
        'RuleHostNotCovered',
        `rule host "${r.host}" is in no spec.tls entry, so HTTPS requests for it get the controller's default certificate${typo ? `; spec.tls[${typo.tlsIndex}] lists "${typo.host}", likely a typo of it` : ''}`,
        typo
          ? `change "${typo.host}" in spec.tls[${typo.tlsIndex}].hosts to "${r.host}"`
          : `add "${r.host}" to the hosts of a spec.tls entry${managed ? ' (certkeeper then includes it in that certificate)' : ''}`,
        r.host,
      );
    }
  } else if (managed) {
    const hosts = ruleHosts.map((r) => r.host);
    add(
      'TlsMissing',
      `the Ingress opts in to certkeeper (${ann.reason}) but has no spec.tls section, so there is no Secret to write and the controller serves no certificate of its own`,
      `add spec.tls: [{hosts: [${hosts.length > 0 ? hosts.join(', ') : '<host>'}], secretName: ${view.name || 'web'}-tls}]`,
    );
  }
  return a;
}

function refKey(r: IngressRef): string {
  return `${r.namespace}/${r.name}`;
}

function sameSettings(a: TargetSettings, b: TargetSettings): string[] {
  const diff: string[] = [];
  if (a.keyType !== b.keyType) diff.push(`key-type ${a.keyType} vs ${b.keyType}`);
  if (a.ca !== b.ca) diff.push(`ca ${a.ca ?? '(default)'} vs ${b.ca ?? '(default)'}`);
  if (a.profile !== b.profile) diff.push(`profile ${a.profile ?? '(default)'} vs ${b.profile ?? '(default)'}`);
  if (a.renewBeforeMs !== b.renewBeforeMs) diff.push(`renew-before ${a.renewBeforeMs ?? '(default)'}ms vs ${b.renewBeforeMs ?? '(default)'}ms`);
  return diff;
}

/**
 * Plans the certificates to keep. Never throws: malformed objects become findings or are skipped
 * (non-Ingress objects are ignored without a word). Output order is deterministic: targets and
 * uses by namespace/secret, findings in namespace/name order of their Ingress.
 */
export function planTargets(objects: readonly unknown[], opts: PlanOptions = {}): Plan {
  const analyses: Analysis[] = [];
  const ignored: IgnoredIngress[] = [];
  const findings: Finding[] = [];
  objects.forEach((obj, index) => {
    if (isIngressObject(obj)) analyses.push(analyze(obj, index, opts));
  });
  analyses.sort((x, y) => refKey(x.ingress).localeCompare(refKey(y.ingress)) || x.index - y.index);

  const selected: Analysis[] = [];
  for (const a of analyses) {
    if (opts.namespace !== undefined && a.ingress.namespace !== opts.namespace) {
      ignored.push({ ref: a.ref, reason: `not in namespace ${opts.namespace}` });
      continue;
    }
    if (opts.gateway !== undefined) {
      ignored.push({ ref: a.ref, reason: `only Gateway ${refKey(opts.gateway)} is selected` });
      continue;
    }
    if (opts.ingress !== undefined && (a.ingress.namespace !== opts.ingress.namespace || a.ingress.name !== opts.ingress.name)) {
      ignored.push({ ref: a.ref, reason: `not the selected Ingress ${refKey(opts.ingress)}` });
      continue;
    }
    if (opts.ingressClass !== undefined && a.ingressClass !== opts.ingressClass) {
      ignored.push({
        ref: a.ref,
        reason: a.ingressClass === undefined ? `has no ingress class and only class ${opts.ingressClass} is selected` : `ingress class ${a.ingressClass} is not the selected class ${opts.ingressClass}`,
      });
      continue;
    }
    selected.push(a);
    findings.push(...a.annotationFindings);
    if (a.managed || opts.includeUnmanaged) findings.push(...a.specFindings);
    if (!a.managed) ignored.push({ ref: a.ref, reason: a.managedReason });
    else if (a.caInvalid) ignored.push({ ref: a.ref, reason: 'the certkeeper.dev/ca annotation is invalid' });
  }

  // Group spec.tls entries by Secret: a namespace's Secret holds one certificate, whoever names it.
  type Use = { a: Analysis; e: EntryPlan; issuing: boolean };
  const groups = new Map<string, Use[]>();
  for (const a of selected) {
    for (const e of a.entries) {
      const key = `${a.ingress.namespace}\u0000${e.secretName}`;
      const g = groups.get(key) ?? [];
      g.push({ a, e, issuing: a.managed && !a.caInvalid });
      groups.set(key, g);
    }
  }
  const targets: Target[] = [];
  const secretUses: SecretUse[] = [];
  for (const uses of groups.values()) {
    const first = uses[0];
    if (!first) continue;
    const namespace = first.a.ingress.namespace;
    const secretName = first.e.secretName;
    const managedUses = uses.filter((u) => u.a.managed);
    const issuing = uses.filter((u) => u.issuing);
    const ingresses = (list: Use[]): IngressRef[] => {
      const seen = new Map<string, IngressRef>();
      for (const u of list) seen.set(refKey(u.a.ingress), u.a.ingress);
      return [...seen.values()].sort((x, y) => refKey(x).localeCompare(refKey(y)));
    };
    const union = (list: Use[]): string[] => [...new Set(list.flatMap((u) => u.e.hosts))].sort();

    if (managedUses.length > 0) {
      const base = managedUses[0];
      const baseHosts = base?.e.requested.join(',');
      const other = uses.find((u) => u.e.requested.join(',') !== baseHosts);
      if (base && other) {
        const describe = (u: Use): string => `${u.a.ref.namespace === undefined ? '' : `${u.a.ref.namespace}/`}${u.a.ref.name} spec.tls[${u.e.tlsIndex}] lists [${u.e.requested.join(', ')}]${u.a.managed ? '' : ' (not managed by certkeeper)'}`;
        const unmanaged = !other.a.managed;
        findings.push(
          finding(
            'SecretHostsConflict',
            other.a.ref,
            `Secret ${namespace}/${secretName} is named with different host sets: Ingress ${describe(base)}, Ingress ${describe(other)}; ${unmanaged ? 'the certificate certkeeper writes covers only the managed hosts, so the other Ingress breaks' : 'certkeeper issues one certificate for the union'}`,
            `list the same hosts in every spec.tls entry that names ${secretName}, or give each host set its own secretName`,
          ),
        );
      }
    }
    if (issuing.length > 0) {
      const lead = issuing[0] as Use;
      const hosts = union(issuing);
      for (const u of issuing.slice(1)) {
        const diff = sameSettings(lead.a.settings, u.a.settings);
        if (lead.a.ingressClass !== u.a.ingressClass) diff.push(`ingress class ${lead.a.ingressClass ?? '(none)'} vs ${u.a.ingressClass ?? '(none)'}`);
        if (diff.length > 0 && refKey(u.a.ingress) !== refKey(lead.a.ingress)) {
          findings.push(
            finding(
              'SecretSettingsConflict',
              u.a.ref,
              `Ingresses ${refKey(lead.a.ingress)} and ${refKey(u.a.ingress)} share Secret ${namespace}/${secretName} but ask for different settings (${diff.join('; ')}); using those of ${refKey(lead.a.ingress)}`,
              `give both Ingresses the same certkeeper.dev/* annotations and ingress class, or use different secretNames`,
            ),
          );
        }
      }
      if (hosts.length > MAX_NAMES_PER_CERTIFICATE) {
        findings.push(
          finding(
            'TooManyHosts',
            lead.a.ref,
            `Secret ${namespace}/${secretName} would need a certificate for ${hosts.length} names; Let's Encrypt allows at most ${MAX_NAMES_PER_CERTIFICATE}, so certkeeper does not request it`,
            `split the hosts over several spec.tls entries with different secretNames, at most ${MAX_NAMES_PER_CERTIFICATE} each`,
          ),
        );
      } else {
        const t: Target = { namespace, secretName, hosts, ingresses: ingresses(issuing), settings: { ...lead.a.settings } };
        if (lead.a.ingressClass !== undefined) t.ingressClass = lead.a.ingressClass;
        targets.push(t);
      }
    }
    const useList = managedUses.length > 0 ? managedUses : uses;
    const su: SecretUse = { namespace, secretName, hosts: union(useList), ingresses: ingresses(useList), managed: managedUses.length > 0 };
    const rb = managedUses[0]?.a.settings.renewBeforeMs;
    if (rb !== undefined) su.settings = { renewBeforeMs: rb };
    secretUses.push(su);
  }
  const byKey = (x: { namespace: string; secretName: string }, y: { namespace: string; secretName: string }): number =>
    x.namespace.localeCompare(y.namespace) || x.secretName.localeCompare(y.secretName);
  targets.sort(byKey);
  secretUses.sort(byKey);
  return { targets, findings, ignored, secretUses };
}

/**
 * Every spec finding for one object (unmanaged Ingresses included): lint's view of one Ingress.
 * Non-Ingress objects give no findings.
 */
export function lintIngressSpec(obj: unknown, opts: Omit<PlanOptions, 'includeUnmanaged' | 'locations'> & { location?: SourceLocation } = {}): Finding[] {
  const { location, ...rest } = opts;
  return planTargets([obj], { ...rest, includeUnmanaged: true, locations: [location] }).findings;
}
