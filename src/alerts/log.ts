// Alerts as structured log lines: one per notification, the code as the field `code`, so that a
// log query for CertificateExpiringSoon finds the check's finding and the alert alike.
import { isoTime } from '../core/alerts.js';
import { describeObject } from '../core/findings.js';
import type { Logger } from '../log.js';
import { resolvedSentence, title, type Notification, type Notifier } from './notification.js';

export class LogNotifier implements Notifier {
  readonly name: string;
  constructor(
    private readonly logger: Logger,
    name = 'log',
  ) {
    this.name = name;
  }

  async send(n: Notification): Promise<void> {
    const a = n.alert;
    const fields: Record<string, unknown> = {
      alert: n.kind,
      code: a.code,
      // Not `level`: that is pino's own field, and overwriting it breaks every log query by level.
      alertLevel: a.level,
      key: a.key,
      object: describeObject(a.object),
      since: isoTime(n.since),
    };
    if (n.previousLevel) fields.previousLevel = n.previousLevel;
    if (a.hosts.length > 0) fields.hosts = a.hosts;
    if (a.notAfter) fields.notAfter = isoTime(a.notAfter);
    if (n.kind === 'firing') {
      fields.hint = a.hint;
      const line = `${title(n)}: ${a.message}`;
      if (a.level === 'critical') this.logger.error(fields, line);
      else this.logger.warn(fields, line);
    } else {
      fields.clearedAt = isoTime(n.at);
      this.logger.info(fields, `${title(n)}: ${resolvedSentence(n)}`);
    }
  }
}
