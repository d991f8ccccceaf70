// coordination.k8s.io Leases, one algorithm for both uses: `certkeeper-pass` (one pass at a time,
// cluster-wide, held for the duration of a pass) and `certkeeper-leader` (which replica schedules
// passes). A holder renews every third of the duration; a lease not renewed for its duration is
// expired and may be taken over; a released lease has an empty holder and is free at once.
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Lease, V1LeaseSpec } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ClusterError, errorMessage, isApiUnreachable } from '../errors.js';
import type { HeldLock, PassLockPort } from '../ports.js';
import { statusCode } from './client.js';
import type { Kube } from './cluster.js';

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  /** A holder that stops renewing loses the lease after this long (a killed process). */
  durationSeconds: number;
  now?: () => Date;
}

export type LeaseState =
  | { kind: 'mine' }
  | { kind: 'free'; previous: string | undefined }
  | { kind: 'held'; holder: string; since: Date | undefined; renewed: Date | undefined };

/** The one decision: who holds the lease at `now`, and may `identity` take it. Pure. */
export function leaseState(spec: V1LeaseSpec | undefined, identity: string, now: Date, defaultSeconds: number): LeaseState {
  const holder = spec?.holderIdentity || undefined;
  if (holder === identity) return { kind: 'mine' };
  const renewed = spec?.renewTime ? new Date(spec.renewTime) : undefined;
  const seconds = spec?.leaseDurationSeconds ?? defaultSeconds;
  if (!holder || !renewed || renewed.getTime() + seconds * 1000 < now.getTime()) return { kind: 'free', previous: holder };
  return { kind: 'held', holder, since: spec?.acquireTime ? new Date(spec.acquireTime) : undefined, renewed };
}

const LABELS = { 'app.kubernetes.io/managed-by': 'certkeeper' };

export class LeaseLock {
  constructor(
    private readonly kube: Kube,
    readonly opts: LeaseOptions,
    private readonly log: Logger,
  ) {}

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** Who holds the lease now, without writing. */
  async read(): Promise<LeaseState> {
    const l = await this.kube.getLease(this.opts.namespace, this.opts.name);
    return leaseState(l?.spec, this.opts.identity, this.now(), this.opts.durationSeconds);
  }

  /** Takes the lease when it is free or already ours (which renews it). Re-reads after a conflict. */
  async tryTake(): Promise<LeaseState> {
    const { namespace, name, identity, durationSeconds } = this.opts;
    for (let attempt = 0; ; attempt++) {
      const now = this.now();
      const existing = await this.kube.getLease(namespace, name);
      const state = leaseState(existing?.spec, identity, now, durationSeconds);
      if (state.kind === 'held') return state;
      try {
        if (!existing) {
          await this.kube.createLease(namespace, {
            metadata: { name, namespace, labels: LABELS },
            spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
          });
        } else {
          if (state.kind === 'free' && state.previous) {
            this.log.warn({ lease: `${namespace}/${name}`, previous: state.previous }, 'taking over an expired lease (its holder stopped renewing)');
          }
          const taking = state.kind === 'free';
          await this.kube.replaceLease(namespace, {
            ...existing,
            spec: {
              ...existing.spec,
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: taking ? now : (existing.spec?.acquireTime ?? now),
              renewTime: now,
              leaseTransitions: (existing.spec?.leaseTransitions ?? 0) + (taking ? 1 : 0),
            },
          });
        }
        return { kind: 'mine' };
      } catch (e) {
        // Someone else wrote it between our read and our write: read again and decide again.
        if (statusCode(e) !== 409 || attempt >= 4) throw e;
      }
    }
  }

  /** Frees the lease when we hold it: an empty holder lets the next one take it at once. */
  async release(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const l: V1Lease | undefined = await this.kube.getLease(namespace, name);
        if (!l || l.spec?.holderIdentity !== identity) return;
        await this.kube.replaceLease(namespace, { ...l, spec: { ...l.spec, holderIdentity: '', renewTime: this.now() } });
        return;
      } catch (e) {
        if (statusCode(e) !== 409) {
          this.log.warn({ err: errorMessage(e), lease: `${namespace}/${name}` }, 'could not release the lease; it expires on its own');
          return;
        }
      }
    }
  }
}

export class LeaseBusyError extends ClusterError {
  override name = 'LeaseBusyError';
}

/** One pass at a time: waits a bounded time for another holder, then holds and renews until released. */
export class PassLease implements PassLockPort {
  private readonly lock: LeaseLock;

  constructor(
    kube: Kube,
    private readonly opts: LeaseOptions & { waitMs: number; pollMs?: number },
    private readonly log: Logger,
  ) {
    this.lock = new LeaseLock(kube, opts, log);
  }

  async acquire(signal?: AbortSignal): Promise<HeldLock> {
    const deadline = Date.now() + this.opts.waitMs;
    let announced = false;
    for (;;) {
      signal?.throwIfAborted();
      const r = await this.lock.tryTake();
      if (r.kind !== 'held') break;
      if (Date.now() >= deadline) {
        const since = r.since ? ` since ${r.since.toISOString()}` : '';
        const now = this.opts.now?.() ?? new Date();
        const renewed = r.renewed ? `, last renewed ${Math.round((now.getTime() - r.renewed.getTime()) / 1000)} s ago` : '';
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
      await sleep(this.opts.pollMs ?? 1000, undefined, signal ? { signal } : undefined).catch(() => undefined);
    }
    return this.hold();
  }

  private hold(): HeldLock {
    const lost = new AbortController();
    const stop = new AbortController();
    const renewEvery = (this.opts.durationSeconds * 1000) / 3;
    const renew = async (): Promise<void> => {
      while (!stop.signal.aborted) {
        // Aborted on release, so a finished pass does not keep the process alive.
        await sleep(renewEvery, undefined, { signal: stop.signal }).catch(() => undefined);
        if (stop.signal.aborted) return;
        try {
          const r = await this.lock.tryTake();
          if (r.kind === 'held') {
            // Another pass took it over (we did not renew in time): stop before the next order.
            lose(r.holder);
            return;
          }
        } catch (e) {
          this.log.warn({ err: errorMessage(e) }, 'could not renew the pass lease; retrying');
        }
      }
    };
    const loop = renew();
    const lose = (holder: string): void => {
      if (lost.signal.aborted) return;
      lost.abort(new Error(`lost Lease ${this.opts.namespace}/${this.opts.name} to ${holder}`));
      this.log.error({ lease: `${this.opts.namespace}/${this.opts.name}`, holder }, 'lost the pass lease to another holder; no further orders in this pass');
    };
    return {
      lost: lost.signal,
      confirm: async () => {
        if (lost.signal.aborted) return false;
        try {
          const r = await this.lock.read();
          if (r.kind === 'held') lose(r.holder);
        } catch (e) {
          // No answer at all (after the adapter's retries): the pass must stop, not order blind.
          if (isApiUnreachable(e)) throw e;
          // Refused or odd answers are not a lost lease: the order's own calls tell soon enough.
          this.log.warn({ err: errorMessage(e) }, 'could not read the pass lease before an order');
        }
        return !lost.signal.aborted;
      },
      release: async () => {
        stop.abort();
        await loop;
        if (!lost.signal.aborted) await this.lock.release();
      },
    };
  }
}
