/**
 * Response bytes exactly as Go's net/http writes them (protocol §1.4): handler headers first, then
 * `Date`, `Content-Length`, then `Connection`/`Transfer-Encoding`. Plain responses go through
 * Node's `ServerResponse` with a raw header array (which keeps the header case); hijacked heads
 * are written straight to the socket.
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import {
  ContainerNotFoundError,
  errorToEnvelope,
  goJsonLine,
  InvalidRequestError,
  ProcessNotFoundError,
} from '@garden-ts/api-types';

let cachedSecond = -1;
let cachedDate = '';

/** The current time in HTTP date format (`Mon, 02 Jan 2006 15:04:05 GMT`), cached per second. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(now).toUTCString();
  }
  return cachedDate;
}

/** `HTTP/1.1 <code> <reason>` as Go writes it. */
export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? `status code ${status}`}`;
}

/**
 * Head of a successful hijacked response. `Transfer-Encoding: chunked` is a lie kept for the Go
 * client (raw bytes follow); there is never a `Connection` header.
 */
export function hijackedHead(status: 200 | 201, withJsonType: boolean): string {
  const type = withJsonType ? 'Content-Type: application/json\r\n' : '';
  return `${statusLine(status)}\r\n${type}Date: ${httpDate()}\r\nTransfer-Encoding: chunked\r\n\r\n`;
}

/** A complete JSON response for a hijacked route that did not hijack (an error): no `Connection` header. */
export function rawJsonResponse(status: number, body: string): Buffer {
  const bodyBytes = Buffer.from(body, 'utf8');
  const head =
    `${statusLine(status)}\r\nContent-Type: application/json\r\nDate: ${httpDate()}\r\n` +
    `Content-Length: ${bodyBytes.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bodyBytes]);
}

/**
 * Go's answer to a request it cannot parse (written before any handler runs), followed by a close:
 * `400 Bad Request` or `400 Bad Request: <reason>`, text/plain, no Date or Content-Length.
 */
export function goBadRequest(reason?: string): Buffer {
  const text = reason ? `400 Bad Request: ${reason}` : '400 Bad Request';
  return Buffer.from(
    `HTTP/1.1 ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${text}`,
    'latin1',
  );
}

/** True when the client asked to close the connection after this response. */
export function wantsClose(req: IncomingMessage): boolean {
  const conn = req.headers.connection;
  if (conn !== undefined && /(^|,)\s*close\s*($|,)/i.test(conn)) return true;
  return req.httpVersion === '1.0' && !(conn !== undefined && /keep-alive/i.test(conn));
}

/** Prepares a Node response for a Go-shaped head: no automatic Date or Connection header. */
function prepare(req: IncomingMessage, res: ServerResponse, headers: string[]): void {
  res.sendDate = false;
  if (wantsClose(req)) headers.push('Connection', 'close');
  // Go sends no `Connection: keep-alive`; removing the header makes Node omit it but still keep
  // the connection alive when the client allows it.
  else res.removeHeader('Connection');
}

/**
 * Sends a complete response. HTTP/1.0 requests are answered the way Go does (an `HTTP/1.0` status
 * line, no `Connection` header, then close), which Node's ServerResponse cannot write.
 */
function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: string[],
  body: Buffer,
): void {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) {
    let head = `HTTP/1.0 ${status} ${STATUS_CODES[status] ?? `status code ${status}`}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    const bytes = Buffer.from(`${head}\r\n`, 'latin1');
    req.socket.end(req.method === 'HEAD' ? bytes : Buffer.concat([bytes, body]));
    return;
  }
  prepare(req, res, headers);
  res.writeHead(status, headers);
  res.end(body);
}

/** Writes a complete `application/json` response (`body` already ends with LF). */
export function writeJson(req: IncomingMessage, res: ServerResponse, status: number, body: string): void {
  const bytes = Buffer.from(body, 'utf8');
  send(
    req,
    res,
    status,
    ['Content-Type', 'application/json', 'Date', httpDate(), 'Content-Length', String(bytes.length)],
    bytes,
  );
}

/** Writes a Go `http.Error` style text/plain response (router 404/405). */
export function writeText(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: string,
  before: string[] = [],
): void {
  const bytes = Buffer.from(body, 'utf8');
  const headers = [
    ...before,
    'Content-Type',
    'text/plain; charset=utf-8',
    'X-Content-Type-Options',
    'nosniff',
    'Date',
    httpDate(),
    'Content-Length',
    String(bytes.length),
  ];
  send(req, res, status, headers, bytes);
}

/** Starts a streamed (chunked) response with the given handler headers. */
export function writeStreamHead(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  contentType: string | undefined,
  contentLength?: number,
): void {
  const headers = ['Date', httpDate()];
  if (contentLength !== undefined) headers.push('Content-Length', String(contentLength));
  if (contentType !== undefined) headers.push('Content-Type', contentType);
  prepare(req, res, headers);
  if (contentLength === undefined) headers.push('Transfer-Encoding', 'chunked');
  res.writeHead(status, headers);
}

/**
 * Status of an error raised while serving a request: 404 for the two NotFound types, 400 for our
 * own request validation (deviation: Go answers 500), 500 for everything else.
 */
export function errorStatus(err: unknown, fromRequestValidation = false): number {
  if (err instanceof ContainerNotFoundError || err instanceof ProcessNotFoundError) return 404;
  if (fromRequestValidation && err instanceof InvalidRequestError) return 400;
  return 500;
}

/** The error envelope line for any thrown value. */
export function errorLine(err: unknown): string {
  return goJsonLine({ ...errorToEnvelope(err) });
}
