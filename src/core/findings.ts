// One vocabulary of problems. A code is a stable CamelCase name that reappears unchanged in log
// lines, Kubernetes Events, metric labels, alerts, JSON output and GitHub annotations; renaming
// one is a breaking change for users' alert rules and CI filters.

export type Severity = 'error' | 'warning' | 'info';

/** The object a finding is about, as a user would type it to kubectl. */
export interface ObjectRef {
  kind: string;
  namespace?: string;
  name: string;
  /** Where the object came from when read from files (lint): path and 1-based line. */
  file?: string;
  line?: number;
}

export interface Finding {
  code: FindingCode;
  severity: Severity;
  object: ObjectRef;
  host?: string;
  /** What is wrong, with the facts (names, dates) that make it checkable. */
  message: string;
  /** What to do about it, concretely. */
  hint: string;
}

/**
 * Every code with its fixed severity and a one-line summary (used by `--help`, docs and metrics
 * HELP text). The severity is part of the contract: CI exit codes and alert levels derive from it.
 */
export const FINDINGS = {
  // Ingress spec
  TlsHostNotRouted: { severity: 'error', summary: 'a spec.tls host that no rule routes' },
  RuleHostNotCovered: { severity: 'warning', summary: 'a rule host that no spec.tls entry covers (served with the default certificate on HTTPS)' },
  RuleSplitHostAndPaths: { severity: 'error', summary: 'a rule with a host but no paths next to a rule with paths but no host' },
  TlsSecretNameMissing: { severity: 'error', summary: 'a spec.tls entry without secretName (the controller serves its fake certificate)' },
  TlsHostsMissing: { severity: 'error', summary: 'a spec.tls entry without hosts' },
  SecretHostsConflict: { severity: 'warning', summary: 'one secretName used with different host sets in one namespace' },
  SecretSettingsConflict: { severity: 'warning', summary: 'Ingresses sharing one Secret ask for different certkeeper settings (the first by namespace/name wins)' },
  WildcardHost: { severity: 'error', summary: 'a wildcard host, which HTTP-01 cannot validate' },
  InvalidHost: { severity: 'error', summary: 'a hostname that is not valid on a certificate' },
  IpAddressHost: { severity: 'error', summary: 'an IP address where a hostname is expected' },
  TooManyHosts: { severity: 'error', summary: 'more than 100 names for one certificate' },
  RemovedApiVersion: { severity: 'error', summary: 'an Ingress API version removed from Kubernetes' },
  LegacyBackendFields: { severity: 'error', summary: 'serviceName/servicePort backend fields of the removed v1beta1 API' },
  UnknownSpecField: { severity: 'error', summary: 'an unknown field in the Ingress spec (often a misspelling)' },
  TlsMissing: { severity: 'error', summary: 'an Ingress that asks for certkeeper but has no spec.tls section' },
  UnknownAnnotation: { severity: 'warning', summary: 'an unknown certkeeper.dev/* annotation' },
  InvalidAnnotationValue: { severity: 'error', summary: 'a certkeeper.dev/* annotation with a value certkeeper cannot use' },
  InvalidManifest: { severity: 'error', summary: 'a document that cannot be read as a Kubernetes object' },
  UnquotedWildcard: { severity: 'error', summary: 'a wildcard host written without quotes, which YAML reads as an alias (kubectl rejects the file)' },
  // Gateway API (Gateways, ListenerSets, HTTPRoutes, ReferenceGrants)
  ListenerHostnameMissing: { severity: 'error', summary: 'an HTTPS listener of an opted-in Gateway without hostname, so no name to certify' },
  ListenerCertificateRefMissing: { severity: 'error', summary: 'an HTTPS listener that terminates TLS without a certificateRefs Secret' },
  ListenerHostnameNotRouted: { severity: 'error', summary: 'an HTTPS listener hostname that no HTTPRoute attached to it routes (often a typo of the route hostname)' },
  CertificateRefNotPermitted: { severity: 'error', summary: 'a listener certificateRefs Secret in another namespace that no ReferenceGrant there allows' },
  ListenerSetNotAllowed: { severity: 'warning', summary: 'a ListenerSet whose Gateway does not admit it (allowedListeners), so its listeners serve nothing' },
  ListenerRefsNotResolved: { severity: 'error', summary: 'the Gateway controller reports ResolvedRefs=False for a listener (InvalidCertificateRef, RefNotPermitted)' },
  ListenerNotProgrammed: { severity: 'error', summary: 'the Gateway controller reports Programmed=False for a listener' },
  GatewayHttpListenerMissing: { severity: 'error', summary: 'no plain-HTTP listener on port 80 takes the host, so HTTP-01 cannot reach certkeeper (no order is placed)' },
  SolverRouteNotAllowed: { severity: 'error', summary: 'the port-80 listener\'s allowedRoutes admits no HTTPRoute certkeeper can create (no order is placed)' },
  ChallengePathRedirected: { severity: 'error', summary: 'a redirect route on port 80 takes the challenge path ahead of certkeeper\'s exact-match route (no order is placed)' },
  // Secrets
  SecretMissing: { severity: 'error', summary: 'the TLS Secret does not exist in the Ingress namespace' },
  SecretInOtherNamespace: { severity: 'error', summary: 'the TLS Secret exists only in another namespace' },
  SecretWrongType: { severity: 'error', summary: 'the Secret is not of type kubernetes.io/tls' },
  SecretKeysMissing: { severity: 'error', summary: 'the Secret lacks tls.crt or tls.key' },
  CertificateUnparsable: { severity: 'error', summary: 'tls.crt or tls.key cannot be parsed' },
  KeyMismatch: { severity: 'error', summary: 'tls.key does not belong to the certificate in tls.crt' },
  ChainIncomplete: { severity: 'warning', summary: 'tls.crt holds only the leaf, without intermediates' },
  CertificateExpired: { severity: 'error', summary: 'the certificate has expired' },
  CertificateNotYetValid: { severity: 'error', summary: 'the certificate is not valid yet' },
  CertificateNearExpiry: { severity: 'warning', summary: 'the certificate is near the end of its lifetime' },
  SansNotCoveringHosts: { severity: 'error', summary: 'the certificate does not cover every Ingress TLS host' },
  SelfSignedCertificate: { severity: 'warning', summary: 'the certificate is self-signed' },
  DefaultCertificateInSecret: { severity: 'error', summary: 'the Secret holds an ingress controller default/fake certificate' },
  SecretNotManaged: { severity: 'warning', summary: 'the Secret exists but is not managed by certkeeper, which will not overwrite it' },
  // Live probe
  DefaultCertificateServed: { severity: 'error', summary: 'the ingress controller serves its default/fake certificate for the host' },
  ServedCertificateMismatch: { severity: 'error', summary: 'the ingress controller serves a certificate other than the Secret\'s' },
  ServedCertificateUntrusted: { severity: 'error', summary: 'the served certificate chain does not verify' },
  NoSniDefaultCertificate: { severity: 'info', summary: 'what clients without SNI are served' },
  TlsProbeFailed: { severity: 'error', summary: 'no TLS handshake with the ingress controller for the host' },
  ProbeAddressUnknown: { severity: 'warning', summary: 'the Ingress has no load balancer address to probe' },
  Http01Unreachable: { severity: 'error', summary: 'port 80 of the ingress controller does not answer' },
  Http01WrongResponse: { severity: 'error', summary: 'the challenge path does not reach certkeeper' },
  Http01RedirectLoop: { severity: 'error', summary: 'the challenge path redirects in a loop' },
  Http01Redirected: { severity: 'info', summary: 'the challenge path is redirected before reaching certkeeper' },
  // Issuance
  IssuanceFailed: { severity: 'error', summary: 'obtaining the certificate failed' },
  SecretWriteFailed: { severity: 'error', summary: 'a certificate was issued but its Secret could not be written (it is kept and written at the next attempt)' },
  IssuanceBackoff: { severity: 'warning', summary: 'issuance is waiting out a backoff after failures' },
  ProfileUnknown: { severity: 'error', summary: 'the ACME profile asked for is not one the CA offers' },
  ProfileNotAllowed: { severity: 'error', summary: 'the CA\'s profile does not allow this certificate (too many names, IP addresses)' },
  RateLimitAhead: { severity: 'warning', summary: 'an order would exceed the CA\'s published rate limit; certkeeper waits until it frees up' },
  // The service
  ScheduleTooSparse: { severity: 'warning', summary: 'passes run too far apart for the shortest renewal window in use' },
} as const satisfies Record<string, { severity: Severity; summary: string }>;

export type FindingCode = keyof typeof FINDINGS;

export function finding(
  code: FindingCode,
  object: ObjectRef,
  message: string,
  hint: string,
  host?: string,
): Finding {
  const f: Finding = { code, severity: FINDINGS[code].severity, object, message, hint };
  if (host !== undefined) f.host = host;
  return f;
}

/** "Ingress shop/web", "Secret shop/web-tls": how findings and log lines name an object. */
export function describeObject(o: ObjectRef): string {
  return o.namespace ? `${o.kind} ${o.namespace}/${o.name}` : `${o.kind} ${o.name}`;
}
