import type { Duration } from './types.js';

/** Nanoseconds per unit, for building `Duration`s (bigint nanoseconds, as on the wire). */
export const NANOSECOND = 1n;
export const MICROSECOND = 1_000n;
export const MILLISECOND = 1_000_000n;
export const SECOND = 1_000_000_000n;
export const MINUTE = 60n * SECOND;
export const HOUR = 60n * MINUTE;

/** `seconds(1.5)` → 1500000000n. Fractions are rounded to the nearest nanosecond. */
export function seconds(n: number): Duration {
  return BigInt(Math.round(n * 1e9));
}

/** `millis(250)` → 250000000n. */
export function millis(n: number): Duration {
  return BigInt(Math.round(n * 1e6));
}

/** A Duration as (possibly fractional) milliseconds, for timers. */
export function toMillis(d: Duration): number {
  return Number(d) / 1e6;
}

const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: MICROSECOND,
  µs: MICROSECOND,
  ms: MILLISECOND,
  s: SECOND,
  m: MINUTE,
  h: HOUR,
};

/**
 * Parses a Go-style duration string ("5m", "1h30m", "250ms", "0") into nanoseconds.
 * @throws RangeError for malformed input.
 */
export function parseDuration(text: string): Duration {
  const s = text.trim();
  if (s === '0') return 0n;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let ns = 0n;
  let consumed = 0;
  let sign = 1n;
  let body = s;
  if (body.startsWith('-') || body.startsWith('+')) {
    sign = body.startsWith('-') ? -1n : 1n;
    body = body.slice(1);
  }
  re.lastIndex = 0;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    const [whole, num, unit] = m as unknown as [string, string, string];
    const [int, frac = ''] = num.split('.');
    const mult = UNITS[unit]!;
    ns += BigInt(int!) * mult + (frac ? (BigInt(frac) * mult) / 10n ** BigInt(frac.length) : 0n);
    consumed += whole.length;
    total++;
  }
  if (total === 0 || consumed !== body.length) throw new RangeError(`invalid duration "${text}"`);
  return sign * ns;
}
