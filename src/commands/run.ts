// `certkeeper run`: the cron service the Helm chart runs. See src/service.ts.
import type { Command } from 'commander';
import { resolveSettings } from '../config.js';
import { createService } from '../wiring.js';
import { PROBE_SETTINGS } from './check.js';
import { addSettings, EXIT, loggerFor, reportError, type CliIo } from './common.js';
import { CLUSTER_SETTINGS, SELECTION_SETTINGS } from './renew.js';

const SERVICE_SETTINGS = [
  'httpMaxConnections',
  'schedule',
  'timezone',
  'runOnStart',
  'adminPort',
  'adminAddress',
  'leaderElection',
  'leaderLeaseDuration',
  'webhookUrl',
  'webhookFormat',
  'smtpHost',
  'smtpPort',
  'smtpSecurity',
  'smtpUser',
  'smtpPassword',
  'smtpFrom',
  'smtpTo',
  ...PROBE_SETTINGS,
] as const;
const NAMES = [...CLUSTER_SETTINGS.filter((n) => n !== 'answerLocally'), ...SELECTION_SETTINGS, ...SERVICE_SETTINGS, 'adopt', 'renewBefore', 'concurrency'] as const;

export function registerRun(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('run')
    .summary('the long-running service: answer challenges, run passes on a schedule, alert')
    .description(
      'Answer HTTP-01 challenges on --http-port from the challenge ConfigMap (every replica), run a pass on ' +
        '--schedule (only the leader of the certkeeper-leader Lease), send expiry alerts, and serve /healthz, ' +
        '/readyz and /metrics on --admin-port. Stops within 10 s of SIGTERM: alert deliveries end at once (what they owed is ' +
        'saved and sent after the restart), the running pass orders nothing more and is waited for up to 7 s, the lead is handed over.',
    )
    .addHelpText('after', '\nExample:\n  certkeeper run --schedule "7 * * * *" --email ops@example.com --directory production');
  addSettings(cmd, NAMES);
  cmd.action(async (flags: Record<string, unknown>) => {
    setExit(await runService(flags, io));
  });
}

export async function runService(flags: Record<string, unknown>, io: CliIo): Promise<number> {
  let close: (() => Promise<void>) | undefined;
  try {
    const cfg = resolveSettings(NAMES, flags, io.env);
    const log = loggerFor(io, cfg);
    const built = await createService({ ...cfg, answerLocally: false }, log);
    close = built.close;
    const { service } = built;
    await service.start();
    // Wrappers and tests read the bound ports here when 0 was asked for.
    io.stdout(`listening on challenge port ${service.challengeAddress?.port} and admin port ${service.adminAddress?.port}\n`);
    await new Promise<void>((resolve) => {
      if (io.signal?.aborted) resolve();
      io.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    log.info('stopping: ending alert deliveries, stopping the running pass, handing over the lead');
    await service.stop();
    return EXIT.ok;
  } catch (e) {
    return reportError(io, e);
  } finally {
    await close?.();
  }
}
