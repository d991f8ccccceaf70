// The solver route for Gateways: an HTTPRoute attached (parentRefs + sectionName) to the port-80
// listener that takes the hosts, matching the exact challenge path of each token, sending to
// certkeeper's Service. Where it lives was decided by the planner (core/gateways.ts): in
// certkeeper's namespace when the listener's allowedRoutes admits it, else in the listener owner's
// namespace with a ReferenceGrant in certkeeper's namespace that lets it reach the Service. An
// Exact match is what makes the route win over an HTTP→HTTPS redirect on the same listener (the
// Gateway API's match precedence), and leaves every other path of the host alone.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { GATEWAY_GROUP } from '../../core/gateway-api.js';
import type { GatewayRoutePlan } from '../../core/targets.js';
import { errorMessage } from '../../errors.js';
import { statusCode } from '../client.js';
import { ACME_CHALLENGE_PATH, type PresentedRoute, type RouteRequest, type SolverRoute } from '../../ports.js';
import { MANAGED_LABELS } from '../challenges.js';
import type { KubeGatewayApi } from '../gateway-api.js';
import { SOLVER_LABEL } from './ingress.js';

/** Which certkeeper made a solver object outside its own namespace (two installs must not collect each other's). */
export const SOLVER_OF_LABEL = 'certkeeper.dev/solver-of';

/** CRD limits: 16 hostnames per HTTPRoute, 16 rules per route, 64 matches per rule. */
const MAX_HOSTNAMES = 16;
const MAX_MATCHES = 64;
const MAX_RULES = 16;

export interface HttpRouteSolverOptions {
  /** certkeeper's namespace: its Service, and its ReferenceGrants. */
  namespace: string;
  serviceName: string;
  servicePort: number;
  /**
   * With --namespace: leftovers are looked for in certkeeper's own namespace and that one only
   * (where such passes make routes; namespace-scoped roles reach no further). Otherwise in every
   * namespace, or in certkeeper's own when RBAC refuses the cluster-wide list.
   */
  gcNamespaces?: readonly string[];
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class HttpRouteSolverRoute implements SolverRoute {
  constructor(
    private readonly api: KubeGatewayApi,
    private readonly opts: HttpRouteSolverOptions,
    private readonly log: Logger,
  ) {}

  private get labels(): Record<string, string> {
    return { ...MANAGED_LABELS, [SOLVER_LABEL]: 'true', [SOLVER_OF_LABEL]: this.opts.namespace };
  }

  /** One presented route set per Target: each Target has its own listeners and hosts. */
  groupKey(target: RouteRequest['target']): string {
    return `${target.namespace}/${target.secretName}`;
  }

  async present(req: RouteRequest): Promise<PresentedRoute> {
    const wanted = new Set(req.hosts);
    const plans = (req.target.gatewayRoutes ?? [])
      .map((p): GatewayRoutePlan => ({ ...p, hosts: p.hosts.filter((h) => wanted.has(h)) }))
      .filter((p) => p.hosts.length > 0);
    const created: { kind: 'HTTPRoute' | 'ReferenceGrant'; namespace: string; name: string }[] = [];
    const cleanUp = async (): Promise<void> => {
      const failures: string[] = [];
      // Routes first: a grant removed under a live route would make it answer 500 for a moment.
      for (const o of [...created].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'HTTPRoute' ? -1 : 1))) {
        try {
          await this.api.delete(o.kind, o.namespace, o.name);
        } catch (e) {
          failures.push(`${o.kind} ${o.namespace}/${o.name}: ${errorMessage(e)}`);
        }
      }
      if (failures.length > 0) throw new Error(`could not remove ${failures.join('; ')}`);
    };
    const paths = req.tokens.map((t) => `${ACME_CHALLENGE_PATH}${t}`);
    const rules = chunks(paths, MAX_MATCHES).slice(0, MAX_RULES);
    try {
      for (const plan of plans) {
        const ns = plan.routeNamespace;
        const base = `certkeeper-solver-${randomBytes(5).toString('hex')}`;
        if (plan.needsGrant) {
          // The grant first, so the route resolves its backend as soon as the controller sees it.
          await this.api.create('ReferenceGrant', this.opts.namespace, {
            apiVersion: `${GATEWAY_GROUP}/v1beta1`,
            kind: 'ReferenceGrant',
            metadata: { name: base, namespace: this.opts.namespace, labels: this.labels, annotations: { 'certkeeper.dev/for': req.purpose } },
            spec: { from: [{ group: GATEWAY_GROUP, kind: 'HTTPRoute', namespace: ns }], to: [{ group: '', kind: 'Service', name: this.opts.serviceName }] },
          } as { metadata: { name: string } });
          created.push({ kind: 'ReferenceGrant', namespace: this.opts.namespace, name: base });
        }
        for (const [i, hostnames] of chunks(plan.hosts, MAX_HOSTNAMES).entries()) {
          const name = i === 0 ? base : `${base}-${i}`;
          const backendRef = { name: this.opts.serviceName, port: this.opts.servicePort, ...(ns !== this.opts.namespace ? { namespace: this.opts.namespace } : {}) };
          await this.api.create('HTTPRoute', ns, {
            apiVersion: `${GATEWAY_GROUP}/v1`,
            kind: 'HTTPRoute',
            metadata: { name, namespace: ns, labels: this.labels, annotations: { 'certkeeper.dev/for': req.purpose } },
            spec: {
              parentRefs: [{ group: GATEWAY_GROUP, kind: plan.parent.kind, name: plan.parent.name, namespace: plan.parent.namespace, sectionName: plan.parent.sectionName }],
              hostnames,
              rules: rules.map((r) => ({ matches: r.map((value) => ({ path: { type: 'Exact', value } })), backendRefs: [backendRef] })),
            },
          } as { metadata: { name: string } });
          created.push({ kind: 'HTTPRoute', namespace: ns, name });
        }
      }
    } catch (e) {
      // Half a route set is no route: take back what was made, then report the first failure.
      await cleanUp().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'could not remove a partly created solver HTTPRoute; the next pass deletes it'));
      throw e;
    }
    const description = created.map((o) => `${o.kind} ${o.namespace}/${o.name}`).join(', ') || 'no HTTPRoute (no Gateway host in the order)';
    this.log.debug({ solver: description, hosts: req.hosts }, 'solver HTTPRoute created');
    return { description, cleanUp };
  }

  /** Deletes every solver HTTPRoute and ReferenceGrant of this certkeeper (leftovers of a killed pass). Only call while holding the pass lease. */
  async collectGarbage(): Promise<string[]> {
    if (!this.api.enabled) return [];
    const selector = `${SOLVER_LABEL}=true,${SOLVER_OF_LABEL}=${this.opts.namespace}`;
    const found: { kind: 'HTTPRoute' | 'ReferenceGrant'; namespace: string; name: string }[] = [];
    try {
      // Routes may have been made in any Gateway's namespace; with namespace-scoped RBAC (403) only
      // certkeeper's own and the managed namespace can be read, and hold them.
      const inNamespaces = async (namespaces: readonly string[]) => (await Promise.all(namespaces.map((ns) => this.api.listNames('HTTPRoute', ns, selector)))).flat();
      let routes: { namespace: string; name: string }[];
      if (this.opts.gcNamespaces) routes = await inNamespaces(this.opts.gcNamespaces);
      else {
        try {
          routes = await this.api.listNames('HTTPRoute', undefined, selector);
        } catch (e) {
          if (statusCode(e) !== 403) throw e;
          routes = await inNamespaces([this.opts.namespace]);
        }
      }
      found.push(...routes.map((r) => ({ kind: 'HTTPRoute' as const, ...r })));
      found.push(...(await this.api.listNames('ReferenceGrant', this.opts.namespace, selector)).map((r) => ({ kind: 'ReferenceGrant' as const, ...r })));
    } catch (e) {
      // No Gateway API in the cluster: nothing can be left over.
      if (statusCode(e) === 404) return [];
      throw e;
    }
    const removed: string[] = [];
    for (const o of found) if (await this.api.delete(o.kind, o.namespace, o.name)) removed.push(`${o.kind} ${o.namespace}/${o.name}`);
    return removed;
  }
}
