// What lint makes of awkward input: wildcards YAML reads as aliases, names carrying terminal and
// workflow-command escapes, input with no Kubernetes objects in it.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { lint } from '../../src/commands/lint.js';
import { FINDINGS } from '../../src/core/findings.js';
import { parseManifestText } from '../../src/manifests.js';

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
      [12, '*.b.example.com', 'quote the wildcard: - "*.b.example.com"'],
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
