// `certkeeper issue`: certbot-style standalone issuance. Answers HTTP-01 on port 80 itself and
// writes fullchain.pem, cert.pem, chain.pem and privkey.pem. It runs the same ACME adapter as the
// Kubernetes path, with a file account store and in-memory challenge answers. Safe to run from
// cron, like certbot's `certonly` on an existing lineage: while --out holds a certificate that
// covers the names, matches its key and is not due (the CA's ARI window, else the lifetime
// ratio), it orders nothing; a renewal names the certificate it replaces (RFC 9773).
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { AcmeIssuer } from '../acme/issuer.js';
import { resolveDirectory } from '../core/annotations.js';
import { resolveSettings } from '../config.js';
import type { AriRecord } from '../core/ari.js';
import { checkKeyMatches, parseCertificate, type CertInfo } from '../core/cert.js';
import { canonicalIp, checkHosts, MAX_NAMES_PER_CERTIFICATE, uncoveredHosts } from '../core/hosts.js';
import { checkProfileOffered, checkProfileRules, defaultProfile, type OrderIdentifier } from '../core/profiles.js';
import { describePlan, renewalPlan, type RenewalPlan } from '../core/renewal.js';
import { isoSeconds } from '../core/time.js';
import { AcmeError, ConfigError, IoError } from '../errors.js';
import type { Logger } from '../log.js';
import { createStandaloneAcme } from '../wiring-standalone.js';
import { addSettings, EXIT, loggerFor, reportError, type CliIo } from './common.js';

const NAMES = [
  'domains',
  'out',
  'email',
  'directory',
  'eabKid',
  'eabHmacKey',
  'keyType',
  'profile',
  'force',
  'rateLimits',
  'acmeCaBundle',
  'acmePollInterval',
  'httpPort',
  'httpAddress',
  'accountDir',
  'logLevel',
  'logFormat',
] as const;

export function registerIssue(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('issue')
    .summary('obtain a certificate on this machine, answering HTTP-01 on port 80 (no cluster)')
    .description(
      'Obtain a certificate for one or more names, answering the HTTP-01 challenges on port 80 of this machine ' +
        '(like certbot --standalone), and write fullchain.pem, cert.pem and chain.pem (mode 0644) and privkey.pem (mode 0600). ' +
        'The CA connects to port 80 of this machine: DNS for each name must point here and the firewall must let port 80 in. ' +
        'A failed run leaves no --out folder behind that it created. ' +
        'IP addresses are ordered as IP identifiers (on Let\'s Encrypt with the shortlived profile). ' +
        'When --out already holds a certificate for the names that is not due for renewal (the CA\'s ARI window, else a third of its lifetime), ' +
        'nothing is ordered: safe to run from cron. --force orders anyway.\n\n' +
        'Exit codes: 0 issued or not due, 1 failed, 2 usage error.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  certkeeper issue -d shop.example.com -d www.shop.example.com --out /etc/ssl/shop \\\n' +
        '    --email ops@example.com\n' +
        '  # port 80 forwarded to 8080 here, Let\'s Encrypt\'s staging CA:\n' +
        '  certkeeper issue -d shop.example.com --out ./certs --directory staging --http-port 8080\n' +
        '  # an IP certificate (shortlived on Let\'s Encrypt):\n' +
        '  certkeeper issue -d 203.0.113.10 -d 2001:db8::1 --out /etc/ssl/ip\n' +
        '  # crontab: orders only when due\n' +
        '  17 3 * * * certkeeper issue -d shop.example.com --out /etc/ssl/shop && systemctl reload nginx',
    );
  addSettings(cmd, NAMES);
  cmd.action(async (flags: Record<string, unknown>) => {
    setExit(await runIssue(flags, io));
  });
}

export async function runIssue(flags: Record<string, unknown>, io: CliIo): Promise<number> {
  let cleanup: (() => Promise<void>) | undefined;
  /** Folders this run created for --out, deepest first: a failed run takes them away again. */
  let createdDirs: string[] = [];
  let httpPort: number | undefined;
  try {
    const cfg = resolveSettings(NAMES, flags, io.env);
    const log = loggerFor(io, cfg);
    if (cfg.domains.length === 0) throw new ConfigError('no names given', 'pass each name with -d, e.g. -d shop.example.com -d www.shop.example.com');
    if (!cfg.out) throw new ConfigError('no output folder given', 'pass --out DIR, e.g. --out /etc/ssl/shop');
    // IP addresses are identifiers of their own (RFC 8738); every other name must be a hostname.
    const ips = [...new Set(cfg.domains.map(canonicalIp).filter((ip): ip is string => ip !== undefined))];
    const { hosts: names, problems, duplicates } = checkHosts(cfg.domains.filter((d) => canonicalIp(d) === undefined));
    if (problems.length > 0) {
      throw new ConfigError(
        problems.map((p) => p.message).join('; '),
        problems.map((p) => p.hint).filter((h, i, a) => a.indexOf(h) === i).join('; '),
      );
    }
    const hosts = [...names, ...ips];
    if (hosts.length > MAX_NAMES_PER_CERTIFICATE) {
      throw new ConfigError(
        `${hosts.length} names given; a certificate holds at most ${MAX_NAMES_PER_CERTIFICATE}`,
        'split the names over several certificates (several runs with different --out folders)',
      );
    }
    if (duplicates.length > 0) log.info({ duplicates }, 'ignoring repeated names');
    if ((cfg.eabKid === undefined) !== (cfg.eabHmacKey === undefined)) {
      throw new ConfigError('external account binding needs both --eab-kid and --eab-hmac-key', 'copy both from your CA account page');
    }
    const directoryUrl = resolveDirectory(cfg.directory);
    const identifiers: OrderIdentifier[] = hosts.map((value) => ({ type: ips.includes(value) ? 'ip' : 'dns', value }));
    // Let's Encrypt issues IP certificates under shortlived only: pick it unless told otherwise.
    const profile = cfg.profile ?? defaultProfile(identifiers, directoryUrl);
    const rule = checkProfileRules(profile, identifiers, directoryUrl);
    if (rule) throw new ConfigError(rule.message, rule.hint);
    const out = resolve(cfg.out);
    // Check the folder before spending an order: a failed write after issuance wastes a
    // certificate of the weekly duplicate limit.
    createdDirs = await prepareOutDir(out);
    httpPort = cfg.httpPort;
    const caBundlePem = cfg.acmeCaBundle ? await readCaBundle(cfg.acmeCaBundle) : undefined;
    const { issuer, limits, answer } = createStandaloneAcme(
      {
        directoryUrl,
        accountDir: cfg.accountDir,
        email: cfg.email,
        eabKid: cfg.eabKid,
        eabHmacKey: cfg.eabHmacKey,
        acmePollInterval: cfg.acmePollInterval,
        rateLimits: cfg.rateLimits,
        caBundlePem,
      },
      log,
    );

    const existing = await readLineage(out, hosts, log);
    let replaces: string | undefined;
    if (existing && !cfg.force) {
      const plan = await planFor(existing, issuer, log);
      const now = new Date();
      if (now < plan.renewAt) {
        io.stdout(
          `not due: ${join(out, 'fullchain.pem')} for ${hosts.join(', ')} is valid until ${isoSeconds(existing.notAfter)}, ${describePlan(plan)} (${plan.basis}); nothing ordered\n`,
        );
        return EXIT.ok;
      }
      log.info({ renewAt: plan.renewAt.toISOString(), basis: plan.basis }, `renewing ${join(out, 'fullchain.pem')}: renewal was due at ${isoSeconds(plan.renewAt)} (${plan.basis === 'Ari' ? 'AriRenewalDue' : 'RenewalDue'})`);
    }
    // RFC 9773 §5: the renewal names the certificate it replaces (also with --force), at a CA with ARI.
    if (existing?.certId && (await issuer.caInfo().catch(() => undefined))?.renewalInfoUrl) replaces = existing.certId;
    if (cfg.profile !== undefined) {
      const info = await issuer.caInfo();
      const offered = checkProfileOffered(cfg.profile, info.profiles, directoryUrl);
      if (offered) throw new ConfigError(offered.message, offered.hint);
    }
    await limits.check({ directoryUrl, names: hosts, replaces });

    const responder = await answer({ port: cfg.httpPort, host: cfg.httpAddress });
    cleanup = () => responder.close();
    httpPort = responder.address.port;
    log.info({ port: responder.address.port, address: responder.address.address }, 'answering HTTP-01 challenges');

    const started = Date.now();
    const cert = await issuer
      .issue({
        hosts,
        keyType: cfg.keyType,
        ...(profile ? { profile } : {}),
        ...(replaces ? { replaces, beforeOrderWithoutReplaces: () => limits.check({ directoryUrl, names: hosts }) } : {}),
        ...(io.signal ? { signal: io.signal } : {}),
      })
      .catch(async (e: unknown) => {
        const failed = (e as { problem?: { failedHosts?: string[] } }).problem?.failedHosts;
        if (failed && !replaces) {
          await limits.orderPlaced(directoryUrl);
          await limits.validationFailed(directoryUrl, failed);
        }
        throw e;
      });
    await writeCertificateFiles(out, cert);
    if (!cert.replaced) {
      await limits.orderPlaced(directoryUrl);
      await limits.certificateIssued(directoryUrl, hosts);
    }
    const days = Math.floor((cert.info.notAfter.getTime() - Date.now()) / 86_400_000);
    const life = Math.round((cert.info.notAfter.getTime() - cert.info.notBefore.getTime()) / 3_600_000);
    io.stdout(
      `${existing ? 'renewed' : 'issued'} ${cert.info.keyType} certificate for ${hosts.join(', ')}\n` +
        `  issuer:    ${cert.info.issuerCN ?? cert.info.issuer}\n` +
        (cert.profile ? `  profile:   ${cert.profile}\n` : '') +
        `  valid:     ${cert.info.notBefore.toISOString()} → ${cert.info.notAfter.toISOString()} (${days >= 2 ? `${days} days` : `${Math.floor((cert.info.notAfter.getTime() - Date.now()) / 3_600_000)} hours`}; lifetime ${life % 24 === 0 ? `${life / 24} days` : `${life} hours`})\n` +
        `  serial:    ${cert.info.serial}\n` +
        (cert.replaced ? `  replaces:  ${cert.replaced}\n` : '') +
        `  order:     ${cert.orderUrl}\n` +
        (cert.replacesDropped ? `  note:      ${cert.replacesDropped}; ordered again without it\n` : '') +
        `  written:   ${out}/\n` +
        CERTIFICATE_FILES.map(([name, , mode, what]) => `    ${name.padEnd(14)} ${mode.toString(8).padStart(4, '0')} (${what})\n`).join('') +
        `  took:      ${((Date.now() - started) / 1000).toFixed(2)} s\n`,
    );
    createdDirs = [];
    return EXIT.ok;
  } catch (e) {
    return reportError(io, withStandaloneHint(e, httpPort));
  } finally {
    await cleanup?.();
    // Only what this run created, and only when empty: the files are renamed into place last.
    for (const d of createdDirs) await rmdir(d).catch(() => undefined);
  }
}

/**
 * The certificate already in --out, when it can stand in for a new order: it parses, covers every
 * name, matches privkey.pem and has not expired. Anything else is logged and ordered anew.
 */
async function readLineage(out: string, hosts: readonly string[], log: Logger): Promise<CertInfo | undefined> {
  let fullchain: string;
  let key: string;
  try {
    [fullchain, key] = await Promise.all([readFile(join(out, 'fullchain.pem'), 'utf8'), readFile(join(out, 'privkey.pem'), 'utf8')]);
  } catch {
    return undefined;
  }
  let info: CertInfo;
  try {
    info = parseCertificate(fullchain);
  } catch (e) {
    log.info({ err: (e as Error).message }, `ordering anew: ${join(out, 'fullchain.pem')} cannot be parsed`);
    return undefined;
  }
  const ipSans = new Set(info.ipSans.map((ip) => canonicalIp(ip) ?? ip));
  const missing = [...uncoveredHosts(info.sans, hosts.filter((h) => canonicalIp(h) === undefined)), ...hosts.filter((h) => canonicalIp(h) !== undefined && !ipSans.has(h))];
  if (missing.length > 0) {
    log.info({ missing }, `ordering anew: the certificate in ${join(out, 'fullchain.pem')} does not cover ${missing.join(', ')}`);
    return undefined;
  }
  const kc = checkKeyMatches(fullchain, key);
  if (!kc.ok) {
    log.info({ reason: kc.reason }, `ordering anew: ${join(out, 'privkey.pem')}: ${kc.message}`);
    return undefined;
  }
  if (new Date() >= info.notAfter) {
    log.info({ notAfter: info.notAfter.toISOString() }, `ordering anew: the certificate in ${join(out, 'fullchain.pem')} expired at ${isoSeconds(info.notAfter)}`);
    return undefined;
  }
  return info;
}

/** When the certificate in --out renews: inside the CA's ARI window when it has one, else by its lifetime. */
async function planFor(info: CertInfo, issuer: AcmeIssuer, log: Logger): Promise<RenewalPlan> {
  let ari: AriRecord | undefined;
  if (info.certId) {
    const answer = await issuer.renewalInfo(info);
    if (answer.kind === 'window') ari = { certId: info.certId, ...answer.window, nextCheck: answer.nextCheck };
    else log.info({ problem: answer.problem }, `no ARI window from the CA: ${answer.problem}; renewal follows the lifetime ratio`);
  }
  return renewalPlan(info, { ari });
}

/**
 * The ACME adapter's hints are written for the cluster path (ingress controller, solver Ingress,
 * `certkeeper check --probe`). Standalone, the CA connects to port 80 of this machine: the hint
 * names that machine, its firewall and its DNS record, and the EAB flags when the account failed.
 */
export function standaloneHint(e: unknown, port: number | undefined): string | undefined {
  if (!(e instanceof AcmeError)) return undefined;
  const { type, detail } = e.problem;
  const host = e.problem.host ?? 'the name';
  const here = port === undefined || port === 80 ? 'certkeeper, listening on port 80 here' : `port ${port} here, where certkeeper listens (--http-port ${port})`;
  if (type === 'externalAccountRequired') return 'this CA requires external account binding: pass --eab-kid and --eab-hmac-key from your account page at the CA';
  if (/external account|\beab\b|account binding/i.test(detail) || e.message.startsWith('registering an ACME account')) {
    return 'the CA refused the external account binding: copy --eab-kid and --eab-hmac-key again from your account page at the CA (the HMAC key is base64url; some CAs accept each pair only once)';
  }
  if (/could not resolve|NXDOMAIN|no valid A records|DNS problem/i.test(detail) || type === 'dns') {
    return `the CA could not resolve ${host}: create a DNS A (and AAAA) record for ${host} pointing at this machine's public address, and wait for it to propagate`;
  }
  if (type === 'connection') {
    return `the CA could not connect to port 80 of this machine for ${host}: DNS for ${host} must point at this machine's public address, the firewall (ufw, iptables, a cloud security group) must let port 80 in from the internet, and port 80 must reach ${here}`;
  }
  if (type === 'unauthorized' || type === 'incorrectResponse') {
    return `the CA reached ${host} on port 80 but not certkeeper: DNS for ${host} may point at another machine, or a web server or proxy on port 80 of this machine answers /.well-known/acme-challenge/ itself (stop it for the run, or pass that path to ${here})`;
  }
  return undefined;
}

function withStandaloneHint(e: unknown, port: number | undefined): unknown {
  const hint = standaloneHint(e, port);
  return hint && e instanceof AcmeError ? new AcmeError(e.message, e.problem, hint, { cause: e }) : e;
}

/** Makes --out ready; returns the folders it created, deepest first. */
async function prepareOutDir(out: string): Promise<string[]> {
  const created: string[] = [];
  try {
    const s = await stat(out).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (s && !s.isDirectory()) {
      throw new IoError(`--out ${out} is a file, not a folder`, 'pass a folder; certkeeper writes four files into it');
    }
    if (!s) {
      const first = await mkdir(out, { recursive: true, mode: 0o755 });
      for (let d = out; first !== undefined && d.length >= first.length; d = dirname(d)) {
        created.push(d);
        if (d === first) break;
      }
    }
    await access(out, constants.W_OK);
    return created;
  } catch (e) {
    for (const d of created) await rmdir(d).catch(() => undefined);
    if (e instanceof IoError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new IoError(`--out ${out} cannot be used: ${err.code ?? ''} ${err.message}`.trim(), 'pass a folder this user can create and write');
  }
}

async function readCaBundle(file: string): Promise<string> {
  try {
    const pem = await readFile(file, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return pem;
  } catch (e) {
    throw new ConfigError(`--acme-ca-bundle ${file} cannot be used: ${(e as Error).message}`, 'pass a PEM file holding the CA\'s root certificate');
  }
}

type CertificateFile = readonly [name: string, key: 'keyPem' | 'leafPem' | 'chainPem' | 'fullchainPem', mode: number, what: string];

/** The files `issue` writes, their modes, and what each is for (the output lists them so). */
const CERTIFICATE_FILES: readonly CertificateFile[] = [
  ['fullchain.pem', 'fullchainPem', 0o644, 'certificate and intermediates: what servers send'],
  ['cert.pem', 'leafPem', 0o644, 'the certificate alone'],
  ['chain.pem', 'chainPem', 0o644, 'the intermediates alone'],
  ['privkey.pem', 'keyPem', 0o600, 'the private key: this user only'],
];

/**
 * Writes the four files so that a reader never sees a mix of old and new: each goes to a
 * temporary name first and is renamed into place only when all four are written.
 */
export async function writeCertificateFiles(out: string, cert: Record<CertificateFile[1], string>): Promise<void> {
  const suffix = `.certkeeper-${randomBytes(4).toString('hex')}.tmp`;
  const files = CERTIFICATE_FILES.map(([name, key, mode]) => [name, cert[key], mode] as const);
  const written: string[] = [];
  try {
    for (const [name, content, mode] of files) {
      const tmp = join(out, name + suffix);
      await writeFile(tmp, content, { mode });
      written.push(tmp);
    }
    for (const [name] of files) await rename(join(out, name + suffix), join(out, name));
  } catch (e) {
    await Promise.all(written.map((f) => rm(f, { force: true })));
    throw new IoError(`writing the certificate files to ${out} failed: ${(e as Error).message}`, 'free disk space or fix permissions, then run again (the CA issued it; a re-run orders again)');
  }
}
