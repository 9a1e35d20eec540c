/**
 * Request targets from the route table of @garden-ts/api-types: the route's path pattern with each
 * `:name` capture replaced by its encoded value, plus the encoded query. The client has no path of
 * its own: every request goes through here.
 */
import { ROUTES, type RouteName, type RouteParams } from '@garden-ts/api-types';
import { encodePathParam, withQuery } from './url-encoding.js';

/** A pattern split into literal text (strings) and capture names (`{ param }`). */
type Segment = string | { readonly param: string };

const compiled = new Map<string, readonly Segment[]>();

function segments(pattern: string): readonly Segment[] {
  let parts = compiled.get(pattern);
  if (parts === undefined) {
    const list: Segment[] = [];
    // pat's capture names are [A-Za-z0-9]+ (protocol §2.1).
    for (const piece of pattern.split(/(:[A-Za-z0-9]+)/)) {
      if (piece.startsWith(':')) list.push({ param: piece.slice(1) });
      else if (piece !== '') list.push(piece);
    }
    parts = list;
    compiled.set(pattern, parts);
  }
  return parts;
}

/**
 * The encoded request-target of route `name`: its path with each capture encoded (handle `web/1`
 * becomes `web%2F1`), with `?query` when `query` has keys (Go's `url.Values.Encode`: sorted keys).
 * @throws TypeError naming a capture whose value is not a well-formed string.
 */
export function routeTarget<N extends RouteName>(
  name: N,
  params: RouteParams<N>,
  query?: Record<string, string>,
): string {
  let path = '';
  for (const segment of segments(ROUTES[name].path)) {
    if (typeof segment === 'string') path += segment;
    else path += encodePathParam((params as Record<string, string>)[segment.param] ?? '', segment.param);
  }
  return query === undefined ? path : withQuery(path, query);
}
