// A whole world for cluster tests: Pebble (behind a proxy that can be taken down), the
// in-process Kubernetes API with a kubeconfig, and the flags that point `certkeeper` at them.
//
// Two topologies. `local` (default): `renew --answer-locally` answers Pebble from its own process
// on Pebble's HTTP port — no ingress controller in the path. `controller`: production's path —
// Pebble's "port 80" is a fake ingress-nginx (test/support/fake-controller.ts), the solver Ingress
// routes the challenge path to the Service certkeeper/certkeeper:80, and that Service is a real
// `certkeeper serve` process answering from the challenge ConfigMap.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeApi, type KubeApi } from './kube-api/index.js';
import { startPebble, type Pebble, type PebbleOptions } from './pebble.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { CLI, runCertkeeper, type CliResult } from './cli.js';
import { startFakeController, type FakeController, type FakeControllerOptions } from './fake-controller.js';

export interface ClusterEnv {
  pebble: Pebble;
  proxy: TcpProxy;
  api: KubeApi;
  kubeconfig: string;
  directoryUrl: string;
  /** Called for every DNS query Pebble's validator makes, i.e. in the middle of an order. */
  onValidation: { hook: ((host: string) => void) | undefined };
  /** Flags for a renew-like command against this world. */
  flags(extra?: string[]): string[];
  renew(extra?: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }): Promise<CliResult & { json?: RenewJson }>;
  /** Starts `renew -o json` without waiting, for tests that kill it or race two of them. */
  startRenew(extra?: string[], opts?: { timeoutMs?: number }): RunningRenew;
  /** topology 'controller' only: the ingress controller Pebble validates through. */
  controller?: FakeController;
  /** topology 'controller' only: the `certkeeper serve` process behind Service certkeeper/certkeeper:80. */
  serve?: ServeProcess;
  close(): Promise<void>;
}

export interface RunningRenew {
  pid: number;
  child: ChildProcess;
  kill(signal?: NodeJS.Signals): void;
  result: Promise<CliResult & { json?: RenewJson }>;
}

export interface ServeProcess {
  /** Where the responder listens: the Service's endpoint. */
  address: { host: string; port: number };
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export interface ClusterEnvOptions {
  /** local (default): renew --answer-locally; controller: Pebble → controller → solver Ingress → serve. */
  topology?: 'local' | 'controller';
  /**
   * Fake controller settings (topology 'controller'). `services` replaces the default endpoints of
   * Services other than certkeeper/certkeeper, which all go to a small app answering 200.
   */
  controller?: Partial<Omit<FakeControllerOptions, 'api'>>;
  /**
   * Serve the Gateway API kinds in the test cluster. Default: on when controller.mode is
   * 'gateway' (that mode needs them), off otherwise, as on a cluster without the CRDs.
   */
  gatewayApi?: boolean;
  /** Which Pebble, which profiles (default: 2.10 with classic alone), and e.g. nonceRejectPercent. */
  pebble?: Pick<PebbleOptions, 'nonceRejectPercent' | 'version' | 'profiles'>;
}

export interface RenewJson {
  ok: boolean;
  allValid: boolean;
  stopped?: string;
  ordersPlaced: number;
  certificatesIssued: number;
  secretsWritten: number;
  garbageCollected: string[];
  certificates: {
    namespace: string;
    secretName: string;
    hosts: string[];
    result: string;
    reason: string;
    message: string;
    hint?: string;
    serial?: string;
    notAfter?: string;
    renewAt?: string;
    valid?: boolean;
    failure?: { failures: number; retryAfter: string; lastError: string };
    profile?: string;
    renewalBasis?: string;
    ari?: { start: string; end: string; explanationURL?: string };
    replaces?: string;
    order?: string;
  }[];
  findings: { code: string; severity: string; host?: string; message: string; hint: string; object: { kind: string; namespace?: string; name: string } }[];
}

function withJson(r: CliResult): CliResult & { json?: RenewJson } {
  try {
    return { ...r, json: JSON.parse(r.stdout) as RenewJson };
  } catch {
    return r;
  }
}

/** A real `certkeeper serve` on a free port, as the chart's responder pods run it. */
export async function startServe(kubeconfig: string, namespace = 'certkeeper'): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--kubeconfig', kubeconfig, '--certkeeper-namespace', namespace, '--http-port', '0', '--http-address', '127.0.0.1'], {
    env: { ...process.env, CERTKEEPER_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const address = await new Promise<{ host: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`certkeeper serve did not print its address within 15 s:\n${out}`));
    }, 15_000);
    let stdout = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
      out += c.toString();
      const m = /listening on (\S+):(\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve({ host: m[1] ?? '127.0.0.1', port: Number(m[2]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`certkeeper serve exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    address,
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The users' applications behind their Ingresses: 200 and a line naming the request. */
async function startApp(): Promise<{ server: Server; port: number }> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`app: ${req.headers['x-forwarded-proto'] ?? 'http'}://${req.headers.host ?? ''}${req.url ?? ''}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

export async function startClusterEnv(options: ClusterEnvOptions = {}): Promise<ClusterEnv> {
  const topology = options.topology ?? 'local';
  const onValidation: ClusterEnv['onValidation'] = { hook: undefined };
  const api = await startKubeApi({ namespaces: ['certkeeper'], gatewayApi: options.gatewayApi ?? options.controller?.mode === 'gateway' });
  const dir = await mkdtemp(join(tmpdir(), 'certkeeper-env-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  let controller: FakeController | undefined;
  let serve: ServeProcess | undefined;
  let app: { server: Server; port: number } | undefined;
  // A world that fails half-way must not leave a `serve` process or servers behind.
  const undo = async (e: unknown): Promise<never> => {
    await controller?.close();
    await serve?.stop();
    app?.server.close();
    await api.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  };
  if (topology === 'controller') {
    serve = await startServe(kubeconfig).catch(undo);
    app = await startApp();
    const serveAddress = serve.address;
    const appPort = app.port;
    const userServices = options.controller?.services;
    controller = await startFakeController({
      ...options.controller,
      api,
      services: (namespace, name, port) => {
        // The chart's Service: port 80 named http, in front of the responder pods.
        if (namespace === 'certkeeper' && name === 'certkeeper' && (port === 80 || port === 'http')) return serveAddress;
        return userServices ? userServices(namespace, name, port) : { host: '127.0.0.1', port: appPort };
      },
    }).catch(undo);
  }
  const pebble = await startPebble({
    // The CA validates on the controller's "port 80" in the controller topology.
    ...(controller ? { httpPort: controller.httpPort } : {}),
    onDnsQuery: (name) => {
      onValidation.hook?.(name);
    },
    // Pebble reuses half of its valid authorizations by default; tests that act in the middle of
    // an order (onValidation) need every order to be validated.
    env: { PEBBLE_AUTHZREUSE: '0' },
    ...options.pebble,
  }).catch(undo);
  const proxy = await startTcpProxy(Number(new URL(pebble.directoryUrl).port));
  const directoryUrl = `https://127.0.0.1:${proxy.port}/dir`;
  const routing = controller
    ? ['--self-check-address', `127.0.0.1:${controller.httpPort}`, '--self-check-timeout', '10s']
    : ['--answer-locally', '--http-port', String(pebble.httpPort), '--http-address', '127.0.0.1', '--self-check-address', `127.0.0.1:${pebble.httpPort}`];
  const flags = (extra: string[] = []) => [
    '--kubeconfig', kubeconfig,
    '--directory', directoryUrl,
    '--acme-ca-bundle', pebble.apiCaFile,
    ...routing,
    '--acme-poll-interval', '50',
    '--lease-wait', '60s',
    ...extra,
  ];
  const env: ClusterEnv = {
    pebble,
    proxy,
    api,
    kubeconfig,
    directoryUrl,
    onValidation,
    flags,
    // Text output is read as data here: one line per certificate, not wrapped at 80 columns.
    renew: async (extra = [], opts = {}) => withJson(await runCertkeeper(['renew', ...flags(['-o', 'json', ...extra])], { ...opts, env: { COLUMNS: '400', ...opts.env } })),
    startRenew: (extra = [], opts = {}) => {
      const child = spawn(process.execPath, [CLI, 'renew', ...flags(['-o', 'json', ...extra])], {
        env: { ...process.env, CERTKEEPER_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
      const result = new Promise<CliResult & { json?: RenewJson }>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve(withJson({ code, stdout, stderr }));
        });
      });
      return { pid: child.pid ?? 0, child, kill: (signal = 'SIGKILL') => child.kill(signal), result };
    },
    close: async () => {
      await proxy.close();
      await pebble.stop();
      await controller?.close();
      await serve?.stop();
      if (app) {
        app.server.closeAllConnections();
        await new Promise<void>((resolve) => app?.server.close(() => resolve()));
      }
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (controller) env.controller = controller;
  if (serve) env.serve = serve;
  return env;
}

let counter = 0;
/** An opted-in Ingress with one spec.tls entry routing `hosts`. */
export function ingress(namespace: string, name: string, secretName: string, hosts: string[], extra: { annotations?: Record<string, string>; ingressClassName?: string } = {}): Record<string, unknown> {
  counter++;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { namespace, name, annotations: { 'kubernetes.io/tls-acme': 'true', ...extra.annotations } },
    spec: {
      ingressClassName: extra.ingressClassName ?? 'nginx',
      tls: [{ hosts, secretName }],
      rules: hosts.map((host) => ({
        host,
        http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: `svc-${counter}`, port: { number: 80 } } } }] },
      })),
    },
  };
}
