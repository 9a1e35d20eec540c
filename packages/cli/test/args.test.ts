import { describe, expect, it } from 'vitest';
import { type OptionSpec, parseArgs } from '../src/args.js';
import { COMMANDS, commandOptions, findCommand } from '../src/command-table.js';
import { UsageError } from '../src/errors.js';

const options: OptionSpec[] = [
  { long: 'handle', short: 'n', type: 'string', help: '' },
  { long: 'env', short: 'e', type: 'string', multiple: true, help: '' },
  { long: 'interactive', short: 'i', type: 'boolean', help: '' },
  { long: 'tty', short: 't', type: 'boolean', help: '' },
];
const parse = (argv: string[], extra: { passThroughAfter?: number } = {}) =>
  parseArgs(argv, { options, context: 'gaol x', ...extra });

describe('parseArgs', () => {
  it('reads long, long=, short, grouped and inline short options', () => {
    expect(parse(['--handle', 'a', '-e', 'A=1', '--env=B=2', '-eC=3', '-it', 'pos'])).toEqual({
      values: { handle: 'a', env: ['A=1', 'B=2', 'C=3'], interactive: true, tty: true },
      positionals: ['pos'],
      rest: [],
    });
    expect(parse(['-itn', 'web']).values).toEqual({ interactive: true, tty: true, handle: 'web' });
    expect(parse(['-n=web']).values).toEqual({ handle: 'web' });
  });

  it('lets the last of a repeated single-valued option win', () => {
    expect(parse(['-n', 'a', '--handle', 'b']).values.handle).toBe('b');
  });

  it('takes booleans as --flag or --flag=true|false', () => {
    expect(parse(['--tty=false', '--interactive=yes']).values).toEqual({ tty: false, interactive: true });
    expect(() => parse(['--tty=maybe'])).toThrow('gaol x: --tty expects true or false, got "maybe"');
  });

  it('names the offending word in errors', () => {
    expect(() => parse(['--nope'])).toThrow(new UsageError('gaol x: unknown option --nope'));
    expect(() => parse(['-ix'])).toThrow('gaol x: unknown option -x');
    expect(() => parse(['-n'])).toThrow('gaol x: -n needs a value (VALUE)');
    expect(() => parse(['--handle'])).toThrow('gaol x: --handle needs a value');
  });

  it('treats - as a positional and everything after -- as positionals', () => {
    expect(parse(['-', '--', '-n', 'x'])).toEqual({ values: {}, positionals: ['-', '-n', 'x'], rest: [] });
  });

  it('stops at the program to run: its options stay its own', () => {
    expect(parse(['-it', 'web', 'sh', '-c', 'echo -n hi'], { passThroughAfter: 1 })).toEqual({
      values: { interactive: true, tty: true },
      positionals: ['web'],
      rest: ['sh', '-c', 'echo -n hi'],
    });
    expect(parse(['--', 'web', '-n', 'x'], { passThroughAfter: 1 })).toEqual({
      values: {},
      positionals: ['web'],
      rest: ['-n', 'x'],
    });
  });

  it('stops at the command name for the global options', () => {
    const r = parseArgs(['-t', '/s.sock', 'exec', '-t', 'h', 'ls'], {
      options: [{ long: 'target', short: 't', type: 'string', help: '' }],
      stopAtFirstPositional: true,
      context: 'gaol',
    });
    expect(r).toEqual({ values: { target: '/s.sock' }, positionals: ['exec'], rest: ['-t', 'h', 'ls'] });
  });
});

describe('the command table', () => {
  it('has unique names and unique option letters per command', () => {
    const names = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
    expect(new Set(names).size).toBe(names.length);
    for (const cmd of COMMANDS) {
      const opts = commandOptions(cmd);
      const longs = opts.map((o) => o.long);
      const shorts = opts.flatMap((o) => (o.short ? [o.short] : []));
      expect(new Set(longs).size, cmd.name).toBe(longs.length);
      expect(new Set(shorts).size, cmd.name).toBe(shorts.length);
    }
  });

  it("has gaol's commands with gaol's flags", () => {
    const flags = (name: string) =>
      commandOptions(findCommand(name)!).map((o) => (o.short ? `-${o.short}/--${o.long}` : `--${o.long}`));
    expect(flags('create')).toEqual(
      expect.arrayContaining([
        '-n/--handle',
        '-r/--rootfs',
        '-e/--env',
        '-g/--grace',
        '-p/--privileged',
        '-m/--bind-mount',
        '--network',
        '-k/--limit-memory',
        '--property',
      ]),
    );
    expect(flags('run')).toEqual(
      expect.arrayContaining(['-a/--attach', '-c/--command', '-d/--dir', '-u/--user', '-e/--env', '--tty']),
    );
    expect(flags('attach')).toContain('-p/--pid');
    expect(flags('list')).toEqual(expect.arrayContaining(['-p/--properties', '-v/--verbose', '--separator']));
    expect(flags('stream-in')).toContain('-d/--destination');
    expect(flags('stream-out')).toContain('-s/--source');
    expect(flags('net-in')).toContain('-p/--port');
    expect(flags('set-grace')).toContain('-g/--grace');
    expect(flags('exec')).toEqual(expect.arrayContaining(['-i/--interactive', '-t/--tty', '--target']));
    expect(flags('ps')).toEqual(expect.arrayContaining(['-q/--quiet', '--json']));
    expect(flags('rm')).toContain('-f/--force');
    for (const name of [
      'ping',
      'destroy',
      'info',
      'metrics',
      'shell',
      'net-out',
      'properties',
      'get-property',
      'set-property',
      'capacity',
      'cp',
    ]) {
      expect(findCommand(name), name).toBeDefined();
    }
    // Every read command takes --json.
    for (const name of ['list', 'ps', 'info', 'metrics', 'properties', 'get-property', 'capacity']) {
      expect(flags(name), name).toContain('--json');
    }
  });
});
