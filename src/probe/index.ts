// What the ingress controller really serves: TLS per SNI name, the HTTP-01 path, and a bounded
// fan-out over many hosts.
import { mapBounded } from '../bounded.js';

export { probeTls, type TlsProbeOptions } from './tls.js';
export {
  ACME_CHALLENGE_PATH,
  DEFAULT_MAX_REDIRECTS,
  MAX_BODY_BYTES,
  judgeHttp01,
  probeHttp01,
  redirectRefusal,
  summarizeHttp01,
  type Http01Hop,
  type Http01Outcome,
  type Http01ProbeOptions,
  type Http01ProbeResult,
} from './http01.js';
export {
  describeAddress,
  explainAuthorizationError,
  judgeNoSniCertificate,
  judgeServedCertificate,
  type JudgeNoSniInput,
  type JudgeServedInput,
  type ProbeAddress,
  type TlsHandshake,
  type TlsProbeFailure,
  type TlsProbeResult,
} from '../core/served.js';

/** Probes at once by default: enough to check hundreds of hosts in seconds, few enough not to look like a flood. */
export const DEFAULT_PROBE_CONCURRENCY = 20;

/**
 * Runs `fn` over `items` with at most `concurrency` calls in flight; results keep the input order.
 * A rejection rejects the whole run (the probes themselves never throw: they return failures).
 */
export function probeAll<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
  concurrency: number = DEFAULT_PROBE_CONCURRENCY,
): Promise<R[]> {
  return mapBounded(items, concurrency, fn);
}
export { isFinal, waitUntilReachable, type ReachItem, type ReachOptions } from './reachability.js';
