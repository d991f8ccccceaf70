// `certkeeper --help` lists the commands from a table in src/cli.ts instead of loading them (the
// Kubernetes client alone takes most of a second to load). The table must say what each command
// says about itself.
import { PassThrough } from 'node:stream';
import { Command, Help } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS, runCli } from '../../src/cli.js';
import type { CliIo } from '../../src/commands/common.js';

function io(out: string[] = []): CliIo {
  return { stdout: (t) => out.push(t), stderr: (t) => out.push(t), stdin: new PassThrough(), env: {}, logStream: new PassThrough() };
}

describe('the command table of src/cli.ts', () => {
  it.each(Object.entries(COMMANDS))('lists %s as the command itself describes it', async (name, entry) => {
    const program = new Command();
    (await entry.load())(program, io(), () => {});
    const cmd = program.commands.find((c) => c.name() === name);
    expect(cmd, `${name} registers a command of that name`).toBeDefined();
    const help = new Help();
    expect(entry.term).toBe(help.subcommandTerm(cmd as Command));
    expect(entry.summary).toBe(help.subcommandDescription(cmd as Command));
  });

  it('prints each command with its summary in --help, and a command\'s own help with its options', async () => {
    const top: string[] = [];
    expect(await runCli(['--help'], io(top))).toBe(0);
    const text = top.join('').replace(/\s+/g, ' ');
    for (const entry of Object.values(COMMANDS)) expect(text).toContain(`${entry.term} ${entry.summary}`);
    const own: string[] = [];
    expect(await runCli(['help', 'issue'], io(own))).toBe(0);
    expect(own.join('')).toContain('--http-port <port>');
  });
});
