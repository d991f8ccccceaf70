// What lint makes of awkward input: wildcards YAML reads as aliases, names carrying terminal and
// workflow-command escapes, input with no Kubernetes objects in it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { LINT_EXIT, lint, registerLint } from '../../src/commands/lint.js';
import { FINDINGS } from '../../src/core/findings.js';
import { parseManifestText } from '../../src/manifests.js';

const tmp = mkdtempSync(join(tmpdir(), 'certkeeper-lint-input-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `certkeeper lint ARGS` through commander, as cli.ts runs it, with stdin and captured output. */
async function cli(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  let code = 0;
  const program = new Command('certkeeper').exitOverride();
  registerLint(
    program,
    // A wide terminal: these tests look at escaping, and lines stay whole (layout.test.ts wraps).
    { stdout: (t) => (out += t), stderr: (t) => (err += t), stdin: Readable.from([stdin]), columns: 1000 },
    (c) => (code = c),
  );
  try {
    await program.parseAsync(['lint', ...args], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    code = e.exitCode;
  }
  return { code, out, err };
}

const INGRESS = (tls: string, rules: string, annotations = ''): string => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: apps
  namespace: apps
${annotations}spec:
  tls:
${tls}
  rules:
${rules}
`;
const RULE = (host: string): string => `    - host: ${host}
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}`;

describe('an unquoted wildcard is an UnquotedWildcard finding, not a YAML error', () => {
  it('is an error with its own code', () => {
    expect(FINDINGS.UnquotedWildcard.severity).toBe('error');
  });

  it('in a block list, a flow list and a map value: each at its own line, with the quoted form to write', () => {
    const text = INGRESS(`    - hosts:\n        - a.example.com\n        - *.example.com\n      secretName: a\n    - hosts: [b.example.com, *.b.example.com]\n      secretName: b`, RULE('*.example.com'));
    const r = parseManifestText(text, 'apps.yaml');
    const wild = r.findings.filter((f) => f.code === 'UnquotedWildcard');
    expect(wild.map((f) => [f.object.line, f.host, f.hint])).toEqual([
      [10, '*.example.com', 'quote the wildcard: - "*.example.com"'],
      [12, '*.b.example.com', 'quote the wildcard: "*.b.example.com"'],
      [15, '*.example.com', 'quote the wildcard: host: "*.example.com"'],
    ]);
    for (const f of wild) {
      expect(f.object).toMatchObject({ kind: 'Ingress', namespace: 'apps', name: 'apps', file: 'apps.yaml' });
      expect(f.message).toContain('YAML reads it as an alias');
    }
    expect(r.findings.filter((f) => f.code !== 'UnquotedWildcard')).toEqual([]);
    // The rest of the Ingress is still read, with the wildcard meant.
    expect(r.objects).toHaveLength(1);
    expect((r.objects[0]?.object as { spec: { rules: { host: string }[] } }).spec.rules[0]?.host).toBe('*.example.com');
  });

  it('the Ingress is still linted as meant: a managed wildcard is also a WildcardHost', async () => {
    const text = INGRESS(`    - hosts: [*.example.com]\n      secretName: a`, RULE('*.example.com'), '  annotations:\n    kubernetes.io/tls-acme: "true"\n');
    const r = await lint(['-'], {}, { stdin: Readable.from([text]) });
    expect(r.findings.map((f) => f.code).sort()).toEqual(['UnquotedWildcard', 'UnquotedWildcard', 'WildcardHost']);
    expect(r.exitCode).toBe(2);
  });

  it('names the List item it is in', () => {
    const text = `kind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: first}\n- kind: Ingress\n  metadata: {name: second, namespace: x}\n  spec:\n    rules:\n    - host: *.x.example.com\n`;
    const r = parseManifestText(text, 'list.yaml');
    expect(r.findings.map((f) => [f.code, f.object.kind, f.object.name, f.object.line])).toEqual([['UnquotedWildcard', 'Ingress', 'second', 9]]);
  });

  it('a real anchor is not a wildcard; an alias of a missing anchor says so, at its line', () => {
    expect(parseManifestText('kind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: &v shop\n  b: *v\n', 'ok.yaml').findings).toEqual([]);
    const r = parseManifestText('kind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: x\n  b: *shop\n', 'bad.yaml');
    expect(r.findings.map((f) => [f.code, f.object.line])).toEqual([['InvalidManifest', 5]]);
    expect(r.findings[0]?.message).toContain('*shop refers to an anchor "shop" that is not defined before it');
    expect(r.findings[0]?.hint).toContain('define &shop');
    expect(r.findings[0]?.hint).not.toContain('excessive');
  });
});

describe('names from manifests cannot drive the terminal or forge CI annotations', () => {
  // YAML double quotes carry any character: ESC sequences, CR, LF, C1 CSI, a right-to-left override.
  const hostile = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: "web\\e[2J\\e[31mPWNED"
  namespace: "shop\\n::error file=forged.yaml,line=1::all good\\r"
  annotations:
    kubernetes.io/tls-acme: "true"
spec:
  tls:
    - hosts: ["a\\x9b31m.example.com", "evil\\u202Emoc.example.com", "x\\ty.example.com\\a"]
      secretName: web-tls
  rules:
    - host: shop.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
`;
  /** Anything but \n that a terminal or a log would act on. */
  // eslint-disable-next-line no-control-regex -- looking for control characters is the point
  const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

  it('reads the hostile names as they are (so the test means something)', () => {
    const o = parseManifestText(hostile, 'h.yaml').objects[0]?.object as { metadata: { name: string; namespace: string } };
    expect(o.metadata.name).toBe('web\u001b[2J\u001b[31mPWNED');
    expect(o.metadata.namespace).toContain('\n::error');
  });

  it('text: control characters are shown as escapes', async () => {
    const r = await cli(['-'], hostile);
    expect(r.code).toBe(LINT_EXIT.errors);
    expect(r.out).not.toMatch(RAW);
    expect(r.out).toContain('Ingress shop\\n::error file=forged.yaml,line=1::all good\\r/web\\x1b[2J\\x1b[31mPWNED');
    expect(r.out).toContain('a\\x9b31m.example.com');
    expect(r.out).toContain('evil\\u202emoc.example.com');
    expect(r.out).toContain('x\\ty.example.com\\x07');
    // Every line is ours: a header, an indented finding, a blank line or the summary.
    for (const line of r.out.trimEnd().split('\n')) expect(line).toMatch(/^(<stdin>| {2}(error|warning|info) | {11}|$|\d+ errors?,)/);
  });

  it('github: one workflow command per finding; CR/LF as %0D/%0A, other controls as escapes', async () => {
    const r = await cli(['-o', 'github', '-'], hostile);
    expect(r.out).not.toMatch(RAW);
    const lines = r.out.trimEnd().split('\n');
    const commands = lines.filter((l) => l.startsWith('::'));
    expect(commands.length).toBe(lines.length - 1);
    expect(lines.at(-1)).toMatch(/^\d+ errors?, /);
    for (const c of commands) {
      expect(c).toMatch(/^::(error|warning|notice) (file=[^,:]*,line=\d+,)?title=\w+::/);
      expect(c).toContain('shop%0A::error file=forged.yaml,line=1::all good%0D/web\\x1b[2J');
    }
  });

  it('json: the exact names, with C1 and bidirectional controls as \\u escapes', async () => {
    const r = await cli(['-o', 'json', '-'], hostile);
    expect(r.out).not.toMatch(RAW);
    const json = JSON.parse(r.out) as { findings: { host?: string; object: { name: string; namespace: string } }[] };
    expect(json.findings[0]?.object.name).toBe('web\u001b[2J\u001b[31mPWNED');
    expect(json.findings.map((f) => f.host)).toEqual(expect.arrayContaining(['a\u009b31m.example.com', 'evil\u202emoc.example.com']));
  });

  it('stderr: paths and command-line arguments with control characters are escaped', async () => {
    const missing = await cli([join(tmp, 'nope\u001b[2J.yaml')]);
    expect(missing.code).toBe(LINT_EXIT.usage);
    expect(missing.err).toContain('nope\\x1b[2J.yaml: no such file or directory');
    expect(missing.err).not.toMatch(RAW);
    const option = await cli(['--\u001b[2Jx', 'a.yaml']);
    expect(option.code).toBe(LINT_EXIT.usage);
    expect(option.err).toContain('--\\x1b[2Jx');
    expect(option.err).not.toMatch(RAW);
    const chart = join(tmp, 'repo\rchart');
    mkdirSync(join(chart, 'templates'), { recursive: true });
    writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: c\n');
    const skipped = await cli([chart]);
    expect(skipped.err).toContain('skipped Helm chart');
    expect(skipped.err).toContain('repo\\rchart');
    expect(skipped.err).not.toMatch(RAW);
  });
});

describe('input without Kubernetes objects is an error (exit 3), not "no findings"', () => {
  const dir = (name: string, files: Record<string, string>): string => {
    const d = join(tmp, name);
    mkdirSync(d, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    return d;
  };
  const ok = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n`;

  it.each<[string, string]>([
    ['empty standard input (an empty helm template)', ''],
    ['only blank lines', '\n\n'],
  ])('%s', async (_why, stdin) => {
    const r = await cli(['-'], stdin);
    expect(r.code).toBe(LINT_EXIT.usage);
    expect(r.out).toBe('');
    expect(r.err).toBe('certkeeper lint: no Kubernetes objects read from standard input: it is empty (did helm template render nothing?)\n');
  });

  it('standard input with documents but no objects', async () => {
    const r = await cli(['-'], '# Source: chart/templates/empty.yaml\n---\nreplicas: 2\n');
    expect(r.code).toBe(LINT_EXIT.usage);
    expect(r.err).toContain('no Kubernetes objects read from standard input: no document in it is a Kubernetes object');
  });

  it('a file and a directory without objects', async () => {
    const values = dir('values-only', { 'values.yaml': 'replicas: 2\n', 'empty.yaml': '' });
    const r = await cli([values]);
    expect(r.code).toBe(LINT_EXIT.usage);
    expect(r.out).toBe('');
    expect(r.err).toContain(`no Kubernetes objects read from ${values}: none of its 2 *.yaml, *.yml or *.json files holds a Kubernetes object`);
    const empty = await cli([join(values, 'empty.yaml')]);
    expect(empty.code).toBe(LINT_EXIT.usage);
    expect(empty.err).toContain('empty.yaml: the file is empty');
  });

  it('a directory holding only a Helm chart', async () => {
    const charts = dir('charts-only/shop', { 'Chart.yaml': 'apiVersion: v2\nname: shop\n' });
    const r = await cli([join(tmp, 'charts-only')]);
    expect(r.code).toBe(LINT_EXIT.usage);
    expect(r.err).toContain(`skipped Helm chart ${charts}`);
    expect(r.err).toContain('holds only Helm charts');
  });

  it('with other paths that have objects: their findings are printed, and still exit 3', async () => {
    const good = dir('good', { 'cm.yaml': ok });
    const r = await cli(['-o', 'json', good, '-'], '');
    expect(r.code).toBe(LINT_EXIT.usage);
    expect(JSON.parse(r.out)).toEqual({ findings: [], summary: { errors: 0, warnings: 0, infos: 0 } });
    expect(r.err).toContain('no Kubernetes objects read from standard input');
  });

  it('not for a path read already, nor for a document that is a finding', async () => {
    const good = dir('good-twice', { 'cm.yaml': ok });
    expect((await cli([good, join(good, 'cm.yaml'), good])).code).toBe(LINT_EXIT.clean);
    const broken = await cli(['-'], 'kind: [\n');
    expect(broken.code).toBe(LINT_EXIT.errors);
    expect(broken.out).toContain('InvalidManifest');
  });
});
