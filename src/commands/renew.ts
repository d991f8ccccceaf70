// `certkeeper renew`: one pass, now. Explains every decision (one line per certificate) and
// exits 0 when every selected certificate is valid after the pass, 1 when anything failed, was
// refused, is not valid (a backoff included) or the pass stopped, 2 on usage errors.
import type { Command } from 'commander';
import { resolveSettings } from '../config.js';
import { recordSuccess } from '../alerting.js';
import type { Finding } from '../core/findings.js';
import { errorMessage } from '../errors.js';
import { eventListener, mergeFindings, notifyPass } from '../listeners.js';
import { formatPassJson, formatPassText } from '../output/pass.js';
import { outcomeFindings, runPass, type PassOptions, type PassResult } from '../pass.js';
import { msUntilNextRun } from '../service.js';
import { createKubeRuntime, createPassAlerts, passOptionsFrom, type KubeRuntime } from '../wiring.js';
import { addSettings, EXIT, loggerFor, reportError, textWidth, type CliIo } from './common.js';

export const CLUSTER_SETTINGS = [
  'kubeconfig',
  'context',
  'selfNamespace',
  'serviceName',
  'servicePort',
  'solverPathType',
  'solverAnnotations',
  'directory',
  'email',
  'eabKid',
  'eabHmacKey',
  'acmeCaBundle',
  'acmePollInterval',
  'profile',
  'rateLimits',
  'selfCheck',
  'selfCheckAddress',
  'selfCheckTimeout',
  'selfCheckHttpsPort',
  'leaseWait',
  'leaseDuration',
  'holderIdentity',
  'answerLocally',
  'httpPort',
  'httpAddress',
  'gatewayApi',
  'clockOffset',
  'clockOffsetFile',
  'logLevel',
  'logFormat',
] as const;

export const SELECTION_SETTINGS = ['namespace', 'ingress', 'gateway', 'allIngresses', 'ingressClass'] as const;
/** The service's alert channels: in CronJob mode `renew` delivers the alerts (see README). */
export const ALERT_SETTINGS = ['webhookUrl', 'webhookFormat', 'smtpHost', 'smtpPort', 'smtpSecurity', 'smtpUser', 'smtpPassword', 'smtpFrom', 'smtpTo'] as const;
const NAMES = [...CLUSTER_SETTINGS, ...SELECTION_SETTINGS, 'force', 'dryRun', 'adopt', 'renewBefore', 'concurrency', 'output', ...ALERT_SETTINGS, 'schedule', 'timezone'] as const;

export function registerRenew(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('renew')
    .summary('run one pass now: issue or renew what is missing, wrong or due')
    .description(
      'Find the opted-in Ingresses (kubernetes.io/tls-acme: "true" or certkeeper.dev/enabled: "true"), decide for each ' +
        'spec.tls Secret whether it must be issued or renewed, obtain certificates through HTTP-01 routed by your ingress ' +
        'controller, and write kubernetes.io/tls Secrets into each Ingress\'s namespace. Every decision is one line.\n\n' +
        'A certificate the CA issued is kept in a Secret in certkeeper\'s namespace until its own Secret is written: when ' +
        'that write is refused, the next attempt (after the backoff, or with --force) writes the kept certificate instead ' +
        'of ordering again. SIGINT or SIGTERM stops the pass: nothing is ordered after it, orders under way are abandoned ' +
        'before their certificate is issued, and what was left undone is listed.\n\n' +
        'With --webhook-url or --smtp-host (the CronJob mode, where no service runs), it also sends the ' +
        'service\'s alerts, once per level, with the state kept in the certkeeper-state ConfigMap; --schedule ' +
        'is then the CronJob\'s, so that NoSuccessfulPass knows how long is too long.\n\n' +
        'Exit codes: 0 every selected certificate is valid after the pass (with --dry-run: nothing would be refused); ' +
        '1 anything failed or was refused, a certificate is missing, expired or does not cover its hosts (also while it ' +
        'waits out a backoff: the output says when the next try is), or the pass stopped (API server unreachable, a ' +
        'signal); 2 usage error.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  certkeeper renew --dry-run                       # what would be done, touching nothing\n' +
        '  certkeeper renew --ingress shop/web --force      # renew one Ingress\'s certificates now\n' +
        '  kubectl -n certkeeper exec deploy/certkeeper -- certkeeper renew -o json',
    );
  addSettings(cmd, NAMES);
  cmd.action(async (flags: Record<string, unknown>) => {
    setExit(await runRenew(flags, io));
  });
}

export async function runRenew(flags: Record<string, unknown>, io: CliIo): Promise<number> {
  let runtime: KubeRuntime | undefined;
  let signal: AbortSignal | undefined = io.signal;
  try {
    const cfg = resolveSettings(NAMES, flags, io.env);
    const log = loggerFor(io, cfg);
    runtime = await createKubeRuntime(cfg, log);
    signal = io.signal ? AbortSignal.any([io.signal, runtime.lost]) : runtime.lost;
    const alerts = await createPassAlerts(cfg, runtime, log);
    const opts: PassOptions = { ...passOptionsFrom(runtime.directoryUrl, cfg), signal };
    // Run by a schedule (the chart's CronJob sets it): an ARI moment before the next run is due
    // now (RFC 9773 §4.2). By hand, without --schedule, nothing is known of a next pass.
    if (flags.schedule !== undefined || io.env.CERTKEEPER_SCHEDULE) {
      const next = msUntilNextRun(cfg.schedule, cfg.timezone);
      if (next !== undefined) opts.nextPassInMs = next;
    }
    let result: PassResult;
    try {
      result = await runPass(runtime.ports, opts);
    } catch (e) {
      // A pass that could not run is what NoSuccessfulPass is about; the error still sets the exit code.
      if (alerts && !signal.aborted) await notifyPass({ error: e, findings: [], now: runtime.clock() }, alerts.listeners(), log);
      throw e;
    }
    // Only a pass over everything counts as the last successful one (the service reads it too).
    if (result.ok && !cfg.dryRun && !cfg.ingress && !cfg.gateway) {
      alerts?.passSucceeded(result.startedAt);
      await recordSuccess(runtime.state, result.startedAt).catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'the last successful pass was not recorded'));
    }
    // A stopped pass already said why; Events and alerts about it would only wait for an API that may be gone.
    if (!result.stopped) {
      let audited: Finding[] = [];
      if (alerts) {
        try {
          audited = await alerts.audit(runtime.clock());
        } catch (e) {
          log.warn({ err: errorMessage(e) }, 'the live audit failed; alerting on the pass findings only');
        }
      }
      const findings = mergeFindings(result.findings, outcomeFindings(result.outcomes), audited);
      await notifyPass({ result, findings, now: runtime.clock() }, [eventListener(runtime.events), ...(alerts?.listeners() ?? [])], log);
    }
    io.stdout(cfg.output === 'json' ? formatPassJson(result) : formatPassText(result, textWidth(io)));
    if (result.stopped) {
      const undone = result.outcomes.filter((o) => o.reason === 'PassStopped').map((o) => `${o.target.namespace}/${o.target.secretName}`);
      io.stderr(`certkeeper: the pass stopped: ${result.stopped}; left undone: ${undone.length > 0 ? undone.join(', ') : 'nothing'}\n`);
    }
    return result.ok && (result.dryRun || result.allValid) ? EXIT.ok : EXIT.failure;
  } catch (e) {
    if (signal?.aborted) {
      io.stderr(`certkeeper: ${errorMessage(signal.reason)}: stopped before the pass began; nothing was ordered or written\n`);
      return EXIT.failure;
    }
    return reportError(io, e);
  } finally {
    await runtime?.close();
  }
}
