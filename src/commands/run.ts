// `certkeeper run`: the cron service the Helm chart runs. See src/service.ts.
import type { Command } from 'commander';
import { Alerting, buildNotifiers, ConfigMapAlertStateStore } from '../alerting.js';
import { auditCluster } from '../audit-live.js';
import { kubeAuditPort } from '../kube/audit-port.js';
import { liveAuditOptions, PROBE_SETTINGS } from './check.js';
import { onAcmeResponse } from '../acme/transport.js';
import { resolveSettings } from '../config.js';
import { ConfigMapChallengeLookup } from '../kube/challenges.js';
import { LeaderElector } from '../kube/leader.js';
import { Metrics } from '../metrics.js';
import { createKubeRuntime, passOptionsFrom, type KubeRuntime } from '../runtime.js';
import { CertkeeperService, checkSchedule } from '../service.js';
import { addSettings, EXIT, loggerFor, reportError, type CliIo } from './common.js';
import { CLUSTER_SETTINGS, SELECTION_SETTINGS } from './renew.js';

const SERVICE_SETTINGS = [
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
        '/readyz and /metrics on --admin-port. Stops cleanly on SIGTERM: the running pass finishes, the lead is handed over.',
    )
    .addHelpText('after', '\nExample:\n  certkeeper run --schedule "7 * * * *" --email ops@example.com --directory production');
  addSettings(cmd, NAMES);
  cmd.action(async (flags: Record<string, unknown>) => {
    setExit(await runService(flags, io));
  });
}

export async function runService(flags: Record<string, unknown>, io: CliIo): Promise<number> {
  let runtime: KubeRuntime | undefined;
  try {
    const cfg = resolveSettings(NAMES, flags, io.env);
    const log = loggerFor(io, cfg);
    const { intervalMs } = checkSchedule(cfg.schedule, cfg.timezone);
    runtime = await createKubeRuntime({ ...cfg, answerLocally: false }, log);
    const rt = runtime;
    const metrics = new Metrics();
    onAcmeResponse((status) => metrics.acmeRequest(status));
    const notifiers = buildNotifiers(cfg, log, runtime.events);
    const alerting = new Alerting(new ConfigMapAlertStateStore(runtime.state, log), notifiers, log, intervalMs);
    const pass = passOptionsFrom(runtime.directoryUrl, cfg);
    const lookup = new ConfigMapChallengeLookup(runtime.kube, cfg.selfNamespace, log);
    // The elector reports leadership to the service, which is created right after it.
    const holder: { service?: CertkeeperService } = {};
    const leader = cfg.leaderElection
      ? new LeaderElector(
          runtime.kube,
          {
            namespace: cfg.selfNamespace,
            name: 'certkeeper-leader',
            identity: runtime.identity,
            durationMs: cfg.leaderLeaseDuration,
            now: runtime.clock,
            onChange: (isLeader) => holder.service?.onLeaderChange(isLeader),
          },
          log,
        )
      : undefined;
    const service = new CertkeeperService(
      {
        schedule: cfg.schedule,
        timezone: cfg.timezone,
        runOnStart: cfg.runOnStart,
        httpPort: cfg.httpPort,
        httpAddress: cfg.httpAddress,
        adminPort: cfg.adminPort,
        adminAddress: cfg.adminAddress,
        pass,
      },
      {
        ports: runtime.ports,
        lookup,
        leader,
        events: runtime.events,
        metrics,
        alerting,
        state: runtime.state,
        log,
        audit: async (now) => {
          const kube = rt.kube;
          const opts = await liveAuditOptions(cfg, kube, log, now);
          opts.directoryUrl = rt.directoryUrl;
          return (await auditCluster(kubeAuditPort(kube, { selfNamespace: cfg.selfNamespace }), opts)).findings;
        },
      },
    );
    holder.service = service;
    await service.start();
    // Wrappers and tests read the bound ports here when 0 was asked for.
    io.stdout(`listening on challenge port ${service.challengeAddress?.port} and admin port ${service.adminAddress?.port}\n`);
    await new Promise<void>((resolve) => {
      if (io.signal?.aborted) resolve();
      io.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    log.info('stopping: finishing the running pass, handing over the lead');
    await service.stop();
    return EXIT.ok;
  } catch (e) {
    return reportError(io, e);
  } finally {
    await runtime?.close();
  }
}
