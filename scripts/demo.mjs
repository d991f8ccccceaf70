// `npm run demo`: makes a fresh clone runnable (npm ci, Debian's pebble, the build; see
// bootstrap.mjs), compiles demo/ with test/support and src/ to .tmp/demo (tsconfig.demo.json,
// incremental), and runs .tmp/demo/demo/main.js: Pebble, the in-process Kubernetes API, an ingress
// controller stand-in and a real `certkeeper serve`; examples/*.yaml applied with kubectl; a real
// `certkeeper renew`; what was issued, what was refused and why. Exit code: the demo's (0 when it
// ran as designed, 1 when something unexpected happened).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrap, ensureDependencies, ensurePebble, ROOT } from './bootstrap.mjs';

const OUT = join(ROOT, '.tmp', 'demo');
const ENTRY = join(OUT, 'demo', 'main.js');

/** Newest modification time under `path` (a file or a directory tree). */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const e of readdirSync(path)) max = Math.max(max, newest(join(path, e)));
  return max;
}

/** dist/ is missing or older than what it is built from. */
function buildIsStale() {
  const cli = join(ROOT, 'dist', 'cli.js');
  if (!existsSync(cli)) return true;
  const built = statSync(cli).mtimeMs;
  return ['src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].some((p) => newest(join(ROOT, p)) > built);
}

function prepare() {
  // bootstrap() always runs the full build (a dozen seconds); skip it when dist/ is current.
  if (buildIsStale()) {
    console.error('demo: building certkeeper (npm ci and pebble when missing, then tsc -p tsconfig.build.json)');
    bootstrap();
  } else {
    ensureDependencies();
    ensurePebble();
  }
  // An incremental build whose outputs were removed would emit nothing: start over then.
  if (!existsSync(ENTRY)) rmSync(join(OUT, '.tsbuildinfo'), { force: true });
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.demo.json'], { cwd: ROOT, stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error('compiling the demo failed (tsc -p tsconfig.demo.json)');
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} was not produced by tsc -p tsconfig.demo.json`);
}

try {
  prepare();
} catch (e) {
  console.error(`demo: ${e.message}`);
  process.exit(1);
}

const child = spawn(process.execPath, [ENTRY], { cwd: ROOT, stdio: 'inherit' });
// Ctrl-C reaches the demo through the terminal as well; a signal sent to this process alone is
// passed on. Either way the demo stops what it started, and this process waits for it.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}
child.on('error', (e) => {
  console.error(`demo: cannot start ${ENTRY}: ${e.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal === 'SIGINT' ? 130 : 1));
});
