// Leader election on the certkeeper-leader Lease (the LeaseLock algorithm of lease.ts): every
// replica answers challenges, only the leader runs scheduled passes. Rounds run every third of the
// lease duration; a leader that cannot renew for 2/3 of it steps down before another replica may
// take over, so two leaders never overlap; SIGTERM hands the lease over at once.
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { Kube } from './cluster.js';
import { LeaseLock } from './lease.js';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  durationMs: number;
  now: () => Date;
  onChange?: (leader: boolean) => void;
}

export class LeaderElector {
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastRenew = 0;
  private readonly lock: LeaseLock;

  constructor(
    kube: Kube,
    private readonly opts: LeaderOptions,
    private readonly log: Logger,
  ) {
    const { namespace, name, identity, durationMs, now } = opts;
    this.lock = new LeaseLock(kube, { namespace, name, identity, durationSeconds: Math.max(1, Math.round(durationMs / 1000)), now }, log);
  }

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    void this.round();
  }

  private set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.log.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity }, leader ? 'became leader: running scheduled passes' : 'not leader any more');
    this.opts.onChange?.(leader);
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    try {
      this.set((await this.lock.tryTake()).kind === 'mine');
      if (this.leader) this.lastRenew = Date.now();
    } catch (e) {
      this.log.warn({ err: errorMessage(e) }, 'leader election round failed');
      if (this.leader && Date.now() - this.lastRenew > (this.opts.durationMs * 2) / 3) this.set(false);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.round(), this.opts.durationMs / 3);
  }

  /** Stops campaigning and, when leading, frees the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leader) return;
    this.set(false);
    await this.lock.release();
  }
}
