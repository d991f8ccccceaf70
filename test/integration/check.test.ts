// `certkeeper check` as a real process against the in-process Kubernetes API: Secrets of every kind
// the audit knows, real TLS servers standing in for the ingress controller, HTTP servers answering
// (or not) the HTTP-01 path, and a real `certkeeper serve` behind a proxy.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA, createCert, generateTestKey, ingressNginxFakeCertificate, tlsSecret, traefikDefaultCertificate, type TestCA, type TestCert } from '../support/certs.js';
import { CLI, runCertkeeper, type CliResult } from '../support/cli.js';
import { startServe, type ServeProcess } from '../support/cluster-env.js';
import { startKubeApi, type KubeApi } from '../support/kube-api/index.js';
import { closedPort, startHttpServer, startHttpsServer, startSniServer, type RunningServer, type SniServer } from '../support/tls-servers.js';

const DAY = 86_400_000;
const INGRESSES = { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses' };
const CONFIGMAPS = { group: '', version: 'v1', resource: 'configmaps' };

interface JsonFinding {
  code: string;
  severity: string;
  object: { kind: string; namespace?: string; name: string };
  host?: string;
  message: string;
  hint: string;
}
interface CheckJson {
  findings: JsonFinding[];
  summary: { errors: number; warnings: number; infos: number };
}

let api: KubeApi;
let dir: string;
let kubeconfig: string;
let ca: TestCA;
let intermediate: TestCA;
const servers: RunningServer[] = [];
const now = new Date();

function ingress(namespace: string, name: string, secretName: string, hosts: string[], opts: { managed?: boolean; tlsHosts?: string[] } = {}): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { namespace, name, ...(opts.managed ? { annotations: { 'kubernetes.io/tls-acme': 'true' } } : {}) },
    spec: {
      ingressClassName: 'nginx',
      tls: [{ hosts: opts.tlsHosts ?? hosts, secretName }],
      rules: hosts.map((host) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } })),
    },
  };
}

const leaf = (hosts: string[], extra: Parameters<TestCA['issue']>[0] = {}): TestCert => intermediate.issue({ sans: hosts, ...extra });

async function check(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult & { json?: CheckJson }> {
  // A wide terminal: findings stay on one line here (test/unit/layout.test.ts covers wrapping).
  const r = await runCertkeeper(['check', '--kubeconfig', kubeconfig, ...args], { ...opts, env: { COLUMNS: '400' } });
  try {
    return { ...r, json: JSON.parse(r.stdout) as CheckJson };
  } catch {
    return r;
  }
}

function only(json: CheckJson | undefined, code: string): JsonFinding[] {
  return (json?.findings ?? []).filter((f) => f.code === code);
}

beforeAll(async () => {
  api = await startKubeApi({ namespaces: ['certkeeper'] });
  dir = await mkdtemp(join(tmpdir(), 'certkeeper-check-'));
  kubeconfig = join(dir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  ca = createCA({ subject: { CN: 'certkeeper check test root', O: 'certkeeper tests' } });
  intermediate = ca.intermediate({ subject: { CN: 'certkeeper check test intermediate', O: 'certkeeper tests' } });
  await writeFile(join(dir, 'ca.pem'), ca.cert);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('certkeeper check: Secrets', () => {
  const ns = 'audit';
  const h = (label: string) => `${label}.audit.example.test`;

  beforeAll(() => {
    api.ensureNamespace(ns);
    api.ensureNamespace('elsewhere');
    const add = (name: string, hosts: string[], secret: Record<string, unknown> | undefined, managed = false) => {
      api.create(ingress(ns, name, `${name}-tls`, hosts, { managed }));
      if (secret) api.create({ ...secret, metadata: { ...(secret.metadata as object), namespace: ns } });
    };
    add('good', [h('good')], tlsSecret({ name: 'good-tls', cert: leaf([h('good')]) }));
    add('missing', [h('missing')], undefined);
    add('moved', [h('moved')], undefined);
    api.create(tlsSecret({ name: 'moved-tls', namespace: 'elsewhere', cert: leaf([h('moved')]) }));
    add('opaque', [h('opaque')], tlsSecret({ name: 'opaque-tls', cert: leaf([h('opaque')]), type: 'Opaque' }));
    // The API server insists on both keys in a kubernetes.io/tls Secret; an empty value gets through.
    add('nokey', [h('nokey')], tlsSecret({ name: 'nokey-tls', cert: leaf([h('nokey')]), key: '' }));
    add('garbage', [h('garbage')], tlsSecret({ name: 'garbage-tls', crt: 'not a certificate', key: 'not a key' }));
    add('mismatch', [h('mismatch')], tlsSecret({ name: 'mismatch-tls', cert: leaf([h('mismatch')]), key: generateTestKey('ecdsa-p256').pem }));
    add('leafonly', [h('leafonly')], tlsSecret({ name: 'leafonly-tls', cert: leaf([h('leafonly')]), leafOnly: true }));
    add('expired', [h('expired')], tlsSecret({ name: 'expired-tls', cert: leaf([h('expired')], { notBefore: new Date(now.getTime() - 100 * DAY), notAfter: new Date(now.getTime() - 10 * DAY) }) }));
    // 90-day lifetime, 20 days left: inside the last third.
    add('nearexpiry', [h('nearexpiry')], tlsSecret({ name: 'nearexpiry-tls', cert: leaf([h('nearexpiry')], { notBefore: new Date(now.getTime() - 70 * DAY), notAfter: new Date(now.getTime() + 20 * DAY) }) }));
    add('sans', [h('sans'), h('www.sans'), h('api.sans')], tlsSecret({ name: 'sans-tls', cert: leaf([h('sans')]) }));
    add('selfsigned', [h('selfsigned')], tlsSecret({ name: 'selfsigned-tls', cert: createCert({ sans: [h('selfsigned')] }) }));
    add('nginxfake', [h('nginxfake')], tlsSecret({ name: 'nginxfake-tls', cert: ingressNginxFakeCertificate() }));
    add('traefik', [h('traefik')], tlsSecret({ name: 'traefik-tls', cert: traefikDefaultCertificate() }));
    // Managed: an existing Secret certkeeper did not create, and a failure record.
    add('adopt', [h('adopt')], tlsSecret({ name: 'adopt-tls', cert: leaf([h('adopt')]) }), true);
    add(
      'backoff',
      [h('backoff')],
      tlsSecret({
        name: 'backoff-tls',
        cert: leaf([h('backoff')], { notBefore: new Date(now.getTime() - 70 * DAY), notAfter: new Date(now.getTime() + 20 * DAY) }),
        managed: true,
        annotations: { 'certkeeper.dev/failures': '2', 'certkeeper.dev/retry-after': new Date(now.getTime() + 2 * 3_600_000).toISOString(), 'certkeeper.dev/last-error': 'rateLimited: too many certificates' },
      }),
      true,
    );
  });

  it('reports every kind of broken Secret with its code, object and host', async () => {
    api.resetRequests();
    const r = await check(['--namespace', ns, '-o', 'json']);
    expect(r.code, r.stderr).toBe(2);
    const json = r.json as CheckJson;
    const on = (name: string) => json.findings.filter((f) => f.object.kind === 'Secret' && f.object.namespace === ns && f.object.name === `${name}-tls`).map((f) => f.code);
    expect(on('good')).toEqual([]);
    expect(on('missing')).toEqual(['SecretMissing']);
    expect(on('moved')).toEqual(['SecretInOtherNamespace']);
    expect(on('opaque')).toEqual(['SecretWrongType']);
    expect(on('nokey')).toEqual(['SecretKeysMissing']);
    expect(on('garbage')).toEqual(['CertificateUnparsable']);
    expect(on('mismatch')).toEqual(['KeyMismatch']);
    expect(on('leafonly')).toEqual(['ChainIncomplete']);
    expect(on('expired')).toEqual(['CertificateExpired']);
    expect(on('nearexpiry')).toEqual(['CertificateNearExpiry']);
    expect(on('sans')).toEqual(['SansNotCoveringHosts', 'SansNotCoveringHosts']);
    expect(on('selfsigned')).toEqual(['SelfSignedCertificate']);
    expect(on('nginxfake')).toEqual(['DefaultCertificateInSecret']);
    expect(on('traefik')).toEqual(['DefaultCertificateInSecret']);
    expect(on('adopt')).toEqual(['SecretNotManaged']);
    expect(on('backoff').sort()).toEqual(['CertificateNearExpiry', 'IssuanceBackoff']);

    const byCode = (code: string, name: string) => only(json, code).find((f) => f.object.name === `${name}-tls`) as JsonFinding;
    expect(byCode('SecretInOtherNamespace', 'moved').message).toMatch(/exists in namespace elsewhere but not in audit; an Ingress can only use Secrets of its own namespace/);
    expect(byCode('SecretWrongType', 'opaque').message).toContain('has type Opaque, not kubernetes.io/tls');
    const sans = only(json, 'SansNotCoveringHosts').filter((f) => f.object.name === 'sans-tls');
    expect(sans.map((f) => f.host).sort()).toEqual([h('api.sans'), h('www.sans')]);
    expect(sans[0]?.message).toContain(`uncovered: ${h('api.sans')}, ${h('www.sans')}`);
    expect(byCode('DefaultCertificateInSecret', 'nginxfake').message).toMatch(/Fake Certificate/i);
    expect(byCode('DefaultCertificateInSecret', 'traefik').message).toMatch(/TRAEFIK DEFAULT CERT/i);
    expect(byCode('IssuanceBackoff', 'backoff').message).toContain('rateLimited: too many certificates');
    expect(json.summary.errors).toBeGreaterThan(0);

    // Lists only: the TLS list, then one list per Secret name missing from it (missing, moved,
    // opaque), never a GET per object.
    const secretCalls = api.requests.filter((q) => q.resource === 'secrets');
    expect(secretCalls.filter((q) => q.verb === 'get')).toEqual([]);
    expect(secretCalls.filter((q) => q.query.fieldSelector === 'type=kubernetes.io/tls')).toHaveLength(1);
    expect(secretCalls.filter((q) => q.query.fieldSelector?.startsWith('metadata.name=')).map((q) => q.query.fieldSelector).sort()).toEqual([
      'metadata.name=missing-tls',
      'metadata.name=moved-tls',
      'metadata.name=opaque-tls',
    ]);
    expect(api.requests.filter((q) => q.method !== 'GET')).toEqual([]);
  });

  it('prints GitHub Actions annotations with -o github', async () => {
    const r = await check(['--ingress', `${ns}/missing`, '-o', 'github']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toMatch(/^::error title=SecretMissing::Secret audit\/missing-tls: Secret audit\/missing-tls used by Ingress audit\/missing does not exist/m);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('1 error, 0 warnings, 0 infos');
  });

  it('prints findings grouped by object with hints as text', async () => {
    const r = await check(['--ingress', `${ns}/moved`]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('Secret audit/moved-tls\n  error    SecretInOtherNamespace\n');
    expect(r.stdout).toMatch(/hint: create the Secret in namespace audit, or move the Ingress to namespace elsewhere/);
    expect(r.stderr).toMatch(/certkeeper check: \d+ Ingresses read, 1 Secret in use \(Ingress audit\/moved\)/);
  });

  // One contract, four tests: each starts at most two processes, side by side. A certkeeper process
  // takes about a second to start on an idle machine and five on a loaded one; eight of them in a
  // row were what made this one test run into its timeout.
  it('exits 0 and says "no findings" when clean', async () => {
    const clean = await check(['--ingress', `${ns}/good`]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toBe('no findings\n');
  });

  it('exits 1 on warnings, and 2 on warnings with --strict', async () => {
    const [warn, strict] = await Promise.all([check(['--ingress', `${ns}/nearexpiry`, '-o', 'json']), check(['--ingress', `${ns}/nearexpiry`, '--strict'])]);
    expect(warn.code).toBe(1);
    expect(warn.json?.summary).toEqual({ errors: 0, warnings: 1, infos: 0 });
    expect(strict.code).toBe(2);
  });

  it('exits 3 on usage errors', async () => {
    const [badFormat, badFlag] = await Promise.all([check(['-o', 'xml']), check(['--no-such-flag'])]);
    expect(badFormat.code).toBe(3);
    expect(badFormat.stderr).toContain('--output must be one of text, json, github, got "xml"');
    expect(badFlag.code).toBe(3);
  });

  it('exits 3 when the cluster cannot be read, naming the server and the error', async () => {
    const port = await closedPort();
    const unreachable = join(dir, 'unreachable');
    await writeFile(
      unreachable,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
    );
    const down = await runCertkeeper(['check', '--kubeconfig', unreachable]);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:\d+ to list (ingresses|secrets): (connect )?ECONNREFUSED/);
  });
});

describe('certkeeper check --probe: what the controller serves', () => {
  const ns = 'served';
  const h = (label: string) => `${label}.served.example.test`;
  let sni: SniServer;

  beforeAll(async () => {
    api.ensureNamespace(ns);
    const good = leaf([h('good')]);
    const fakeHostSecret = leaf([h('fake')]);
    const staleServed = leaf([h('stale')], { notBefore: new Date(now.getTime() - 60 * DAY), notAfter: new Date(now.getTime() + 30 * DAY) });
    const renewed = leaf([h('stale')]);
    const otherIngress = leaf([h('elsewhere')]);
    for (const [name, cert] of [['good', good], ['fake', fakeHostSecret], ['stale', renewed], ['swapped', leaf([h('swapped')])]] as const) {
      api.create(ingress(ns, name, `${name}-tls`, [h(name)]));
      api.create(tlsSecret({ name: `${name}-tls`, namespace: ns, cert }));
    }
    const id = (c: TestCert) => ({ chainPem: c.chain, keyPem: c.key });
    sni = await startSniServer({
      byName: { [h('good')]: id(good), [h('stale')]: id(staleServed), [h('swapped')]: id(otherIngress) },
      // Hosts without a usable Secret get the controller's default fake certificate, as with ingress-nginx.
      fallback: id(ingressNginxFakeCertificate()),
    });
    servers.push(sni);
  });

  it('compares the served leaf per SNI host with the Secret, and says what clients without SNI get', async () => {
    const r = await check(['--namespace', ns, '--probe', '--probe-address', `127.0.0.1:${sni.port}`, '--ca-bundle', join(dir, 'ca.pem'), '-o', 'json']);
    expect(r.code, r.stderr).toBe(2);
    const probeFindings = (r.json?.findings ?? []).filter((f) => f.object.kind !== 'Secret');
    const codes = probeFindings.map((f) => `${f.code} ${f.host ?? f.object.name}`).sort();
    expect(codes).toEqual([
      `DefaultCertificateServed ${h('fake')}`,
      `NoSniDefaultCertificate 127.0.0.1:${sni.port}`,
      `ServedCertificateMismatch ${h('stale')}`,
      `ServedCertificateMismatch ${h('swapped')}`,
    ]);
    const stale = probeFindings.find((f) => f.host === h('stale')) as JsonFinding;
    expect(stale.object).toEqual({ kind: 'Ingress', namespace: ns, name: 'stale' });
    expect(stale.message).toContain('serves an older certificate');
    expect(probeFindings.find((f) => f.host === h('swapped'))?.message).toContain(`certificate for other hosts (${h('elsewhere')})`);
    expect(probeFindings.find((f) => f.code === 'NoSniDefaultCertificate')?.message).toMatch(/Fake Certificate/);
    expect(sni.sniNames).toEqual(expect.arrayContaining([h('good'), h('fake'), h('stale'), h('swapped')]));
    // No Ingress is managed here: the HTTP-01 probe creates nothing.
    expect(api.list(INGRESSES, 'certkeeper')).toEqual([]);
  });

  it('reports chains that do not verify without --ca-bundle', async () => {
    const r = await check(['--ingress', `${ns}/good`, '--probe', '--probe-address', `127.0.0.1:${sni.port}`, '-o', 'json']);
    expect(r.code).toBe(2);
    const untrusted = only(r.json, 'ServedCertificateUntrusted');
    expect(untrusted.map((f) => f.host)).toEqual([h('good')]);
    expect(untrusted[0]?.hint).toContain('--ca-bundle');
  });

  it('warns ProbeAddressUnknown for an Ingress without a load balancer address', async () => {
    const r = await check(['--ingress', `${ns}/good`, '--probe', '-o', 'json']);
    expect(r.code).toBe(1);
    expect(r.json?.findings.map((f) => f.code)).toEqual(['ProbeAddressUnknown']);
    expect(r.json?.findings[0]?.object).toEqual({ kind: 'Ingress', namespace: ns, name: 'good' });
    expect(r.json?.findings[0]?.message).toContain(h('good'));
  });

  it('reports a handshake that fails on the address from status.loadBalancer', async () => {
    api.create(ingress(ns, 'lb', 'good-tls', [h('good')]));
    // Status is a subresource: set it the way the ingress controller does. An address of TEST-NET-1
    // (RFC 5737) is never routed: the handshake ends at the probe's own deadline at the latest. A
    // host name would need a DNS lookup, and a lookup that hangs keeps the process alive for as
    // long as the machine's resolver decides, whatever the probe's deadline.
    const current = api.get<Record<string, unknown>>(INGRESSES, ns, 'lb');
    const res = await fetch(`${api.url}/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/lb/status`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...current, status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } }),
    });
    expect(res.status).toBe(200);
    const r = await check(['--ingress', `${ns}/lb`, '--probe', '--probe-timeout', '2s', '-o', 'json']);
    const failed = only(r.json, 'TlsProbeFailed');
    expect(failed.map((f) => f.host)).toEqual([h('good')]);
    expect(failed[0]?.message).toContain('192.0.2.1:443');
    // Refused or dropped, depending on the machine's routes: named either way.
    expect(failed[0]?.hint).toMatch(/(no answer from|nothing listens on) 192\.0\.2\.1:443/);
  });
});

describe('certkeeper check --probe: HTTP-01 reachability', () => {
  const ns = 'reach';
  const h = (label: string) => `${label}.reach.example.test`;
  let sni: SniServer;
  let serve: ServeProcess | undefined;

  beforeAll(async () => {
    api.ensureNamespace(ns);
    const id = (c: TestCert) => ({ chainPem: c.chain, keyPem: c.key });
    const served: Record<string, { chainPem: string; keyPem: string }> = {};
    for (const name of ['notfound', 'closed', 'loop', 'works']) {
      const cert = leaf([h(name)]);
      api.create(ingress(ns, name, `${name}-tls`, [h(name)], { managed: true }));
      api.create(tlsSecret({ name: `${name}-tls`, namespace: ns, cert, managed: true }));
      served[h(name)] = id(cert);
    }
    sni = await startSniServer({ byName: served, fallback: id(ingressNginxFakeCertificate()) });
    servers.push(sni);
  });

  afterAll(async () => {
    await serve?.stop();
  });

  const probeArgs = (name: string, httpPort: number, tlsPort = sni.port, wait = '1s') => [
    '--ingress', `${ns}/${name}`,
    '--probe',
    '--probe-address', `127.0.0.1:${tlsPort}`,
    '--probe-http-address', `127.0.0.1:${httpPort}`,
    '--ca-bundle', join(dir, 'ca.pem'),
    '--self-check-timeout', wait,
    '-o', 'json',
  ];

  function expectCleanedUp(): void {
    expect(api.list(INGRESSES, 'certkeeper')).toEqual([]);
    const cm = api.get<{ data?: Record<string, string> }>(CONFIGMAPS, 'certkeeper', 'certkeeper-challenges');
    expect(Object.keys(cm?.data ?? {})).toEqual([]);
  }

  it('reports Http01WrongResponse when the controller answers 404, and removes the probe objects', async () => {
    const paths: string[] = [];
    const controller = await startHttpServer((req, res) => {
      paths.push(`${req.headers.host ?? ''}${req.url ?? ''}`);
      res.writeHead(404, { 'content-type': 'text/html', server: 'nginx' }).end('<html><body>404 Not Found</body></html>');
    });
    servers.push(controller);
    api.resetRequests();
    const r = await check(probeArgs('notfound', controller.port));
    expect(r.code, r.stderr).toBe(2);
    const wrong = only(r.json, 'Http01WrongResponse');
    expect(wrong.map((f) => f.host)).toEqual([h('notfound')]);
    expect(wrong[0]?.message).toMatch(/does not reach certkeeper: 404 Not Found, Server: nginx/);
    expect(r.json?.findings.filter((f) => f.code !== 'Http01WrongResponse' && f.code !== 'NoSniDefaultCertificate')).toEqual([]);
    expect(paths[0]).toMatch(new RegExp(`^${h('notfound').replace(/\./g, '\\.')}/\\.well-known/acme-challenge/[A-Za-z0-9_-]{43}$`));
    // A solver Ingress for the host was created in certkeeper's namespace and deleted again.
    const solverWrites = api.requests.filter((q) => q.resource === 'ingresses' && q.namespace === 'certkeeper' && q.method !== 'GET');
    expect(solverWrites.map((q) => q.verb)).toEqual(['create', 'delete']);
    expectCleanedUp();
  });

  it('stops on SIGTERM while waiting for the controller, removes the probe route and token, and says what was left', async () => {
    let requests = 0;
    const controller = await startHttpServer((_req, res) => {
      requests++;
      res.writeHead(404, { server: 'nginx' }).end('not found');
    });
    servers.push(controller);
    // A 404 may still change when the controller loads the route: the probe would wait 60 s.
    const child = spawn(process.execPath, [CLI, 'check', '--kubeconfig', kubeconfig, ...probeArgs('notfound', controller.port, sni.port, '60s')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while (requests === 0 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    expect(requests).toBeGreaterThan(0);
    const signalled = Date.now();
    child.kill('SIGTERM');
    const code = await exited;
    expect(Date.now() - signalled).toBeLessThan(5_000);
    expect(code, stderr).toBe(3);
    expect(stderr).toContain('certkeeper check: received SIGTERM: stopped before it was done; left undone: the HTTP-01 reachability probe of the hosts that had not answered yet');
    expect(stderr).toContain('the HTTP-01 reachability probe stopped (received SIGTERM) before every host answered; its route and token are removed');
    // What was found before the signal is still printed.
    expect((JSON.parse(stdout) as CheckJson).findings.map((f) => f.code)).toContain('NoSniDefaultCertificate');
    expectCleanedUp();
  });

  it('reports Http01Unreachable with the NodePort hint when port 80 is closed', async () => {
    const r = await check(probeArgs('closed', await closedPort()));
    const unreachable = only(r.json, 'Http01Unreachable');
    expect(unreachable.map((f) => f.host)).toEqual([h('closed')]);
    expect(unreachable[0]?.message).toContain('ECONNREFUSED');
    expect(unreachable[0]?.hint).toMatch(/NodePort/);
    expectCleanedUp();
  });

  it('reports Http01RedirectLoop for an http→https→http ping-pong', async () => {
    const toHttps = await startHttpServer((req, res) => res.writeHead(301, { location: `https://${req.headers.host ?? ''}${req.url ?? ''}` }).end());
    const cert = leaf([h('loop')]);
    const toHttp = await startHttpsServer((req, res) => res.writeHead(302, { location: `http://${req.headers.host ?? ''}${req.url ?? ''}` }).end(), {
      chainPem: cert.chain,
      keyPem: cert.key,
    });
    servers.push(toHttps, toHttp);
    const r = await check(probeArgs('loop', toHttps.port, toHttp.port));
    const loop = only(r.json, 'Http01RedirectLoop');
    expect(loop.map((f) => f.host)).toEqual([h('loop')]);
    expect(loop[0]?.message).toContain('http→https→http loop');
    expect(loop[0]?.hint).toContain('no-tls-redirect-locations');
    expectCleanedUp();
  });

  it('finds nothing when the controller routes the challenge path to a running `certkeeper serve`', async () => {
    // Ready once it has read the challenge ConfigMap (it prints its address only then), so the
    // probe's token is served as soon as the watch delivers it.
    serve = await startServe(kubeconfig);
    const servePort = serve.address.port;
    // The ingress controller: /.well-known/acme-challenge/ to certkeeper's Service, the rest to the app.
    const proxied: string[] = [];
    const controller = await startHttpServer((req, res) => {
      if (!req.url?.startsWith('/.well-known/acme-challenge/')) {
        res.writeHead(200).end('app');
        return;
      }
      proxied.push(req.url);
      const upstream = http.request({ host: '127.0.0.1', port: servePort, path: req.url, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end();
    });
    servers.push(controller);
    const r = await check(probeArgs('works', controller.port, sni.port, '20s'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.findings.map((f) => f.code)).toEqual(['NoSniDefaultCertificate']);
    expect(proxied.length).toBeGreaterThan(0);
    expectCleanedUp();
  });
});
