// What the status page shows: a listener of passes (src/listeners.ts) that keeps the last passes,
// the live audit's certificate rows and findings of the newest one, and the alerts firing after
// it. Nothing here reads the cluster: the page shows what the service already learnt, so opening
// it costs the API server nothing, and it holds no Secret data (rows carry dates, names, issuers).
import type { CertificateRow } from './audit-live.js';
import type { Alert } from './core/alerts.js';
import type { Finding } from './core/findings.js';
import { errorMessage } from './errors.js';
import type { PassListener, PassReport } from './listeners.js';
import type { OutcomeResult } from './pass.js';

/** One pass, as the page lists it. */
export interface PassSummary {
  startedAt: Date;
  finishedAt: Date;
  /** False when anything failed or was refused, or the pass itself failed. */
  ok: boolean;
  /** Why the pass could not run at all (cluster unreadable, lease busy). */
  error?: string;
  dryRun: boolean;
  outcomes: Partial<Record<OutcomeResult, number>>;
  ordersPlaced: number;
  secretsWritten: number;
  findings: number;
  /** Alerts firing after this pass; absent when alerting is not attached. */
  alertsFiring?: number;
}

export interface StatusSnapshot {
  /** When this replica started watching. */
  since: Date;
  /** Undefined without leader election (a single replica runs every pass). */
  leader?: boolean;
  /** Newest first. */
  passes: PassSummary[];
  /** The live audit's rows after the newest pass that had them, and when that was. */
  certificates?: { rows: readonly CertificateRow[]; at: Date };
  findings: readonly Finding[];
  /** Alerts firing after the newest pass; undefined when alerting is not attached. */
  alerts?: readonly Alert[];
}

export class StatusHistory {
  private readonly passes: PassSummary[] = [];
  private certificates: StatusSnapshot['certificates'];
  private findings: readonly Finding[] = [];
  private alerts: readonly Alert[] | undefined;
  private leader: boolean | undefined;

  constructor(
    private readonly since: Date,
    /** Passes kept; an hourly schedule shows the last day. */
    private readonly limit = 24,
  ) {}

  /** Attach after the alerts listener, so each pass is listed with the alerts it left firing. */
  listener(): PassListener {
    return {
      name: 'status-page',
      afterPass: (report) => {
        this.record(report);
        return Promise.resolve();
      },
    };
  }

  /** The alerts evaluated after a pass (Alerting's onAlerts). */
  recordAlerts(alerts: readonly Alert[]): void {
    this.alerts = [...alerts];
  }

  setLeader(leader: boolean): void {
    this.leader = leader;
  }

  record(report: PassReport): void {
    const { result } = report;
    const summary: PassSummary = result
      ? {
          startedAt: result.startedAt,
          finishedAt: result.finishedAt,
          ok: result.ok,
          dryRun: result.dryRun,
          outcomes: result.outcomes.reduce<Partial<Record<OutcomeResult, number>>>((m, o) => ({ ...m, [o.result]: (m[o.result] ?? 0) + 1 }), {}),
          ordersPlaced: result.ordersPlaced,
          secretsWritten: result.secretsWritten,
          findings: report.findings.length,
        }
      : { startedAt: report.now, finishedAt: report.now, ok: false, dryRun: false, outcomes: {}, ordersPlaced: 0, secretsWritten: 0, findings: 0 };
    if (report.error !== undefined) summary.error = errorMessage(report.error);
    if (this.alerts !== undefined) summary.alertsFiring = this.alerts.length;
    this.passes.unshift(summary);
    this.passes.length = Math.min(this.passes.length, this.limit);
    // A pass that could not read the cluster says nothing about the certificates: keep what the
    // last good one saw (the page says when that was).
    if (result) this.findings = report.findings;
    if (report.certificates) this.certificates = { rows: report.certificates, at: report.now };
  }

  snapshot(): StatusSnapshot {
    const s: StatusSnapshot = { since: this.since, passes: [...this.passes], findings: this.findings };
    if (this.leader !== undefined) s.leader = this.leader;
    if (this.certificates) s.certificates = this.certificates;
    if (this.alerts !== undefined) s.alerts = this.alerts;
    return s;
  }
}
