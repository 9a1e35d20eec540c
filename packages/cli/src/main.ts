/**
 * gaol's entry point: global options, the command, its arguments, then its (lazily imported)
 * handler. Every failure ends here as one line on stderr and an exit code (see errors.ts);
 * `--debug` / `GAOL_DEBUG=1` adds the stack.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from './args.js';
import { COMMANDS, type CommandSpec, commandOptions, findCommand, GLOBAL_OPTIONS } from './command-table.js';
import { type CliIO, CommandContext, processIO } from './context.js';
import { describeError, ExitCode, UsageError } from './errors.js';
import { commandHelp, generalHelp } from './help.js';
import { DEFAULT_TARGET, parseTarget } from './target.js';

const VERSION_OPTION = { long: 'version', short: 'v', type: 'boolean', help: 'print the version' } as const;

/** The version in package.json (one level above both src/ and dist/). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Runs gaol with `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let targetText = io.env.GAOL_TARGET || DEFAULT_TARGET;
  let debug = io.env.GAOL_DEBUG === '1' || io.env.GAOL_DEBUG === 'true';
  let cmd: CommandSpec | undefined;
  try {
    const head = parseArgs(argv, {
      options: [...GLOBAL_OPTIONS, VERSION_OPTION],
      stopAtFirstPositional: true,
      context: 'gaol',
    });
    if (typeof head.values.target === 'string') targetText = head.values.target;
    if (head.values.debug === true) debug = true;
    if (head.values.version === true) {
      io.stdout.write(`gaol ${version()}\n`);
      return ExitCode.Ok;
    }
    const name = head.positionals[0];
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? head.rest[0] : undefined;
      const about = topic === undefined ? undefined : findCommand(topic);
      if (topic !== undefined && !about) throw unknownCommand(topic);
      io.stdout.write(`${about ? commandHelp(about) : generalHelp()}\n`);
      return ExitCode.Ok;
    }
    if (name === 'version') {
      io.stdout.write(`gaol ${version()}\n`);
      return ExitCode.Ok;
    }
    cmd = findCommand(name);
    if (!cmd) throw unknownCommand(name);
    const args = parseArgs(head.rest, {
      options: commandOptions(cmd),
      ...(cmd.passThroughAfter !== undefined ? { passThroughAfter: cmd.passThroughAfter } : {}),
      context: `gaol ${cmd.name}`,
    });
    if (typeof args.values.target === 'string') targetText = args.values.target;
    if (args.values.debug === true) debug = true;
    if (args.values.help === true) {
      io.stdout.write(`${commandHelp(cmd)}\n`);
      return ExitCode.Ok;
    }
    const count = args.positionals.length + args.rest.length;
    if (count < cmd.minArgs || (cmd.maxArgs !== undefined && count > cmd.maxArgs)) {
      const wanted = cmd.usage ? `expected ${cmd.usage}` : 'expected no arguments';
      throw new UsageError(
        `gaol ${cmd.name}: ${count < cmd.minArgs ? 'missing arguments' : 'too many arguments'}: ${wanted}`,
      );
    }
    const handler = await cmd.load();
    const ctx = new CommandContext(io, parseTarget(targetText), cmd, args);
    return (await handler(ctx)) ?? ExitCode.Ok;
  } catch (err) {
    const { exitCode, message } = describeError(err, targetText);
    let line = `gaol: ${message}`;
    if (err instanceof UsageError) {
      // Usage errors name the command; the help hint only where the message has no example.
      line = message.startsWith('gaol') ? message : `gaol${cmd ? ` ${cmd.name}` : ''}: ${message}`;
      if (cmd && !message.includes('(')) line += ` (see 'gaol ${cmd.name} --help')`;
    }
    io.stderr.write(`${line}\n`);
    if (debug) io.stderr.write(`${stackOf(err)}\n`);
    return exitCode;
  }
}

function unknownCommand(name: string): UsageError {
  const near = COMMANDS.filter((c) => !c.hidden)
    .map((c) => ({ name: c.name, d: distance(name, c.name) }))
    .sort((a, b) => a.d - b.d)[0];
  const suggestion = near && near.d <= 2 ? ` (did you mean "${near.name}"?)` : " (see 'gaol --help')";
  return new UsageError(`gaol: unknown command "${name}"${suggestion}`);
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] as number) + 1,
        (cur[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

function stackOf(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    parts.push(
      depth === 0 ? String((e as Error).stack ?? e) : `caused by: ${String((e as Error).stack ?? e)}`,
    );
  }
  return parts.join('\n');
}
