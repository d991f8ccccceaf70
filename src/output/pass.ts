// A pass → text for people (one line per certificate with its reason), JSON for programs.
import type { Finding } from '../core/findings.js';
import { isoSeconds } from '../core/time.js';
import type { PassResult, TargetOutcome } from '../pass.js';
import { formatText as formatFindingsText, orderFindings } from './findings.js';
import { formatTable, wrapLine } from './layout.js';

// As in status: to the minute, date and time apart, so a narrow terminal wraps between them.
const minute = (d: Date | undefined): string => (d ? d.toISOString().slice(0, 16).replace('T', ' ') : '');

function counts(outcomes: readonly TargetOutcome[]): string {
  const by = new Map<string, number>();
  for (const o of outcomes) by.set(o.result, (by.get(o.result) ?? 0) + 1);
  return ['issued', 'renewed', 'planned', 'skipped', 'refused', 'failed']
    .filter((r) => by.has(r))
    .map((r) => `${by.get(r)} ${r}`)
    .join(', ');
}

/** One summary line, a table of certificates, what needs explaining, the findings; within `width`. */
export function formatPassText(result: PassResult, width = Infinity): string {
  const secs = ((result.finishedAt.getTime() - result.startedAt.getTime()) / 1000).toFixed(1);
  const lines: string[] = [];
  const n = result.outcomes.length;
  lines.push(
    ...wrapLine(`${result.dryRun ? 'dry run: ' : ''}${n} certificate${n === 1 ? '' : 's'}${n ? `: ${counts(result.outcomes)}` : ''} (${secs} s, ${result.ordersPlaced} order${result.ordersPlaced === 1 ? '' : 's'}, ${result.secretsWritten} Secret write${result.secretsWritten === 1 ? '' : 's'})`, width),
  );
  if (n > 0) {
    const rows = result.outcomes.map((o) => [o.result, `${o.target.namespace}/${o.target.secretName}`, o.target.hosts.join(','), minute(o.notAfter), o.reason]);
    lines.push(...formatTable(['RESULT', 'SECRET', 'HOSTS', 'NOT AFTER (UTC)', 'REASON'], rows, width));
    // The table says what was issued and skipped; below it only what it cannot: why something
    // was refused, failed or is planned, and what to do about it.
    const detail = result.outcomes.filter((o) => o.result === 'refused' || o.result === 'failed' || o.result === 'planned' || (o.result === 'skipped' && o.reason !== 'UpToDate'));
    for (const o of detail) {
      lines.push(...wrapLine(`${o.target.namespace}/${o.target.secretName}: ${o.message}`, width));
      if (o.hint) lines.push(...wrapLine(`  hint: ${o.hint}`, width));
    }
  }
  if (result.findings.length > 0) {
    lines.push('', formatFindingsText(result.findings, width).trimEnd());
  }
  const invalid = result.dryRun ? [] : result.outcomes.filter((o) => o.valid === false);
  if (invalid.length > 0) {
    // What makes the exit code 1 even when nothing "failed" this time: a Target waiting out its backoff.
    const line = (o: TargetOutcome) => {
      const next = o.failure && o.failure.retryAfter > result.finishedAt ? `; next try at ${isoSeconds(o.failure.retryAfter)} (or now with --force)` : '';
      return `  ${o.target.namespace}/${o.target.secretName} (${o.reason}${next})`;
    };
    lines.push('', `not valid after this pass (${invalid.length}):`, ...invalid.map(line));
  }
  if (result.stopped) lines.push('', `the pass stopped before it was done: ${result.stopped}`);
  return `${lines.join('\n')}\n`;
}

function outcomeJson(o: TargetOutcome): Record<string, unknown> {
  const j: Record<string, unknown> = {
    namespace: o.target.namespace,
    secretName: o.target.secretName,
    hosts: o.target.hosts,
    ingresses: o.target.ingresses.filter((i) => (i.kind ?? 'Ingress') === 'Ingress').map((i) => `${i.namespace}/${i.name}`),
    // Only when some Gateway names the Secret: Ingress-only output keeps its shape.
    ...(o.target.ingresses.some((i) => (i.kind ?? 'Ingress') !== 'Ingress')
      ? { gateways: o.target.ingresses.filter((i) => (i.kind ?? 'Ingress') !== 'Ingress').map((i) => `${i.kind === 'ListenerSet' ? 'ListenerSet:' : ''}${i.namespace}/${i.name}`) }
      : {}),
    result: o.result,
    reason: o.reason,
    message: o.message,
  };
  if (o.hint) j.hint = o.hint;
  if (o.notAfter) j.notAfter = o.notAfter.toISOString();
  if (o.renewAt) j.renewAt = o.renewAt.toISOString();
  if (o.serial) j.serial = o.serial;
  if (o.issuer) j.issuer = o.issuer;
  if (o.problem) j.problem = o.problem;
  if (o.profile) j.profile = o.profile;
  if (o.renewalBasis) j.renewalBasis = o.renewalBasis;
  if (o.ari) j.ari = { start: o.ari.start.toISOString(), end: o.ari.end.toISOString(), ...(o.ari.explanationUrl ? { explanationURL: o.ari.explanationUrl } : {}) };
  if (o.replaced) j.replaces = o.replaced;
  if (o.orderUrl) j.order = o.orderUrl;
  if (o.failure) j.failure = { failures: o.failure.failures, retryAfter: o.failure.retryAfter.toISOString(), lastError: o.failure.lastError };
  if (o.valid !== undefined) j.valid = o.valid;
  return j;
}

function findingJson(f: Finding): Record<string, unknown> {
  return { code: f.code, severity: f.severity, object: f.object, ...(f.host ? { host: f.host } : {}), message: f.message, hint: f.hint };
}

/** Stable JSON: add fields, never rename them. */
export function formatPassJson(result: PassResult): string {
  return `${JSON.stringify(
    {
      ok: result.ok,
      dryRun: result.dryRun,
      startedAt: result.startedAt.toISOString(),
      finishedAt: result.finishedAt.toISOString(),
      allValid: result.allValid,
      ...(result.stopped !== undefined ? { stopped: result.stopped } : {}),
      ordersPlaced: result.ordersPlaced,
      certificatesIssued: result.certificatesIssued,
      secretsWritten: result.secretsWritten,
      garbageCollected: result.garbageCollected,
      certificates: result.outcomes.map(outcomeJson),
      findings: orderFindings(result.findings).map(findingJson),
    },
    null,
    2,
  )}\n`;
}
