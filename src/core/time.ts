// Time as users read it in certkeeper's lines: instants to the second in UTC, spans in days or
// hours. Pure; every module that prints a time uses these, so one certificate's dates read the same
// in the renew line, the audit finding and the alert.

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** 2026-12-01T05:55:23Z: ISO 8601 without milliseconds. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "12 days" from two days on, "31 hours" below, "40 minutes" under an hour: the unit a person would use for the span. */
export function spanText(ms: number): string {
  const d = ms / DAY;
  if (Math.abs(d) >= 2) return `${Math.floor(d)} days`;
  if (Math.abs(ms) < HOUR) return `${Math.floor(ms / MINUTE)} minutes`;
  return `${Math.floor(ms / HOUR)} hours`;
}
