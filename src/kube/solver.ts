// Routes /.well-known/acme-challenge/ for the hosts of an order to certkeeper's Service through
// the user's own ingress controller: a solver Ingress in certkeeper's namespace, one per order
// and ingress class. ingress-nginx and Traefik merge the rules of several Ingresses for one host,
// so no cross-namespace backend is needed and the user's Ingress is never edited.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Kube } from './cluster.js';
import { MANAGED_LABELS } from './challenges.js';

export const SOLVER_LABEL = 'certkeeper.dev/solver';

export interface SolverOptions {
  namespace: string;
  serviceName: string;
  servicePort: number;
  pathType: 'Prefix' | 'Exact' | 'ImplementationSpecific';
  annotations: Record<string, string>;
}

export class SolverIngresses {
  constructor(
    private readonly kube: Kube,
    private readonly opts: SolverOptions,
    private readonly log: Logger,
  ) {}

  /** Creates the solver Ingress for `hosts`; returns its name for removal. */
  async create(hosts: readonly string[], ingressClass: string | undefined, target: string, tokens: readonly string[] = []): Promise<string> {
    const name = `certkeeper-solver-${randomBytes(5).toString('hex')}`;
    const exact = this.opts.pathType === 'Exact';
    const paths = (exact ? tokens.map((t) => `/.well-known/acme-challenge/${t}`) : ['/.well-known/acme-challenge/']).map((path) => ({
      path,
      pathType: this.opts.pathType,
      backend: { service: { name: this.opts.serviceName, port: { number: this.opts.servicePort } } },
    }));
    const body = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {
        name,
        namespace: this.opts.namespace,
        labels: { ...MANAGED_LABELS, [SOLVER_LABEL]: 'true' },
        annotations: { ...this.opts.annotations, 'certkeeper.dev/for': target },
      },
      spec: {
        ...(ingressClass ? { ingressClassName: ingressClass } : {}),
        rules: hosts.map((host) => ({ host, http: { paths } })),
      },
    };
    await this.kube.createIngress(this.opts.namespace, body);
    this.log.debug({ solver: `${this.opts.namespace}/${name}`, hosts, ingressClass }, 'solver Ingress created');
    return name;
  }

  async remove(name: string): Promise<void> {
    await this.kube.deleteIngress(this.opts.namespace, name);
  }

  /** Deletes every solver Ingress (leftovers of a killed pass). Only call while holding the pass lease. */
  async collectGarbage(): Promise<string[]> {
    const names = await this.kube.listIngressNames(this.opts.namespace, `${SOLVER_LABEL}=true`);
    for (const n of names) await this.kube.deleteIngress(this.opts.namespace, n);
    return names;
  }
}

/** The solver settings as config.ts names them → SolverIngresses. */
export function solverIngressesFor(
  kube: Kube,
  cfg: {
    selfNamespace: string;
    serviceName: string;
    servicePort: number;
    solverPathType: SolverOptions['pathType'];
    solverAnnotations: readonly (readonly [string, string])[];
  },
  log: Logger,
): SolverIngresses {
  return new SolverIngresses(
    kube,
    {
      namespace: cfg.selfNamespace,
      serviceName: cfg.serviceName,
      servicePort: cfg.servicePort,
      pathType: cfg.solverPathType,
      annotations: Object.fromEntries(cfg.solverAnnotations),
    },
    log,
  );
}
