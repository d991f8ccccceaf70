// Reads Kubernetes objects from YAML/JSON files, directories and stdin for `lint`, keeping the
// file and 1-based line of every object so findings can point at it (and GitHub can annotate it).
// A document that does not parse is an InvalidManifest finding, never a crash.
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, Scalar, isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, visit, type DocumentOptions, type Document, type Node as YamlNode, type ParseOptions, type ScalarTag, type SchemaOptions } from 'yaml';
import { finding, type Finding } from './core/findings.js';

/** How stdin is named in findings when no Helm `# Source:` comment says better. */
export const STDIN_NAME = '<stdin>';
const MANIFEST_EXT = /\.(ya?ml|json)$/i;

export interface ManifestObject {
  object: Record<string, unknown>;
  /** Path as given on the command line (joined with the path inside a directory), or STDIN_NAME. */
  file: string;
  /** 1-based line of the object's first key. */
  line: number;
  /** The `# Source: chart/templates/x.yaml` comment Helm puts above each rendered document. */
  source?: string;
}

export interface ManifestReadResult {
  objects: ManifestObject[];
  /** InvalidManifest findings for documents that cannot be read as objects. */
  findings: Finding[];
  /** Things the user should know that are not findings (skipped Helm chart directories). */
  notes: string[];
}

/** A path that cannot be read at all: a usage problem, not a finding about manifests. */
export class ManifestReadError extends Error {
  override name = 'ManifestReadError';
}

/** `0o17`: go-yaml resolves Go's octal prefix too (strconv.ParseInt with base 0). */
const GO_OCTAL: ScalarTag = {
  identify: (v) => Number.isInteger(v),
  default: true,
  tag: 'tag:yaml.org,2002:int',
  format: 'OCT',
  test: /^[-+]?0[oO][0-7_]+$/,
  resolve: (s) => (s.startsWith('-') ? -1 : 1) * parseInt(s.replace(/^[-+]?0[oO]/, '').replace(/_/g, ''), 8),
};

/**
 * Manifests are read as kubectl reads them. kubectl converts YAML to JSON with sigs.k8s.io/yaml,
 * which is go-yaml v2: YAML 1.1 scalars (yes/no/on/off/y/n are booleans, 0755 is octal, 0b101
 * binary) and `<<` merge keys, so a host hidden behind a merge key is a host of the Ingress. Unlike
 * the YAML 1.1 schema of the yaml package, go-yaml leaves timestamps (2001-12-14) and sexagesimal
 * numbers (190:20:30) as the strings they are written as, and it also reads 0o17 as octal.
 * (Checked against kubectl 1.34: `kubectl label --local -f FILE -o json` shows its reading.)
 */
const KUBECTL_YAML: ParseOptions & DocumentOptions & SchemaOptions = {
  schema: 'yaml-1.1',
  merge: true,
  customTags: (tags) => [
    ...tags.filter((t) => typeof t === 'string' || !(t.tag === 'tag:yaml.org,2002:timestamp' || ('format' in t && t.format === 'TIME'))),
    GO_OCTAL,
  ],
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function lineOf(lc: LineCounter, offset: number | undefined): number {
  if (offset === undefined) return 1;
  return Math.max(1, lc.linePos(offset).line);
}

function invalid(file: string, doc: number, line: number, message: string, hint: string): Finding {
  return finding('InvalidManifest', { kind: 'Document', name: `#${doc}`, file, line }, message, hint);
}

/** An alias whose anchor is not defined before it: kubectl rejects the file ("unknown anchor"). */
interface UnresolvedAlias {
  name: string;
  offset: number;
  /** How the value reads quoted, in its place: `- "*.example.com"`, `host: "*.example.com"`, `"*.example.com"`. */
  quoted: string;
}

/**
 * Finds aliases without an anchor before them (the rule of the yaml package and of go-yaml). An
 * unquoted `*.example.com` is such an alias (named ".example.com"); it is put back as the string
 * the user meant, so the rest of the object is still linted.
 */
function unresolvedAliases(doc: Document.Parsed): UnresolvedAlias[] {
  const found: UnresolvedAlias[] = [];
  const anchors = new Set<string>();
  visit(doc, {
    Node: (key, node, path) => {
      if (!isAlias(node)) {
        if (node.anchor !== undefined) anchors.add(node.anchor);
        return undefined;
      }
      if (anchors.has(node.source)) return undefined;
      const text = `*${node.source}`;
      const parent = path[path.length - 1];
      const quoted =
        key === 'value' && isPair(parent)
          ? `${isScalar(parent.key) ? String(parent.key.value) : '…'}: "${text}"`
          : isSeq(parent) && !parent.flow
            ? `- "${text}"`
            : `"${text}"`;
      found.push({ name: node.source, offset: node.range?.[0] ?? 0, quoted });
      if (!node.source.startsWith('.')) return undefined;
      const scalar = new Scalar(text);
      if (node.range) scalar.range = node.range;
      return scalar;
    },
  });
  return found;
}

function refOf(object: Record<string, unknown>): { kind: string; name: string; namespace?: string } {
  const md = isRecord(object.metadata) ? object.metadata : {};
  const ref: { kind: string; name: string; namespace?: string } = {
    kind: typeof object.kind === 'string' ? object.kind : 'Document',
    name: typeof md.name === 'string' && md.name !== '' ? md.name : '(unnamed)',
  };
  if (typeof md.namespace === 'string' && md.namespace !== '') ref.namespace = md.namespace;
  return ref;
}

/**
 * Parses one file's text: multi-document YAML (or JSON), `kind: List` and `*List` items expanded.
 * Documents without `kind` (Helm values, Chart.yaml, CI configs) are skipped silently.
 */
export function parseManifestText(raw: string, file: string): ManifestReadResult {
  const out: ManifestReadResult = { objects: [], findings: [], notes: [] };
  const lc = new LineCounter();
  const text = raw.replace(/^\uFEFF/, '');
  let docs: Document.Parsed[];
  try {
    docs = [...parseAllDocuments(text, { ...KUBECTL_YAML, lineCounter: lc, prettyErrors: false })] as Document.Parsed[];
  } catch (e) {
    out.findings.push(invalid(file, 1, 1, `the file cannot be parsed as YAML: ${(e as Error).message}`, 'fix the YAML syntax'));
    return out;
  }
  for (const [di, doc] of docs.entries()) {
    const docNo = di + 1;
    const contents = doc.contents as YamlNode | null;
    const start = contents?.range?.[0] ?? doc.range?.[0];
    const line = lineOf(lc, start);
    const firstError = doc.errors[0];
    if (firstError) {
      const errLine = lineOf(lc, firstError.pos[0]);
      out.findings.push(
        invalid(
          file,
          docNo,
          errLine,
          `YAML syntax error at line ${errLine}: ${firstError.message.split('\n')[0] ?? firstError.message}`,
          text.includes('{{') ? 'this looks like an unrendered Helm template: lint the output of helm template instead (helm template … | certkeeper lint -)' : 'fix the YAML syntax (indentation, a missing ":" or an unclosed quote)',
        ),
      );
      continue;
    }
    const docText = text.slice(doc.range?.[0] ?? 0, doc.range?.[1] ?? text.length);
    const aliases = docText.includes('*') ? unresolvedAliases(doc) : [];
    const wildcards = aliases.filter((a) => a.name.startsWith('.'));
    /** The objects of this document with the source range of each, to place alias findings. */
    const placed: { object: Record<string, unknown>; from: number; to: number }[] = [];
    const reportWildcards = (): void => {
      for (const w of wildcards) {
        const host = `*${w.name}`;
        const inside = placed.find((p) => w.offset >= p.from && w.offset < p.to);
        const ref = inside ? refOf(inside.object) : { kind: 'Document', name: `#${docNo}` };
        out.findings.push(
          finding(
            'UnquotedWildcard',
            { ...ref, file, line: lineOf(lc, w.offset) },
            `${host} is not quoted, so YAML reads it as an alias (a reference to an anchor named "${w.name}"), not as a hostname; kubectl rejects the file ("did not find expected alphabetic or numeric character")`,
            `quote the wildcard: ${w.quoted}`,
            host,
          ),
        );
      }
    };
    const unknown = aliases.find((a) => !a.name.startsWith('.'));
    if (unknown) {
      out.findings.push(
        invalid(
          file,
          docNo,
          lineOf(lc, unknown.offset),
          `*${unknown.name} refers to an anchor "${unknown.name}" that is not defined before it; kubectl rejects the file${/^[\w-]+$/.test(unknown.name) ? ` ("unknown anchor '${unknown.name}' referenced")` : ''}`,
          `define &${unknown.name} on a value before *${unknown.name}, or quote the value (${unknown.quoted}) if the "*" is meant literally`,
        ),
      );
      reportWildcards();
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      const message = (e as Error).message;
      out.findings.push(
        invalid(file, docNo, line, `the document cannot be read: ${message}`, /alias count/i.test(message) ? 'remove excessive YAML aliases or anchors' : 'fix the YAML (anchors, aliases and << merge keys)'),
      );
      reportWildcards();
      continue;
    }
    if (value === null || value === undefined) {
      reportWildcards();
      continue;
    }
    const head = text.slice(doc.range?.[0] ?? 0, start ?? 0);
    const source = /^#\s*Source:\s*(\S.*?)\s*$/m.exec(head)?.[1];
    const push = (object: Record<string, unknown>, l: number, node: YamlNode | null | undefined): void => {
      const m: ManifestObject = { object, file, line: l };
      if (source !== undefined) m.source = source;
      out.objects.push(m);
      placed.push({ object, from: node?.range?.[0] ?? 0, to: node?.range?.[2] ?? text.length });
    };
    if (!isRecord(value)) {
      out.findings.push(invalid(file, docNo, line, `the document is ${Array.isArray(value) ? 'a list' : `a ${typeof value}`}, not a Kubernetes object`, 'each YAML document must be one object with apiVersion, kind and metadata'));
    } else if (value.kind === undefined) {
      // Not a Kubernetes object (Helm values, CI configs): skipped silently.
    } else if (typeof value.kind !== 'string') {
      out.findings.push(invalid(file, docNo, line, 'the document has a kind that is not a string', 'set kind to the object kind, e.g. kind: Ingress'));
    } else if (value.kind.endsWith('List') && Array.isArray(value.items)) {
      // kubectl get -o yaml prints kind: List (or IngressList) with the objects under items.
      const itemsNode = isMap(contents) ? contents.get('items', true) : undefined;
      const kind = value.kind;
      value.items.forEach((item, i) => {
        const node = isSeq(itemsNode) ? (itemsNode.items[i] as YamlNode | undefined) : undefined;
        const l = lineOf(lc, node?.range?.[0] ?? start);
        if (isRecord(item)) push(item, l, node);
        else out.findings.push(invalid(file, docNo, l, `items[${i}] of the ${kind} is not an object`, 'each item must be a Kubernetes object'));
      });
    } else push(value, line, contents);
    reportWildcards();
  }
  return out;
}

/** Reading stopped on SIGINT/SIGTERM: how far it got, so the user learns what was left undone. */
export class ReadStoppedError extends Error {
  override name = 'ReadStoppedError';
  constructor(
    message: string,
    readonly filesRead: number,
    readonly filesTotal: number | undefined,
  ) {
    super(message);
  }
}

function stopReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : typeof r === 'string' ? r : 'interrupted';
}

function readStdin(stream: NodeJS.ReadableStream, signal: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer | string): void => {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    };
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onAbort = (): void => {
      cleanup();
      // An open stdin would keep the process alive after lint has given up on it.
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      reject(new ReadStoppedError(`stopped (${stopReason(signal as AbortSignal)}) while reading standard input; nothing was linted`, 0, undefined));
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file or directory';
  if (err.code === 'EACCES') return 'permission denied';
  return err.message ?? String(e);
}

/** A path given on the command line that yielded no Kubernetes object and no finding. */
export interface EmptyInput {
  /** As given ("-" is shown as "standard input"). */
  path: string;
  reason: string;
}

export interface ReadOptions {
  stdin?: NodeJS.ReadableStream;
  /** SIGINT/SIGTERM: reading stops between files and throws ReadStoppedError. */
  signal?: AbortSignal;
  /** Progress for --verbose: reading stdin, the number of files once listed, each file read. */
  onProgress?: (p: ReadProgress) => void;
}

export type ReadProgress =
  | { kind: 'stdin' }
  | { kind: 'listed'; files: number }
  | { kind: 'read'; file: string; done: number; files: number; objects: number };

export interface ManifestsRead extends ManifestReadResult {
  /** Paths that yielded nothing: an empty `helm template`, a directory of values files. */
  empty: EmptyInput[];
}

/**
 * Reads FILEs, DIRs (recursively: *.yaml, *.yml, *.json, skipping dot-entries, node_modules and
 * Helm chart sources) and `-` (stdin). Throws ManifestReadError when a path cannot be read, and
 * ReadStoppedError when the signal fires.
 */
export async function readManifests(paths: readonly string[], io: ReadOptions = {}): Promise<ManifestsRead> {
  const result: ManifestsRead = { objects: [], findings: [], notes: [], empty: [] };
  const seenDirs = new Set<string>();
  const seenFiles = new Set<string>();
  /** The files of each path given, in order; a file listed by an earlier path is not listed again. */
  const listed: { path: string; files: string[]; dir: boolean; found: number; charts: number }[] = [];
  let stdinRead = false;
  const { signal } = io;
  const stopIfAsked = (read: number, total: number | undefined): void => {
    if (!signal?.aborted) return;
    const why = stopReason(signal);
    throw new ReadStoppedError(
      total === undefined
        ? `stopped (${why}) while listing files, after finding ${read}; nothing was linted`
        : read === total
          ? `stopped (${why}) after reading all ${total} files, before linting them; nothing was linted`
          : `stopped (${why}) after ${read} of ${total} files; the other ${total - read} were not read and nothing was linted`,
      read,
      total,
    );
  };
  const countListed = (): number => listed.reduce((n, l) => n + l.files.length, 0);

  const walk = async (dir: string, into: (typeof listed)[number]): Promise<void> => {
    const real = await realpath(dir);
    if (seenDirs.has(real)) return; // a symlink loop
    seenDirs.add(real);
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (entries.some((e) => e.name === 'Chart.yaml')) {
      // Templates are not YAML until rendered; parsing them only yields noise.
      result.notes.push(`skipped Helm chart ${dir}: lint its rendered output instead (helm template ${dir} | certkeeper lint -)`);
      into.charts++;
      return;
    }
    for (const e of entries) {
      stopIfAsked(countListed(), undefined);
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      const s = e.isSymbolicLink() ? await stat(p).catch(() => undefined) : undefined;
      if (e.isDirectory() || s?.isDirectory()) await walk(p, into);
      else if ((e.isFile() || s?.isFile()) && MANIFEST_EXT.test(e.name)) {
        into.found++;
        if (!seenFiles.has(p)) {
          seenFiles.add(p);
          into.files.push(p);
        }
      }
    }
  };

  for (const p of paths) {
    if (p === '-') {
      if (stdinRead) continue;
      stdinRead = true;
      if (!io.stdin) throw new ManifestReadError('cannot read "-": no standard input available');
      io.onProgress?.({ kind: 'stdin' });
      const text = await readStdin(io.stdin, signal);
      const r = parseManifestText(text, STDIN_NAME);
      result.objects.push(...r.objects);
      result.findings.push(...r.findings);
      if (r.objects.length + r.findings.length === 0) {
        result.empty.push({
          path: 'standard input',
          reason: text.trim() === '' ? 'it is empty (did helm template render nothing?)' : 'no document in it is a Kubernetes object (none has a kind)',
        });
      }
      continue;
    }
    let st;
    try {
      st = await stat(p);
    } catch (e) {
      throw new ManifestReadError(`cannot read ${p}: ${errText(e)}`);
    }
    const entry = { path: p, files: [] as string[], dir: st.isDirectory(), found: 0, charts: 0 };
    if (st.isDirectory()) {
      if (seenDirs.has(await realpath(p))) continue;
      try {
        await walk(p, entry);
      } catch (e) {
        if (e instanceof ReadStoppedError) throw e;
        throw new ManifestReadError(`cannot read directory ${p}: ${errText(e)}`);
      }
      if (entry.found === 0 && entry.charts === 0) throw new ManifestReadError(`no *.yaml, *.yml or *.json files under ${p}`);
    } else {
      entry.found = 1;
      if (!seenFiles.has(p)) {
        seenFiles.add(p);
        entry.files.push(p);
      }
    }
    listed.push(entry);
  }

  const total = countListed();
  io.onProgress?.({ kind: 'listed', files: total });
  let done = 0;
  for (const entry of listed) {
    let objects = 0;
    let findings = 0;
    let blank = 0;
    for (const f of entry.files) {
      stopIfAsked(done, total);
      let text: string;
      try {
        text = await readFile(f, 'utf8');
      } catch (e) {
        throw new ManifestReadError(`cannot read ${f}: ${errText(e)}`);
      }
      const r = parseManifestText(text, f);
      result.objects.push(...r.objects);
      result.findings.push(...r.findings);
      objects += r.objects.length;
      findings += r.findings.length;
      if (text.trim() === '') blank++;
      done++;
      io.onProgress?.({ kind: 'read', file: f, done, files: total, objects: r.objects.length });
    }
    // A path whose files were all read already (given twice, or inside a directory given too) says nothing.
    if (objects + findings > 0 || (entry.files.length === 0 && entry.found > 0)) continue;
    let reason: string;
    if (!entry.dir) reason = blank > 0 ? 'the file is empty' : 'no document in it is a Kubernetes object (none has a kind)';
    else if (entry.found === 0) reason = 'it holds only Helm charts, which are skipped (lint their rendered output)';
    else reason = `none of its ${entry.found} *.yaml, *.yml or *.json files holds a Kubernetes object (a document with a kind)`;
    result.empty.push({ path: entry.path, reason });
  }
  stopIfAsked(done, total);
  return result;
}
