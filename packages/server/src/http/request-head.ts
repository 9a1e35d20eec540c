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
