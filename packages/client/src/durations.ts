/**
 * Durations in the client API with explicit units. Garden's wire unit is the nanosecond, so a
 * plain number (`graceTime: 300`) would silently mean 300 ns; the client refuses it and takes a
 * bigint of nanoseconds (`seconds(300)`), a Go duration string (`'5m'`, `'1h30m'`, `'250ms'`)
 * or `{ seconds }` / `{ milliseconds }` instead.
 */
import { type Duration, millis, parseDuration, seconds } from '@garden-ts/api-types';

/** A duration with its unit: nanoseconds as a bigint, a Go duration string, or an object. */
export type DurationInput = Duration | string | { seconds: number } | { milliseconds: number };

/**
 * The nanoseconds of `value`.
 * @throws TypeError naming `field` for a plain number (ambiguous), a malformed string or anything
 *   else.
 */
export function toDuration(value: unknown, field: string): Duration {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    const n = Number.isFinite(value) ? value : 300;
    throw new TypeError(
      `${field}: a plain number is ambiguous (Garden durations are nanoseconds): give seconds(${n}), '${n}s' or { seconds: ${n} }`,
    );
  }
  if (typeof value === 'string') {
    try {
      return parseDuration(value);
    } catch {
      throw new TypeError(`${field}: invalid duration ${JSON.stringify(value)} (e.g. '30s', '5m', '1h30m')`);
    }
  }
  if (typeof value === 'object' && value !== null) {
    const o = value as { seconds?: unknown; milliseconds?: unknown };
    const keys = Object.keys(o);
    if (keys.length === 1 && typeof o.seconds === 'number' && Number.isFinite(o.seconds))
      return seconds(o.seconds);
    if (keys.length === 1 && typeof o.milliseconds === 'number' && Number.isFinite(o.milliseconds)) {
      return millis(o.milliseconds);
    }
  }
  throw new TypeError(`${field}: expected a duration: seconds(n), '5m' or { seconds: n }`);
}
