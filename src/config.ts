// Flags + environment + defaults → one frozen config per command. This is the only module that
// reads process.env. Every setting has one name in three spellings: camelCase here and in the
// chart's values, --kebab-case as a flag, CERTKEEPER_SNAKE_CASE in the environment.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KEY_TYPES, type KeyType } from './core/annotations.js';
import { formatDuration, parseDuration } from './core/annotations.js';
import { ConfigError } from './errors.js';

type Parser<T> = ((raw: string, flag: string) => T) & {
  /** The values an enumerated setting takes, listed in --help. */
  values?: readonly string[];
  /** A duration in milliseconds: its default is shown as one (60s, not 60000). */
  duration?: true;
};

export interface Setting<T = unknown> {
  /** Flag spelling for commander, e.g. "--http-port <port>". */
  flag: string;
  /** Single-letter alias, e.g. "-d". */
  short?: string;
  help: string;
  parse: Parser<T>;
  /** The default, or a function of the environment (for XDG paths, POD_NAMESPACE). */
  default?: T | ((env: NodeJS.ProcessEnv) => T | undefined);
  /** Shown in --help instead of the default's value. */
  defaultText?: string;
  /** Repeatable flag; the environment variable holds a comma-separated list. */
  repeatable?: boolean;
  /** A boolean switch (no value). */
  boolean?: boolean;
  /** Also read from this variable (for Kubernetes' downward API conventions). */
  envAlias?: string;
  /** Hidden from --help (test and tuning knobs). */
  hidden?: boolean;
}

const int =
  (min: number, max: number): Parser<number> =>
  (raw, flag) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${flag} must be a whole number from ${min} to ${max}, got "${raw}"`);
    return n;
  };

const str: Parser<string> = (raw, flag) => {
  if (raw.trim() === '') throw new ConfigError(`${flag} must not be empty`);
  return raw.trim();
};

const oneOf = <T extends string>(values: readonly T[]): Parser<T> =>
  Object.assign(
    (raw: string, flag: string) => {
      if (!(values as readonly string[]).includes(raw)) throw new ConfigError(`${flag} must be one of ${values.join(', ')}, got "${raw}"`);
      return raw as T;
    },
    { values },
  );

const bool: Parser<boolean> = Object.assign(
  (raw: string, flag: string) => {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
    throw new ConfigError(`${flag} must be true or false, got "${raw}"`);
  },
  { values: ['true', 'false'] },
);

const duration: Parser<number> = Object.assign(
  (raw: string, flag: string) => {
    const ms = parseDuration(raw);
    if (ms === undefined) throw new ConfigError(`${flag} must be a duration such as 720h, 30d or 90m, got "${raw}"`);
    return ms;
  },
  { duration: true as const },
);

/** A short duration: "250ms", "1s", or a bare number of milliseconds (as the flag always took). */
const millis = (min: number, max: number): Parser<number> =>
  Object.assign(
    (raw: string, flag: string) => {
      const ms = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : parseDuration(raw);
      if (ms === undefined || ms < min || ms > max) {
        throw new ConfigError(`${flag} must be a duration from ${formatDuration(min)} to ${formatDuration(max)} (e.g. 250ms, 1s; a bare number is milliseconds), got "${raw}"`);
      }
      return ms;
    },
    { duration: true as const },
  );

const directory: Parser<string> = (raw, flag) => {
  if (raw === 'staging' || raw === 'production') return raw;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${flag} must be "staging", "production" or an https:// directory URL, got "${raw}"`);
  }
  if (u.protocol !== 'https:') throw new ConfigError(`${flag} must be an https:// URL (RFC 8555 requires TLS), got "${raw}"`);
  return raw;
};

const email: Parser<string> = (raw, flag) => {
  const v = raw.trim();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) throw new ConfigError(`${flag} must be an email address, got "${raw}"`);
  return v;
};

const keyType: Parser<KeyType> = oneOf(KEY_TYPES);

const namespacedName: Parser<{ namespace: string; name: string }> = (raw, flag) => {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(raw.trim());
  if (!m) throw new ConfigError(`${flag} must be NAMESPACE/NAME (e.g. shop/web), got "${raw}"`);
  return { namespace: m[1] as string, name: m[3] as string };
};

const hostPort: Parser<{ host: string; port: number }> = (raw, flag) => {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(raw.trim());
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw new ConfigError(`${flag} must be HOST:PORT (e.g. 10.0.0.5:80), got "${raw}"`);
  return { host: m[1] as string, port };
};

const keyValue: Parser<[string, string]> = (raw, flag) => {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new ConfigError(`${flag} must be KEY=VALUE, got "${raw}"`);
  return [raw.slice(0, eq), raw.slice(eq + 1)];
};

/** Every setting of every command. Commands pick the ones they use by name. */
export const SETTINGS = {
  logLevel: { flag: '--log-level <level>', help: 'log detail', parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const), default: 'info' },
  logFormat: { flag: '--log-format <format>', help: 'log lines as text (people) or json (log collectors)', parse: oneOf(['text', 'json'] as const), default: 'text' },

  // ACME
  directory: {
    flag: '--directory <url>',
    help: 'ACME directory: "staging", "production" (Let\'s Encrypt) or the URL of another CA',
    parse: directory,
    default: 'production',
  },
  email: { flag: '--email <address>', help: 'contact address for the ACME account (the CA\'s notices about the account)', parse: email },
  eabKid: { flag: '--eab-kid <kid>', help: 'external account binding key id, for CAs that require it (ZeroSSL, Google, Sectigo)', parse: str },
  eabHmacKey: { flag: '--eab-hmac-key <key>', help: 'external account binding HMAC key (base64url)', parse: str },
  keyType: { flag: '--key-type <type>', help: `certificate key: ${KEY_TYPES.join(', ')}`, parse: keyType, default: 'ecdsa-p256' as KeyType },
  acmeCaBundle: { flag: '--acme-ca-bundle <file>', help: 'PEM file of extra roots to trust for the ACME server (private CAs, Pebble)', parse: str },
  acmePollInterval: {
    flag: '--acme-poll-interval <duration>',
    help: 'first wait between polls of an order\'s status, doubling up to 32 times it (a bare number is ms; a local test CA answers within 50ms)',
    parse: millis(10, 60_000),
    // Validation usually finishes within a second: 250, 500, 1000 ms … asks a handful of times
    // more than a fixed 1 s would, and saves up to a second per order.
    default: 250,
  },
  profile: {
    flag: '--profile <name>',
    help: 'ACME certificate profile to request (e.g. classic, tlsserver, shortlived) when the CA offers profiles; an Ingress\'s certkeeper.dev/profile wins',
    parse: str,
  },
  rateLimits: {
    flag: '--rate-limits <mode>',
    help: 'refuse orders that would exceed the CA\'s published rate limits, from a ledger of past orders: auto (Let\'s Encrypt\'s limits on Let\'s Encrypt), letsencrypt (those limits on every CA), off',
    parse: oneOf(['auto', 'letsencrypt', 'off'] as const),
    default: 'auto',
  },

  // Challenge responder
  httpPort: { flag: '--http-port <port>', help: 'port to answer HTTP-01 challenges on', parse: int(0, 65535), default: 80 },
  httpAddress: { flag: '--http-address <address>', help: 'address to listen on for HTTP-01 (default: all interfaces)', parse: str },
  httpMaxConnections: {
    flag: '--http-max-connections <n>',
    help: 'connections the HTTP-01 responder holds at once; more are closed as soon as they are accepted',
    parse: int(1, 1_000_000),
    default: 1000,
  },

  // Standalone issue
  domains: { flag: '--domain <name>', short: '-d', help: 'a name for the certificate (repeat for more; the first is the subject CN)', parse: str, repeatable: true },
  out: { flag: '--out <dir>', help: 'folder for fullchain.pem, cert.pem, chain.pem and privkey.pem (created if missing)', parse: str },
  accountDir: {
    flag: '--account-dir <dir>',
    help: 'folder for ACME account keys, one file per CA',
    parse: str,
    default: (env: NodeJS.ProcessEnv) => join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'certkeeper', 'accounts'),
    defaultText: '$XDG_CONFIG_HOME/certkeeper/accounts',
  },

  // Kubernetes
  kubeconfig: { flag: '--kubeconfig <file>', help: 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster credentials)', parse: str },
  context: { flag: '--context <name>', help: 'kubeconfig context to use', parse: str },
  namespace: { flag: '--namespace <ns>', short: '-n', help: 'only Ingresses and Gateways of this namespace', parse: str },
  ingress: { flag: '--ingress <ns/name>', help: 'only this Ingress', parse: namespacedName },
  allIngresses: { flag: '--all-ingresses', help: 'manage every Ingress with TLS, not only opted-in ones', parse: bool, boolean: true, default: false },
  ingressClass: { flag: '--ingress-class <name>', help: 'only Ingresses of this class (Gateways are not filtered by it)', parse: str },
  gateway: { flag: '--gateway <ns/name>', help: 'only this Gateway (and the ListenerSets it admits); no Ingress', parse: namespacedName },
  gatewayApi: {
    flag: '--gateway-api <bool>',
    help: 'also manage opted-in Gateway API Gateways when the cluster serves the Gateway API; false: Ingresses only, and no Gateway API call at all',
    parse: bool,
    default: true,
  },
  selfNamespace: {
    flag: '--certkeeper-namespace <ns>',
    help: 'certkeeper\'s own namespace (challenge ConfigMap, solver Ingresses, account Secret, Lease)',
    parse: str,
    envAlias: 'POD_NAMESPACE',
    default: 'certkeeper',
  },
  serviceName: { flag: '--service-name <name>', help: 'certkeeper\'s Service that solver Ingresses and HTTPRoutes route challenges to', parse: str, default: 'certkeeper' },
  servicePort: { flag: '--service-port <port>', help: 'port of that Service', parse: int(1, 65535), default: 80 },
  solverPathType: {
    flag: '--solver-path-type <type>',
    help: 'pathType of the solver Ingress rule',
    parse: oneOf(['Prefix', 'Exact', 'ImplementationSpecific'] as const),
    default: 'Prefix',
  },
  solverAnnotations: {
    flag: '--solver-annotation <key=value>',
    help: 'annotation for solver Ingresses (repeatable), e.g. nginx.ingress.kubernetes.io/ssl-redirect=false',
    parse: keyValue,
    repeatable: true,
  },
  answerLocally: {
    flag: '--answer-locally',
    help: 'also answer challenges from this process on --http-port (hostNetwork setups, tests)',
    parse: bool,
    boolean: true,
    default: false,
  },
  selfCheck: {
    flag: '--self-check <mode>',
    help: 'fetch the challenge URL through the ingress controller before asking the CA: enforce (no authorization spent on a broken route), warn, off',
    parse: oneOf(['enforce', 'warn', 'off'] as const),
    default: 'enforce',
  },
  selfCheckAddress: {
    flag: '--self-check-address <host:port>',
    help: 'connect the self-check here instead of resolving each host (the ingress controller\'s address)',
    parse: hostPort,
  },
  selfCheckHttpsPort: {
    flag: '--self-check-https-port <port>',
    help: 'port to dial when the challenge URL redirects to https (the controller\'s 443, if port-forwarded elsewhere)',
    parse: int(1, 65535),
  },
  selfCheckTimeout: { flag: '--self-check-timeout <duration>', help: 'how long to wait for the ingress controller to route a new solver Ingress', parse: duration, default: 60_000 },
  force: { flag: '--force', help: 'renew every selected certificate now, whatever its state', parse: bool, boolean: true, default: false },
  dryRun: { flag: '--dry-run', help: 'print the plan; order nothing, write nothing', parse: bool, boolean: true, default: false },
  adopt: { flag: '--adopt', help: 'take over existing Secrets that certkeeper did not create (they are overwritten)', parse: bool, boolean: true, default: false },
  renewBefore: { flag: '--renew-before <duration>', help: 'renew when less than this is left (default: a third of the lifetime)', parse: duration },
  concurrency: { flag: '--concurrency <n>', help: 'orders run at the same time', parse: int(1, 50), default: 5 },
  output: { flag: '--output <format>', short: '-o', help: 'result format', parse: oneOf(['text', 'json'] as const), default: 'text' },

  // The live audit (`certkeeper check`, `certkeeper status`)
  findingsOutput: {
    flag: '--output <format>',
    short: '-o',
    help: 'findings as text (people), json (programs) or github (GitHub Actions annotations)',
    parse: oneOf(['text', 'json', 'github'] as const),
    default: 'text',
  },
  statusOutput: {
    flag: '--output <format>',
    short: '-o',
    help: 'a table (text), the table with issuer and profile (wide, as kubectl get -o wide), or json',
    parse: oneOf(['text', 'wide', 'json'] as const),
    default: 'text',
  },
  strict: { flag: '--strict', help: 'treat warnings as errors (exit 2)', parse: bool, boolean: true, default: false },
  probe: {
    flag: '--probe',
    help: 'also connect to the ingress controller: TLS handshakes with SNI per host, and HTTP-01 reachability of managed hosts',
    parse: bool,
    boolean: true,
    default: false,
  },
  probeAddress: {
    flag: '--probe-address <host:port>',
    help: 'the ingress controller\'s HTTPS address (its Service or load balancer) instead of each Ingress\'s status.loadBalancer on port 443',
    parse: hostPort,
  },
  probeHttpAddress: {
    flag: '--probe-http-address <host:port>',
    help: 'the ingress controller\'s HTTP address for HTTP-01 probes (default: the --probe-address host on port 80, or status.loadBalancer on port 80)',
    parse: hostPort,
  },
  probeHttp01: {
    flag: '--probe-http01 <mode>',
    help: 'with --probe, check that http://HOST/.well-known/acme-challenge/ reaches certkeeper (publishes a probe token and a solver Ingress for the duration of the check)',
    parse: oneOf(['on', 'off'] as const),
    default: 'on',
  },
  caBundle: { flag: '--ca-bundle <file>', help: 'PEM file of extra roots to trust when verifying served certificates (private CAs)', parse: str },
  probeTimeout: { flag: '--probe-timeout <duration>', help: 'deadline of one TLS handshake or HTTP request', parse: duration, default: 5000 },
  probeConcurrency: { flag: '--probe-concurrency <n>', help: 'probes in flight at once', parse: int(1, 500), default: 20 },
  leaseWait: { flag: '--lease-wait <duration>', help: 'how long to wait for another pass to finish', parse: duration, default: 120_000 },
  leaseDuration: {
    flag: '--lease-duration <duration>',
    help: 'a pass lease not renewed for this long is free again (a killed pass)',
    parse: duration,
    default: 30_000,
    hidden: true,
  },
  holderIdentity: {
    flag: '--identity <name>',
    help: 'name of this process in the Lease (default: pod name or hostname-pid)',
    parse: str,
    envAlias: 'POD_NAME',
  },
  // The cron service (`certkeeper run`)
  schedule: {
    flag: '--schedule <cron>',
    help: 'when passes run (cron, 5 or 6 fields); off the top of the hour, as Let\'s Encrypt asks of clients',
    parse: str,
    default: '7 * * * *',
  },
  timezone: { flag: '--timezone <tz>', help: 'time zone of --schedule (IANA name)', parse: str, default: 'UTC' },
  runOnStart: { flag: '--run-on-start <bool>', help: 'run a pass as soon as the service is leader', parse: bool, default: true },
  adminPort: { flag: '--admin-port <port>', help: 'port of /healthz, /readyz and /metrics (kept off the challenge port)', parse: int(0, 65535), default: 9090 },
  adminAddress: { flag: '--admin-address <address>', help: 'address of the admin port (default: all interfaces)', parse: str },
  leaderElection: { flag: '--leader-election <bool>', help: 'only the holder of the certkeeper-leader Lease runs passes (several replicas)', parse: bool, default: true },
  leaderLeaseDuration: { flag: '--leader-lease-duration <duration>', help: 'how long a leader that stops renewing keeps the lead', parse: duration, default: 15_000 },
  webhookUrl: { flag: '--webhook-url <url>', help: 'send alerts to this URL (a secret: take it from a Secret, it is never logged)', parse: str },
  webhookFormat: { flag: '--webhook-format <format>', help: 'alert payload: json (generic) or slack (incoming webhook)', parse: oneOf(['json', 'slack'] as const), default: 'json' },
  smtpHost: { flag: '--smtp-host <host>', help: 'send alert email through this SMTP server', parse: str },
  smtpPort: { flag: '--smtp-port <port>', help: 'SMTP port', parse: int(1, 65535), default: 587 },
  smtpSecurity: { flag: '--smtp-security <mode>', help: 'starttls (587), tls (465) or none (local relays only)', parse: oneOf(['starttls', 'tls', 'none'] as const), default: 'starttls' },
  smtpUser: { flag: '--smtp-user <user>', help: 'SMTP user name', parse: str },
  smtpPassword: { flag: '--smtp-password <password>', help: 'SMTP password (take it from a Secret; never logged)', parse: str },
  smtpFrom: { flag: '--smtp-from <address>', help: 'sender of alert email', parse: email },
  smtpTo: { flag: '--smtp-to <address>', help: 'recipient of alert email (repeatable)', parse: email, repeatable: true },
  /** Tests move time forward; never set in production. */
  clockOffsetFile: {
    flag: '--clock-offset-file <file>',
    help: 'read the clock offset from this file, re-read when it changes (testing a running service)',
    parse: str,
    hidden: true,
  },
  clockOffset: { flag: '--clock-offset <duration>', help: 'pretend it is this much later (testing renewal)', parse: duration, hidden: true },
} satisfies Record<string, Setting<never> | Setting<unknown>>;

export type SettingName = keyof typeof SETTINGS;
type ValueOf<N extends SettingName> = (typeof SETTINGS)[N] extends { parse: Parser<infer T> } ? T : never;
type Values<N extends SettingName> = {
  [K in N]: (typeof SETTINGS)[K] extends { repeatable: true } ? ValueOf<K>[] : (typeof SETTINGS)[K] extends { default: unknown } ? ValueOf<K> : ValueOf<K> | undefined;
};

/** What --help and docs/configuration.md show as the default: durations as durations (60s, 2m). */
export function defaultText(s: Setting): string | undefined {
  if (s.defaultText !== undefined) return s.defaultText;
  if (s.default === undefined || typeof s.default === 'function') return undefined;
  if (s.boolean) return s.default === true ? 'on' : undefined;
  if (s.parse.duration && typeof s.default === 'number') return formatDuration(s.default);
  return typeof s.default === 'string' ? `"${s.default}"` : String(s.default);
}

/** The values an enumerated setting takes, when the parser knows them. */
export function settingValues(s: Setting): readonly string[] | undefined {
  return s.boolean ? undefined : s.parse.values;
}

/** CERTKEEPER_HTTP_PORT for httpPort. */
export function envName(name: string): string {
  return `CERTKEEPER_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** The commander option key for a setting ("--http-port" → "httpPort"). */
export function optionKey(name: SettingName): string {
  const long = (SETTINGS[name] as Setting).flag.split(' ')[0] as string;
  return long.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Resolves the named settings: the flag when given, else the environment variable, else the
 * default. Values are validated here so a bad one fails before anything is attempted.
 */
export function resolveSettings<N extends SettingName>(names: readonly N[], flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Readonly<Values<N>> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const s = SETTINGS[name] as Setting;
    const flag = s.flag.split(' ')[0] as string;
    const given = flags[optionKey(name)];
    const envValue = env[envName(name)] ?? (s.envAlias ? env[s.envAlias] : undefined);
    const source = given !== undefined ? flag : envName(name);
    if (s.repeatable) {
      const raws: string[] =
        Array.isArray(given) && given.length > 0 ? (given as string[]) : envValue ? envValue.split(',').map((v) => v.trim()).filter(Boolean) : [];
      out[name] = raws.map((r) => s.parse(r, source));
      continue;
    }
    if (given !== undefined && given !== false) {
      out[name] = s.boolean ? true : s.parse(String(given), flag);
    } else if (envValue !== undefined && envValue !== '') {
      out[name] = s.parse(envValue, envName(name));
    } else {
      out[name] = typeof s.default === 'function' ? (s.default as (e: NodeJS.ProcessEnv) => unknown)(env) : s.default;
    }
  }
  return Object.freeze(out) as Readonly<Values<N>>;
}

/** Reads a file named by a setting, with an error that names the setting. */
export type { KeyType };
