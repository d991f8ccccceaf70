// The status page on the admin port, as an operator sees it: a real `certkeeper run` against the
// example cluster (examples/ applied with real kubectl, Pebble 2.10 with Let's Encrypt's profiles,
// the ingress-nginx stand-in), the page opened in Debian's chromium through playwright-core, and
// the DOM read back. The test saves its screenshot to .tmp/status-page.png, and to the one the README
// shows (docs/status-page.png) when CERTKEEPER_UPDATE_DOCS=1, so a test run leaves the tree clean.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCert } from '../support/certs.js';
import { checkoutRoot } from '../support/checkout.js';
import { CHROMIUM, chromiumMissing } from '../support/chromium.js';
import { CLI } from '../support/cli.js';
import { startClusterEnv, type ClusterEnv } from '../support/cluster-env.js';
import { request } from '../support/http.js';
import { runKubectl } from '../support/kubectl.js';
import { PEBBLE_PROFILES } from '../support/pebble.js';

const ROOT = checkoutRoot();
const SCREENSHOT = process.env.CERTKEEPER_UPDATE_DOCS === '1' ? join(ROOT, 'docs', 'status-page.png') : join(ROOT, '.tmp', 'status-page.png');
const missing = chromiumMissing();
if (missing) console.warn(`status page test skipped: ${missing}`);

let env: ClusterEnv;
let service: { child: ChildProcess; out: () => string; adminPort: number } | undefined;
let browser: Browser | undefined;

async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A hand-made Secret, as `kubectl create secret tls` writes it. */
function tlsSecret(namespace: string, name: string, host: string): Record<string, unknown> {
  const cert = createCert({ subject: host, sans: [host], validDays: 365, keySlot: `status-page-${name}` });
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { namespace, name },
    data: { 'tls.crt': Buffer.from(cert.chain).toString('base64'), 'tls.key': Buffer.from(cert.key).toString('base64') },
  };
}

describe.skipIf(missing !== undefined)('the status page', () => {
  beforeAll(async () => {
    env = await startClusterEnv({ topology: 'controller', pebble: { profiles: PEBBLE_PROFILES } });
    const kubectl = (args: string[]) => runKubectl(args, { kubeconfig: env.kubeconfig, timeoutMs: 30_000 });
    // The examples as the README's demo applies them; 07 is an Ingress API no cluster serves.
    for (const f of readdirSync(join(ROOT, 'examples')).filter((n) => /^0[1-6]-.*\.yaml$/.test(n))) {
      const r = await kubectl(['apply', '-f', join(ROOT, 'examples', f)]);
      expect(r.code, `kubectl apply -f examples/${f}: ${r.stderr}`).toBe(0);
    }
    env.api.create(tlsSecret('default', 'blog-tls', 'blog.example.com'));
    env.api.create(tlsSecret('legacy', 'legacy-tls', 'legacy.example.com'));
    // Profiles, as a user would ask for them; and a value from the cluster that must stay text.
    for (const [ref, profile] of [['shop/shop', 'tlsserver'], ['blog/blog', 'shortlived']] as const) {
      const [ns = '', name = ''] = ref.split('/');
      const r = await kubectl(['annotate', 'ingress', name, '-n', ns, `certkeeper.dev/profile=${profile}`]);
      expect(r.code, r.stderr).toBe(0);
    }
    const bad = await kubectl(['annotate', 'ingress', 'apps', '-n', 'apps', 'certkeeper.dev/key-type=<img src=x onerror=alert(1)>']);
    expect(bad.code, bad.stderr).toBe(0);

    const controller = env.controller;
    if (!controller) throw new Error('no ingress controller');
    const child = spawn(
      process.execPath,
      [CLI, 'run', ...env.flags(), '--http-port', '0', '--http-address', '127.0.0.1', '--admin-port', '0', '--admin-address', '127.0.0.1', '--leader-election', 'false', '--log-format', 'json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const m = await waitFor(async () => /admin port (\d+)/.exec(out) ?? undefined, 20_000, () => `certkeeper run did not start:\n${out}`);
    service = { child, out: () => out, adminPort: Number(m[1]) };
    browser = await chromium.launch({ executablePath: CHROMIUM });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (service && service.child.exitCode === null) {
      const exited = new Promise((r) => service?.child.once('exit', r));
      service.child.kill('SIGTERM');
      await exited;
    }
    await env?.close();
  });

  it('says what it is waiting for before the first pass', async () => {
    // A second replica that runs no pass at start (and none before its hourly tick).
    const child = spawn(
      process.execPath,
      [CLI, 'run', ...env.flags(), '--http-port', '0', '--http-address', '127.0.0.1', '--admin-port', '0', '--admin-address', '127.0.0.1', '--leader-election', 'false', '--run-on-start', 'false'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    try {
      const m = await waitFor(async () => /admin port (\d+)/.exec(out) ?? undefined, 20_000, () => `certkeeper run did not start:\n${out}`);
      const page = await browser!.newPage();
      await page.goto(`http://127.0.0.1:${m[1]}/`);
      expect(await page.textContent('#certificates')).toContain('No pass has finished since this replica started');
      expect(await page.textContent('#passes')).toContain('None yet on this replica');
      await page.close();
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('shows the example cluster after the first pass', async () => {
    const s = service;
    if (!s) throw new Error('no service');
    // The first pass runs at start; the page fills in once it and its audit have finished.
    const html = await waitFor(
      async () => {
        const r = await request(s.adminPort, '/');
        return r.status === 200 && r.body.includes('data-secret="shop/shop-tls" data-state="Valid"') ? r : undefined;
      },
      90_000,
      () => `the page never showed shop/shop-tls as Valid:\n${s.out().slice(-4000)}`,
    );
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(html.headers['content-security-policy']).toContain("default-src 'none'");
    // Read-only: nothing but GET and HEAD.
    expect((await request(s.adminPort, '/', { method: 'POST' })).status).toBe(405);

    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('dialog', (d) => {
      problems.push(`a dialog opened: ${d.message()}`);
      void d.dismiss();
    });
    const url = `http://127.0.0.1:${s.adminPort}/`;
    await page.goto(url);

    // Air-gapped: the document is the only request, and the CSP had nothing to block.
    expect(requests).toEqual([url]);
    expect(problems).toEqual([]);
    expect(await page.title()).toBe('certkeeper status');

    // Every certificate of the example cluster, with its hosts, issuer, profile and state.
    const rows = await page.$$eval('#certificates tbody tr', (trs) =>
      trs.map((tr) => ({
        secret: tr.getAttribute('data-secret'),
        state: tr.getAttribute('data-state'),
        cells: [...tr.querySelectorAll('td')].map((td) => (td as unknown as { innerText: string }).innerText.trim()),
      })),
    );
    const row = (secret: string) => rows.find((r) => r.secret === secret);
    for (const secret of ['shop/shop-tls', 'hyein-ns/hyein-tls', 'hyein-ns/lily-tls', 'blog/blog-tls']) expect(row(secret)?.state, secret).toBe('Valid');
    const shop = row('shop/shop-tls')?.cells ?? [];
    expect(shop[1]).toBe('shop.example.com\nwww.shop.example.com');
    expect(shop[2]).toMatch(/Pebble Intermediate CA/);
    expect(shop[3]).toBe('tlsserver');
    // tlsserver: 45 days, renewed a third of the lifetime before the end.
    expect(Number(shop[5])).toBe(44);
    expect(shop[6]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d\s+in (29|30) days/);
    expect(row('blog/blog-tls')?.cells[3]).toBe('shortlived');
    expect(row('legacy/legacy-tls')?.state).toBe('NotManaged');

    // The timeline: one bar per certificate with dates, a planned renewal marker for each managed one.
    const svg = await page.$eval('#certificates svg', (el) => ({
      bars: el.querySelectorAll('g > rect').length,
      titles: [...el.querySelectorAll('g > title')].map((t) => t.textContent ?? ''),
      text: el.textContent ?? '',
    }));
    expect(svg.titles.some((t) => t.startsWith('shop/shop-tls\nvalid ') && t.includes('renews at '))).toBe(true);
    expect(svg.titles.some((t) => t.startsWith('legacy/legacy-tls\nvalid ') && !t.includes('renews at'))).toBe(true);
    expect(svg.text).toContain('now');
    expect(svg.text).toMatch(/44d left/);

    // Findings by object: the examples' mistakes, each with its hint.
    const objects = await page.$$eval('#findings .object', (els) => els.map((e) => e.textContent));
    expect(objects).toContain('Ingress hskim/minimal-ingress');
    expect(objects).toContain('Secret legacy/legacy-tls');
    const findings = await page.$$eval('#findings li', (lis) => lis.map((li) => ({ code: li.getAttribute('data-code'), text: (li as unknown as { innerText: string }).innerText })));
    expect(findings.find((f) => f.code === 'TlsHostNotRouted')?.text).toContain('hint:');
    expect(findings.some((f) => f.code === 'WildcardHost')).toBe(true);
    // The annotation value from the cluster is shown as text, never parsed as markup.
    expect(findings.find((f) => f.code === 'InvalidAnnotationValue')?.text).toContain('<img src=x onerror=alert(1)>');
    expect(await page.$$('img')).toHaveLength(0);

    // Alerts firing after the pass, and the pass itself.
    const alerts = await page.$$eval('#alerts tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-code')));
    expect(alerts).toContain('SecretNotManaged');
    const passes = await page.$$eval('#passes tbody tr', (trs) => trs.map((tr) => (tr as unknown as { innerText: string }).innerText));
    expect(passes.length).toBeGreaterThanOrEqual(1);
    expect(passes[0]).toMatch(/failures/);
    expect(passes[0]).toMatch(/\d+ issued/);

    // No Secret data on the page: neither key nor certificate PEM.
    const content = await page.content();
    expect(content).not.toContain('PRIVATE KEY');
    expect(content).not.toContain('BEGIN CERTIFICATE');

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  }, 120_000);
});
