// Prometheus metrics on a registry of our own (never the global one, so tests and embedders can
// run several). They are a listener of pass outcomes, alerts and leadership, like Events and alerts.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Alert } from './core/alerts.js';
import type { Finding } from './core/findings.js';
import type { PassListener } from './listeners.js';
import type { PassResult } from './pass.js';

export class Metrics {
  readonly registry = new Registry();
  private readonly notAfter: Gauge;
  private readonly notBefore: Gauge;
  private readonly renewAt: Gauge;
  private readonly ready: Gauge;
  private readonly findings: Gauge;
  private readonly alerts: Gauge;
  private readonly passes: Counter;
  private readonly passDuration: Histogram;
  private readonly orders: Counter;
  private readonly acmeRequests: Counter;
  private readonly lastSuccess: Gauge;
  private readonly leader: Gauge;
  private readonly skippedTicks: Counter;
  private readonly challenges: Counter;
  private readonly info: Gauge;
  private readonly lifetime: Gauge;
  private readonly ariStart: Gauge;
  private readonly ariEnd: Gauge;

  constructor() {
    const registers = [this.registry];
    const cert = ['namespace', 'secret'];
    this.notAfter = new Gauge({ name: 'certkeeper_certificate_not_after_timestamp_seconds', help: 'Expiry of the certificate in each managed Secret.', labelNames: cert, registers });
    this.notBefore = new Gauge({ name: 'certkeeper_certificate_not_before_timestamp_seconds', help: 'Start of validity of the certificate in each managed Secret.', labelNames: cert, registers });
    this.renewAt = new Gauge({
      name: 'certkeeper_certificate_renew_at_timestamp_seconds',
      help: 'When certkeeper plans to renew each certificate (a third of the lifetime before expiry, or renewBefore).',
      labelNames: cert,
      registers,
    });
    this.ready = new Gauge({ name: 'certkeeper_certificate_ready', help: '1 when the Secret holds a valid certificate covering every host of its Ingresses, else 0.', labelNames: cert, registers });
    this.findings = new Gauge({ name: 'certkeeper_findings', help: 'Findings of the last pass by code and severity.', labelNames: ['code', 'severity'], registers });
    this.alerts = new Gauge({ name: 'certkeeper_alerts_firing', help: 'Alerts firing after the last pass by code and level.', labelNames: ['code', 'level'], registers });
    this.passes = new Counter({ name: 'certkeeper_passes_total', help: 'Passes run, by result (success, failure, error).', labelNames: ['result'], registers });
    this.passDuration = new Histogram({
      name: 'certkeeper_pass_duration_seconds',
      help: 'Duration of passes.',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.orders = new Counter({ name: 'certkeeper_acme_orders_total', help: 'ACME orders placed, by result (issued, renewed, failed) and reason.', labelNames: ['result', 'reason'], registers });
    this.acmeRequests = new Counter({ name: 'certkeeper_acme_requests_total', help: 'HTTP requests to the ACME server, by status class or transport error.', labelNames: ['status'], registers });
    this.lastSuccess = new Gauge({ name: 'certkeeper_last_successful_pass_timestamp_seconds', help: 'When the last pass without failures finished.', registers });
    this.leader = new Gauge({ name: 'certkeeper_leader', help: '1 when this replica holds the leader Lease and runs passes.', registers });
    this.skippedTicks = new Counter({ name: 'certkeeper_schedule_skipped_ticks_total', help: 'Scheduled ticks skipped because the previous pass was still running.', registers });
    this.info = new Gauge({
      name: 'certkeeper_certificate_info',
      help: 'Always 1: the profile the CA issued each certificate under, its issuer, and what its renewal time follows (Ari, LifetimeRatio, RenewBefore).',
      labelNames: ['namespace', 'secret', 'profile', 'issuer', 'renewal_basis'],
      registers,
    });
    this.lifetime = new Gauge({ name: 'certkeeper_certificate_lifetime_seconds', help: 'notAfter − notBefore of the certificate in each managed Secret: the lifetime the CA really issued.', labelNames: cert, registers });
    this.ariStart = new Gauge({ name: 'certkeeper_certificate_ari_window_start_timestamp_seconds', help: 'Start of the renewal window the CA suggests for each certificate (ACME Renewal Information).', labelNames: cert, registers });
    this.ariEnd = new Gauge({ name: 'certkeeper_certificate_ari_window_end_timestamp_seconds', help: 'End of the renewal window the CA suggests for each certificate (ACME Renewal Information).', labelNames: cert, registers });
    this.challenges = new Counter({ name: 'certkeeper_http01_requests_total', help: 'HTTP-01 challenge requests answered by this replica, by result (found, unknown).', labelNames: ['result'], registers });
    // The process's own series (process_resident_memory_bytes, process_open_fds,
    // nodejs_active_handles, nodejs_heap_size_used_bytes, event loop lag), read when scraped: a
    // service that runs for months shows here whether it holds on to memory or sockets.
    collectDefaultMetrics({ register: this.registry });
  }

  /** The pass listener: certificate series, findings, pass counts and durations. */
  listener(): PassListener {
    return {
      name: 'metrics',
      afterPass: ({ result, findings, now }) => {
        if (result) this.recordPass(result, findings, now);
        else this.recordPassError();
        return Promise.resolve();
      },
    };
  }

  recordPass(result: PassResult, findings: readonly Finding[], now: Date): void {
    const seconds = (result.finishedAt.getTime() - result.startedAt.getTime()) / 1000;
    this.passDuration.observe(seconds);
    this.passes.inc({ result: result.ok ? 'success' : 'failure' });
    if (result.ok) this.lastSuccess.set(now.getTime() / 1000);
    // Certificates that left the plan must not linger as stale series.
    this.notAfter.reset();
    this.notBefore.reset();
    this.renewAt.reset();
    this.ready.reset();
    this.info.reset();
    this.lifetime.reset();
    this.ariStart.reset();
    this.ariEnd.reset();
    const errorsBySecret = new Set(
      findings.filter((f) => f.severity === 'error' && f.object.kind === 'Secret').map((f) => `${f.object.namespace}/${f.object.name}`),
    );
    for (const o of result.outcomes) {
      const labels = { namespace: o.target.namespace, secret: o.target.secretName };
      if (o.notAfter) this.notAfter.set(labels, o.notAfter.getTime() / 1000);
      if (o.notBefore) this.notBefore.set(labels, o.notBefore.getTime() / 1000);
      if (o.renewAt) this.renewAt.set(labels, o.renewAt.getTime() / 1000);
      if (o.notBefore && o.notAfter) {
        this.lifetime.set(labels, Math.round((o.notAfter.getTime() - o.notBefore.getTime()) / 1000));
        this.info.set({ ...labels, profile: o.profile ?? '', issuer: o.issuer ?? '', renewal_basis: o.renewalBasis ?? '' }, 1);
      }
      if (o.ari) {
        this.ariStart.set(labels, o.ari.start.getTime() / 1000);
        this.ariEnd.set(labels, o.ari.end.getTime() / 1000);
      }
      const valid = o.notAfter !== undefined && o.notAfter > now && o.result !== 'refused' && !errorsBySecret.has(`${labels.namespace}/${labels.secret}`);
      this.ready.set(labels, valid ? 1 : 0);
      if (o.result === 'issued' || o.result === 'renewed' || o.result === 'failed') this.orders.inc({ result: o.result, reason: o.reason });
    }
    this.setFindings(findings);
  }

  recordPassError(): void {
    this.passes.inc({ result: 'error' });
  }

  setFindings(findings: readonly Finding[]): void {
    this.findings.reset();
    const counts = new Map<string, { code: string; severity: string; n: number }>();
    for (const f of findings) {
      const k = `${f.code}/${f.severity}`;
      const c = counts.get(k) ?? { code: f.code, severity: f.severity, n: 0 };
      c.n++;
      counts.set(k, c);
    }
    for (const c of counts.values()) this.findings.set({ code: c.code, severity: c.severity }, c.n);
  }

  setAlerts(alerts: readonly Alert[]): void {
    this.alerts.reset();
    for (const a of alerts) this.alerts.inc({ code: a.code, level: a.level });
  }

  setLeader(isLeader: boolean): void {
    this.leader.set(isLeader ? 1 : 0);
  }

  skippedTick(): void {
    this.skippedTicks.inc();
  }

  acmeRequest(status: string): void {
    this.acmeRequests.inc({ status });
  }

  challengeRequest(found: boolean): void {
    this.challenges.inc({ result: found ? 'found' : 'unknown' });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
