#!/usr/bin/env node
// The `kubectl-certkeeper` executable (dist/kubectl-plugin.js): `kubectl certkeeper …` runs it.
import { main } from '../cli.js';
import { kubectlArgs } from '../kubectl-plugin.js';

main(kubectlArgs(process.argv.slice(2)), { name: 'kubectl certkeeper' });
