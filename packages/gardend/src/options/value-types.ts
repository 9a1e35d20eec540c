/**
 * The kinds of values gardend options take. Each kind parses the text of a flag or environment
 * variable and the JSON value of a config file, and says what it expects when a value is wrong
 * (the caller names where the value came from: `--depot`, `GARDEND_DEPOT`, `gardend.json: depot`).
 */
import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { type Duration, HOUR, MILLISECOND, MINUTE, parseDuration, SECOND } from '@garden-ts/api-types';

/** Where a value is read: relative paths resolve against `baseDir` (the cwd, or the config file's directory). */
export interface ParseContext {
  baseDir: string;
}

/** A value that does not fit its option; `message` completes "<source> …" (e.g. `must be a duration …`). */
export class ValueError extends Error {}

export interface ValueType<T> {
  /** Placeholder in help and docs (`DIR`, `DUR`, `N`); empty for booleans (a bare flag). */
  readonly metavar: string;
  /** True for booleans: `--flag`, `--flag=false`, `--no-flag`. */
  readonly boolean?: true;
  /**
   * True for lists: each `--flag VALUE` adds one item (a later flag adds, never overrides); the
   * environment variable holds the items comma-separated, the config file a JSON array.
   */
  readonly repeatable?: true;
  /** Parses flag or environment text. @throws ValueError */
  parse(text: string, ctx: ParseContext): T;
  /** Parses one flag's text when it differs from `parse` (a list whose flags are one item each). */
  parseFlag?(text: string, ctx: ParseContext): T;
  /** Converts a config-file value (JSON). @throws ValueError */
  fromJson(value: unknown, ctx: ParseContext): T;
  /** Shows a value (defaults in help and docs). */
  show(value: T): string;
}

const got = (text: string) => `, got ${JSON.stringify(text)}`;

/** A type whose config-file form is a JSON string holding the same text as the flag. */
export function textual<T>(
  metavar: string,
  parse: (text: string, ctx: ParseContext) => T,
  show: (value: T) => string = String,
): ValueType<T> {
  return {
    metavar,
    parse,
    fromJson(value, ctx) {
      if (typeof value !== 'string') throw new ValueError(`must be a JSON string${gotJson(value)}`);
      return parse(value, ctx);
    },
    show,
  };
}

function gotJson(value: unknown): string {
  return `, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
}

/** Any non-empty text. */
export function text(metavar: string, check?: (value: string) => string | undefined): ValueType<string> {
  return textual(metavar, (value) => {
    if (value === '') throw new ValueError('must not be empty');
    const problem = check?.(value);
    if (problem !== undefined) throw new ValueError(`${problem}${got(value)}`);
    return value;
  });
}

/** A filesystem path, made absolute (relative to the cwd, or to the config file). */
export function path(metavar = 'PATH'): ValueType<string> {
  return textual(metavar, (value, ctx) => {
    if (value === '') throw new ValueError('must not be empty');
    return isAbsolute(value) ? resolve(value) : resolve(ctx.baseDir, value);
  });
}

/** One of a fixed set of words. */
export function choice<const C extends string>(choices: readonly C[]): ValueType<C> {
  return textual(choices.join('|'), (value) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new ValueError(`must be one of ${choices.join(', ')}${got(value)}`);
    }
    return value as C;
  });
}

/** A whole number in `[min, max]`; `expects` describes it in errors (`a whole number of containers`). */
export function integer(min: number, max: number, expects: string, metavar = 'N'): ValueType<number> {
  const parse = (value: string): number => {
    const n = Number(value);
    if (!/^\d{1,15}$/.test(value) || n < min || n > max)
      throw new ValueError(`must be ${expects}${got(value)}`);
    return n;
  };
  return {
    metavar,
    parse,
    fromJson(value) {
      if (typeof value === 'number' && Number.isInteger(value)) return parse(String(value));
      if (typeof value === 'string') return parse(value);
      throw new ValueError(`must be ${expects}${gotJson(value)}`);
    },
    show: String,
  };
}

const SIZE_UNITS: Record<string, bigint> = { '': 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };

/** Shows bytes in the largest binary unit that divides them (`100G`, `1536M`, `4095`). */
function showSize(bytes: bigint): string {
  for (const unit of ['T', 'G', 'M', 'K'])
    if (bytes % (SIZE_UNITS[unit] as bigint) === 0n && bytes > 0n)
      return `${bytes / (SIZE_UNITS[unit] as bigint)}${unit}`;
  return String(bytes);
}

/**
 * A size in bytes, at least `min`: a whole number with an optional binary unit (`K`, `M`, `G`, `T`,
 * also written `KiB`, … ; `100G` = 100 × 2^30). In the config file, the same text or a number of bytes.
 */
export function byteSize(min: bigint): ValueType<bigint> {
  const parse = (value: string): bigint => {
    const m = /^(\d{1,19})\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
    if (!m) throw new ValueError(`must be a size such as 100G, 512M or a number of bytes${got(value)}`);
    const bytes = BigInt(m[1] as string) * (SIZE_UNITS[(m[2] as string).toUpperCase()] as bigint);
    if (bytes < min || bytes >= 1n << 63n)
      throw new ValueError(`must be at least ${showSize(min)} and below 8 EiB${got(value)}`);
    return bytes;
  };
  return {
    metavar: 'SIZE',
    parse,
    fromJson(value) {
      if (typeof value === 'number' && Number.isSafeInteger(value)) return parse(String(value));
      if (typeof value === 'string') return parse(value);
      throw new ValueError(`must be a size such as "100G" or a number of bytes${gotJson(value)}`);
    },
    show: showSize,
  };
}

/** A Go duration (`30s`, `5m`, `1h30m`); plain numbers are refused (no guessing of units). */
export function duration(max?: Duration): ValueType<Duration> {
  return textual(
    'DUR',
    (value) => {
      let d: Duration;
      try {
        d = parseDuration(value);
      } catch {
        throw new ValueError(`must be a duration such as 30s, 5m or 1h30m${got(value)}`);
      }
      if (d < 0n) throw new ValueError(`must not be negative${got(value)}`);
      if (max !== undefined && d > max)
        throw new ValueError(`must be at most ${formatDuration(max)}${got(value)}`);
      return d;
    },
    formatDuration,
  );
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** On or off. */
export function boolean(): ValueType<boolean> {
  const parse = (value: string): boolean => {
    const lower = value.toLowerCase();
    if (TRUE.has(lower)) return true;
    if (FALSE.has(lower)) return false;
    throw new ValueError(`must be true or false${got(value)}`);
  };
  return {
    metavar: '',
    boolean: true,
    parse,
    fromJson(value) {
      if (typeof value === 'boolean') return value;
      throw new ValueError(`must be true or false${gotJson(value)}`);
    },
    show: String,
  };
}

/**
 * A list of `item` values: those of each repeated flag (comma-separated; with `wholeFlags`, one
 * item per flag, commas kept), comma-separated in an environment variable, a JSON array (or that
 * comma-separated string) in the config file. The default is empty.
 */
export function list<T>(item: ValueType<T>, opts: { wholeFlags?: boolean } = {}): ValueType<T[]> {
  const split = (text: string, ctx: ParseContext): T[] =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map((s) => item.parse(s, ctx));
  return {
    metavar: item.metavar,
    repeatable: true,
    parse: split,
    // `wholeFlags`: each flag is one item, commas and all (arguments passed on to a program).
    ...(opts.wholeFlags ? { parseFlag: (text: string, ctx: ParseContext) => [item.parse(text, ctx)] } : {}),
    fromJson(value, ctx) {
      if (typeof value === 'string') return split(value, ctx);
      if (!Array.isArray(value)) throw new ValueError(`must be a JSON array${gotJson(value)}`);
      return value.map((v, i) => {
        try {
          return item.fromJson(v, ctx);
        } catch (err) {
          if (err instanceof ValueError) throw new ValueError(`[${i}] ${err.message}`);
          throw err;
        }
      });
    },
    show: (values) => values.map((v) => item.show(v)).join(','),
  };
}

/** A path, or the word `none` (= `false`): for choices such as "this helper, or none at all". */
export function pathOrNone(metavar = 'PATH'): ValueType<string | false> {
  const inner = path(metavar);
  return textual(
    `${metavar}|none`,
    (value, ctx) => (value === 'none' ? false : inner.parse(value, ctx)),
    (value) => (value === false ? 'none' : value),
  );
}

/** A duration as gardend accepts it back: `0`, `250ms`, `10s`, `1m`, `1h30m`. */
export function formatDuration(d: Duration): string {
  if (d === 0n) return '0';
  let rest = d < 0n ? -d : d;
  let out = d < 0n ? '-' : '';
  for (const [unit, size] of [
    ['h', HOUR],
    ['m', MINUTE],
    ['s', SECOND],
    ['ms', MILLISECOND],
    ['us', 1000n],
    ['ns', 1n],
  ] as const) {
    if (rest >= size) {
      out += `${rest / size}${unit}`;
      rest %= size;
    }
  }
  return out;
}

/**
 * A module to import: a path (starts with `.` or `/`; made absolute like other paths) or a
 * package name (kept as given, resolved by Node from gardend and then from the working directory).
 */
export function moduleSpecifier(): ValueType<string> {
  const file = path('PATH|PKG');
  return textual('PATH|PKG', (value, ctx) => {
    if (value === '') throw new ValueError('must not be empty');
    if (value.startsWith('.') || value.startsWith('/')) return file.parse(value, ctx);
    if (!/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(\/[\w.-]+)*$/i.test(value)) {
      throw new ValueError(`must be a file path (./x.js, /x.js) or a package name${got(value)}`);
    }
    return value;
  });
}

/** A JSON object: its text on the command line and in the environment, the object itself in the config file. */
export function jsonObject(): ValueType<Record<string, unknown>> {
  const check = (value: unknown): Record<string, unknown> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ValueError(`must be a JSON object${gotJson(value)}`);
    }
    return value as Record<string, unknown>;
  };
  return {
    metavar: 'JSON',
    parse(text) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new ValueError(`must be a JSON object: ${(err as Error).message}`);
      }
      return check(value);
    },
    fromJson: (value) => check(value),
    show: (value) => JSON.stringify(value),
  };
}

/** An IPv4 address in dotted-quad form (Go's rules: no leading zeros). */
export function ipv4(metavar = 'IP'): ValueType<string> {
  return textual(metavar, (value) => {
    if (!isIPv4Text(value)) throw new ValueError(`must be an IPv4 address such as 10.0.0.1${got(value)}`);
    return value;
  });
}

/** An IPv4 or IPv6 address (DNS servers may be either). */
export function ip(metavar = 'IP'): ValueType<string> {
  return textual(metavar, (value) => {
    if (!isIPv4Text(value) && !(value.includes(':') && isIP(value) === 6))
      throw new ValueError(`must be an IP address such as 10.0.0.1${got(value)}`);
    return value;
  });
}

/** An IPv4 network in CIDR form (`10.254.0.0/22`). */
export function cidr(metavar = 'CIDR'): ValueType<string> {
  return textual(metavar, (value) => {
    const [addr, prefix, more] = value.split('/');
    if (
      more !== undefined ||
      addr === undefined ||
      !isIPv4Text(addr) ||
      !/^\d{1,2}$/.test(prefix ?? '') ||
      Number(prefix) > 32
    )
      throw new ValueError(`must be an IPv4 network such as 10.254.0.0/22${got(value)}`);
    return value;
  });
}

function isIPv4Text(value: string): boolean {
  return isIP(value) === 4 && value.split('.').every((p) => p === '0' || !p.startsWith('0'));
}
