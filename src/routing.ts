// How a challenge reaches certkeeper: a solver route presents the path for the hosts (a solver
// Ingress today, an HTTPRoute for Gateways), one reachability loop proves it through the ingress
// controller the way the CA will fetch it, and the route is cleaned up after. The pass's self-check
// and `check --probe` both run here. Answers are published by the ChallengeStore the issuer was
// given (a wrapper around every route, as certmagic's distributedSolver is), not by the routes.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { describeObject, type Finding, type ObjectRef } from './core/findings.js';
import type { Target } from './core/targets.js';
import { errorMessage, SelfCheckError } from './errors.js';
import { judgeHttp01, summarizeHttp01, waitUntilReachable, type ReachItem } from './probe/index.js';
import type { ChallengeEntry, ChallengeStore, OrderRouting, PresentedRoute, RouteRequest, RoutingPort, SolverRoute } from './ports.js';

export type SelfCheckMode = 'enforce' | 'warn' | 'off';

export interface SelfCheckOptions {
  mode: SelfCheckMode;
  /** Connect here instead of resolving the host (the controller's address, or a test port). */
  address?: { host: string; port?: number };
  /** The port dialled when the challenge URL redirects to https (443 unless port-forwarded). */
  httpsPort?: number;
  /** The controller needs a moment to load a new route; keep trying this long. */
  timeoutMs: number;
  intervalMs?: number;
}

/** Which solver route serves a Target, and every route kind (for garbage collection). */
export interface SolverRoutes {
  forTarget(target: RouteRequest['target']): SolverRoute;
  readonly all: readonly SolverRoute[];
}

/** One host of `check --probe`'s reachability check. */
export interface ProbeRouteItem {
  host: string;
  target: RouteRequest['target'];
  /** Where the finding points (the user's Ingress). */
  ref: ObjectRef;
  address?: ReachItem['address'];
  ports?: ReachItem['ports'];
}

export interface RouteProbeReport {
  findings: Finding[];
  /** Requests made. */
  requests: number;
  /** What could not be removed again, for the command's notes. */
  notes: string[];
}

const SELF_CHECK_REQUEST_TIMEOUT_MS = 5000;

/**
 * Several routes presented together: a Target named by Ingresses and Gateways alike (a migration
 * from an ingress controller to a Gateway) gets a solver Ingress and an HTTPRoute, so the challenge
 * reaches certkeeper whichever of the two the host's DNS points at.
 */
export class CombinedSolverRoute implements SolverRoute {
  constructor(private readonly routes: readonly SolverRoute[]) {}

  groupKey(target: RouteRequest['target']): string {
    return this.routes.map((r) => r.groupKey(target)).join('|');
  }

  async present(req: RouteRequest): Promise<PresentedRoute> {
    const presented: PresentedRoute[] = [];
    const cleanUp = async (): Promise<void> => {
      const failures: string[] = [];
      for (const p of presented) await p.cleanUp().catch((e: unknown) => failures.push(`${p.description}: ${errorMessage(e)}`));
      if (failures.length > 0) throw new Error(`could not remove ${failures.join('; ')}`);
    };
    try {
      for (const r of this.routes) presented.push(await r.present(req));
    } catch (e) {
      await cleanUp().catch(() => undefined);
      throw e;
    }
    return { description: presented.map((p) => p.description).join(', '), cleanUp };
  }

  /** Each part collects its own leftovers (SolverRoutes.all lists them). */
  collectGarbage(): Promise<string[]> {
    return Promise.resolve([]);
  }
}

export class ChallengeRouting implements RoutingPort {
  constructor(
    private readonly store: ChallengeStore,
    private readonly routes: SolverRoutes,
    private readonly selfCheck: SelfCheckOptions,
    private readonly log: Logger,
  ) {}

  async collectGarbage(): Promise<string[]> {
    const removed: string[] = [];
    for (const r of this.routes.all) removed.push(...(await r.collectGarbage()));
    const tokens = (await this.store.clear?.()) ?? 0;
    if (tokens > 0) removed.push(`${tokens} challenge token(s)`);
    return removed;
  }

  forOrder(target: Target, signal?: AbortSignal): OrderRouting {
    const name = `${target.namespace}/${target.secretName}`;
    const presented: PresentedRoute[] = [];
    let probeToken: string | undefined;
    const present = async (hosts: readonly string[], tokens: readonly string[]): Promise<PresentedRoute> => {
      const route = await this.routes.forTarget(target).present({ target, hosts, tokens, purpose: name });
      presented.push(route);
      return route;
    };
    const removeProbeToken = async (): Promise<void> => {
      const token = probeToken;
      if (token === undefined) return;
      probeToken = undefined;
      await this.store.remove([token]).catch((e: unknown) => {
        this.log.warn({ target: name, err: errorMessage(e) }, 'could not remove the self-check token; the next pass removes it');
      });
    };
    return {
      // Before any order: a token of our own, routed for every host of the Target and fetched
      // through the controller the way the CA would. A route that does not answer costs the CA
      // nothing: no order, no pending authorization, no failed validation.
      prove: async () => {
        if (this.selfCheck.mode === 'off') return;
        const token = randomBytes(32).toString('base64url');
        const keyAuthorization = `${token}.${randomBytes(32).toString('base64url')}`;
        const entries = target.hosts.map((host): ChallengeEntry => ({ token, keyAuthorization, host }));
        await this.store.publish(entries.slice(0, 1));
        probeToken = token;
        try {
          await present(target.hosts, [token]);
          await this.check(target, entries, 'no order was placed and no authorization was spent', signal);
        } finally {
          await removeProbeToken();
        }
      },
      // The order's own tokens: a Prefix route already carries them; an exact-path route needs its
      // own. Either way they are fetched once more, which is quick on a proven route (the
      // responders only have to pick the new tokens up).
      before: async (entries) => {
        if (!presented.some((r) => r.anyToken)) {
          await present(
            entries.map((e) => e.host),
            entries.map((e) => e.token),
          );
        }
        if (this.selfCheck.mode !== 'off') await this.check(target, entries, 'the order is abandoned and its pending authorizations are deactivated', signal);
      },
      after: async () => {
        await removeProbeToken();
        for (const route of presented.splice(0)) {
          await route.cleanUp().catch((e: unknown) => {
            this.log.warn({ target: name, route: route.description, err: errorMessage(e) }, 'could not remove a solver route; the next pass removes it');
          });
        }
      },
    };
  }

  /** Fetches every entry through the controller; throws a SelfCheckError (enforce) saying `consequence`. */
  private async check(target: Target, entries: readonly ChallengeEntry[], consequence: string, signal?: AbortSignal): Promise<void> {
    const { address, httpsPort } = this.selfCheck;
    const items = entries.map((e): ReachItem => {
      const i: ReachItem = { host: e.host, token: e.token, expectedBody: e.keyAuthorization };
      if (address) i.address = address;
      if (httpsPort) i.ports = { https: httpsPort };
      return i;
    });
    const results = await waitUntilReachable(items, {
      waitMs: this.selfCheck.timeoutMs,
      intervalMs: this.selfCheck.intervalMs ?? 1000,
      requestTimeoutMs: SELF_CHECK_REQUEST_TIMEOUT_MS,
      ...(signal ? { signal } : {}),
    });
    const failed = [...results.values()].filter((r) => r.outcome !== 'Ok');
    if (failed.length === 0) return;
    const user = target.ingresses[0];
    const ingressRef: ObjectRef = { kind: user?.kind ?? 'Ingress', namespace: user?.namespace ?? target.namespace, name: user?.name ?? target.secretName };
    const findings = failed.flatMap((r) => judgeHttp01(r, { ingressRef, host: r.host }));
    const first = findings.find((f) => f.severity === 'error') ?? findings[0];
    const message = `self-check failed: the challenge path does not reach certkeeper for ${failed.map((r) => r.host).join(', ')} (${failed.map((r) => summarizeHttp01(r, ingressRef)).join('; ')})`;
    const name = `${target.namespace}/${target.secretName}`;
    if (this.selfCheck.mode === 'warn') {
      this.log.warn({ target: name, findings: findings.map((f) => f.code) }, `${message}; asking the CA anyway (--self-check warn)`);
      return;
    }
    for (const f of findings) this.log.warn({ code: f.code, object: describeObject(f.object), host: f.host, hint: f.hint }, f.message);
    throw new SelfCheckError(
      `${message}; ${consequence}`,
      `${first?.hint ?? 'make port 80 of the host reach the ingress controller'} (hairpin-NAT clusters where the check cannot work from inside: --self-check warn)`,
      findings,
    );
  }

  /**
   * `check --probe`: publishes one random probe token, presents a route per route kind and class
   * for the hosts, fetches each through the controller like the CA would, and removes route and
   * token again, also on failure. Only hosts certkeeper manages may be routed: a solver rule for
   * someone else's host would briefly take /.well-known/acme-challenge/ away from their ACME client.
   */
  async probe(
    items: readonly ProbeRouteItem[],
    opts: { waitMs: number; requestTimeoutMs: number; concurrency: number; intervalMs?: number; signal?: AbortSignal },
  ): Promise<RouteProbeReport> {
    const report: RouteProbeReport = { findings: [], requests: 0, notes: [] };
    if (items.length === 0) return report;
    const token = randomBytes(32).toString('base64url');
    const keyAuthorization = `${token}.${randomBytes(32).toString('base64url')}`;
    const presented: PresentedRoute[] = [];
    let published = false;
    try {
      await this.store.publish([{ token, keyAuthorization, host: items[0]?.host ?? '' }]);
      published = true;
      const groups = new Map<SolverRoute, Map<string, ProbeRouteItem[]>>();
      for (const i of items) {
        const route = this.routes.forTarget(i.target);
        const byKey = groups.get(route) ?? new Map<string, ProbeRouteItem[]>();
        const key = route.groupKey(i.target);
        byKey.set(key, [...(byKey.get(key) ?? []), i]);
        groups.set(route, byKey);
      }
      for (const [route, byClass] of groups) {
        for (const group of byClass.values()) {
          const first = group[0] as ProbeRouteItem;
          presented.push(await route.present({ target: first.target, hosts: group.map((i) => i.host), tokens: [token], purpose: 'certkeeper-check-probe' }));
        }
      }
      this.log.debug({ hosts: items.map((i) => i.host), routes: presented.map((p) => p.description) }, 'HTTP-01 probe routed');
      const reach = items.map((i): ReachItem => {
        const r: ReachItem = { host: i.host, token, expectedBody: keyAuthorization };
        if (i.address) r.address = i.address;
        if (i.ports) r.ports = i.ports;
        return r;
      });
      const results = await waitUntilReachable(reach, {
        waitMs: opts.waitMs,
        requestTimeoutMs: opts.requestTimeoutMs,
        concurrency: opts.concurrency,
        intervalMs: opts.intervalMs ?? 500,
        onRound: (n) => (report.requests += n),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      for (const i of items) {
        const r = results.get(i.host);
        if (r) report.findings.push(...judgeHttp01(r, { ingressRef: i.ref, host: i.host }));
      }
    } catch (e) {
      const hint = (e as { hint?: string }).hint;
      if (opts.signal?.aborted) report.notes.push(`the HTTP-01 reachability probe stopped (${errorMessage(opts.signal.reason)}) before every host answered; its route and token are removed`);
      else report.notes.push(`HTTP-01 reachability was not checked: ${errorMessage(e)}${hint ? ` (hint: ${hint})` : ''}; --probe-http01 off skips it`);
    } finally {
      for (const p of presented) {
        await p.cleanUp().catch((e: unknown) => {
          report.notes.push(`the probe's ${p.description} could not be removed: ${errorMessage(e)}; the next certkeeper pass deletes it`);
        });
      }
      if (published) {
        await this.store.remove([token]).catch((e: unknown) => {
          report.notes.push(`the probe token could not be removed from the challenge ConfigMap: ${errorMessage(e)}; the next certkeeper pass clears it`);
        });
      }
    }
    return report;
  }
}
