// The command line: the only place that turns results into exit codes and text.
import { Command, CommanderError, Help } from 'commander';
import type { CliIo } from './commands/common.js';
import { MAX_HELP_WIDTH, outputWidth, wrapHelp } from './output/layout.js';

type Register = (program: Command, io: CliIo, setExit: (code: number) => void) => void;

interface CommandEntry {
  /** How the command list of `certkeeper --help` shows it (its name, options and arguments). */
  term: string;
  /** The line next to it there: the command's summary (or its description when it has none). */
  summary: string;
  load: () => Promise<Register>;
}

/**
 * Commands load their modules only when used: the Kubernetes client alone costs most of a second
 * at start-up, which `certkeeper issue` and `lint` have no use for. `term` and `summary` let
 * `certkeeper --help` list every command without loading any (test/unit/cli.test.ts checks
 * them against the commands themselves).
 */
export const COMMANDS: Record<string, CommandEntry> = {
  issue: {
    term: 'issue [options]',
    summary: 'obtain a certificate on this machine, answering HTTP-01 on port 80 (no cluster)',
    load: async () => (await import('./commands/issue.js')).registerIssue,
  },
  renew: {
    term: 'renew [options]',
    summary: 'run one pass now: issue or renew what is missing, wrong or due',
    load: async () => (await import('./commands/renew.js')).registerRenew,
  },
  lint: {
    term: 'lint [options] <paths...>',
    summary: 'check Ingress and Gateway manifests (and TLS Secrets among them) offline, for CI',
    load: async () => (await import('./commands/lint.js')).registerLint,
  },
  check: {
    term: 'check [options]',
    summary: 'audit the live cluster: Ingresses, their TLS Secrets and (with --probe) what is served',
    load: async () => (await import('./commands/check.js')).registerCheck,
  },
  status: {
    term: 'status [options]',
    summary: 'one line per certificate: hosts, expiry, renewal time and state (-o wide: issuer, profile)',
    load: async () => (await import('./commands/status.js')).registerStatus,
  },
  serve: {
    term: 'serve [options]',
    summary: "answer HTTP-01 challenges from the cluster's challenge ConfigMap (no passes)",
    load: async () => (await import('./commands/serve.js')).registerServe,
  },
  run: {
    term: 'run [options]',
    summary: 'the long-running service: answer challenges, run passes on a schedule, alert',
    load: async () => (await import('./commands/run.js')).registerRun,
  },
};

export const VERSION = '0.1.0';

export async function runCli(argv: readonly string[], io: CliIo, opts: { name?: string } = {}): Promise<number> {
  // Set by the command that ran; lint also sets its usage code (3) before it throws.
  let exitCode: number | undefined;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const helpWidth = Math.min(MAX_HELP_WIDTH, outputWidth(io.columns, io.env));
  const program = new Command()
    .name(opts.name ?? 'certkeeper')
    .description(
      'Keeps the TLS certificates of Kubernetes Ingresses and Gateways valid: issues and renews them through ACME HTTP-01, ' +
        'writes kubernetes.io/tls Secrets, checks what is really served, and alerts before anything expires.',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // Help at the terminal's width, but never wider than 100 columns: long lines are hard to read.
    .configureOutput({ writeOut: (s) => io.stdout(wrapHelp(s, helpWidth)), writeErr: io.stderr })
    .configureHelp({
      helpWidth,
      subcommandTerm: (cmd) => COMMANDS[cmd.name()]?.term ?? new Help().subcommandTerm(cmd),
    })
    .exitOverride();
  program.enablePositionalOptions();
  // Every command named anywhere in argv is loaded (commander dispatches by name, so only a
  // loaded command can ever run); the others are listed from the table for --help and for
  // "unknown command" suggestions.
  for (const [name, entry] of Object.entries(COMMANDS)) {
    if (argv.includes(name)) (await entry.load())(program, io, setExit);
    else program.command(name).summary(entry.summary);
  }
  let failure: unknown;
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    // --help and --version end here with commander's code 0, having loaded nothing more.
    if (e instanceof CommanderError && e.exitCode === 0) return 0;
    failure = e;
  }
  const { EXIT } = await import('./commands/common.js');
  if (failure === undefined) return exitCode ?? EXIT.ok;
  if (failure instanceof CommanderError) return exitCode ?? EXIT.usage;
  throw failure;
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
      // After SIGINT/SIGTERM the command has said what it left undone; a socket still open to a
      // hanging peer (an SMTP relay, an API server that holds requests) must not keep the process
      // past the pod's grace period. Unref'd: a process that drains sooner exits sooner.
      if (controller.signal.aborted) setTimeout(() => process.exit(code), 500).unref();
    },
    async (e: unknown) => {
      process.stderr.write(`certkeeper: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = (await import('./commands/common.js')).EXIT.failure;
    },
  );
}

