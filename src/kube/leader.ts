// Leader election on a coordination.k8s.io Lease: every replica answers challenges, only the
// leader runs scheduled passes. The leader renews every third of the lease duration; a replica
// that cannot renew before the deadline steps down, and SIGTERM hands the lease over at once.
import type { Logger } from 'pino';
import { statusCode } from './client.js';
import type { Kube } from './cluster.js';

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

  constructor(
    private readonly kube: Kube,
    private readonly opts: LeaderOptions,
    private readonly log: Logger,
  ) {}

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
      this.set(await this.tryHold());
      if (this.leader) this.lastRenew = Date.now();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'leader election round failed');
      // The renew deadline: a leader that cannot renew for 2/3 of the duration steps down before
      // another replica may take over, so two leaders never overlap.
      if (this.leader && Date.now() - this.lastRenew > (this.opts.durationMs * 2) / 3) this.set(false);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.round(), this.opts.durationMs / 3);
  }

  private async tryHold(): Promise<boolean> {
    const { namespace, name, identity, durationMs } = this.opts;
    const now = this.opts.now();
    const seconds = Math.max(1, Math.round(durationMs / 1000));
    const l = await this.kube.getLease(namespace, name);
    if (!l) {
      try {
        await this.kube.createLease(namespace, {
          metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'certkeeper' } },
          spec: { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        });
        return true;
      } catch (e) {
        if (statusCode(e) === 409) return false;
        throw e;
      }
    }
    const holder = l.spec?.holderIdentity;
    const renewed = l.spec?.renewTime ? new Date(l.spec.renewTime).getTime() : 0;
    const expired = !holder || renewed + (l.spec?.leaseDurationSeconds ?? seconds) * 1000 < now.getTime();
    if (holder !== identity && !expired) return false;
    try {
      await this.kube.replaceLease(namespace, {
        ...l,
        spec: {
          ...l.spec,
          holderIdentity: identity,
          leaseDurationSeconds: seconds,
          renewTime: now,
          ...(holder !== identity ? { acquireTime: now, leaseTransitions: (l.spec?.leaseTransitions ?? 0) + 1 } : {}),
        },
      });
      return true;
    } catch (e) {
      if (statusCode(e) === 409) return holder === identity ? this.tryHold() : false;
      throw e;
    }
  }

  /** Stops campaigning and, when leading, frees the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leader) return;
    this.set(false);
    try {
      const l = await this.kube.getLease(this.opts.namespace, this.opts.name);
      if (l?.spec?.holderIdentity === this.opts.identity) {
        await this.kube.replaceLease(this.opts.namespace, { ...l, spec: { ...l.spec, holderIdentity: '', renewTime: this.opts.now() } });
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'could not hand over the leader lease; it expires on its own');
    }
  }
}
