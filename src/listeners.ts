// After a pass: one hook, many listeners (certmagic's OnEvent). The pass returns outcomes; Events,
// metrics and alerts are listeners of the report built from them here, attached by the command
// that runs the pass (`renew`: Events; `run`: Events, alerts, metrics). The pass knows none of them.
import type { CertificateRow } from './audit-live.js';
import type { Finding } from './core/findings.js';
import { errorMessage } from './errors.js';
import type { PassResult, TargetOutcome } from './pass.js';
import { eventKind, type EventRecorder } from './ports.js';

/** What listeners hear after a pass, finished or failed. Never mutated by a listener. */
export interface PassReport {
  /** Absent when the pass failed before it had outcomes (cluster unreadable, lease busy). */
  result?: PassResult;
  error?: unknown;
  /** The pass's findings, its failed outcomes', and the live audit's, each once. */
  findings: readonly Finding[];
  /** The live audit's rows after the pass (the service); absent when no audit ran. */
  certificates?: readonly CertificateRow[];
  now: Date;
}

export interface PassListener {
  /** For the log line when the listener fails. */
  readonly name: string;
  afterPass(report: PassReport): Promise<void>;
}

/** Runs every listener in order; a failing listener is logged and never fails the pass or the others. */
export async function notifyPass(report: PassReport, listeners: readonly PassListener[], log: { warn(obj: object, msg: string): void }): Promise<void> {
  for (const l of listeners) {
    try {
      await l.afterPass(report);
    } catch (e) {
      log.warn({ listener: l.name, err: errorMessage(e) }, 'a pass listener failed');
    }
  }
}

/** Pass findings and audit findings describe some things twice; keep one of each. */
export function mergeFindings(...lists: readonly (readonly Finding[])[]): Finding[] {
  const seen = new Set<string>();
  const out: Finding[] = [];
  for (const f of lists.flat()) {
    const key = `${f.code}|${f.object.kind}|${f.object.namespace ?? ''}|${f.object.name}|${f.host ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(f);
  }
  return out;
}

const EVENT_REASON: Partial<Record<TargetOutcome['result'], { type: 'Normal' | 'Warning'; reason: (o: TargetOutcome) => string }>> = {
  issued: { type: 'Normal', reason: () => 'CertificateIssued' },
  renewed: { type: 'Normal', reason: () => 'CertificateRenewed' },
  failed: { type: 'Warning', reason: (o) => o.reason },
  refused: { type: 'Warning', reason: (o) => o.reason },
};

/** An Event on every Ingress and Gateway of each certificate that was issued, renewed, failed or refused. */
export function eventListener(recorder: EventRecorder): PassListener {
  return {
    name: 'events',
    async afterPass({ result }) {
      if (!result || result.dryRun) return;
      const writes: Promise<void>[] = [];
      for (const o of result.outcomes) {
        const kind = EVENT_REASON[o.result];
        if (!kind) continue;
        const secret = `${o.target.namespace}/${o.target.secretName}`;
        const message = `${secret}: ${o.message}${o.hint ? ` (hint: ${o.hint})` : ''}`;
        for (const ing of o.target.ingresses) {
          writes.push(recorder.record({ involvedObject: { kind: eventKind(ing.kind), namespace: ing.namespace, name: ing.name }, type: kind.type, reason: kind.reason(o), message }));
        }
      }
      await Promise.all(writes);
    },
  };
}
