// `certkeeper check`: lint's findings against the live cluster, plus the Secrets the Ingresses use
// and, with --probe, what the ingress controller really serves. Same output formats and exit code
// contract as `certkeeper lint`, so a CI job reads both the same way.
import { CommanderError, type Command } from 'commander';
import { auditCluster, type LiveAuditResult } from '../audit-live.js';
import { resolveSettings } from '../config.js';
import { FINDINGS } from '../core/findings.js';
import { CertkeeperError, errorMessage } from '../errors.js';
import { formatFindings } from '../output/findings.js';
import { clockWithOffset, connectKube, createLiveAudit } from '../wiring.js';
import { addSettings, loggerFor, textWidth, type CliIo } from './common.js';
import { exitCodeFor, LINT_EXIT } from './lint.js';

/** The live probe's settings, shared with the cron service. */
export const PROBE_SETTINGS = ['probe', 'probeAddress', 'probeHttpAddress', 'probeHttp01', 'caBundle', 'probeTimeout', 'probeConcurrency'] as const;

const NAMES = [
  'kubeconfig',
  'context',
  'namespace',
  'ingress',
  'gateway',
  'gatewayApi',
  'allIngresses',
  'ingressClass',
  'findingsOutput',
  'strict',
  ...PROBE_SETTINGS,
  'selfCheckTimeout',
  'selfNamespace',
  'serviceName',
  'servicePort',
  'solverPathType',
  'solverAnnotations',
  'renewBefore',
  'clockOffset',
  'logLevel',
  'logFormat',
] as const;

const probeCodes = Object.entries(FINDINGS)
  .filter(([code]) => /Served|Sni|Probe|Http01/.test(code))
  .map(([code, f]) => `  ${code.padEnd(27)} ${f.severity.padEnd(8)} ${f.summary}`)
  .join('\n');

const HELP_AFTER = `
Reads every Ingress and kubernetes.io/tls Secret (paginated lists; Secrets missing from that list
are looked up by name in all namespaces and of any type) and reports what \`certkeeper lint\`
reports, plus every problem of the Secrets the Ingresses use: missing, only in another namespace,
wrong type, missing keys, unparsable, key not matching, chain incomplete, expired or near expiry,
SANs not covering the hosts, self-signed, an ingress controller's default certificate.

Opted-in Gateways (Gateway API) are audited too: their HTTPS listeners against the HTTPRoutes
attached to them, certificateRefs Secrets in other namespaces against ReferenceGrants, the
listener conditions the Gateway controller reports, and whether HTTP-01 can reach certkeeper
through a port-80 listener at all.

With --probe, certkeeper also talks to the ingress controller at each Ingress's
status.loadBalancer address and to each Gateway at its status.addresses (or --probe-address /
--probe-http-address):
${probeCodes}
The HTTP-01 probe publishes a random token in the ConfigMap certkeeper-challenges and a solver
Ingress for the managed hosts in certkeeper's namespace (a running \`certkeeper serve\` or
\`certkeeper run\` answers it), and removes both afterwards, also when the check fails.

Exit status (the same contract as certkeeper lint):
  0  no errors and no warnings (infos allowed)
  1  warnings but no errors
  2  errors (with --strict: errors or warnings)
  3  usage error, the cluster cannot be read (kubeconfig, connection, permissions), or check was
     stopped by SIGINT/SIGTERM (the findings so far are printed; a probe route and token are removed)

Examples:
  certkeeper check                                  # every Ingress and Secret, no network probes
  certkeeper check -n shop --probe                  # and what the controller serves for them
  certkeeper check --probe --probe-address 10.0.0.5:443 --probe-http-address 10.0.0.5:80
  certkeeper check -o github --strict               # annotations and a failing step in CI
`;

export function registerCheck(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('check')
    .summary('audit the live cluster: Ingresses, their TLS Secrets and (with --probe) what is served')
    .description(
      'Check every Ingress TLS setup in the cluster: the spec (as lint does), the Secrets it names, and with --probe ' +
        'the certificate the ingress controller really serves per host and whether HTTP-01 challenges reach certkeeper.',
    )
    .addHelpText('after', HELP_AFTER)
    .exitOverride((err) => {
      // Commander exits 1 on usage errors; 1 means "warnings" here, so usage errors become 3.
      if (err.exitCode === 0) throw err;
      setExit(LINT_EXIT.usage);
      throw new CommanderError(LINT_EXIT.usage, err.code, err.message);
    });
  addSettings(cmd, NAMES);
  cmd.action(async (flags: Record<string, unknown>) => {
    setExit(await runCheck(flags, io));
  });
}

function reportCheckError(io: CliIo, e: unknown): number {
  if (e instanceof CertkeeperError) {
    io.stderr(`certkeeper check: ${e.message}\n`);
    if (e.hint) io.stderr(`  hint: ${e.hint}\n`);
    return LINT_EXIT.usage;
  }
  // 1 and 2 mean findings here: an unexpected failure must not read as "only warnings".
  io.stderr(`certkeeper check: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
  return LINT_EXIT.usage;
}

export async function runCheck(flags: Record<string, unknown>, io: CliIo): Promise<number> {
  let result: LiveAuditResult;
  let cfg: ReturnType<typeof resolveSettings<(typeof NAMES)[number]>>;
  try {
    cfg = resolveSettings(NAMES, flags, io.env);
    const log = loggerFor(io, cfg);
    const audit = await createLiveAudit(cfg, connectKube(cfg), log);
    const options = audit.options(clockWithOffset(cfg.clockOffset)());
    if (io.signal) options.signal = io.signal;
    result = await auditCluster(audit.port, options);
  } catch (e) {
    if (io.signal?.aborted) {
      io.stderr(`certkeeper check: ${errorMessage(io.signal.reason)}: stopped before the cluster was read; nothing was checked\n`);
      return LINT_EXIT.usage;
    }
    return reportCheckError(io, e);
  }
  for (const n of result.notes) io.stderr(`certkeeper check: ${n}\n`);
  const { counts } = result;
  const scope = cfg.ingress ? `Ingress ${cfg.ingress.namespace}/${cfg.ingress.name}` : cfg.gateway ? `Gateway ${cfg.gateway.namespace}/${cfg.gateway.name}` : cfg.namespace ? `namespace ${cfg.namespace}` : 'all namespaces';
  io.stderr(
    `certkeeper check: ${counts.ingresses} Ingress${counts.ingresses === 1 ? '' : 'es'}${counts.gateways > 0 ? ` and ${counts.gateways} Gateway${counts.gateways === 1 ? '' : 's'}` : ''} read, ${result.certificates.length} Secret${result.certificates.length === 1 ? '' : 's'} in use (${scope})` +
      `${cfg.probe ? `; ${counts.tlsProbes} TLS handshake${counts.tlsProbes === 1 ? '' : 's'}, ${counts.http01Probes} HTTP-01 request${counts.http01Probes === 1 ? '' : 's'}` : ''}\n`,
  );
  io.stdout(formatFindings(result.findings, cfg.findingsOutput, textWidth(io)));
  if (result.stopped) {
    // Partial findings cannot pass a pipeline: 3, as lint does when it is stopped.
    io.stderr(`certkeeper check: ${result.stopped.reason}: stopped before it was done; left undone: ${result.stopped.undone.join(', ') || 'nothing more'}\n`);
    return LINT_EXIT.usage;
  }
  return exitCodeFor(result.findings, cfg.strict);
}
