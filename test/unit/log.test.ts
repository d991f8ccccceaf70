// The text log format people read at a terminal (and that pino-pretty used to print).
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';

function capture(level: 'info' | 'debug' = 'info') {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  return { log: createLogger({ level, format: 'text', destination: out }), text: () => text.replace(/^\[\d\d:\d\d:\d\d\]/gm, '[T]') };
}

describe('text logs', () => {
  it('print one line per entry: time, level, message and the other fields as JSON', () => {
    const { log, text } = capture('debug');
    log.info('answering HTTP-01 challenges');
    log.child({ hosts: ['shop.example.com'] }).debug({ order: 'https://ca/o/1' }, 'order created');
    log.warn({ target: 'shop/web-tls' });
    expect(text()).toBe(
      '[T] INFO: answering HTTP-01 challenges\n' +
        '[T] DEBUG: order created {"hosts":["shop.example.com"],"order":"https://ca/o/1"}\n' +
        '[T] WARN: {"target":"shop/web-tls"}\n',
    );
  });

  it('put err and error on lines of their own, with the stack of an Error as plain lines', () => {
    const { log, text } = capture();
    log.error({ err: 'connection refused', hint: 'check the CA URL' }, 'pass failed');
    const e = new Error('boom');
    e.stack = 'Error: boom\n    at here (file.js:1:1)';
    log.warn({ err: e }, 'unexpected');
    expect(text()).toBe(
      '[T] ERROR: pass failed {"hint":"check the CA URL"}\n' +
        '    err: "connection refused"\n' +
        '[T] WARN: unexpected \n' +
        '    err: {\n      "type": "Error",\n      "message": "boom",\n      "stack":\n          Error: boom\n              at here (file.js:1:1)\n    }\n',
    );
  });

  it('never print a private key', () => {
    const { log, text } = capture();
    log.info({ keyPem: '-----BEGIN PRIVATE KEY-----', account: { privateKey: 'k' } }, 'saved');
    expect(text()).toBe('[T] INFO: saved {"keyPem":"[redacted]","account":{"privateKey":"[redacted]"}}\n');
  });
});
