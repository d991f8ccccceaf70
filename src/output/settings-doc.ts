// docs/configuration.md is generated from the settings table, so the documented flags,
// environment variables and defaults cannot drift from what the program accepts.
import { defaultText, envName, settingValues, SETTINGS, type Setting } from '../config.js';

export function settingsMarkdown(): string {
  const rows = Object.entries(SETTINGS)
    .filter(([, s]) => !(s as Setting).hidden)
    .map(([name, raw]) => {
      const s = raw as Setting;
      const flag = `${s.short ? `\`${s.short}\`, ` : ''}\`${s.flag}\``;
      const env = `\`${envName(name)}\`${s.envAlias ? ` or \`${s.envAlias}\`` : ''}`;
      const shown = defaultText(s);
      const def = s.defaultText ?? (shown === undefined ? (s.boolean ? 'off' : '') : `\`${shown.replace(/^"(.*)"$/, '$1')}\``);
      const values = settingValues(s);
      const help =
        s.help.replace(/\|/g, '\\|') + (values ? ` (${values.map((v) => `\`${v}\``).join(', ')})` : '') + (s.repeatable ? ' (repeatable; comma-separated in the environment)' : '');
      return `| ${name} | ${flag} | ${env} | ${def} | ${help} |`;
    });
  return [
    '# Configuration',
    '',
    'Every setting has one name in three spellings: the chart value / JSON name (first column), a',
    'command-line flag, and an environment variable. A flag wins over the variable, the variable over',
    'the default. Each command accepts the settings it uses (`certkeeper <command> --help`).',
    '',
    'This page is generated from `src/config.ts` (`npm run docs:settings`); a test keeps it in step.',
    '',
    '| name | flag | environment | default | what it does |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
