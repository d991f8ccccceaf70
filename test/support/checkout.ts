// The certkeeper checkout this file belongs to. Found by walking up to package.json, so the same
// support code also works when compiled elsewhere (the demo and benchmarks run it from .tmp/).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function checkoutRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'certkeeper') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the certkeeper checkout (package.json named "certkeeper") above test/support/');
    dir = up;
  }
}
