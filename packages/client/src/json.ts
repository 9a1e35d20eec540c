/**
 * JSON for Garden values: 64-bit quantities (bytes, limits, counters, nanoseconds) are bigints,
 * which `JSON.stringify` refuses. Node 20 has no `JSON.rawJSON`, so bigints travel through a
 * marker string (a NUL, which JSON always escapes, and a random nonce per call, so no real string
 * can match it) and are unquoted afterwards.
 */

/**
 * `JSON.stringify(value, null, space)`, writing every bigint as an exact JSON number (as the Go
 * server writes uint64s): `stringifyJson({ limitInBytes: 9223372036854771712n })` →
 * `{"limitInBytes":9223372036854771712}`.
 */
export function stringifyJson(value: unknown, space?: number | string): string {
  const nonce = Math.random().toString(36).slice(2);
  const mark = `\u0000${nonce}:`;
  const text = JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? `${mark}${v}` : v), space);
  if (text === undefined) return 'null';
  return text.replace(new RegExp(`"\\\\u0000${nonce}:(-?\\d+)"`, 'g'), '$1');
}
