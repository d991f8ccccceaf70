// `npm run bench:<name> [args]`: bootstrap a fresh clone (dependencies, pebble, dist/ for the
// spawned `certkeeper` processes), compile src/, bench/ and test/support/ to .tmp/bench, and run
// .tmp/bench/bench/<name>.js with the remaining arguments. Benchmarks run as compiled JavaScript
// so that no TypeScript loader is part of what is measured.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrap, ROOT } from './bootstrap.mjs';

const BENCHES = ['issue', 'pass', 'responder', 'probe', 'check', 'peers', 'soak'];

/**
 * The peers of bench:peers and GNU time, from Debian's archive when missing: certbot (2.1 on
 * Debian 12), lego (4.9; lego 4.35 comes from sid through bootstrap), time (/usr/bin/time, whose
 * wait4() figures give each child's peak RSS and CPU).
 */
function ensurePeers() {
  const wanted = [['certbot', '/usr/bin/certbot'], ['lego', '/usr/bin/lego'], ['time', '/usr/bin/time']].filter(([, bin]) => !existsSync(bin)).map(([pkg]) => pkg);
  if (wanted.length === 0) return;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    console.error(`certkeeper: ${wanted.join(', ')} missing; install with \`sudo apt-get install -y ${wanted.join(' ')}\` (the benchmark leaves out what is missing)`);
    return;
  }
  console.error(`certkeeper: installing ${wanted.join(', ')} (apt-get install -y ${wanted.join(' ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', ...wanted], { stdio: 'inherit', env }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    if (!install()) console.error(`certkeeper: apt-get could not install ${wanted.join(', ')}; the benchmark leaves out what is missing`);
  }
}
const [name, ...rest] = process.argv.slice(2);
if (!name || !BENCHES.includes(name)) {
  console.error(`usage: node scripts/bench.mjs <${BENCHES.join('|')}> [args…]`);
  process.exit(2);
}

try {
  // Only issue, pass, peers and soak talk to a local Pebble.
  bootstrap({ pebble: name !== 'responder' && name !== 'probe' && name !== 'check' });
  if (name === 'peers') ensurePeers();
} catch (e) {
  console.error(`certkeeper: ${e.message}`);
  process.exit(1);
}

const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bench.json'], { cwd: ROOT, stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('certkeeper: compiling the benchmarks failed (tsc -p tsconfig.bench.json)');
  process.exit(1);
}

const entry = join(ROOT, '.tmp', 'bench', 'bench', `${name}.js`);
if (!existsSync(entry)) {
  console.error(`certkeeper: ${entry} was not produced by tsc`);
  process.exit(1);
}
// --expose-gc lets the benches settle the heap before reading memory figures.
const r = spawnSync(process.execPath, ['--expose-gc', entry, ...rest], { cwd: ROOT, stdio: 'inherit' });
process.exit(r.status ?? 1);
