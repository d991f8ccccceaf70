// Listeners of a pass's outcomes (certmagic's "one event hook, many listeners"): Kubernetes
// Events here; metrics and alerts attach the same way. The pass itself knows none of them.
import type { TargetOutcome } from './pass.js';

export interface EventSink {
  record(e: { involvedObject: { kind: 'Ingress'; namespace: string; name: string }; type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void>;
}

const EVENT_REASON: Partial<Record<TargetOutcome['result'], { type: 'Normal' | 'Warning'; reason: (o: TargetOutcome) => string }>> = {
  issued: { type: 'Normal', reason: () => 'CertificateIssued' },
  renewed: { type: 'Normal', reason: () => 'CertificateRenewed' },
  failed: { type: 'Warning', reason: (o) => o.reason },
  refused: { type: 'Warning', reason: (o) => o.reason },
};

/** An Event on every Ingress of each certificate that was issued, renewed, failed or refused. */
export async function recordOutcomeEvents(outcomes: readonly TargetOutcome[], sink: EventSink): Promise<void> {
  const writes: Promise<void>[] = [];
  for (const o of outcomes) {
    const kind = EVENT_REASON[o.result];
    if (!kind) continue;
    const secret = `${o.target.namespace}/${o.target.secretName}`;
    const message = `${secret}: ${o.message}${o.hint ? ` (hint: ${o.hint})` : ''}`;
    for (const ing of o.target.ingresses) {
      writes.push(sink.record({ involvedObject: { kind: 'Ingress', namespace: ing.namespace, name: ing.name }, type: kind.type, reason: kind.reason(o), message }));
    }
  }
  await Promise.all(writes);
}
