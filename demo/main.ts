// `npm run demo`: the README's main job, end to end on one machine. Starts Let's Encrypt's test CA
// (Pebble), an in-process Kubernetes API, an ingress-nginx stand-in and a real `certkeeper serve`,
// applies examples/*.yaml with the real kubectl, runs the real `certkeeper renew`, and shows what
// was issued, what was refused and why, and what the ingress controller serves before and after.
//
// Run by scripts/demo.mjs (which installs, builds and compiles this file to .tmp/demo). Exit 0 when
// the story ran as designed (refusals are expected outcomes), 1 when something unexpected happened.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { displayName } from '../src/core/cert.js';
import { probeTls, type TlsProbeResult } from '../src/probe/tls.js';
import { createCert } from '../test/support/certs.js';
import { startClusterEnv, type ClusterEnv } from '../test/support/cluster-env.js';
import { runKubectl, type RunResult } from '../test/support/kubectl.js';
import { formatTable } from '../src/output/layout.js';
import { outputWidth, wrapLine, wrapText } from './format.js';

const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const FAKE_CN = 'Kubernetes Ingress Controller Fake Certificate';
const MANAGED = 'app.kubernetes.io/managed-by';

/** The checkout: the nearest directory above this file with the examples (works from .tmp/demo too). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'examples')) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the certkeeper checkout (a directory with examples/ and package.json)');
    dir = up;
  }
}

const ROOT = findRoot();
/** The built CLI, the program users run (npm run build; scripts/demo.mjs builds it when needed). */
const CLI = join(ROOT, 'dist', 'cli.js');
const W = outputWidth();
const startedAt = Date.now();

/** Set on Ctrl-C (SIGINT), SIGTERM or SIGHUP: cleanup runs, nothing more is printed. */
let interrupted = false;

/** What the demo expects to happen; every miss is reported and makes the exit code 1. */
const problems: string[] = [];
const expect = (ok: boolean, what: string): void => {
  if (!ok) problems.push(what);
};

// ---------------------------------------------------------------------------------------------
// Output

const print = (line = ''): void => {
  // After Ctrl-C the story is over: whatever the steps still in flight return is not shown.
  if (!interrupted) process.stdout.write(`${line}\n`);
};

function say(text: string, indent = ''): void {
  for (const l of wrapText(text, W - indent.length, 0)) print(`${indent}${l}`);
}

function header(n: number, title: string): void {
  const t = `── ${n}. ${title} `;
  print();
  print(t.padEnd(W, '─'));
}

function showCommand(display: string): void {
  for (const l of wrapLine(`$ ${display}`, W, 4)) print(l);
}

/** A command's output, indented by two spaces, long lines wrapped. */
function showOutput(text: string, indent = '  '): void {
  const body = text.replace(/\s+$/, '');
  if (!body) return;
  for (const l of body.split('\n')) for (const w of wrapLine(l.replace(/\s+$/, ''), W - indent.length)) print(`${indent}${w}`);
}

/** Two-column "name  text" lines with the text wrapped under itself. */
function showDefinitions(rows: [string, string][], indent = '  '): void {
  const left = Math.max(...rows.map(([k]) => k.length)) + 2;
  for (const [k, v] of rows) {
    const lines = wrapText(v, W - indent.length - left, 0);
    lines.forEach((l, i) => print(`${indent}${(i === 0 ? k : '').padEnd(left)}${l}`));
  }
}

// ---------------------------------------------------------------------------------------------
// Processes and cleanup

const children = new Set<ChildProcess>();
let envStarting: Promise<ClusterEnv> | undefined;
let gatewayEnvStarting: Promise<ClusterEnv> | undefined;
let tmp: string | undefined;
let stopping = false;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The built CLI (dist/cli.js) as a real process, as users run it. */
function certkeeper(args: string[], timeoutMs = 60_000): Promise<Run> {
  if (stopping) return Promise.reject(new Error('the demo is stopping'));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      // COLUMNS: the CLI lays its text and tables out for the width left inside the demo's indent.
      env: { ...process.env, CERTKEEPER_LOG_LEVEL: 'info', CERTKEEPER_LOG_FORMAT: 'text', COLUMNS: String(W - 2) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

async function cleanup(): Promise<void> {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  for (const starting of [envStarting, gatewayEnvStarting]) {
    const env = await starting?.catch(() => undefined);
    await env?.close().catch((e: unknown) => console.error(`demo: stopping the local world failed: ${(e as Error).message}`));
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  console.error(`\ndemo: ${signal}: stopping Pebble, certkeeper serve, the ingress controller and the local API…`);
  // Whatever happens, do not hang on the way out.
  setTimeout(() => process.exit(signal === 'SIGINT' ? 130 : 143), 10_000).unref();
  void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

// ---------------------------------------------------------------------------------------------
// Helpers for the story

/** The examples' hosts worth looking at in the browser's place; the wildcard through one name under it. */
const PROBED_HOSTS = [
  'shop.example.com',
  'www.shop.example.com',
  'hyein.example.com',
  'lily.example.com',
  'blog.example.com',
  'legacy.example.com',
  'hskim.example.com',
  'www.apps.example.com',
];
const EXPECTED_ISSUED: [string, string[]][] = [
  ['shop/shop-tls', ['shop.example.com', 'www.shop.example.com']],
  ['hyein-ns/hyein-tls', ['hyein.example.com']],
  ['hyein-ns/lily-tls', ['lily.example.com']],
  ['blog/blog-tls', ['blog.example.com']],
];

const day = (d: Date): string => d.toISOString().slice(0, 10);

function servedRow(host: string, r: TlsProbeResult): string[] {
  const mark = r.ok && r.authorized ? '✓' : '✗';
  if (!r.ok) return [mark, host, `no TLS handshake: ${r.error} ${r.message}`, '', ''];
  const leaf = r.leaf;
  const what = leaf.subjectCN === FAKE_CN ? `"${FAKE_CN}"` : leaf.sans.length > 0 ? leaf.sans.join(', ') : displayName(leaf);
  const by = leaf.selfSigned ? 'self-signed' : (leaf.issuerCN ?? leaf.issuer);
  return [mark, host, what, by, day(leaf.notAfter)];
}

async function served(env: ClusterEnv, host: string, caBundle?: string): Promise<TlsProbeResult> {
  const controller = env.controller;
  if (!controller) throw new Error('no ingress controller');
  return probeTls({ address: { host: '127.0.0.1', port: controller.httpsPort }, servername: host, timeoutMs: 5000, ...(caBundle ? { caBundle } : {}) });
}

function showServed(results: [string, TlsProbeResult][]): void {
  const table = { head: ['', 'HOST', 'SERVED CERTIFICATE FOR', 'ISSUER', 'NOT AFTER'], rows: results.map(([h, r]) => servedRow(h, r)) };
  for (const l of formatTable(table.head, table.rows, W - 2)) print(`  ${l}`);
}

/**
 * `renew`'s stdout, told once: the log above already named every certificate and finding, so
 * only the summary line is shown; the table and findings below it are there for scripts and CI.
 */
function showPassSummary(stdout: string): void {
  const [summary = ''] = stdout.trimStart().split('\n');
  showOutput(summary);
  say('(stdout goes on with a table of these certificates and the findings again, for a terminal without the log; `-o json` gives the same for programs)', '  ');
}

/** Findings text without the message and hint lines: object, severity, code, host. */
function briefFindings(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^ {6,}\S/.test(l))
    .join('\n');
}

interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

/** pino-pretty's single-line text format: `[HH:MM:ss] LEVEL: message {json}`. */
function parseLog(stderr: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^\[[^\]]*\] (\w+): (.*?)(?: (\{.*\}))?$/.exec(line);
    if (!m) {
      if (line.trim()) out.push({ level: '', message: line.trim(), fields: {} });
      continue;
    }
    let fields: Record<string, unknown> = {};
    try {
      fields = m[3] ? (JSON.parse(m[3]) as Record<string, unknown>) : {};
    } catch {
      // not JSON after all: keep the text
    }
    out.push({ level: m[1] ?? '', message: m[2] ?? '', fields });
  }
  return out;
}

function showLog(lines: LogLine[]): void {
  const indent = '  ';
  // "issue shop/shop-tls: the Secret does not exist" is said again by the line that reports the
  // certificate issued (with the same reason): each certificate is shown once.
  for (const l of lines.filter((x) => !(x.level === 'INFO' && /^issue \S+: /.test(x.message)))) {
    const code = l.fields.code ?? l.fields.reason;
    const text = `${l.level.padEnd(5)} ${l.message}${typeof code === 'string' ? ` [${code}]` : ''}`;
    for (const w of wrapLine(text, W - indent.length, 6)) print(`${indent}${w}`);
    if (typeof l.fields.hint === 'string' && l.fields.code === undefined) {
      for (const w of wrapLine(`      hint: ${l.fields.hint}`, W - indent.length)) print(`${indent}${w}`);
    }
  }
}

const secretLabels = (s: unknown): Record<string, string> => ((s as { metadata?: { labels?: Record<string, string> } } | undefined)?.metadata?.labels ?? {});
const secretAnnotations = (s: unknown): Record<string, string> => ((s as { metadata?: { annotations?: Record<string, string> } } | undefined)?.metadata?.annotations ?? {});

function joinNames(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

// ---------------------------------------------------------------------------------------------
// The story

async function main(): Promise<void> {
  // The user's own certkeeper settings must not change what the demo shows.
  for (const k of Object.keys(process.env)) if (k.startsWith('CERTKEEPER_')) delete process.env[k];
  process.chdir(ROOT);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run demo\` (it builds first) or \`npm run build\``);

  // `lint` needs no cluster: start it now, show it in step 4 (a node process takes a second or two to start).
  const lintRun = certkeeper(['lint', 'examples/']);
  lintRun.catch(() => undefined);

  say('certkeeper demo: Let\'s Encrypt certificates for Kubernetes Ingresses, end to end on this machine. Nothing leaves it: the CA, the cluster and the ingress controller are local.');

  // 1 ─────────────────────────────────────────────────────────────────────────────────────────
  header(1, 'What is running');
  tmp = await mkdtemp(join(tmpdir(), 'certkeeper-demo-'));
  envStarting = startClusterEnv({ topology: 'controller' });
  const env = await envStarting;
  const controller = env.controller;
  const serve = env.serve;
  if (!controller || !serve) throw new Error('the cluster environment started without its ingress controller or certkeeper serve');
  const kubeconfig = env.kubeconfig;
  const rootFile = join(tmp, 'pebble-root.pem');
  // Temporary files by a short name in the commands shown.
  const names = new Map([[kubeconfig, 'kubeconfig'], [env.pebble.apiCaFile, 'pebble-api-ca.pem'], [rootFile, 'pebble-root.pem']]);
  const shortPath = (a: string): string => names.get(a) ?? (a.startsWith(tmpdir()) ? basename(a) : a);
  showDefinitions([
    ['Pebble', `Let's Encrypt's test CA (the same ACME protocol): ${env.directoryUrl}. A fake DNS answers 127.0.0.1 for every name, so Pebble's HTTP-01 requests go to the ingress controller's "port 80".`],
    ['Kubernetes API', `in-process, enough of the REST API for kubectl and certkeeper: ${env.api.url}`],
    ['ingress controller', `a small ingress-nginx stand-in reading the Ingresses and Secrets: "port 80" = 127.0.0.1:${controller.httpPort}, "port 443" = 127.0.0.1:${controller.httpsPort}`],
    ['certkeeper serve', `a real process (pid ${serve.child.pid ?? '?'}), the chart's HTTP-01 responder behind the Service certkeeper/certkeeper:80 (127.0.0.1:${serve.address.port}); it answers the challenges from a ConfigMap`],
  ]);
  print();
  say('HTTP-01 takes the production path: Pebble → controller → solver Ingress → certkeeper serve.', '  ');

  // 2 ─────────────────────────────────────────────────────────────────────────────────────────
  header(2, 'kubectl apply -f examples/ (good Ingresses and common mistakes)');
  const kubectl = (args: string[], input?: string): Promise<RunResult> => runKubectl(args, { kubeconfig, timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) });
  const handMade = async (name: string, namespace: string, host: string, why: string): Promise<void> => {
    const cert = createCert({ subject: host, sans: [host], validDays: 365, keySlot: `demo-${name}` });
    const crt = join(tmp ?? '', `${name}.crt`);
    const key = join(tmp ?? '', `${name}.key`);
    await writeFile(crt, cert.chain);
    await writeFile(key, cert.key);
    print();
    for (const l of wrapLine(`  # ${why}`, W, 2)) print(l);
    showCommand(`kubectl create secret tls ${name} -n ${namespace} --cert ${basename(crt)} --key ${basename(key)} --dry-run=client -o yaml | kubectl apply -f -`);
    const yaml = await kubectl(['create', 'secret', 'tls', name, '-n', namespace, '--cert', crt, '--key', key, '--dry-run=client', '-o', 'yaml']);
    expect(yaml.code === 0, `kubectl create secret tls ${name} failed: ${yaml.stderr.trim()}`);
    const applied = await kubectl(['apply', '-f', '-'], yaml.stdout);
    showOutput(`${applied.stdout}${applied.stderr}`);
    expect(applied.code === 0, `kubectl apply of the hand-made Secret ${namespace}/${name} failed: ${applied.stderr.trim()}`);
  };
  const files = readdirSync(join(ROOT, 'examples')).filter((f) => /^\d+-.*\.ya?ml$/.test(f)).sort();
  let v1beta1Refusal = '';
  for (const f of files) {
    print();
    showCommand(`kubectl apply -f examples/${f}`);
    const r = await kubectl(['apply', '-f', join('examples', f)]);
    showOutput(`${r.stdout}${r.stderr}`);
    if (f.includes('extensions-v1beta1')) {
      v1beta1Refusal = r.stderr;
      expect(r.code !== 0, `kubectl applied examples/${f}, but extensions/v1beta1 Ingresses should be refused`);
      if (r.code !== 0) {
        say(`→ refused (kubectl exit code ${r.code}): no Kubernetes since 1.22 serves extensions/v1beta1 Ingresses. \`certkeeper lint\` (step 4) says what to write instead.`, '  ');
      }
    } else {
      expect(r.code === 0, `kubectl apply -f examples/${f} failed (exit ${r.code}): ${r.stderr.trim()}`);
    }
    if (f.startsWith('04-')) await handMade('blog-tls', 'default', 'blog.example.com', 'someone made blog-tls by hand, in namespace default (the blog Ingress is in namespace blog):');
    if (f.startsWith('05-')) await handMade('legacy-tls', 'legacy', 'legacy.example.com', 'legacy-tls made by hand from a self-signed certificate, not managed by certkeeper:');
  }

  // 3 ─────────────────────────────────────────────────────────────────────────────────────────
  header(3, 'Before: what the ingress controller serves');
  say(`A TLS handshake with each host as SNI on the controller's port 443, as a browser makes it:`, '');
  print();
  controller.reload();
  const before: [string, TlsProbeResult][] = [];
  for (const h of PROBED_HOSTS) before.push([h, await served(env, h)]);
  showServed(before);
  print();
  say('The controller has no usable certificate for these hosts and serves its own fake one: the browser warning users see, with nothing in the cluster saying why. legacy.example.com gets its hand-made self-signed certificate.', '');
  print();
  say('Why blog.example.com gets it although a Secret blog-tls exists:', '');
  showCommand('certkeeper check --kubeconfig kubeconfig --ingress blog/blog');
  const blogCheck = await certkeeper(['check', '--kubeconfig', kubeconfig, '--ingress', 'blog/blog']);
  showOutput(blogCheck.stdout);
  expect(blogCheck.stdout.includes('SecretInOtherNamespace'), `certkeeper check --ingress blog/blog should explain the stray blog-tls in namespace default (SecretInOtherNamespace); it printed:\n${blogCheck.stdout}${blogCheck.stderr}`);
  const fakeBefore = before.filter(([, r]) => r.ok && r.leaf.subjectCN === FAKE_CN).map(([h]) => h);
  expect(fakeBefore.includes('shop.example.com'), 'before issuance, the controller should serve its fake certificate for shop.example.com');

  // 4 ─────────────────────────────────────────────────────────────────────────────────────────
  header(4, 'certkeeper lint examples/ (no cluster needed; what CI would say)');
  showCommand('certkeeper lint examples/');
  const lint = await lintRun;
  showOutput(briefFindings(lint.stdout));
  showOutput(lint.stderr);
  say(`(exit code ${lint.code}; messages and hints left out here, \`certkeeper check\` below shows them)`, '  ');
  expect(lint.code === 2, `certkeeper lint examples/ exited ${lint.code}, expected 2 (errors found)`);

  // 5 ─────────────────────────────────────────────────────────────────────────────────────────
  header(5, 'certkeeper renew (one pass, a real process)');
  const flags = env.flags();
  showCommand(`certkeeper renew ${flags.map(shortPath).join(' ')}`);
  print('  (kubeconfig and pebble-*.pem are files in a temporary directory)');
  const renewStarted = Date.now();
  const renew = await certkeeper(['renew', ...flags], 60_000);
  const renewSeconds = ((Date.now() - renewStarted) / 1000).toFixed(1);
  const log = parseLog(renew.stderr);
  print();
  print('  The decision log (stderr), one line per decision (the plan\'s "issue …" lines left out: each');
  print('  certificate is shown once, issued):');
  showLog(log);
  print();
  print('  The result (stdout):');
  showPassSummary(renew.stdout);
  print();
  say(
    renew.code === 1
      ? `exit code 1 (after ${renewSeconds} s): \`renew\` exits 1 when anything was refused or failed, so a cron job or CI step notices. Here the refusals are the mistakes in examples/.`
      : `exit code ${renew.code} (after ${renewSeconds} s).`,
    '  ',
  );
  expect(renew.code === 0 || renew.code === 1, `certkeeper renew exited ${renew.code}:\n${renew.stderr.trim()}`);

  // 6 ─────────────────────────────────────────────────────────────────────────────────────────
  header(6, 'The Secrets');
  showCommand(`certkeeper status --kubeconfig kubeconfig --directory ${env.directoryUrl}`);
  const status = await certkeeper(['status', '--kubeconfig', kubeconfig, '--directory', env.directoryUrl]);
  // The CLI laid the table out for the width inside the indent (COLUMNS): every column, cells wrapped.
  showOutput(status.stdout);
  showOutput(status.stderr);
  expect(status.code === 0, `certkeeper status exited ${status.code}: ${status.stderr.trim()}`);
  print();
  showCommand(`kubectl get secrets -A -l ${MANAGED}=certkeeper`);
  const secrets = await kubectl(['get', 'secrets', '-A', '-l', `${MANAGED}=certkeeper`]);
  showOutput(`${secrets.stdout}${secrets.stderr}`);

  // What the store holds is the fact the rest of the story is checked against.
  const issued: string[] = [];
  for (const [ref, hosts] of EXPECTED_ISSUED) {
    const [ns = '', name = ''] = ref.split('/');
    const s = env.api.get(SECRETS, ns, name);
    const ok = s !== undefined && secretLabels(s)[MANAGED] === 'certkeeper' && secretAnnotations(s)['certkeeper.dev/hosts'] !== undefined;
    if (ok) issued.push(`${ref} (${hosts.join(', ')})`);
    expect(ok, `certkeeper renew did not write the Secret ${ref} for ${hosts.join(', ')}`);
  }
  const legacy = env.api.get(SECRETS, 'legacy', 'legacy-tls');
  expect(legacy !== undefined && secretLabels(legacy)[MANAGED] !== 'certkeeper', 'the hand-made Secret legacy/legacy-tls should have been left alone');
  if (issued.length === 0) problems.unshift('nothing was issued: certkeeper renew wrote no Secret');

  // 7 ─────────────────────────────────────────────────────────────────────────────────────────
  header(7, 'After: what the ingress controller serves now');
  const root = await env.pebble.issuingRootPem();
  await writeFile(rootFile, root);
  say('The same handshakes, trusting Pebble\'s root as browsers trust Let\'s Encrypt\'s (✓ = the chain verifies and names the host):', '');
  print();
  const after: [string, TlsProbeResult][] = [];
  for (const h of PROBED_HOSTS) {
    // The controller picks a new Secret up within its poll interval; give it a moment.
    let r = await served(env, h, root);
    for (let i = 0; i < 20 && r.ok && r.leaf.subjectCN === FAKE_CN && issued.some((x) => x.includes(`(${h}`) || x.includes(` ${h}`)); i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await served(env, h, root);
    }
    after.push([h, r]);
  }
  showServed(after);
  print();
  say('The fake certificate is gone for every host certkeeper issued for. hskim.example.com (the typo) and the wildcard still get it, and legacy.example.com keeps its hand-made certificate until someone hands the Secret over with --adopt.', '');
  const verified = (h: string) => after.some(([x, r]) => x === h && r.ok && r.authorized);
  for (const h of ['shop.example.com', 'www.shop.example.com', 'hyein.example.com', 'lily.example.com', 'blog.example.com']) {
    expect(verified(h), `after renew, the controller should serve a trusted certificate for ${h}`);
  }

  // 8 ─────────────────────────────────────────────────────────────────────────────────────────
  header(8, 'certkeeper check --probe: what is still wrong, and how to fix it');
  const checkArgs = ['check', '--kubeconfig', kubeconfig, '--probe', '--probe-address', `127.0.0.1:${controller.httpsPort}`, '--probe-http-address', `127.0.0.1:${controller.httpPort}`, '--ca-bundle', rootFile];
  showCommand(`certkeeper ${checkArgs.map(shortPath).join(' ')}`);
  print('  (--ca-bundle: trust Pebble\'s root, as browsers trust Let\'s Encrypt\'s)');
  const check = await certkeeper(checkArgs, 60_000);
  showOutput(check.stdout);
  showOutput(check.stderr);
  say(`(exit code ${check.code}: ${check.code === 2 ? 'errors remain, the mistakes above' : check.code === 1 ? 'warnings remain' : check.code === 0 ? 'nothing wrong' : 'the check itself failed'})`, '  ');
  expect(check.code !== null && check.code <= 2, `certkeeper check failed (exit ${check.code}): ${check.stderr.trim()}`);

  // 9 ─────────────────────────────────────────────────────────────────────────────────────────
  header(9, 'A Gateway next to the Ingresses (Gateway API)');
  const gateway = await gatewayAct(rootFile);

  // 10 ────────────────────────────────────────────────────────────────────────────────────────
  header(10, 'Summary');
  const codes = new Set(log.map((l) => l.fields.code ?? l.fields.reason).filter((c): c is string => typeof c === 'string'));
  const refused: string[] = [];
  if (codes.has('SecretNotManaged')) refused.push('legacy/legacy-tls, a Secret made by hand, which it never overwrites (SecretNotManaged; `renew --ingress legacy/legacy --adopt --force` hands it over)');
  if (codes.has('TlsHostNotRouted')) refused.push('hskim.example, which no rule routes, likely a typo of hskim.example.com (TlsHostNotRouted)');
  if (codes.has('WildcardHost')) refused.push('*.apps.example.com, as HTTP-01 cannot validate wildcards (WildcardHost)');
  expect(codes.has('SecretNotManaged'), 'the renew log should refuse legacy/legacy-tls with SecretNotManaged');
  expect(codes.has('TlsHostNotRouted'), 'the renew log should refuse hskim.example with TlsHostNotRouted');
  expect(codes.has('WildcardHost'), 'the renew log should refuse *.apps.example.com with WildcardHost');
  const v1beta1 = /no matches for kind "Ingress" in version "extensions\/v1beta1"/.test(v1beta1Refusal);
  say(
    `certkeeper obtained ${issued.length} certificate${issued.length === 1 ? '' : 's'} from the local Let's Encrypt (Pebble), answering HTTP-01 through the ingress controller, and wrote ${issued.length === 1 ? 'it' : 'them'} as kubernetes.io/tls Secrets in each Ingress's own namespace: ${joinNames(issued) || 'none'}. ` +
      `It refused ${refused.length > 0 ? refused.join('; ') : 'nothing'}` +
      `${v1beta1 ? '; and the API server refused examples/07 outright (extensions/v1beta1 Ingresses were removed in Kubernetes 1.22)' : ''}. ` +
      '`certkeeper check` still reports each of these with its fix, and what is wrong with the hand-made Secret. The stray blog-tls in namespace default was why blog.example.com got the fake certificate before the pass. ' +
      `${gateway.issued ? 'The Gateway got its certificate the same way, through an HTTPRoute on its port-80 listener, and the listener hostname typo was refused with the route hostname it likely meant. ' : ''}` +
      'To try it on a real cluster, build and push the image (none is published yet), install the chart naming it, and annotate an Ingress or a Gateway with kubernetes.io/tls-acme: "true":',
    '',
  );
  print();
  print('  docker build -t REGISTRY/certkeeper:TAG . && docker push REGISTRY/certkeeper:TAG');
  print('  helm install certkeeper charts/certkeeper -n certkeeper --create-namespace \\');
  print('    --set image.repository=REGISTRY/certkeeper --set image.tag=TAG \\');
  print('    --set acme.email=you@example.com');
}

/**
 * Step 9: the same story for a Gateway. ingress-nginx was retired in 2026 and the Kubernetes
 * project points its users to the Gateway API; here a Gateway API implementation (the controller
 * stand-in in gateway mode) is the cluster's controller, in a second local world, since the first
 * one's "port 80" belongs to the ingress controller.
 */
async function gatewayAct(rootFile: string): Promise<{ issued: boolean }> {
  say('A second local cluster whose controller is a Gateway API implementation: Gateways and HTTPRoutes instead of Ingresses. The Gateway opts in with the same annotation; each HTTPS listener with a hostname and a certificateRefs Secret is a certificate, and the challenge goes through an HTTPRoute certkeeper attaches to the port-80 listener for the order.', '');
  // Started only now: two worlds starting at once (two Pebbles, two `certkeeper serve`) are slow
  // to start on a small, busy machine.
  gatewayEnvStarting = startClusterEnv({ topology: 'controller', controller: { mode: 'gateway', gateway: { gatewayClass: 'nginx' } } });
  const env = await gatewayEnvStarting;
  const controller = env.controller;
  if (!controller) throw new Error('the Gateway world started without its controller');
  const kubeconfig = env.kubeconfig;
  // This world's Pebble has its own root: trust that one from here on.
  const root = await env.pebble.issuingRootPem();
  await writeFile(rootFile, root);
  const file = 'examples/gateway/08-gateway.yaml';
  print();
  showCommand(`kubectl apply -f ${file}`);
  const applied = await runKubectl(['apply', '-f', file], { kubeconfig, timeoutMs: 30_000 });
  showOutput(`${applied.stdout}${applied.stderr}`);
  expect(applied.code === 0, `kubectl apply -f ${file} failed (exit ${applied.code}): ${applied.stderr.trim()}`);
  const hosts = ['store.example.com', 'api.store.example.com'];
  const probe = (h: string, ca?: string) => probeTls({ address: { host: '127.0.0.1', port: controller.httpsPort }, servername: h, timeoutMs: 5000, ...(ca ? { caBundle: ca } : {}) });
  // The controller programs the listeners within its poll interval.
  for (let i = 0; i < 50; i++) {
    const gw = env.api.get<{ status?: { listeners?: unknown[] } }>({ group: 'gateway.networking.k8s.io', version: 'v1', resource: 'gateways' }, 'store', 'store');
    if ((gw?.status?.listeners?.length ?? 0) === 3) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  print();
  say('Before: what the Gateway serves on port 443', '');
  const before: [string, TlsProbeResult][] = [];
  for (const h of hosts) before.push([h, await probe(h)]);
  showServed(before);
  expect(before.some(([h, r]) => h === 'store.example.com' && r.ok && r.leaf.subjectCN === FAKE_CN), 'before issuance, the Gateway should serve its fake certificate for store.example.com');

  print();
  const flags = env.flags();
  showCommand(`certkeeper renew --gateway store/store ${flags.map((a) => (a === kubeconfig ? 'kubeconfig' : a.startsWith(tmpdir()) ? basename(a) : a)).join(' ')}`);
  const renew = await certkeeper(['renew', '--gateway', 'store/store', ...flags], 60_000);
  showLog(parseLog(renew.stderr).filter((l) => /issue|refuse|skip|ListenerHostnameNotRouted|solver/i.test(`${l.message} ${String(l.fields.code ?? '')}`)));
  print();
  showPassSummary(renew.stdout);
  expect(renew.code === 0, `certkeeper renew --gateway store/store exited ${renew.code}:\n${renew.stderr.trim()}`);
  const issued = env.api.get(SECRETS, 'store', 'store-tls') !== undefined;
  expect(issued, 'certkeeper renew did not write store/store-tls for the Gateway');
  expect(renew.stderr.includes('ListenerHostnameNotRouted'), 'renew should refuse the Gateway listener hostname api.store.example (ListenerHostnameNotRouted)');
  const challenge = controller.requests.find((q) => q.path.startsWith('/.well-known/acme-challenge/') && q.status === 200 && !q.userAgent?.includes('self-check'));
  if (challenge) say(`Pebble's HTTP-01 request for ${challenge.host} went through ${challenge.listener ?? 'the port-80 listener'} to HTTPRoute ${challenge.route ?? '?'} and certkeeper serve; the redirect route on the same listener kept everything else.`, '  ');
  expect(challenge !== undefined, 'Pebble\'s challenge request should have gone through the solver HTTPRoute');

  print();
  say('After: what the Gateway serves now (trusting Pebble\'s root)', '');
  const after: [string, TlsProbeResult][] = [];
  for (const h of hosts) {
    let r = await probe(h, root);
    for (let i = 0; i < 20 && issued && h === 'store.example.com' && r.ok && r.leaf.subjectCN === FAKE_CN; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await probe(h, root);
    }
    after.push([h, r]);
  }
  showServed(after);
  expect(after.some(([h, r]) => h === 'store.example.com' && r.ok && r.authorized), 'after renew, the Gateway should serve a trusted certificate for store.example.com');

  print();
  const checkArgs = ['check', '--kubeconfig', kubeconfig, '--gateway', 'store/store', '--probe', '--probe-address', `127.0.0.1:${controller.httpsPort}`, '--probe-http-address', `127.0.0.1:${controller.httpPort}`, '--ca-bundle', rootFile];
  showCommand(`certkeeper ${checkArgs.map((a) => (a === kubeconfig ? 'kubeconfig' : a === rootFile ? 'pebble-root.pem' : a)).join(' ')}`);
  const check = await certkeeper(checkArgs, 60_000);
  showOutput(check.stdout);
  showOutput(check.stderr);
  expect(check.stdout.includes('ListenerHostnameNotRouted'), `certkeeper check --gateway store/store should report the listener hostname typo; it printed:\n${check.stdout}${check.stderr}`);
  return { issued };
}

let exitCode = 0;
try {
  await main();
  print();
  if (problems.length > 0) {
    exitCode = 1;
    console.error('demo: something did not go as designed:');
    for (const p of problems) for (const l of wrapLine(`  - ${p}`, W, 4)) console.error(l);
  }
} catch (e) {
  exitCode = 1;
  if (!interrupted) {
    console.error(`\ndemo: failed: ${(e as Error)?.stack ?? String(e)}`);
    for (const p of problems) console.error(`  - ${p}`);
  }
} finally {
  if (!interrupted) {
    await cleanup();
    const secs = ((Date.now() - startedAt) / 1000).toFixed(1);
    say(`(demo ${exitCode === 0 ? 'finished' : 'failed'} in ${secs} s; Pebble, certkeeper serve, the controller and the local API are stopped, temp files removed)`);
  }
}
if (!interrupted) process.exit(exitCode);
