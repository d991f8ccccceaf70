// Structured logs with pino: JSON for the service (one object per decision), a readable one-line
// form for people at a terminal. Private keys and credentials are redacted by path, as a second
// line of defence behind never passing them to a logger in the first place.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'json' | 'text';
export type { Logger };

const REDACT = [
  'keyPem',
  '*.keyPem',
  'privateKey',
  '*.privateKey',
  'hmacKey',
  '*.hmacKey',
  'password',
  '*.password',
  'webhookUrl',
  '*.webhookUrl',
  'data["tls.key"]',
  '*.data["tls.key"]',
];

export interface LogOptions {
  level?: LevelWithSilent;
  format?: LogFormat;
  /** Where lines go; stderr by default, so stdout stays for results (tables, JSON). */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const destination = opts.destination ?? process.stderr;
  const base = { level, redact: { paths: REDACT, censor: '[redacted]' }, base: undefined };
  if ((opts.format ?? 'text') === 'json') {
    return pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  }
  const stream = pretty({
    destination,
    sync: true,
    colorize: false,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return pino(base, stream);
}

export const silentLogger: Logger = pino({ level: 'silent' });
