// `certkeeper status`: one row per certificate with its dates and state. The state comes from the
// same `decide` that `renew` runs, at the same clock, so `status` never calls a certificate Valid
// that `renew` would replace (or the other way round).
import type { Command } from 'commander';
import { auditCluster } from '../audit-live.js';
import { resolveSettings } from '../config.js';
import { formatStatusJson, formatStatusText } from '../output/status.js';
import { clockWithOffset, connectKube, createLiveAudit } from '../wiring.js';
import { addSettings, EXIT, loggerFor, reportError, textWidth, type CliIo } from './common.js';

const NAMES = [
  'kubeconfig',
  'context',
  'selfNamespace',
  'namespace',
  'ingress',
  'gateway',
  'gatewayApi',
  'allIngresses',
  'ingressClass',
  'directory',
  'renewBefore',
  'profile',
  'statusOutput',
  'clockOffset',
  'logLevel',
  'logFormat',
] as const;

const HELP_AFTER = `
States (the same decision \`certkeeper renew\` makes now):
Columns: -o wide adds ISSUER and PROFILE (the profile and the lifetime the CA really issued).

  Valid       up to date; RENEWS AT is when the next pass renews it (a moment inside the CA's
              ARI window when the CA publishes one, else 1/3 of the lifetime before expiry)
  RenewalDue  inside its renewal window, the CA asked for it (AriRenewalDue), or hosts / CA /
              profile changed: the next pass renews it
  Expired     past NOT AFTER
  Missing     the Secret does not exist yet
  Invalid     the Secret cannot serve the hosts (wrong type, keys, PEM, key mismatch, SANs)
  Failing     the last issuance attempts failed (certkeeper.dev/failures); the next pass retries
  InBackoff   failed attempts, waiting until certkeeper.dev/retry-after
  NotManaged  used by an Ingress certkeeper does not manage, or a Secret it did not create

Exit status: 0 when the cluster was read (whatever the states), 1 when it could not be, 2 usage error.
Run \`certkeeper check\` for the problems behind a state and how to fix them.
`;

export function registerStatus(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('status')
    .summary('one line per certificate: hosts, expiry, renewal time and state (-o wide: issuer, profile)')
    .description(
      'Show every certificate the selected Ingresses and Gateways use: namespace, Secret, hosts, not-after, days left, planned renewal and state (with -o wide also issuer, profile and real lifetime), ' +
        'and the renewal windows the CA suggests through ACME Renewal Information (ARI).',
    )
    .addHelpText('after', HELP_AFTER);
  addSettings(cmd, NAMES);
  cmd.action(async (flags: Record<string, unknown>) => {
    setExit(await runStatus(flags, io));
  });
}

export async function runStatus(flags: Record<string, unknown>, io: CliIo): Promise<number> {
  try {
    const cfg = resolveSettings(NAMES, flags, io.env);
    const log = loggerFor(io, cfg);
    const audit = await createLiveAudit(cfg, connectKube(cfg), log);
    const now = clockWithOffset(cfg.clockOffset)();
    const result = await auditCluster(audit.port, audit.options(now));
    for (const n of result.notes) io.stderr(`certkeeper status: ${n}\n`);
    io.stdout(
      cfg.statusOutput === 'json' ? formatStatusJson(result.certificates, now) : formatStatusText(result.certificates, textWidth(io), { wide: cfg.statusOutput === 'wide' }),
    );
    return EXIT.ok;
  } catch (e) {
    return reportError(io, e);
  }
}
