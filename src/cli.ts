#!/usr/bin/env node
// The command line: the only place that turns results into exit codes and text.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT, textWidth, type CliIo } from './commands/common.js';
import { MAX_HELP_WIDTH, wrapHelp } from './output/layout.js';
import { LINT_EXIT } from './commands/lint.js';

type Register = (program: Command, io: CliIo, setExit: (code: number) => void) => void;

/**
 * Commands load their modules only when used: the Kubernetes client alone costs most of a second
 * at start-up, which `certkeeper issue` and `lint` have no use for. `--help` loads them all.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  issue: async () => (await import('./commands/issue.js')).registerIssue,
  renew: async () => (await import('./commands/renew.js')).registerRenew,
  lint: async () => (await import('./commands/lint.js')).registerLint,
  check: async () => (await import('./commands/check.js')).registerCheck,
  status: async () => (await import('./commands/status.js')).registerStatus,
  serve: async () => (await import('./commands/serve.js')).registerServe,
  run: async () => (await import('./commands/run.js')).registerRun,
};

export const VERSION = '0.1.0';

export async function runCli(argv: readonly string[], io: CliIo, opts: { name?: string } = {}): Promise<number> {
  let exitCode: number = EXIT.ok;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const helpWidth = Math.min(MAX_HELP_WIDTH, textWidth(io));
  const program = new Command()
    .name(opts.name ?? 'certkeeper')
    .description(
      'Keeps the TLS certificates of Kubernetes Ingresses valid: issues and renews them through ACME HTTP-01, ' +
        'writes kubernetes.io/tls Secrets, checks what is really served, and alerts before anything expires.',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // Help at the terminal's width, but never wider than 100 columns: long lines are hard to read.
    .configureOutput({ writeOut: (s) => io.stdout(wrapHelp(s, helpWidth)), writeErr: io.stderr })
    .configureHelp({ helpWidth })
    .exitOverride();
  program.enablePositionalOptions();
  const first = argv.find((a) => !a.startsWith('-'));
  const versionOnly = first === undefined && argv.some((a) => a === '-V' || a === '--version') && !argv.some((a) => a === '-h' || a === '--help');
  const names = versionOnly ? [] : first !== undefined && first in COMMANDS && first !== 'help' ? [first] : Object.keys(COMMANDS);
  for (const name of names) (await (COMMANDS[name] as () => Promise<Register>)())(program, io, setExit);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; everything else is a usage error (lint
      // keeps 2 for "errors found" and uses 3 for usage, as its --help documents).
      return e.exitCode === 0 ? EXIT.ok : e.exitCode === LINT_EXIT.usage ? LINT_EXIT.usage : EXIT.usage;
    }
    throw e;
  }
  return exitCode;
}

/** True when the module at `moduleUrl` is the script node was started with (through any symlink). */
export function isMain(moduleUrl: string = import.meta.url): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === fileURLToPath(moduleUrl);
  } catch {
    return false;
  }
}

/** The process entry of `certkeeper` and of `kubectl-certkeeper` (src/kubectl-plugin.ts). */
export function main(argv: readonly string[], opts: { name?: string } = {}): void {
  // `certkeeper status | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const controller = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => controller.abort(new Error(`received ${sig}`)));
  }
  const io: CliIo = {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    stdin: process.stdin,
    env: process.env,
    logStream: process.stderr,
    signal: controller.signal,
  };
  if (process.stdout.isTTY) io.columns = process.stdout.columns;
  runCli(argv, io, opts).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`certkeeper: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}

if (isMain()) main(process.argv.slice(2));
