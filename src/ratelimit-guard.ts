// The rate-limit ledger in use: which CAs it applies to, the check before an order, and the
// records after one. One guard per pass (or `issue` run): the ledger is read once, lazily, and
// every change is saved in order. Depends on ports only; the arithmetic is core/ratelimits.ts.
import type { Logger } from 'pino';
import { isLetsEncrypt } from './core/profiles.js';
import { checkRateLimits, LETS_ENCRYPT_LIMITS, pruneLedger, recordCertificate, recordFailedValidation, recordOrder, type Ledger, type PlannedOrder } from './core/ratelimits.js';
import { errorMessage, OrderRefusedError } from './errors.js';
import type { Clock, RateLimitLedgerPort } from './ports.js';

/** auto: Let's Encrypt's limits on Let's Encrypt's directories; letsencrypt: on every CA; off: no ledger. */
export const RATE_LIMIT_MODES = ['auto', 'letsencrypt', 'off'] as const;
export type RateLimitMode = (typeof RATE_LIMIT_MODES)[number];

export class RateLimitGuard {
  private ledger: Promise<Ledger> | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly port: RateLimitLedgerPort | undefined,
    private readonly mode: RateLimitMode,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  applies(directoryUrl: string): boolean {
    if (!this.port || this.mode === 'off') return false;
    return this.mode === 'letsencrypt' || isLetsEncrypt(directoryUrl);
  }

  private load(): Promise<Ledger> {
    const port = this.port as RateLimitLedgerPort;
    this.ledger ??= port.load().catch((e: unknown) => {
      this.log.warn({ err: errorMessage(e), ledger: port.location }, 'the rate-limit ledger cannot be read; ordering without it (the CA\'s own limits still apply)');
      return { version: 1, cas: {} } as Ledger;
    });
    return this.ledger;
  }

  /** Throws OrderRefusedError('RateLimitAhead') when `order` would exceed a limit the CA publishes. */
  async check(order: PlannedOrder): Promise<void> {
    if (!this.applies(order.directoryUrl)) return;
    const hit = checkRateLimits(await this.load(), order, LETS_ENCRYPT_LIMITS, this.clock());
    if (hit) throw new OrderRefusedError('RateLimitAhead', hit.message, hit.hint);
  }

  async orderPlaced(directoryUrl: string): Promise<void> {
    await this.change(directoryUrl, (l, now) => recordOrder(l, directoryUrl, now));
  }

  async certificateIssued(directoryUrl: string, names: readonly string[]): Promise<void> {
    await this.change(directoryUrl, (l, now) => recordCertificate(l, directoryUrl, names, now));
  }

  async validationFailed(directoryUrl: string, hosts: readonly string[]): Promise<void> {
    await this.change(directoryUrl, (l, now) => recordFailedValidation(l, directoryUrl, hosts, now));
  }

  private async change(directoryUrl: string, apply: (l: Ledger, now: Date) => void): Promise<void> {
    if (!this.applies(directoryUrl)) return;
    const port = this.port as RateLimitLedgerPort;
    const ledger = await this.load();
    const now = this.clock();
    apply(ledger, now);
    pruneLedger(ledger, LETS_ENCRYPT_LIMITS, now);
    const snapshot = JSON.parse(JSON.stringify(ledger)) as Ledger;
    // Saved in order: a later snapshot never lands before an earlier one.
    this.saving = this.saving.then(() =>
      port.save(snapshot).catch((e: unknown) => {
        this.log.warn({ err: errorMessage(e), ledger: port.location }, 'the rate-limit ledger could not be saved; this order is not counted');
      }),
    );
    await this.saving;
  }
}
