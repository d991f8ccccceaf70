import { describe, expect, it } from 'vitest';
import {
  MAX_NAMES_PER_CERTIFICATE,
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
