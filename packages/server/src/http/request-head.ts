/**
 * A minimal HTTP/1.1 request-head parser for the raw (hijacked) path. It only has to recognise the
 * request line and headers well enough to route; anything it does not like is handed to Node's
 * own parser, which produces the proper 400.
 */

/** A parsed request head. Header names are kept as sent; look-ups are case-insensitive. */
export interface RequestHead {
  method: string;
  /** The raw request-target (path + optional query), still escaped. */
  target: string;
  /** `HTTP/1.1`, `HTTP/1.0`, … */
  version: string;
  headers: Array<[name: string, value: string]>;
  /** Byte length of the head including the blank line. */
  length: number;
}

/** Largest head the raw path accepts before handing the connection to Node (which answers 431). */
export const MAX_HEAD_BYTES = 64 * 1024;

/** Finds the end of the head (after the empty line); -1 when incomplete. Accepts bare LF like Go. */
export function findHeadEnd(buf: Buffer): number {
  let i = buf.indexOf(10); // '\n'
  while (i !== -1) {
    // "\n\n" or "\n\r\n"
    if (buf[i + 1] === 10) return i + 2;
    if (buf[i + 1] === 13 && buf[i + 2] === 10) return i + 3;
    if (i + 2 >= buf.length) return -1;
    i = buf.indexOf(10, i + 1);
  }
  return -1;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses `buf[0, end)` as a request head. Returns `undefined` for anything malformed; the caller then
 * lets Node's HTTP parser reject it.
 */
export function parseRequestHead(buf: Buffer, end: number): RequestHead | undefined {
  const text = buf.toString('latin1', 0, end);
  const lines = text.split(/\r?\n/);
  const requestLine = lines[0] ?? '';
  const parts = requestLine.split(' ');
  if (parts.length !== 3) return undefined;
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method) || target === '' || !/^HTTP\/1\.[01]$/.test(version)) return undefined;
  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return undefined;
    headers.push([name, line.slice(colon + 1).trim()]);
  }
  return { method, target, version, headers, length: end };
}

/** The first value of a header (case-insensitive), or undefined. */
export function headerValue(head: RequestHead, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of head.headers) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** Number of occurrences of a header. */
export function headerCount(head: RequestHead, name: string): number {
  const lower = name.toLowerCase();
  let n = 0;
  for (const [k] of head.headers) if (k.toLowerCase() === lower) n++;
  return n;
}

/**
 * An ordinary HTTP/1.1 request the front door may answer itself: a request line and headers Node's
 * HTTP parser would accept unchanged, with nothing that changes how the request is read or
 * answered (no `Transfer-Encoding`, `Expect` or `Upgrade`; one `Host`; at most one plain
 * `Content-Length`; at most one `Connection`).
 */
export interface SimpleRequest {
  head: RequestHead;
  /** The target's raw path (origin form, still escaped). */
  path: string;
  /** The target's raw query, without `?` (empty when there is none). */
  query: string;
  /** The body length (0 without a `Content-Length`). */
  contentLength: number;
  /** The client asked to close the connection after the response (`Connection: close`). */
  close: boolean;
  /** The client's `X-Vcap-Request-Id` (Go tags log lines with it). */
  session: string | undefined;
}

const SIMPLE_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE']);
// Origin form, visible ASCII only: anything else is left to Node's parser and its own verdict.
const SIMPLE_TARGET = /^\/[\x21-\x7e]*$/;
// Field values without control characters (tab allowed; obs-text bytes allowed, as by Node).
const SIMPLE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const DIGITS = /^\d{1,15}$/;
const ASKS_CLOSE = /(^|,)\s*close\s*($|,)/i;

/** True when a `Connection` header value contains the `close` token. */
export function asksClose(connection: string): boolean {
  return ASKS_CLOSE.test(connection);
}

/** Strips optional whitespace (SP, HTAB) around a field value, as HTTP parsers do. */
function trimOws(value: string): string {
  let a = 0;
  let b = value.length;
  while (a < b && (value.charCodeAt(a) === 32 || value.charCodeAt(a) === 9)) a++;
  while (b > a && (value.charCodeAt(b - 1) === 32 || value.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === value.length ? value : value.slice(a, b);
}

/**
 * Parses `buf[0, end)` (a complete head, see {@link findHeadEnd}) as a {@link SimpleRequest}, or
 * returns `undefined` for anything else (HTTP/1.0, bare LF line ends, other methods, absolute
 * targets, control characters, duplicate framing headers, …), which the caller then leaves to
 * Node's HTTP parser.
 */
export function parseSimpleRequest(buf: Buffer, end: number): SimpleRequest | undefined {
  // CRLF line ends only: findHeadEnd also accepts bare LF, which Node's parser may judge differently.
  if (buf[end - 1] !== 10 || buf[end - 2] !== 13 || buf[end - 3] !== 10 || buf[end - 4] !== 13) {
    return undefined;
  }
  const text = buf.toString('latin1', 0, end);
  const lineEnd = text.indexOf('\r\n');
  const sp1 = text.indexOf(' ');
  const sp2 = sp1 === -1 ? -1 : text.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 === -1 || sp2 > lineEnd || text.slice(sp2 + 1, lineEnd) !== 'HTTP/1.1')
    return undefined;
  const method = text.slice(0, sp1);
  const target = text.slice(sp1 + 1, sp2);
  if (!SIMPLE_METHODS.has(method) || !SIMPLE_TARGET.test(target)) return undefined;

  const headers: Array<[string, string]> = [];
  let hosts = 0;
  let lengths = 0;
  let connections = 0;
  let contentLength = 0;
  let close = false;
  let session: string | undefined;
  for (let pos = lineEnd + 2; pos < end - 2; ) {
    const eol = text.indexOf('\r\n', pos);
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon > eol) return undefined;
    const name = text.slice(pos, colon);
    const raw = text.slice(colon + 1, eol);
    pos = eol + 2;
    if (!TOKEN.test(name) || !SIMPLE_VALUE.test(raw)) return undefined;
    const value = trimOws(raw);
    headers.push([name, value]);
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') hosts++;
        break;
      case 6:
        if (name.toLowerCase() === 'expect') return undefined;
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') return undefined;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          connections++;
          close = asksClose(value);
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (!DIGITS.test(value)) return undefined;
          lengths++;
          contentLength = Number(value);
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return undefined;
        // Repeated headers are joined, as Node does for `request.headers`.
        if (name.toLowerCase() === 'x-vcap-request-id')
          session = session === undefined ? value : `${session}, ${value}`;
        break;
    }
  }
  if (hosts !== 1 || lengths > 1 || connections > 1) return undefined;
  const q = target.indexOf('?');
  return {
    head: { method, target, version: 'HTTP/1.1', headers, length: end },
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? '' : target.slice(q + 1),
    contentLength,
    close,
    session,
  };
}
