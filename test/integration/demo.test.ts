// `npm run demo` tells the README's story: the fake certificate before, certificates issued through
// the ingress controller by a real `certkeeper renew`, the refusals with their reasons, kubectl's
// refusal of extensions/v1beta1, the issued certificate served afterwards — and it stops everything
// it started, also on Ctrl-C. The demo is compiled as scripts/demo.mjs compiles it (into its own
// output directory, so a concurrent `npm run demo` is not disturbed) and run as a real process;
// dist/ must be built (npm test does it).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runHelm } from '../support/kubectl.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, '.tmp', 'demo-test');
const ENTRY = join(OUT, 'demo', 'main.js');
const FAKE_CN = 'Kubernetes Ingress Controller Fake Certificate';

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function startDemo(onStdout?: (all: string, child: ReturnType<typeof spawn>) => void): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Step n's text (between its header and the next), with line wrapping undone. */
function step(out: string, n: number): string {
  const start = out.indexOf(`── ${n}. `);
  const end = out.indexOf(`── ${n + 1}. `);
  if (start < 0) return '';
  return out.slice(start, end < 0 ? undefined : end);
}
const flat = (s: string) => s.replace(/\s+/g, ' ');

function servePid(out: string): number | undefined {
  const m = /certkeeper serve\s+a real process \(pid (\d+)\)/.exec(out);
  return m ? Number(m[1]) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does it)');
  if (!existsSync(ENTRY)) rmSync(join(OUT, '.tsbuildinfo'), { force: true });
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [tsc, '-p', 'tsconfig.demo.json', '--outDir', OUT, '--tsBuildInfoFile', join(OUT, '.tsbuildinfo')], { cwd: ROOT }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tsc -p tsconfig.demo.json failed:\n${stdout}${stderr}`));
      else resolve();
    });
  });
}, 120_000);

describe('npm run demo', () => {
  it('tells the story end to end and exits 0', async () => {
    const r = await startDemo();
    const out = r.stdout;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);

    // 2: kubectl applied the examples; the API server refused the removed extensions/v1beta1 Ingress.
    const applied = flat(step(out, 2));
    expect(applied).toContain('ingress.networking.k8s.io/shop created');
    expect(applied).toContain('secret/blog-tls created');
    expect(applied).toContain('secret/legacy-tls created');
    expect(applied).toContain('no matches for kind "Ingress" in version "extensions/v1beta1"');

    // 3: before, the controller serves its fake certificate.
    const before = step(out, 3);
    expect(before).toMatch(new RegExp(`✗\\s+shop\\.example\\.com\\s+"${FAKE_CN}"`));
    expect(flat(before)).toContain('SecretInOtherNamespace');

    // 5: renew issued shop/shop-tls for both hosts and refused the mistakes, each with its reason.
    const renew = flat(step(out, 5));
    expect(renew).toContain('shop/shop-tls: issued for shop.example.com, www.shop.example.com');
    expect(renew).toMatch(/refuse legacy\/legacy-tls: .*\[SecretNotManaged\]/);
    // Each certificate is told once in this step, not in the plan, the log, a table and a summary.
    for (const secret of ['shop/shop-tls', 'blog/blog-tls', 'hyein-ns/lily-tls']) expect(renew.split(secret).length - 1, secret).toBe(1);
    expect(renew).toContain('[SecretNotManaged]');
    expect(renew).toMatch(/hint: .*--adopt/);
    expect(renew).toContain('it is likely a typo of the rule host "hskim.example.com"');
    expect(renew).toContain('[TlsHostNotRouted]');
    expect(renew).toContain('[WildcardHost]');

    // 6: the Secrets, with hosts, issuer and expiry.
    const secrets = step(out, 6);
    expect(secrets).toMatch(/shop\s+shop-tls\s+shop\.example\.com,\s+\d{4}-\d\d-\d\d/);
    expect(secrets).toMatch(/legacy\s+legacy-\S*\s+legacy\.\S*\s+.*NotManaged/);
    // No column is left out to fit: cells wrap instead.
    expect(secrets).toMatch(/DAYS\s+RENEWS/);
    expect(secrets).not.toContain('left out');
    expect(secrets).toMatch(/shop\s+shop-tls\s+kubernetes\.io\/tls/);

    // 7: after, the issued certificate is served (and verifies against Pebble's root); the refused stay fake.
    const after = step(out, 7);
    expect(after).toMatch(/✓\s+shop\.example\.com\s+shop\.example\.com,\s+Pebble Intermediate CA \w+\s+\d{4}-\d\d-\d\d/);
    expect(after).toMatch(/✓\s+www\.shop\.example\.com\s+shop\.example\.com,/);
    expect(after).toMatch(/✓\s+blog\.example\.com\s+blog\.example\.com\s+Pebble/);
    expect(after).toMatch(/✗\s+hskim\.example\.com\s+"Kubernetes Ingress Controller/);
    expect(after).toMatch(/✗\s+www\.apps\.example\.com\s+"Kubernetes Ingress Controller/);

    // 8: check names what is left, each with a hint.
    const check = flat(step(out, 8));
    for (const code of ['SecretNotManaged', 'TlsHostNotRouted', 'WildcardHost']) expect(check).toContain(code);
    expect(check).toContain('hint:');

    // 9: the summary, and everything stopped.
    // A Gateway in a cluster whose controller is a Gateway API implementation: the same story.
    const gateway = step(out, 9);
    expect(flat(gateway)).toContain('gateway.gateway.networking.k8s.io/store created');
    expect(gateway).toMatch(/✗\s+store\.example\.com\s+"Kubernetes Ingress Controller/);
    expect(flat(gateway)).toContain('store/store-tls: issued for store.example.com');
    expect(flat(gateway)).toMatch(/went through Gateway store\/store http to HTTPRoute (store|certkeeper)\/certkeeper-solver-[0-9a-f]{10}/);
    expect(gateway).toMatch(/✓\s+store\.example\.com\s+store\.example\.com\s+Pebble/);
    expect(flat(gateway)).toContain('ListenerHostnameNotRouted');
    expect(flat(gateway)).toContain('HTTPRoute hostname "api.store.example.com" is likely what was meant');

    const summary = flat(step(out, 10));
    // The chart refuses to render without an image: the line shown must name one, after building it.
    expect(summary).toContain('docker build -t REGISTRY/certkeeper:TAG .');
    expect(summary).toContain('helm install certkeeper charts/certkeeper -n certkeeper --create-namespace \\ --set image.repository=REGISTRY/certkeeper --set image.tag=TAG \\ --set acme.email=you@example.com');
    // …and the chart accepts exactly that line: render it with the real helm.
    const line = /helm install (certkeeper charts\/certkeeper .*?acme\.email=\S+)/.exec(summary)?.[1] ?? '';
    const args = line.replace(/\\/g, ' ').split(/\s+/).filter(Boolean).map((a) => (a === 'charts/certkeeper' ? join(ROOT, 'charts', 'certkeeper') : a));
    const dir = mkdtempSync(join(tmpdir(), 'certkeeper-demo-helm-'));
    try {
      writeFileSync(join(dir, 'kubeconfig'), '');
      const rendered = await runHelm(['template', ...args], { kubeconfig: join(dir, 'kubeconfig') });
      expect(rendered.code, rendered.stderr).toBe(0);
      expect(rendered.stdout).toContain('image: "REGISTRY/certkeeper:TAG"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const pid = servePid(out);
    expect(pid).toBeGreaterThan(0);
    expect(await gone(pid ?? 0)).toBe(true);
  }, 100_000);

  it('stops everything it started on Ctrl-C', async () => {
    let sent = false;
    const r = await startDemo((all, child) => {
      // Interrupt once the world is up and kubectl is at work.
      if (!sent && all.includes('$ kubectl apply -f examples/02')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(sent, r.stdout).toBe(true);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(130);
    expect(r.stderr).toContain('SIGINT: stopping');
    const pid = servePid(r.stdout);
    expect(pid).toBeGreaterThan(0);
    expect(await gone(pid ?? 0)).toBe(true);
  }, 60_000);
});
