// `kubectl certkeeper …`: the package's second bin, found on the PATH by the real kubectl, reading
// KUBECONFIG and taking kubectl's --kubeconfig, --context, -n/--namespace and -A as kubectl does.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkoutRoot } from '../support/checkout.js';
import { ingress } from '../support/cluster-env.js';
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';
import { kubectlPath } from '../support/kubectl.js';

const ROOT = checkoutRoot();
let api: KubeApi;
let dir: string;
let bin: string;
let kubeconfig: string;
let twoContexts: string;

/** Real kubectl with our plugin directory first on the PATH; nothing else added to the arguments. */
function kubectl(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      kubectlPath(),
      args,
      { env: { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: dir, COLUMNS: '400', ...env }, timeout: 30_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') reject(err);
        else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

const secretsIn = (stdout: string) =>
  stdout
    .split('\n')
    .slice(1)
    .map((l) => l.split(/\s+/).slice(0, 2).join('/'))
    .filter((s) => /^[a-z0-9-]+\/[a-z0-9-]+$/.test(s));

beforeAll(async () => {
  api = await startKubeApi({ namespaces: ['certkeeper', 'shop', 'blog'] });
  api.create(ingress('shop', 'web', 'shop-tls', ['shop.example.com']));
  api.create(ingress('blog', 'blog', 'blog-tls', ['blog.example.com']));
  dir = mkdtempSync(join(tmpdir(), 'certkeeper-plugin-'));
  kubeconfig = join(dir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  // A second file whose current context points nowhere: only --context makes it work.
  const good = readFileSync(kubeconfig, 'utf8');
  twoContexts = join(dir, 'two-contexts');
  const lines = good.replace('current-context: kube-api', 'current-context: nowhere');
  writeFileSync(
    twoContexts,
    lines
      .replace(/^clusters:\n/m, 'clusters:\n  - name: nowhere\n    cluster:\n      server: https://127.0.0.1:1\n')
      .replace(/^contexts:\n/m, 'contexts:\n  - name: nowhere\n    context:\n      cluster: nowhere\n      user: tester\n'),
    { mode: 0o600 },
  );
  // What `npm install -g certkeeper` does with package.json's bin: a link on the PATH, made executable.
  bin = join(dir, 'bin');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const target = join(ROOT, pkg.bin['kubectl-certkeeper'] ?? 'missing');
  chmodSync(target, 0o755);
  mkdirSync(bin);
  symlinkSync(target, join(bin, 'kubectl-certkeeper'));
});

afterAll(async () => {
  await api?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('kubectl certkeeper', () => {
  it('is a plugin kubectl finds on the PATH', async () => {
    const r = await kubectl(['plugin', 'list'], { KUBECONFIG: kubeconfig });
    expect(r.stdout).toContain(join(bin, 'kubectl-certkeeper'));
    expect(r.stderr).not.toMatch(/warning/i);
    const help = await kubectl(['certkeeper', 'status', '--help'], { KUBECONFIG: kubeconfig });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: kubectl certkeeper status/);
  });

  it('reads KUBECONFIG, and -n narrows to one namespace', async () => {
    const all = await kubectl(['certkeeper', 'status'], { KUBECONFIG: kubeconfig });
    expect(all.code, all.stderr).toBe(0);
    expect(secretsIn(all.stdout)).toEqual(['blog/blog-tls', 'shop/shop-tls']);
    const shop = await kubectl(['certkeeper', 'status', '-n', 'shop'], { KUBECONFIG: kubeconfig });
    expect(secretsIn(shop.stdout)).toEqual(['shop/shop-tls']);
    const blog = await kubectl(['certkeeper', 'status', '-n=blog'], { KUBECONFIG: kubeconfig });
    expect(secretsIn(blog.stdout)).toEqual(['blog/blog-tls']);
  });

  it('takes --kubeconfig and --context, and -A as all namespaces', async () => {
    const wrong = await kubectl(['certkeeper', 'status', '--kubeconfig', twoContexts]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('127.0.0.1:1');
    const right = await kubectl(['certkeeper', 'status', '--kubeconfig', twoContexts, '--context', 'kube-api', '-A']);
    expect(right.code, right.stderr).toBe(0);
    expect(secretsIn(right.stdout)).toEqual(['blog/blog-tls', 'shop/shop-tls']);
    const viaEnv = await kubectl(['certkeeper', 'check', '--context=kube-api', '--namespace', 'shop'], { KUBECONFIG: twoContexts });
    expect(viaEnv.stdout).toContain('Ingress shop/web');
    expect(viaEnv.stdout).not.toContain('blog');
  });
});
