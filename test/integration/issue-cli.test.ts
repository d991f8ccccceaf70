// `certkeeper issue` as a real process against a real Pebble: files written with matching SANs
// and key, usage errors with exit code 2, and a CA that dies mid-order leaving nothing behind.
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkKeyMatches, parseCertificate } from '../../src/core/cert.js';
import { runCertkeeper } from '../support/cli.js';
import { PEBBLE_EAB, startPebble, type Pebble } from '../support/pebble.js';

let pebble: Pebble;
let work: string;
const name = (label = 'cli') => `${label}-${randomUUID().slice(0, 8)}.certkeeper.test`;

function args(p: Pebble, out: string, extra: string[] = []): string[] {
  return [
    'issue',
    '--directory', p.directoryUrl,
    '--acme-ca-bundle', p.apiCaFile,
    '--account-dir', join(work, 'accounts'),
    '--http-port', String(p.httpPort),
    '--http-address', '127.0.0.1',
    '--acme-poll-interval', '50',
    '--out', out,
    ...extra,
  ];
}

beforeAll(async () => {
  pebble = await startPebble();
  work = await mkdtemp(join(tmpdir(), 'certkeeper-cli-'));
});
afterAll(async () => {
  await pebble?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('certkeeper issue', () => {
  it('writes fullchain, cert, chain and a 0600 private key whose SANs and key match', async () => {
    const hosts = [name('shop'), name('www')];
    const out = join(work, 'shop');
    const r = await runCertkeeper(args(pebble, out, ['-d', hosts[0]!, '-d', hosts[1]!, '-d', hosts[0]!.toUpperCase(), '--email', 'ops@example.com']));
    expect(r.stderr).not.toContain('PRIVATE KEY');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`issued ECDSA prime256v1 certificate for ${hosts.join(', ')}`);
    expect((await readdir(out)).sort()).toEqual(['cert.pem', 'chain.pem', 'fullchain.pem', 'privkey.pem']);
    const fullchain = await readFile(join(out, 'fullchain.pem'), 'utf8');
    const key = await readFile(join(out, 'privkey.pem'), 'utf8');
    const info = parseCertificate(fullchain);
    expect([...info.sans].sort()).toEqual([...hosts].sort());
    expect(info.chain.length).toBeGreaterThan(0);
    expect(checkKeyMatches(fullchain, key).ok).toBe(true);
    expect(new X509Certificate(await readFile(join(out, 'cert.pem'))).fingerprint256).toBe(info.fingerprint);
    expect((await stat(join(out, 'privkey.pem'))).mode & 0o777).toBe(0o600);
    const chain = parseCertificate(await readFile(join(out, 'chain.pem'), 'utf8'));
    expect(chain.subject).toBe(info.issuer);
  });

  it('issues an RSA certificate with --key-type rsa-3072 and reuses the account', async () => {
    const out = join(work, 'rsa');
    const before = await readdir(join(work, 'accounts')).catch(() => []);
    const r = await runCertkeeper(args(pebble, out, ['-d', name(), '--key-type', 'rsa-3072']));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('RSA 3072');
    const after = await readdir(join(work, 'accounts'));
    if (before.length > 0) expect(after).toEqual(before);
    expect(r.stderr).not.toContain('registered ACME account');
  });

  it('refuses a wildcard with the reason and exit code 2, before contacting the CA', async () => {
    const r = await runCertkeeper(args(pebble, join(work, 'wild'), ['-d', '*.example.com']));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"*.example.com" is a wildcard name, which HTTP-01 cannot validate');
    expect(r.stderr).toMatch(/hint: .*DNS-01/);
  });

  it('refuses a run without names, and more than 100 names, with exit code 2', async () => {
    const none = await runCertkeeper(args(pebble, join(work, 'none')));
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no names given');
    const many = Array.from({ length: 101 }, (_, i) => ['-d', `n${i}.example.com`]).flat();
    const r = await runCertkeeper(args(pebble, join(work, 'many'), many));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('101 names given; a certificate holds at most 100');
  });

  it('rejects an unknown flag and a bad port as usage errors', async () => {
    expect((await runCertkeeper(['issue', '--no-such-flag'])).code).toBe(2);
    const r = await runCertkeeper(args(pebble, join(work, 'p'), ['-d', name(), '--http-port', 'eighty']));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--http-port must be a whole number from 0 to 65535, got "eighty"');
  });

  it('says which file is in the way when --out is a file', async () => {
    const file = join(work, 'not-a-dir');
    await writeFile(file, 'x');
    const r = await runCertkeeper(args(pebble, file, ['-d', name()]));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--out ${file} is a file, not a folder`);
  });

  it('says the mode of each file it wrote', async () => {
    const out = join(work, 'modes');
    const r = await runCertkeeper(args(pebble, out, ['-d', name()]));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/privkey\.pem\s+0600 \(the private key: this user only\)/);
    for (const f of ['fullchain.pem', 'cert.pem', 'chain.pem']) {
      expect(r.stdout).toMatch(new RegExp(`${f.replace('.', '\\.')}\\s+0644`));
      expect((await stat(join(out, f))).mode & 0o777).toBe(0o644);
    }
  });

  it('explains a failed validation for this machine, not for a cluster: port 80 here, the firewall, DNS', async () => {
    // Our responder listens on another port than the one the CA connects to: nothing answers there.
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const elsewhere = (blocker.address() as { port: number }).port;
    await new Promise<void>((r) => blocker.close(() => r()));
    const out = join(work, 'unreachable');
    const argv = args(pebble, out, ['-d', name('unreachable')]);
    argv[argv.indexOf('--http-port') + 1] = String(elsewhere);
    const r = await runCertkeeper(argv);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('validation failed for unreachable-');
    const hint = /hint: (.*)/.exec(r.stderr)?.[1] ?? '';
    expect(hint).toMatch(/port 80 of this machine/);
    expect(hint).toMatch(/firewall/);
    expect(hint).toMatch(/DNS/);
    expect(hint).toContain(`--http-port ${elsewhere}`);
    expect(hint).not.toMatch(/ingress|NodePort|certkeeper check/);
    // The folder did not exist before the run: a failed run leaves none behind.
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('keeps a folder that was there before a failed run, and what was in it', async () => {
    const out = join(work, 'existing');
    await mkdir(out);
    await writeFile(join(out, 'notes.txt'), 'mine');
    const argv = args(pebble, out, ['-d', name()]);
    argv[argv.indexOf('--http-port') + 1] = '1';
    const r = await runCertkeeper(argv);
    expect(r.code).toBe(1);
    expect(await readdir(out)).toEqual(['notes.txt']);
  });

  it('names --acme-ca-bundle when the CA\'s TLS certificate is not trusted', async () => {
    const argv = args(pebble, join(work, 'untrusted'), ['-d', name()]);
    argv.splice(argv.indexOf('--acme-ca-bundle'), 2);
    const r = await runCertkeeper(argv);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hint: .*--acme-ca-bundle/);
    await expect(stat(join(work, 'untrusted'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  describe('with a CA that requires external account binding', () => {
    let eab: Pebble;
    beforeAll(async () => {
      eab = await startPebble({ eab: true });
    });
    afterAll(async () => {
      await eab?.stop();
    });
    it('gives the EAB hint, not the HTTP-01 one, when the CA refuses the binding or asks for one', async () => {
      const accounts = ['--account-dir', join(work, 'eab-accounts')];
      const wrong = await runCertkeeper([...args(eab, join(work, 'eab'), ['-d', name()]), ...accounts, '--eab-kid', PEBBLE_EAB.kid, '--eab-hmac-key', 'd3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5']);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/hint: .*--eab-kid and --eab-hmac-key/);
      expect(/hint: (.*)/.exec(wrong.stderr)?.[1]).not.toMatch(/challenge|check --probe/);
      const none = await runCertkeeper([...args(eab, join(work, 'eab'), ['-d', name()]), ...accounts]);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/hint: .*--eab-kid and --eab-hmac-key/);
    });
  });

  describe('when port 80 (here: the challenge port) is taken', () => {
    let blocker: Server | undefined;
    afterEach(() => new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r())));
    it('fails before ordering and suggests --http-port', async () => {
      blocker = createServer();
      await new Promise<void>((r) => blocker!.listen(pebble.httpPort, '127.0.0.1', r));
      const r = await runCertkeeper(args(pebble, join(work, 'busy'), ['-d', name()]));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${pebble.httpPort} is already in use on 127.0.0.1`);
      expect(r.stderr).toContain('--http-port 8080');
    });
  });
});

describe('certkeeper issue when the CA dies mid-order', () => {
  it('fails with the CA URL and the socket error and leaves no files in --out', async () => {
    const ref: { pebble?: Pebble } = {};
    // Pebble's validator looks the name up right before it connects: kill the CA at that moment.
    const dying = await startPebble({
      onDnsQuery: () => {
        ref.pebble?.kill();
        return false;
      },
    });
    ref.pebble = dying;
    try {
      const out = join(work, 'dead');
      const r = await runCertkeeper(args(dying, out, ['-d', name()]), { timeoutMs: 30_000 });
      expect(r.code).toBe(1);
      // Refused on the next request, or reset when the kill lands while a request is in flight.
      expect(r.stderr).toMatch(new RegExp(`cannot reach the ACME server at ${dying.directoryUrl.replace(/\/dir$/, '')}.*(ECONNREFUSED|ECONNRESET)`));
      expect(r.stderr).not.toContain('Cannot read properties of undefined');
      // The run created --out, and takes it away again: nothing half-done is left behind.
      await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await dying.stop();
    }
  });
});
