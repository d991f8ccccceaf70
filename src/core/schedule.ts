// Does the service's schedule fit the certificates it keeps? A certificate is renewed by the first
// pass after its renewal time; a failed attempt backs off 1 h, 2 h, 4 h … and is retried by later
// passes. The time between the renewal time and expiry must therefore hold several passes: with
// passes more than a quarter of that time apart, two failures in a row can outlast it. A
// 160-hour certificate (Let's Encrypt's shortlived) renews with 80 hours left, so it needs a pass
// at least every 20 hours. Pure: the pass's certificates and the schedule's largest gap come in.
import { finding, type Finding } from './findings.js';
import { HOUR, MINUTE, spanText } from './time.js';

/** The share of the renewal window that may pass between two passes. */
export const PASSES_PER_WINDOW = 4;

export interface ScheduledCertificate {
  namespace: string;
  secretName: string;
  notAfter?: Date | undefined;
  renewAt?: Date | undefined;
  profile?: string | undefined;
}

/** A cron expression that runs at least every `ms`, off the top of the hour as Let's Encrypt asks. */
export function scheduleFor(ms: number): string {
  if (ms >= 24 * HOUR) return '7 3 * * *';
  if (ms >= HOUR) {
    const every = [12, 8, 6, 4, 3, 2, 1].find((h) => h * HOUR <= ms) ?? 1;
    return every === 1 ? '7 * * * *' : `7 */${every} * * *`;
  }
  const minutes = [30, 20, 15, 10, 5, 1].find((m) => m * MINUTE <= ms) ?? 1;
  return minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`;
}

/**
 * ScheduleTooSparse for the certificate with the shortest renewal window when the schedule's
 * largest gap between passes exceeds a quarter of it (one finding, naming how many more).
 */
export function scheduleFindings(input: { schedule: string; maxGapMs: number; certificates: readonly ScheduledCertificate[]; now: Date }): Finding[] {
  const tight = input.certificates
    .filter((c): c is ScheduledCertificate & { notAfter: Date; renewAt: Date } => c.notAfter !== undefined && c.renewAt !== undefined && c.notAfter > input.now)
    .map((c) => ({ c, windowMs: c.notAfter.getTime() - c.renewAt.getTime() }))
    .filter(({ windowMs }) => windowMs > 0 && input.maxGapMs > windowMs / PASSES_PER_WINDOW)
    .sort((a, b) => a.windowMs - b.windowMs);
  const first = tight[0];
  if (!first) return [];
  const { c, windowMs } = first;
  const need = windowMs / PASSES_PER_WINDOW;
  const more = tight.length > 1 ? ` (and ${tight.length - 1} more certificate${tight.length === 2 ? '' : 's'})` : '';
  return [
    finding(
      'ScheduleTooSparse',
      { kind: 'Secret', namespace: c.namespace, name: c.secretName },
      `--schedule "${input.schedule}" leaves up to ${spanText(input.maxGapMs)} between passes, but the certificate in Secret ${c.namespace}/${c.secretName}${c.profile ? ` (profile ${c.profile})` : ''} renews with only ${spanText(windowMs)} left before it expires${more}: passes must come at least every ${spanText(need)} to leave room for retries after a failed renewal`,
      `run passes at least every ${spanText(need)}, e.g. --schedule "${scheduleFor(need)}"`,
    ),
  ];
}
