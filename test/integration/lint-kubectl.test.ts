// lint reads manifests as kubectl reads them, judged by the real kubectl 1.34 binary. kubectl
// converts YAML with sigs.k8s.io/yaml (go-yaml v2): `<<` merge keys, YAML 1.1 booleans and
// octal numbers, but timestamps and sexagesimal numbers left as strings. `kubectl label --local
// -f FILE -o json` shows its reading without any cluster.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { lint } from '../../src/commands/lint.js';
import { parseManifestText } from '../../src/manifests.js';
import { runKubectl, type RunResult } from '../support/kubectl.js';

const FIXTURES = 'test/fixtures/lint/yaml';
const LABEL = 'certkeeper-lint-test';

const tmp = mkdtempSync(join(tmpdir(), 'certkeeper-lint-kubectl-'));
const kubeconfig = join(tmp, 'kubeconfig');
writeFileSync(kubeconfig, '');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** kubectl prints one JSON document per object, back to back. */
function jsonStream(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  return out;
}

/** The objects as kubectl reads FILE, without the label that `kubectl label` needs to add. */
async function kubectlRead(file: string): Promise<{ result: RunResult; objects: unknown[] }> {
  const result = await runKubectl(['label', '--local', '-f', file, `${LABEL}=x`, '-o', 'json'], { kubeconfig });
  const objects = result.code === 0 ? jsonStream(result.stdout) : [];
  for (const o of objects as { metadata: { labels: Record<string, string> } }[]) {
    delete o.metadata.labels[LABEL];
    if (Object.keys(o.metadata.labels).length === 0) delete (o.metadata as { labels?: unknown }).labels;
  }
  return { result, objects };
}

const ours = (file: string): unknown[] => JSON.parse(JSON.stringify(parseManifestText(readFileSync(file, 'utf8'), file).objects.map((o) => o.object))) as unknown[];

describe('the objects lint reads are the objects kubectl applies', () => {
  it.each(['merge-key-typo-host.yaml', 'yaml-1.1-scalars.yaml'])('%s', async (name) => {
    const file = join(FIXTURES, name);
    const k = await kubectlRead(file);
    expect(k.result.stderr).toBe('');
    expect(k.objects.length).toBeGreaterThan(0);
    expect(ours(file)).toEqual(k.objects);
    // Read as plain YAML 1.2, the file means something else: the comparison has something to find.
    const plain = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as unknown);
    expect(JSON.parse(JSON.stringify(plain))).not.toEqual(k.objects);
  });

  it('the merged Ingress is linted, at the line of its list item', async () => {
    const r = await lint([join(FIXTURES, 'merge-key-typo-host.yaml')]);
    const typo = r.findings.find((f) => f.code === 'TlsHostNotRouted');
    expect(typo).toMatchObject({ host: 'www.shop.exmaple.com', object: { kind: 'Ingress', namespace: 'shop', name: 'web-www', line: 29 } });
    expect(readFileSync(join(FIXTURES, 'merge-key-typo-host.yaml'), 'utf8').split('\n')[28]).toBe('  - <<: *web');
  });
});

describe('what kubectl refuses, lint reports as an error', () => {
  it('an unquoted wildcard', async () => {
    const file = join(FIXTURES, 'unquoted-wildcard.yaml');
    const k = await kubectlRead(file);
    expect(k.result.code).not.toBe(0);
    expect(k.result.stderr).toContain('line 14: did not find expected alphabetic or numeric character');
    const r = await lint([file]);
    expect(r.findings.filter((f) => f.code === 'UnquotedWildcard').map((f) => [f.severity, f.object.line, f.hint])).toEqual([
      ['error', 14, 'quote the wildcard: - "*.apps.example.com"'],
      ['error', 17, 'quote the wildcard: host: "*.apps.example.com"'],
    ]);
    expect(r.exitCode).toBe(2);
  });

  it('YAML 1.1 booleans as annotation values', async () => {
    const file = join(FIXTURES, 'yaml-1.1-booleans.yaml');
    const k = await kubectlRead(file);
    expect(k.result.code).not.toBe(0);
    expect(k.result.stderr).toContain('cannot unmarshal bool into Go struct field ObjectMeta.metadata.annotations of type string');
    const r = await lint([file]);
    expect(r.findings.map((f) => [f.severity, f.code])).toEqual([
      ['error', 'InvalidAnnotationValue'],
      ['error', 'InvalidManifest'],
    ]);
    expect(r.findings[1]?.message).toContain('metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"] is the boolean true');
  });

  it('an alias of an anchor that is not defined', async () => {
    const file = join(tmp, 'unknown-anchor.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: *shop\n');
    const k = await kubectlRead(file);
    expect(k.result.code).not.toBe(0);
    expect(k.result.stderr).toContain("unknown anchor 'shop' referenced");
    const r = await lint([file]);
    expect(r.findings.map((f) => [f.code, f.object.line])).toEqual([['InvalidManifest', 6]]);
    expect(r.findings[0]?.message).toContain("unknown anchor 'shop' referenced");
  });
});
