// The one loop that waits until challenge URLs reach certkeeper through the controller. The
// pre-order self-check and `check --probe` both use it, so they stop for the same reasons: every
// host answered, a failure that waiting cannot change, or the deadline.
import { setTimeout as sleep } from 'node:timers/promises';
import { mapBounded } from '../bounded.js';
import { probeHttp01, type Http01ProbeOptions, type Http01ProbeResult } from './http01.js';

export interface ReachItem {
  host: string;
  token: string;
  /** The key authorization certkeeper publishes for the token. */
  expectedBody: string;
  /** Connect here instead of resolving the host (the controller's address, a test port). */
  address?: { host: string; port?: number };
  /** The ports dialled when the URL says 80/443 (port-forwarded setups, tests). */
  ports?: Http01ProbeOptions['ports'];
}

export interface ReachOptions {
  /** The controller needs a moment to load a new route: failures count only at this deadline. */
  waitMs: number;
  /** Between rounds. */
  intervalMs?: number;
  /** Deadline of one request. */
  requestTimeoutMs: number;
  concurrency?: number;
  /** Told how many requests each round made (`check` reports the count). */
  onRound?: (requests: number) => void;
  /** Stops between rounds: throws the signal's reason (a pass that was told to stop). */
  signal?: AbortSignal;
}

/**
 * A refused connection or a name that does not resolve stays so however long the controller takes
 * to load the route; waiting for it only delays the answer (and the fix).
 */
export function isFinal(r: Http01ProbeResult): boolean {
  const code = r.hops[r.hops.length - 1]?.error?.code;
  return r.outcome === 'Unreachable' && r.hops.length === 1 && (code === 'ECONNREFUSED' || code === 'ENOTFOUND');
}

/** Probes every item until it answers, fails for good, or `waitMs` passes. Last result per host. */
export async function waitUntilReachable(items: readonly ReachItem[], opts: ReachOptions): Promise<Map<string, Http01ProbeResult>> {
  const last = new Map<string, Http01ProbeResult>();
  const pending = new Map(items.map((i) => [i.host, i]));
  const deadline = Date.now() + opts.waitMs;
  while (pending.size > 0) {
    opts.signal?.throwIfAborted();
    const round = [...pending.values()];
    const results = await mapBounded(round, opts.concurrency ?? 20, (i) => {
      const o: Http01ProbeOptions = { host: i.host, token: i.token, expectedBody: i.expectedBody, timeoutMs: opts.requestTimeoutMs };
      if (i.address) o.address = i.address;
      if (i.ports) o.ports = i.ports;
      if (opts.signal) o.signal = opts.signal;
      return probeHttp01(o);
    });
    opts.onRound?.(round.length);
    results.forEach((r, n) => {
      const item = round[n] as ReachItem;
      last.set(item.host, r);
      if (r.outcome === 'Ok' || isFinal(r)) pending.delete(item.host);
    });
    const left = deadline - Date.now();
    if (pending.size === 0 || left <= 0) break;
    await sleep(Math.min(opts.intervalMs ?? 500, left), undefined, opts.signal ? { signal: opts.signal } : undefined).catch(() => undefined);
  }
  return last;
}
