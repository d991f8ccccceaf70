// HTTP-01 answers shared through one ConfigMap in certkeeper's namespace, so every responder
// replica (and a `renew` running in another pod) serves the same tokens. Key authorizations are
// public by design (RFC 8555 §8.3): a ConfigMap, not a Secret, is the right home.
import { Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ChallengeEntry, ChallengeLookup, ChallengeStore } from '../ports.js';
import type { Kube } from './cluster.js';
import { errorMessage } from '../errors.js';

export const CHALLENGE_CONFIGMAP = 'certkeeper-challenges';
export const MANAGED_LABELS = { 'app.kubernetes.io/managed-by': 'certkeeper', 'app.kubernetes.io/name': 'certkeeper' };

export class ConfigMapChallengeStore implements ChallengeStore {
  constructor(
    private readonly kube: Kube,
    private readonly namespace: string,
    private readonly name = CHALLENGE_CONFIGMAP,
  ) {}

  async publish(entries: readonly ChallengeEntry[]): Promise<void> {
    const data: Record<string, string> = {};
    for (const e of entries) data[e.token] = e.keyAuthorization;
    await this.kube.patchConfigMapData(this.namespace, this.name, data, MANAGED_LABELS);
  }

  async remove(tokens: readonly string[]): Promise<void> {
    if (tokens.length === 0) return;
    const data: Record<string, null> = {};
    for (const t of tokens) data[t] = null;
    await this.kube.patchConfigMapData(this.namespace, this.name, data, MANAGED_LABELS);
  }

  /** Drops every answer: leftovers of a pass that was killed mid-order. */
  async clear(): Promise<number> {
    const cm = await this.kube.getConfigMap(this.namespace, this.name);
    const tokens = Object.keys(cm?.data ?? {});
    await this.remove(tokens);
    return tokens.length;
  }
}

/**
 * Keeps an in-memory copy of the challenge ConfigMap through a watch, so the responder answers
 * from memory and a new token is served as soon as the API server announces it (well under a
 * second). The watch is re-established after errors and periodic server-side timeouts.
 */
export class ConfigMapChallengeLookup implements ChallengeLookup {
  private answers = new Map<string, string>();
  private abort: AbortController | undefined;
  private stopped = false;
  private synced: Promise<void>;
  private markSynced: () => void = () => undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly kube: Kube,
    private readonly namespace: string,
    private readonly log: Logger,
    private readonly name = CHALLENGE_CONFIGMAP,
  ) {
    this.synced = new Promise((r) => (this.markSynced = r));
  }

  lookup(token: string): string | undefined {
    return this.answers.get(token);
  }

  get size(): number {
    return this.answers.size;
  }

  /** Starts watching; resolves once the first copy is loaded. */
  async start(): Promise<void> {
    void this.loop();
    await this.synced;
  }

  private async loop(): Promise<void> {
    if (this.stopped) return;
    try {
      const cm = await this.kube.getConfigMap(this.namespace, this.name);
      this.answers = new Map(Object.entries(cm?.data ?? {}));
      this.markSynced();
      const rv = cm?.metadata?.resourceVersion;
      const watch = new Watch(this.kube.kc);
      this.abort = await watch.watch(
        `/api/v1/namespaces/${this.namespace}/configmaps`,
        { fieldSelector: `metadata.name=${this.name}`, allowWatchBookmarks: true, ...(rv ? { resourceVersion: rv } : {}) },
        (phase, obj: { data?: Record<string, string> }) => {
          if (phase === 'ADDED' || phase === 'MODIFIED') this.answers = new Map(Object.entries(obj?.data ?? {}));
          else if (phase === 'DELETED') this.answers = new Map();
        },
        (err: unknown) => {
          if (this.stopped) return;
          if (err) this.log.warn({ err: (err as Error)?.message ?? String(err) }, 'challenge ConfigMap watch ended; re-listing');
          this.retryTimer = setTimeout(() => void this.loop(), err ? 1000 : 0);
        },
      );
    } catch (e) {
      this.log.warn({ err: errorMessage(e) }, 'cannot read the challenge ConfigMap; retrying in 2 s');
      // Serve nothing rather than block startup forever: readiness reflects the first sync.
      this.markSynced();
      this.retryTimer = setTimeout(() => void this.loop(), 2000);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.abort?.abort();
  }
}
