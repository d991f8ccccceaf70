// What every command shares: the settings → commander options bridge, the I/O seam that lets
// tests run commands in-process, and how errors become text and exit codes.
import { Option, type Command } from 'commander';
import { defaultText, envName, settingValues, SETTINGS, type Setting, type SettingName } from '../config.js';
import { CertkeeperError, ConfigError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { outputWidth } from '../output/layout.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** Where log lines go (stderr for the real CLI). */
  logStream: NodeJS.WritableStream;
  /** SIGINT/SIGTERM, so long operations can stop and clean up. */
  signal?: AbortSignal;
  /** The terminal's width when stdout is one; text output and help wrap to it (80 otherwise). */
  columns?: number;
}

/** The width text output wraps to: the terminal's, $COLUMNS, or 80. */
export function textWidth(io: Pick<CliIo, 'columns' | 'env'>): number {
  return outputWidth(io.columns, io.env);
}

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** "one of a, b, c; " unless the help text already names every value. */
function choicesText(s: Setting): string {
  const values = settingValues(s);
  if (!values || values.every((v) => new RegExp(`(^|[^\\w-])${v}($|[^\\w-])`).test(s.help))) return '';
  return values.length === 2 ? `${values[0]} or ${values[1]}; ` : `one of ${values.join(', ')}; `;
}

/** Adds the named settings as options, with the values, environment variable and default in the help. */
export function addSettings(cmd: Command, names: readonly SettingName[]): Command {
  for (const name of names) {
    const s = SETTINGS[name] as Setting;
    const flags = s.short ? `${s.short}, ${s.flag}` : s.flag;
    const def = defaultText(s);
    const help = `${s.help} (${choicesText(s)}env ${envName(name)}${s.envAlias ? ` or ${s.envAlias}` : ''}${def ? `; default ${def}` : ''})`;
    const opt = new Option(flags, help);
    if (s.repeatable) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    if (s.hidden) opt.hideHelp();
    cmd.addOption(opt);
  }
  return cmd;
}

export function loggerFor(io: CliIo, cfg: { logLevel: string; logFormat: 'text' | 'json' }): Logger {
  return createLogger({ level: cfg.logLevel as 'info', format: cfg.logFormat, destination: io.logStream });
}

/** Prints an error with its hint and returns the exit code for it. */
export function reportError(io: CliIo, e: unknown): number {
  if (e instanceof CertkeeperError) {
    io.stderr(`certkeeper: ${e.message}\n`);
    if (e.hint) io.stderr(`  hint: ${e.hint}\n`);
    return e instanceof ConfigError ? EXIT.usage : EXIT.failure;
  }
  const err = e as Error;
  io.stderr(`certkeeper: unexpected error: ${err?.stack ?? String(e)}\n`);
  return EXIT.failure;
}
