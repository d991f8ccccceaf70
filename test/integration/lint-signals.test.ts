// `certkeeper lint` as a real process stops on SIGTERM and SIGINT while it is busy, and says what
// it left undone. The signal is sent once lint has said (with --verbose) that it is reading, never
// after a fixed delay.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../support/cli.js';

const FILES = 2000;
let dir = '';

function ingress(i: number): string {
  return `---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-${i}
  namespace: team-${i % 20}
  annotations: {kubernetes.io/tls-acme: "true"}
spec:
  tls: [{hosts: [app-${i}.example.com], secretName: app-${i}-tls}]
  rules:
    - host: app-${i}.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
`;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\``);
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-lint-signals-'));
  await mkdir(join(dir, 'manifests'));
  for (let f = 0; f < FILES; f++) {
    const docs = Array.from({ length: 5 }, (_, k) => ingress(f * 5 + k)).join('');
    await writeFile(join(dir, 'manifests', `app-${String(f).padStart(4, '0')}.yaml`), docs);
  }
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

interface Run {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once stderr matches. */
  said: (re: RegExp) => Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [CLI, 'lint', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
    for (const w of waiters.filter((x) => x.re.test(err))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    said: (re) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(err)) return resolve();
        waiters.push({ re, resolve });
        void exit.then(() => reject(new Error(`lint exited before saying ${re}; stderr: ${err}`)));
      }),
    exit,
  };
}

describe('lint stops on a signal and says what was left undone', () => {
  it('SIGTERM while reading a large directory: exit 3, "stopped after N of M files"', async () => {
    const run = start(['--verbose', join(dir, 'manifests')]);
    await run.said(new RegExp(`${FILES} files to read\\n[^]*certkeeper lint: read `));
    run.child.kill('SIGTERM');
    const { code } = await run.exit;
    expect(code).toBe(3);
    const m = /certkeeper lint: stopped \(received SIGTERM\) after (\d+) of (\d+) files; the other (\d+) were not read and nothing was linted/.exec(run.stderr());
    expect(m, run.stderr().split('\n').slice(-3).join('\n')).not.toBeNull();
    const [read, total, left] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
    expect(total).toBe(FILES);
    expect(read).toBeGreaterThanOrEqual(1);
    expect(read).toBeLessThan(FILES);
    expect(read + left).toBe(FILES);
    // The files it said it read are the ones it counts, and no findings pretend to be complete.
    expect(run.stderr().match(/certkeeper lint: read /g)?.length).toBe(read);
    expect(run.stdout()).toBe('');
  });

  it('SIGINT while waiting for standard input (a helm template that hangs)', async () => {
    const run = start(['--verbose', '-']);
    run.child.stdin.write('apiVersion: v1\nkind: ConfigMap\n');
    await run.said(/certkeeper lint: reading standard input\n/);
    run.child.kill('SIGINT');
    const { code } = await run.exit;
    expect(code).toBe(3);
    expect(run.stderr()).toContain('certkeeper lint: stopped (received SIGINT) while reading standard input; nothing was linted');
    expect(run.stdout()).toBe('');
  });

  it('without a signal the same directory is linted to the end', async () => {
    const run = start(['-o', 'json', join(dir, 'manifests')]);
    const { code } = await run.exit;
    expect(code).toBe(0);
    expect((JSON.parse(run.stdout()) as { summary: unknown }).summary).toEqual({ errors: 0, warnings: 0, infos: 0 });
  });
});
