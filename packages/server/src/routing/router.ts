/**
 * Route matching with the semantics of bmizerany/pat as used by the Go server (protocol §2.1):
 * patterns are matched byte by byte against the raw, still-escaped path; a `:name` capture takes
 * characters up to the pattern's next character or `/` and may be empty; the whole path must be
 * consumed; captures are then form-decoded (so `%2F` stays inside one capture).
 */
import { ROUTE_TABLE, type RouteName, type RouteOf } from '@garden-ts/api-types';
import { formDecode } from './form-decoding.js';

/** An entry of the route table. */
export type Route = RouteOf<RouteName>;

export type RouteParams = Record<string, string>;

export type RouteMatch =
  /** `illFormed`: the first capture whose bytes are not valid UTF-8 (refused: it would name another object). */
  | { kind: 'route'; route: Route; params: RouteParams; illFormed?: string }
  /** The path matches routes of other methods only: answer 405 with `Allow`. */
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

/**
 * pat's `try`: the decoded captures when `pattern` matches `path`, else undefined. Names of
 * captures that are not valid UTF-8 are pushed to `illFormed`.
 */
export function tryPattern(pattern: string, path: string, illFormed?: string[]): RouteParams | undefined {
  const params: RouteParams = {};
  let i = 0;
  let j = 0;
  while (i < path.length) {
    if (j >= pattern.length) return undefined;
    if (pattern[j] === ':') {
      let k = j + 1;
      while (k < pattern.length && /[A-Za-z0-9]/.test(pattern[k]!)) k++;
      const name = pattern.slice(j + 1, k);
      const next = pattern[k];
      j = k;
      let end = i;
      while (end < path.length && path[end] !== '/' && path[end] !== next) end++;
      const value = formDecode(path.slice(i, end), illFormed && (() => illFormed.push(name)));
      if (value === undefined) return undefined;
      if (!(name in params)) params[name] = value;
      i = end;
    } else if (path[i] === pattern[j]) {
      i++;
      j++;
    } else {
      return undefined;
    }
  }
  // A capture never matches at the very end of the path (pat stops when the path is consumed).
  return j === pattern.length ? params : undefined;
}

// Order of methods in a 405 `Allow` header. Go iterates a map (unspecified order); a fixed order
// keeps our answers deterministic.
const METHOD_ORDER = ['GET', 'POST', 'PUT', 'DELETE'] as const;

// The literal part of each pattern before its first capture: a path that does not start with it
// cannot match, which skips most of the table without running tryPattern.
const literalPrefixes = new Map<string, string>();

function literalPrefix(pattern: string): string {
  let prefix = literalPrefixes.get(pattern);
  if (prefix === undefined) {
    const colon = pattern.indexOf(':');
    prefix = colon === -1 ? pattern : pattern.slice(0, colon);
    literalPrefixes.set(pattern, prefix);
  }
  return prefix;
}

// Reused by every matchRoute call (no allocation per request).
const illFormedScratch: string[] = [];

/** Finds the route for `method` and raw `path`, or the 404/405 outcome pat would produce. */
export function matchRoute(method: string, path: string, routes: readonly Route[] = ROUTE_TABLE): RouteMatch {
  for (const route of routes) {
    if (route.method !== method || !path.startsWith(literalPrefix(route.path))) continue;
    illFormedScratch.length = 0;
    const params = tryPattern(route.path, path, illFormedScratch);
    if (params) {
      return illFormedScratch.length === 0
        ? { kind: 'route', route, params }
        : { kind: 'route', route, params, illFormed: illFormedScratch[0] };
    }
  }
  const allow: string[] = [];
  for (const m of METHOD_ORDER) {
    if (m === method) continue;
    // pat appends the method once per matching handler.
    for (const route of routes) if (route.method === m && tryPattern(route.path, path)) allow.push(m);
  }
  return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
}
