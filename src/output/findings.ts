// Findings → text for people, JSON for programs, GitHub Actions workflow commands for CI.
// The JSON shape is a contract (CI filters read it): add fields, never rename or remove them.
import { describeObject, type Finding, type Severity } from '../core/findings.js';
import { wrapLine } from './layout.js';

export const OUTPUT_FORMATS = ['text', 'json', 'github'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface FindingSummary {
  errors: number;
  warnings: number;
  infos: number;
}

export function summarize(findings: readonly Finding[]): FindingSummary {
  const s: FindingSummary = { errors: 0, warnings: 0, infos: 0 };
  for (const f of findings) {
    if (f.severity === 'error') s.errors++;
    else if (f.severity === 'warning') s.warnings++;
    else s.infos++;
  }
  return s;
}

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/**
 * C0 and C1 control characters and DEL (a name from a manifest may carry "\x1b[2J" or a "\r"
 * that overwrites the line before it), and the bidirectional controls that make a terminal show
 * text in another order than it is ("Trojan Source").
 */
// eslint-disable-next-line no-control-regex -- finding control characters is what this is for
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function codePoint(c: string): string {
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/**
 * Shows control characters as escapes (\n, \r, \t, \x1b, \u202e) so that text from manifests
 * cannot move the cursor, recolour or clear a terminal, start a new line in a CI log, or reorder
 * what is shown. `keep` lists characters to leave alone (commander's multi-line messages keep \n).
 */
export function escapeControls(s: string, keep = ''): string {
  return s.replace(CONTROLS, (c) => (keep.includes(c) ? c : (NAMED[c] ?? codePoint(c))));
}

/**
 * JSON.stringify escapes U+0000–U+001F, but prints DEL, C1 and bidirectional controls raw. Outside
 * strings JSON text has none of them, so replacing them everywhere only touches string contents.
 */
const JSON_RAW_CONTROLS = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
function escapeJsonControls(json: string): string {
  return json.replace(JSON_RAW_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function location(f: Finding): string {
  const { file, line } = f.object;
  if (file === undefined) return '';
  return line === undefined ? file : `${file}:${line}`;
}

/** Object-major order (file, line, object), then severity, code and host: output groups by object. */
export function orderFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      (a.object.file ?? '').localeCompare(b.object.file ?? '') ||
      (a.object.line ?? 0) - (b.object.line ?? 0) ||
      describeObject(a.object).localeCompare(describeObject(b.object)) ||
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      a.code.localeCompare(b.code) ||
      (a.host ?? '').localeCompare(b.host ?? '') ||
      a.message.localeCompare(b.message),
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function summaryLine(s: FindingSummary): string {
  if (s.errors + s.warnings + s.infos === 0) return 'no findings';
  return `${plural(s.errors, 'error')}, ${plural(s.warnings, 'warning')}, ${plural(s.infos, 'info')}`;
}

/**
 * Human output: one block per object, one entry per finding with its hint. With a width, long
 * lines wrap under their own text (the terminal's width; commands pass outputWidth()).
 */
export function formatText(findings: readonly Finding[], width = Infinity): string {
  const lines: string[] = [];
  let group = '';
  for (const f of orderFindings(findings)) {
    const loc = location(f);
    const head = escapeControls(`${loc === '' ? '' : `${loc}  `}${describeObject(f.object)}`);
    if (head !== group) {
      if (group !== '') lines.push('');
      lines.push(head);
      group = head;
    }
    lines.push(escapeControls(`  ${f.severity.padEnd(7)}  ${f.code}${f.host !== undefined ? `  ${f.host}` : ''}`));
    lines.push(escapeControls(`           ${f.message}`));
    if (f.hint !== '') lines.push(escapeControls(`           hint: ${f.hint}`));
  }
  if (lines.length > 0) lines.push('');
  lines.push(summaryLine(summarize(findings)));
  return `${lines.flatMap((l) => wrapLine(l, width, /^ {11}/.test(l) ? 0 : 2)).join('\n')}\n`;
}

export interface JsonFinding {
  code: string;
  severity: Severity;
  object: { kind: string; namespace?: string; name: string; file?: string; line?: number };
  host?: string;
  message: string;
  hint: string;
}

/** `{findings: [...], summary: {errors, warnings, infos}}`, findings in object-major order. */
export function formatJson(findings: readonly Finding[]): string {
  const list: JsonFinding[] = orderFindings(findings).map((f) => {
    const object: JsonFinding['object'] = { kind: f.object.kind, name: f.object.name };
    if (f.object.namespace !== undefined) object.namespace = f.object.namespace;
    if (f.object.file !== undefined) object.file = f.object.file;
    if (f.object.line !== undefined) object.line = f.object.line;
    const j: JsonFinding = { code: f.code, severity: f.severity, object, message: f.message, hint: f.hint };
    if (f.host !== undefined) j.host = f.host;
    return j;
  });
  return `${escapeJsonControls(JSON.stringify({ findings: list, summary: summarize(findings) }, null, 2))}\n`;
}

/** Message text of a workflow command (toolkit's escapeData). */
export function escapeGithubData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A property value of a workflow command (toolkit's escapeProperty): also ':' and ','. */
export function escapeGithubProperty(s: string): string {
  return escapeGithubData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

const GITHUB_LEVEL: Record<Severity, string> = { error: 'error', warning: 'warning', info: 'notice' };

/**
 * `::error file=F,line=L,title=CODE::Ingress ns/name: message — hint`, one line per finding. The
 * toolkit's escaping turns \r and \n into %0D and %0A, so a name cannot end the line and start a
 * workflow command of its own; other control characters (ESC and the rest) are shown as escapes.
 */
export function formatGithub(findings: readonly Finding[]): string {
  const lines = orderFindings(findings).map((f) => {
    const props: string[] = [];
    if (f.object.file !== undefined) props.push(`file=${escapeGithubProperty(escapeControls(f.object.file, '\r\n'))}`);
    if (f.object.file !== undefined && f.object.line !== undefined) props.push(`line=${f.object.line}`);
    props.push(`title=${escapeGithubProperty(f.code)}`);
    const text = escapeControls(`${describeObject(f.object)}: ${f.message}${f.hint !== '' ? ` — ${f.hint}` : ''}`, '\r\n');
    return `::${GITHUB_LEVEL[f.severity]} ${props.join(',')}::${escapeGithubData(text)}`;
  });
  lines.push(summaryLine(summarize(findings)));
  return `${lines.join('\n')}\n`;
}

export function formatFindings(findings: readonly Finding[], format: OutputFormat, width = Infinity): string {
  switch (format) {
    case 'json':
      return formatJson(findings);
    case 'github':
      return formatGithub(findings);
    default:
      return formatText(findings, width);
  }
}
