// Makes a fresh clone runnable: npm dependencies, Debian's pebble 2.4 (the old-CA peer), Debian
// sid's pebble 2.10 and lego 4.35 (the main ACME peer, and the current lego for benchmarks),
// Debian's chromium (the status page is tested in a real browser), then the build. Used by `npm test`, `npm run demo` and the benchmarks, so each works on a fresh machine.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/** Debian's chromium, which playwright-core drives in the status page test (never a browser download). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Installs Debian's chromium when it is missing and we are root. Not fatal: without it the status
 * page test skips and says why, and everything else still runs.
 */
export function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) {
    console.error('certkeeper: chromium is missing, so the status page test will skip: install it with `sudo apt-get install -y chromium`');
    return;
  }
  console.error('certkeeper: installing Debian\'s chromium for the status page test (apt-get install -y chromium)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const quiet = { stdio: ['ignore', 'ignore', 'inherit'], env };
  if (spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], quiet).status !== 0) {
    spawnSync('apt-get', ['update', '-q'], quiet);
    spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], quiet);
  }
  if (!existsSync(CHROMIUM)) console.error('certkeeper: apt-get could not install chromium; the status page test will skip');
}

/** Where sid's packages are unpacked (`dpkg -x`): .tools/sid/usr/bin/{pebble,pebble-challtestsrv,lego}. */
export const SID_ROOT = join(ROOT, '.tools', 'sid');
export const SID_PACKAGES = ['pebble', 'lego'];

export function sidBinary(name) {
  const p = join(SID_ROOT, 'usr', 'bin', name);
  return existsSync(p) ? p : undefined;
}

/**
 * Debian sid's pebble (2.10: profiles, ARI, no CN) and lego (4.35: ARI on by default) depend on
 * libc only and run on Debian 12. They are fetched with the ordinary apt client into a private
 * lists and cache folder (never the system's apt state; no root needed) and unpacked with dpkg -x.
 */
export function ensureSidTools() {
  if (SID_PACKAGES.every((p) => sidBinary(p))) return;
  const apt = join(ROOT, '.tools', 'apt');
  const dirs = { lists: join(apt, 'lists'), cache: join(apt, 'cache'), debs: join(apt, 'debs') };
  for (const d of [join(dirs.lists, 'partial'), join(dirs.cache, 'archives', 'partial'), dirs.debs]) mkdirSync(d, { recursive: true });
  const sources = join(apt, 'sources.list');
  writeFileSync(sources, 'deb http://deb.debian.org/debian sid main\n');
  const opts = [
    '-q',
    '-o', `Dir::Etc::sourcelist=${sources}`,
    '-o', 'Dir::Etc::sourceparts=-',
    '-o', `Dir::State::Lists=${dirs.lists}`,
    '-o', `Dir::Cache=${dirs.cache}`,
    '-o', 'Debug::NoLocking=1',
    // apt drops to the _apt user for downloads, which cannot write into a root-owned checkout.
    '-o', 'APT::Sandbox::User=root',
  ];
  console.error(`certkeeper: fetching Debian sid's ${SID_PACKAGES.join(' and ')} into ${SID_ROOT} (private apt lists; the system's apt state is untouched)`);
  run('apt-get', [...opts, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (const f of readdirSync(dirs.debs)) rmSync(join(dirs.debs, f));
  run('apt-get', [...opts, 'download', ...SID_PACKAGES], { cwd: dirs.debs, stdio: ['ignore', 'ignore', 'inherit'] });
  for (const f of readdirSync(dirs.debs).filter((f) => f.endsWith('.deb'))) run('dpkg', ['-x', join(dirs.debs, f), SID_ROOT]);
  const missing = SID_PACKAGES.filter((p) => !sidBinary(p));
  if (missing.length > 0) throw new Error(`unpacked Debian sid's packages but ${missing.join(', ')} is missing under ${SID_ROOT}/usr/bin`);
}

/** `npm run build`: type-check, then bundle dist/cli.js (scripts/build.mjs). */
export function build() {
  run(process.execPath, [join(ROOT, 'scripts', 'build.mjs')]);
}

export function bootstrap({ pebble = true, browser = false } = {}) {
  ensureDependencies();
  if (pebble) {
    ensurePebble();
    ensureSidTools();
  }
  if (browser) ensureChromium();
  build();
}

export function gitRevision() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
