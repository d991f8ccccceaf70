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

/** The hosts of `hosts` that no name in `sans` covers, in input order. */
export function uncoveredHosts(sans: readonly string[], hosts: readonly string[]): string[] {
  return hosts.filter((h) => !sans.some((s) => nameCovers(s, h)));
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
