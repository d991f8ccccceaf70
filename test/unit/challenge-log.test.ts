// Challenge request logging: an answered token is one line; unknown tokens, which on port 80 of
// the internet can be thousands a minute, are one summary line per interval.
import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { challengeRequestLog, UnknownTokenLog, unknownTokenLine, type UnknownTokenSummary } from '../../src/http/challenge-log.js';
import { createLogger } from '../../src/log.js';

function captured() {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger({ format: 'json', level: 'debug', destination });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines };
}

const req = (token: string, remote: string, host = 'shop.example.com') => ({ token, remote, host, found: false });

describe('UnknownTokenLog', () => {
  it('sums a window up in one line: requests, distinct addresses, a few examples', () => {
    let now = 1_000_000;
    const reports: UnknownTokenSummary[] = [];
    const log = new UnknownTokenLog({ now: () => now, report: (s) => reports.push(s) });
    log.record(req('aaaa', '203.0.113.9'));
    log.record(req('aaaa', '203.0.113.9'));
    log.record(req('bbbb', '198.51.100.7', 'www.shop.example.com'));
    log.record(req('cccc', '192.0.2.1'));
    log.record(req('dddd', '192.0.2.1'));
    now += 60_000;
    log.flush();
    expect(reports).toHaveLength(1);
    const [s] = reports as [UnknownTokenSummary];
    expect(s).toMatchObject({ requests: 5, addresses: 3, addressesCapped: false, windowMs: 60_000 });
    expect(unknownTokenLine(s)).toBe(
      '5 requests for unknown tokens in the last 60 s from 3 addresses; e.g. shop.example.com/.well-known/acme-challenge/aaaa from 203.0.113.9, ' +
        'www.shop.example.com/.well-known/acme-challenge/bbbb from 198.51.100.7, shop.example.com/.well-known/acme-challenge/cccc from 192.0.2.1',
    );
    // The next window starts empty, and an empty window says nothing.
    log.flush();
    expect(reports).toHaveLength(1);
  });

  it('keeps memory bounded under a flood from many addresses, and says the count is a floor', () => {
    const reports: UnknownTokenSummary[] = [];
    const log = new UnknownTokenLog({ maxAddresses: 100, report: (s) => reports.push(s) });
    for (let i = 0; i < 5_000; i++) log.record(req(`t${i}`, `10.0.${Math.floor(i / 250)}.${i % 250}`));
    log.stop();
    expect(reports[0]).toMatchObject({ requests: 5_000, addresses: 100, addressesCapped: true });
    expect(reports[0]?.examples).toHaveLength(3);
    expect(unknownTokenLine(reports[0] as UnknownTokenSummary)).toMatch(/^5000 requests for unknown tokens in the last \d+ s from 100\+ addresses; e\.g\. /);
  });

  it('clips what strangers sent before it reaches the log', () => {
    const reports: UnknownTokenSummary[] = [];
    const log = new UnknownTokenLog({ report: (s) => reports.push(s) });
    log.record(req('x'.repeat(128), '192.0.2.1', `evil\u001b[31m${'h'.repeat(300)}`));
    log.stop();
    const ex = reports[0]?.examples[0];
    expect(ex?.host.startsWith('evil?[31m')).toBe(true);
    expect(ex?.host.length).toBeLessThanOrEqual(100);
    expect(ex?.token.length).toBeLessThanOrEqual(24);
  });

  it('reports on its own once per interval, and only when something came in', async () => {
    const { logger, lines } = captured();
    const log = new UnknownTokenLog({ logger, intervalMs: 100 });
    log.record(req('aaaa', '203.0.113.9'));
    log.record(req('bbbb', '203.0.113.9'));
    await vi.waitFor(() => expect(lines()).toHaveLength(1), { timeout: 2_000, interval: 10 });
    expect(lines()[0]).toMatchObject({ level: 30, unknownTokenRequests: 2, addresses: 1 });
    expect(String(lines()[0]?.['msg'])).toMatch(/^2 requests for unknown tokens in the last \d+ s from 1 address; e\.g\. /);
    log.record(req('cccc', '203.0.113.9'));
    await vi.waitFor(() => expect(lines()).toHaveLength(2), { timeout: 2_000, interval: 10 });
    expect(lines()[1]).toMatchObject({ unknownTokenRequests: 1 });
    log.stop();
    expect(lines()).toHaveLength(2);
  });
});

describe('challengeRequestLog', () => {
  it('logs each answered token at once and sums the unknown ones up at stop', () => {
    const { logger, lines } = captured();
    const log = challengeRequestLog(logger);
    log.record({ token: 'known', found: true, host: 'shop.example.com', remote: '203.0.113.9' });
    for (let i = 0; i < 4; i++) log.record(req(`scan${i}`, `198.51.100.${i % 2}`));
    expect(lines().map((l) => l['msg'])).toEqual(['answered challenge']);
    log.stop();
    expect(lines()).toHaveLength(2);
    expect(lines()[1]).toMatchObject({ unknownTokenRequests: 4, addresses: 2 });
  });
});
