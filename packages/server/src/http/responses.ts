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
import { closeAfterFlush } from '../process/close-after-flush.js';
import { asksClose } from './request-head.js';

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
  if (conn !== undefined && asksClose(conn)) return true;
  return req.httpVersion === '1.0' && !(conn !== undefined && /keep-alive/i.test(conn));
}

/** Prepares a Node response for a Go-shaped head: no automatic Date or Connection header. */
function prepare(
  req: IncomingMessage,
  res: ServerResponse,
  headers: string[],
  close = wantsClose(req),
): void {
  res.sendDate = false;
  if (close) headers.push('Connection', 'close');
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
  // Answered before the request's body was all received (StreamIn refused mid-upload, a 404 for
  // an upload, a body over the size limit): the connection cannot carry another request.
  const early = !req.complete;
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) {
    let head = `HTTP/1.0 ${status} ${STATUS_CODES[status] ?? `status code ${status}`}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    const bytes = Buffer.from(`${head}\r\n`, 'latin1');
    req.socket.end(req.method === 'HEAD' ? bytes : Buffer.concat([bytes, body]));
    return;
  }
  prepare(req, res, headers, early || wantsClose(req));
  if (early) {
    // Node ends such a connection with destroySoon(): FIN, then close at once, with the rest of
    // the upload still arriving; over TCP the close then resets the connection, which can
    // discard the response before the client read it (unix sockets report ECONNRESET too).
    // Half-close and drain the rest instead, as Go does (closeWriteAndWait).
    const socket = req.socket;
    socket.destroySoon = () => {
      closeAfterFlush(socket);
      // Discard the rest of the body, also when a handler had piped it somewhere (StreamIn).
      req.unpipe();
      req.resume();
      // Once the rest of the body has arrived (and been discarded) there is nothing to wait for.
      const done = () => socket.once('finish', () => socket.destroy());
      if (req.complete) done();
      else req.once('end', done);
    };
  }
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * A complete plain-route answer, independent of the transport that sends it: the front door's
 * fast path serialises it with {@link answerText}, the HTTP-server path with {@link writeAnswer}.
 */
export interface PlainAnswer {
  status: number;
  /** `json`: `application/json`, the body ends with LF. `text`: Go's `http.Error` (text/plain, nosniff). */
  kind: 'json' | 'text';
  body: string;
  /** The `Allow` header of a 405 (written first, as pat sets it before calling `http.Error`). */
  allow?: string;
}

/** A JSON answer (`body` already ends with LF). */
export function jsonAnswer(status: number, body: string): PlainAnswer {
  return { status, kind: 'json', body };
}

/**
 * The answer's header pairs in Go's order (handler headers, `Date`, `Content-Length`), without
 * `Connection`: the single definition both transports write.
 */
export function answerHeaders(a: PlainAnswer, contentLength: number, date: string): string[] {
  const headers = a.allow === undefined ? [] : ['Allow', a.allow];
  if (a.kind === 'json') headers.push('Content-Type', 'application/json');
  else headers.push('Content-Type', 'text/plain; charset=utf-8', 'X-Content-Type-Options', 'nosniff');
  headers.push('Date', date, 'Content-Length', String(contentLength));
  return headers;
}

// Status line and headers up to `Date: ` for each distinct answer shape, built once from
// answerHeaders (a handful of shapes exist: the statuses and the 405 Allow lists).
const headPrefixes = new Map<string, string>();

function headPrefix(a: PlainAnswer): string {
  const key = `${a.kind}${a.status}${a.allow ?? ''}`;
  let prefix = headPrefixes.get(key);
  if (prefix === undefined) {
    const headers = answerHeaders(a, 0, '');
    prefix = `${statusLine(a.status)}\r\n`;
    for (let i = 0; headers[i] !== 'Date'; i += 2) prefix += `${headers[i]}: ${headers[i + 1]}\r\n`;
    prefix += 'Date: ';
    if (headPrefixes.size < 256) headPrefixes.set(key, prefix);
  }
  return prefix;
}

/**
 * The whole HTTP/1.1 response to a plain request as one string (UTF-8 on the wire), exactly the
 * bytes {@link writeAnswer} makes Node write: `Connection: close` only when the client asked.
 */
export function answerText(a: PlainAnswer, close: boolean): string {
  return (
    headPrefix(a) +
    httpDate() +
    '\r\nContent-Length: ' +
    Buffer.byteLength(a.body, 'utf8') +
    (close ? '\r\nConnection: close\r\n\r\n' : '\r\n\r\n') +
    a.body
  );
}

/** Writes a complete answer through Node's `ServerResponse` (the HTTP-server path). */
export function writeAnswer(req: IncomingMessage, res: ServerResponse, a: PlainAnswer): void {
  const bytes = Buffer.from(a.body, 'utf8');
  send(req, res, a.status, answerHeaders(a, bytes.length, httpDate()), bytes);
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
 * Status of an error raised while serving a request: 404 for the two NotFound types, 400 for an
 * invalid request — found by our decoder or by the backend (`InvalidRequestError`: a handle rule,
 * a duplicate process id, limits no container can run with) — (deviation: Go answers 500), 500 for everything else.
 */
export function errorStatus(err: unknown): number {
  if (err instanceof ContainerNotFoundError || err instanceof ProcessNotFoundError) return 404;
  if (err instanceof InvalidRequestError) return 400;
  return 500;
}

/** The error envelope line for any thrown value. */
export function errorLine(err: unknown): string {
  return goJsonLine({ ...errorToEnvelope(err) });
}
