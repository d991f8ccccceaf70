// `npm test`: bootstrap a fresh clone (dependencies, pebble, build), run every unit and
// integration test once, and end with one plain line: "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrap, ROOT } from './bootstrap.mjs';

try {
  bootstrap({ browser: true });
} catch (e) {
  console.error(`certkeeper: ${e.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const tmp = join(ROOT, '.tmp');
mkdirSync(tmp, { recursive: true });
const report = join(tmp, 'vitest-report.json');
rmSync(report, { force: true });
const args = [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)];
const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });

let passed = 0;
let failed = 0;
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed = json.numPassedTests ?? 0;
  failed = (json.numFailedTests ?? 0) + (json.numFailedTestSuites ?? 0) > 0 ? json.numFailedTests + countSuiteErrors(json) : 0;
} catch {
  failed = 1;
}

function countSuiteErrors(json) {
  // A file that fails to load has no failed tests but is a failure all the same.
  return (json.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).every((a) => a.status !== 'failed')).length;
}

if (r.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
