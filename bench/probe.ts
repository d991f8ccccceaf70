// How fast can `check` audit what a controller serves? One local TLS server answers 500 SNI names
// (one certificate each, like an ingress controller with 500 Ingress hosts); probeTls handshakes with
// all of them under bounded concurrency, and the same hosts are then checked the way a shell script
// would: a sequential `openssl s_client -connect 127.0.0.1:PORT -servername HOST </dev/null` loop.
//
// Run: compile with the project's TypeScript and start with node, e.g.
//   npx tsc -p tsconfig.json --noEmit false --outDir .tmp/bench && node .tmp/bench/bench/probe.js [hosts] [concurrency]
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { DEFAULT_PROBE_CONCURRENCY, probeAll, probeTls } from '../src/probe/index.js';
import { fakeIngressNginxCert, identityOf, makeCa, makeCert, makeKey, startSniServer, type ServedIdentity } from '../test/support/tls-servers.js';

export interface ProbeBenchOptions {
  hosts?: number;
  concurrency?: number;
  /** Hosts for the openssl loop (default: all of them). */
  opensslHosts?: number;
  opensslPath?: string;
  timeoutMs?: number;
}

export interface ProbeBenchFigures {
  hosts: number;
  concurrency: number;
  setupMs: number;
  probe: { ms: number; handshakesPerSecond: number; wrongCertificate: number; failures: number };
  openssl: { hosts: number; ms: number; handshakesPerSecond: number; wrongCertificate: number; failures: number } | undefined;
  /** probeTls handshakes/s ÷ openssl loop handshakes/s. */
  ratio: number | undefined;
}

function rate(n: number, ms: number): number {
  return Math.round((n / ms) * 1000 * 10) / 10;
}

/** One `openssl s_client` run; resolves to the subject line it printed, or undefined on failure. */
function opensslSubject(openssl: string, port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    // stdin 'ignore' is /dev/null: s_client sends nothing and exits after the handshake.
    const child = spawn(openssl, ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', host], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
    });
    child.on('error', () => resolve(undefined));
    child.on('close', () => resolve(/^subject=.*$/m.exec(out)?.[0]));
  });
}

export async function benchProbe(options: ProbeBenchOptions = {}): Promise<ProbeBenchFigures> {
  const hosts = options.hosts ?? 500;
  const concurrency = options.concurrency ?? DEFAULT_PROBE_CONCURRENCY;
  const timeoutMs = options.timeoutMs ?? 5000;
  const names = Array.from({ length: hosts }, (_, i) => `h${i}.bench.certkeeper.test`);

  const t0 = performance.now();
  const key = makeKey();
  const root = makeCa('certkeeper bench root', undefined, key);
  const byName = new Map<string, ServedIdentity>(names.map((cn) => [cn, identityOf(makeCert({ cn, sans: [cn], issuer: root, key }))]));
  const server = await startSniServer({ byName, fallback: identityOf(fakeIngressNginxCert(key)) });
  const setupMs = Math.round(performance.now() - t0);

  try {
    const t1 = performance.now();
    const results = await probeAll(names, (servername) => probeTls({ address: { host: '127.0.0.1', port: server.port }, servername, timeoutMs, caBundle: root.pem }), concurrency);
    const probeMs = performance.now() - t1;
    const failures = results.filter((r) => !r.ok).length;
    const wrong = results.filter((r, i) => r.ok && (r.leaf.subjectCN !== names[i] || !r.authorized)).length;

    let openssl: ProbeBenchFigures['openssl'];
    const opensslNames = names.slice(0, options.opensslHosts ?? hosts);
    if (opensslNames.length > 0) {
      const bin = options.opensslPath ?? '/usr/bin/openssl';
      let sslFailures = 0;
      let sslWrong = 0;
      const t2 = performance.now();
      for (const name of opensslNames) {
        const subject = await opensslSubject(bin, server.port, name);
        if (subject === undefined) sslFailures++;
        else if (!subject.includes(name)) sslWrong++;
      }
      const ms = performance.now() - t2;
      openssl = { hosts: opensslNames.length, ms: Math.round(ms), handshakesPerSecond: rate(opensslNames.length, ms), wrongCertificate: sslWrong, failures: sslFailures };
    }
    const probe = { ms: Math.round(probeMs), handshakesPerSecond: rate(hosts, probeMs), wrongCertificate: wrong, failures };
    return {
      hosts,
      concurrency,
      setupMs,
      probe,
      openssl,
      ratio: openssl && openssl.handshakesPerSecond > 0 ? Math.round((probe.handshakesPerSecond / openssl.handshakesPerSecond) * 10) / 10 : undefined,
    };
  } finally {
    await server.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [hosts, concurrency] = process.argv.slice(2).map(Number);
  const figures = await benchProbe({ ...(hosts ? { hosts } : {}), ...(concurrency ? { concurrency } : {}) });
  const { probe, openssl } = figures;
  console.log(
    `probeTls: ${figures.hosts} hosts, concurrency ${figures.concurrency}: ${probe.ms} ms, ${probe.handshakesPerSecond} handshakes/s (${probe.failures} failed, ${probe.wrongCertificate} wrong)`,
  );
  if (openssl) {
    console.log(`openssl s_client loop: ${openssl.hosts} hosts: ${openssl.ms} ms, ${openssl.handshakesPerSecond} handshakes/s (${openssl.failures} failed, ${openssl.wrongCertificate} wrong)`);
    console.log(`ratio: ${figures.ratio}× (setup ${figures.setupMs} ms)`);
  }
  console.log(JSON.stringify(figures));
}
