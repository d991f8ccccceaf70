// Who is told about ACME HTTP exchanges (metrics). Apart from transport.ts so that the service can
// listen before, and without, loading the ACME client: a pass with nothing to order never loads it.

/** What was asked, for listeners that count requests by kind. */
export interface AcmeRequestInfo {
  /** Upper case: GET, HEAD, POST. */
  method: string;
  url: string;
}

type ResponseListener = (status: string, request: AcmeRequestInfo) => void;
const responseListeners = new Set<ResponseListener>();

/** Observes every ACME HTTP exchange: "2xx", "4xx", "5xx" or a transport error code (metrics). */
export function onAcmeResponse(fn: ResponseListener): () => void {
  responseListeners.add(fn);
  return () => responseListeners.delete(fn);
}

export function notifyAcmeResponse(status: string, request: AcmeRequestInfo): void {
  for (const fn of responseListeners) fn(status, request);
}
