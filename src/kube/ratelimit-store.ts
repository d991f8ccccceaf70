// The rate-limit ledger of the cluster (core/ratelimits.ts) in one ConfigMap of certkeeper's
// namespace, apart from certkeeper-state so that neither record's writes touch the other.
import { parseLedger, type Ledger } from '../core/ratelimits.js';
import type { RateLimitLedgerPort } from '../ports.js';
import type { Kube } from './cluster.js';
import { ConfigMapState } from './state-store.js';

export const RATELIMITS_CONFIGMAP = 'certkeeper-ratelimits';
const KEY = 'ledger.json';

export class ConfigMapRateLimitLedger implements RateLimitLedgerPort {
  readonly location: string;
  private readonly state: ConfigMapState;

  constructor(kube: Kube, namespace: string) {
    this.state = new ConfigMapState(kube, namespace, RATELIMITS_CONFIGMAP);
    this.location = `ConfigMap ${namespace}/${RATELIMITS_CONFIGMAP}`;
  }

  async load(): Promise<Ledger> {
    const raw = (await this.state.readAll())[KEY];
    if (!raw) return parseLedger(undefined);
    try {
      return parseLedger(JSON.parse(raw));
    } catch {
      // A damaged ledger only forgets what was counted; the CA's own limits still hold.
      return parseLedger(undefined);
    }
  }

  async save(ledger: Ledger): Promise<void> {
    await this.state.write({ [KEY]: JSON.stringify(ledger) });
  }
}
