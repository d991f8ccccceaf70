// Alerts as Kubernetes Events on the Ingresses they concern, where `kubectl describe ingress`
// shows them next to the controller's own Events. The reason is the alert code unchanged, for
// firing and resolved alike, so `--field-selector reason=CertificateExpiringSoon` finds both.
import { eventKind, type EventRecorder } from '../ports.js';
import type { Notification, Notifier } from './notification.js';
import { resolvedSentence } from './notification.js';

// events.k8s.io/v1 rejects notes over 1 kB; core/v1 accepts more, but kubectl shows one line.
const MAX_MESSAGE = 1024;

function clip(s: string): string {
  return s.length <= MAX_MESSAGE ? s : `${s.slice(0, MAX_MESSAGE - 1)}…`;
}

export class EventNotifier implements Notifier {
  readonly name: string;
  constructor(
    private readonly recorder: EventRecorder,
    name = 'event',
  ) {
    this.name = name;
  }

  async send(n: Notification): Promise<void> {
    const a = n.alert;
    // Alerts with no Ingress (NoSuccessfulPass) have nothing to attach to; the other channels carry them.
    if (a.ingresses.length === 0) return;
    const message = clip(n.kind === 'firing' ? `${a.level.toUpperCase()}: ${a.message}. ${a.hint}` : `RESOLVED: ${resolvedSentence(n)}`);
    const type = n.kind === 'firing' ? 'Warning' : 'Normal';
    const results = await Promise.allSettled(
      a.ingresses.map((i) => this.recorder.record({ involvedObject: { kind: eventKind(i.kind), namespace: i.namespace, name: i.name }, type, reason: a.code, message })),
    );
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${a.ingresses[i]?.kind ?? 'Ingress'} ${a.ingresses[i]?.namespace}/${a.ingresses[i]?.name}: ${String((r.reason as Error)?.message ?? r.reason)}`] : []));
    // Retrying re-records the Events that succeeded too; a repeated Event only bumps its count.
    if (failed.length > 0) throw new Error(`cannot record the ${a.code} Event on ${failed.join('; ')}`);
  }
}
