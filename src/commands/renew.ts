// `certkeeper renew`: one pass, now. Explains every decision (one line per certificate) and
// exits 0 when everything is valid, 1 when anything failed or was refused, 2 on usage errors.
import type { Command } from 'commander';
import { resolveSettings } from '../config.js';
import { eventListener, notifyPass } from '../listeners.js';
import { formatPassJson, formatPassText } from '../output/pass.js';
import { outcomeFindings, runPass } from '../pass.js';
import { createKubeRuntime, passOptionsFrom, type KubeRuntime } from '../wiring.js';
import { addSettings, EXIT, loggerFor, reportError, type CliIo } from './common.js';

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
const NAMES = [...CLUSTER_SETTINGS, ...SELECTION_SETTINGS, 'force', 'dryRun', 'adopt', 'renewBefore', 'concurrency', 'output'] as const;

export function registerRenew(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('renew')
    .summary('run one pass now: issue or renew what is missing, wrong or due')
    .description(
      'Find the opted-in Ingresses (kubernetes.io/tls-acme: "true" or certkeeper.dev/enabled: "true"), decide for each ' +
        'spec.tls Secret whether it must be issued or renewed, obtain certificates through HTTP-01 routed by your ingress ' +
        'controller, and write kubernetes.io/tls Secrets into each Ingress\'s namespace. Every decision is one line.\n\n' +
        'Exit codes: 0 every certificate valid, 1 anything failed or was refused, 2 usage error.',
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
  try {
    const cfg = resolveSettings(NAMES, flags, io.env);
    const log = loggerFor(io, cfg);
    runtime = await createKubeRuntime(cfg, log);
    const opts = passOptionsFrom(runtime.directoryUrl, cfg);
    const result = await runPass(runtime.ports, opts);
    await notifyPass({ result, findings: [...result.findings, ...outcomeFindings(result.outcomes)], now: runtime.clock() }, [eventListener(runtime.events)], log);
    io.stdout(cfg.output === 'json' ? formatPassJson(result) : formatPassText(result));
    return result.ok ? EXIT.ok : EXIT.failure;
  } catch (e) {
    return reportError(io, e);
  } finally {
    await runtime?.close();
  }
}
