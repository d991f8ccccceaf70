// The ACME adapter: account, order, HTTP-01 answers, finalize, chain download (RFC 8555 §7).
// acme-client speaks the protocol; this file decides the order of steps, publishes answers through
// a ChallengeStore, polls with our own backoff, and turns every failure into an error that names the
// host and the ACME problem type.
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import acme from 'acme-client';
import type { Logger } from 'pino';
import { parseCertificate, splitPemCertificates } from '../core/cert.js';
import { AcmeError, CaUnreachableError, errorMessage } from '../errors.js';
import type { CertInfo } from '../core/cert.js';
import type { AccountStore, CaInfo, ChallengeEntry, ChallengeStore, IssuedCertificate, IssueRequest, RenewalInfoAnswer, StoredAccount } from '../ports.js';
import { fetchRenewalInfo, readDirectory } from './ari.js';
import { createCsr, generatePrivateKey } from './keys.js';
import { reuseNonces, takeLastProblem, takeRetryAfter, withAcmeContext, type ProblemRecord } from './transport.js';

export interface PollingOptions {
  /**
   * First wait between status polls while the CA validates; doubles up to maxIntervalMs. A
   * Retry-After from the CA lengthens a wait, never shortens it.
   */
  intervalMs: number;
  maxIntervalMs: number;
  /** Give up on one order after this long. */
  timeoutMs: number;
}

/**
 * See AcmeIssuer.shortWaitMs. Pebble records a validation, and signs, within 10 ms of being
 * asked; doubling from 20 ms, a CA that takes a second is polled 6 times.
 */
const SHORT_WAIT_MS = 20;

/** How long the directory's profiles and ARI resource are trusted before they are read again. */
const DIRECTORY_MAX_AGE_MS = 24 * 3_600_000;

export const DEFAULT_POLLING: PollingOptions = { intervalMs: 250, maxIntervalMs: 8000, timeoutMs: 180_000 };

export interface IssuerOptions {
  directoryUrl: string;
  accountStore: AccountStore;
  challengeStore: ChallengeStore;
  email?: string;
  eab?: { kid: string; hmacKey: string };
  polling?: PollingOptions;
  log: Logger;
  /**
   * Runs after the answers are published and before the CA is asked to validate them. The
   * Kubernetes path routes the challenge path to certkeeper here (solver Ingress) and waits
   * until the route works, so no authorization is spent on a route that is not there yet.
   */
  beforeValidation?: (entries: readonly ChallengeEntry[]) => Promise<void>;
  /** Runs after the order, whatever its outcome; the Kubernetes path removes its solver objects. */
  afterValidation?: (entries: readonly ChallengeEntry[]) => Promise<void>;
  /**
   * Resolves when the CA has fetched `token` from our responder. RFC 8555 §7.5.1: a client that
   * can see the validation request should start polling when it sees it, not on a timer. Only
   * a process that answers the challenges itself (`issue`) can tell; without it, polls are timed.
   */
  challengeFetched?: (token: string) => Promise<void>;
  /** The clock renewalInfo's Retry-After is measured against; the wall clock by default. */
  clock?: () => Date;
}

/**
 * Which challenge answers the CA has fetched from our own responder: a responder's onChallenge
 * calls saw(), and IssuerOptions.challengeFetched is fetched().
 */
export class FetchWatch {
  private readonly seen = new Set<string>();
  private readonly waiting = new Map<string, () => void>();

  saw(token: string): void {
    this.seen.add(token);
    this.waiting.get(token)?.();
    this.waiting.delete(token);
  }

  fetched(token: string): Promise<void> {
    if (this.seen.has(token)) return Promise.resolve();
    return new Promise((resolve) => this.waiting.set(token, resolve));
  }
}

type AcmeClient = InstanceType<typeof acme.Client>;
type Order = Awaited<ReturnType<AcmeClient['createOrder']>>;
type Authorization = Awaited<ReturnType<AcmeClient['getAuthorizations']>>[number];

/**
 * Did the CA refuse the order because of its `replaces` field? alreadyReplaced (RFC 9773 §5), and
 * what CAs answer about the field itself: Pebble 2.10 says 400 "parsing ARI CertID failed", 403
 * "did not request the certificate being replaced", 500 "could not find an order for the given
 * certificate" or "at least one identifier in the new order and existing order must match".
 */
function refusedReplaces(e: unknown): boolean {
  if (!(e instanceof AcmeError)) return false;
  if (e.problem.type === 'alreadyReplaced') return true;
  return /replace|certid|\bari\b|could not find an order for the given certificate|identifier in the new order and existing order/i.test(e.problem.detail);
}

export class AcmeIssuer {
  private client: Promise<AcmeClient> | undefined;
  private directory: Promise<CaInfo> | undefined;
  private directoryReadAt = 0;
  private readonly polling: PollingOptions;

  constructor(private readonly opts: IssuerOptions) {
    this.polling = opts.polling ?? DEFAULT_POLLING;
  }

  get directoryUrl(): string {
    return this.opts.directoryUrl;
  }

  /**
   * The directory's profiles and ARI resource, read once per issuer. Says once what the CA lacks:
   * without ARI renewals follow the lifetime ratio, without profiles none can be asked for.
   */
  caInfo(): Promise<CaInfo> {
    // A long-running service notices a CA that gained ARI or profiles within a day (acme-client
    // keeps its own copy of the directory as long).
    if (this.directory && Date.now() - this.directoryReadAt > DIRECTORY_MAX_AGE_MS) this.directory = undefined;
    if (!this.directory) this.directoryReadAt = Date.now();
    this.directory ??= readDirectory(this.opts.directoryUrl).then(
      (info) => {
        const lacks = [info.renewalInfoUrl ? undefined : 'ACME Renewal Information (ARI)', info.profiles ? undefined : 'profiles'].filter(Boolean);
        const has = [info.renewalInfoUrl ? 'ARI' : undefined, info.profiles ? `profiles ${Object.keys(info.profiles).join(', ')}` : undefined].filter(Boolean);
        if (lacks.length > 0) {
          this.opts.log.info(
            { directoryUrl: info.directoryUrl, ari: info.renewalInfoUrl !== undefined, profiles: info.profiles ? Object.keys(info.profiles) : [] },
            `the CA at ${info.directoryUrl} offers ${lacks.length === 2 ? 'neither' : 'no'} ${lacks.join(' nor ')}${info.renewalInfoUrl ? '' : '; renewals follow the lifetime ratio'}`,
          );
        } else {
          this.opts.log.debug({ directoryUrl: info.directoryUrl }, `the CA offers ${has.join(' and ')}`);
        }
        return info;
      },
      (e: unknown) => {
        this.directory = undefined;
        throw this.translate(e, `reading the ACME directory ${this.opts.directoryUrl}`);
      },
    );
    return this.directory;
  }

  /** The CA's renewal window for `cert` (RFC 9773 §4.2), or why there is none. Never throws. */
  async renewalInfo(cert: Pick<CertInfo, 'certId'>): Promise<RenewalInfoAnswer> {
    if (!cert.certId) return { kind: 'unsupported', problem: 'the certificate has no Authority Key Identifier, so ARI cannot name it' };
    let info: CaInfo;
    try {
      info = await this.caInfo();
    } catch (e) {
      const clock = this.opts.clock ?? (() => new Date());
      return { kind: 'failed', problem: (e as Error).message, nextCheck: new Date(clock().getTime() + 3_600_000) };
    }
    if (!info.renewalInfoUrl) return { kind: 'unsupported', problem: `the CA at ${this.opts.directoryUrl} has no renewalInfo resource (no ARI)` };
    return fetchRenewalInfo(info.renewalInfoUrl, cert.certId, this.opts.clock ?? (() => new Date()));
  }

  /** The account client, registered once per process even when orders run concurrently. */
  account(): Promise<AcmeClient> {
    this.client ??= withAcmeContext(() =>
      this.loadOrRegister().catch((e: unknown) => {
        this.client = undefined;
        throw this.translate(e, `registering an ACME account with ${this.opts.directoryUrl}`);
      }),
    );
    return this.client;
  }

  private async loadOrRegister(): Promise<AcmeClient> {
    const { accountStore, directoryUrl, log } = this.opts;
    let stored = await accountStore.load();
    if (stored && stored.directoryUrl !== directoryUrl) {
      log.warn({ location: accountStore.location, stored: stored.directoryUrl, directoryUrl }, 'the stored ACME account belongs to another CA; registering a new one');
      stored = undefined;
    }
    if (stored?.url) {
      log.debug({ account: stored.url }, 'using the stored ACME account');
      return this.newClient(stored.keyPem, stored.url);
    }
    if (!stored) {
      // Save the key before registering: if registration succeeds and a later save fails, the
      // next run finds the same key and the CA returns the existing account instead of a new one.
      stored = { keyPem: await generatePrivateKey('ecdsa-p256'), directoryUrl, createdAt: new Date().toISOString() };
      if (this.opts.email) stored.email = this.opts.email;
      await accountStore.save(stored);
    }
    const client = this.newClient(stored.keyPem);
    const data: { termsOfServiceAgreed: boolean; contact?: string[] } = { termsOfServiceAgreed: true };
    if (this.opts.email) data.contact = [`mailto:${this.opts.email}`];
    await client.createAccount(data);
    const url = client.getAccountUrl();
    const saved: StoredAccount = { ...stored, url };
    await accountStore.save(saved);
    log.info({ account: url, location: accountStore.location, directoryUrl }, 'registered ACME account');
    return client;
  }

  private newClient(keyPem: string, accountUrl?: string): AcmeClient {
    const o: ConstructorParameters<typeof acme.Client>[0] = {
      directoryUrl: this.opts.directoryUrl,
      accountKey: keyPem,
      // We poll orders ourselves; these only bound acme-client's internal waits.
      backoffAttempts: 3,
      backoffMin: this.polling.intervalMs,
      backoffMax: this.polling.maxIntervalMs,
    };
    if (accountUrl) o.accountUrl = accountUrl;
    if (this.opts.eab) o.externalAccountBinding = { kid: this.opts.eab.kid, hmacKey: this.opts.eab.hmacKey };
    const client = new acme.Client(o);
    reuseNonces(client);
    return client;
  }

  /** Obtains one certificate for `hosts`. Published answers are removed whatever happens. */
  issue(req: IssueRequest): Promise<IssuedCertificate> {
    return withAcmeContext(() => this.issueInContext(req));
  }

  private async issueInContext(req: IssueRequest): Promise<IssuedCertificate> {
    const client = await this.account();
    const hosts = [...req.hosts];
    const what = `the certificate for ${hosts.join(', ')}`;
    const log = this.opts.log.child({ hosts });
    const keyPromise = generatePrivateKey(req.keyType);
    // Built while the CA's round trips are in flight instead of after validation, which it would
    // delay by the CSR's 20-40 ms. A failure surfaces where it is awaited, before finalize.
    const csrPromise = keyPromise.then((keyPem) => createCsr(hosts, keyPem));
    csrPromise.catch(() => undefined);
    req.signal?.throwIfAborted();
    let order: Order;
    const create: { identifiers: { type: string; value: string }[]; profile?: string; replaces?: string } = {
      // RFC 8738: IP addresses are identifiers of type ip.
      identifiers: hosts.map((value) => ({ type: isIP(value) === 0 ? 'dns' : 'ip', value })),
    };
    if (req.profile) create.profile = req.profile;
    if (req.replaces) create.replaces = req.replaces;
    let replacesDropped: string | undefined;
    try {
      order = await client.createOrder(create as Parameters<AcmeClient['createOrder']>[0]);
    } catch (e) {
      const err = this.translate(e, `ordering ${what}`);
      if (!create.replaces || !refusedReplaces(err)) throw err;
      // The renewal is still needed; only the link to the old certificate (and with it the
      // rate-limit exemption) is lost.
      const problem = (err as AcmeError).problem;
      replacesDropped = `the CA refused "replaces" (${problem.type}: ${problem.detail})`;
      log.warn({ replaces: create.replaces, problem: problem.type }, `${replacesDropped}; ordering again without it`);
      await req.beforeOrderWithoutReplaces?.(replacesDropped);
      delete create.replaces;
      try {
        order = await client.createOrder(create as Parameters<AcmeClient['createOrder']>[0]);
      } catch (e2) {
        throw this.translate(e2, `ordering ${what} without "replaces"`);
      }
    }
    log.debug({ order: order.url }, 'order created');

    const published: ChallengeEntry[] = [];
    let authzs: Authorization[] = [];
    let issued = false;
    let validating = false;
    try {
      try {
        authzs = await client.getAuthorizations(order);
      } catch (e) {
        throw this.translate(e, `reading the authorizations for ${what}`);
      }
      const pending: { authz: Authorization; challenge: Authorization['challenges'][number] }[] = [];
      for (const authz of authzs) {
        if (authz.status === 'valid') continue; // reused authorization: nothing to prove
        const challenge = authz.challenges.find((c) => c.type === 'http-01');
        if (!challenge) {
          throw new AcmeError(
            `the CA offers no http-01 challenge for ${authz.identifier.value} (offered: ${authz.challenges.map((c) => c.type).join(', ') || 'none'})`,
            { type: 'unsupportedChallenge', detail: 'no http-01 challenge', host: authz.identifier.value },
            'certkeeper validates through HTTP-01 only; wildcard names and some CAs need DNS-01',
          );
        }
        const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
        published.push({ token: (challenge as { token: string }).token, keyAuthorization, host: authz.identifier.value });
        pending.push({ authz, challenge });
      }
      let fetched: Promise<unknown> | undefined;
      if (published.length > 0) {
        await this.opts.challengeStore.publish(published);
        const before = req.beforeValidation ?? this.opts.beforeValidation;
        if (before) await before(published);
        const seen = this.opts.challengeFetched;
        if (seen) fetched = Promise.all(published.map((p) => seen(p.token)));
        takeRetryAfter(); // only the challenge responses' Retry-After counts for the first poll
        req.signal?.throwIfAborted();
        try {
          // From here the CA validates: each authorization ends valid or invalid on its own, and
          // deactivating one mid-validation races the CA's validator (Pebble 2.10 stalls on it).
          validating = true;
          await Promise.all(pending.map(({ challenge }) => client.completeChallenge(challenge)));
        } catch (e) {
          throw this.translate(e, `asking the CA to validate ${what}`);
        }
      }
      order = await this.waitFor(client, order, ['ready', 'valid'], what, { firstWaitMs: this.polling.intervalMs, ...(fetched ? { wake: fetched } : {}), ...(req.signal ? { signal: req.signal } : {}) });
      if (order.status === 'invalid') throw await this.explainInvalidOrder(client, order, what);

      const keyPem = await keyPromise;
      if (order.status === 'ready') {
        // The last point where walking away costs nothing but the order: after this the CA
        // issues, and a certificate nobody can store is a duplicate burnt.
        await req.beforeFinalize?.();
        req.signal?.throwIfAborted();
        const csr = await csrPromise;
        takeRetryAfter();
        try {
          order = await client.finalizeOrder(order, csr);
        } catch (e) {
          throw this.translate(e, `finalizing ${what}`);
        }
        // "processing": the CA is signing; a CA that needs long says so with Retry-After.
        order = await this.waitFor(client, order, ['valid'], what, { firstWaitMs: this.shortWaitMs, ...(req.signal ? { signal: req.signal } : {}) });
        if (order.status === 'invalid') throw await this.explainInvalidOrder(client, order, what);
      }
      let pem: string;
      try {
        pem = await client.getCertificate(order);
      } catch (e) {
        throw this.translate(e, `downloading ${what}`);
      }
      const blocks = splitPemCertificates(pem);
      const info = parseCertificate(pem);
      log.debug({ notAfter: info.notAfter.toISOString(), serial: info.serial }, 'certificate downloaded');
      issued = true;
      const result: IssuedCertificate = {
        hosts,
        keyPem,
        fullchainPem: blocks.join(''),
        leafPem: blocks[0] ?? '',
        chainPem: blocks.slice(1).join(''),
        info,
        orderUrl: order.url,
        issuerUrl: this.opts.directoryUrl,
      };
      const echoed = order as { profile?: unknown; replaces?: unknown };
      if (typeof echoed.profile === 'string' && echoed.profile !== '') result.profile = echoed.profile;
      if (create.replaces) result.replaced = create.replaces;
      if (replacesDropped) result.replacesDropped = replacesDropped;
      return result;
    } finally {
      if (!issued && !validating) await this.deactivatePending(client, order, authzs, log);
      if (published.length > 0) {
        const tokens = published.map((p) => p.token);
        await this.opts.challengeStore.remove(tokens).catch((e: unknown) => {
          log.warn({ err: (e as Error).message }, 'could not remove challenge answers; the next pass removes them');
        });
        const after = req.afterValidation ?? this.opts.afterValidation;
        if (after) {
          await after(published).catch((e: unknown) => {
            log.warn({ err: (e as Error).message }, 'could not clean up after the order; the next pass removes the leftovers');
          });
        }
      }
    }
  }

  /**
   * RFC 8555 §7.5.2: an order given up before its certificate leaves pending authorizations that
   * count against the CA's limits and linger for days. Deactivate those still pending (a valid
   * one may be reused by the next order; an invalid one is done). Best effort: never throws.
   */
  private async deactivatePending(client: AcmeClient, order: Order, fetched: readonly Authorization[], log: Logger): Promise<void> {
    if (!fetched.some((a) => a.status === 'pending')) return;
    let current: readonly Authorization[] = fetched;
    try {
      current = await client.getAuthorizations(order);
    } catch {
      // The CA may be unreachable; try the ones we knew were pending anyway.
    }
    const pending = current.filter((a) => a.status === 'pending');
    const results = await Promise.allSettled(pending.map((a) => client.deactivateAuthorization(a)));
    const failed = results.filter((r) => r.status === 'rejected').map((r) => errorMessage((r as PromiseRejectedResult).reason));
    if (pending.length > failed.length) log.info({ order: order.url, deactivated: pending.length - failed.length }, 'deactivated the pending authorizations of an abandoned order');
    if (failed.length > 0) log.warn({ order: order.url, err: failed[0] }, `could not deactivate ${failed.length} pending authorization(s); the CA expires them on its own`);
  }

  /**
   * Polls the order until it reaches one of `want` or `invalid`. Waits start at `firstWaitMs`
   * and double up to maxIntervalMs; the CA's Retry-After lengthens a wait. When `wake` settles
   * (the CA has fetched every answer) the waits start over from the short one, since all the CA
   * has left to do is record the result; unless the CA asked for a Retry-After.
   */
  private async waitFor(client: AcmeClient, order: Order, want: Order['status'][], what: string, opts: { firstWaitMs: number; wake?: Promise<unknown>; signal?: AbortSignal }): Promise<Order> {
    const started = Date.now();
    const deadline = started + this.polling.timeoutMs;
    let wait = opts.firstWaitMs;
    let wake = opts.wake;
    let current = order;
    for (;;) {
      if (want.includes(current.status) || current.status === 'invalid') return current;
      if (Date.now() >= deadline) {
        throw new AcmeError(
          `gave up waiting for ${what}: the order stayed "${current.status}" for ${Math.round((Date.now() - started) / 1000)} s`,
          { type: 'timeout', detail: `order ${current.status}`, url: order.url },
          'the CA is slow or stuck; the next pass retries',
        );
      }
      const retryAfter = takeRetryAfter();
      const asked = retryAfter ? retryAfter.getTime() - Date.now() : 0;
      // One last poll at the deadline rather than a wait past it.
      const upTo = (ms: number) => Math.max(0, Math.min(ms, deadline - Date.now()));
      if (await pause(upTo(Math.max(wait, asked)), asked > 0 ? undefined : wake, opts.signal)) {
        wake = undefined;
        wait = this.shortWaitMs;
        await sleep(upTo(wait), undefined, opts.signal ? { signal: opts.signal } : undefined);
      }
      wait = Math.min(wait * 2, this.polling.maxIntervalMs);
      try {
        const next = await client.getOrder(current);
        current = { ...next, url: current.url };
      } catch (e) {
        throw this.translate(e, `checking the status of ${what}`);
      }
    }
  }

  /**
   * The first wait once the CA is known to be at work (it fetched our answers, or it is signing
   * after finalize): what is left takes it milliseconds, not the seconds a validation can.
   */
  private get shortWaitMs(): number {
    return Math.min(this.polling.intervalMs, SHORT_WAIT_MS);
  }

  /** An invalid order: find the authorizations that failed and say which host failed and why. */
  private async explainInvalidOrder(client: AcmeClient, order: Order, what: string): Promise<AcmeError> {
    let authzs: Authorization[] = [];
    try {
      authzs = await client.getAuthorizations(order);
    } catch {
      // Fall through to the order's own error.
    }
    const failures: { host: string; type: string; detail: string }[] = [];
    for (const a of authzs) {
      if (a.status !== 'invalid') continue;
      const failed = a.challenges.find((c) => (c as { error?: unknown }).error);
      const err = (failed as { error?: { type?: string; detail?: string } } | undefined)?.error;
      failures.push({ host: a.identifier.value, type: shortType(err?.type ?? 'unauthorized'), detail: err?.detail ?? `authorization ${a.status}` });
    }
    if (failures.length === 0) {
      const err = (order as { error?: { type?: string; detail?: string } }).error;
      return new AcmeError(`the CA refused ${what}: ${shortType(err?.type ?? 'unknown')}: ${err?.detail ?? 'order invalid'}`, {
        type: shortType(err?.type ?? 'unknown'),
        detail: err?.detail ?? 'order invalid',
        url: order.url,
      });
    }
    const [first] = failures as [(typeof failures)[number], ...typeof failures];
    const lines = failures.map((f) => `${f.host}: ${f.type}: ${f.detail}`);
    return new AcmeError(
      failures.length === 1
        ? `validation failed for ${first.host} (${first.type}): ${first.detail}`
        : `validation failed for ${failures.length} hosts of ${what}:\n  ${lines.join('\n  ')}`,
      { type: first.type, detail: first.detail, host: first.host, failedHosts: failures.map((f) => f.host), url: order.url },
    );
  }

  /** Any error from acme-client → one of ours, with the problem document when the CA sent one. */
  private translate(e: unknown, action: string): Error {
    if (e instanceof AcmeError || e instanceof CaUnreachableError) return e;
    if (e instanceof Error && e.name === 'AbortError') return e;
    const problem: ProblemRecord | undefined = takeLastProblem();
    const message = e instanceof Error ? e.message : String(e);
    if (problem) {
      const host = problem.subproblems?.find((s) => s.identifier)?.identifier?.value ?? hostInDetail(problem.detail);
      const retry = problem.retryAfter ? ` (retry after ${problem.retryAfter.toISOString()})` : '';
      const p: ConstructorParameters<typeof AcmeError>[1] = { type: problem.type, detail: problem.detail, status: problem.status, url: problem.url };
      if (host) p.host = host;
      if (problem.retryAfter) p.retryAfter = problem.retryAfter;
      return new AcmeError(`${action} failed: ${problem.type}: ${problem.detail}${retry}`, p, undefined, { cause: e });
    }
    return new AcmeError(`${action} failed: ${message}`, { type: 'unknown', detail: message }, undefined, { cause: e });
  }
}

/**
 * Sleeps `ms`, or less when `wake` settles first (then it returns true); rejects with the
 * AbortError on `signal`.
 */
async function pause(ms: number, wake: Promise<unknown> | undefined, signal: AbortSignal | undefined): Promise<boolean> {
  if (!wake) {
    await sleep(ms, undefined, signal ? { signal } : undefined);
    return false;
  }
  let woke = false;
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race([sleep(ms, undefined, { signal: stop.signal }), wake.then(() => (woke = true))]);
  } catch (e) {
    if (signal?.aborted) throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stop.abort();
  }
  return woke;
}

function shortType(type: string): string {
  return type.replace(/^urn:ietf:params:acme:error:/, '');
}

/** CAs name the failing identifier in the detail text ("…for \"bad.example\""); pick it out. */
function hostInDetail(detail: string): string | undefined {
  return /"([a-z0-9.-]+\.[a-z0-9-]+)"/i.exec(detail)?.[1];
}
