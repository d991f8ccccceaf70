#!/usr/bin/env node
// The `certkeeper` executable (dist/cli.js). The CLI itself lives in src/cli.ts, which tests and
// the kubectl plugin import without running it.
import { main } from '../cli.js';

main(process.argv.slice(2));
