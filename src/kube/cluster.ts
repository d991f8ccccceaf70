// The Kubernetes API calls certkeeper makes, each one retried on transient failures and
// translated into a ClusterError (client.ts). Lists are paginated and cluster-wide (one call per
// page, never one GET per object): a pass over a thousand Ingresses costs a handful of requests.
import {
  CoordinationV1Api,
  CoreV1Api,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type ConfigurationOptions,
  type KubeConfig,
  type V1ConfigMap,
  type V1Ingress,
  type V1Lease,
  type V1Secret,
} from '@kubernetes/client-node';
import { TLS_SECRET_TYPE, type SecretObject } from '../core/secret.js';
import { isApiUnreachable, type ClusterError } from '../errors.js';
import { DEFAULT_RETRY, kubeCall, listAllPages, PAGE_SIZE, statusCode, type CallOptions, type RetryPolicy } from './client.js';

/** After an unreachable API: how long later calls fail fast, and how long their one attempt may take. */
const DEGRADED_FOR_MS = 30_000;
const DEGRADED_ATTEMPT_MS = 2_000;
import { listReduced, reduceIngress, reduceSecret } from './lists.js';

const mergePatch = (options: ConfigurationOptions) => setHeaderOptions('Content-Type', PatchStrategy.MergePatch, options);

export interface KubeOptions {
  /** Retries of transient failures (client.ts DEFAULT_RETRY otherwise); tests shorten them. */
  retry?: Partial<RetryPolicy>;
}

const sameMap = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean => {
  const x = a ?? {};
  const y = b ?? {};
  return Object.keys(x).length === Object.keys(y).length && Object.entries(x).every(([k, v]) => y[k] === v);
};

/** Every entry of `want` is in `have` (the server may add its own labels and annotations). */
const containsMap = (have: Record<string, string> | undefined, want: Record<string, string> | undefined): boolean =>
  Object.entries(want ?? {}).every(([k, v]) => have?.[k] === v);

/** The Secret as stored is the one we sent: our earlier attempt went through. */
function isOurSecret(sent: SecretObject, stored: SecretObject | undefined): stored is SecretObject {
  return (
    stored !== undefined &&
    (stored.type ?? 'Opaque') === (sent.type ?? 'Opaque') &&
    sameMap(stored.data, sent.data) &&
    containsMap(stored.metadata.labels, sent.metadata.labels) &&
    containsMap(stored.metadata.annotations, sent.metadata.annotations)
  );
}

/**
 * JSON with object keys in one order: client-node's models serialise fields in their own order
 * (backend before path), so the same spec read back is another string than the one sent.
 */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

/** client-node hands back typed models with Dates; the core reads plain JSON-shaped objects. */
function plain<T>(obj: unknown): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

export class Kube {
  readonly core: CoreV1Api;
  readonly networking: NetworkingV1Api;
  readonly coordination: CoordinationV1Api;
  readonly server: string;
  private readonly configured: Partial<RetryPolicy>;
  /** Until then, the API was just found unreachable: calls get one short attempt (see `retry`). */
  private degradedUntil = 0;

  constructor(
    readonly kc: KubeConfig,
    opts: KubeOptions = {},
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
    this.server = kc.getCurrentCluster()?.server ?? '(unknown server)';
    this.configured = opts.retry ?? {};
  }

  /**
   * The retry policy of the next call. Right after a call found the API unreachable (after its
   * full retry budget), the calls that follow — a pass's cleanup, its lease release, Events — get
   * one attempt of at most 2 s each: otherwise each would wait out another 10 s budget against an
   * API that is gone, and a stopped pass would take a minute to exit. Any answer ends it.
   */
  get retry(): Partial<RetryPolicy> {
    if (Date.now() >= this.degradedUntil) return this.configured;
    const short = Math.min(this.configured.attemptTimeoutMs ?? DEFAULT_RETRY.attemptTimeoutMs, DEGRADED_ATTEMPT_MS);
    return { ...this.configured, attempts: 1, attemptTimeoutMs: short, minAttemptTimeoutMs: short, budgetMs: short };
  }

  /** Notes how a call ended, for `retry`. */
  private observe<T>(p: Promise<T>): Promise<T> {
    return p.then(
      (v) => {
        this.degradedUntil = 0;
        return v;
      },
      (e: unknown) => {
        if (isApiUnreachable(e)) this.degradedUntil = Date.now() + DEGRADED_FOR_MS;
        else if (statusCode(e) !== undefined) this.degradedUntil = 0;
        throw e;
      },
    );
  }

  /**
   * One API call with retries (client.ts kubeCall). Pass `options` on to the client-node method:
   * they carry the attempt's deadline. Creates are retried only where nothing can be done twice;
   * see CallOptions for the rules.
   */
  call<T>(
    verb: string,
    resource: string,
    namespace: string | undefined,
    name: string | undefined,
    fn: (options: ConfigurationOptions) => Promise<T>,
    opts: Omit<CallOptions<T>, 'policy'> = {},
  ): Promise<T> {
    const r: { verb: string; resource: string; namespace?: string; name?: string } = { verb, resource };
    if (namespace) r.namespace = namespace;
    if (name) r.name = name;
    return this.observe(kubeCall(r, fn, this.server, { ...opts, policy: this.retry }));
  }

  private listPages<T>(
    r: Parameters<typeof listAllPages<T>>[0],
    page: Parameters<typeof listAllPages<T>>[1],
  ): Promise<T[]> {
    return this.observe(listAllPages<T>(r, page, this.server, this.retry));
  }

  /** A retried delete that finds nothing after an unanswered attempt: that attempt did it. */
  private static readonly goneAfterRetry = <T>(value: T) => async (e: ClusterError): Promise<T | undefined> =>
    e.request.status === 404 ? value : undefined;

  // Ingresses ---------------------------------------------------------------------------------

  /** Every Ingress, reduced page by page to what certkeeper reads (lists.ts). */
  listIngresses(namespace?: string): Promise<unknown[]> {
    return this.observe(
      listReduced(
      this,
      namespace ? { verb: 'list', resource: 'ingresses', namespace } : { verb: 'list', resource: 'ingresses' },
      namespace ? `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/ingresses` : '/apis/networking.k8s.io/v1/ingresses',
      {},
      reduceIngress,
      ),
    );
  }

  /**
   * Creates a named Ingress. Retried like an idempotent call: if an unanswered attempt created it,
   * the retry's AlreadyExists finds an Ingress with our labels, annotations and spec, and that is success.
   */
  async createIngress(namespace: string, body: object): Promise<void> {
    const sent = body as V1Ingress;
    const name = sent.metadata?.name;
    await this.call('create', 'ingresses', namespace, name, (options) => this.networking.createNamespacedIngress({ namespace, body: sent }, options), {
      idempotent: name !== undefined,
      reconcile: async (e) => {
        if (e.request.status !== 409 || !name) return undefined;
        const stored = await this.call('get', 'ingresses', namespace, name, (options) => this.networking.readNamespacedIngress({ namespace, name }, options));
        const ours =
          containsMap(stored.metadata?.labels, sent.metadata?.labels) &&
          containsMap(stored.metadata?.annotations, sent.metadata?.annotations) &&
          canonicalJson(plain(stored.spec)) === canonicalJson(plain(sent.spec));
        return ours ? stored : undefined;
      },
    });
  }

  async deleteIngress(namespace: string, name: string): Promise<boolean> {
    try {
      await this.call('delete', 'ingresses', namespace, name, (options) => this.networking.deleteNamespacedIngress({ namespace, name }, options), {
        reconcile: Kube.goneAfterRetry({}),
      });
      return true;
    } catch (e) {
      if (statusCode(e) === 404) return false;
      throw e;
    }
  }

  async listIngressNames(namespace: string, labelSelector: string): Promise<string[]> {
    const items = await this.listPages<V1Ingress>(
      { verb: 'list', resource: 'ingresses', namespace },
      (cont, options) => this.networking.listNamespacedIngress({ namespace, labelSelector, limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) }, options),
    );
    return items.map((i) => i.metadata?.name ?? '').filter(Boolean);
  }

  // Secrets -----------------------------------------------------------------------------------

  /** Every kubernetes.io/tls Secret (field selector on type: no Opaque Secrets are read). */
  listTlsSecrets(namespace?: string): Promise<SecretObject[]> {
    return this.listSecrets(`type=${TLS_SECRET_TYPE}`, namespace);
  }

  /** Secrets matching a field selector, in one namespace or all, reduced page by page (lists.ts). */
  listSecrets(fieldSelector: string, namespace?: string): Promise<SecretObject[]> {
    return this.observe(
      listReduced(
      this,
      namespace ? { verb: 'list', resource: 'secrets', namespace } : { verb: 'list', resource: 'secrets' },
      namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets` : '/api/v1/secrets',
      { fieldSelector },
      reduceSecret,
      ),
    );
  }

  /** The Secrets of one namespace carrying a label (certkeeper's own, in its namespace). */
  async listSecretsLabelled(namespace: string, labelSelector: string): Promise<SecretObject[]> {
    const items = await this.listPages<V1Secret>(
      { verb: 'list', resource: 'secrets', namespace },
      (cont, options) => this.core.listNamespacedSecret({ namespace, labelSelector, limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) }, options),
    );
    return items.map((s) => plain<SecretObject>(s));
  }

  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    try {
      return plain<SecretObject>(await this.call('get', 'secrets', namespace, name, (options) => this.core.readNamespacedSecret({ namespace, name }, options)));
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  /**
   * Creates a Secret, retried through transient failures. When an unanswered attempt did create it,
   * the retry's AlreadyExists is checked against what is stored: the same type, data, labels and
   * annotations are our own write, reported as success, so a new certificate is never refused by
   * its own first copy.
   */
  async createSecret(secret: SecretObject): Promise<SecretObject> {
    const { namespace, name } = secret.metadata;
    const body = { ...secret, metadata: { ...secret.metadata } };
    delete body.metadata.resourceVersion;
    return plain(
      await this.call('create', 'secrets', namespace, name, (options) => this.core.createNamespacedSecret({ namespace, body: body as V1Secret }, options), {
        idempotent: true,
        reconcile: (e) => this.ownWrite(e, body),
      }),
    );
  }

  /**
   * PUT guarded by metadata.resourceVersion: a 409 means someone else wrote in between, or an
   * unanswered attempt of ours went through (then the stored Secret is what we sent: success).
   */
  async replaceSecret(secret: SecretObject): Promise<SecretObject> {
    const { namespace, name } = secret.metadata;
    return plain(
      await this.call('update', 'secrets', namespace, name, (options) => this.core.replaceNamespacedSecret({ namespace, name, body: secret as V1Secret }, options), {
        reconcile: (e) => this.ownWrite(e, secret),
      }),
    );
  }

  private async ownWrite(e: ClusterError, sent: SecretObject): Promise<V1Secret | undefined> {
    if (e.request.status !== 409) return undefined;
    const stored = await this.getSecret(sent.metadata.namespace, sent.metadata.name);
    return isOurSecret(sent, stored) ? (stored as V1Secret) : undefined;
  }

  /** Merge-patches annotations (null deletes a key). */
  async patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<string | undefined> {
    const patched = await this.call('patch', 'secrets', namespace, name, (options) =>
      this.core.patchNamespacedSecret({ namespace, name, body: { metadata: { annotations } } }, mergePatch(options)),
    );
    return (patched as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion;
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await this.call('delete', 'secrets', namespace, name, (options) => this.core.deleteNamespacedSecret({ namespace, name }, options), {
      reconcile: Kube.goneAfterRetry({}),
    });
  }

  // ConfigMaps --------------------------------------------------------------------------------

  async getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    try {
      return plain<V1ConfigMap>(await this.call('get', 'configmaps', namespace, name, (options) => this.core.readNamespacedConfigMap({ namespace, name }, options)));
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
        await this.call('patch', 'configmaps', namespace, name, (options) =>
          this.core.patchNamespacedConfigMap({ namespace, name, body: { data } }, mergePatch(options)),
        );
        return;
      } catch (e) {
        if (statusCode(e) !== 404 || attempt > 2) throw e;
      }
      const initial: Record<string, string> = {};
      for (const [k, v] of Object.entries(data)) if (v !== null) initial[k] = v;
      try {
        // Named, and AlreadyExists is handled below: safe to repeat after an unanswered attempt.
        await this.call(
          'create',
          'configmaps',
          namespace,
          name,
          (options) => this.core.createNamespacedConfigMap({ namespace, body: { metadata: { name, namespace, labels }, data: initial } }, options),
          { idempotent: true },
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
      return await this.call('get', 'leases', namespace, name, (options) => this.coordination.readNamespacedLease({ namespace, name }, options));
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  /** Named: a retry that meets its own earlier create gets 409, and lease callers re-read on 409. */
  createLease(namespace: string, body: V1Lease): Promise<V1Lease> {
    return this.call('create', 'leases', namespace, body.metadata?.name, (options) => this.coordination.createNamespacedLease({ namespace, body }, options), {
      idempotent: body.metadata?.name !== undefined,
    });
  }

  replaceLease(namespace: string, body: V1Lease): Promise<V1Lease> {
    const name = body.metadata?.name ?? '';
    return this.call('update', 'leases', namespace, name, (options) => this.coordination.replaceNamespacedLease({ namespace, name, body }, options));
  }
}
