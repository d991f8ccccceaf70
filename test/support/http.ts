// Small HTTP helpers the integration tests share: a plain GET with a chosen Host header, and a
// wait for a condition (never for a fixed time).
import http from 'node:http';

export interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET http://127.0.0.1:port/path with `Host: hostHeader` on a fresh connection. */
export function getVia(port: number, hostHeader: string, path: string): Promise<Got> {
  return request(port, path, { host: hostHeader });
}

/** One request to 127.0.0.1:port on a fresh connection; `host` sets the Host header. */
export function request(port: number, path: string, opts: { method?: string; host?: string } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', ...(opts.host ? { headers: { host: opts.host } } : {}), agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls `probe` until `ok` holds. The deadline only turns a condition that never comes into a
 * failure that says what was awaited and what was last seen; it is generous for a loaded machine.
 */
export async function until<T>(what: string, probe: () => T | Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
