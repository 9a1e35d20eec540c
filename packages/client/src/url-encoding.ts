/**
 * Path and query encoding matching what the Go client puts on the wire (protocol §2.2, §2.3).
 */

import { illFormedReason } from '@garden-ts/api-types';

const UNRESERVED = /[A-Za-z0-9\-_.~]/;

/** Replaces lone UTF-16 surrogates with U+FFFD so the value has a UTF-8 encoding. */
function wellFormed(value: string): string {
  return value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/**
 * Encodes one path parameter (a handle, property key, process or stream id). `encodeURIComponent`
 * also escapes `/`, `?`, `#`, `%` and `+` (as `%2B`), all of which the Go server's form-decoding
 * of captures turns back into the original value; Go's own client would send `+` raw, which the
 * server reads as a space.
 * @throws TypeError naming `name` when the value is not a string or holds a lone surrogate (it
 *   would reach the server as U+FFFD and name another object).
 */
export function encodePathParam(value: string, name = 'value'): string {
  checkWellFormed(value, name);
  return encodeURIComponent(value);
}

/** @throws TypeError naming `name` unless `value` is a well-formed string. */
export function checkWellFormed(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${name}: expected a string`);
  const reason = illFormedReason(value);
  if (reason !== undefined) throw new TypeError(`${name}: ${reason}`);
}

/** Go `url.QueryEscape`: unreserved bytes kept, space as `+`, everything else `%XX` (uppercase). */
export function queryEscape(value: string): string {
  let out = '';
  for (const byte of Buffer.from(wellFormed(value), 'utf8')) {
    const ch = String.fromCharCode(byte);
    if (byte < 0x80 && UNRESERVED.test(ch)) out += ch;
    else if (byte === 0x20) out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Go `url.Values.Encode` for single-valued keys: keys sorted by their UTF-8 bytes, `k=v` pairs
 * joined with `&`. Returns "" for no keys.
 */
export function encodeQuery(values: Record<string, string>): string {
  return Object.keys(values)
    .sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
    .map((key) => `${queryEscape(key)}=${queryEscape(values[key] ?? '')}`)
    .join('&');
}

/** `path` plus `?query` when the query is non-empty. */
export function withQuery(path: string, values: Record<string, string> | undefined): string {
  const query = values ? encodeQuery(values) : '';
  return query === '' ? path : `${path}?${query}`;
}
