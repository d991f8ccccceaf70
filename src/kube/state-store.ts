// Small records certkeeper keeps in its own namespace, in one ConfigMap: failure records of
// Targets whose Secret does not exist yet (there is no Secret to annotate), and alert state.
import type { FailureRecord } from '../core/secret.js';
import type { Kube } from './cluster.js';
import { MANAGED_LABELS } from './challenges.js';

export const STATE_CONFIGMAP = 'certkeeper-state';


export class ConfigMapState {
  constructor(
    private readonly kube: Kube,
    private readonly namespace: string,
    private readonly name = STATE_CONFIGMAP,
  ) {}

  async readAll(): Promise<Record<string, string>> {
    return (await this.kube.getConfigMap(this.namespace, this.name))?.data ?? {};
  }

  async write(values: Record<string, string | null>): Promise<void> {
    if (Object.keys(values).length === 0) return;
    await this.kube.patchConfigMapData(this.namespace, this.name, values, MANAGED_LABELS);
  }

  /** Failure records of Targets without a Secret, keyed `failure.<namespace>.<secret>`. */
  async readFailures(): Promise<Map<string, FailureRecord>> {
    const out = new Map<string, FailureRecord>();
    for (const [k, v] of Object.entries(await this.readAll())) {
      if (!k.startsWith('failure.')) continue;
      try {
        const r = JSON.parse(v) as { failures: number; retryAfter: string; lastError?: string; step?: string };
        if (Number.isInteger(r.failures) && !Number.isNaN(Date.parse(r.retryAfter))) {
          out.set(k, { failures: r.failures, retryAfter: new Date(r.retryAfter), lastError: r.lastError ?? '', ...(r.step === 'write' ? { step: 'write' as const } : {}) });
        }
      } catch {
        // A damaged record only loses its backoff.
      }
    }
    return out;
  }

  async writeFailure(key: string, record: FailureRecord | undefined): Promise<void> {
    await this.write({ [key]: record ? JSON.stringify({ ...record, retryAfter: record.retryAfter.toISOString() }) : null });
  }
}
