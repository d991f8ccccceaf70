// The hint of an ACME problem follows what went wrong, which the detail sometimes says better than
// the problem type (the texts are Pebble's and Boulder's, as they send them).
import { describe, expect, it } from 'vitest';
import { AcmeError } from '../../src/errors.js';

describe('AcmeError hints', () => {
  it.each([
    ['unauthorized', 'external account binding JWS verification error: square/go-jose: error in cryptographic primitive', /--eab-kid and --eab-hmac-key again/],
    ['externalAccountRequired', "ACME server policy requires newAccount requests must include a value for the 'externalAccountBinding' field", /requires external account binding: pass --eab-kid/],
    ['unauthorized', 'Invalid response from http://shop.example.com/.well-known/acme-challenge/abc: 404', /reaches certkeeper/],
    ['connection', 'Fetching http://shop.example.com/.well-known/acme-challenge/abc: Connection refused', /port 80/],
  ])('%s: %s', (type, detail, hint) => {
    expect(new AcmeError('x', { type, detail }).hint).toMatch(hint);
  });
});
