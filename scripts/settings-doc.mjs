// Regenerates docs/configuration.md from the settings table. dist/ holds one bundle per command
// (scripts/build.mjs), not src/output/settings-doc.js, so the page's generator is bundled on its own.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { ROOT } from './bootstrap.mjs';

const dir = mkdtempSync(join(tmpdir(), 'certkeeper-settings-doc-'));
try {
  const outfile = join(dir, 'settings-doc.mjs');
  await build({ entryPoints: [join(ROOT, 'src', 'output', 'settings-doc.ts')], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'error' });
  const { settingsMarkdown } = await import(pathToFileURL(outfile).href);
  writeFileSync(join(ROOT, 'docs', 'configuration.md'), settingsMarkdown());
  console.log('wrote docs/configuration.md');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
