// The status page on the admin port (`/`): one server-rendered HTML document with its CSS and an
// SVG timeline inline. No script, no font, no image is fetched, so it works in an air-gapped
// cluster and under a Content-Security-Policy of default-src 'none'. Every string that comes from
// the cluster (names, hosts, issuers, messages) goes through `esc`.
import type { CertificateRow, CertificateStatus } from '../audit-live.js';
import type { Alert } from '../core/alerts.js';
import { describeObject, type Finding, type Severity } from '../core/findings.js';
import { DAY, HOUR } from '../core/time.js';
import type { PassSummary, StatusSnapshot } from '../status-history.js';

export interface StatusPageOptions {
  now: Date;
  schedule?: string;
  timezone?: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes text and attribute values; control characters are shown, never passed through. */
export function esc(value: unknown): string {
  return (
    String(value)
      .replace(/[&<>"']/g, (c) => ESCAPES[c] as string)
      // eslint-disable-next-line no-control-regex -- finding control characters is what this is for
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  );
}

const minute = (d: Date): string => d.toISOString().slice(0, 16).replace('T', ' ');
const second = (d: Date): string => d.toISOString().slice(0, 19).replace('T', ' ');

/** "in 3 days", "5 hours ago": for people scanning a page. */
function relative(ms: number): string {
  const abs = Math.abs(ms);
  const n = abs >= 2 * DAY ? `${Math.floor(abs / DAY)} days` : abs >= 2 * HOUR ? `${Math.floor(abs / HOUR)} hours` : abs >= 120_000 ? `${Math.floor(abs / 60_000)} minutes` : `${Math.max(0, Math.round(abs / 1000))} seconds`;
  return ms >= 0 ? `in ${n}` : `${n} ago`;
}

const STATE_COLOR: Record<CertificateStatus, string> = {
  Valid: '#2e7d32',
  RenewalDue: '#b7791f',
  Expired: '#c53030',
  Missing: '#718096',
  Invalid: '#c53030',
  Failing: '#c05621',
  InBackoff: '#c05621',
  NotManaged: '#4a5568',
};

/** When certkeeper will renew it: never for a Secret it does not manage, whatever the dates say. */
function plannedRenewal(r: CertificateRow): Date | undefined {
  return r.managed && r.state !== 'NotManaged' ? r.renewAt : undefined;
}

const STATE_ORDER: readonly CertificateStatus[] = ['Expired', 'Invalid', 'Failing', 'InBackoff', 'Missing', 'RenewalDue', 'NotManaged', 'Valid'];

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

const CSS = `
:root { color-scheme: light; --fg: #1a202c; --muted: #5a6372; --line: #e2e8f0; --bg: #f7f8fa; --card: #fff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header { background: #1f2a44; color: #fff; padding: 14px 28px; display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 24px; }
header h1 { font-size: 20px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header .meta { color: #c3cbe0; font-size: 13px; }
main { max-width: 1280px; margin: 0 auto; padding: 18px 28px 40px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 0 0 18px; }
h2 { font-size: 16px; margin: 0 0 10px; }
h2 small { color: var(--muted); font-weight: 400; font-size: 13px; margin-left: 8px; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; margin: 0 0 4px; }
.chip { border-radius: 999px; padding: 3px 12px; font-size: 13px; font-weight: 600; color: #fff; }
.empty { color: var(--muted); margin: 4px 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px 6px 0; border-bottom: 1px solid var(--line); }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .4px; color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.hosts { overflow-wrap: anywhere; min-width: 16em; }
td.nowrap { white-space: nowrap; }
.state { display: inline-block; border-radius: 4px; padding: 1px 8px; color: #fff; font-size: 12px; font-weight: 600; white-space: nowrap; }
.why { color: var(--muted); font-size: 12.5px; margin-top: 2px; }
.sev { display: inline-block; min-width: 62px; text-align: center; border-radius: 4px; padding: 1px 6px; font-size: 12px; font-weight: 600; color: #fff; }
.sev-error, .lvl-critical { background: #c53030; }
.sev-warning, .lvl-warning { background: #b7791f; }
.sev-info { background: #4a5568; }
.object { margin: 12px 0 4px; font-weight: 600; }
.object:first-of-type { margin-top: 0; }
ul.findings { list-style: none; margin: 0; padding: 0; }
ul.findings li { padding: 6px 0 6px 0; border-bottom: 1px solid var(--line); }
ul.findings li:last-child { border-bottom: 0; }
.code { font-weight: 600; }
.hint { color: #22543d; font-size: 13px; margin-top: 2px; }
.ok { color: #2e7d32; font-weight: 600; }
.bad { color: #c53030; font-weight: 600; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; color: var(--muted); font-size: 12.5px; margin: 6px 0 14px; }
.legend span::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; background: var(--c); }
`;

// ---- the timeline --------------------------------------------------------------------------------

interface Tick {
  at: number;
  label: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Calendar ticks for a span: hours, days, weeks, months or years, 3 to 10 of them. */
export function timelineTicks(from: number, to: number): Tick[] {
  const span = to - from;
  const fixed: [number, (d: Date) => string][] = [
    [HOUR, (d) => `${String(d.getUTCHours()).padStart(2, '0')}:00`],
    [6 * HOUR, (d) => `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCHours()).padStart(2, '0')}h`],
    [DAY, (d) => `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`],
    [7 * DAY, (d) => `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`],
  ];
  for (const [step, label] of fixed) {
    if (span / step > 10) continue;
    const out: Tick[] = [];
    for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push({ at: t, label: label(new Date(t)) });
    return out;
  }
  for (const months of [1, 3, 6, 12, 24, 60]) {
    if (span / (months * 30.4 * DAY) > 10) continue;
    const out: Tick[] = [];
    const d = new Date(from);
    let y = d.getUTCFullYear();
    let m = Math.ceil((d.getUTCMonth() + (d.getUTCDate() > 1 || d.getUTCHours() > 0 ? 1 : 0)) / months) * months;
    for (;;) {
      y += Math.floor(m / 12);
      m %= 12;
      const t = Date.UTC(y, m, 1);
      if (t > to) break;
      if (t >= from) out.push({ at: t, label: months >= 12 ? String(y) : m === 0 ? `${MONTHS[m]} ${y}` : (MONTHS[m] as string) });
      m += months;
    }
    return out;
  }
  return [];
}

function timeline(rows: readonly CertificateRow[], now: Date): string {
  const dated = rows.filter((r) => r.notAfter);
  const W = 1200;
  const LABEL = 250;
  const RIGHT = 90;
  const TOP = 30;
  const ROW = 28;
  const H = TOP + rows.length * ROW + 8;
  const n = now.getTime();
  // The horizon is what certkeeper renews: a hand-made 1-year certificate next to 6-day ones would
  // squash them to slivers, so longer bars run off the right edge with their days left beside them.
  const planned = dated.filter((r) => plannedRenewal(r));
  const horizon = (planned.length > 0 ? planned : dated).map((r) => (r.notAfter as Date).getTime());
  let to = Math.max(n + DAY, ...horizon);
  // The past matters less than what is coming: at most a third of the width lies before now.
  let from = Math.max(Math.min(n, ...dated.map((r) => (r.notBefore ?? r.notAfter ?? now).getTime())), n - (to - n) / 2);
  const pad = (to - from) * 0.02;
  from -= pad;
  to += pad;
  const x = (t: number) => LABEL + ((Math.min(Math.max(t, from), to) - from) / (to - from)) * (W - LABEL - RIGHT);
  const parts: string[] = [];
  parts.push(`<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Certificate lifetimes and renewal times" xmlns="http://www.w3.org/2000/svg">`);
  for (const t of timelineTicks(from, to)) {
    const tx = x(t.at).toFixed(1);
    parts.push(`<line x1="${tx}" x2="${tx}" y1="${TOP - 6}" y2="${H - 4}" stroke="#e2e8f0"/>`);
    // The "now" marker sits on the same line: a label under it would be half hidden.
    if (Math.abs(x(t.at) - x(n)) > 34) parts.push(`<text x="${tx}" y="${TOP - 12}" font-size="12" fill="#5a6372" text-anchor="middle">${esc(t.label)}</text>`);
  }
  rows.forEach((r, i) => {
    const y = TOP + i * ROW;
    const mid = y + ROW / 2;
    const color = STATE_COLOR[r.state];
    if (i % 2 === 1) parts.push(`<rect x="0" y="${y}" width="${W}" height="${ROW}" fill="#f7f8fa"/>`);
    const name = `${r.namespace}/${r.secretName}`;
    parts.push(`<text x="8" y="${mid + 4}" font-size="13" fill="#1a202c">${esc(name.length > 34 ? `${name.slice(0, 33)}…` : name)}<title>${esc(`${name}: ${r.hosts.join(', ')}`)}</title></text>`);
    if (!r.notAfter) {
      parts.push(`<text x="${LABEL}" y="${mid + 4}" font-size="12.5" fill="${color}" font-style="italic">${esc(r.state === 'Missing' ? 'no certificate yet' : `${r.state}: no certificate to show`)}</text>`);
      return;
    }
    const start = x((r.notBefore ?? r.notAfter).getTime());
    const end = x(r.notAfter.getTime());
    const renewAt = plannedRenewal(r);
    const renew = renewAt && renewAt < r.notAfter ? x(Math.max(renewAt.getTime(), (r.notBefore ?? r.notAfter).getTime())) : end;
    const title = `${name}\nvalid ${r.notBefore ? minute(r.notBefore) : '?'} → ${minute(r.notAfter)} UTC${renewAt ? `\nrenews at ${minute(renewAt)} UTC` : ''}\nstate: ${r.state}`;
    parts.push(`<g><title>${esc(title)}</title>`);
    // Before the renewal time: solid. The renewal window (renewAt → notAfter): the same colour, light.
    parts.push(`<rect x="${start.toFixed(1)}" y="${y + 7}" width="${Math.max(2, renew - start).toFixed(1)}" height="${ROW - 14}" rx="3" fill="${color}"/>`);
    if (end > renew) parts.push(`<rect x="${renew.toFixed(1)}" y="${y + 7}" width="${(end - renew).toFixed(1)}" height="${ROW - 14}" rx="3" fill="${color}" fill-opacity="0.35"/>`);
    if (renewAt) parts.push(`<path d="M${renew.toFixed(1)} ${y + 3} l5 5 l-5 5 l-5 -5 z" fill="#1a202c" transform="translate(0 ${ROW / 2 - 8})"/>`);
    parts.push('</g>');
    if (r.notAfter.getTime() > to) parts.push(`<path d="M${(end - 1).toFixed(1)} ${y + 5} l7 ${ROW / 2 - 5} l-7 ${ROW / 2 - 5} z" fill="${color}"/>`);
    const days = r.daysLeft ?? Math.floor((r.notAfter.getTime() - n) / DAY);
    parts.push(`<text x="${(end + 10).toFixed(1)}" y="${mid + 4}" font-size="12" fill="${days < 0 ? '#c53030' : '#5a6372'}">${esc(days < 0 ? `expired ${-days}d ago` : `${days}d left`)}</text>`);
  });
  const nx = x(n).toFixed(1);
  parts.push(`<line x1="${nx}" x2="${nx}" y1="${TOP - 4}" y2="${H - 4}" stroke="#1f2a44" stroke-width="1.5" stroke-dasharray="4 3"/>`);
  parts.push(`<rect x="${(Number(nx) - 16).toFixed(1)}" y="${TOP - 26}" width="32" height="16" rx="3" fill="#1f2a44"/><text x="${nx}" y="${TOP - 14}" font-size="11" fill="#fff" text-anchor="middle">now</text>`);
  parts.push('</svg>');
  return parts.join('');
}

// ---- sections ------------------------------------------------------------------------------------

function stateBadge(s: CertificateStatus): string {
  return `<span class="state" style="background:${STATE_COLOR[s]}">${esc(s)}</span>`;
}

function certificatesSection(snap: StatusSnapshot, now: Date): string {
  const certs = snap.certificates;
  if (!certs) {
    const why =
      snap.leader === false
        ? 'This replica does not lead: the leader runs the passes and its page shows them. Every replica answers challenges.'
        : 'No pass has finished since this replica started; the first one runs as soon as it leads (or on the schedule).';
    return `<section id="certificates"><h2>Certificates</h2><p class="empty">${esc(why)}</p></section>`;
  }
  const rows = [...certs.rows].sort(
    (a, b) => STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || (a.notAfter?.getTime() ?? 0) - (b.notAfter?.getTime() ?? 0) || `${a.namespace}/${a.secretName}`.localeCompare(`${b.namespace}/${b.secretName}`),
  );
  const counts = STATE_ORDER.map((s) => [s, rows.filter((r) => r.state === s).length] as const).filter(([, c]) => c > 0);
  const chips = counts.map(([s, c]) => `<span class="chip" style="background:${STATE_COLOR[s]}">${c} ${esc(s)}</span>`).join('');
  if (rows.length === 0) {
    return `<section id="certificates"><h2>Certificates</h2><p class="empty">No Ingress in the selection names a spec.tls secretName.</p></section>`;
  }
  const legend =
    '<div class="legend">' +
    ['Valid', 'RenewalDue', 'Failing', 'Expired', 'NotManaged'].map((s) => `<span style="--c:${STATE_COLOR[s as CertificateStatus]}">${s}</span>`).join('') +
    '<span style="--c:#a0aec0">light: inside the renewal window</span><span style="--c:#1a202c">◆ planned renewal</span></div>';
  const body = rows
    .map((r) => {
      const why = r.state === 'Valid' ? '' : `<div class="why">${esc(r.message)}</div>`;
      const days = r.daysLeft === undefined ? '–' : String(r.daysLeft);
      const renewAt = plannedRenewal(r);
      const renew = renewAt ? `${esc(minute(renewAt))}<div class="why">${esc(relative(renewAt.getTime() - now.getTime()))}</div>` : '–';
      return (
        `<tr data-secret="${esc(`${r.namespace}/${r.secretName}`)}" data-state="${esc(r.state)}">` +
        `<td class="nowrap"><span class="mono">${esc(r.namespace)}/${esc(r.secretName)}</span></td>` +
        `<td class="hosts">${r.hosts.map((h) => esc(h)).join('<br>') || '–'}</td>` +
        `<td>${esc(r.issuer ?? '–')}</td>` +
        `<td>${esc(r.profile ?? '–')}</td>` +
        `<td class="mono nowrap">${r.notAfter ? esc(minute(r.notAfter)) : '–'}</td>` +
        `<td class="num">${esc(days)}</td>` +
        `<td class="mono nowrap">${renew}</td>` +
        `<td>${stateBadge(r.state)}${why}</td></tr>`
      );
    })
    .join('');
  return (
    `<section id="certificates"><h2>Certificates<small>${rows.length} · as seen by the audit after the pass at ${esc(second(certs.at))} UTC</small></h2>` +
    `<div class="chips">${chips}</div>${legend}${timeline(rows, now)}` +
    '<table><thead><tr><th>Secret</th><th>Hosts</th><th>Issuer</th><th>Profile</th><th>Not after (UTC)</th><th>Days left</th><th>Renews at (UTC)</th><th>State</th></tr></thead>' +
    `<tbody>${body}</tbody></table></section>`
  );
}

function findingsSection(findings: readonly Finding[]): string {
  if (findings.length === 0) return '<section id="findings"><h2>Findings</h2><p class="empty">None: the last audit found nothing wrong.</p></section>';
  const byObject = new Map<string, Finding[]>();
  for (const f of findings) {
    const k = describeObject(f.object);
    byObject.set(k, [...(byObject.get(k) ?? []), f]);
  }
  const worst = (fs: Finding[]) => Math.min(...fs.map((f) => SEVERITY_ORDER[f.severity]));
  const groups = [...byObject.entries()].sort((a, b) => worst(a[1]) - worst(b[1]) || a[0].localeCompare(b[0]));
  const parts = groups.map(([object, fs]) => {
    const items = [...fs]
      .sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity])
      .map(
        (f) =>
          `<li data-code="${esc(f.code)}"><span class="sev sev-${esc(f.severity)}">${esc(f.severity)}</span> <span class="code">${esc(f.code)}</span>${f.host ? ` <span class="mono">${esc(f.host)}</span>` : ''}` +
          `<div>${esc(f.message)}</div><div class="hint">hint: ${esc(f.hint)}</div></li>`,
      )
      .join('');
    return `<div class="object" data-object="${esc(object)}">${esc(object)}</div><ul class="findings">${items}</ul>`;
  });
  const counts = (['error', 'warning', 'info'] as const).map((s) => [s, findings.filter((f) => f.severity === s).length] as const).filter(([, c]) => c > 0);
  return `<section id="findings"><h2>Findings<small>${counts.map(([s, c]) => `${c} ${s}${c === 1 ? '' : 's'}`).join(', ')} on ${groups.length} object${groups.length === 1 ? '' : 's'}</small></h2>${parts.join('')}</section>`;
}

function alertsSection(alerts: readonly Alert[] | undefined): string {
  if (alerts === undefined) return '';
  if (alerts.length === 0) return '<section id="alerts"><h2>Alerts</h2><p class="empty">None firing after the last pass.</p></section>';
  const rows = [...alerts]
    .sort((a, b) => (a.level === b.level ? a.key.localeCompare(b.key) : a.level === 'critical' ? -1 : 1))
    .map(
      (a) =>
        `<tr data-code="${esc(a.code)}"><td><span class="sev lvl-${esc(a.level)}">${esc(a.level)}</span></td><td class="code">${esc(a.code)}</td>` +
        `<td>${esc(describeObject(a.object))}${a.hosts.length > 0 ? `<div class="why">${esc(a.hosts.join(', '))}</div>` : ''}</td><td>${esc(a.summary)}</td></tr>`,
    )
    .join('');
  return `<section id="alerts"><h2>Alerts firing<small>${alerts.length}; each is sent once per level until it clears</small></h2><table><thead><tr><th>Level</th><th>Code</th><th>Object</th><th>Summary</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function passResult(p: PassSummary): string {
  if (p.error !== undefined) return `<span class="bad">error</span><div class="why">${esc(p.error)}</div>`;
  if (p.dryRun) return 'dry run';
  return p.ok ? '<span class="ok">ok</span>' : '<span class="bad">failures</span>';
}

function passesSection(passes: readonly PassSummary[], snap: StatusSnapshot): string {
  if (passes.length === 0) return '<section id="passes"><h2>Last passes</h2><p class="empty">None yet on this replica.</p></section>';
  const withAlerts = snap.alerts !== undefined;
  const rows = passes
    .map((p) => {
      const outcomes = Object.entries(p.outcomes)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      const secs = ((p.finishedAt.getTime() - p.startedAt.getTime()) / 1000).toFixed(1);
      return (
        `<tr><td class="mono">${esc(second(p.startedAt))}</td><td class="num">${esc(secs)} s</td><td>${passResult(p)}</td><td>${esc(outcomes || '–')}</td>` +
        `<td class="num">${p.ordersPlaced}</td><td class="num">${p.secretsWritten}</td><td class="num">${p.findings}</td>${withAlerts ? `<td class="num">${p.alertsFiring ?? '–'}</td>` : ''}</tr>`
      );
    })
    .join('');
  return (
    `<section id="passes"><h2>Last passes<small>newest first, the last ${passes.length} on this replica</small></h2><table><thead><tr><th>Started (UTC)</th><th>Took</th><th>Result</th><th>Certificates</th>` +
    `<th>Orders</th><th>Secrets written</th><th>Findings</th>${withAlerts ? '<th>Alerts firing</th>' : ''}</tr></thead><tbody>${rows}</tbody></table></section>`
  );
}

export function renderStatusPage(snap: StatusSnapshot, opts: StatusPageOptions): string {
  const { now } = opts;
  const role = snap.leader === undefined ? 'single replica' : snap.leader ? 'leader: runs the passes' : 'standby replica: answers challenges';
  const meta = [
    `as of ${second(now)} UTC`,
    role,
    ...(opts.schedule ? [`schedule ${opts.schedule}${opts.timezone && opts.timezone !== 'UTC' ? ` (${opts.timezone})` : ''}`] : []),
    `watching since ${second(snap.since)} UTC`,
  ];
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<meta http-equiv="refresh" content="60"><title>certkeeper status</title>' +
    `<style>${CSS}</style></head><body>` +
    `<header><h1>certkeeper</h1><span class="meta">${meta.map(esc).join(' · ')}</span></header><main>` +
    certificatesSection(snap, now) +
    alertsSection(snap.alerts) +
    findingsSection(snap.findings) +
    passesSection(snap.passes, snap) +
    '</main></body></html>\n'
  );
}
