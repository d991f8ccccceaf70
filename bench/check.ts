// What do `lint` and `check --probe` cost?
//
//   (a) lint of 10,000 Ingresses in 1,000 multi-document YAML files (a mix of opted-in and plain
//       Ingresses, a few with mistakes), in a child process so that its peak RSS is lint's alone:
//       files/second, Ingresses/second, peak RSS.
//   (a2) lint of one Ingress with 500, 2,000 and 10,000 hosts (a rule and a spec.tls entry for
//       each), once clean and once with every TLS host mistyped (the worst case for the typo
//       search): the whole `certkeeper lint` process as users run it (wall clock), and lint()
//       in a child (wall, CPU, peak RSS). Host matching used to be quadratic (10,000 hosts: minutes).
//   (b) TLS probing of 500 hosts served by one local TLS server (one certificate per SNI name, as an
//       ingress controller with 500 Ingress hosts): probeTls with bounded concurrency against a
//       sequential `openssl s_client` loop over the same hosts (bench/probe.ts).
//   (c) the whole `check --probe` path for those 500 hosts: auditCluster over the in-process
//       Kubernetes API (500 Ingresses, 500 Secrets), every SNI handshake judged against its Secret.
//
// Run: npm run bench:check [ingresses=10000] [hosts=500] [concurrency=20] [ingressHosts=500,2000,10000] [--lint-only]
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { auditCluster } from '../src/audit-live.js';
import { CLI } from '../test/support/cli.js';
import { kubeAuditPort } from '../src/kube/audit-port.js';
import { lint } from '../src/commands/lint.js';
import { Kube } from '../src/kube/cluster.js';
import { DEFAULT_PROBE_CONCURRENCY } from '../src/probe/index.js';
import { startKubeApi } from '../test/support/kube-api/index.js';
import { fakeIngressNginxCert, identityOf, makeCa, makeCert, makeKey, startSniServer, type ServedIdentity } from '../test/support/tls-servers.js';
import { benchProbe } from './probe.js';

const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000 * 10) / 10;
const mib = (kb: number): string => `${(kb / 1024).toFixed(0)} MiB`;

// ---- (a) lint --------------------------------------------------------------------------------

function ingressYaml(i: number): string {
  const ns = `team-${i % 50}`;
  const host = `app-${i}.${ns}.example.com`;
  const managed = i % 2 === 0;
  // One in 100 has a TLS host that no rule routes (a typo), one in 250 the removed v1beta1 API.
  const tlsHost = i % 100 === 7 ? `app-${i}.${ns}.example.co` : host;
  const apiVersion = i % 250 === 3 ? 'extensions/v1beta1' : 'networking.k8s.io/v1';
  return `apiVersion: ${apiVersion}
kind: Ingress
metadata:
  name: app-${i}
  namespace: ${ns}
${managed ? '  annotations:\n    kubernetes.io/tls-acme: "true"\n' : ''}spec:
  ingressClassName: nginx
  tls:
    - hosts: [${tlsHost}]
      secretName: app-${i}-tls
  rules:
    - host: ${host}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: app-${i}
                port:
                  number: 80
`;
}

async function writeCorpus(dir: string, ingresses: number, perFile: number): Promise<number> {
  await mkdir(dir, { recursive: true });
  let files = 0;
  for (let start = 0; start < ingresses; start += perFile) {
    const docs: string[] = [];
    for (let i = start; i < Math.min(start + perFile, ingresses); i++) docs.push(ingressYaml(i));
    await writeFile(join(dir, `ingresses-${String(files).padStart(4, '0')}.yaml`), docs.map((d) => `---\n${d}`).join(''));
    files++;
  }
  return files;
}

interface LintChildFigures {
  ms: number;
  /** User + system CPU time of lint() alone. */
  cpuMs: number;
  findings: number;
  targets: number;
  maxRssKb: number;
}

/** In the child: lint the directory once, report time and peak RSS. */
async function lintChild(dir: string): Promise<void> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = await lint([dir], {});
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const figures: LintChildFigures = {
    ms: Math.round(ms),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    findings: result.findings.length,
    targets: result.targets.length,
    maxRssKb: process.resourceUsage().maxRSS,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

/** One Ingress with `hosts` rules and one spec.tls entry listing them (mistyped: under .co, not .com). */
function oneIngressYaml(hosts: number, mistyped: boolean): string {
  const lines = ['apiVersion: networking.k8s.io/v1', 'kind: Ingress', 'metadata:', '  name: many-hosts', '  namespace: shop', 'spec:', '  ingressClassName: nginx', '  tls:', '    - secretName: many-hosts-tls', '      hosts:'];
  for (let i = 0; i < hosts; i++) lines.push(`        - app-${i}.example.${mistyped ? 'co' : 'com'}`);
  lines.push('  rules:');
  for (let i = 0; i < hosts; i++) {
    lines.push(
      `    - host: app-${i}.example.com`,
      '      http:',
      '        paths:',
      '          - path: /',
      '            pathType: Prefix',
      '            backend:',
      '              service:',
      '                name: app',
      '                port:',
      '                  number: 80',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Wall-clock time of the whole `certkeeper lint FILE` process (start-up, read, parse, lint, output). */
function timeLintProcess(file: string): Promise<{ ms: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, 'lint', '-o', 'json', file], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Math.round(performance.now() - t0), code }));
  });
}

interface IngressHostsFigures {
  hosts: number;
  mistyped: boolean;
  bytes: number;
  processMs: number;
  exitCode: number | null;
  lint: LintChildFigures;
}

async function benchHostsInOneIngress(dir: string, scales: readonly number[]): Promise<IngressHostsFigures[]> {
  const out: IngressHostsFigures[] = [];
  for (const hosts of scales) {
    for (const mistyped of [false, true]) {
      const file = join(dir, `ingress-${hosts}${mistyped ? '-mistyped' : ''}.yaml`);
      const text = oneIngressYaml(hosts, mistyped);
      await writeFile(file, text);
      const proc = await timeLintProcess(file);
      const lintFigures = await runLintChild(file);
      const f: IngressHostsFigures = { hosts, mistyped, bytes: Buffer.byteLength(text), processMs: proc.ms, exitCode: proc.code, lint: lintFigures };
      console.log(
        `lint, hosts in one Ingress: ${hosts} hosts${mistyped ? ', every TLS host mistyped' : ''} (${(f.bytes / 1e6).toFixed(1)} MB): ` +
          `certkeeper lint process ${f.processMs} ms (exit ${f.exitCode}); lint() ${lintFigures.ms} ms wall, ${lintFigures.cpuMs} ms CPU, ` +
          `${lintFigures.findings} findings, peak RSS ${mib(lintFigures.maxRssKb)}`,
      );
      out.push(f);
    }
  }
  return out;
}

function runLintChild(dir: string): Promise<LintChildFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--lint-child', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out) as LintChildFigures);
      } catch {
        reject(new Error(`lint child exited with ${code}: ${out}`));
      }
    });
  });
}

// ---- (c) check --probe end to end ------------------------------------------------------------

async function benchCheckProbe(hosts: number, concurrency: number): Promise<{ ms: number; handshakes: number; handshakesPerSecond: number; findings: Record<string, number> }> {
  const api = await startKubeApi({ namespaces: ['certkeeper', 'shop'] });
  const key = makeKey();
  const root = makeCa('certkeeper check bench root', undefined, key);
  const intermediate = makeCa('certkeeper check bench intermediate', root, key);
  const byName = new Map<string, ServedIdentity>();
  for (let i = 0; i < hosts; i++) {
    const host = `h${i}.check.certkeeper.test`;
    const cert = makeCert({ cn: host, sans: [host], issuer: intermediate, key });
    byName.set(host, identityOf(cert));
    api.create({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { namespace: 'shop', name: `h${i}` },
      spec: {
        ingressClassName: 'nginx',
        tls: [{ hosts: [host], secretName: `h${i}-tls` }],
        rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }],
      },
    });
    // tls.crt holds leaf + intermediate, as ACME clients write fullchain.pem.
    api.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { namespace: 'shop', name: `h${i}-tls` },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': Buffer.from(cert.chainPem).toString('base64'), 'tls.key': Buffer.from(key.pem).toString('base64') },
    });
  }
  const server = await startSniServer({ byName, fallback: identityOf(fakeIngressNginxCert(key)) });
  try {
    const kube = new Kube(api.kubeConfig());
    const t0 = performance.now();
    const result = await auditCluster(kubeAuditPort(kube), {
      now: new Date(),
      probe: { address: { host: '127.0.0.1', port: server.port }, caBundle: root.pem, timeoutMs: 5000, concurrency },
    });
    const ms = performance.now() - t0;
    const findings: Record<string, number> = {};
    for (const f of result.findings) findings[f.code] = (findings[f.code] ?? 0) + 1;
    return { ms: Math.round(ms), handshakes: result.counts.tlsProbes, handshakesPerSecond: rate(result.counts.tlsProbes, ms), findings };
  } finally {
    await server.close();
    await api.close();
  }
}

// ---- main ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const lintOnly = args.includes('--lint-only');
  const positional = args.filter((a) => !a.startsWith('--'));
  const [ingresses = 10_000, hosts = 500, concurrency = DEFAULT_PROBE_CONCURRENCY] = positional.slice(0, 3).map(Number);
  const ingressHosts = (positional[3] ?? '500,2000,10000').split(',').map(Number);
  const dir = await mkdtemp(join(tmpdir(), 'certkeeper-bench-check-'));
  try {
    const perFile = 10;
    const t0 = performance.now();
    const files = await writeCorpus(join(dir, 'manifests'), ingresses, perFile);
    const genMs = Math.round(performance.now() - t0);
    const lintFigures = await runLintChild(join(dir, 'manifests'));
    console.log(
      `lint: ${ingresses} Ingresses in ${files} files (generated in ${genMs} ms): ${lintFigures.ms} ms, ` +
        `${rate(files, lintFigures.ms)} files/s, ${rate(ingresses, lintFigures.ms)} Ingresses/s, ` +
        `${lintFigures.findings} findings, ${lintFigures.targets} targets, peak RSS ${mib(lintFigures.maxRssKb)}`,
    );
    const oneIngress = await benchHostsInOneIngress(dir, ingressHosts);
    if (lintOnly) {
      console.log(JSON.stringify({ lint: { ingresses, files, ...lintFigures }, hostsInOneIngress: oneIngress }));
      return;
    }

    const probe = await benchProbe({ hosts, concurrency });
    console.log(
      `probeTls: ${probe.hosts} hosts, concurrency ${probe.concurrency}: ${probe.probe.ms} ms, ${probe.probe.handshakesPerSecond} handshakes/s ` +
        `(${probe.probe.failures} failed, ${probe.probe.wrongCertificate} wrong)`,
    );
    if (probe.openssl) {
      console.log(
        `openssl s_client loop (sequential): ${probe.openssl.hosts} hosts: ${probe.openssl.ms} ms, ${probe.openssl.handshakesPerSecond} handshakes/s ` +
          `(${probe.openssl.failures} failed, ${probe.openssl.wrongCertificate} wrong); probeTls is ${probe.ratio}× faster`,
      );
    }

    const e2e = await benchCheckProbe(hosts, concurrency);
    console.log(
      `check --probe (auditCluster over the in-process API, ${hosts} Ingresses + Secrets): ${e2e.ms} ms for ${e2e.handshakes} handshakes ` +
        `(${e2e.handshakesPerSecond}/s including the cluster reads); findings: ${JSON.stringify(e2e.findings)}`,
    );
    console.log(JSON.stringify({ lint: { ingresses, files, ...lintFigures }, hostsInOneIngress: oneIngress, probe, checkProbe: e2e }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--lint-child') await lintChild(process.argv[3] ?? '.');
  else await main();
}
