// Writes docs/examples/status-ari.txt: real output of `certkeeper status` and `certkeeper renew`
// against Debian sid's Pebble 2.10 offering Let's Encrypt's three profiles, after the CA moved one
// certificate's ARI window forward (an incident) through Pebble's management port. The cluster is
// the tests' in-process Kubernetes API; certkeeper answers the challenges itself (--answer-locally).
//
// Run: node scripts/doc-examples-ari.mjs   (builds dist/ and the test support code first)
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bootstrap, build, ROOT } from './bootstrap.mjs';

bootstrap();
build();
const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bench.json'], { cwd: ROOT, stdio: 'inherit' });
if (tsc.status !== 0) process.exit(1);

const support = (p) => import(pathToFileURL(join(ROOT, '.tmp', 'bench', 'test', 'support', p)).href);
const { startClusterEnv, ingress } = await support('cluster-env.js');
const { PEBBLE_PROFILES } = await support('pebble.js');
const { runCertkeeper } = await support('cli.js');

const HOUR = 3_600_000;
const SECRETS = { group: '', version: 'v1', resource: 'secrets' };
const env = await startClusterEnv({ pebble: { profiles: PEBBLE_PROFILES } });
try {
  env.api.ensureNamespace('shop');
  env.api.create(ingress('shop', 'web', 'web-tls', ['shop.example.com', 'www.shop.example.com'], { annotations: { 'certkeeper.dev/profile': 'classic' } }));
  env.api.create(ingress('shop', 'api', 'api-tls', ['api.shop.example.com'], { annotations: { 'certkeeper.dev/profile': 'tlsserver' } }));
  env.api.create(ingress('shop', 'edge', 'edge-tls', ['edge.shop.example.com'], { annotations: { 'certkeeper.dev/profile': 'shortlived' } }));
  const first = await env.renew([]);
  if (first.code !== 0) throw new Error(`renew failed:\n${first.stderr}`);
  // The CA asks for api-tls to be renewed 30 to 40 hours from now (say, a mass revocation ahead).
  const api = env.api.get(SECRETS, 'shop', 'api-tls');
  const pem = Buffer.from(api.data['tls.crt'], 'base64').toString('utf8');
  const start = new Date(Math.floor(Date.now() / HOUR) * HOUR + 30 * HOUR);
  await env.pebble.setRenewalInfo(pem, { start, end: new Date(start.getTime() + 10 * HOUR), explanationURL: 'https://status.example.net/incident-2041' });
  // The next pass after the CA's Retry-After (6 h) records the new window on the Secret.
  const record = await env.renew(['--clock-offset', '7h']);
  if (record.code !== 0) throw new Error(`renew failed:\n${record.stderr}`);
  // 42 hours on: status, then the pass that renews.
  const clock = ['--clock-offset', '42h'];
  const status = await runCertkeeper(['status', '--kubeconfig', env.kubeconfig, '--directory', env.directoryUrl, '-o', 'wide', ...clock], { env: { CERTKEEPER_LOG_LEVEL: 'warn', COLUMNS: '130' } });
  const renew = await runCertkeeper(['renew', ...env.flags(['--log-level', 'warn', ...clock])]);
  const transcript = (cmd, r) => `$ ${cmd}\n${r.stderr}${r.stdout}$ echo $?\n${r.code}\n`;
  mkdirSync(join(ROOT, 'docs', 'examples'), { recursive: true });
  writeFileSync(
    join(ROOT, 'docs', 'examples', 'status-ari.txt'),
    `# Pebble 2.10 with classic, tlsserver and shortlived; 42 hours after issuance (--clock-offset 42h).\n` +
      `# The CA moved api-tls's ARI window to ${start.toISOString()} + 10 h, with an explanation.\n` +
      transcript('certkeeper status -o wide   # a 130-column terminal', status) +
      transcript('certkeeper renew', renew),
  );
  console.log(`wrote docs/examples/status-ari.txt (status exit ${status.code}, renew exit ${renew.code})`);
} finally {
  await env.close();
}
