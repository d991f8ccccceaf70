// The Kubernetes API calls certkeeper makes, each one translated into a ClusterError on failure.
// Lists are paginated and cluster-wide (one call per page, never one GET per object): a pass over
// a thousand Ingresses costs a handful of requests.
import {
  CoordinationV1Api,
  CoreV1Api,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ConfigMap,
  type V1Ingress,
  type V1Lease,
  type V1Secret,
} from '@kubernetes/client-node';
import { TLS_SECRET_TYPE, type SecretObject } from '../core/secret.js';
import { kubeCall, listAllPages, PAGE_SIZE, statusCode } from './client.js';

const mergePatch = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** client-node hands back typed models with Dates; the core reads plain JSON-shaped objects. */
function plain<T>(obj: unknown): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

export class Kube {
  readonly core: CoreV1Api;
  readonly networking: NetworkingV1Api;
  readonly coordination: CoordinationV1Api;
  readonly server: string;

  constructor(readonly kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
    this.server = kc.getCurrentCluster()?.server ?? '(unknown server)';
  }

  call<T>(verb: string, resource: string, namespace: string | undefined, name: string | undefined, fn: () => Promise<T>): Promise<T> {
    const r: { verb: string; resource: string; namespace?: string; name?: string } = { verb, resource };
    if (namespace) r.namespace = namespace;
    if (name) r.name = name;
    return kubeCall(r, fn, this.server);
  }

  // Ingresses ---------------------------------------------------------------------------------

  async listIngresses(namespace?: string): Promise<unknown[]> {
    const items = await listAllPages<V1Ingress>(
      namespace ? { verb: 'list', resource: 'ingresses', namespace } : { verb: 'list', resource: 'ingresses' },
      (cont) =>
        namespace
          ? this.networking.listNamespacedIngress({ namespace, limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) })
          : this.networking.listIngressForAllNamespaces({ limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) }),
      this.server,
    );
    // The API omits apiVersion/kind on list items; the core recognises Ingresses by them.
    return items.map((i) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', ...plain<object>(i) }));
  }

  async createIngress(namespace: string, body: object): Promise<void> {
    await this.call('create', 'ingresses', namespace, (body as { metadata?: { name?: string } }).metadata?.name, () =>
      this.networking.createNamespacedIngress({ namespace, body: body as V1Ingress }),
    );
  }

  async deleteIngress(namespace: string, name: string): Promise<boolean> {
    try {
      await this.call('delete', 'ingresses', namespace, name, () => this.networking.deleteNamespacedIngress({ namespace, name }));
      return true;
    } catch (e) {
      if (statusCode(e) === 404) return false;
      throw e;
    }
  }

  async listIngressNames(namespace: string, labelSelector: string): Promise<string[]> {
    const items = await listAllPages<V1Ingress>(
      { verb: 'list', resource: 'ingresses', namespace },
      (cont) => this.networking.listNamespacedIngress({ namespace, labelSelector, limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) }),
      this.server,
    );
    return items.map((i) => i.metadata?.name ?? '').filter(Boolean);
  }

  // Secrets -----------------------------------------------------------------------------------

  /** Every kubernetes.io/tls Secret (field selector on type: no Opaque Secrets are read). */
  listTlsSecrets(namespace?: string): Promise<SecretObject[]> {
    return this.listSecrets(`type=${TLS_SECRET_TYPE}`, namespace);
  }

  /** Secrets matching a field selector, in one namespace or all, page by page. */
  async listSecrets(fieldSelector: string, namespace?: string): Promise<SecretObject[]> {
    const items = await listAllPages<V1Secret>(
      namespace ? { verb: 'list', resource: 'secrets', namespace } : { verb: 'list', resource: 'secrets' },
      (cont) =>
        namespace
          ? this.core.listNamespacedSecret({ namespace, fieldSelector, limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) })
          : this.core.listSecretForAllNamespaces({ fieldSelector, limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) }),
      this.server,
    );
    return items.map((s) => plain<SecretObject>(s));
  }

  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    try {
      return plain<SecretObject>(await this.call('get', 'secrets', namespace, name, () => this.core.readNamespacedSecret({ namespace, name })));
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  async createSecret(secret: SecretObject): Promise<SecretObject> {
    const { namespace, name } = secret.metadata;
    const body = { ...secret, metadata: { ...secret.metadata } };
    delete body.metadata.resourceVersion;
    return plain(await this.call('create', 'secrets', namespace, name, () => this.core.createNamespacedSecret({ namespace, body: body as V1Secret })));
  }

  /** PUT guarded by metadata.resourceVersion: a 409 means someone else wrote in between. */
  async replaceSecret(secret: SecretObject): Promise<SecretObject> {
    const { namespace, name } = secret.metadata;
    return plain(await this.call('update', 'secrets', namespace, name, () => this.core.replaceNamespacedSecret({ namespace, name, body: secret as V1Secret })));
  }

  /** Merge-patches annotations (null deletes a key). */
  async patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    await this.call('patch', 'secrets', namespace, name, () =>
      this.core.patchNamespacedSecret({ namespace, name, body: { metadata: { annotations } } }, mergePatch()),
    );
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await this.call('delete', 'secrets', namespace, name, () => this.core.deleteNamespacedSecret({ namespace, name }));
  }

  // ConfigMaps --------------------------------------------------------------------------------

  async getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    try {
      return plain<V1ConfigMap>(await this.call('get', 'configmaps', namespace, name, () => this.core.readNamespacedConfigMap({ namespace, name })));
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  /**
   * Merge-patches data keys (null deletes), creating the ConfigMap when it does not exist yet.
   * Merge patches of distinct keys never conflict, so concurrent orders need no read-modify-write.
   */
  async patchConfigMapData(namespace: string, name: string, data: Record<string, string | null>, labels: Record<string, string>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.call('patch', 'configmaps', namespace, name, () =>
          this.core.patchNamespacedConfigMap({ namespace, name, body: { data } }, mergePatch()),
        );
        return;
      } catch (e) {
        if (statusCode(e) !== 404 || attempt > 2) throw e;
      }
      const initial: Record<string, string> = {};
      for (const [k, v] of Object.entries(data)) if (v !== null) initial[k] = v;
      try {
        await this.call('create', 'configmaps', namespace, name, () =>
          this.core.createNamespacedConfigMap({ namespace, body: { metadata: { name, namespace, labels }, data: initial } }),
        );
        return;
      } catch (e) {
        // Someone created it in between: patch it on the next round.
        if (statusCode(e) !== 409) throw e;
      }
    }
  }

  // Leases ------------------------------------------------------------------------------------

  async getLease(namespace: string, name: string): Promise<V1Lease | undefined> {
    try {
      return await this.call('get', 'leases', namespace, name, () => this.coordination.readNamespacedLease({ namespace, name }));
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  createLease(namespace: string, body: V1Lease): Promise<V1Lease> {
    return this.call('create', 'leases', namespace, body.metadata?.name, () => this.coordination.createNamespacedLease({ namespace, body }));
  }

  replaceLease(namespace: string, body: V1Lease): Promise<V1Lease> {
    const name = body.metadata?.name ?? '';
    return this.call('update', 'leases', namespace, name, () => this.coordination.replaceNamespacedLease({ namespace, name, body }));
  }
}
