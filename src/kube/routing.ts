// Challenge routing for one order: publish → solver Ingress → self-check → (CA validates) →
// remove. The self-check fetches http://HOST/.well-known/acme-challenge/<token> through the
// ingress controller the way the CA will, so a route that does not work costs no failed
// authorization (Let's Encrypt allows 5 per host per hour) and comes back as a finding with the fix.
import type { Logger } from 'pino';
import type { Target } from '../core/targets.js';
import { describeObject, type Finding } from '../core/findings.js';
import { CertkeeperError } from '../errors.js';
import type { RoutingPort } from '../pass.js';
import type { ChallengeEntry } from '../ports.js';
import { judgeHttp01, probeHttp01, summarizeHttp01, type Http01ProbeResult } from '../probe/http01.js';
import type { ConfigMapChallengeStore } from './challenges.js';
import type { SolverIngresses } from './solver.js';

export type SelfCheckMode = 'enforce' | 'warn' | 'off';

export interface SelfCheckOptions {
  mode: SelfCheckMode;
  /** Connect here instead of resolving the host (the controller's address, or a test port). */
  address?: { host: string; port?: number };
  /** The port dialled when the challenge URL redirects to https (443 unless port-forwarded). */
  httpsPort?: number;
  /** The controller needs a moment to load a new Ingress; keep trying this long. */
  timeoutMs: number;
  intervalMs?: number;
}

export class SelfCheckError extends CertkeeperError {
  readonly kind = 'probe';
  override name = 'SelfCheckError';
  constructor(
    message: string,
    hint: string,
    readonly findings: Finding[],
  ) {
    super(message, hint);
  }
}

export class KubeRouting implements RoutingPort {
  constructor(
    private readonly solvers: SolverIngresses,
    private readonly challenges: ConfigMapChallengeStore,
    private readonly selfCheck: SelfCheckOptions,
    private readonly log: Logger,
  ) {}

  async collectGarbage(): Promise<string[]> {
    const removed = (await this.solvers.collectGarbage()).map((n) => `Ingress ${n}`);
    const tokens = await this.challenges.clear();
    if (tokens > 0) removed.push(`${tokens} challenge token(s)`);
    return removed;
  }

  forOrder(target: Target): ReturnType<RoutingPort['forOrder']> {
    let solver: string | undefined;
    const name = `${target.namespace}/${target.secretName}`;
    return {
      before: async (entries: readonly ChallengeEntry[]) => {
        solver = await this.solvers.create(
          entries.map((e) => e.host),
          target.ingressClass,
          name,
          entries.map((e) => e.token),
        );
        if (this.selfCheck.mode !== 'off') await this.check(target, entries);
      },
      after: async () => {
        if (solver) await this.solvers.remove(solver);
      },
    };
  }

  private async check(target: Target, entries: readonly ChallengeEntry[]): Promise<void> {
    const deadline = Date.now() + this.selfCheck.timeoutMs;
    const pending = new Map(entries.map((e) => [e.host, e]));
    let last = new Map<string, Http01ProbeResult>();
    for (;;) {
      const results = await Promise.all(
        [...pending.values()].map((e) =>
          probeHttp01({
            host: e.host,
            token: e.token,
            expectedBody: e.keyAuthorization,
            timeoutMs: 5000,
            ...(this.selfCheck.address ? { address: this.selfCheck.address } : {}),
            ...(this.selfCheck.httpsPort ? { ports: { https: this.selfCheck.httpsPort } } : {}),
          }),
        ),
      );
      last = new Map(results.map((r) => [r.host, r]));
      for (const r of results) if (r.outcome === 'Ok') pending.delete(r.host);
      if (pending.size === 0) return;
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, this.selfCheck.intervalMs ?? 1000));
    }
    const ingressRef = { kind: 'Ingress', namespace: target.ingresses[0]?.namespace ?? target.namespace, name: target.ingresses[0]?.name ?? target.secretName };
    const findings = [...pending.keys()].flatMap((host) => {
      const r = last.get(host);
      return r ? judgeHttp01(r, { ingressRef, host }) : [];
    });
    const summary = [...pending.keys()].map((host) => {
      const r = last.get(host);
      return r ? summarizeHttp01(r, ingressRef) : host;
    });
    const first = findings.find((f) => f.severity === 'error') ?? findings[0];
    const message = `self-check failed: the challenge path does not reach certkeeper for ${[...pending.keys()].join(', ')} (${summary.join('; ')})`;
    if (this.selfCheck.mode === 'warn') {
      this.log.warn({ target: `${target.namespace}/${target.secretName}`, findings: findings.map((f) => f.code) }, `${message}; asking the CA anyway (--self-check warn)`);
      return;
    }
    for (const f of findings) this.log.warn({ code: f.code, object: describeObject(f.object), host: f.host, hint: f.hint }, f.message);
    throw new SelfCheckError(
      `${message}; no authorization was spent`,
      `${first?.hint ?? 'make port 80 of the host reach the ingress controller'} (hairpin-NAT clusters where the check cannot work from inside: --self-check warn)`,
      findings,
    );
  }
}
