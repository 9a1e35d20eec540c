/** `gaol --help` and `gaol COMMAND --help`, generated from the command table. */
import type { OptionSpec } from './args.js';
import { COMMANDS, type CommandSpec, commandOptions, GLOBAL_OPTIONS } from './command-table.js';
import { DEFAULT_TARGET } from './target.js';

const GAOL_COMMANDS = new Set([
  'ping',
  'capacity',
  'create',
  'destroy',
  'list',
  'info',
  'metrics',
  'run',
  'attach',
  'shell',
  'stream-in',
  'stream-out',
  'net-in',
  'net-out',
  'properties',
  'get-property',
  'set-property',
  'remove-property',
  'set-grace',
  'stop',
]);

function optionLines(options: readonly OptionSpec[]): string[] {
  const left = options.map((o) => {
    const names = `${o.short ? `-${o.short}, ` : '    '}--${o.long}`;
    return o.type === 'string' ? `${names} ${o.arg ?? 'VALUE'}` : names;
  });
  const width = Math.min(34, Math.max(...left.map((l) => l.length)) + 2);
  return options.map((o, i) => {
    const l = left[i] as string;
    const repeat = o.multiple && !o.help.includes('repeatable') ? ' (repeatable)' : '';
    return l.length >= width
      ? `  ${l}\n  ${' '.repeat(width)}${o.help}${repeat}`
      : `  ${l.padEnd(width)}${o.help}${repeat}`;
  });
}

function commandList(filter: (c: CommandSpec) => boolean): string[] {
  const shown = COMMANDS.filter((c) => !c.hidden && filter(c));
  const width = Math.max(...shown.map((c) => c.name.length)) + 2;
  return shown.map((c) => `  ${c.name.padEnd(width)}${c.summary}`);
}

/** The overview: commands, global options, target and exit codes. */
export function generalHelp(): string {
  return [
    'Usage: gaol [OPTIONS] COMMAND [ARGS...]',
    '',
    'A command-line client for Garden servers (gardend, Guardian).',
    '',
    "Garden commands (gaol's):",
    ...commandList((c) => GAOL_COMMANDS.has(c.name)),
    '',
    'Docker-style commands:',
    ...commandList((c) => !GAOL_COMMANDS.has(c.name) && c.name !== 'completion'),
    '',
    'Setup:',
    ...commandList((c) => c.name === 'completion'),
    '',
    'Options:',
    ...optionLines([
      ...GLOBAL_OPTIONS,
      { long: 'version', short: 'v', type: 'boolean', help: 'print the version' },
    ]),
    '',
    `Target: -t/--target, else GAOL_TARGET, else ${DEFAULT_TARGET}.`,
    'Read commands take --json (64-bit numbers are exact JSON numbers).',
    'Exit codes: 0 ok; 125 gaol or the server failed; 126 the command cannot be run;',
    "127 the command was not found; otherwise the command's own code (128+N: signal N).",
    '',
    "Run 'gaol COMMAND --help' for a command's options.",
  ].join('\n');
}

/** One command's usage, options and examples. */
export function commandHelp(cmd: CommandSpec): string {
  const usage = `Usage: gaol ${cmd.name} [OPTIONS]${cmd.usage ? ` ${cmd.usage}` : ''}`;
  const lines = [usage, '', `${cmd.summary[0]?.toUpperCase()}${cmd.summary.slice(1)}.`];
  if (cmd.aliases?.length) lines.push('', `Aliases: ${cmd.aliases.join(', ')}`);
  lines.push('', 'Options:', ...optionLines(commandOptions(cmd)));
  if (cmd.examples?.length) lines.push('', 'Examples:', ...cmd.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}
