// Log lines for challenge requests. An answered token is news (a validator reached us) and gets
// its own line. Unknown tokens are mostly scanners and validators retrying a finished order: on
// port 80 of the internet that can be thousands a minute, so they are counted and summed up in
// one line per interval: "37 requests for unknown tokens in the last 60 s from 12 addresses; e.g. …".
import type { Logger } from '../log.js';
import type { ChallengeRequest } from './responder.js';

export interface UnknownTokenSummary {
  requests: number;
  /** Distinct remote addresses, counted up to `maxAddresses`. */
  addresses: number;
  /** True when more distinct addresses came than were counted. */
  addressesCapped: boolean;
  /** Length of the window in ms. */
  windowMs: number;
  /** The first few distinct (host, token, address) seen in the window. */
  examples: { host: string; token: string; remote: string }[];
}

export interface UnknownTokenLogOptions {
  /** Default 60 s. */
  intervalMs?: number;
  /** Examples per line; default 3. */
  maxExamples?: number;
  /** Distinct addresses remembered per window; a flood from many addresses must not grow memory. Default 10,000. */
  maxAddresses?: number;
  /** Where a summary goes; default one INFO line on `logger`. */
  report?: (s: UnknownTokenSummary) => void;
  logger?: Logger;
  /** ms clock; tests pass their own. */
  now?: () => number;
}

// Host headers and tokens come from strangers: bounded before they reach a log line.
const clip = (s: string | undefined, max: number): string => {
  const v = (s ?? '-').replace(/[^\x20-\x7e]/g, '?');
  return v.length <= max ? v : `${v.slice(0, max - 1)}…`;
};

const windowSeconds = (s: UnknownTokenSummary): number => Math.max(1, Math.round(s.windowMs / 1000));

/** "37 requests for unknown tokens in the last 60 s from 12 addresses; e.g. shop.example.com/abc… from 203.0.113.9". */
export function unknownTokenLine(s: UnknownTokenSummary): string {
  const seconds = windowSeconds(s);
  const requests = `${s.requests} request${s.requests === 1 ? '' : 's'}`;
  const addresses = `${s.addresses}${s.addressesCapped ? '+' : ''} address${s.addresses === 1 && !s.addressesCapped ? '' : 'es'}`;
  const examples = s.examples.map((e) => `${e.host}/.well-known/acme-challenge/${e.token} from ${e.remote}`).join(', ');
  return `${requests} for unknown tokens in the last ${seconds} s from ${addresses}${examples ? `; e.g. ${examples}` : ''}`;
}

/** Counts unknown-token requests and reports them once per interval (nothing when there were none). */
export class UnknownTokenLog {
  private readonly intervalMs: number;
  private readonly maxExamples: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly report: (s: UnknownTokenSummary) => void;
  private windowStart: number;
  private requests = 0;
  private addresses = new Set<string>();
  private capped = false;
  private examples: UnknownTokenSummary['examples'] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: UnknownTokenLogOptions) {
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.maxExamples = opts.maxExamples ?? 3;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
    this.now = opts.now ?? Date.now;
    const logger = opts.logger;
    this.report =
      opts.report ??
      ((s) =>
        logger?.info(
          { unknownTokenRequests: s.requests, addresses: s.addresses, windowSeconds: windowSeconds(s), examples: s.examples },
          unknownTokenLine(s),
        ));
    this.windowStart = this.now();
  }

  record(e: Pick<ChallengeRequest, 'token' | 'host' | 'remote'>): void {
    // A window opens with its first request, so a quiet hour is not reported as part of it.
    if (this.requests === 0) this.windowStart = this.now();
    this.requests++;
    const remote = clip(e.remote, 64);
    if (this.addresses.size < this.maxAddresses) this.addresses.add(remote);
    else if (!this.addresses.has(remote)) this.capped = true;
    if (this.examples.length < this.maxExamples) {
      const ex = { host: clip(e.host, 100), token: clip(e.token, 24), remote };
      if (!this.examples.some((x) => x.host === ex.host && x.token === ex.token && x.remote === ex.remote)) this.examples.push(ex);
    }
    // The timer runs only while there is something to report: an idle responder logs nothing.
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Reports the current window now (if anything happened) and starts a new one. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    if (this.requests > 0) {
      this.report({
        requests: this.requests,
        addresses: this.addresses.size,
        addressesCapped: this.capped,
        windowMs: now - this.windowStart,
        examples: this.examples,
      });
    }
    this.windowStart = now;
    this.requests = 0;
    this.addresses = new Set();
    this.capped = false;
    this.examples = [];
  }

  /** On shutdown: the last partial window is reported, not lost. */
  stop(): void {
    this.flush();
  }
}

/**
 * The responder's onChallenge for a service: answered tokens get a line each, unknown ones are
 * summed up per interval. `stop()` on shutdown reports the last partial interval.
 */
export function challengeRequestLog(logger: Logger, opts: Omit<UnknownTokenLogOptions, 'logger'> = {}): { record(e: ChallengeRequest): void; stop(): void } {
  const unknown = new UnknownTokenLog({ ...opts, logger });
  return {
    record(e) {
      if (e.found) logger.info({ token: e.token, host: e.host, remote: e.remote }, 'answered challenge');
      else unknown.record(e);
    },
    stop: () => unknown.stop(),
  };
}
