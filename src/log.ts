// Structured logs with pino: JSON for the service (one object per decision), a readable one-line
// form for people at a terminal. Private keys and credentials are redacted by path, as a second
// line of defence behind never passing them to a logger in the first place.
//
// The readable form is the one pino-pretty printed (`[12:00:00] INFO: message {"field":1}`,
// `err`/`error` on lines of their own), made here from pino's JSON lines: pino-pretty and its
// dependencies cost every `certkeeper` process more start-up time than the lines it formats.
import { pino, type Logger, type LevelWithSilent } from 'pino';

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
  return pino(base, { write: (line: string) => destination.write(formatLine(line)) });
}

const LEVEL_LABELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Printed below the line, as a block: what went wrong deserves more than a JSON field. */
const ERROR_KEYS = ['err', 'error'];
const INDENT = '    ';

/** One pino JSON line → `[HH:MM:ss] LEVEL: message {other fields}`, in local time. */
export function formatLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { level, time, msg, pid: _pid, hostname: _hostname, ...fields } = entry;
  const errors: [string, unknown][] = [];
  for (const key of ERROR_KEYS) {
    if (key in fields) {
      errors.push([key, fields[key]]);
      delete fields[key];
    }
  }
  const t = typeof time === 'number' ? new Date(time) : undefined;
  const two = (n: number) => String(n).padStart(2, '0');
  const clock = t ? `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}` : '00:00:00';
  const parts = [`[${clock}] ${LEVEL_LABELS[level as number] ?? 'USERLVL'}:`];
  if (msg !== undefined) parts.push(String(msg));
  if (Object.keys(fields).length > 0) parts.push(JSON.stringify(fields));
  else if (errors.length > 0) parts.push('');
  let out = parts.join(' ');
  for (const [key, value] of errors) out += `\n${INDENT}${key}: ${formatErrorValue(value)}`;
  return `${out}\n`;
}

/** A serialized error ({type, message, stack, …}) as an indented block, its stack as plain lines. */
function formatErrorValue(value: unknown): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return JSON.stringify(value);
  const pad = `${INDENT}  `;
  const lines: string[] = [];
  const entries = Object.entries(value as Record<string, unknown>);
  entries.forEach(([k, v], i) => {
    if (k === 'stack' && typeof v === 'string') {
      lines.push(`${pad}"stack":`, ...v.split('\n').map((l) => `${pad}${INDENT}${l}`));
    } else {
      lines.push(`${pad}${JSON.stringify(k)}: ${JSON.stringify(v)}${i < entries.length - 1 ? ',' : ''}`);
    }
  });
  return `{\n${lines.join('\n')}\n${INDENT}}`;
}

export const silentLogger: Logger = pino({ level: 'silent' });
