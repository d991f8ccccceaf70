// Kubernetes Events on the Ingress: `kubectl describe ingress` shows what certkeeper did and why,
// with the same CamelCase reason as the log line and the metric label.
import { hostname } from 'node:os';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { EventRecorder, IngressEvent } from '../ports.js';
import type { Kube } from './cluster.js';

export class KubeEventRecorder implements EventRecorder {
  constructor(
    private readonly kube: Kube,
    private readonly log: Logger,
    private readonly instance = `${hostname()}-${process.pid}`,
  ) {}

  /** Best effort: an Event that cannot be written is logged, never fails the pass. */
  async record(e: IngressEvent): Promise<void> {
    const now = new Date();
    const ns = e.involvedObject.namespace;
    const body: CoreV1Event = {
      metadata: { generateName: `${e.involvedObject.name}.`, namespace: ns },
      involvedObject: {
        apiVersion: e.involvedObject.kind === 'Ingress' ? 'networking.k8s.io/v1' : 'gateway.networking.k8s.io/v1',
        kind: e.involvedObject.kind,
        name: e.involvedObject.name,
        namespace: ns,
      },
      type: e.type,
      reason: e.reason,
      // The API limits an Event message to 1 KiB.
      message: e.message.length > 1024 ? `${e.message.slice(0, 1021)}...` : e.message,
      source: { component: 'certkeeper' },
      reportingComponent: 'certkeeper',
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      // generateName: a repeat after an unanswered attempt could record the Event twice, so only
      // refusals (connection refused, 429, 503) are retried; kube.call decides that for creates.
      await this.kube.call('create', 'events', ns, undefined, (options) => this.kube.core.createNamespacedEvent({ namespace: ns, body }, options));
    } catch (err) {
      this.log.warn({ err: errorMessage(err), reason: e.reason, object: `${e.involvedObject.kind} ${ns}/${e.involvedObject.name}` }, 'could not record a Kubernetes Event');
    }
  }
}
