// Makes a fresh clone runnable: npm dependencies and Debian's pebble (the ACME test CA), then the
// build. Used by `npm test`, `npm run demo` and the benchmarks, so each works on a fresh machine.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed with exit code ${r.status ?? r.signal}`);
  }
}

function newer(a, b) {
  return existsSync(a) && existsSync(b) && statSync(a).mtimeMs > statSync(b).mtimeMs;
}

export function ensureDependencies() {
  const modules = join(ROOT, 'node_modules');
  const stamp = join(modules, '.package-lock.json');
  if (!existsSync(modules) || !existsSync(stamp) || newer(join(ROOT, 'package-lock.json'), stamp)) {
    console.error('certkeeper: installing npm dependencies (npm ci)');
    run('npm', ['ci', '--no-audit', '--no-fund']);
  }
}

export function pebblePath() {
  for (const p of [process.env.PEBBLE_BIN, '/usr/bin/pebble', '/usr/local/bin/pebble']) {
    if (p && existsSync(p)) return p;
  }
  const which = spawnSync('sh', ['-c', 'command -v pebble'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

export function ensurePebble() {
  if (pebblePath()) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) {
    throw new Error('pebble (Let\'s Encrypt\'s test CA) is missing: install it with `sudo apt-get install -y pebble`, or set PEBBLE_BIN');
  }
  console.error('certkeeper: installing Debian\'s pebble (apt-get install -y pebble)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const first = spawnSync('apt-get', ['install', '-y', '-q', 'pebble'], { stdio: 'inherit', env });
  if (first.status !== 0) {
    run('apt-get', ['update', '-q'], { env });
    run('apt-get', ['install', '-y', '-q', 'pebble'], { env });
  }
  if (!pebblePath()) throw new Error('apt-get installed pebble but no pebble binary was found');
}

export function build() {
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
}

export function bootstrap({ pebble = true } = {}) {
  ensureDependencies();
  if (pebble) ensurePebble();
  build();
}

export function gitRevision() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
