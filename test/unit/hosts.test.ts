import { domainToASCII } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  MAX_NAMES_PER_CERTIFICATE,
  NameSet,
  TypoIndex,
  canonicalHost,
  checkHost,
  checkHosts,
  editDistance,
  looksLikeTypoOf,
  nameCovers,
  uncoveredHosts,
  type HostProblem,
} from '../../src/core/hosts.js';

describe('checkHost accepts and normalises', () => {
  it.each([
    ['shop.example.com', 'shop.example.com'],
    ['Shop.Example.COM', 'shop.example.com'],
    ['  shop.example.com  ', 'shop.example.com'],
    ['shop.example.com.', 'shop.example.com'], // absolute name: same host, CAs reject the dot
    ['bücher.example', 'xn--bcher-kva.example'], // IDN → punycode (UTS #46)
    ['BÜCHER.example', 'xn--bcher-kva.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['例え.テスト', 'xn--r8jz45g.xn--zckzah'],
    ['a-b.example.com', 'a-b.example.com'],
    ['123.example.com', '123.example.com'],
    [`${'a'.repeat(63)}.example.com`, `${'a'.repeat(63)}.example.com`],
  ])('%j → %s', (input, host) => {
    const c = checkHost(input);
    expect(c).toEqual({ ok: true, host, input });
  });
});

describe('checkHost refuses', () => {
  const long = `${Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.')}.com`;
  it.each<[string, string, HostProblem]>([
    ['empty', '', 'Empty'],
    ['blank', '   ', 'Empty'],
    ['a lone dot', '.', 'Empty'],
    ['IPv4', '203.0.113.10', 'IpAddress'],
    ['IPv6', '2001:db8::1', 'IpAddress'],
    ['bracketed IPv6', '[2001:db8::1]', 'IpAddress'],
    ['wildcard', '*.example.com', 'Wildcard'],
    ['bare star', '*', 'Wildcard'],
    ['star inside a label', 'a*.example.com', 'InvalidCharacters'],
    ['star in the middle', 'www.*.example.com', 'InvalidCharacters'],
    ['underscore', 'my_shop.example.com', 'InvalidCharacters'],
    ['space', 'my shop.example.com', 'InvalidCharacters'],
    ['double dot', 'shop..example.com', 'EmptyLabel'],
    ['leading dot', '.example.com', 'EmptyLabel'],
    ['64-character label', `${'a'.repeat(64)}.example.com`, 'LabelTooLong'],
    ['name over 253', long, 'TooLong'],
    ['leading hyphen', '-shop.example.com', 'HyphenAtLabelEdge'],
    ['trailing hyphen', 'shop-.example.com', 'HyphenAtLabelEdge'],
    ['single label', 'localhost', 'SingleLabel'],
    // WHATWG's host parser (domainToASCII) treats a numeric last label as an IPv4 attempt and
    // fails it, so a truncated or out-of-range IP surfaces as InvalidCharacters, not NumericTopLevel.
    ['numeric TLD / bad IPv4', '10.0.0.256', 'InvalidCharacters'],
    ['numeric TLD', 'shop.example.123', 'InvalidCharacters'],
  ])('%s (%j) → %s', (_why, input, problem) => {
    const c = checkHost(input);
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.problem).toBe(problem);
    expect(c.input).toBe(input);
    expect(c.message.length).toBeGreaterThan(10);
    expect(c.hint.length).toBeGreaterThan(5);
  });

  it('wildcard refusal says why and what to do instead', () => {
    const c = checkHost('*.apps.example.com');
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.message).toContain('HTTP-01');
    expect(c.hint).toContain('www.apps.example.com');
    expect(c.hint).toContain('DNS-01');
  });
});

describe('checkHosts', () => {
  it('normalises, removes duplicates after normalisation, keeps first-seen order', () => {
    const r = checkHosts(['B.example.com', 'a.example.com', 'b.example.com.', 'bücher.example', 'xn--bcher-kva.example']);
    expect(r.hosts).toEqual(['b.example.com', 'a.example.com', 'xn--bcher-kva.example']);
    expect(r.duplicates).toEqual(['b.example.com', 'xn--bcher-kva.example']);
    expect(r.problems).toEqual([]);
  });

  it('collects problems separately from good names', () => {
    const r = checkHosts(['ok.example.com', '*.example.com', '10.0.0.1', 'bad_name.example.com']);
    expect(r.hosts).toEqual(['ok.example.com']);
    expect(r.problems.map((p) => p.problem)).toEqual(['Wildcard', 'IpAddress', 'InvalidCharacters']);
  });

  it('does not cap the list itself: more than 100 names are the caller\'s TooManyHosts', () => {
    const many = Array.from({ length: MAX_NAMES_PER_CERTIFICATE + 1 }, (_, i) => `h${i}.example.com`);
    const r = checkHosts(many);
    expect(r.hosts).toHaveLength(101);
    expect(MAX_NAMES_PER_CERTIFICATE).toBe(100);
  });
});

describe('canonicalHost', () => {
  it.each([
    ['Shop.Example.com.', 'shop.example.com'],
    ['*.Bücher.example', '*.xn--bcher-kva.example'],
    ['not valid_name', 'not valid_name'], // no judgement: returned lower-cased as is
    ['', ''],
  ])('%j → %j', (input, out) => {
    expect(canonicalHost(input)).toBe(out);
  });
});

describe('nameCovers: a wildcard covers exactly one label (RFC 6125 §6.4.3)', () => {
  it.each<[string, string, boolean]>([
    ['shop.example.com', 'shop.example.com', true],
    ['SHOP.example.com', 'shop.example.com.', true],
    ['*.example.com', 'www.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'a.b.example.com', false],
    ['*.example.com', 'www.example.org', false],
    ['www.example.com', '*.example.com', false],
    ['*.xn--bcher-kva.example', 'www.bücher.example', true],
  ])('%s covers %s: %s', (cert, host, covers) => {
    expect(nameCovers(cert, host)).toBe(covers);
  });

  it('uncoveredHosts keeps input order', () => {
    expect(uncoveredHosts(['*.example.com'], ['example.com', 'a.example.com', 'a.b.example.com'])).toEqual(['example.com', 'a.b.example.com']);
    expect(uncoveredHosts([], ['x.example'])).toEqual(['x.example']);
  });
});

describe('editDistance', () => {
  it.each([
    ['rules', 'rouls', 3, 2],
    ['abc', 'abc', 3, 0],
    ['', 'abc', 3, 3],
    ['abcdef', 'a', 3, 4], // length gap beyond max: max + 1
    ['kitten', 'sitting', 1, 2], // exceeds max 1: max + 1
  ])('%s ↔ %s (max %d) = %d', (a, b, max, d) => {
    expect(editDistance(a, b, max)).toBe(d);
  });
});

describe('looksLikeTypoOf', () => {
  it.each<[string, string, boolean, string]>([
    ['hskim.example', 'hskim.example.com', true, 'missing last label (the tls-host-mismatch example)'],
    ['shop.example.com.au', 'shop.example.com', true, 'extra last label'],
    ['shop.example.org', 'shop.example.com', true, 'same name under another TLD'],
    ['shpo.example.com', 'shop.example.com', true, 'transposition in a long name'],
    ['shop.exampel.com', 'shop.example.com', true, 'two edits in a long name'],
    ['ab.io', 'ac.io', true, 'one edit in a short name'],
    ['ab.io', 'cd.io', false, 'two edits in a short name'],
    ['shop.example.com', 'shop.example.com', false, 'identical is not a typo'],
    ['Shop.Example.com.', 'shop.example.com', false, 'identical after normalisation'],
    ['api.example.com', 'shop.example.com', false, 'a different host'],
    ['example.org', 'example.com', false, 'two-label names under different TLDs are different sites'],
  ])('%s vs %s → %s (%s)', (candidate, intended, typo) => {
    expect(looksLikeTypoOf(candidate, intended)).toBe(typo);
  });
});

// The indexes answer what a comparison of every name with every name would answer. The reference
// here is written from the rules themselves (RFC 6125 one-label wildcards; the typo rules of
// looksLikeTypoOf), not from src/core/hosts.ts, and compared on random lists built to collide.
describe('NameSet and TypoIndex agree with a pairwise reference on random names', () => {
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
  const refCanon = (raw: string): string => {
    let n = raw.trim();
    if (n.endsWith('.')) n = n.slice(0, -1);
    if (n.startsWith('*.')) return `*.${(domainToASCII(n.slice(2)) || n.slice(2)).toLowerCase()}`;
    return (domainToASCII(n) || n).toLowerCase();
  };
  const refCovers = (cert: string, host: string): boolean => {
    const p = refCanon(cert);
    const h = refCanon(host);
    if (p === h) return true;
    if (!p.startsWith('*.')) return false;
    const labels = h.split('.');
    return labels.length >= 2 && labels[0] !== '' && labels.slice(1).join('.') === p.slice(2);
  };
  const levenshtein = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        const row = d[i] as number[];
        const up = d[i - 1] as number[];
        row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      }
    }
    return (d[a.length] as number[])[b.length] as number;
  };
  const refTypo = (candidate: string, intended: string): boolean => {
    const a = refCanon(candidate);
    const b = refCanon(intended);
    if (a === b) return false;
    if (b.startsWith(`${a}.`) || a.startsWith(`${b}.`)) return true;
    const la = a.split('.');
    const lb = b.split('.');
    if (la.length === lb.length && la.length > 2 && la.slice(0, -1).join('.') === lb.slice(0, -1).join('.')) return true;
    return levenshtein(a, b) <= (Math.max(a.length, b.length) >= 12 ? 2 : 1);
  };

  const LABELS = ['a', 'b', 'ab', 'ba', 'shop', 'shpo', 'www', 'example', 'exmaple', 'com', 'co', 'org', 'bücher', 'xn--bcher-kva', 'Shop', '', 'app-1', 'app-12'];
  function randomName(r: () => number): string {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
    const labels = Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(LABELS));
    let name = labels.join('.');
    if (r() < 0.2) name = `*.${name}`;
    if (r() < 0.2) {
      // One random edit, so that near misses by edit distance are common.
      const at = Math.floor(r() * (name.length + 1));
      const ch = pick(['a', '.', '-', 'x', 'ü', '*']);
      const op = r();
      name = op < 0.33 ? name.slice(0, at) + ch + name.slice(at) : op < 0.66 ? name.slice(0, at) + name.slice(at + 1) : name.slice(0, at) + ch + name.slice(at + 1);
    }
    if (r() < 0.1) name = `${name}.`;
    if (r() < 0.05) name = ` ${name.toUpperCase()} `;
    return name;
  }

  it('2,000 random lists: covers, coversSome, uncoveredHosts and first typo', () => {
    const r = prng(0x5eed);
    const seen = { covers: { yes: 0, no: 0 }, coversSome: { yes: 0, no: 0 }, typo: { yes: 0, no: 0 } };
    for (let round = 0; round < 2000; round++) {
      const names = Array.from({ length: Math.floor(r() * 12) }, () => randomName(r));
      const queries = Array.from({ length: 6 }, () => (r() < 0.3 && names.length > 0 ? (names[Math.floor(r() * names.length)] as string) : randomName(r)));
      const set = new NameSet(names);
      const typos = new TypoIndex(names);
      for (const q of queries) {
        const covers = names.some((n) => refCovers(n, q));
        const coversSome = names.some((n) => refCovers(q, n));
        const first = names.findIndex((n) => refTypo(q, n));
        expect(set.covers(q), `covers(${JSON.stringify(q)}) in ${JSON.stringify(names)}`).toBe(covers);
        expect(set.coversSome(q), `coversSome(${JSON.stringify(q)}) in ${JSON.stringify(names)}`).toBe(coversSome);
        expect(typos.first(q) ?? -1, `first(${JSON.stringify(q)}) in ${JSON.stringify(names)}`).toBe(first);
        seen.covers[covers ? 'yes' : 'no']++;
        seen.coversSome[coversSome ? 'yes' : 'no']++;
        seen.typo[first >= 0 ? 'yes' : 'no']++;
      }
      expect(uncoveredHosts(names, queries)).toEqual(queries.filter((q) => !names.some((n) => refCovers(n, q))));
    }
    // The inputs exercise both answers of every question, or this test could not fail.
    for (const { yes, no } of Object.values(seen)) {
      expect(yes).toBeGreaterThan(500);
      expect(no).toBeGreaterThan(500);
    }
  });

  it('first typo is the lowest index, also among many near misses', () => {
    const rules = Array.from({ length: 3000 }, (_, i) => `app-${i}.example.com`);
    const index = new TypoIndex(rules);
    for (const q of ['app-2500.example.co', 'app-7.example.co', 'app-2999.example.org', 'pp-1234.example.com', 'svc.other.org']) {
      expect(index.first(q) ?? -1).toBe(rules.findIndex((n) => refTypo(q, n)));
    }
  });
});
