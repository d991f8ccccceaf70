// Small records certkeeper keeps in its own namespace, in one ConfigMap: failure records of
// Targets whose Secret does not exist yet (there is no Secret to annotate), and alert state.
import type { Kube } from './cluster.js';
import { MANAGED_LABELS } from './challenges.js';

export const STATE_CONFIGMAP = 'certkeeper-state';

/** ConfigMap keys allow [-._a-zA-Z0-9]; namespaces and names fit, with "." as the separator. */
export function stateKey(kind: string, namespace: string, name: string): string {
  return `${kind}.${namespace}.${name}`;
}

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
}
