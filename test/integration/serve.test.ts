// `certkeeper serve` in-process against the in-process Kubernetes API: tokens come from the
// challenge ConfigMap, answered ones are logged one by one, unknown ones summed up in one line,
// and the connection cap setting reaches the responder.
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runServe } from '../../src/commands/serve.js';
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';

const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const KEY_AUTH = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;

let api: KubeApi;
let dir: string;

beforeAll(async () => {
  api = await startKubeApi({ namespaces: ['certkeeper'] });
  api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'certkeeper-challenges', namespace: 'certkeeper' }, data: { [TOKEN]: KEY_AUTH } });
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-serve-'));
});
afterAll(async () => {
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('certkeeper serve', () => {
  it('logs an answered token at once and unknown tokens as one summary line', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig);
    const logs = new PassThrough();
    let logText = '';
    logs.on('data', (c: Buffer) => (logText += c.toString('utf8')));
    let stdout = '';
    const controller = new AbortController();
    const exit = runServe(
      { kubeconfig, selfNamespace: 'certkeeper', httpPort: '0', httpAddress: '127.0.0.1', httpMaxConnections: '2', logFormat: 'json' },
      { stdout: (t) => (stdout += t), stderr: () => undefined, stdin: process.stdin, env: {}, logStream: logs, signal: controller.signal },
    );
    const port = await vi.waitFor(
      () => {
        const m = /listening on [^:]+:(\d+)/.exec(stdout);
        if (!m) throw new Error('not listening yet');
        return Number(m[1]);
      },
      { timeout: 10_000, interval: 20 },
    );
    // As a validator asks: the certificate's host name in Host, the server's address on the wire.
    const get = (token: string) =>
      new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port, agent: false, path: `/.well-known/acme-challenge/${token}`, headers: { host: 'shop.example.com' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
          .on('error', reject)
          .end();
      });
    expect(await get(TOKEN)).toBe(200);
    for (let i = 0; i < 5; i++) expect(await get(`unknown${i}`)).toBe(404);

    // --http-max-connections 2: two idle connections fill it, a third is closed unanswered.
    const opened = (): Promise<Socket> =>
      new Promise((resolve) => {
        const s = connect(port, '127.0.0.1', () => resolve(s));
      });
    const held = [await opened(), await opened()];
    const extra = await opened();
    const closed = await new Promise<string>((resolve) => {
      let got = '';
      extra.on('data', (c: Buffer) => (got += c.toString('latin1')));
      extra.on('error', () => undefined);
      extra.on('close', () => resolve(got));
    });
    expect(closed).toBe('');
    for (const s of held) s.destroy();
    controller.abort();
    expect(await exit).toBe(0);

    const lines = logText
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l['msg'] === 'answered challenge')).toHaveLength(1);
    expect(lines.filter((l) => String(l['msg']).includes('unknown'))).toEqual([
      expect.objectContaining({
        unknownTokenRequests: 5,
        addresses: 1,
        msg: expect.stringMatching(/^5 requests for unknown tokens in the last \d+ s from 1 address; e\.g\. shop\.example\.com\/\.well-known\/acme-challenge\/unknown0 from 127\.0\.0\.1/),
      }),
    ]);
  });
});
