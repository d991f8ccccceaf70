// Keeps the CA's ARI window (RFC 9773) on each managed Secret, so that `renew`, `status`, `check`,
// alerts and metrics all plan from it through core/renewal.ts without asking the CA themselves.
// A pass asks the CA again for a Secret only when its certkeeper.dev/ari-next-check has passed
// (the CA's Retry-After, capped to [1 h, 24 h]) or the certificate changed; the record is written
// with one PATCH of annotations. Depends on ports only.
import type { Logger } from 'pino';
import { renewalPlan } from './core/renewal.js';
import { ANNOTATION, ariAnnotations, ariNextCheckFor, isManaged, readAriRecord, viewSecret, type SecretObject } from './core/secret.js';
import { isoSeconds } from './core/time.js';
import { errorMessage } from './errors.js';
import type { Clock, ClusterPort, IssuerPort } from './ports.js';

export interface AriRefreshDeps {
  issuer(directoryUrl: string): IssuerPort;
  cluster: Pick<ClusterPort, 'patchSecretAnnotations'>;
  clock: Clock;
  log: Logger;
  /** Ask, but write nothing (renew --dry-run). */
  dryRun?: boolean;
}

/** One per pass: it says once per CA when renewalInfo cannot be had, not once per Secret. */
export class AriRefresher {
  private readonly said = new Set<string>();

  constructor(private readonly deps: AriRefreshDeps) {}

  /**
   * The Secret with a current ARI record for the certificate it holds: asked from the CA that
   * issued it (certkeeper.dev/issuer, else `directoryUrl`) when due, recorded on the Secret.
   * Returns the object to decide with; never throws (without a window, the lifetime ratio holds).
   */
  async refresh(secret: SecretObject | undefined, directoryUrl: string, opts: { force?: boolean; renewBeforeMs?: number | undefined } = {}): Promise<SecretObject | undefined> {
    if (!secret || !isManaged(secret)) return secret;
    const info = viewSecret(secret).info;
    const now = this.deps.clock();
    if (!info?.certId || now >= info.notAfter) return secret;
    const annotations = secret.metadata.annotations ?? {};
    const next = ariNextCheckFor(annotations, info.certId);
    if (!opts.force && next && next > now) return secret;
    const caUrl = annotations[ANNOTATION.issuer] ?? directoryUrl;
    const name = `${secret.metadata.namespace}/${secret.metadata.name}`;
    const answer = await this.deps.issuer(caUrl).renewalInfo(info);
    if (answer.kind === 'unsupported') return secret;
    let patch: Record<string, string | null>;
    if (answer.kind === 'failed') {
      if (!this.said.has(caUrl)) {
        this.said.add(caUrl);
        this.deps.log.warn({ target: name, directoryUrl: caUrl, problem: answer.problem }, `no ARI window from ${caUrl} for ${name}: ${answer.problem}; renewal follows the last window known or the lifetime ratio (said once per pass)`);
      }
      // Keep a window already known for this certificate: a CA that is down has not withdrawn it.
      const known = annotations[ANNOTATION.ariCertId] === info.certId;
      patch = known ? { [ANNOTATION.ariNextCheck]: answer.nextCheck.toISOString() } : ariAnnotations({ certId: info.certId, nextCheck: answer.nextCheck });
    } else {
      patch = ariAnnotations({ certId: info.certId, nextCheck: answer.nextCheck, window: answer.window });
      const w = answer.window;
      this.deps.log.debug(
        { target: name, start: w.start.toISOString(), end: w.end.toISOString(), explanationURL: w.explanationUrl, nextCheck: answer.nextCheck.toISOString() },
        `ARI window for ${name}: ${isoSeconds(w.start)} – ${isoSeconds(w.end)}`,
      );
    }
    const merged: Record<string, string> = { ...annotations };
    const apply = (p: Record<string, string | null>) => {
      for (const [k, v] of Object.entries(p)) {
        if (v === null) delete merged[k];
        else merged[k] = v;
      }
    };
    apply(patch);
    // certkeeper.dev/renew-at says what the plan is now, for people reading the Secret.
    const renewAt = renewalPlan(info, { renewBeforeMs: opts.renewBeforeMs, ari: readAriRecord(merged) }).renewAt.toISOString();
    if (merged[ANNOTATION.renewAt] !== renewAt) {
      patch[ANNOTATION.renewAt] = renewAt;
      apply({ [ANNOTATION.renewAt]: renewAt });
    }
    const updated: SecretObject = { ...secret, metadata: { ...secret.metadata, annotations: merged } };
    if (this.deps.dryRun) return updated;
    try {
      // The write that may follow (a renewal) replaces the Secret at its new resourceVersion.
      const rv = await this.deps.cluster.patchSecretAnnotations(secret.metadata.namespace, secret.metadata.name, patch);
      if (typeof rv === 'string') updated.metadata.resourceVersion = rv;
    } catch (e) {
      this.deps.log.warn({ target: name, err: errorMessage(e) }, 'could not record the ARI window on the Secret; the next pass asks the CA again');
    }
    return updated;
  }
}
