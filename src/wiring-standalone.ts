// The composition root of the standalone `issue` command: files instead of a cluster. Kept apart
// from wiring.ts on purpose: wiring.ts imports the Kubernetes adapters, and `issue` must not load
// @kubernetes/client-node (one certificate in under 0.5 s, issue #12). Commands still never
// construct an adapter themselves.
import type { Logger } from 'pino';
import { FileAccountStore } from './acme/account-file-store.js';
import { AcmeIssuer, FetchWatch } from './acme/issuer.js';
import { FileRateLimitLedger } from './acme/ratelimit-file-store.js';
import { configureAcmeTransport } from './acme/transport.js';
import { MemoryChallengeStore } from './http/memory-store.js';
import { startResponder, type Responder } from './http/responder.js';
import { RateLimitGuard, type RateLimitMode } from './ratelimit-guard.js';

export interface StandaloneConfig {
  directoryUrl: string;
  /** Account key and rate-limit ledger live here (one account per CA directory). */
  accountDir: string;
  email?: string | undefined;
  eabKid?: string | undefined;
  eabHmacKey?: string | undefined;
  acmePollInterval: number;
  rateLimits: RateLimitMode;
  /** A private CA's root, trusted for the ACME connection only. */
  caBundlePem?: string | undefined;
}

export interface StandaloneAcme {
  issuer: AcmeIssuer;
  limits: RateLimitGuard;
  /** Answers HTTP-01 on `port` from this run's challenges, and tells the issuer when the CA fetched one. */
  answer(opts: { port: number; host?: string | undefined }): Promise<Responder>;
}

export function createStandaloneAcme(cfg: StandaloneConfig, log: Logger): StandaloneAcme {
  configureAcmeTransport(cfg.caBundlePem ? { caBundlePem: cfg.caBundlePem } : {});
  const store = new MemoryChallengeStore();
  const fetches = new FetchWatch();
  const issuer = new AcmeIssuer({
    directoryUrl: cfg.directoryUrl,
    accountStore: new FileAccountStore(cfg.accountDir, cfg.directoryUrl),
    challengeStore: store,
    ...(cfg.email ? { email: cfg.email } : {}),
    ...(cfg.eabKid && cfg.eabHmacKey ? { eab: { kid: cfg.eabKid, hmacKey: cfg.eabHmacKey } } : {}),
    polling: { intervalMs: cfg.acmePollInterval, maxIntervalMs: cfg.acmePollInterval * 32, timeoutMs: 180_000 },
    challengeFetched: (token) => fetches.fetched(token),
    log,
  });
  const limits = new RateLimitGuard(new FileRateLimitLedger(cfg.accountDir), cfg.rateLimits, () => new Date(), log);
  return {
    issuer,
    limits,
    answer: ({ port, host }) =>
      startResponder({
        lookup: store,
        port,
        ...(host ? { host } : {}),
        onChallenge: (e) => {
          log.debug({ token: e.token, found: e.found, host: e.host, remote: e.remote }, 'challenge request');
          if (e.found) fetches.saw(e.token);
        },
      }),
  };
}
