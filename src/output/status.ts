// Certificate rows → a table for people, JSON for programs. The JSON shape is a contract: add
// fields, never rename or remove them.
import { CERTIFICATE_STATUSES, type CertificateRow } from '../audit-live.js';
import { formatTable, wrapLine } from './layout.js';

const minute = (d: Date | undefined) => (d ? d.toISOString().slice(0, 16).replace('T', ' ') : '-');

/** "90d", "45d", "160h": the lifetime the CA really issued (notAfter is inclusive, so round). */
export function lifetimeCell(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const hours = Math.round(ms / 3_600_000);
  return hours % 24 === 0 ? `${hours / 24}d` : `${hours}h`;
}

/** "classic 90d", "90d" (a CA without profiles), "-" (no certificate). */
export function profileCell(profile: string | undefined, lifetimeMs: number | undefined): string {
  const parts = [profile, lifetimeMs === undefined ? undefined : lifetimeCell(lifetimeMs)].filter((x): x is string => x !== undefined);
  return parts.length > 0 ? parts.join(' ') : '-';
}

function hostsCell(hosts: readonly string[]): string {
  if (hosts.length <= 3) return hosts.join(',') || '-';
  return `${hosts.slice(0, 3).join(',')} +${hosts.length - 3}`;
}

export function statusCounts(rows: readonly CertificateRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of CERTIFICATE_STATUSES) {
    const n = rows.filter((r) => r.state === s).length;
    if (n > 0) out[s] = n;
  }
  return out;
}

/**
 * One row per certificate; below it, one line per certificate that is not Valid, saying why. The
 * table fits `width` by wrapping cells; no column is left out. `wide` adds ISSUER and PROFILE (the
 * profile and the lifetime the CA really issued), as `kubectl get -o wide` adds columns: nine
 * columns do not fit 80 without breaking names.
 */
export function formatStatusText(rows: readonly CertificateRow[], width = Infinity, opts: { wide?: boolean } = {}): string {
  if (rows.length === 0) return 'no certificates: no Ingress in the selection names a spec.tls secretName\n';
  const wide = opts.wide === true;
  const head = ['NAMESPACE', 'SECRET', 'HOSTS', ...(wide ? ['ISSUER', 'PROFILE'] : []), 'NOT AFTER (UTC)', 'DAYS LEFT', 'RENEWS AT (UTC)', 'STATE'];
  const cells: string[][] = [];
  for (const r of rows) {
    cells.push([
      r.namespace,
      r.secretName,
      hostsCell(r.hosts),
      ...(wide ? [r.issuer ?? '-', profileCell(r.profile, r.lifetimeMs)] : []),
      minute(r.notAfter),
      r.daysLeft === undefined ? '-' : String(r.daysLeft),
      r.managed ? minute(r.renewAt) : '-',
      r.state,
    ]);
  }
  const lines = formatTable(head, cells, width);
  const notes = rows.filter((r) => r.state !== 'Valid');
  if (notes.length > 0) lines.push('');
  // A renewal due for another reason than the lifetime names it: AriRenewalDue, HostsChanged, …
  for (const r of notes) lines.push(...wrapLine(`${r.namespace}/${r.secretName}: ${r.state}${r.state === 'RenewalDue' && r.reason !== 'RenewalDue' ? ` (${r.reason})` : ''}: ${r.message}`, width));
  const windows = rows.filter((r) => r.managed && r.ari);
  if (windows.length > 0) lines.push('', 'Renewal windows the CA suggests (ARI):');
  for (const r of windows) {
    const w = r.ari as NonNullable<CertificateRow['ari']>;
    const basis = r.renewalBasis === 'Ari' ? 'renews at a moment inside it' : `renewBefore wins: renews at ${minute(r.renewAt)}`;
    lines.push(...wrapLine(`  ${r.namespace}/${r.secretName}: ${minute(w.start)} – ${minute(w.end)} UTC, ${basis}${w.explanationUrl ? `; explanation: ${w.explanationUrl}` : ''}`, width));
  }
  const counts = Object.entries(statusCounts(rows)).map(([s, n]) => `${n} ${s}`);
  lines.push('', ...wrapLine(`${rows.length} certificate${rows.length === 1 ? '' : 's'}: ${counts.join(', ')}`, width));
  return `${lines.join('\n')}\n`;
}

function rowJson(r: CertificateRow): Record<string, unknown> {
  const j: Record<string, unknown> = {
    namespace: r.namespace,
    secretName: r.secretName,
    hosts: r.hosts,
    ingresses: r.ingresses.filter((i) => (i.kind ?? 'Ingress') === 'Ingress').map((i) => `${i.namespace}/${i.name}`),
    // Only when some Gateway names the Secret: Ingress-only output keeps its shape.
    ...(r.ingresses.some((i) => (i.kind ?? 'Ingress') !== 'Ingress')
      ? { gateways: r.ingresses.filter((i) => (i.kind ?? 'Ingress') !== 'Ingress').map((i) => `${i.kind === 'ListenerSet' ? 'ListenerSet:' : ''}${i.namespace}/${i.name}`) }
      : {}),
    managed: r.managed,
    state: r.state,
    reason: r.reason,
    message: r.message,
  };
  if (r.issuer !== undefined) j.issuer = r.issuer;
  if (r.profile !== undefined) j.profile = r.profile;
  if (r.notBefore) j.notBefore = r.notBefore.toISOString();
  if (r.notAfter) j.notAfter = r.notAfter.toISOString();
  if (r.daysLeft !== undefined) j.daysLeft = r.daysLeft;
  if (r.renewAt) j.renewAt = r.renewAt.toISOString();
  if (r.serial !== undefined) j.serial = r.serial;
  if (r.fingerprint !== undefined) j.fingerprint = r.fingerprint;
  if (r.secretType !== undefined) j.secretType = r.secretType;
  if (r.profile !== undefined) j.profile = r.profile;
  if (r.lifetimeMs !== undefined) j.lifetimeSeconds = Math.round(r.lifetimeMs / 1000);
  if (r.renewalBasis !== undefined) j.renewalBasis = r.renewalBasis;
  if (r.ari) j.ari = { start: r.ari.start.toISOString(), end: r.ari.end.toISOString(), ...(r.ari.explanationUrl ? { explanationURL: r.ari.explanationUrl } : {}) };
  if (r.failures > 0) j.failure = { failures: r.failures, retryAfter: r.retryAfter?.toISOString(), lastError: r.lastError ?? '' };
  return j;
}

/** `{now, certificates: [...], summary: {Valid: n, …}}`. */
export function formatStatusJson(rows: readonly CertificateRow[], now: Date): string {
  return `${JSON.stringify({ now: now.toISOString(), certificates: rows.map(rowJson), summary: statusCounts(rows) }, null, 2)}\n`;
}
