// Hostname handling shared by issuance, planning and lint. Pure: node:url and node:net are
// used only for their string functions (IDN conversion, IP literal detection), never for I/O.
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

/** Why a name cannot be put on a certificate obtained through HTTP-01. */
export type HostProblem =
  | 'Empty'
  | 'IpAddress'
  | 'Wildcard'
  | 'InvalidCharacters'
  | 'EmptyLabel'
  | 'LabelTooLong'
  | 'TooLong'
  | 'HyphenAtLabelEdge'
  | 'SingleLabel'
  | 'NumericTopLevel';

export type HostCheck =
  | { ok: true; host: string; input: string }
  | { ok: false; problem: HostProblem; input: string; message: string; hint: string };

/** RFC 1035 limits: 63 octets per label, 253 for the presentation form of the whole name. */
const MAX_LABEL = 63;
const MAX_NAME = 253;
/** Let's Encrypt (and the Baseline Requirements' practice) cap a certificate at 100 names. */
export const MAX_NAMES_PER_CERTIFICATE = 100;

const LDH = /^[a-z0-9-]+$/;

function fail(input: string, problem: HostProblem, message: string, hint: string): HostCheck {
  return { ok: false, problem, input, message, hint };
}

/**
 * Normalises one hostname for an ACME order: trims, lower-cases, converts IDN to punycode,
 * drops one trailing dot (an absolute name means the same host, but CAs reject the dot), and
 * validates it. Wildcards are refused because HTTP-01 cannot prove control of a whole zone
 * (RFC 8555 §8.3 is a per-name check; Let's Encrypt requires DNS-01 for wildcards).
 */
export function checkHost(raw: string): HostCheck {
  const input = raw;
  let name = raw.trim();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name === '') return fail(input, 'Empty', 'the hostname is empty', 'give a fully qualified name such as shop.example.com');
  if (name.startsWith('[') || isIP(name) !== 0) {
    return fail(
      input,
      'IpAddress',
      `"${input}" is an IP address, not a hostname`,
      'HTTP-01 certificates are issued for DNS names; point a DNS name at this address and use that name',
    );
  }
  if (name.startsWith('*.') || name === '*') {
    return fail(
      input,
      'Wildcard',
      `"${input}" is a wildcard name, which HTTP-01 cannot validate`,
      `list each host explicitly (for example www.${name.slice(2) || 'example.com'}), or use a DNS-01 capable issuer for wildcards`,
    );
  }
  if (name.includes('*')) {
    return fail(input, 'InvalidCharacters', `"${input}" has a "*" that is not a leading wildcard label`, 'remove the "*"');
  }
  // domainToASCII applies UTS #46 mapping: lower-cases, converts U-labels to A-labels (xn--),
  // and returns '' for names it cannot map.
  const ascii = domainToASCII(name);
  if (ascii === '') {
    return fail(
      input,
      'InvalidCharacters',
      `"${input}" is not a valid hostname`,
      'use letters, digits and hyphens separated by dots (internationalised names are converted to punycode)',
    );
  }
  const host = ascii.toLowerCase();
  if (host.length > MAX_NAME) {
    return fail(input, 'TooLong', `"${input}" is ${host.length} characters long; the limit is ${MAX_NAME}`, 'use a shorter name');
  }
  const labels = host.split('.');
  for (const label of labels) {
    if (label === '') {
      return fail(input, 'EmptyLabel', `"${input}" has an empty label (two dots in a row, or a leading dot)`, 'remove the extra dot');
    }
    if (label.length > MAX_LABEL) {
      return fail(
        input,
        'LabelTooLong',
        `"${input}" has a label of ${label.length} characters; the limit is ${MAX_LABEL}`,
        'shorten that label',
      );
    }
    if (!LDH.test(label)) {
      return fail(
        input,
        'InvalidCharacters',
        `"${input}" has characters that are not allowed in a hostname ("${label}")`,
        'use letters, digits and hyphens only; underscores and spaces are not valid in certificate names',
      );
    }
    if (label.startsWith('-') || label.endsWith('-')) {
      return fail(input, 'HyphenAtLabelEdge', `"${input}" has a label that starts or ends with a hyphen ("${label}")`, 'remove the hyphen');
    }
  }
  if (labels.length < 2) {
    return fail(
      input,
      'SingleLabel',
      `"${input}" is a single-label name; public CAs only issue for names under a registered domain`,
      `use the fully qualified name (for example ${host}.example.com)`,
    );
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) {
    return fail(input, 'NumericTopLevel', `"${input}" ends in a numeric label, which no top-level domain is`, 'check for a truncated IP address or a typo');
  }
  return { ok: true, host, input };
}

export type HostListResult = { hosts: string[]; problems: Extract<HostCheck, { ok: false }>[]; duplicates: string[] };

/** Normalises a list of names, removing duplicates (after normalisation) in first-seen order. */
export function checkHosts(raw: readonly string[]): HostListResult {
  const seen = new Set<string>();
  const hosts: string[] = [];
  const problems: Extract<HostCheck, { ok: false }>[] = [];
  const duplicates: string[] = [];
  for (const r of raw) {
    const c = checkHost(r);
    if (!c.ok) {
      problems.push(c);
      continue;
    }
    if (seen.has(c.host)) {
      duplicates.push(c.host);
      continue;
    }
    seen.add(c.host);
    hosts.push(c.host);
  }
  return { hosts, problems, duplicates };
}

/**
 * An IP address literal in its canonical form (IPv6 compressed and lower-case, without brackets),
 * or undefined when `raw` is none. RFC 8738 identifiers and iPAddress SANs compare by value, so
 * 2001:DB8:0::1 and 2001:db8::1 are the same address.
 */
export function canonicalIp(raw: string): string | undefined {
  const s = raw.trim().replace(/^\[(.*)\]$/, '$1');
  const kind = isIP(s);
  if (kind === 4) return s;
  if (kind === 6) return new URL(`http://[${s}]`).hostname.slice(1, -1);
  return undefined;
}

/** Lower-cases and converts to punycode without judging; for comparing names found in objects. */
export function canonicalHost(raw: string): string {
  let name = raw.trim();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.startsWith('*.')) {
    const rest = domainToASCII(name.slice(2));
    return `*.${(rest || name.slice(2)).toLowerCase()}`;
  }
  return (domainToASCII(name) || name).toLowerCase();
}

/**
 * Does a certificate name (possibly a wildcard) cover a host? A wildcard matches exactly one
 * label (RFC 6125 §6.4.3): *.example.com covers www.example.com but not example.com or a.b.example.com.
 */
export function nameCovers(certName: string, host: string): boolean {
  const pattern = canonicalHost(certName);
  const h = canonicalHost(host);
  if (pattern === h) return true;
  if (!pattern.startsWith('*.')) return false;
  const suffix = pattern.slice(1); // ".example.com"
  if (!h.endsWith(suffix)) return false;
  const first = h.slice(0, h.length - suffix.length);
  return first.length > 0 && !first.includes('.');
}

/**
 * Names (exact and one-label wildcards) indexed for nameCovers questions, so that matching n
 * hosts against m names costs n + m canonicalisations and hash lookups, not n·m nameCovers calls
 * (an Ingress with 10,000 hosts took minutes). Answers exactly what nameCovers answers.
 */
export class NameSet {
  private readonly exact = new Set<string>();
  /** ".example.com" of every "*.example.com" in the set. */
  private readonly wildcardSuffixes = new Set<string>();
  /** ".example.com" of every "www.example.com" in the set: what a wildcard must end in to cover it. */
  private readonly firstLabelSuffixes = new Set<string>();

  constructor(names: Iterable<string> = []) {
    for (const n of names) this.add(n);
  }

  add(name: string): void {
    const c = canonicalHost(name);
    this.exact.add(c);
    if (c.startsWith('*.')) this.wildcardSuffixes.add(c.slice(1));
    const dot = c.indexOf('.');
    if (dot > 0) this.firstLabelSuffixes.add(c.slice(dot));
  }

  /** Does some name of the set cover `host` (nameCovers(name, host))? */
  covers(host: string): boolean {
    const h = canonicalHost(host);
    if (this.exact.has(h)) return true;
    // A wildcard covers one whole label: the only suffix that can match starts at the first dot.
    const dot = h.indexOf('.');
    return dot > 0 && this.wildcardSuffixes.has(h.slice(dot));
  }

  /** Does `name` cover some host of the set (nameCovers(name, host))? */
  coversSome(name: string): boolean {
    const p = canonicalHost(name);
    if (this.exact.has(p)) return true;
    return p.startsWith('*.') && this.firstLabelSuffixes.has(p.slice(1));
  }
}

/** The hosts of `hosts` that no name in `sans` covers, in input order. */
export function uncoveredHosts(sans: readonly string[], hosts: readonly string[]): string[] {
  const set = new NameSet(sans);
  return hosts.filter((h) => !set.covers(h));
}

/** Levenshtein distance, bounded: returns max+1 as soon as the distance must exceed max. */
export function editDistance(a: string, b: string, max = 3): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    prev = cur;
  }
  return prev[b.length] ?? max + 1;
}

/**
 * Is `candidate` probably a typo of `intended`? True for small edit distances and for names
 * that differ by a missing or extra last label (shop.example vs shop.example.com), the mistake
 * that makes a controller serve its fake certificate without any error.
 */
export function looksLikeTypoOf(candidate: string, intended: string): boolean {
  const a = canonicalHost(candidate);
  const b = canonicalHost(intended);
  if (a === b) return false;
  if (b.startsWith(`${a}.`) || a.startsWith(`${b}.`)) return true;
  const la = a.split('.');
  const lb = b.split('.');
  // Same name under another TLD (shop.example.org vs shop.example.com).
  if (la.length === lb.length && la.length > 2 && la.slice(0, -1).join('.') === lb.slice(0, -1).join('.')) return true;
  const limit = Math.max(a.length, b.length) >= 12 ? 2 : 1;
  return editDistance(a, b, limit) <= limit;
}

/** Edit distance up to which looksLikeTypoOf calls two names a typo (for names of 12+ characters). */
const TYPO_MAX_EDITS = 2;
const DOT = 46;

interface TrieNode {
  /** UTF-16 code unit on the edge into this node (editDistance counts code units). */
  ch: number;
  /** Lowest index of a name in this subtree. Children are added, and so kept, in this order. */
  min: number;
  /** Lowest index of a name ending here, or -1. */
  term: number;
  /** Shortest and longest name in this subtree: the distance is at least the length gap. */
  minLen: number;
  maxLen: number;
  kids: TrieNode[];
}

function child(node: TrieNode, ch: number): TrieNode | undefined {
  for (const k of node.kids) if (k.ch === ch) return k;
  return undefined;
}

/**
 * A list of names indexed for looksLikeTypoOf: `first(candidate)` is the lowest index i for which
 * looksLikeTypoOf(candidate, names[i]) holds, the answer of a `find` over the list. The label
 * rules are trie walks and one hash lookup, and the edit-distance rule is a trie walk cut off
 * where the distance must exceed 2 or no lower index can be found, so an Ingress with thousands
 * of hosts that no rule routes is not a search of every host against every host.
 */
export class TypoIndex {
  private readonly names: string[];
  /** All labels but the last → [first index, first index of another name] (the "other TLD" rule). */
  private readonly byParent = new Map<string, [number, number]>();
  private root: TrieNode | undefined;

  constructor(names: readonly string[]) {
    this.names = names.map(canonicalHost);
    this.names.forEach((n, i) => {
      const last = n.lastIndexOf('.');
      if (last < 0 || n.indexOf('.') === last) return; // two labels or fewer: the rule needs three
      const key = n.slice(0, last);
      const e = this.byParent.get(key);
      if (!e) this.byParent.set(key, [i, -1]);
      else if (e[1] < 0 && this.names[e[0]] !== n) e[1] = i;
    });
  }

  private trie(): TrieNode {
    if (this.root) return this.root;
    const root: TrieNode = { ch: -1, min: 0, term: -1, minLen: Number.POSITIVE_INFINITY, maxLen: 0, kids: [] };
    this.names.forEach((n, i) => {
      let node = root;
      for (let k = 0; ; k++) {
        if (n.length < node.minLen) node.minLen = n.length;
        if (n.length > node.maxLen) node.maxLen = n.length;
        if (k === n.length) break;
        const ch = n.charCodeAt(k);
        let next = child(node, ch);
        if (!next) {
          next = { ch, min: i, term: -1, minLen: n.length, maxLen: n.length, kids: [] };
          node.kids.push(next);
        }
        node = next;
      }
      if (node.term < 0) node.term = i;
    });
    this.root = root;
    return root;
  }

  /** Lowest i with looksLikeTypoOf(candidate, names[i]), or undefined. */
  first(candidate: string): number | undefined {
    if (this.names.length === 0) return undefined;
    const a = canonicalHost(candidate);
    let best = Number.POSITIVE_INFINITY;
    const consider = (i: number): void => {
      if (i >= 0 && i < best) best = i;
    };

    // Same labels under another last label (shop.example.org vs shop.example.com).
    const last = a.lastIndexOf('.');
    if (last >= 0 && a.indexOf('.') !== last) {
      const e = this.byParent.get(a.slice(0, last));
      if (e) consider(this.names[e[0]] !== a ? e[0] : e[1]);
    }

    // A missing or extra trailing label: a name that is a + "." + more, or a label prefix of a.
    const root = this.trie();
    let node: TrieNode | undefined = root;
    for (let j = 0; j < a.length && node; j++) {
      if (a[j] === '.') consider(node.term);
      node = child(node, a.charCodeAt(j));
    }
    const dotted = node ? child(node, DOT) : undefined;
    if (dotted) consider(dotted.min);

    best = this.editSearch(root, a, best);
    return Number.isFinite(best) ? best : undefined;
  }

  /**
   * Depth-first walk of the trie computing the edit distance to `q` in a band of width
   * 2·TYPO_MAX_EDITS + 1 (cells outside it exceed the limit), children in index order, pruning
   * subtrees whose band exceeds the limit or whose lowest index cannot beat `best`. Returns the
   * lowest index found, or `best`.
   */
  private editSearch(root: TrieNode, q: string, best: number): number {
    const K = TYPO_MAX_EDITS;
    const W = 2 * K + 1;
    const INF = K + 1;
    const m = q.length;
    const maxDepth = m + K;
    const bands = new Int32Array((maxDepth + 1) * W);
    // Row 0: the distance from the empty prefix to q[0..j) is j.
    for (let t = 0; t < W; t++) {
      const j = t - K;
      bands[t] = j >= 0 && j <= m ? Math.min(j, INF) : INF;
    }
    // The empty name (what "." canonicalises to) ends at the root: its distance is m.
    if (root.term >= 0 && root.term < best && m >= 1 && m <= (m >= 12 ? 2 : 1)) best = root.term;
    const nodes: TrieNode[] = [];
    const depths: number[] = [];
    const pushKids = (node: TrieNode, depth: number): void => {
      if (depth >= maxDepth) return;
      for (let k = node.kids.length - 1; k >= 0; k--) {
        nodes.push(node.kids[k] as TrieNode);
        depths.push(depth + 1);
      }
    };
    pushKids(root, 0);
    for (;;) {
      const node = nodes.pop();
      if (node === undefined) break;
      const d = depths.pop() as number;
      if (node.min >= best) continue;
      const prev = (d - 1) * W;
      const cur = d * W;
      // Lowest distance any name below can still reach: a cell's value plus the gap between what
      // is left of the query and what is left of the shortest or longest name of the subtree.
      let bound = INF;
      for (let t = 0; t < W; t++) {
        const j = d - K + t;
        let v = INF;
        if (j === 0) v = Math.min(d, INF);
        else if (j > 0 && j <= m) {
          v = (bands[prev + t] as number) + (q.charCodeAt(j - 1) === node.ch ? 0 : 1);
          if (t + 1 < W) v = Math.min(v, (bands[prev + t + 1] as number) + 1);
          if (t > 0) v = Math.min(v, (bands[cur + t - 1] as number) + 1);
          if (v > INF) v = INF;
        }
        bands[cur + t] = v;
        if (v < bound) {
          const rest = m - j;
          const gap = Math.max(0, node.minLen - d - rest, rest - (node.maxLen - d));
          if (v + gap < bound) bound = v + gap;
        }
      }
      if (bound > K) continue;
      if (node.term >= 0 && node.term < best && Math.abs(m - d) <= K) {
        const dist = bands[cur + (m - d + K)] as number;
        const limit = Math.max(m, d) >= 12 ? 2 : 1;
        if (dist >= 1 && dist <= limit) best = node.term;
      }
      pushKids(node, d);
    }
    return best;
  }
}
