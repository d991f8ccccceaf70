// Gateways → Targets (certificates to keep) + Findings, as core/targets.ts does for Ingresses, and
// the plan of certkeeper's HTTP-01 route through each Gateway. One code path serves `renew`, `check`
// and `lint`, so a listener that lint calls broken is exactly one renew refuses, for the same reason.
//
// An opted-in Gateway's HTTPS listeners (tls.mode Terminate, a hostname, a certificateRefs Secret)
// and those of the ListenerSets it admits are Targets; listeners naming one Secret share one
// certificate, as Ingress TLS entries do, and a Secret named by Ingresses and Gateways alike (the
// migration from ingress-nginx) is one Target with both routes. Before any order, each host's
// challenge route is planned: the port-80 HTTP listener that takes the host, whether its
// allowedRoutes admits a route from certkeeper's namespace (else from the listener owner's own,
// with a ReferenceGrant letting it reach certkeeper's Service), and whether a redirect route would
// take the challenge path ahead of certkeeper's exact match. A host that cannot be validated
// blocks its Target's order: the CA is never asked for an authorization that would fail.
import { readAnnotations, type IngressSettings } from './annotations.js';
import { finding, type Finding, type FindingCode, type ObjectRef } from './findings.js';
import {
  acceptsHttpRoutes,
  admitsNamespace,
  attachListenerSet,
  gatewayHostMatches,
  isGatewayApiObject,
  matchVerdict,
  referenceGranted,
  routeAttaches,
  selectListener,
  viewGateway,
  viewGrant,
  viewListenerSet,
  viewRoute,
  type GatewayView,
  type GrantView,
  type ListenerSetView,
  type ListenerView,
  type RouteView,
} from './gateway-api.js';
import { MAX_NAMES_PER_CERTIFICATE, TypoIndex, checkHost, type HostCheck } from './hosts.js';
import type { IngressRef } from './ingress.js';
import type { GatewayRoutePlan, IgnoredIngress, Plan, PlanOptions, SecretUse, SourceLocation, Target } from './targets.js';

/** RFC 8555 §8.3: the path the CA fetches (ports.ts has the same constant; core imports nothing outside core). */
const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
/** A token of the length and alphabet ACME tokens have (base64url, 43 characters), to judge routes before any order exists. */
export const SAMPLE_CHALLENGE_PATH = `${CHALLENGE_PREFIX}Xk3_vQ9-TzL0aB7cWm2NpR5sUe8YhJ4dFg6KiO1lMn0`;

export interface GatewayPlanOptions extends Pick<PlanOptions, 'namespace' | 'ingress' | 'gateway' | 'defaultNamespace' | 'includeUnmanaged' | 'locations'> {
  /** certkeeper's namespace (its Service). Undefined in `lint`: only placements in the owner's namespace are judged. */
  selfNamespace?: string;
  /**
   * The objects may not include every HTTPRoute and ReferenceGrant (lint reads some files): a
   * listener no route of the set names, or a cross-namespace ref with no grant read at all, is
   * not reported.
   */
  partialView?: boolean;
}

const HOST_PROBLEM_CODE = (c: Extract<HostCheck, { ok: false }>): FindingCode =>
  c.problem === 'Wildcard' ? 'WildcardHost' : c.problem === 'IpAddress' ? 'IpAddressHost' : 'InvalidHost';

const ownerKey = (o: { kind: string; namespace: string; name: string }) => `${o.kind}/${o.namespace}/${o.name}`;
const byKey = (x: { namespace: string; secretName: string }, y: { namespace: string; secretName: string }): number =>
  x.namespace.localeCompare(y.namespace) || x.secretName.localeCompare(y.secretName);

function userOf(o: ListenerView['owner']): IngressRef {
  return { kind: o.kind, namespace: o.namespace, name: o.name };
}

function sortUsers(refs: Iterable<IngressRef>): IngressRef[] {
  const seen = new Map<string, IngressRef>();
  for (const r of refs) seen.set(`${r.kind ?? 'Ingress'}/${r.namespace}/${r.name}`, r);
  return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, r]) => r);
}

interface Entry {
  listener: ListenerView;
  secretNamespace: string;
  secretName: string;
  host: string;
}

interface GatewayAnalysis {
  view: GatewayView;
  ref: ObjectRef;
  managed: boolean;
  caInvalid: boolean;
  settings: IngressSettings;
  /** Every listener: the Gateway's, then those of the ListenerSets it admits. */
  listeners: ListenerView[];
}

/** Reads every Gateway API object of `objects`; anything else is ignored. */
function readObjects(objects: readonly unknown[], opts: GatewayPlanOptions) {
  const defaultNs = opts.defaultNamespace ?? 'default';
  const gateways: GatewayView[] = [];
  const sets: ListenerSetView[] = [];
  const routes: RouteView[] = [];
  const grants: GrantView[] = [];
  objects.forEach((o, i) => {
    if (isGatewayApiObject(o, 'Gateway')) gateways.push(viewGateway(o, i, defaultNs));
    else if (isGatewayApiObject(o, 'ListenerSet')) sets.push(viewListenerSet(o, i, defaultNs));
    else if (isGatewayApiObject(o, 'HTTPRoute')) routes.push(viewRoute(o, defaultNs));
    else if (isGatewayApiObject(o, 'ReferenceGrant')) grants.push(viewGrant(o, defaultNs));
  });
  const byName = (a: { ref: ObjectRef; index: number }, b: { ref: ObjectRef; index: number }) =>
    `${a.ref.namespace}/${a.ref.name}`.localeCompare(`${b.ref.namespace}/${b.ref.name}`) || a.index - b.index;
  gateways.sort(byName);
  // ListenerSets rank by age after the Gateway's own listeners (the spec's listener precedence).
  sets.sort((a, b) => a.creationTimestamp.localeCompare(b.creationTimestamp) || byName(a, b));
  return { gateways, sets, routes, grants };
}

/**
 * Plans the certificates of the Gateways among `objects` (Gateways, ListenerSets, HTTPRoutes and
 * ReferenceGrants; other kinds are ignored). Never throws. Output order is deterministic.
 */
export function planGateways(objects: readonly unknown[], opts: GatewayPlanOptions = {}): Plan {
  const { gateways, sets, routes, grants } = readObjects(objects, opts);
  const findings: Finding[] = [];
  const ignored: IgnoredIngress[] = [];
  const locate = (ref: ObjectRef, index: number): ObjectRef => {
    const loc: SourceLocation | undefined = opts.locations?.[index];
    const out: ObjectRef = { ...ref };
    if (loc?.file !== undefined) out.file = loc.file;
    if (loc?.line !== undefined) out.line = loc.line;
    return out;
  };
  const setIndex = new Map(sets.map((s) => [ownerKey(s.ref), s]));
  const refOf = (o: ListenerView['owner']): ObjectRef => {
    const s = o.kind === 'ListenerSet' ? setIndex.get(ownerKey(o)) : undefined;
    const g = o.kind === 'Gateway' ? gateways.find((x) => ownerKey(x.ref) === ownerKey(o)) : undefined;
    return locate({ kind: o.kind, namespace: o.namespace, name: o.name }, s?.index ?? g?.index ?? -1);
  };

  const analyses: GatewayAnalysis[] = [];
  for (const g of gateways) {
    const ref = locate(g.ref, g.index);
    if (opts.ingress !== undefined) {
      ignored.push({ ref, reason: `only Ingress ${opts.ingress.namespace}/${opts.ingress.name} is selected` });
      continue;
    }
    if (opts.namespace !== undefined && g.ref.namespace !== opts.namespace) {
      ignored.push({ ref, reason: `not in namespace ${opts.namespace}` });
      continue;
    }
    if (opts.gateway !== undefined && (g.ref.namespace !== opts.gateway.namespace || g.ref.name !== opts.gateway.name)) {
      ignored.push({ ref, reason: `not the selected Gateway ${opts.gateway.namespace}/${opts.gateway.name}` });
      continue;
    }
    // --all-ingresses is about Ingresses: a Gateway is shared infrastructure and opts in by annotation.
    const ann = readAnnotations(g.annotations, ref, { allIngresses: false });
    findings.push(...ann.findings);
    const a: GatewayAnalysis = { view: g, ref, managed: ann.managed, caInvalid: ann.caInvalid, settings: ann.settings, listeners: [...g.listeners] };
    let order = g.listeners.length;
    for (const s of sets) {
      if (!s.parent || s.parent.namespace !== g.ref.namespace || s.parent.name !== g.ref.name) continue;
      attachListenerSet(s, g, order);
      order += s.listeners.length;
      if (admitsNamespace(g.allowedListeners, g.ref.namespace, s.ref.namespace) === 'no') {
        const https = s.listeners.filter((l) => l.protocol === 'HTTPS');
        if (a.managed && https.length > 0) {
          findings.push(
            finding(
              'ListenerSetNotAllowed',
              locate(s.ref, s.index),
              `ListenerSet ${s.ref.namespace}/${s.ref.name} attaches to Gateway ${g.ref.namespace}/${g.ref.name}, whose spec.allowedListeners ${g.allowedListeners.from === 'None' ? 'is None (the default)' : `(from: ${g.allowedListeners.from})`} does not admit namespace ${s.ref.namespace}: its listeners (${https.map((l) => l.rawHostname ?? l.name).join(', ')}) serve nothing, and certkeeper does not request certificates for them`,
              `set spec.allowedListeners.namespaces.from: ${s.ref.namespace === g.ref.namespace ? 'Same' : 'All (or Selector)'} on Gateway ${g.ref.namespace}/${g.ref.name}`,
            ),
          );
        }
        continue;
      }
      a.listeners.push(...s.listeners);
    }
    if (!a.managed) ignored.push({ ref, reason: ann.reason });
    else if (a.caInvalid) ignored.push({ ref, reason: 'the certkeeper.dev/ca annotation is invalid' });
    analyses.push(a);
  }

  // --- HTTPS listeners → entries (one per listener hostname and Secret) ---
  const entries: { a: GatewayAnalysis; e: Entry }[] = [];
  const uses = new Map<string, { namespace: string; secretName: string; hosts: Set<string>; users: IngressRef[]; managed: boolean; renewBeforeMs?: number }>();
  for (const a of analyses) {
    for (const l of a.listeners) {
      if (l.protocol !== 'HTTPS' || (l.tlsMode ?? 'Terminate') !== 'Terminate') continue;
      const lref = refOf(l.owner);
      const where = `listener ${l.name} (${l.path}) of ${l.owner.kind} ${l.owner.namespace}/${l.owner.name}`;
      const secretRef = l.certificateRefs.find((r) => (r.group ?? '') === '' && (r.kind ?? 'Secret') === 'Secret' && r.name !== '');
      if (a.managed) {
        if (l.hostname === undefined) {
          findings.push(
            finding(
              'ListenerHostnameMissing',
              lref,
              `${where} has no hostname: it takes every host, so certkeeper cannot tell which names its certificate${secretRef ? ` (Secret ${secretRef.name})` : ''} must cover`,
              `add hostname: <the name clients use> to ${l.path}; one HTTPS listener per hostname (they may share a certificateRefs Secret)`,
            ),
          );
          continue;
        }
        const c = checkHost(l.rawHostname ?? l.hostname);
        if (!c.ok) {
          findings.push(finding(HOST_PROBLEM_CODE(c), lref, `${where}: hostname ${c.message}`, c.hint, l.hostname));
          continue;
        }
        if (!secretRef) {
          if (l.certificateRefs.length === 0) {
            findings.push(
              finding(
                'ListenerCertificateRefMissing',
                lref,
                `${where} terminates TLS for ${l.hostname} but names no Secret in tls.certificateRefs: certkeeper has nowhere to write the certificate, and the controller has none to serve`,
                `add tls: {mode: Terminate, certificateRefs: [{kind: Secret, name: ${l.name}-tls}]} to ${l.path}`,
                l.hostname,
              ),
            );
          }
          // A ref of another kind is another tool's certificate: not ours to issue.
          continue;
        }
      }
      if (l.hostname === undefined || !secretRef) continue;
      const secretNamespace = secretRef.namespace ?? l.owner.namespace;
      if (!referenceGranted(grants, { kind: l.owner.kind, namespace: l.owner.namespace }, { group: '', kind: 'Secret', namespace: secretNamespace, name: secretRef.name })) {
        if ((a.managed || opts.includeUnmanaged) && (!opts.partialView || grants.length > 0)) {
          findings.push(
            finding(
              'CertificateRefNotPermitted',
              lref,
              `${where} names Secret ${secretNamespace}/${secretRef.name} in another namespace, and no ReferenceGrant in ${secretNamespace} lets ${l.owner.kind}s of namespace ${l.owner.namespace} refer to it: the controller refuses the reference (RefNotPermitted) and serves no certificate for ${l.hostname}${a.managed ? '; certkeeper does not request one' : ''}`,
              `create a ReferenceGrant in ${secretNamespace}: spec: {from: [{group: gateway.networking.k8s.io, kind: ${l.owner.kind}, namespace: ${l.owner.namespace}}], to: [{group: "", kind: Secret, name: ${secretRef.name}}]} — or keep the Secret in ${l.owner.namespace} (drop namespace: from the certificateRefs entry)`,
              l.hostname,
            ),
          );
        }
        continue;
      }
      const key = `${secretNamespace}\u0000${secretRef.name}`;
      const u = uses.get(key) ?? { namespace: secretNamespace, secretName: secretRef.name, hosts: new Set<string>(), users: [], managed: false };
      u.hosts.add(l.hostname);
      u.users.push(userOf(l.owner));
      if (a.managed) {
        u.managed = true;
        if (a.settings.renewBeforeMs !== undefined) u.renewBeforeMs = a.settings.renewBeforeMs;
      }
      uses.set(key, u);
      if (!a.managed || a.caInvalid) continue;
      // A listener hostname no route attached to it takes is most often a typo of the route's.
      if (!listenerRouted(l, routes)) {
        const named = routes.filter((r) => r.parentRefs.some((p) => p.kind === l.owner.kind && p.name === l.owner.name && p.namespace === l.owner.namespace));
        if (named.length > 0 || !opts.partialView) {
          const candidates = [...new Set(named.flatMap((r) => r.hostnames))].filter((h) => !h.startsWith('*.'));
          const typo = candidates.length > 0 ? new TypoIndex(candidates).first(l.hostname) : undefined;
          const typoOf = typo === undefined ? undefined : candidates[typo];
          findings.push(
            finding(
              'ListenerHostnameNotRouted',
              lref,
              typoOf
                ? `${where} has hostname "${l.hostname}", which no HTTPRoute attached to it routes; HTTPRoute hostname "${typoOf}" is likely what was meant, and certkeeper will not request a certificate for "${l.hostname}"`
                : `${where} has hostname "${l.hostname}", but no HTTPRoute attached to it routes that host${named.length === 0 ? ` (no HTTPRoute names ${l.owner.kind} ${l.owner.namespace}/${l.owner.name} in parentRefs)` : ''}; certkeeper will not request a certificate for it`,
              typoOf
                ? `change hostname "${l.rawHostname ?? l.hostname}" of ${l.path} to "${typoOf}" (or the route's hostname if "${l.hostname}" is the name you meant)`
                : `attach an HTTPRoute: parentRefs: [{name: ${l.owner.name}${l.owner.kind === 'ListenerSet' ? ', kind: ListenerSet' : ''}, namespace: ${l.owner.namespace}, sectionName: ${l.name}}] with hostnames: ["${l.hostname}"] (allowedRoutes of the listener must admit its namespace)`,
              l.hostname,
            ),
          );
          continue;
        }
      }
      entries.push({ a, e: { listener: l, secretNamespace, secretName: secretRef.name, host: l.hostname } });
    }
  }

  // --- listener status the controller reports ---
  for (const a of analyses) {
    if (!a.managed) continue;
    for (const l of a.listeners) {
      if (l.protocol !== 'HTTPS') continue;
      const gen = l.owner.kind === 'Gateway' ? a.view.generation : setIndex.get(ownerKey(l.owner))?.generation;
      // A condition about an older generation describes a spec that no longer exists.
      const current = (c: { observedGeneration?: number }) => gen === undefined || c.observedGeneration === undefined || c.observedGeneration >= gen;
      const refs = l.conditions.find((c) => c.type === 'ResolvedRefs' && c.status === 'False' && current(c));
      const programmed = l.conditions.find((c) => c.type === 'Programmed' && c.status === 'False' && current(c));
      const lref = refOf(l.owner);
      const where = `listener ${l.name} of ${l.owner.kind} ${l.owner.namespace}/${l.owner.name}`;
      const host = l.hostname;
      if (refs) {
        const ref = l.certificateRefs[0];
        const secret = ref ? `${ref.namespace ?? l.owner.namespace}/${ref.name}` : '(none)';
        const hint =
          refs.reason === 'RefNotPermitted'
            ? `create a ReferenceGrant in ${ref?.namespace ?? l.owner.namespace} from ${l.owner.kind}s of namespace ${l.owner.namespace} to Secret ${ref?.name ?? ''}, or keep the Secret in ${l.owner.namespace}`
            : refs.reason === 'InvalidCertificateRef'
              ? `the Secret ${secret} is missing or holds no usable certificate: certkeeper writes it when it manages the listener (see the Secret findings and \`certkeeper status\`); a Secret made by hand must be of type kubernetes.io/tls with a matching tls.crt and tls.key`
              : 'read the listener status (kubectl describe gateway) and fix what the controller names';
        findings.push(
          finding(
            'ListenerRefsNotResolved',
            lref,
            `the Gateway controller reports ResolvedRefs=False (${refs.reason}) for ${where}${host ? ` (${host})` : ''}: "${refs.message}"; clients get ${refs.reason === 'InvalidCertificateRef' || refs.reason === 'RefNotPermitted' ? 'the controller\'s default certificate or no handshake' : 'no working listener'} until it resolves`,
            hint,
            host,
          ),
        );
      } else if (programmed) {
        findings.push(
          finding(
            'ListenerNotProgrammed',
            lref,
            `the Gateway controller reports Programmed=False (${programmed.reason}) for ${where}${host ? ` (${host})` : ''}: "${programmed.message}"`,
            'read the Gateway and listener conditions (kubectl describe gateway) and fix what the controller names (a port or hostname conflict, an unsupported protocol, an address it cannot get)',
            host,
          ),
        );
      }
    }
  }

  // --- entries → Targets, with the challenge route planned per host ---
  const groups = new Map<string, { a: GatewayAnalysis; e: Entry }[]>();
  for (const x of entries) {
    const key = `${x.e.secretNamespace}\u0000${x.e.secretName}`;
    groups.set(key, [...(groups.get(key) ?? []), x]);
  }
  const targets: Target[] = [];
  for (const group of groups.values()) {
    const lead = group[0];
    if (!lead) continue;
    const hosts = [...new Set(group.map((x) => x.e.host))].sort();
    if (hosts.length > MAX_NAMES_PER_CERTIFICATE) {
      findings.push(
        finding(
          'TooManyHosts',
          lead.a.ref,
          `Secret ${lead.e.secretNamespace}/${lead.e.secretName} would need a certificate for ${hosts.length} names; Let's Encrypt allows at most ${MAX_NAMES_PER_CERTIFICATE}, so certkeeper does not request it`,
          `name different certificateRefs Secrets in the listeners, at most ${MAX_NAMES_PER_CERTIFICATE} hostnames each`,
        ),
      );
      continue;
    }
    const t: Target = {
      namespace: lead.e.secretNamespace,
      secretName: lead.e.secretName,
      hosts,
      ingresses: sortUsers(group.map((x) => userOf(x.e.listener.owner))),
      settings: { ...lead.a.settings },
    };
    const plans = new Map<string, GatewayRoutePlan>();
    const blockers: Finding[] = [];
    for (const host of hosts) {
      const x = group.find((y) => y.e.host === host) ?? lead;
      const r = planChallengeRoute(x.a, host, routes, opts.selfNamespace);
      if ('blocker' in r) {
        blockers.push(r.blocker);
        continue;
      }
      const key = `${ownerKey(r.plan.parent)}/${r.plan.parent.sectionName}|${r.plan.routeNamespace}`;
      const p = plans.get(key);
      if (p) p.hosts.push(host);
      else plans.set(key, r.plan);
    }
    t.gatewayRoutes = [...plans.values()];
    if (blockers.length > 0) {
      t.blockers = blockers;
      findings.push(...blockers);
    }
    targets.push(t);
  }
  targets.sort(byKey);
  const secretUses: SecretUse[] = [...uses.values()]
    .map((u) => {
      const su: SecretUse = { namespace: u.namespace, secretName: u.secretName, hosts: [...u.hosts].sort(), ingresses: sortUsers(u.users), managed: u.managed };
      if (u.renewBeforeMs !== undefined) su.settings = { renewBeforeMs: u.renewBeforeMs };
      return su;
    })
    .sort(byKey);
  return { targets, findings, ignored, secretUses };
}

/** Does some HTTPRoute attached to the listener take its hostname? */
function listenerRouted(l: ListenerView, routes: readonly RouteView[]): boolean {
  return routes.some((r) => routeAttaches(r, l));
}

/** The route's own hostname for `host` is as specific as certkeeper's (an exact name). */
function exactFor(route: RouteView, l: ListenerView, host: string): boolean {
  if (route.hostnames.includes(host)) return true;
  // No route hostname, or a wildcard: the intersection with an exact listener hostname is exact.
  return l.hostname === host && (route.hostnames.length === 0 || route.hostnames.some((h) => gatewayHostMatches(h, host)));
}

/**
 * Where the solver HTTPRoute for `host` attaches through Gateway `a`, or why it cannot. The rule:
 * the port-80 HTTP listener that takes the host (the spec's listener precedence, ListenerSets
 * included); an HTTPRoute in certkeeper's namespace when that listener's allowedRoutes admits it
 * (no grant needed, nothing created in the user's namespace), else in the listener owner's
 * namespace with a ReferenceGrant in certkeeper's namespace letting it reach the Service.
 */
export function planChallengeRoute(a: Pick<GatewayAnalysis, 'view' | 'ref' | 'listeners'>, host: string, routes: readonly RouteView[], selfNamespace: string | undefined): { plan: GatewayRoutePlan } | { blocker: Finding } {
  const g = a.view.ref;
  const http = a.listeners.filter((l) => l.protocol === 'HTTP' && l.port === 80);
  const l = selectListener(http, host);
  if (!l) {
    const all = a.listeners.map((x) => `${x.name} (${x.protocol ?? '?'}:${x.port ?? '?'}${x.hostname ? ` ${x.hostname}` : ''})`).join(', ');
    return {
      blocker: finding(
        'GatewayHttpListenerMissing',
        a.ref,
        `Gateway ${g.namespace}/${g.name} has no HTTP listener on port 80 that takes ${host} (listeners: ${all || 'none'}); Let's Encrypt validates HTTP-01 only on port 80, so certkeeper places no order for ${host}`,
        `add a listener to spec.listeners: {name: http, port: 80, protocol: HTTP${http.length > 0 ? `, hostname: ${host}` : ''}} (a redirect route to https on it is fine: certkeeper's exact-match challenge route takes precedence)`,
        host,
      ),
    };
  }
  const lref: ObjectRef = { kind: l.owner.kind, namespace: l.owner.namespace, name: l.owner.name };
  const where = `port-80 listener ${l.name} of ${l.owner.kind} ${l.owner.namespace}/${l.owner.name}`;
  if (!acceptsHttpRoutes(l)) {
    return {
      blocker: finding(
        'SolverRouteNotAllowed',
        lref,
        `${where} takes ${host} but its allowedRoutes.kinds does not include HTTPRoute, so certkeeper's challenge route cannot attach; no order is placed for ${host}`,
        `add {group: gateway.networking.k8s.io, kind: HTTPRoute} to allowedRoutes.kinds of listener ${l.name}`,
        host,
      ),
    };
  }
  const parent: GatewayRoutePlan['parent'] = { kind: l.owner.kind, namespace: l.owner.namespace, name: l.owner.name, sectionName: l.name };
  const self = selfNamespace === undefined ? 'no' : admitsNamespace(l.allowedRoutes, l.owner.namespace, selfNamespace);
  let plan: GatewayRoutePlan | undefined;
  // An undecidable selector (labels other than kubernetes.io/metadata.name): certkeeper's namespace
  // is where a user labels for it; the self-check tells if it was not.
  if (selfNamespace !== undefined && self !== 'no') plan = { parent, routeNamespace: selfNamespace, needsGrant: false, hosts: [host] };
  else if (admitsNamespace(l.allowedRoutes, l.owner.namespace, l.owner.namespace) !== 'no') {
    plan = { parent, routeNamespace: l.owner.namespace, needsGrant: selfNamespace !== undefined && selfNamespace !== l.owner.namespace, hosts: [host] };
  } else if (selfNamespace === undefined && l.allowedRoutes.from === 'Selector') {
    // lint: certkeeper's namespace is unknown, and the selector may well admit it.
    plan = { parent, routeNamespace: l.owner.namespace, needsGrant: false, hosts: [host] };
  }
  if (!plan) {
    const from = l.allowedRoutes.from;
    return {
      blocker: finding(
        'SolverRouteNotAllowed',
        lref,
        `${where} takes ${host} but its allowedRoutes (namespaces.from: ${from}) admits neither certkeeper's namespace${selfNamespace ? ` ${selfNamespace}` : ''} nor ${l.owner.namespace}, so certkeeper's challenge HTTPRoute cannot attach; no order is placed for ${host}`,
        `let the listener admit certkeeper's routes: allowedRoutes.namespaces {from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: ${selfNamespace ?? 'certkeeper'}}}} (or from: All / Same)`,
        host,
      ),
    };
  }
  // A redirect route that takes the challenge path ahead of certkeeper's exact match.
  for (const r of routes) {
    // A route less specific for the host than certkeeper's exact hostname loses before paths count.
    if (!routeAttaches(r, l) || !exactFor(r, l, host)) continue;
    for (const [ri, rule] of r.rules.entries()) {
      if (!rule.redirect) continue;
      for (const m of rule.matches) {
        const v = matchVerdict(m, SAMPLE_CHALLENGE_PATH);
        if (v !== 'wins' && v !== 'implementation-specific') continue;
        return {
          blocker: finding(
            'ChallengePathRedirected',
            { kind: 'HTTPRoute', namespace: r.namespace, name: r.name },
            v === 'wins'
              ? `HTTPRoute ${r.namespace}/${r.name} rule ${ri} redirects ${host}${m.pathValue} with an Exact match on ${where}; it takes that path ahead of certkeeper's challenge route, so HTTP-01 validation would be redirected; no order is placed for ${host}`
              : `HTTPRoute ${r.namespace}/${r.name} rule ${ri} redirects ${host} with RegularExpression "${m.pathValue}", which matches ${CHALLENGE_PREFIX}<token> on ${where}; the Gateway API leaves the precedence of RegularExpression against certkeeper's Exact match to the implementation, so challenge requests may be redirected away from certkeeper; no order is placed for ${host}`,
            `exempt the challenge path from the redirect: give the rule a match that leaves out ${CHALLENGE_PREFIX} (a PathPrefix "/" redirect is fine: certkeeper's Exact match wins over any prefix), or route ${CHALLENGE_PREFIX} to a backend before the redirect`,
            host,
          ),
        };
      }
    }
  }
  return { plan };
}

function mergeUsers(a: readonly IngressRef[], b: readonly IngressRef[]): IngressRef[] {
  return sortUsers([...a, ...b]);
}

/**
 * One plan from the Ingress plan and the Gateway plan: a Secret both name is one Target (hosts of
 * both, the Ingress side's settings and class, the Gateway side's routes and blockers), so the
 * migration from an Ingress to a Gateway never orders twice for one Secret.
 */
export function mergePlans(ingress: Plan, gateway: Plan): Plan {
  const key = (x: { namespace: string; secretName: string }) => `${x.namespace}\u0000${x.secretName}`;
  const targets = new Map(ingress.targets.map((t) => [key(t), { ...t }]));
  for (const g of gateway.targets) {
    const t = targets.get(key(g));
    if (!t) {
      targets.set(key(g), g);
      continue;
    }
    t.hosts = [...new Set([...t.hosts, ...g.hosts])].sort();
    t.ingresses = mergeUsers(t.ingresses, g.ingresses);
    if (g.gatewayRoutes) t.gatewayRoutes = g.gatewayRoutes;
    if (g.blockers) t.blockers = [...(t.blockers ?? []), ...g.blockers];
  }
  const uses = new Map(ingress.secretUses.map((u) => [key(u), { ...u }]));
  for (const g of gateway.secretUses) {
    const u = uses.get(key(g));
    if (!u) {
      uses.set(key(g), g);
      continue;
    }
    u.hosts = [...new Set([...u.hosts, ...g.hosts])].sort();
    u.ingresses = mergeUsers(u.ingresses, g.ingresses);
    u.managed ||= g.managed;
    if (!u.settings && g.settings) u.settings = g.settings;
  }
  return {
    targets: [...targets.values()].sort(byKey),
    findings: [...ingress.findings, ...gateway.findings],
    ignored: [...ingress.ignored, ...gateway.ignored],
    secretUses: [...uses.values()].sort(byKey),
  };
}
