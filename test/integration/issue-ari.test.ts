// `certkeeper issue` (the built CLI) against Pebble 2.10 with Let's Encrypt's three profiles: each
// profile, an IP-address certificate, an unknown profile refused before ordering, Let's Encrypt's
// profile rules refused offline, cron-safe re-runs that order only when due (ARI or lifetime), a
// renewal that names what it replaces, and the rate-limit ledger next to the account.
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lifetimeMs, parseCertificate } from '../../src/core/cert.js';
import { ariCertId, pebbleAcceptsReplaces } from '../support/ari.js';
import { runCertkeeper } from '../support/cli.js';
import { PEBBLE_PROFILES, startPebble, type Pebble } from '../support/pebble.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const name = (label = 'cli') => `${label}-${randomUUID().slice(0, 8)}.certkeeper.test`;

let pebble: Pebble;
let work: string;

beforeAll(async () => {
  pebble = await startPebble({ version: '2.10', profiles: PEBBLE_PROFILES });
  work = await mkdtemp(join(tmpdir(), 'certkeeper-issue-ari-'));
});
afterAll(async () => {
  await pebble?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const accountDir = () => join(work, 'accounts');

function issue(out: string, extra: string[]) {
  return runCertkeeper([
    'issue',
    '--directory', pebble.directoryUrl,
    '--acme-ca-bundle', pebble.apiCaFile,
    '--account-dir', accountDir(),
    '--http-port', String(pebble.httpPort),
    '--http-address', '127.0.0.1',
    '--acme-poll-interval', '50',
    '--out', out,
    ...extra,
  ]);
}

const fullchain = (out: string) => readFile(join(out, 'fullchain.pem'), 'utf8');

/** The account `issue` registered for this Pebble (one file per CA in --account-dir). */
async function account(): Promise<{ keyPem: string; url: string }> {
  const [file] = await readdir(accountDir());
  return JSON.parse(await readFile(join(accountDir(), file ?? ''), 'utf8')) as { keyPem: string; url: string };
}

describe('certkeeper issue with profiles', () => {
  it.each(Object.entries(PEBBLE_PROFILES))('issues under %s: its lifetime and CN, and says so', async (profile, spec) => {
    const host = name(profile);
    const out = join(work, `p-${profile}`);
    const r = await issue(out, ['-d', host, '--profile', profile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`issued ECDSA prime256v1 certificate for ${host}`);
    expect(r.stdout).toContain(`  profile:   ${profile}\n`);
    const info = parseCertificate(await fullchain(out));
    expect(lifetimeMs(info)).toBe(spec.validitySeconds * 1000 - 1000);
    expect(info.subjectCN).toBe(spec.commonName ? host : undefined);
    expect(r.stdout).toContain(`lifetime ${spec.validitySeconds % 86_400 === 0 ? `${spec.validitySeconds / 86_400} days` : `${spec.validitySeconds / 3600} hours`})`);
  });

  it('refuses a profile the CA does not offer before ordering, listing those it does (exit 2)', async () => {
    const out = join(work, 'unknown');
    const r = await issue(out, ['-d', name(), '--profile', 'longlived']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`profile "longlived" is not offered by the CA at ${pebble.directoryUrl}; it offers classic (https://letsencrypt.org/docs/profiles#classic), shortlived`);
    expect(r.stderr).toContain('hint: set certkeeper.dev/profile (or --profile) to one of: classic, shortlived, tlsserver');
    // Refused before ordering: the folder this run would have written to is not left behind.
    expect(existsSync(out)).toBe(false);
  });

  it("refuses what Let's Encrypt's profiles do not allow before contacting it (exit 2)", async () => {
    const ip = await runCertkeeper(['issue', '--directory', 'production', '--account-dir', accountDir(), '--out', join(work, 'le-ip'), '-d', '203.0.113.10', '--profile', 'tlsserver']);
    expect(ip.code).toBe(2);
    expect(ip.stderr).toContain("Let's Encrypt's profile tlsserver issues no certificates for IP addresses (203.0.113.10); only shortlived does");
    expect(ip.stderr).toContain('hint: order the IP addresses with --profile shortlived (160 hours certificates), or use DNS names');
    const many = Array.from({ length: 26 }, (_, i) => ['-d', `n${i}.example.com`]).flat();
    const names = await runCertkeeper(['issue', '--directory', 'staging', '--account-dir', accountDir(), '--out', join(work, 'le-26'), '--profile', 'shortlived', ...many]);
    expect(names.code).toBe(2);
    expect(names.stderr).toContain("Let's Encrypt's profile shortlived allows at most 25 names on a certificate; this one has 26");
  });
});

describe('certkeeper issue for an IP address', () => {
  it('orders 127.0.0.1 as an IP identifier, validated over HTTP-01 at the address itself', async () => {
    const out = join(work, 'ip');
    const r = await issue(out, ['-d', '127.0.0.1', '--profile', 'shortlived']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('issued ECDSA prime256v1 certificate for 127.0.0.1');
    const info = parseCertificate(await fullchain(out));
    expect(info.ipSans).toEqual(['127.0.0.1']);
    expect(info.sans).toEqual([]);
    expect(info.subject).toBe('');
    expect(lifetimeMs(info)).toBe(160 * HOUR - 1000);
    // The next run finds it covering the address and orders nothing.
    const again = await issue(out, ['-d', '127.0.0.1', '--profile', 'shortlived']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^not due: /);
  });
});

describe('certkeeper issue from cron', () => {
  it('orders once when run twice, renews inside the CA\'s ARI window naming the old certificate, and orders anyway with --force', async () => {
    const host = name('cron');
    const out = join(work, 'cron');
    const args = ['-d', host, '--profile', 'classic'];
    expect((await issue(out, args)).code).toBe(0);
    let pem = await fullchain(out);
    // Pebble cannot look up 1 serial in 256 as `replaces` (test/support/ari.ts): take another one.
    for (let i = 0; i < 5 && !pebbleAcceptsReplaces(pem); i++) {
      expect((await issue(out, [...args, '--force'])).code).toBe(0);
      pem = await fullchain(out);
    }
    const info = parseCertificate(pem);
    const second = await issue(out, args);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(
      new RegExp(`^not due: ${join(out, 'fullchain.pem').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} for ${host.replace(/\./g, '\\.')} is valid until \\S+, renews at \\S+ \\(inside the CA's ARI window \\S+ – \\S+\\) \\(Ari\\); nothing ordered\\n$`),
    );
    expect(await fullchain(out)).toBe(pem);
    // The CA moves the window into the past: the next run renews and names what it replaces.
    const start = new Date(Date.now() - 2 * DAY);
    await pebble.setRenewalInfo(pem, { start, end: new Date(start.getTime() + DAY), explanationURL: 'https://status.example.test/cron' });
    const due = await issue(out, args);
    expect(due.code, due.stderr).toBe(0);
    expect(due.stdout).toContain(`renewed ECDSA prime256v1 certificate for ${host}`);
    expect(due.stdout).toContain(`  replaces:  ${ariCertId(pem)}\n`);
    expect(due.stderr).toContain('(AriRenewalDue)');
    const orderUrl = / {2}order:\s+(\S+)/.exec(due.stdout)?.[1] ?? '';
    expect((await pebble.readOrder(orderUrl, await account())).replaces).toBe(ariCertId(pem));
    const renewed = await fullchain(out);
    expect(parseCertificate(renewed).serial).not.toBe(info.serial);
    // Not due again; --force orders anyway, still naming what it replaces.
    expect((await issue(out, args)).stdout).toMatch(/^not due: /);
    const forced = await issue(out, [...args, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('renewed ECDSA');
    if (pebbleAcceptsReplaces(renewed)) expect(forced.stdout).toContain(`  replaces:  ${ariCertId(renewed)}\n`);
    else expect(forced.stdout).toContain('the CA refused "replaces"');
  });

  it('orders anew when --out holds a certificate for other names or with a key that does not match', async () => {
    const out = join(work, 'mismatch');
    const a = name('a');
    expect((await issue(out, ['-d', a, '--profile', 'classic'])).code).toBe(0);
    const b = name('b');
    const r = await issue(out, ['-d', a, '-d', b, '--profile', 'classic']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`does not cover ${b}`);
    expect(r.stdout).toContain(`issued ECDSA prime256v1 certificate for ${a}, ${b}`);
    await writeFile(join(out, 'privkey.pem'), (await readFile(join(work, 'p-classic', 'privkey.pem'), 'utf8')));
    const k = await issue(out, ['-d', a, '-d', b, '--profile', 'classic']);
    expect(k.code, k.stderr).toBe(0);
    expect(k.stderr).toContain('the private key does not belong to the certificate');
  });
});

describe('the rate-limit ledger of issue', () => {
  it('refuses a new certificate beyond 5 per name set per week, with the count and when it frees up, but not a renewal', async () => {
    const host = name('limited');
    const out = join(work, 'limited');
    expect((await issue(out, ['-d', host, '--profile', 'classic', '--rate-limits', 'off'])).code).toBe(0);
    // Five certificates for exactly this name within the hour, as earlier runs on this machine recorded.
    await mkdir(accountDir(), { recursive: true });
    const seed = { version: 1, cas: { [pebble.directoryUrl]: { certificates: { [host]: [1, 2, 3, 4, 5].map((i) => new Date(Date.now() - i * 60_000).toISOString()) }, failures: {}, orders: [] } } };
    await writeFile(join(accountDir(), 'ratelimits.json'), JSON.stringify(seed));
    const fresh = join(work, 'limited-2');
    const r = await issue(fresh, ['-d', host, '--profile', 'classic', '--rate-limits', 'letsencrypt']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ordering now would exceed the CA's limit "New Certificates per Exact Set of Identifiers" \(5 per 7 days\): 5 certificates for exactly \S+ in that window, and the next one is allowed at \d{4}-/);
    expect(existsSync(fresh)).toBe(false);
    // Renewing the lineage names the certificate it replaces: exempt.
    const pem = await fullchain(out);
    const renew = await issue(out, ['-d', host, '--profile', 'classic', '--rate-limits', 'letsencrypt', '--force']);
    if (pebbleAcceptsReplaces(pem)) {
      expect(renew.code, renew.stderr).toBe(0);
      expect(renew.stdout).toContain(`  replaces:  ${ariCertId(pem)}`);
    } else {
      // Pebble's serial bug refused `replaces`; without it the order is not exempt.
      expect(renew.code).toBe(1);
    }
  });
});
