// `certkeeper lint` end to end: real files through the real command (and commander), the lint
// corpus under test/fixtures/lint (every spec and Secret finding), and the shared examples.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { LINT_EXIT, exitCodeFor, lint, registerLint, runLint, type LintIo, type LintOptions } from '../../src/commands/lint.js';
import { FINDINGS, finding, type Finding, type FindingCode } from '../../src/core/findings.js';
import { planTargets } from '../../src/core/targets.js';
import { parseManifestText, readManifests } from '../../src/manifests.js';
import { escapeGithubData, escapeGithubProperty, formatGithub, formatJson, formatText } from '../../src/output/findings.js';
import { LINT_FIXTURE_NOW, generateLintFixtures } from '../fixtures/lint/generate.js';

const CORPUS = 'test/fixtures/lint';
const EXAMPLES = 'test/fixtures/examples';

it.runIf(process.env.CERTKEEPER_REGENERATE_FIXTURES === '1')('regenerates the generated lint fixtures', () => {
  expect(generateLintFixtures(CORPUS).length).toBeGreaterThan(10);
});

interface Captured extends LintIo {
  setExitCode: (n: number) => void;
  out: () => string;
  err: () => string;
  code: () => number | undefined;
}

function capture(stdinText = ''): Captured {
  let out = '';
  let err = '';
  let code: number | undefined;
  return {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    stdin: Readable.from([stdinText]),
    setExitCode: (n) => {
      code = n;
    },
    out: () => out,
    err: () => err,
    code: () => code,
  };
}

/** Runs `certkeeper lint ARGS` through commander as cli.ts will; returns the exit code. */
async function cli(args: string[], io: Captured): Promise<number> {
  const program = new Command('certkeeper').exitOverride();
  registerLint(program, io, io.setExitCode);
  try {
    await program.parseAsync(['lint', ...args], { from: 'user' });
    return io.code() ?? 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // registerLint reports its usage errors through setExit too.
      if (e.exitCode !== 0) expect(io.code()).toBe(e.exitCode);
      return e.exitCode;
    }
    throw e;
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'certkeeper-lint-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function corpusFiles(dir = CORPUS): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) return corpusFiles(p);
      return n.endsWith('.yaml') ? [p] : [];
    });
}

function expected(file: string): FindingCode[] {
  const m = /^# expect: (.*)$/m.exec(readFileSync(file, 'utf8'));
  if (!m?.[1]) throw new Error(`${file} has no "# expect:" header`);
  return m[1].trim() === 'none' ? [] : (m[1].split(',').map((s) => s.trim()) as FindingCode[]);
}

const codes = (fs: readonly Finding[]): FindingCode[] => [...new Set(fs.map((f) => f.code))].sort();
const opts: LintOptions = { now: LINT_FIXTURE_NOW };

describe('lint corpus (test/fixtures/lint)', () => {
  const files = corpusFiles();

  it.each(files)('%s', async (file) => {
    const r = await lint([file], opts);
    expect(codes(r.findings)).toEqual([...expected(file)].sort());
    for (const f of r.findings) {
      expect(f.severity).toBe(FINDINGS[f.code].severity);
      expect(f.message).not.toBe('');
      expect(f.hint).not.toBe('');
      // Every finding points into the file, even SecretInOtherNamespace (at the Ingress using it).
      expect(f.object.file).toBe(file);
      expect(f.object.line ?? 1).toBeGreaterThanOrEqual(1);
    }
  });

  it('covers every Ingress spec and Secret finding that lint can report', () => {
    const all = new Set(files.flatMap(expected));
    const specAndSecret: FindingCode[] = [
      'TlsHostNotRouted', 'RuleHostNotCovered', 'RuleSplitHostAndPaths', 'TlsSecretNameMissing', 'TlsHostsMissing', 'SecretHostsConflict',
      'SecretSettingsConflict', 'WildcardHost', 'InvalidHost', 'IpAddressHost', 'TooManyHosts', 'RemovedApiVersion', 'LegacyBackendFields',
      'UnknownSpecField', 'TlsMissing', 'UnknownAnnotation', 'InvalidAnnotationValue', 'InvalidManifest',
      'SecretInOtherNamespace', 'SecretWrongType', 'SecretKeysMissing', 'CertificateUnparsable', 'KeyMismatch', 'ChainIncomplete',
      'CertificateExpired', 'CertificateNotYetValid', 'CertificateNearExpiry', 'SansNotCoveringHosts', 'SelfSignedCertificate',
      'DefaultCertificateInSecret', 'SecretNotManaged',
    ];
    expect(specAndSecret.filter((c) => !all.has(c))).toEqual([]);
    for (const c of specAndSecret) expect(FINDINGS[c]).toBeDefined();
  });

  it('never reports SecretMissing: offline, the cluster may well have the Secret', async () => {
    const r = await lint([CORPUS], opts);
    expect(r.findings.some((f) => f.code === 'SecretMissing')).toBe(false);
  });

  it('lints the whole corpus directory in one run (exit 2)', async () => {
    const io = capture();
    expect(await cli([CORPUS, '-o', 'json'], io)).toBe(LINT_EXIT.errors);
    const json = JSON.parse(io.out()) as { findings: unknown[]; summary: { errors: number } };
    expect(json.summary.errors).toBeGreaterThan(20);
  });
});

describe('shared examples (test/fixtures/examples)', () => {
  const run = (name: string) => lint([join(EXAMPLES, name)], opts);

  it('tls-host-mismatch.yaml: the typo, the split rule, the uncovered rule host', async () => {
    const r = await run('tls-host-mismatch.yaml');
    expect(codes(r.findings)).toEqual(['RuleHostNotCovered', 'RuleSplitHostAndPaths', 'TlsHostNotRouted']);
    const notRouted = r.findings.find((f) => f.code === 'TlsHostNotRouted');
    expect(notRouted?.host).toBe('hskim.example');
    expect(notRouted?.message).toContain('likely a typo of the rule host "hskim.example.com"');
    expect(notRouted?.hint).toContain('to "hskim.example.com"');
    expect(r.findings.find((f) => f.code === 'RuleSplitHostAndPaths')?.hint).toContain("remove the '-' before 'http:'");
    expect(r.findings.find((f) => f.code === 'RuleHostNotCovered')?.host).toBe('hskim.example.com');
    expect(notRouted?.object).toMatchObject({ kind: 'Ingress', namespace: 'hskim', name: 'minimal-ingress', file: join(EXAMPLES, 'tls-host-mismatch.yaml'), line: 1 });
    expect(r.targets).toEqual([]);
    expect(r.exitCode).toBe(LINT_EXIT.errors);
  });

  it('legacy-extensions-v1beta1.yaml: removed API, legacy backend, misspelt fields with suggestions', async () => {
    const r = await run('legacy-extensions-v1beta1.yaml');
    expect(codes(r.findings)).toEqual(expect.arrayContaining(['LegacyBackendFields', 'RemovedApiVersion', 'UnknownSpecField']));
    const unknown = r.findings.filter((f) => f.code === 'UnknownSpecField');
    expect(unknown.find((f) => f.message.includes('"rouls"'))?.hint).toContain('"rules"');
    expect(unknown.find((f) => f.message.includes('"serviceProt"'))?.hint).toContain('"servicePort"');
    // With "rules" misspelt nothing routes the TLS host, and the message says why.
    expect(r.findings.find((f) => f.code === 'TlsHostNotRouted')?.message).toContain('"rouls" is probably meant to be "rules"');
  });

  it('two-namespaces.yaml: clean, two targets in hyein-ns, each in its own Secret', async () => {
    const r = await run('two-namespaces.yaml');
    expect(r.findings).toEqual([]);
    expect(r.targets.map((t) => [t.namespace, t.secretName, t.hosts])).toEqual([
      ['hyein-ns', 'hyein-tls', ['hyein.example.com']],
      ['hyein-ns', 'lily-tls', ['lily.example.com']],
    ]);
    expect(r.exitCode).toBe(LINT_EXIT.clean);
  });

  it('managed-ok.yaml: no findings, one target with two hosts', async () => {
    const r = await run('managed-ok.yaml');
    expect(r.findings).toEqual([]);
    expect(r.targets).toEqual([
      {
        namespace: 'shop',
        secretName: 'shop-tls',
        hosts: ['shop.example.com', 'www.shop.example.com'],
        ingresses: [{ namespace: 'shop', name: 'shop' }],
        ingressClass: 'nginx',
        settings: { keyType: 'ecdsa-p256' },
      },
    ]);
  });

  it('the copies match the examples README table', () => {
    const readme = readFileSync(join(EXAMPLES, 'README.md'), 'utf8');
    for (const f of ['tls-host-mismatch.yaml', 'legacy-extensions-v1beta1.yaml', 'two-namespaces.yaml', 'managed-ok.yaml']) expect(readme).toContain(f);
  });
});

describe('exit codes', () => {
  it.each<[string, string[], number]>([
    ['clean', [join(EXAMPLES, 'managed-ok.yaml')], 0],
    ['warnings only', [join(CORPUS, 'rule-host-not-covered.yaml')], 1],
    ['warnings only, --strict', ['--strict', join(CORPUS, 'rule-host-not-covered.yaml')], 2],
    ['errors', [join(EXAMPLES, 'tls-host-mismatch.yaml')], 2],
    ['a YAML syntax error is a finding, not a crash', [join(CORPUS, 'invalid-manifest.yaml')], 2],
    ['missing file', [join(tmp, 'nope.yaml')], 3],
    ['no path', [], 3],
    ['unknown option', ['--frobnicate', join(EXAMPLES, 'managed-ok.yaml')], 3],
    ['bad output format', ['-o', 'xml', join(EXAMPLES, 'managed-ok.yaml')], 3],
  ])('%s → %d', async (_why, args, code) => {
    const io = capture();
    expect(await cli(args, io)).toBe(code);
    if (code === 3) expect(io.err()).not.toBe('');
  });

  it('exitCodeFor: infos do not fail the build', () => {
    const info = finding('NoSniDefaultCertificate', { kind: 'Ingress', name: 'x' }, 'm', 'h');
    const warn = finding('RuleHostNotCovered', { kind: 'Ingress', name: 'x' }, 'm', 'h');
    expect(exitCodeFor([info])).toBe(0);
    expect(exitCodeFor([info, warn])).toBe(1);
    expect(exitCodeFor([warn], true)).toBe(2);
  });

  it('--help documents the exit codes and exits 0', async () => {
    const io = capture();
    expect(await cli(['--help'], io)).toBe(0);
    expect(io.out()).toContain('Exit status');
    expect(io.out()).toMatch(/3\s+usage error/);
  });

  it('a read error says which path', async () => {
    const io = capture();
    expect(await runLint([join(tmp, 'missing.yaml')], opts, io)).toBe(3);
    expect(io.err()).toContain('missing.yaml: no such file or directory');
  });
});

describe('options', () => {
  const plain = join(tmp, 'plain.yaml');
  writeFileSync(
    plain,
    `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: plain, namespace: web}
spec:
  ingressClassName: traefik
  tls: [{hosts: ["*.example.com"], secretName: wild}]
  rules: [{host: a.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}}]
`,
  );

  it('without --all-ingresses an unannotated wildcard is the user\'s own business', async () => {
    expect((await lint([plain], opts)).findings).toEqual([]);
  });
  it('--all-ingresses applies the issuance checks', async () => {
    expect(codes((await lint([plain], { ...opts, allIngresses: true })).findings)).toEqual(['WildcardHost']);
  });
  it('--ingress-class skips Ingresses of other classes', async () => {
    const io = capture();
    expect(await cli(['--all-ingresses', '--ingress-class', 'nginx', plain], io)).toBe(0);
    expect(await cli(['--all-ingresses', '--ingress-class', 'traefik', plain], capture())).toBe(LINT_EXIT.errors);
  });
});

describe('output formats', () => {
  const file = join(EXAMPLES, 'tls-host-mismatch.yaml');

  it('text: grouped by object, with code, host, message and hint', async () => {
    const io = capture();
    await cli([file], io);
    const out = io.out();
    expect(out).toContain(`${file}:1  Ingress hskim/minimal-ingress`);
    expect(out).toMatch(/error\s+TlsHostNotRouted\s+hskim\.example\n/);
    expect(out).toContain('hint: change "hskim.example"');
    expect(out.trimEnd().split('\n').at(-1)).toBe('2 errors, 1 warning, 0 infos');
  });

  it('json: a stable schema', async () => {
    const io = capture();
    await cli(['-o', 'json', file], io);
    const json = JSON.parse(io.out()) as { findings: Record<string, unknown>[]; summary: Record<string, number> };
    expect(Object.keys(json)).toEqual(['findings', 'summary']);
    expect(json.summary).toEqual({ errors: 2, warnings: 1, infos: 0 });
    expect(json.findings[0]).toEqual({
      code: 'RuleSplitHostAndPaths',
      severity: 'error',
      object: { kind: 'Ingress', name: 'minimal-ingress', namespace: 'hskim', file, line: 1 },
      message: expect.any(String),
      hint: expect.any(String),
      host: 'hskim.example.com',
    });
  });

  it('github: workflow commands with file, line and title', async () => {
    const io = capture();
    await cli(['--output', 'github', file], io);
    const lines = io.out().trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(new RegExp(`^::error file=${file.replace(/[.]/g, '\\.')},line=1,title=RuleSplitHostAndPaths::Ingress hskim/minimal-ingress: spec\\.rules\\[0\\]`));
    expect(lines[2]).toMatch(/^::warning file=.*,line=1,title=RuleHostNotCovered::.* — change /);
  });

  it('github: escapes data and properties per the toolkit rules', () => {
    expect(escapeGithubData('50% done\r\nnext: a,b')).toBe('50%25 done%0D%0Anext: a,b');
    expect(escapeGithubProperty('dir,x/a:b%.yaml\n')).toBe('dir%2Cx/a%3Ab%25.yaml%0A');
    const f: Finding = { ...finding('InvalidHost', { kind: 'Ingress', name: 'x', file: 'a,b:c.yaml', line: 3 }, 'line1\nline2 100%', 'fix'), host: 'h' };
    expect(formatGithub([f]).split('\n')[0]).toBe('::error file=a%2Cb%3Ac.yaml,line=3,title=InvalidHost::Ingress x: line1%0Aline2 100%25 — fix');
    const noFile = finding('NoSniDefaultCertificate', { kind: 'Ingress', name: 'x' }, 'm', 'h');
    expect(formatGithub([noFile]).split('\n')[0]).toBe('::notice title=NoSniDefaultCertificate::Ingress x: m — h');
  });

  it('empty results', () => {
    expect(formatText([])).toBe('no findings\n');
    expect(JSON.parse(formatJson([]))).toEqual({ findings: [], summary: { errors: 0, warnings: 0, infos: 0 } });
    expect(formatGithub([])).toBe('no findings\n');
  });
});

describe('reading manifests', () => {
  it('reads stdin with "-", and names Helm templates from their # Source: comment', async () => {
    const io = capture(readFileSync(join(CORPUS, 'helm-rendered.yaml'), 'utf8'));
    expect(await cli(['-o', 'json', '-'], io)).toBe(2);
    const json = JSON.parse(io.out()) as { findings: { object: { file?: string; line?: number } }[] };
    expect(json.findings[0]?.object).toEqual({ kind: 'Ingress', name: 'shop', file: 'shop/templates/ingress.yaml' });
  });

  it('keeps 1-based lines of every document and of List items', () => {
    const text = readFileSync(join(CORPUS, 'clean-list.yaml'), 'utf8');
    const r = parseManifestText(text, 'x.yaml');
    expect(r.objects.map((o) => [o.object.kind, o.line])).toEqual([
      ['Ingress', 6],
      ['Ingress', 30],
    ]);
    const multi = parseManifestText('# c\n---\na: 1\n---\n\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n', 'm.yaml');
    expect(multi.objects.map((o) => o.line)).toEqual([6]);
    expect(multi.findings).toEqual([]);
  });

  it.each<[string, number, string]>([
    ['a syntax error (where the parser notices it)', 4, 'kind: Ingress\nmetadata:\n  name: [x\n  namespace: y\n'],
    ['a bad second document', 3, 'kind: ConfigMap\n---\nkind: Ingress\n  bad: indent\n'],
    ['a scalar document', 1, 'just text\n'],
    ['a non-string kind', 1, 'kind: 5\n'],
    ['a non-object List item', 3, 'kind: List\nitems:\n- 5\n'],
    ['an alias bomb', 1, `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nkind: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`],
  ])('%s → InvalidManifest at line %d', (_why, line, text) => {
    const r = parseManifestText(text, 'bad.yaml');
    expect(r.findings.map((f) => [f.code, f.object.file, f.object.line])).toEqual([['InvalidManifest', 'bad.yaml', line]]);
  });

  it('walks directories: *.yaml, *.yml, *.json; skips dot-entries, node_modules, Helm charts; survives symlink loops', async () => {
    const d = join(tmp, 'repo');
    mkdirSync(join(d, 'apps', 'shop'), { recursive: true });
    mkdirSync(join(d, '.github', 'workflows'), { recursive: true });
    mkdirSync(join(d, 'node_modules', 'x'), { recursive: true });
    mkdirSync(join(d, 'charts', 'shop', 'templates'), { recursive: true });
    const ingress = readFileSync(join(EXAMPLES, 'managed-ok.yaml'), 'utf8');
    writeFileSync(join(d, 'apps', 'shop', 'ingress.yaml'), ingress);
    writeFileSync(join(d, 'apps', 'shop', 'svc.yml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n');
    writeFileSync(join(d, 'apps', 'cm.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }));
    writeFileSync(join(d, 'apps', 'notes.txt'), 'kind: Ingress\n');
    writeFileSync(join(d, 'apps', 'values.yaml'), 'replicas: 2\n');
    writeFileSync(join(d, '.github', 'workflows', 'ci.yaml'), 'on: [push]\n');
    writeFileSync(join(d, 'node_modules', 'x', 'bad.yaml'), 'a: [\n');
    writeFileSync(join(d, 'charts', 'shop', 'Chart.yaml'), 'apiVersion: v2\nname: shop\n');
    writeFileSync(join(d, 'charts', 'shop', 'templates', 'ingress.yaml'), 'metadata:\n  name: {{ .Release.Name }}\n');
    symlinkSync('..', join(d, 'apps', 'loop'));
    const r = await readManifests([d]);
    expect(r.findings).toEqual([]);
    expect(r.objects.map((o) => `${o.file}:${String(o.object.kind)}`)).toEqual([
      `${join(d, 'apps', 'cm.json')}:ConfigMap`,
      `${join(d, 'apps', 'shop', 'ingress.yaml')}:Ingress`,
      `${join(d, 'apps', 'shop', 'svc.yml')}:Service`,
    ]);
    expect(r.notes.join('\n')).toContain('helm template');
  });

  it('a directory without manifests is a read error', async () => {
    const d = join(tmp, 'empty');
    mkdirSync(d, { recursive: true });
    await expect(readManifests([d])).rejects.toThrow(/no \*\.yaml, \*\.yml or \*\.json files/);
  });

  it('reads a file given twice only once', async () => {
    const f = join(EXAMPLES, 'managed-ok.yaml');
    expect((await readManifests([f, f])).objects).toHaveLength(1);
  });

  it('a Secret is matched to Ingresses by namespace, default namespace included', async () => {
    const r = await readManifests([join(CORPUS, 'secrets', 'secret-other-namespace.yaml')]);
    expect(planTargets(r.objects.map((o) => o.object), { includeUnmanaged: true }).secretUses.map((u) => `${u.namespace}/${u.secretName}`)).toEqual(['web/site-tls']);
  });
});
