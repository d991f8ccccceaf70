// Debian's chromium for browser tests, driven by playwright-core (which downloads no browser).
// scripts/bootstrap.mjs installs it for `npm test`; a test run without it tries apt-get once (as
// root) and otherwise skips with the one command that would make it run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

let tried = false;

/** Undefined when chromium is there (installed now if need be), else why the browser test skips. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!tried && root) {
    tried = true;
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], { stdio: 'ignore', env }).status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore', env });
      spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], { stdio: 'ignore', env });
    }
    if (existsSync(CHROMIUM)) return undefined;
  }
  return `Debian's chromium is not installed (${CHROMIUM}) and apt-get could not install it${root ? '' : ' (not root)'}: run \`sudo apt-get install -y chromium\` to run this test`;
}
