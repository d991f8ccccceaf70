// One pass at a time, cluster-wide: a coordination.k8s.io Lease held for the duration of a pass
// and renewed while it runs. A second `renew` waits a bounded time, then says who holds it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ClusterError } from '../errors.js';
import { statusCode } from './client.js';
import type { Kube } from './cluster.js';

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  /** A holder that stops renewing loses the lease after this long (a killed pass). */
  durationSeconds: number;
  /** How long to wait for another holder before giving up. */
  waitMs: number;
  pollMs?: number;
  now?: () => Date;
}

export interface HeldLease {
  /** Stops renewing and frees the lease for the next pass. */
  release(): Promise<void>;
  /** Rejects if the lease was lost (another holder took it over). */
  readonly lost: Promise<never>;
}

export class LeaseBusyError extends ClusterError {
  override name = 'LeaseBusyError';
}

export class PassLease {
  constructor(
    private readonly kube: Kube,
    private readonly opts: LeaseOptions,
    private readonly log: Logger,
  ) {}

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  private expired(l: V1Lease): boolean {
    const holder = l.spec?.holderIdentity;
    if (!holder) return true;
    const renew = l.spec?.renewTime ? new Date(l.spec.renewTime) : undefined;
    const dur = l.spec?.leaseDurationSeconds ?? this.opts.durationSeconds;
    return !renew || renew.getTime() + dur * 1000 < this.now().getTime();
  }

  /** Tries once: true when we hold the lease afterwards. */
  async tryAcquire(): Promise<{ held: true } | { held: false; holder: string; since: Date | undefined; renewed: Date | undefined }> {
    const { namespace, name, identity, durationSeconds } = this.opts;
    const now = this.now();
    const existing = await this.kube.getLease(namespace, name);
    if (!existing) {
      try {
        await this.kube.createLease(namespace, {
          metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'certkeeper' } },
          spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        });
        return { held: true };
      } catch (e) {
        if (statusCode(e) === 409) return this.tryAcquire();
        throw e;
      }
    }
    const holder = existing.spec?.holderIdentity;
    if (holder && holder !== identity && !this.expired(existing)) {
      return {
        held: false,
        holder,
        since: existing.spec?.acquireTime ? new Date(existing.spec.acquireTime) : undefined,
        renewed: existing.spec?.renewTime ? new Date(existing.spec.renewTime) : undefined,
      };
    }
    const takeover = holder && holder !== identity;
    if (takeover) this.log.warn({ lease: `${namespace}/${name}`, previous: holder }, 'taking over an expired lease (its holder stopped renewing)');
    try {
      await this.kube.replaceLease(namespace, {
        ...existing,
        spec: {
          ...existing.spec,
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: holder === identity ? (existing.spec?.acquireTime ?? now) : now,
          renewTime: now,
          leaseTransitions: (existing.spec?.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
        },
      });
      return { held: true };
    } catch (e) {
      // Someone else updated it between our read and write: read again.
      if (statusCode(e) === 409) return this.tryAcquire();
      throw e;
    }
  }

  /** Waits up to waitMs for the lease, then holds and renews it until released. */
  async acquire(): Promise<HeldLease> {
    const deadline = Date.now() + this.opts.waitMs;
    let announced = false;
    for (;;) {
      const r = await this.tryAcquire();
      if (r.held) break;
      if (Date.now() >= deadline) {
        const since = r.since ? ` since ${r.since.toISOString()}` : '';
        const renewed = r.renewed ? `, last renewed ${Math.round((this.now().getTime() - r.renewed.getTime()) / 1000)} s ago` : '';
        throw new LeaseBusyError(
          `another pass is running: Lease ${this.opts.namespace}/${this.opts.name} is held by ${r.holder}${since}${renewed}`,
          { verb: 'acquire', resource: 'leases', namespace: this.opts.namespace, name: this.opts.name },
          `wait for it to finish (or raise --lease-wait); if ${r.holder} is gone, the lease expires ${this.opts.durationSeconds} s after its last renewal`,
        );
      }
      if (!announced) {
        this.log.info({ holder: r.holder, since: r.since?.toISOString() }, 'another pass is running; waiting for it to finish');
        announced = true;
      }
      await sleep(this.opts.pollMs ?? 1000);
    }
    return this.hold();
  }

  private hold(): HeldLease {
    const { namespace, name, identity } = this.opts;
    let stopped = false;
    const stop = new AbortController();
    let rejectLost: (e: Error) => void = () => undefined;
    const lost = new Promise<never>((_, reject) => (rejectLost = reject));
    lost.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
    const renewEvery = (this.opts.durationSeconds * 1000) / 3;
    const renew = async () => {
      while (!stopped) {
        // Aborted on release, so a finished pass does not keep the process alive.
        await sleep(renewEvery, undefined, { signal: stop.signal }).catch(() => undefined);
        if (stopped) return;
        try {
          const l = await this.kube.getLease(namespace, name);
          if (!l || l.spec?.holderIdentity !== identity) {
            rejectLost(new Error(`lost Lease ${namespace}/${name} to ${l?.spec?.holderIdentity ?? 'nobody'}`));
            return;
          }
          await this.kube.replaceLease(namespace, { ...l, spec: { ...l.spec, renewTime: this.now() } });
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, 'could not renew the pass lease; retrying');
        }
      }
    };
    const loop = renew();
    return {
      lost,
      release: async () => {
        stopped = true;
        stop.abort();
        await loop;
        for (let i = 0; i < 3; i++) {
          try {
            const l = await this.kube.getLease(namespace, name);
            if (!l || l.spec?.holderIdentity !== identity) return;
            // An empty holder frees the lease at once instead of after its duration.
            await this.kube.replaceLease(namespace, { ...l, spec: { ...l.spec, holderIdentity: '', renewTime: this.now() } });
            return;
          } catch (e) {
            if (statusCode(e) !== 409) {
              this.log.warn({ err: (e as Error).message }, 'could not release the pass lease; it expires on its own');
              return;
            }
          }
        }
      },
    };
  }
}
