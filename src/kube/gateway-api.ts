// The Gateway API calls certkeeper makes (gateway.networking.k8s.io, through client-node's
// CustomObjectsApi): paginated lists of Gateways, ListenerSets, HTTPRoutes and ReferenceGrants,
// and the create/delete of its own solver HTTPRoutes and ReferenceGrants. A cluster without the
// CRDs answers 404 on the group: certkeeper then manages Ingresses only, says so once, and looks
// again at the next pass (the CRDs may be installed later).
import { CustomObjectsApi, type ConfigurationOptions } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GATEWAY_GROUP } from '../core/gateway-api.js';
import type { ClusterError } from '../errors.js';
import { listAllPages, PAGE_SIZE, statusCode } from './client.js';
import type { Kube } from './cluster.js';

/**
 * The served versions read and written. ReferenceGrant is read and written as v1beta1: every
 * Gateway API release since v0.6 serves it, v1.5+ serves v1 as well.
 */
export const GATEWAY_API_KINDS = [
  { kind: 'Gateway', plural: 'gateways', version: 'v1' },
  { kind: 'ListenerSet', plural: 'listenersets', version: 'v1' },
  { kind: 'HTTPRoute', plural: 'httproutes', version: 'v1' },
  { kind: 'ReferenceGrant', plural: 'referencegrants', version: 'v1beta1' },
] as const;

type Kind = (typeof GATEWAY_API_KINDS)[number];
const KIND = Object.fromEntries(GATEWAY_API_KINDS.map((k) => [k.kind, k])) as Record<Kind['kind'], Kind>;

interface Listed {
  metadata?: { name?: string; namespace?: string };
}

export class KubeGatewayApi {
  private readonly api: CustomObjectsApi;
  /** What the log said last about availability, so it is said once per change. */
  private said: 'available' | 'unavailable' | undefined;
  /** RBAC refused a cluster-wide list once (namespace-scoped roles): ask in the namespace from then on. */
  private clusterWideRefused = false;

  constructor(
    private readonly kube: Kube,
    private readonly opts: { enabled: boolean },
    private readonly log: Pick<Logger, 'info' | 'warn'>,
  ) {
    this.api = kube.kc.makeApiClient(CustomObjectsApi);
    if (!opts.enabled) log.info('Gateway API turned off (--gateway-api false): managing Ingresses only');
  }

  get enabled(): boolean {
    return this.opts.enabled;
  }

  /** Every object of one kind, in one namespace or all, page by page. Items carry apiVersion and kind. */
  private async listKind(k: Kind, namespace: string | undefined, labelSelector?: string): Promise<unknown[]> {
    const items = await listAllPages<Listed>(
      namespace ? { verb: 'list', resource: k.plural, namespace } : { verb: 'list', resource: k.plural },
      (cont, options) => {
        const page = { group: GATEWAY_GROUP, version: k.version, plural: k.plural, limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}), ...(labelSelector ? { labelSelector } : {}) };
        return (
          namespace ? this.api.listNamespacedCustomObject({ ...page, namespace }, options) : this.api.listCustomObjectForAllNamespaces(page, options)
        ) as Promise<{ items: Listed[]; metadata?: { _continue?: string } }>;
      },
      this.kube.server,
    );
    // The API omits apiVersion/kind on list items; the core recognises objects by them.
    return items.map((i) => ({ apiVersion: `${GATEWAY_GROUP}/${k.version}`, kind: k.kind, ...i }));
  }

  /**
   * Gateways, ListenerSets, HTTPRoutes and ReferenceGrants, or undefined when the cluster does not
   * serve Gateways (or certkeeper was told not to look). A cluster with an older Gateway API
   * bundle without ListenerSets has none.
   */
  async listAll(namespace?: string): Promise<unknown[] | undefined> {
    if (!this.opts.enabled) return undefined;
    let gateways: unknown[];
    try {
      gateways = await this.listKind(KIND.Gateway, namespace);
    } catch (e) {
      if (statusCode(e) !== 404) throw e;
      if (this.said !== 'unavailable') {
        this.log.info(`the cluster does not serve the Gateway API (${GATEWAY_GROUP}/v1 gateways: 404): managing Ingresses only`);
        this.said = 'unavailable';
      }
      return undefined;
    }
    if (this.said === 'unavailable') this.log.info('the cluster serves the Gateway API now: managing Gateways too');
    this.said = 'available';
    const optional = (k: Kind, ns: string | undefined) =>
      this.listKind(k, ns).catch((e: unknown) => {
        if (statusCode(e) === 404) return [];
        throw e;
      });
    // Routes attached to a Gateway and grants for its certificateRefs live in other namespaces
    // than the Gateway: read them everywhere, or where RBAC lets certkeeper read (scope namespaces).
    const everywhere = async (k: Kind) => {
      if (namespace === undefined) return optional(k, undefined);
      if (this.clusterWideRefused) return optional(k, namespace);
      try {
        return await optional(k, undefined);
      } catch (e) {
        if (statusCode(e) !== 403) throw e;
        this.clusterWideRefused = true;
        return optional(k, namespace);
      }
    };
    const [sets, routes, grants] = await Promise.all([optional(KIND.ListenerSet, namespace), everywhere(KIND.HTTPRoute), everywhere(KIND.ReferenceGrant)]);
    return [...gateways, ...sets, ...routes, ...grants];
  }

  /** Names ({namespace, name}) of HTTPRoutes or ReferenceGrants with the labels, in one namespace or all. */
  async listNames(kind: 'HTTPRoute' | 'ReferenceGrant', namespace: string | undefined, labelSelector: string): Promise<{ namespace: string; name: string }[]> {
    const items = (await this.listKind(KIND[kind], namespace, labelSelector)) as Listed[];
    return items.map((i) => ({ namespace: i.metadata?.namespace ?? namespace ?? '', name: i.metadata?.name ?? '' })).filter((x) => x.name !== '');
  }

  /**
   * Creates a named object. Names are random (certkeeper-solver-<10 hex>), so an AlreadyExists
   * after an unanswered attempt can only be that attempt: it counts as success without a GET
   * (which would need one more RBAC verb).
   */
  async create(kind: 'HTTPRoute' | 'ReferenceGrant', namespace: string, body: { metadata: { name: string } }): Promise<void> {
    const k = KIND[kind];
    await this.kube.call(
      'create',
      k.plural,
      namespace,
      body.metadata.name,
      (options: ConfigurationOptions) => this.api.createNamespacedCustomObject({ group: GATEWAY_GROUP, version: k.version, namespace, plural: k.plural, body }, options) as Promise<unknown>,
      { idempotent: true, reconcile: async (e: ClusterError) => (e.request.status === 409 ? {} : undefined) },
    );
  }

  /** Deletes one object; false when it was already gone. */
  async delete(kind: 'HTTPRoute' | 'ReferenceGrant', namespace: string, name: string): Promise<boolean> {
    const k = KIND[kind];
    try {
      await this.kube.call(
        'delete',
        k.plural,
        namespace,
        name,
        (options: ConfigurationOptions) => this.api.deleteNamespacedCustomObject({ group: GATEWAY_GROUP, version: k.version, namespace, plural: k.plural, name }, options) as Promise<unknown>,
        { reconcile: async (e: ClusterError) => (e.request.status === 404 ? {} : undefined) },
      );
      return true;
    } catch (e) {
      if (statusCode(e) === 404) return false;
      throw e;
    }
  }
}
