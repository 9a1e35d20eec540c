/**
 * A whole plain exchange over the raw socket, for requests without a stream body: the Go
 * client's request bytes (protocol §1.3, the same head the node:http path writes), then the
 * response head and its framed body (Content-Length, chunked, or up to the server's close).
 *
 * Hand-written for a measured hot path: node:http costs ~80 µs more CPU per request (its
 * ClientRequest, IncomingMessage and stream machinery), paid twice per container lifecycle
 * (create, destroy). The failures are those of the node:http path: a GardenConnectionError
 * naming the server, with transport code ECONNRESET for a connection lost before the whole
 * answer, and an `HPE_*` code for malformed HTTP.
 */
import type { Socket } from 'node:net';
import type { HttpMethod } from '@garden-ts/api-types';
import type { CallScope } from './call-options.js';
import { connectionError } from './connection-errors.js';
import type { Dialer } from './dial.js';
import { formatRequest, headEnd, MAX_HEAD_BYTES, parseResponseHead } from './hijack-transport.js';
import { rawExchange } from './raw-exchange.js';

/** A plain request with a JSON body (or none). */
export interface PlainCallRequest {
  method: HttpMethod;
  /** Already-encoded path and query. */
  path: string;
  body?: string;
}

/** The answer: its status and whole body. */
export interface PlainAnswer {
  statusCode: number;
  body: Buffer;
}

/** An HTTP parse failure, coded as node's parser codes them. */
function parseError(code: string, detail: string): Error {
  return Object.assign(new Error(`Parse Error: ${detail}`), { code });
}

/** What node reports for a connection that ended before (or during) the answer. */
const hangUp = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
const cutShort = () => Object.assign(new Error('aborted'), { code: 'ECONNRESET' });

/**
 * The body in `buf` by the response framing: the body once complete, undefined while more is
 * needed. @throws a parse error for a malformed chunk size or Content-Length.
 */
function completeBody(
  buf: Buffer,
  statusCode: number,
  headers: Record<string, string>,
  ended: boolean,
): Buffer | undefined {
  if (statusCode === 204 || statusCode === 304) return Buffer.alloc(0);
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd === -1) return undefined;
      const sizeText = buf.subarray(pos, lineEnd).toString('latin1').split(';')[0]?.trim() ?? '';
      if (!/^[0-9a-fA-F]+$/.test(sizeText))
        throw parseError('HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size');
      const size = Number.parseInt(sizeText, 16);
      const dataStart = lineEnd + 2;
      if (size === 0) {
        // The last chunk, then trailers (none from Garden servers) up to a blank line.
        const rest = buf.subarray(dataStart);
        const over = rest.subarray(0, 2).toString('latin1') === '\r\n' || rest.includes('\r\n\r\n');
        return over || ended ? Buffer.concat(parts) : undefined;
      }
      if (buf.length < dataStart + size + 2) return undefined;
      parts.push(buf.subarray(dataStart, dataStart + size));
      pos = dataStart + size + 2;
    }
  }
  const length = headers['content-length'];
  if (length !== undefined) {
    if (!/^\d+$/.test(length))
      throw parseError('HPE_INVALID_CONTENT_LENGTH', 'Invalid character in Content-Length');
    const n = Number(length);
    return buf.length >= n ? buf.subarray(0, n) : undefined;
  }
  // No framing: the body ends with the connection.
  return ended ? buf : undefined;
}

/**
 * Sends `req` on a connection of `dialer` (its spare when it has one) and reads the whole answer.
 * @throws GardenConnectionError when the server cannot be reached, the connection breaks before
 *   the whole answer, or the answer is not HTTP; the scope's abort error.
 */
export function plainCall(dialer: Dialer, req: PlainCallRequest, scope: CallScope): Promise<PlainAnswer> {
  return dialer.exchange((socket, spare) => exchange(dialer, socket, spare, req, scope));
}

function exchange(
  dialer: Dialer,
  socket: Socket,
  spare: boolean,
  req: PlainCallRequest,
  scope: CallScope,
): Promise<PlainAnswer> {
  const address = dialer.address;
  // Where the answer being read starts (past any interim 1xx answers), its head, its body.
  let start = 0;
  let head: { statusCode: number; headers: Record<string, string> } | undefined;
  let bodyStart = 0;
  const headers: [string, string][] =
    req.body === undefined
      ? [['Connection', 'close']]
      : [
          ['Content-Type', 'application/json'],
          ['Connection', 'close'],
        ];
  const request = formatRequest({ method: req.method, path: req.path, body: req.body, headers });
  return rawExchange(address, socket, spare, request, scope, {
    closedEarly: () => connectionError(address, hangUp()),
    read(buf, ended) {
      while (!head) {
        const rest = buf.subarray(start);
        const end = headEnd(rest);
        if (!end) {
          if (rest.length > MAX_HEAD_BYTES)
            throw connectionError(address, parseError('HPE_HEADER_OVERFLOW', 'Header overflow'));
          return undefined;
        }
        let parsed: { statusCode: number; headers: Record<string, string> };
        try {
          parsed = parseResponseHead(rest.subarray(0, end.headLength).toString('latin1'));
        } catch (err) {
          throw connectionError(address, parseError('HPE_INVALID_CONSTANT', (err as Error).message));
        }
        // An interim answer (100 Continue): the real one follows.
        if (parsed.statusCode >= 200) {
          head = parsed;
          bodyStart = start + end.bodyStart;
        }
        start += end.bodyStart;
      }
      let body: Buffer | undefined;
      try {
        body = completeBody(buf.subarray(bodyStart), head.statusCode, head.headers, ended);
      } catch (err) {
        throw connectionError(address, err);
      }
      if (body === undefined) {
        if (ended) throw connectionError(address, cutShort());
        return undefined;
      }
      return { result: { statusCode: head.statusCode, body }, keep: false };
    },
  });
}
