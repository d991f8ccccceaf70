// `certkeeper serve`: only the HTTP-01 responder, answering from the challenge ConfigMap. This is
// what the chart's pods behind the Service run in CronJob mode, and what lets a `renew` started in
// another pod (or on a laptop) get its challenges answered.
import type { Command } from 'commander';
import { resolveSettings } from '../config.js';
import { challengeRequestLog } from '../http/challenge-log.js';
import { startResponder } from '../http/responder.js';
import { createChallengeLookup } from '../wiring.js';
import { addSettings, EXIT, loggerFor, reportError, type CliIo } from './common.js';

const NAMES = ['kubeconfig', 'context', 'selfNamespace', 'httpPort', 'httpAddress', 'httpMaxConnections', 'logLevel', 'logFormat'] as const;

export function registerServe(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('serve')
    .summary('answer HTTP-01 challenges from the cluster\'s challenge ConfigMap (no passes)')
    .description(
      'Run only the HTTP-01 responder: GET /.well-known/acme-challenge/<token> is answered from the ConfigMap ' +
        'certkeeper-challenges in certkeeper\'s namespace, watched so that a new token is served within a second. ' +
        '/healthz answers 200 once the ConfigMap has been read. Stops on SIGTERM.',
    );
  addSettings(cmd, NAMES);
  cmd.action(async (flags: Record<string, unknown>) => {
    setExit(await runServe(flags, io));
  });
}

export async function runServe(flags: Record<string, unknown>, io: CliIo): Promise<number> {
  try {
    const cfg = resolveSettings(NAMES, flags, io.env);
    const log = loggerFor(io, cfg);
    const lookup = createChallengeLookup(cfg, log);
    let ready = false;
    // Unknown tokens (scanners, validators retrying old orders) are summed up once a minute.
    const challengeLog = challengeRequestLog(log);
    const responder = await startResponder({
      lookup,
      port: cfg.httpPort,
      ...(cfg.httpAddress ? { host: cfg.httpAddress } : {}),
      maxConnections: cfg.httpMaxConnections,
      extraRoutes: [
        (req, res) => {
          if (req.url !== '/healthz' && req.url !== '/readyz') return false;
          res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
          res.end(ready ? 'ok\n' : 'challenge ConfigMap not read yet\n');
          return true;
        },
      ],
      onChallenge: (e) => challengeLog.record(e),
    });
    await lookup.start();
    ready = true;
    log.info({ port: responder.address.port, namespace: cfg.selfNamespace, tokens: lookup.size }, 'serving HTTP-01 challenges from the ConfigMap');
    // Tests and wrappers read the bound port from here when --http-port 0 is used.
    io.stdout(`listening on ${responder.address.address}:${responder.address.port}\n`);
    await new Promise<void>((resolve) => {
      if (io.signal?.aborted) resolve();
      io.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    log.info('stopping');
    lookup.stop();
    await responder.close();
    challengeLog.stop();
    return EXIT.ok;
  } catch (e) {
    return reportError(io, e);
  }
}
