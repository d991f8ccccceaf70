// Every command's --help as users see it: at most 100 columns however wide the terminal, the
// terminal's width below that (80 when not a terminal), durations shown as durations, and the
// values of every enumerated setting listed.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.js';
import type { CliIo } from '../../src/commands/common.js';
import { defaultText, optionKey, SETTINGS, settingValues, type Setting, type SettingName } from '../../src/config.js';

const COMMANDS = ['', 'issue', 'renew', 'lint', 'check', 'status', 'serve', 'run'];

async function help(command: string, columns: number | undefined, env: NodeJS.ProcessEnv = {}): Promise<string> {
  let out = '';
  const io: CliIo = { stdout: (t) => (out += t), stderr: (t) => (out += t), stdin: new PassThrough(), env, logStream: new PassThrough() };
  if (columns !== undefined) io.columns = columns;
  const code = await runCli(command ? [command, '--help'] : ['--help'], io);
  expect(code).toBe(0);
  return out;
}

/** Lines wider than `width`, except one unbreakable word on a line of its own (a long example value). */
const tooWide = (text: string, width: number) => text.split('\n').filter((l) => l.length > width && l.trim().includes(' '));

/** The help block of one option: its line and the continuation lines under it. */
function optionBlock(text: string, flag: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => new RegExp(`^\\s+(-\\w, )?${flag}\\b`).test(l));
  if (i < 0) return '';
  let j = i + 1;
  while (j < lines.length && /^\s{10,}\S/.test(lines[j] ?? '')) j++;
  return lines.slice(i, j).join(' ').replace(/\s+/g, ' ');
}

describe('--help', () => {
  it.each(COMMANDS)('certkeeper %s --help is at most 100 columns on a wide terminal, 80 elsewhere', async (command) => {
    const wide = await help(command, 200);
    expect(Math.max(...wide.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
    // Commander fills the width it is given: the wide help really is laid out for 100.
    expect(Math.max(...wide.split('\n').map((l) => l.length))).toBeGreaterThan(90);
    expect(tooWide(await help(command, undefined), 80)).toEqual([]);
    expect(tooWide(await help(command, 120), 100)).toEqual([]);
    // $COLUMNS is the width when stdout is not a terminal.
    expect(tooWide(await help(command, undefined, { COLUMNS: '72' }), 72)).toEqual([]);
  });

  it('shows duration defaults as durations and lists the values of every enumerated setting', async () => {
    let checkedDurations = 0;
    let checkedValues = 0;
    for (const command of COMMANDS.filter(Boolean)) {
      const text = await help(command, 100);
      for (const [name, raw] of Object.entries(SETTINGS) as [SettingName, Setting][]) {
        const flag = raw.flag.split(' ')[0] as string;
        const block = optionBlock(text, flag);
        // Two settings share --output (renew's text|json, check's text|json|github): this one's help.
        if (block === '' || raw.hidden || !block.includes(raw.help.slice(0, 24))) continue;
        expect(optionKey(name)).toBeTruthy();
        if (raw.parse.duration && typeof raw.default === 'number') {
          expect(block, `${command} ${flag}`).toMatch(/default \d+(ms|s|m|h|d)\)/);
          expect(block).toContain(`default ${defaultText(raw)}`);
          checkedDurations++;
        }
        for (const v of settingValues(raw) ?? []) {
          expect(block, `${command} ${flag} should name ${v}`).toMatch(new RegExp(`(^|[^\\w-])${v}($|[^\\w-])`));
          checkedValues++;
        }
      }
    }
    expect(checkedDurations).toBeGreaterThan(5);
    expect(checkedValues).toBeGreaterThan(20);
    // lint's own -o (commander choices).
    expect(optionBlock(await help('lint', 100), '--output')).toMatch(/"text", "json", "github"/);
  });

  it('documents --acme-poll-interval, which takes a duration or milliseconds', async () => {
    const block = optionBlock(await help('renew', 100), '--acme-poll-interval');
    expect(block).toContain('default 250ms');
  });
});
