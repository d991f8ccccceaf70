// What acme-client does not do: read the directory's profiles and renewalInfo URL, and ask the CA
// for a certificate's renewal window (RFC 9773 §4.2). Both are unauthenticated GETs through
// acme-client's own axios instance, so they carry its User-Agent (Pebble 2.10 refuses requests
// without one), its CA bundle and keep-alive agent, and our transport interceptor.
import acme from 'acme-client';
import { nextAriCheck, parseRenewalInfo } from '../core/ari.js';
import { errorMessage } from '../errors.js';
import type { CaInfo, RenewalInfoAnswer } from '../ports.js';
import { parseRetryAfter, withAcmeContext } from './transport.js';

interface GetResponse {
  status: number;
  headers: Record<string, unknown>;
  data: unknown;
}

/** A GET that resolves with every HTTP answer; transport failures reject (CaUnreachableError). */
function get(url: string): Promise<GetResponse> {
  // Inside a context of its own, so a 404 here is never taken for the problem of an order.
  return withAcmeContext(async () => {
    const r = await acme.axios.get(url, { validateStatus: () => true, responseType: 'text', transformResponse: (d: unknown) => d });
    return { status: r.status, headers: r.headers as Record<string, unknown>, data: r.data as unknown };
  });
}

/** The directory's facts certkeeper uses beyond RFC 8555: profiles and ARI. */
export async function readDirectory(directoryUrl: string): Promise<CaInfo> {
  const r = await get(directoryUrl);
  if (r.status !== 200) throw new Error(`GET ${directoryUrl} answered ${r.status}`);
  let doc: unknown;
  try {
    doc = JSON.parse(String(r.data));
  } catch {
    throw new Error(`GET ${directoryUrl} did not return a JSON directory`);
  }
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as { renewalInfo?: unknown; meta?: { profiles?: unknown } };
  const info: CaInfo = { directoryUrl };
  if (typeof d.renewalInfo === 'string' && d.renewalInfo !== '') info.renewalInfoUrl = d.renewalInfo;
  const profiles = d.meta?.profiles;
  if (typeof profiles === 'object' && profiles !== null && !Array.isArray(profiles)) {
    const out: Record<string, string> = {};
    for (const [name, description] of Object.entries(profiles as Record<string, unknown>)) out[name] = typeof description === 'string' ? description : '';
    if (Object.keys(out).length > 0) info.profiles = out;
  }
  return info;
}

/** GET {renewalInfo}/{certID}: the window, or why there is none. Never throws. */
export async function fetchRenewalInfo(renewalInfoUrl: string, certId: string, now: () => Date): Promise<RenewalInfoAnswer> {
  const url = `${renewalInfoUrl.replace(/\/+$/, '')}/${certId}`;
  let r: GetResponse;
  try {
    r = await get(url);
  } catch (e) {
    return { kind: 'failed', problem: `GET ${url}: ${errorMessage(e)}`, nextCheck: nextAriCheck(now(), undefined) };
  }
  const retryAfter = parseRetryAfter(r.headers['retry-after'], now());
  const nextCheck = nextAriCheck(now(), retryAfter);
  if (r.status !== 200) {
    let detail = '';
    try {
      const p = JSON.parse(String(r.data)) as { type?: unknown; detail?: unknown };
      detail = `: ${String(p.type ?? '').replace(/^urn:ietf:params:acme:error:/, '')} ${String(p.detail ?? '')}`.trimEnd();
    } catch {
      // Not a problem document; the status says enough.
    }
    return { kind: 'failed', problem: `GET ${url} answered ${r.status}${detail}`, nextCheck };
  }
  const parsed = parseRenewalInfo(String(r.data));
  if (!parsed.ok) return { kind: 'failed', problem: `GET ${url}: ${parsed.problem}`, nextCheck };
  return { kind: 'window', window: parsed.window, nextCheck };
}
