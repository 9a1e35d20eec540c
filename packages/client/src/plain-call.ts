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
import { type Dialer, SPARE_CLOSED, spareClosedEarly } from './dial.js';
import { formatHijackRequest, headEnd, MAX_HEAD_BYTES, parseResponseHead } from './hijack-transport.js';

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
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let head: { statusCode: number; headers: Record<string, string> } | undefined;
    let bodyStart = 0;
    let settled = false;

    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onClose);
      removeAbort();
    };
    const fail = (err: Error | typeof SPARE_CLOSED) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    };
    // Nothing of an answer yet on a spare: the server closed it without reading our request.
    const spareGone = (err?: unknown) =>
      spare && !head && buf.length === 0 && (err === undefined || spareClosedEarly(err));
    const finish = (ended: boolean) => {
      if (!head || settled) return;
      let body: Buffer | undefined;
      try {
        body = completeBody(buf.subarray(bodyStart), head.statusCode, head.headers, ended);
      } catch (err) {
        return fail(connectionError(address, err));
      }
      if (body === undefined) {
        if (ended) fail(connectionError(address, cutShort()));
        return;
      }
      settled = true;
      cleanup();
      socket.destroy();
      resolve({ statusCode: head.statusCode, body });
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (!head) {
        const end = headEnd(buf);
        if (!end) {
          if (buf.length > MAX_HEAD_BYTES)
            fail(connectionError(address, parseError('HPE_HEADER_OVERFLOW', 'Header overflow')));
          return;
        }
        try {
          head = parseResponseHead(buf.subarray(0, end.headLength).toString('latin1'));
        } catch (err) {
          return fail(connectionError(address, parseError('HPE_INVALID_CONSTANT', (err as Error).message)));
        }
        bodyStart = end.bodyStart;
        if (head.statusCode < 200) {
          // An interim answer (100 Continue): the real one follows.
          buf = buf.subarray(bodyStart);
          head = undefined;
          if (buf.length > 0) onData(Buffer.alloc(0));
          return;
        }
      }
      finish(false);
    };
    const onEnd = () =>
      head ? finish(true) : fail(spareGone() ? SPARE_CLOSED : connectionError(address, hangUp()));
    const onClose = () =>
      head ? finish(true) : fail(spareGone() ? SPARE_CLOSED : connectionError(address, hangUp()));
    const onError = (err: Error) => fail(spareGone(err) ? SPARE_CLOSED : connectionError(address, err));
    const removeAbort = scope.onAbort((err) => fail(err));

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    const headers: [string, string][] =
      req.body === undefined
        ? [['Connection', 'close']]
        : [
            ['Content-Type', 'application/json'],
            ['Connection', 'close'],
          ];
    const send = () => {
      if (!settled)
        socket.write(formatHijackRequest({ method: req.method, path: req.path, body: req.body, headers }));
    };
    // A spare is connected already.
    if (socket.connecting) socket.once('connect', send);
    else send();
  });
}
