// Text output fits the terminal: findings and tables wrap to the width (80 when not a terminal),
// and a table that is too wide wraps its cells instead of leaving a column out.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CertificateRow } from '../../src/audit-live.js';
import { runLint } from '../../src/commands/lint.js';
import { formatTable, outputWidth, wrapLine } from '../../src/output/layout.js';
import { formatStatusText } from '../../src/output/status.js';

const widest = (lines: readonly string[]) => Math.max(...lines.map((l) => l.length));
const words = (s: string) => s.split(/\s+/).filter(Boolean);

describe('text layout', () => {
  it('takes the terminal width, else $COLUMNS, else 80', () => {
    expect(outputWidth(132, { COLUMNS: '90' })).toBe(132);
    expect(outputWidth(undefined, { COLUMNS: '90' })).toBe(90);
    expect(outputWidth(undefined, {})).toBe(80);
    expect(outputWidth(undefined, { COLUMNS: 'wide' })).toBe(80);
  });

  it('wraps a hint under its text and keeps every word', () => {
    const line = `           hint: ${'change the rule host or the tls host so that both name the same thing '.repeat(3)}`;
    const lines = wrapLine(line, 80);
    expect(widest(lines)).toBeLessThanOrEqual(80);
    expect(lines.slice(1).every((l) => l.startsWith(' '.repeat(17)))).toBe(true);
    expect(words(lines.join(' '))).toEqual(words(line));
  });

  it('keeps every column of a table that does not fit, wrapping its cells', () => {
    const head = ['NAMESPACE', 'SECRET', 'HOSTS', 'ISSUER', 'NOT AFTER (UTC)', 'DAYS LEFT', 'RENEWS AT (UTC)', 'STATE'];
    const rows = [['shop', 'web-tls', 'shop.example.com,www.shop.example.com,api.shop.example.com', 'Example Intermediate R1', '2027-01-31 02:50', '69', '2027-01-01 02:50', 'Valid']];
    // 100 columns: the hosts wrap after their commas, each name whole.
    const lines = formatTable(head, rows, 100);
    expect(widest(lines)).toBeLessThanOrEqual(100);
    for (const h of head) expect(lines[0]).toContain(h.split(' ')[0]);
    const text = lines.join('\n');
    for (const host of ['shop.example.com,', 'www.shop.example.com,', 'api.shop.example.com']) expect(text).toContain(host);
    // 80 columns: still every column, names broken between labels if need be.
    const narrow = formatTable(head, rows, 80);
    expect(widest(narrow)).toBeLessThanOrEqual(80);
    for (const h of head) expect(narrow.slice(0, 2).join(' ')).toContain(h.split(' ')[0]);
    expect(narrow.join('\n')).toContain('Valid');
  });

  it('status keeps DAYS LEFT and RENEWS AT at 80 columns', () => {
    const row: CertificateRow = {
      namespace: 'ecommerce-production',
      secretName: 'storefront-wildcard-tls',
      hosts: ['shop.example.com', 'www.shop.example.com', 'checkout.shop.example.com'],
      ingresses: [{ namespace: 'ecommerce-production', name: 'web' }],
      managed: true,
      state: 'RenewalDue',
      reason: 'RenewalDue',
      message: 'less than a third of the lifetime is left',
      failures: 0,
      issuer: 'Let\'s Encrypt Intermediate E7',
      notAfter: new Date('2027-01-31T02:50:00Z'),
      renewAt: new Date('2027-01-01T02:50:00Z'),
      daysLeft: 24,
    };
    const lines = formatStatusText([row], 80).trimEnd().split('\n');
    expect(widest(lines)).toBeLessThanOrEqual(80);
    const header = lines.slice(0, 3).join(' ');
    for (const h of ['NAMESPACE', 'SECRET', 'HOSTS', 'DAYS', 'RENEWS', 'STATE']) expect(header).toContain(h);
    expect(header).not.toContain('ISSUER');
    const text = lines.join('\n');
    // Dates, states and the labels of names stay whole: names break only after a dot or hyphen.
    for (const whole of ['2027-01-31', '2027-01-01', 'RenewalDue', 'ecommerce-', 'production', 'checkout.']) expect(text).toContain(whole);
    // -o wide adds the issuer and the profile, and still cuts no word: it runs wider instead.
    const wide = formatStatusText([{ ...row, profile: 'tlsserver', lifetimeMs: 45 * 86_400_000 }], 80, { wide: true }).trimEnd().split('\n');
    const wideText = wide.join('\n');
    for (const h of ['ISSUER', 'PROFILE']) expect(wide.slice(0, 3).join(' ')).toContain(h);
    for (const whole of ['Intermediate', 'tlsserver', '45d', '2027-01-31', 'RenewalDue']) expect(wideText).toContain(whole);
  });

  it('never cuts a word to fit: a table too wide for the terminal runs past it', () => {
    const lines = formatTable(['NAME', 'STATE'], [['averyveryverylongsinglewordname', 'NotManaged']], 40);
    expect(lines[1]).toBe('averyveryverylongsinglewordname  NotManaged');
  });

  it('lint text output fits 80 columns when not a terminal, and the wide terminal when it is one', async () => {
    const run = async (columns: number | undefined) => {
      let out = '';
      const io = { stdout: (s: string) => (out += s), stderr: () => undefined, stdin: new PassThrough(), env: {}, ...(columns ? { columns } : {}) };
      await runLint(['examples/'], { output: 'text' }, io);
      return out.trimEnd().split('\n');
    };
    const narrow = await run(undefined);
    expect(narrow.filter((l) => l.length > 80 && l.trim().includes(' '))).toEqual([]);
    const wide = await run(250);
    expect(widest(wide)).toBeGreaterThan(120);
    // Wrapping moves words, never loses one.
    expect(words(narrow.join(' '))).toEqual(words(wide.join(' ')));
  });
});
