// The solver route for Ingresses: routes /.well-known/acme-challenge/ for the hosts of an order to
// certkeeper's Service through the user's own ingress controller, with a solver Ingress in
// certkeeper's namespace, one per order and ingress class. ingress-nginx and Traefik merge the
// rules of several Ingresses for one host, so no cross-namespace backend is needed and the user's
// Ingress is never edited.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ACME_CHALLENGE_PATH, type PresentedRoute, type RouteRequest, type SolverRoute } from '../../ports.js';
import { MANAGED_LABELS } from '../challenges.js';
import type { Kube } from '../cluster.js';

export const SOLVER_LABEL = 'certkeeper.dev/solver';

export interface IngressSolverOptions {
  namespace: string;
  serviceName: string;
  servicePort: number;
  pathType: 'Prefix' | 'Exact' | 'ImplementationSpecific';
  annotations: Record<string, string>;
}

export class IngressSolverRoute implements SolverRoute {
  constructor(
    private readonly kube: Kube,
    private readonly opts: IngressSolverOptions,
    private readonly log: Logger,
  ) {}

  /** One solver Ingress per ingress class: the class decides which controller picks it up. */
  groupKey(target: RouteRequest['target']): string {
    return target.ingressClass ?? '';
  }

  async present(req: RouteRequest): Promise<PresentedRoute> {
    const { namespace } = this.opts;
    const name = `certkeeper-solver-${randomBytes(5).toString('hex')}`;
    const exact = this.opts.pathType === 'Exact';
    const paths = (exact ? req.tokens.map((t) => `${ACME_CHALLENGE_PATH}${t}`) : [ACME_CHALLENGE_PATH]).map((path) => ({
      path,
      pathType: this.opts.pathType,
      backend: { service: { name: this.opts.serviceName, port: { number: this.opts.servicePort } } },
    }));
    const ingressClass = req.target.ingressClass;
    const body = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {
        name,
        namespace,
        labels: { ...MANAGED_LABELS, [SOLVER_LABEL]: 'true' },
        annotations: { ...this.opts.annotations, 'certkeeper.dev/for': req.purpose },
      },
      spec: {
        ...(ingressClass ? { ingressClassName: ingressClass } : {}),
        rules: req.hosts.map((host) => ({ host, http: { paths } })),
      },
    };
    await this.kube.createIngress(namespace, body);
    this.log.debug({ solver: `${namespace}/${name}`, hosts: req.hosts, ingressClass }, 'solver Ingress created');
    return {
      description: `Ingress ${namespace}/${name}`,
      // A Prefix rule routes every token of the Target's hosts: the order's tokens ride on the
      // route the self-check proved.
      anyToken: !exact,
      cleanUp: async () => {
        await this.kube.deleteIngress(namespace, name);
      },
    };
  }

  /** Deletes every solver Ingress (leftovers of a killed pass). Only call while holding the pass lease. */
  async collectGarbage(): Promise<string[]> {
    const names = await this.kube.listIngressNames(this.opts.namespace, `${SOLVER_LABEL}=true`);
    for (const n of names) await this.kube.deleteIngress(this.opts.namespace, n);
    return names.map((n) => `Ingress ${n}`);
  }
}
