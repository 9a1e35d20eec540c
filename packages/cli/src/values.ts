/** Parsing of option values: sizes, counts, ports, NAME=VALUE pairs and command lines. */
import { UsageError } from './errors.js';

const SIZE_UNITS: Record<string, bigint> = {
  '': 1n,
  k: 1n << 10n,
  m: 1n << 20n,
  g: 1n << 30n,
  t: 1n << 40n,
  p: 1n << 50n,
};

/**
 * A byte size: `1024`, `512M`, `1.5G`, `10KiB`, `2gb` (binary units, as docker's `--memory`).
 * @throws UsageError naming the option.
 */
export function parseSize(text: string, option: string): bigint {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${option}: invalid size "${text}" (e.g. 1048576, 512M, 1.5G)`);
  const [, num, unit] = m as unknown as [string, string, string];
  const mult = SIZE_UNITS[unit.toLowerCase()] as bigint;
  const [int, frac = ''] = num.split('.');
  const bytes =
    BigInt(int as string) * mult + (frac ? (BigInt(frac) * mult) / 10n ** BigInt(frac.length) : 0n);
  if (bytes >= 1n << 64n) throw new UsageError(`${option}: size "${text}" is too large`);
  return bytes;
}

/** A non-negative integer count (bigint: Garden's uint64 fields). */
export function parseCount(text: string, option: string): bigint {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${option}: expected a whole number, got "${text}"`);
  const n = BigInt(text.trim());
  if (n >= 1n << 64n) throw new UsageError(`${option}: "${text}" is too large`);
  return n;
}

/** A port number 0–65535. */
export function parsePort(text: string, option: string): number {
  const t = text.trim();
  const n = /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UsageError(`${option}: expected a port number (0-65535), got "${text}"`);
  }
  return n;
}

/** `NAME=VALUE` → [name, value] (the value may contain `=`). */
export function parseKeyValue(text: string, option: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`${option}: expected NAME=VALUE, got "${text}"`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** Several `NAME=VALUE` options as an object. */
export function parseProperties(list: readonly string[], option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const [k, v] = parseKeyValue(item, option);
    out[k] = v;
  }
  return out;
}

/**
 * Splits a command line into words as a POSIX shell would, without expansions: whitespace
 * separates, '…' is literal, "…" honours \" \\ \$ \`, a backslash outside quotes escapes the
 * next character (gaol used go-shellwords for `run -c`).
 * @throws UsageError for an unterminated quote.
 */
export function splitCommandLine(line: string, option = '--command'): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new UsageError(`${option}: unterminated ' in "${line}"`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1] as string)) j++;
        word += line[j];
      }
      if (j >= line.length) throw new UsageError(`${option}: unterminated " in "${line}"`);
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
