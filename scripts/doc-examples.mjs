// Writes docs/examples/check.txt and docs/examples/status.txt: the real output of `certkeeper check
// --probe` and `certkeeper status` on a small example cluster. The cluster is the in-process
// Kubernetes API of the tests; a local TLS server stands in for the ingress controller's HTTPS port
// and a small HTTP server for its port 80, routing the challenge path to a real `certkeeper serve`.
//
// Run: node scripts/doc-examples.mjs   (builds dist/ and the test support code first)
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bootstrap, build, ROOT } from './bootstrap.mjs';

bootstrap({ pebble: false });
build();
const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bench.json'], { cwd: ROOT, stdio: 'inherit' });
if (tsc.status !== 0) process.exit(1);

const support = (p) => import(pathToFileURL(join(ROOT, '.tmp', 'bench', 'test', 'support', p)).href);
const { startKubeApi } = await support('kube-api/index.js');
const { createCA, createCert, ingressNginxFakeCertificate, tlsSecret } = await support('certs.js');
const { startSniServer, startHttpServer } = await support('tls-servers.js');

const CLI = join(ROOT, 'dist', 'cli.js');
const DAY = 86_400_000;
const now = Date.now();
const at = (days) => new Date(now + days * DAY);

const api = await startKubeApi({ namespaces: ['certkeeper', 'shop', 'blog', 'docs', 'legacy'] });
const dir = mkdtempSync(join(tmpdir(), 'certkeeper-doc-examples-'));
const kubeconfig = join(dir, 'kubeconfig');
await api.writeKubeconfig(kubeconfig);
const caFile = join(dir, 'example-ca.pem');

const ca = createCA({ subject: { CN: 'Example Root X1', O: 'Example CA' } });
const r1 = ca.intermediate({ subject: { CN: 'Example R1', O: 'Example CA' } });
writeFileSync(caFile, ca.cert);

function ingress(namespace, name, secretName, hosts, { managed = true, tlsHosts = hosts } = {}) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { namespace, name, ...(managed ? { annotations: { 'kubernetes.io/tls-acme': 'true' } } : {}) },
    spec: {
      ingressClassName: 'nginx',
      tls: [{ hosts: tlsHosts, secretName }],
      rules: hosts.map((host) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } }] } })),
    },
  };
}

// shop: a healthy managed certificate, but the controller serves its fake certificate for www.
const shop = r1.issue({ sans: ['shop.example.com', 'www.shop.example.com'], notBefore: at(-20), notAfter: at(70) });
api.create(ingress('shop', 'web', 'web-tls', ['shop.example.com', 'www.shop.example.com']));
api.create(tlsSecret({ name: 'web-tls', namespace: 'shop', cert: shop, managed: true, annotations: { 'certkeeper.dev/hosts': 'shop.example.com,www.shop.example.com' } }));
// shop: an Ingress certkeeper does not manage, whose Secret was created in the wrong namespace.
api.create(ingress('shop', 'api', 'api-tls', ['api.shop.example.com'], { managed: false }));
api.create(tlsSecret({ name: 'api-tls', namespace: 'default', cert: r1.issue({ sans: ['api.shop.example.com'] }) }));
// blog: inside its renewal window; the controller still serves last season's certificate.
const blogOld = r1.issue({ sans: ['blog.example.org'], notBefore: at(-150), notAfter: at(-60) });
const blog = r1.issue({ sans: ['blog.example.org'], notBefore: at(-65), notAfter: at(25) });
api.create(ingress('blog', 'blog', 'blog-tls', ['blog.example.org']));
api.create(tlsSecret({ name: 'blog-tls', namespace: 'blog', cert: blog, managed: true }));
// docs: never issued: the last attempts failed and certkeeper is backing off.
api.create(ingress('docs', 'docs', 'docs-tls', ['docs.example.org']));
api.create({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { namespace: 'certkeeper', name: 'certkeeper-state' },
  data: {
    'failure.docs.docs-tls': JSON.stringify({
      failures: 2,
      retryAfter: at(1 / 12).toISOString(),
      lastError: 'unauthorized: Invalid response from http://docs.example.org/.well-known/acme-challenge/…: 404',
    }),
  },
});
// legacy: a hand-made self-signed certificate, expired, and a TLS host that is a typo of the rule host.
const legacy = createCert({ sans: ['intranet.example.net'], notBefore: at(-400), notAfter: at(-35) });
api.create(ingress('legacy', 'intranet', 'intranet-tls', ['intranet.example.net'], { managed: false, tlsHosts: ['intranet.example.net', 'intranet.exmaple.net'] }));
api.create(tlsSecret({ name: 'intranet-tls', namespace: 'legacy', cert: legacy }));

const id = (c) => ({ chainPem: c.chain, keyPem: c.key });
const sni = await startSniServer({
  byName: { 'shop.example.com': id(shop), 'blog.example.org': id(blogOld), 'api.shop.example.com': id(ingressNginxFakeCertificate()), 'intranet.example.net': id(legacy) },
  fallback: id(ingressNginxFakeCertificate()),
});

const serve = spawn(process.execPath, [CLI, 'serve', '--kubeconfig', kubeconfig, '--http-port', '0', '--http-address', '127.0.0.1', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
const servePort = await new Promise((resolve, reject) => {
  let out = '';
  serve.stdout.on('data', (c) => {
    out += c.toString();
    const m = /listening on [^\s]+:(\d+)/.exec(out);
    if (m) resolve(Number(m[1]));
  });
  serve.on('exit', (code) => reject(new Error(`certkeeper serve exited with ${code}`)));
});
// Port 80 of the controller: docs.example.org has no route to certkeeper (the controller's default
// backend answers), everything else reaches `certkeeper serve`.
const controller = await startHttpServer((req, res) => {
  if ((req.headers.host ?? '').startsWith('docs.example.org') || !req.url?.startsWith('/.well-known/acme-challenge/')) {
    res.writeHead(404, { server: 'nginx', 'content-type': 'text/html' }).end('<html><head><title>404 Not Found</title></head><body>default backend - 404</body></html>');
    return;
  }
  const up = http.request({ host: '127.0.0.1', port: servePort, path: req.url, headers: req.headers }, (u) => {
    res.writeHead(u.statusCode ?? 502, u.headers);
    u.pipe(res);
  });
  up.on('error', () => res.writeHead(502).end());
  up.end();
});

function run(args, columns = '100') {
  return new Promise((resolve) => {
    // As on a 100-column terminal: the text wraps there, tables wrap their cells.
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CERTKEEPER_LOG_LEVEL: 'warn', COLUMNS: columns }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c.toString()));
    child.stderr.on('data', (c) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

try {
  const shown = (args) => args.map((a) => (a === kubeconfig ? '~/.kube/config' : a === caFile ? 'example-ca.pem' : a)).filter((a, i, all) => a !== '--kubeconfig' && all[i - 1] !== '--kubeconfig');
  const checkArgs = ['check', '--kubeconfig', kubeconfig, '--probe', '--probe-address', `127.0.0.1:${sni.port}`, '--probe-http-address', `127.0.0.1:${controller.port}`, '--ca-bundle', caFile, '--self-check-timeout', '10s'];
  const check = await run(checkArgs);
  const status = await run(['status', '--kubeconfig', kubeconfig]);
  const wide = await run(['status', '--kubeconfig', kubeconfig, '-o', 'wide'], '130');
  mkdirSync(join(ROOT, 'docs', 'examples'), { recursive: true });
  const transcript = (args, r) => `$ certkeeper ${shown(args).join(' ')}\n${r.stderr}${r.stdout}$ echo $?\n${r.code}\n`;
  writeFileSync(join(ROOT, 'docs', 'examples', 'check.txt'), transcript(checkArgs, check));
  writeFileSync(
    join(ROOT, 'docs', 'examples', 'status.txt'),
    `# a 100-column terminal\n${transcript(['status', '--kubeconfig', kubeconfig], status)}\n# a 130-column terminal\n${transcript(['status', '--kubeconfig', kubeconfig, '-o', 'wide'], wide)}`,
  );
  console.log(`wrote docs/examples/check.txt (exit ${check.code}) and docs/examples/status.txt (exit ${status.code})`);
} finally {
  serve.kill('SIGTERM');
  await controller.close();
  await sni.close();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
}
