// The configuration page users read must list exactly the settings the program accepts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envName, resolveSettings, SETTINGS } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { settingsMarkdown } from '../../src/output/settings-doc.js';

describe('settings', () => {
  it('docs/configuration.md is the generated page (run npm run docs:settings after changing src/config.ts)', () => {
    expect(readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')).toBe(settingsMarkdown());
  });

  it('map flags, environment variables and defaults to one name, flag first', () => {
    expect(envName('httpPort')).toBe('CERTKEEPER_HTTP_PORT');
    expect(resolveSettings(['httpPort'], {}, {})).toEqual({ httpPort: 80 });
    expect(resolveSettings(['httpPort'], {}, { CERTKEEPER_HTTP_PORT: '8080' })).toEqual({ httpPort: 8080 });
    expect(resolveSettings(['httpPort'], { httpPort: '9000' }, { CERTKEEPER_HTTP_PORT: '8080' })).toEqual({ httpPort: 9000 });
    expect(resolveSettings(['selfNamespace'], {}, { POD_NAMESPACE: 'infra' })).toEqual({ selfNamespace: 'infra' });
    expect(resolveSettings(['smtpTo'], {}, { CERTKEEPER_SMTP_TO: 'a@example.com, b@example.com' })).toEqual({ smtpTo: ['a@example.com', 'b@example.com'] });
  });

  it('reject bad values before anything is attempted, naming the flag or variable', () => {
    expect(() => resolveSettings(['httpPort'], {}, { CERTKEEPER_HTTP_PORT: '80x' })).toThrow(new ConfigError('CERTKEEPER_HTTP_PORT must be a whole number from 0 to 65535, got "80x"'));
    expect(() => resolveSettings(['directory'], { directory: 'http://ca.example/dir' }, {})).toThrow(/--directory must be an https:\/\/ URL/);
    expect(() => resolveSettings(['renewBefore'], { renewBefore: 'soon' }, {})).toThrow(/--renew-before must be a duration such as 720h/);
    expect(() => resolveSettings(['ingress'], { ingress: 'web' }, {})).toThrow(/--ingress must be NAMESPACE\/NAME/);
  });

  it('have one environment variable each', () => {
    const envs = Object.keys(SETTINGS).map(envName);
    expect(new Set(envs).size).toBe(envs.length);
  });
});
