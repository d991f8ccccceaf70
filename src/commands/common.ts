// What every command shares: the settings → commander options bridge, the I/O seam that lets
// tests run commands in-process, and how errors become text and exit codes.
import { Option, type Command } from 'commander';
import { envName, SETTINGS, type Setting, type SettingName } from '../config.js';
import { CertkeeperError, ConfigError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** Where log lines go (stderr for the real CLI). */
  logStream: NodeJS.WritableStream;
  /** SIGINT/SIGTERM, so long operations can stop and clean up. */
  signal?: AbortSignal;
}

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Adds the named settings as options, with the environment variable and default in the help. */
export function addSettings(cmd: Command, names: readonly SettingName[]): Command {
  for (const name of names) {
    const s = SETTINGS[name] as Setting;
    const flags = s.short ? `${s.short}, ${s.flag}` : s.flag;
    const def =
      s.defaultText ?? (s.default !== undefined && typeof s.default !== 'function' && s.default !== false ? JSON.stringify(s.default) : undefined);
    const help = `${s.help} (env ${envName(name)}${s.envAlias ? ` or ${s.envAlias}` : ''}${def ? `; default ${def}` : ''})`;
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
