// `npm run build` (node scripts/build.mjs [--no-typecheck] [--metafile FILE]): type-check src/ with tsc, then bundle the CLI with esbuild into dist/cli.js
// (the entry point users, the image and the tests run) plus the chunks it loads on demand.
//
// Why a bundle: a `certkeeper issue` process spent more time loading modules than talking to the
// CA. Node resolves, reads and compiles each of the ~400 files of acme-client, axios,
// @peculiar/x509, pino and commander one by one; one file per command costs a fraction of that.
// Each command is still its own chunk, loaded only when it runs (src/cli.ts imports commands
// lazily), so `--version` and `issue` never load the Kubernetes client.
//
// @kubernetes/client-node is bundled too, into the chunks of the cluster commands: its package
// loads every generated API group and model (21 MB of JavaScript, 75 MiB of RSS on top of Node's
// own) while certkeeper uses three API groups, and esbuild leaves out what no import reaches (the
// bundled part is 2 MB). `issue`, `lint` and `--help` still never load it.
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

// Self-contained (no import of bootstrap.mjs): the Docker build copies only this script.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist');

/**
 * Edits to dependencies' code as it goes into the bundle, each for start-up cost alone and each
 * leaving behaviour as it was. A `from` that is no longer found fails the build: the dependency
 * changed, and the edit must be looked at again (or dropped).
 */
const PATCHES = [
  {
    file: 'axios/dist/node/axios.cjs',
    // Reading globalThis.FormData (and Request, Response for the fetch adapter's warm-up) makes
    // Node 20 load its whole fetch implementation, undici, and compile undici's WebAssembly
    // HTTP parser: 9 MB and a tenth of a second in a process that never uses fetch (acme-client
    // sets axios's adapter to 'http'). Without the cached constructor, isFormData() still
    // recognises a FormData by its tag; the fetch adapter is still built when first used.
    edits: [
      ["const FormDataCtor = typeof G.FormData !== 'undefined' ? G.FormData : undefined;", 'const FormDataCtor = undefined;'],
      ['\ngetFetch();\n', '\n'],
    ],
  },
  {
    file: 'acme-client/src/index.js',
    // acme.forge (node-forge, 370 kB) is acme-client's legacy crypto API, which certkeeper does
    // not use: load it from node_modules if something ever reads it, instead of parsing it at
    // every start.
    edits: [["exports.forge = require('./crypto/forge');", "Object.defineProperty(exports, 'forge', { enumerable: true, get: () => require('acme-client/src/crypto/forge.js') });"]],
    external: ['acme-client/src/crypto/forge.js'],
  },
  {
    file: 'acme-client/src/crypto/index.js',
    // Every acme-client module requires its crypto module, which loads @peculiar/x509 and asn1js
    // at once (15 MiB of peak RSS, a tenth of the CPU of one `certkeeper issue`) for what
    // certkeeper never calls: its CSR builder (src/acme/keys.ts writes the CSR), alternate-chain
    // selection and TLS-ALPN certificates. Load them on first use instead. The PEM body of the
    // CSR at finalize, the one thing on certkeeper's path that read it through @peculiar/x509,
    // is decoded with Buffer: the base64 between the first BEGIN and END lines.
    edits: [
      [
        "const asn1js = require('asn1js');\nconst x509 = require('@peculiar/x509');",
        "let loadedAsn1js;\nconst asn1js = new Proxy({}, { get: (_, name) => (loadedAsn1js ??= require('asn1js'))[name] });\n" +
          "let loadedX509;\nconst x509 = new Proxy({}, { get: (_, name) => { if (!loadedX509) { loadedX509 = require('@peculiar/x509'); loadedX509.cryptoProvider.set(crypto.webcrypto); } return loadedX509[name]; } });",
      ],
      ['\nx509.cryptoProvider.set(crypto.webcrypto);\n', '\n'],
      [
        "exports.getPemBodyAsB64u = (pem) => {\n    const chain = splitPemChain(pem);",
        "exports.getPemBodyAsB64u = (pem) => {\n    const first = /-----BEGIN [A-Z0-9 ]+-----([A-Za-z0-9+/=\\s]+?)-----END [A-Z0-9 ]+-----/.exec(pem.toString());\n    if (first) return Buffer.from(first[1].replace(/\\s+/g, ''), 'base64').toString('base64url');\n    const chain = splitPemChain(pem);",
      ],
    ],
  },
];

const patchPlugin = {
  name: 'certkeeper-patches',
  setup(b) {
    const applied = new Set();
    for (const patch of PATCHES) {
      const base = patch.file.slice(patch.file.lastIndexOf('/') + 1);
      b.onLoad({ filter: new RegExp(`${base.replace(/[.]/g, '\\.')}$`) }, (args) => {
        if (!args.path.replaceAll('\\', '/').endsWith(`/node_modules/${patch.file}`)) return undefined;
        let text = readFileSync(args.path, 'utf8');
        for (const [from, to] of patch.edits) {
          if (!text.includes(from)) throw new Error(`${patch.file} no longer contains ${JSON.stringify(from)}: review PATCHES in scripts/build.mjs`);
          text = text.replace(from, to);
        }
        applied.add(patch.file);
        return { contents: text, loader: 'js' };
      });
    }
    b.onEnd((result) => {
      if (result.errors.length > 0) return;
      const missing = PATCHES.filter((p) => !applied.has(p.file)).map((p) => p.file);
      if (missing.length > 0) throw new Error(`PATCHES in scripts/build.mjs name files the bundle no longer includes: ${missing.join(', ')}`);
    });
  },
};

/**
 * The esbuild options of dist/cli.js without entry points and output folder. The benchmarks bundle
 * their workers with these, so that what they measure loads as the CLI does.
 */
export function bundleOptions() {
  return {
    absWorkingDir: ROOT,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: PATCHES.flatMap((p) => p.external ?? []),
    plugins: [patchPlugin],
    // Less to read and parse at every start; names are kept so that error types in logs and
    // stack traces stay readable. dist/*.map maps back to src/ (node --enable-source-maps).
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    // Bundled CommonJS modules (acme-client, axios, pino) call require() for Node's built-ins,
    // which an ES module does not have.
    banner: { js: "import { createRequire as __certkeeperRequire } from 'node:module'; const require = __certkeeperRequire(import.meta.url);" },
    logLevel: 'warning',
  };
}

/** Bundles another entry point (a benchmark's worker) as dist/cli.js is bundled; returns the output file. */
export async function bundleEntry(name, entry, outdir) {
  rmSync(outdir, { recursive: true, force: true });
  await build({ ...bundleOptions(), entryPoints: { [name]: entry }, outdir });
  return join(outdir, `${name}.js`);
}

/** `metafile`: where to write esbuild's account of what went into each chunk (for size work). */
export async function buildCli({ typecheck = true, metafile } = {}) {
  if (typecheck) {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--noEmit'], { cwd: ROOT, stdio: 'inherit' });
    if (tsc.status !== 0) throw new Error('type errors (tsc -p tsconfig.build.json --noEmit)');
  }
  rmSync(OUT, { recursive: true, force: true });
  const result = await build({ ...bundleOptions(), entryPoints: { cli: 'src/bin/certkeeper.ts', 'kubectl-plugin': 'src/bin/kubectl-certkeeper.ts' }, outdir: OUT, metafile: Boolean(metafile) });
  if (metafile) writeFileSync(metafile, JSON.stringify(result.metafile));
  for (const bin of ['cli.js', 'kubectl-plugin.js']) chmodSync(join(OUT, bin), 0o755);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const i = process.argv.indexOf('--metafile');
    await buildCli({ typecheck: !process.argv.includes('--no-typecheck'), metafile: i > 0 ? process.argv[i + 1] : undefined });
  } catch (e) {
    console.error(`certkeeper: build failed: ${e.message}`);
    process.exit(1);
  }
}
