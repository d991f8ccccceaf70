// HTTP-01 self-check: fetch http://HOST/.well-known/acme-challenge/<token> the way Let's Encrypt's
// validator (Boulder) does, before spending one of its 5 failed validations per host and hour.
// Boulder's rules, copied here: GET; follow 301/302/303/307/308 to http or https on ports 80/443 only,
// to DNS names only (no IP literals), at most 10 times; https targets are fetched without verifying
// the certificate; the answer is the body with trailing whitespace removed.
import http, { STATUS_CODES, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { describeObject, finding, type Finding, type ObjectRef } from '../core/findings.js';
import { canonicalHost } from '../core/hosts.js';
import { ACME_CHALLENGE_PATH } from '../ports.js';
import { errorMessage } from '../errors.js';

export { ACME_CHALLENGE_PATH };

/** More than any key authorization (~90 bytes); enough to show what else answered. */
export const MAX_BODY_BYTES = 8192;
export const DEFAULT_MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'Mozilla/5.0 (compatible; certkeeper self-check; like Let\'s Encrypt validation server)';

export interface Http01ProbeOptions {
  /** The host being validated; the first URL is http://HOST/.well-known/acme-challenge/TOKEN. */
  host: string;
  token: string;
  /** The key authorization certkeeper publishes for the token. */
  expectedBody: string;
  /** Deadline of each request (connect, headers and body). */
  timeoutMs: number;
  /** Ends a request in flight (a pass told to stop must not wait out a slow controller). */
  signal?: AbortSignal;
  /** Redirects followed before giving up; Let's Encrypt's limit is 10. */
  maxRedirects?: number;
  /**
   * Connect here instead of resolving `host` (e.g. the controller's load balancer IP). Used for every
   * hop whose URL names `host`; `port` stands for URL port 80 (a NodePort, a test server).
   */
  address?: { host: string; port?: number };
  /**
   * The TCP ports dialled when a URL says 80 or 443. The URL, the Host header, SNI and every hop
   * record keep the standard port the validator would use; only the socket goes elsewhere. Tests
   * (which cannot bind 80/443) and port-forwarded setups pass their real ports here.
   */
  ports?: { http?: number; https?: number };
  /** Address for a hostname (redirect targets on other hosts); undefined → the OS resolver. */
  resolve?: (hostname: string) => string | undefined | Promise<string | undefined>;
}

export interface Http01Hop {
  /** The URL as the validator sees it (standard ports). */
  url: string;
  /** Where the socket really went, "ip:port". */
  connectedTo: string;
  status?: number;
  location?: string;
  server?: string;
  contentType?: string;
  /** The start of the body (at most MAX_BODY_BYTES are read). */
  body?: string;
  /** Transport failure: ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENOTFOUND, TLS errors on https hops. */
  error?: { code: string; message: string };
}

export type Http01Outcome = 'Ok' | 'Unreachable' | 'WrongResponse' | 'RedirectLoop' | 'TooManyRedirects' | 'BadRedirect';

export interface Http01ProbeResult {
  host: string;
  /** The first URL. */
  url: string;
  outcome: Http01Outcome;
  /** Every request made, in order; the last one decided the outcome. */
  hops: Http01Hop[];
  /** BadRedirect: why the validator refuses the target. RedirectLoop: the URL seen again. */
  detail?: string;
}

interface Destination {
  host: string;
  port: number;
}

/** The standard port a URL names (80/443 for the schemes' defaults). */
function urlPort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

function bareHostname(url: URL): string {
  // IPv6 literals come bracketed from the URL parser.
  return url.hostname.replace(/^\[|\]$/g, '');
}

async function destinationOf(url: URL, o: Http01ProbeOptions, probed: string): Promise<Destination> {
  const hostname = bareHostname(url);
  const isProbed = hostname === probed;
  const ip = (isProbed ? o.address?.host : undefined) ?? (await o.resolve?.(hostname)) ?? hostname;
  const p = urlPort(url);
  const port = p === 80 ? ((isProbed ? o.address?.port : undefined) ?? o.ports?.http ?? 80) : p === 443 ? (o.ports?.https ?? 443) : p;
  return { host: ip, port };
}

/** Why Let's Encrypt would refuse to follow a redirect to `url`, or undefined when it follows it. */
export function redirectRefusal(url: URL): string | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `only http and https redirect targets are followed, not ${url.protocol.slice(0, -1)}`;
  }
  const p = urlPort(url);
  if (p !== 80 && p !== 443) return `only ports 80 and 443 are followed, not ${p}`;
  if (isIP(bareHostname(url)) !== 0) return 'redirect targets must be DNS names, not IP addresses';
  return undefined;
}

function errorCode(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] };
  return err.code ?? err.errors?.[0]?.code ?? 'EUNKNOWN';
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function fetchOnce(url: URL, dest: Destination, timeoutMs: number, signal?: AbortSignal): Promise<Http01Hop> {
  const connectedTo = dest.host.includes(':') ? `[${dest.host}]:${dest.port}` : `${dest.host}:${dest.port}`;
  const hop: Http01Hop = { url: url.href, connectedTo };
  return new Promise((resolve) => {
    let settled = false;
    let req: http.ClientRequest | undefined;
    const chunks: Buffer[] = [];
    const done = (error?: { code: string; message: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // A stalled or cut body still leaves a status and the bytes read so far.
      if (hop.status !== undefined) hop.body = Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8');
      else if (error) hop.error = error;
      req?.destroy();
      signal?.removeEventListener('abort', onAbort);
      resolve(hop);
    };
    const onAbort = (): void => done({ code: 'ABORTED', message: `stopped while waiting for ${connectedTo} to answer` });
    const timer = setTimeout(
      () => done({ code: 'ETIMEDOUT', message: `timed out after ${timeoutMs} ms waiting for ${connectedTo} to answer` }),
      timeoutMs,
    );
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    const hostname = bareHostname(url);
    const common = {
      host: dest.host,
      port: dest.port,
      method: 'GET',
      path: `${url.pathname}${url.search}`,
      // url.host omits default ports, as a browser's Host header does.
      headers: { Host: url.host, 'User-Agent': USER_AGENT, Accept: '*/*', 'Accept-Encoding': 'identity', Connection: 'close' },
      agent: false as const,
    };
    const onResponse = (res: IncomingMessage): void => {
      hop.status = res.statusCode;
      const location = header(res, 'location');
      const server = header(res, 'server');
      const contentType = header(res, 'content-type');
      if (location !== undefined) hop.location = location;
      if (server !== undefined) hop.server = server;
      if (contentType !== undefined) hop.contentType = contentType;
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_BODY_BYTES) done();
      });
      res.on('end', () => done());
      res.on('error', () => done());
    };
    try {
      req =
        url.protocol === 'https:'
          ? https.request({ ...common, servername: isIP(hostname) === 0 ? hostname : '', rejectUnauthorized: false }, onResponse)
          : http.request(common, onResponse);
    } catch (e) {
      done({ code: errorCode(e), message: errorMessage(e) });
      return;
    }
    req.on('error', (e) => done({ code: errorCode(e), message: e.message }));
    req.end();
  });
}

/** Follows the challenge URL like the validator. Never throws. */
export async function probeHttp01(options: Http01ProbeOptions): Promise<Http01ProbeResult> {
  const probed = canonicalHost(options.host);
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const first = new URL(`http://${probed}${ACME_CHALLENGE_PATH}${options.token}`);
  const hops: Http01Hop[] = [];
  const seen = new Set<string>();
  const result = (outcome: Http01Outcome, detail?: string): Http01ProbeResult => ({
    host: probed,
    url: first.href,
    outcome,
    hops,
    ...(detail !== undefined ? { detail } : {}),
  });
  let url = first;
  for (;;) {
    seen.add(url.href);
    let dest: Destination;
    try {
      dest = await destinationOf(url, options, probed);
    } catch (e) {
      hops.push({ url: url.href, connectedTo: '(unresolved)', error: { code: errorCode(e), message: errorMessage(e) } });
      return result('Unreachable');
    }
    const hop = await fetchOnce(url, dest, options.timeoutMs, options.signal);
    hops.push(hop);
    if (hop.status === undefined) return result('Unreachable');
    if (REDIRECT_STATUSES.has(hop.status)) {
      if (!hop.location) return result('WrongResponse', `${hop.status} redirect without a Location header`);
      let next: URL;
      try {
        next = new URL(hop.location, url);
      } catch {
        return result('BadRedirect', `the Location "${hop.location}" is not a valid URL`);
      }
      const refusal = redirectRefusal(next);
      if (refusal) return result('BadRedirect', `${next.href}: ${refusal}`);
      if (seen.has(next.href)) return result('RedirectLoop', next.href);
      if (hops.length > maxRedirects) return result('TooManyRedirects');
      url = next;
      continue;
    }
    // Boulder compares after trimming trailing whitespace only (a leading newline fails there too).
    if (hop.status === 200 && (hop.body ?? '').trimEnd() === options.expectedBody.trimEnd()) return result('Ok');
    return result('WrongResponse');
  }
}

// ---- judging (pure) ------------------------------------------------------------------------------

function snippet(body: string | undefined, max = 80): string {
  const s = (body ?? '').replace(/\s+/g, ' ').trim();
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

function describeAnswer(hop: Http01Hop): string {
  const parts = [`${hop.status} ${STATUS_CODES[hop.status ?? 0] ?? ''}`.trim()];
  parts.push(hop.server ? `Server: ${hop.server}` : 'no Server header');
  if (hop.contentType) parts.push(`Content-Type: ${hop.contentType}`);
  parts.push(hop.body ? `body starts ${snippet(hop.body)}` : 'empty body');
  return parts.join(', ');
}

function chainText(hops: readonly Http01Hop[]): string {
  const text = (h: Http01Hop): string => `${h.url} (${h.status ?? h.error?.code ?? '?'})`;
  if (hops.length <= 5) return hops.map(text).join(' → ');
  const last = hops[hops.length - 1] as Http01Hop;
  return [...hops.slice(0, 3).map(text), `… ${hops.length - 4} more …`, text(last)].join(' → ');
}

function isPort80(url: string): boolean {
  return urlPort(new URL(url)) === 80;
}

/**
 * Maps a probe result to findings with concrete messages and hints. Ok without redirects → none.
 * TooManyRedirects maps to Http01RedirectLoop and BadRedirect to Http01WrongResponse: to Let's
 * Encrypt both fail the same way, and the message says which it is.
 */
export function judgeHttp01(result: Http01ProbeResult, ctx: { ingressRef: ObjectRef; host: string }): Finding[] {
  const { ingressRef, host } = ctx;
  const { hops } = result;
  const last = hops[hops.length - 1];
  const get = `GET ${result.url}`;
  const redirectHint =
    'exempt /.well-known/acme-challenge/ from the redirect (ingress-nginx does so by default through the ConfigMap key no-tls-redirect-locations: "/.well-known/acme-challenge" — check it is not overridden), or, when a load balancer terminates TLS in front of the controller, set use-forwarded-headers: "true" so the controller sees X-Forwarded-Proto: https instead of redirecting again';
  switch (result.outcome) {
    case 'Ok':
      if (hops.length <= 1) return [];
      return [
        finding(
          'Http01Redirected',
          ingressRef,
          `${get} reaches certkeeper after ${hops.length - 1} redirect(s): ${chainText(hops)}`,
          'Let\'s Encrypt follows up to 10 redirects to ports 80/443, so validation works; an https hop depends on port 443 answering, so exempting /.well-known/acme-challenge/ from redirects removes a way to fail',
          host,
        ),
      ];
    case 'Unreachable': {
      const err = last?.error ?? { code: 'EUNKNOWN', message: 'no response' };
      const via = hops.length > 1 ? ` (redirected: ${chainText(hops)})` : '';
      const what = err.code === 'ETIMEDOUT' ? err.message : `no answer from ${last?.connectedTo ?? result.url}: ${err.code}${err.message.includes(err.code) ? '' : ` (${err.message})`}`;
      let hint: string;
      if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
        hint = `${last ? new URL(last.url).hostname : host} does not resolve: create an A/AAAA record pointing at the ingress controller's load balancer address, and wait for it to propagate`;
      } else if (!last || isPort80(last.url)) {
        hint = `the ingress controller does not answer on port 80 of ${host}. On bare-metal/NodePort installs the controller listens on a high NodePort (e.g. 30080) and nothing forwards port 80: expose port 80 (hostPort/hostNetwork, MetalLB LoadBalancer, or a port-forward on the edge) — Let's Encrypt only validates HTTP-01 on port 80`;
      } else {
        hint = `the redirect to ${last.url} cannot be followed (port 443 does not answer or its TLS handshake fails), and Let's Encrypt would fail the same way: fix port 443, or ${redirectHint}`;
      }
      return [finding('Http01Unreachable', ingressRef, `${get}${via}: ${what}`, hint, host)];
    }
    case 'WrongResponse':
    case 'BadRedirect': {
      if (!last || last.status === undefined) return [];
      if (result.outcome === 'BadRedirect') {
        return [
          finding(
            'Http01WrongResponse',
            ingressRef,
            `${get} is redirected to a target Let's Encrypt will not follow (${result.detail ?? last.location ?? ''}); chain: ${chainText(hops)}`,
            `redirect challenge requests only to http/https URLs of a DNS name on port 80 or 443, or ${redirectHint}`,
            host,
          ),
        ];
      }
      const answered = describeAnswer(last);
      const via = hops.length > 1 ? ` (after ${chainText(hops.slice(0, -1))})` : '';
      const message =
        last.status === 200
          ? `${get} is answered by something other than certkeeper${via}: 200 with a body that is not the key authorization — ${answered}`
          : `${get} does not reach certkeeper${via}: ${result.detail ?? answered}`;
      let hint: string;
      if (ingressRef.kind === 'Gateway' || ingressRef.kind === 'ListenerSet') {
        hint =
          last.status === 200
            ? `another responder answers ${host}${ACME_CHALLENGE_PATH}: a second ACME client's HTTPRoute, an application route, or DNS for ${host} pointing at a different server than the Gateway`
            : `certkeeper's solver HTTPRoute does not take ${host}${ACME_CHALLENGE_PATH}: read its status (kubectl get httproute -A -l certkeeper.dev/solver=true -o yaml) — Accepted=False (NotAllowedByListeners: the port-80 listener's allowedRoutes; NoMatchingParent) or ResolvedRefs=False (RefNotPermitted: the ReferenceGrant in certkeeper's namespace) name the cause; or DNS for ${host} points elsewhere than the Gateway's address`;
      } else if (/default backend/i.test(last.body ?? '')) {
        hint = `the controller's default backend answered: no Ingress rule routes ${host}${ACME_CHALLENGE_PATH} to certkeeper. Check that the solver Ingress's ingressClassName matches the controller that owns ${host} (an ingress-class mismatch makes the controller ignore it)`;
      } else if (last.status === 200) {
        hint = `another responder answers the challenge path: a second ACME client (cert-manager's solver, another certkeeper), an application catch-all, or DNS for ${host} pointing at a different server than the controller`;
      } else {
        hint = `the request reaches a server that does not route ${ACME_CHALLENGE_PATH} to certkeeper: the solver Ingress is not picked up (ingressClassName / kubernetes.io/ingress.class mismatch, or another ingress controller owns this address), or DNS for ${host} points elsewhere (compare \`dig +short ${host}\` with the controller's load balancer address)`;
      }
      return [finding('Http01WrongResponse', ingressRef, message, hint, host)];
    }
    case 'RedirectLoop': {
      const schemes = new Set(hops.map((h) => new URL(h.url).protocol));
      const pingPong = schemes.has('http:') && schemes.has('https:');
      const loop = `${chainText(hops)} → ${result.detail ?? '?'} again`;
      return [
        finding(
          'Http01RedirectLoop',
          ingressRef,
          pingPong
            ? `${get} redirects in an http→https→http loop: ${loop}. Typical when TLS terminates at a load balancer in front of the controller and ssl-redirect/force-ssl-redirect is on: the controller sees plain HTTP on every request`
            : `${get} redirects in a loop: ${loop}`,
          pingPong ? redirectHint : `the redirect rules send the challenge request back to a URL already visited (www↔apex, trailing-slash or path rewrites): ${redirectHint}`,
          host,
        ),
      ];
    }
    case 'TooManyRedirects':
      return [
        finding(
          'Http01RedirectLoop',
          ingressRef,
          `${get} is redirected more than ${hops.length - 1} times (Let's Encrypt gives up after 10): ${chainText(hops)}`,
          redirectHint,
          host,
        ),
      ];
  }
  return [];
}

/** For log lines: "Ingress shop/web shop.example.com: Ok after 1 redirect". */
export function summarizeHttp01(result: Http01ProbeResult, ingressRef: ObjectRef): string {
  const redirects = result.hops.filter((h) => h.status !== undefined && REDIRECT_STATUSES.has(h.status)).length;
  return `${describeObject(ingressRef)} ${result.host}: ${result.outcome}${redirects ? ` after ${redirects} redirect(s)` : ''}`;
}
