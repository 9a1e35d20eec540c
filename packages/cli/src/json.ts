/**
 * JSON output with 64-bit quantities (bigints: bytes, limits, nanoseconds) written as exact JSON
 * numbers, as the Go server writes them; `JSON.stringify` alone throws on a bigint. Node 20 has no
 * `JSON.rawJSON`, so bigints travel through a marker string (a NUL, which JSON always escapes,
 * plus a random nonce per call, so no real string can match it) and are unquoted afterwards.
 */

/** `JSON.stringify(value, null, indent)` with bigints as exact numbers. */
export function toJson(value: unknown, indent = 2): string {
  const nonce = Math.random().toString(36).slice(2);
  const mark = `\u0000${nonce}:`;
  const text = JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? `${mark}${v}` : v), indent);
  if (text === undefined) return 'null';
  return text.replace(new RegExp(`"\\\\u0000${nonce}:(-?\\d+)"`, 'g'), '$1');
}
