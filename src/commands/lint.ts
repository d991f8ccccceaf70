// `certkeeper lint [paths...]`: offline checks of Ingress manifests (and of any TLS Secrets they
// include) for a GitOps repository's CI. No cluster is contacted, so whether a Secret exists in
// the cluster is unknowable here: lint never reports SecretMissing.
import { Command, CommanderError, Option } from 'commander';
import { auditSecret } from '../core/checks.js';
import type { Finding } from '../core/findings.js';
import { isRecord } from '../core/ingress.js';
import { mergePlans, planGateways } from '../core/gateways.js';
import { planTargets, type SourceLocation, type Target } from '../core/targets.js';
import { ManifestReadError, ReadStoppedError, STDIN_NAME, readManifests, type EmptyInput, type ManifestObject, type ReadProgress } from '../manifests.js';
import { OUTPUT_FORMATS, escapeControls, formatFindings, summarize, type OutputFormat } from '../output/findings.js';
import { MAX_HELP_WIDTH, outputWidth, wrapHelp } from '../output/layout.js';

/** What lint needs from the process (a subset of cli.ts's CliIo); tests pass buffers. */
export interface LintIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin: NodeJS.ReadableStream;
  /** SIGINT/SIGTERM: lint stops between files and says how far it got. */
  signal?: AbortSignal;
  /** The terminal's width and $COLUMNS: text output wraps to them (80 otherwise). */
  columns?: number;
  env?: NodeJS.ProcessEnv;
}

/** The exit code contract, also printed by `certkeeper lint --help`. */
export const LINT_EXIT = {
  /** No errors and no warnings (infos allowed). */
  clean: 0,
  /** Warnings, no errors (without --strict). */
  warnings: 1,
  /** At least one error (or, with --strict, at least one warning). */
  errors: 2,
  /**
   * Usage error (unknown flag, missing path), a path that cannot be read or yields no Kubernetes
   * object (an empty `helm template`), or lint stopped by SIGINT/SIGTERM before it was done.
   */
  usage: 3,
} as const;

export interface LintOptions {
  output?: OutputFormat;
  strict?: boolean;
  allIngresses?: boolean;
  ingressClass?: string;
  /** Clock for certificate dates in Secrets; tests pin it. */
  now?: Date;
  /** Say on stderr how many files there are to read, and each one read. */
  verbose?: boolean;
}

export interface LintResult {
  findings: Finding[];
  targets: Target[];
  notes: string[];
  /** How many Kubernetes objects were read. */
  objects: number;
  /** Paths that yielded no Kubernetes object at all; runLint makes them a usage error (exit 3). */
  empty: EmptyInput[];
  /** From the findings alone (0, 1 or 2); runLint returns 3 instead when `empty` is not empty. */
  exitCode: number;
}

export function exitCodeFor(findings: readonly Finding[], strict = false): number {
  const s = summarize(findings);
  if (s.errors > 0) return LINT_EXIT.errors;
  if (s.warnings > 0) return strict ? LINT_EXIT.errors : LINT_EXIT.warnings;
  return LINT_EXIT.clean;
}

function locationOf(m: ManifestObject): SourceLocation {
  // Rendered Helm output on stdin: the template path helps more than "<stdin>:412".
  if (m.file === STDIN_NAME && m.source !== undefined) return { file: m.source };
  return { file: m.file, line: m.line };
}

function meta(o: Record<string, unknown>): { name?: string; namespace?: string } {
  const md = isRecord(o.metadata) ? o.metadata : {};
  const r: { name?: string; namespace?: string } = {};
  if (typeof md.name === 'string') r.name = md.name;
  if (typeof md.namespace === 'string' && md.namespace !== '') r.namespace = md.namespace;
  return r;
}

/**
 * Lints manifests. Throws ManifestReadError when a path cannot be read, and ReadStoppedError when
 * `io.signal` fires before the work is done.
 */
export async function lint(
  paths: readonly string[],
  opts: LintOptions = {},
  io: { stdin?: NodeJS.ReadableStream; signal?: AbortSignal; onProgress?: (p: ReadProgress) => void } = {},
): Promise<LintResult> {
  const read = await readManifests(paths, io);
  const objects = read.objects.map((m) => m.object);
  const locations = read.objects.map(locationOf);
  const plan = mergePlans(
    planTargets(objects, {
      includeUnmanaged: true,
      allIngresses: opts.allIngresses ?? false,
      ...(opts.ingressClass !== undefined ? { ingressClass: opts.ingressClass } : {}),
      locations,
    }),
    // Routes and grants may live in other files than the Gateway: judged only where some were read.
    planGateways(objects, { includeUnmanaged: true, locations, partialView: true }),
  );

  type ReadSecret = { object: Record<string, unknown>; location: SourceLocation; namespace: string; name: string };
  const secrets = new Map<string, ReadSecret>();
  const secretsByName = new Map<string, ReadSecret[]>();
  read.objects.forEach((m, i) => {
    if (m.object.kind !== 'Secret') return;
    const { name, namespace = 'default' } = meta(m.object);
    if (name === undefined) return;
    const key = `${namespace}/${name}`;
    if (secrets.has(key)) return;
    const s: ReadSecret = { object: m.object, location: locations[i] ?? {}, namespace, name };
    secrets.set(key, s);
    const same = secretsByName.get(name);
    if (same) same.push(s);
    else secretsByName.set(name, [s]);
  });

  // A Secret that is missing here has no location of its own: point at the Ingress that uses it.
  const ingressAt = new Map<string, SourceLocation>();
  read.objects.forEach((m, i) => {
    if (m.object.kind !== 'Ingress') return;
    const { name, namespace = 'default' } = meta(m.object);
    if (name !== undefined && !ingressAt.has(`${namespace}/${name}`)) ingressAt.set(`${namespace}/${name}`, locations[i] ?? {});
  });

  const now = opts.now ?? new Date();
  const audit: Finding[] = [];
  for (const use of plan.secretUses) {
    const s = secrets.get(`${use.namespace}/${use.secretName}`);
    if (s) {
      audit.push(...auditSecret(use, s.object, { now, location: s.location }));
      continue;
    }
    // A copy in another namespace is what `check` reports too (SecretInOtherNamespace): the Ingress
    // cannot use it. For a managed Ingress the hint says certkeeper issues into the right one.
    const elsewhere = (secretsByName.get(use.secretName) ?? []).filter((x) => x.namespace !== use.namespace);
    if (elsewhere.length > 0) {
      const first = use.ingresses[0];
      const location = first ? ingressAt.get(`${first.namespace}/${first.name}`) : undefined;
      audit.push(...auditSecret(use, undefined, { now, secretsElsewhere: elsewhere, ...(location ? { location } : {}) }));
    }
  }
  const findings = [...read.findings, ...plan.findings, ...audit];
  return { findings, targets: plan.targets, notes: read.notes, objects: read.objects.length, empty: read.empty, exitCode: exitCodeFor(findings, opts.strict ?? false) };
}

/** Runs lint and writes its output; returns the exit code. */
export async function runLint(paths: readonly string[], opts: LintOptions, io: LintIo): Promise<number> {
  // Paths and notes come from the file system and the command line: no raw control characters.
  const say = (text: string): void => io.stderr(`certkeeper lint: ${escapeControls(text)}\n`);
  const progress = (p: ReadProgress): void => {
    if (p.kind === 'stdin') say('reading standard input');
    else if (p.kind === 'listed') say(`${p.files} file${p.files === 1 ? '' : 's'} to read`);
    else say(`read ${p.file} (${p.done} of ${p.files}): ${p.objects} object${p.objects === 1 ? '' : 's'}`);
  };
  let result: LintResult;
  try {
    result = await lint(paths, opts, { stdin: io.stdin, ...(io.signal ? { signal: io.signal } : {}), ...(opts.verbose ? { onProgress: progress } : {}) });
  } catch (e) {
    if (!(e instanceof ManifestReadError) && !(e instanceof ReadStoppedError)) throw e;
    say(e.message);
    return LINT_EXIT.usage;
  }
  for (const n of result.notes) say(n);
  // "no findings" with exit 0 for an empty helm template would pass a pipeline that checked nothing.
  if (result.objects > 0 || result.findings.length > 0) io.stdout(formatFindings(result.findings, opts.output ?? 'text', outputWidth(io.columns, io.env)));
  for (const e of result.empty) say(`no Kubernetes objects read from ${e.path}: ${e.reason}`);
  return result.empty.length > 0 ? LINT_EXIT.usage : result.exitCode;
}

const HELP_AFTER = `
Paths are YAML/JSON files, directories (read recursively: *.yaml, *.yml, *.json) or "-" for
standard input (e.g. helm template ./chart | certkeeper lint -). Multi-document files and
kind: List are understood. Secrets included in the manifests are audited too; whether a Secret
exists in the cluster is not checked (no cluster is contacted).

Ingresses count as managed when annotated kubernetes.io/tls-acme: "true" or
certkeeper.dev/enabled: "true" (every Ingress with spec.tls under --all-ingresses). Issuance
checks (wildcard/IP hosts, missing secretName or hosts, missing spec.tls) apply to managed
Ingresses; structural checks (routing, API version, field names, annotations) to all.

Gateway API Gateways opt in with the same annotations. Their HTTPS listeners are checked against
the HTTPRoutes, ListenerSets and ReferenceGrants among the manifests read: listener hostnames no
route takes, certificateRefs Secrets in other namespaces without a ReferenceGrant, no port-80
HTTP listener for HTTP-01, allowedRoutes refusing certkeeper's route, and redirect routes that
would take the challenge path.

Exit status:
  0  no errors and no warnings (infos allowed)
  1  warnings but no errors
  2  errors (with --strict: errors or warnings)
  3  usage error (unknown option, missing path), a path that cannot be read or from which no
     Kubernetes object is read (e.g. an empty helm template on standard input), or lint stopped
     by SIGINT/SIGTERM before it was done (it says after how many of how many files)
`;

/**
 * Adds `lint` to the program; `setExit` receives the exit code of a run. Usage errors of `lint`
 * (unknown option, missing path, bad --output) are thrown as CommanderError with exitCode 3, and
 * setExit(3) is called first; the caller's catch must keep that code.
 */
export function registerLint(program: Command, io: LintIo, setExit: (code: number) => void): Command {
  const cmd = program
    .command('lint')
    .description('check Ingress and Gateway manifests (and TLS Secrets among them) offline, for CI')
    .argument('<paths...>', 'YAML/JSON files, directories, or - for standard input')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('text'))
    .option('--strict', 'treat warnings as errors (exit 2)', false)
    .option('--all-ingresses', 'treat every Ingress with spec.tls as managed, not only annotated ones', false)
    .option('--ingress-class <name>', 'only lint Ingresses of this ingress class')
    .option('-v, --verbose', 'say on standard error how many files there are to read, and each file read', false)
    .addHelpText('after', HELP_AFTER)
    // Commander repeats unknown options and arguments in its errors: no raw control characters.
    .configureOutput({ writeOut: (s) => io.stdout(wrapHelp(s, Math.min(MAX_HELP_WIDTH, outputWidth(io.columns, io.env)))), writeErr: (s) => io.stderr(escapeControls(s, '\n')) })
    .exitOverride((err) => {
      // Commander exits 1 on usage errors; 1 means "warnings" here, so usage errors become 3.
      if (err.exitCode === 0) throw err;
      setExit(LINT_EXIT.usage);
      throw new CommanderError(LINT_EXIT.usage, err.code, err.message);
    })
    .action(async (paths: string[], o: { output: OutputFormat; strict: boolean; allIngresses: boolean; ingressClass?: string; verbose: boolean }) => {
      const opts: LintOptions = { output: o.output, strict: o.strict, allIngresses: o.allIngresses, verbose: o.verbose };
      if (o.ingressClass !== undefined) opts.ingressClass = o.ingressClass;
      setExit(await runLint(paths, opts, io));
    });
  return cmd;
}
