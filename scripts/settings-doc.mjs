// Regenerates docs/configuration.md from the settings table (run after `npm run build`).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, build } from './bootstrap.mjs';

build();
const { settingsMarkdown } = await import(join(ROOT, 'dist', 'output', 'settings-doc.js'));
writeFileSync(join(ROOT, 'docs', 'configuration.md'), settingsMarkdown());
console.log('wrote docs/configuration.md');
