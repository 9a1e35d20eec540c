/**
 * The argument parser behind every command, driven by the command table (one description of each
 * option gives parsing, help and completion). Hand-written rather than `util.parseArgs` because
 * commands that run a program (`exec HANDLE CMD ARGS...`) must stop parsing options at the
 * program's name, so that `gaol exec h sh -c 'x'` leaves `-c` to `sh`.
 */
import { UsageError } from './errors.js';

/** What to offer when completing a value (shell completion). */
export type Completion = 'handle' | 'file' | readonly string[];

export interface OptionSpec {
  /** Long name without dashes (`handle`). */
  readonly long: string;
  /** One-letter short name (`n`). */
  readonly short?: string;
  readonly type: 'string' | 'boolean';
  /** May be given several times; the value is then an array. */
  readonly multiple?: boolean;
  /** Placeholder of the value in help (`HANDLE`). */
  readonly arg?: string;
  readonly help: string;
  readonly complete?: Completion;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
  /** With `passThroughAfter`: the words after the last parsed positional, verbatim. */
  rest: string[];
}

export interface ParseRules {
  options: readonly OptionSpec[];
  /** Stop parsing after this many positionals; the remaining words go to `rest` untouched. */
  passThroughAfter?: number;
  /** Stop at the first positional (the global options before a command name). */
  stopAtFirstPositional?: boolean;
  /** Names the command in error messages (`gaol create`). */
  context: string;
}

const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

/**
 * Parses `argv` against `rules`.
 * @throws UsageError naming the offending word.
 */
export function parseArgs(argv: readonly string[], rules: ParseRules): ParsedArgs {
  const byLong = new Map(rules.options.map((o) => [o.long, o]));
  const byShort = new Map(rules.options.filter((o) => o.short).map((o) => [o.short as string, o]));
  const values: OptionValues = {};
  const positionals: string[] = [];
  const rest: string[] = [];

  const set = (opt: OptionSpec, value: string | boolean) => {
    if (opt.multiple) {
      const list = (values[opt.long] as string[] | undefined) ?? [];
      list.push(value as string);
      values[opt.long] = list;
      return;
    }
    // The last one wins (as with most CLIs: an alias or wrapper may set a default first).
    values[opt.long] = value;
  };

  let i = 0;
  const takeValue = (opt: OptionSpec, shown: string): string => {
    const next = argv[i + 1];
    if (next === undefined)
      throw new UsageError(`${rules.context}: ${shown} needs a value (${opt.arg ?? 'VALUE'})`);
    i++;
    return next;
  };

  for (; i < argv.length; i++) {
    const word = argv[i] as string;
    const stopHere =
      (rules.passThroughAfter !== undefined && positionals.length >= rules.passThroughAfter) ||
      (rules.stopAtFirstPositional && positionals.length > 0);
    if (stopHere) {
      rest.push(...argv.slice(i));
      break;
    }
    if (word === '--') {
      const after = argv.slice(i + 1);
      if (rules.passThroughAfter !== undefined || rules.stopAtFirstPositional) {
        // Fill the positionals before the pass-through first (`exec -- h ls` is `exec h ls`).
        const need = rules.stopAtFirstPositional
          ? 1
          : (rules.passThroughAfter as number) - positionals.length;
        positionals.push(...after.slice(0, Math.max(0, need)));
        rest.push(...after.slice(Math.max(0, need)));
      } else {
        positionals.push(...after);
      }
      break;
    }
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = word.slice(2, eq === -1 ? undefined : eq);
      const opt = byLong.get(name);
      if (!opt) throw new UsageError(`${rules.context}: unknown option --${name}`);
      const shown = `--${name}`;
      if (opt.type === 'boolean') {
        if (eq === -1) set(opt, true);
        else {
          const v = word.slice(eq + 1).toLowerCase();
          if (TRUE.has(v)) set(opt, true);
          else if (FALSE.has(v)) set(opt, false);
          else
            throw new UsageError(
              `${rules.context}: ${shown} expects true or false, got "${word.slice(eq + 1)}"`,
            );
        }
      } else {
        set(opt, eq === -1 ? takeValue(opt, shown) : word.slice(eq + 1));
      }
      continue;
    }
    if (word.startsWith('-') && word.length > 1) {
      // A group of short options: booleans, optionally ending in one that takes a value
      // (`-it`, `-eFOO=1`, `-n web`).
      for (let j = 1; j < word.length; j++) {
        const letter = word[j] as string;
        const opt = byShort.get(letter);
        if (!opt) throw new UsageError(`${rules.context}: unknown option -${letter}`);
        const shown = `-${letter}`;
        if (opt.type === 'boolean') {
          set(opt, true);
          continue;
        }
        const inline = word.slice(j + 1);
        set(opt, inline !== '' ? inline.replace(/^=/, '') : takeValue(opt, shown));
        break;
      }
      continue;
    }
    positionals.push(word);
  }
  return { values, positionals, rest };
}

/** A string option's value (the last one given, for repeated ones). */
export function stringValue(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (Array.isArray(v)) return v.at(-1);
  return typeof v === 'string' ? v : undefined;
}

/** A repeatable option's values (empty when absent). */
export function listValue(values: OptionValues, name: string): string[] {
  const v = values[name];
  if (Array.isArray(v)) return v;
  return typeof v === 'string' ? [v] : [];
}

/** A boolean option's value (false when absent). */
export function flag(values: OptionValues, name: string): boolean {
  return values[name] === true;
}
