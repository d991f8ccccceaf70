// Malformed input must never crash lint or planning: objects from YAML can have any shape.
// Deterministic: a seeded PRNG drives every mutation, so a failure reproduces with its seed.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { lint } from '../../src/commands/lint.js';
import { auditSecret } from '../../src/core/checks.js';
import { FINDINGS, type Finding } from '../../src/core/findings.js';
import { checkHost } from '../../src/core/hosts.js';
import { lintIngressSpec, planTargets, type Plan } from '../../src/core/targets.js';
import { parseManifestText } from '../../src/manifests.js';
import { formatGithub, formatJson, formatText } from '../../src/output/findings.js';
import { LINT_FIXTURE_NOW } from '../fixtures/lint/generate.js';

/** mulberry32: tiny, fast, good enough to drive mutations reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

const KEYS = ['apiVersion', 'kind', 'metadata', 'name', 'namespace', 'annotations', 'spec', 'tls', 'hosts', 'secretName', 'rules', 'host', 'http', 'paths', 'path', 'pathType', 'backend', 'service', 'port', 'number', 'serviceName', 'servicePort', 'defaultBackend', 'ingressClassName', 'rouls', '__proto__', 'constructor', 'toString', ''];
const STRINGS = ['', ' ', 'true', 'false', 'shop.example.com', '*.example.com', '10.0.0.1', '::1', 'bücher.example', 'a..b', '-x.example.com', 'x'.repeat(300), 'Ingress', 'networking.k8s.io/v1', 'extensions/v1beta1', 'certkeeper.dev/key-type', 'kubernetes.io/tls-acme', 'ecdsa-p256', '30d', 'https://x', '\u0000', '%\r\n,:', '{{ .Values.host }}'];

function randomValue(r: Rand, depth: number): unknown {
  const k = r();
  if (depth <= 0 || k < 0.35) {
    return pick(r, [null, undefined, true, false, 0, -1, 1e308, Number.NaN, 80, 'x', pick(r, STRINGS), pick(r, STRINGS), []]);
  }
  if (k < 0.65) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth - 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 5); i > 0; i--) o[pick(r, KEYS)] = randomValue(r, depth - 1);
  return o;
}

/** Rewrites a random node of a deep copy: delete, replace with garbage, retype, rename. */
function mutate(r: Rand, value: unknown, rate: number): unknown {
  if (r() < rate) {
    const choice = r();
    if (choice < 0.3) return randomValue(r, 3);
    if (choice < 0.45) return undefined;
    if (choice < 0.6) return Array.isArray(value) ? {} : [value];
    if (choice < 0.7) return typeof value === 'string' ? value.slice(0, Math.floor(r() * value.length)) : String(value);
  }
  if (Array.isArray(value)) {
    const out = value.map((v) => mutate(r, v, rate));
    if (r() < rate) out.push(randomValue(r, 2));
    if (r() < rate && out.length > 0) out.splice(Math.floor(r() * out.length), 1);
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = r() < rate / 2 ? `${k.slice(0, -1)}${pick(r, ['s', 'x', ''])}` : k;
      const m = mutate(r, v, rate);
      if (m !== undefined) out[key] = m;
    }
    if (r() < rate) out[pick(r, KEYS)] = randomValue(r, 2);
    return out;
  }
  return value;
}

const seedTexts = [
  ...readdirSync('test/fixtures/examples').filter((f) => f.endsWith('.yaml')).map((f) => join('test/fixtures/examples', f)),
  ...readdirSync('test/fixtures/lint').filter((f) => f.endsWith('.yaml') && f !== 'too-many-hosts.yaml').map((f) => join('test/fixtures/lint', f)),
].map((f) => readFileSync(f, 'utf8'));
const seedObjects = seedTexts.flatMap((t) => parseAllDocuments(t).flatMap((d) => (d.errors.length > 0 ? [] : [d.toJS() as unknown]))).filter((o) => o !== null);

function checkFindings(fs: readonly Finding[]): void {
  for (const f of fs) {
    expect(FINDINGS[f.code]?.severity).toBe(f.severity);
    expect(typeof f.message).toBe('string');
    expect(typeof f.hint).toBe('string');
  }
  formatText(fs);
  JSON.parse(formatJson(fs));
  formatGithub(fs);
}

function checkPlan(p: Plan): void {
  checkFindings(p.findings);
  for (const t of p.targets) {
    expect(t.hosts.length).toBeGreaterThan(0);
    expect(t.hosts.length).toBeLessThanOrEqual(100);
    expect([...t.hosts].sort()).toEqual(t.hosts);
    for (const h of t.hosts) expect(checkHost(h)).toMatchObject({ ok: true, host: h });
  }
}

describe('fuzz: planning and spec lint never throw', () => {
  it('3000 mutated Ingresses, one at a time and in batches', () => {
    const r = prng(0xc0ffee);
    const batch: unknown[] = [];
    for (let i = 0; i < 3000; i++) {
      const base = pick(r, seedObjects);
      const obj = mutate(r, structuredClone(base), pick(r, [0.02, 0.1, 0.3]));
      const all = r() < 0.5;
      checkFindings(lintIngressSpec(obj, { allIngresses: all }));
      batch.push(obj);
      if (batch.length === 50) {
        checkPlan(planTargets(batch, { includeUnmanaged: true, allIngresses: all }));
        checkPlan(planTargets(batch, { ingressClass: 'nginx', namespace: 'shop' }));
        batch.length = 0;
      }
    }
  });

  it('2000 random objects claiming to be Ingresses', () => {
    const r = prng(42);
    for (let i = 0; i < 2000; i++) {
      const obj = { apiVersion: pick(r, ['networking.k8s.io/v1', 'extensions/v1beta1', undefined, 7]), kind: 'Ingress', ...(randomValue(r, 6) as object) };
      checkPlan(planTargets([obj, obj], { includeUnmanaged: true, allIngresses: r() < 0.5 }));
    }
  });

  it('1000 mutated Secrets through the audit', () => {
    const r = prng(7);
    const secrets = seedObjects.filter((o) => (o as { kind?: unknown }).kind === 'Secret');
    const base = secrets[0] ?? { kind: 'Secret', data: {} };
    const dataSecret = parse(readFileSync('test/fixtures/lint/secrets/secret-ok.yaml', 'utf8').split('---').at(-1) ?? '') as unknown;
    for (let i = 0; i < 1000; i++) {
      const s = mutate(r, structuredClone(r() < 0.5 ? base : dataSecret), pick(r, [0.05, 0.2, 0.5]));
      checkFindings(auditSecret({ namespace: 'shop', secretName: 'shop-tls', hosts: ['shop.example.com'] }, s, { now: LINT_FIXTURE_NOW }));
    }
  });
});

describe('fuzz: lint never throws on broken YAML text', () => {
  it('1500 truncated, spliced and byte-flipped manifests through the parser', () => {
    const r = prng(0xbeef);
    for (let i = 0; i < 1500; i++) {
      let text = pick(r, seedTexts);
      const op = r();
      if (op < 0.4) text = text.slice(0, Math.floor(r() * text.length));
      else if (op < 0.7) {
        const at = Math.floor(r() * text.length);
        text = `${text.slice(0, at)}${pick(r, [':', '- ', '\n  ', '{', '[', '"', "'", '&a ', '*a', '!!binary ', '---\n', '\t', '#', '|', '>'])}${text.slice(at)}`;
      } else {
        const chars = [...text];
        for (let n = Math.floor(r() * 8); n >= 0; n--) chars[Math.floor(r() * chars.length)] = String.fromCharCode(Math.floor(r() * 128));
        text = chars.join('');
      }
      const read = parseManifestText(text, 'fuzz.yaml');
      checkFindings(read.findings);
      checkPlan(planTargets(read.objects.map((o) => o.object), { includeUnmanaged: true }));
    }
  });

  it('200 random documents through the real command on stdin', async () => {
    const r = prng(2024);
    for (let i = 0; i < 200; i++) {
      const docs = Array.from({ length: 1 + Math.floor(r() * 4) }, () => {
        const obj = mutate(r, structuredClone(pick(r, seedObjects)), 0.2);
        return r() < 0.2 ? stringify(obj ?? null).slice(0, Math.floor(r() * 200)) : stringify(obj ?? null);
      });
      const result = await lint(['-'], { now: LINT_FIXTURE_NOW, allIngresses: r() < 0.5 }, { stdin: Readable.from([docs.join('\n---\n')]) });
      checkFindings(result.findings);
      expect([0, 1, 2]).toContain(result.exitCode);
    }
  });
});
