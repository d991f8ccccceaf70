// Label and field selectors with the semantics of k8s.io/apimachinery/pkg/labels and
// pkg/fields: `!=` and `notin` also match objects that lack the label; `in` and `=` do not.
import { badRequest } from './errors.js';
import type { KubeObject } from './resources.js';

type Requirement =
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | '!exists'; key: string }
  | { op: 'gt' | 'lt'; key: string; value: number };

export type Matcher = (obj: KubeObject) => boolean;

const matchAll: Matcher = () => true;

// A qualified name with an optional DNS prefix, as label keys must be.
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Splits on commas outside parentheses: `a in (x,y),b` → [`a in (x,y)`, `b`]. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts.map((p) => p.trim());
}

function checkKey(key: string, raw: string): void {
  if (!LABEL_KEY.test(key) || key.length > 316) {
    throw badRequest(`unable to parse requirement: invalid label key "${key}": in requirement "${raw}"`);
  }
}

function checkValue(value: string, raw: string): void {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw badRequest(`unable to parse requirement: invalid label value: "${value}": in requirement "${raw}"`);
  }
}

function parseRequirement(raw: string): Requirement {
  let m: RegExpMatchArray | null;
  if ((m = /^!\s*([^\s=!<>(),]+)$/.exec(raw))) {
    checkKey(m[1] ?? '', raw);
    return { op: '!exists', key: m[1] ?? '' };
  }
  if ((m = /^([^\s=!<>(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(raw))) {
    const key = m[1] ?? '';
    checkKey(key, raw);
    const values = (m[3] ?? '').split(',').map((v) => v.trim());
    values.forEach((v) => checkValue(v, raw));
    return { op: m[2] === 'in' ? 'in' : 'notin', key, values };
  }
  if ((m = /^([^\s=!<>(),]+)\s*(==|=|!=)\s*([^\s=!<>(),]*)$/.exec(raw))) {
    const key = m[1] ?? '';
    const value = m[3] ?? '';
    checkKey(key, raw);
    checkValue(value, raw);
    return { op: m[2] === '!=' ? 'notin' : 'in', key, values: [value] };
  }
  if ((m = /^([^\s=!<>(),]+)\s*([<>])\s*(-?\d+)$/.exec(raw))) {
    checkKey(m[1] ?? '', raw);
    return { op: m[2] === '>' ? 'gt' : 'lt', key: m[1] ?? '', value: Number(m[3]) };
  }
  if ((m = /^([^\s=!<>(),]+)$/.exec(raw))) {
    checkKey(m[1] ?? '', raw);
    return { op: 'exists', key: m[1] ?? '' };
  }
  throw badRequest(`unable to parse requirement: found '${raw}', expected: key, '!key', 'key=value', 'key!=value', 'key in (...)' or 'key notin (...)'`);
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = labels[r.key];
  switch (r.op) {
    case 'exists':
      return has;
    case '!exists':
      return !has;
    case 'in':
      return has && r.values.includes(value ?? '');
    case 'notin':
      return !has || !r.values.includes(value ?? '');
    case 'gt':
    case 'lt': {
      const n = Number(value);
      if (!has || !Number.isInteger(n)) return false;
      return r.op === 'gt' ? n > r.value : n < r.value;
    }
  }
}

export function parseLabelSelector(selector: string | null | undefined): Matcher {
  if (!selector || !selector.trim()) return matchAll;
  const reqs = splitTopLevel(selector.trim()).map(parseRequirement);
  return (obj) => {
    const labels = obj.metadata.labels ?? {};
    return reqs.every((r) => matches(r, labels));
  };
}

/** Reads a dotted field path (`involvedObject.name`); non-strings compare as their JSON text. */
function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'string' ? cur : JSON.stringify(cur);
}

/**
 * Field selectors: only metadata.name, metadata.namespace and a resource's own selectable
 * fields, as the real registry rejects anything else with `field label not supported`.
 */
export function parseFieldSelector(selector: string | null | undefined, extraFields: readonly string[] = []): { matcher: Matcher; name?: string } {
  if (!selector || !selector.trim()) return { matcher: matchAll };
  const reqs: { field: string; value: string; negate: boolean }[] = [];
  let name: string | undefined;
  for (const raw of splitTopLevel(selector.trim())) {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(raw);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${raw}'`);
    const field = m[1] ?? '';
    const value = m[3] ?? '';
    if (field !== 'metadata.name' && field !== 'metadata.namespace' && !extraFields.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    const negate = m[2] === '!=';
    if (field === 'metadata.name' && !negate) name = value;
    reqs.push({ field, value, negate });
  }
  return {
    matcher: (obj) => reqs.every((r) => (fieldValue(obj, r.field) === r.value) !== r.negate),
    ...(name !== undefined ? { name } : {}),
  };
}
