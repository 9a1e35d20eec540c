/**
 * The raw-socket transport for the four hijacked routes (Run, Attach, Stdout, Stderr).
 *
 * The Go server answers these with `Transfer-Encoding: chunked` and then writes raw, unframed
 * bytes (protocol §1.4), which Node's HTTP client would try to de-chunk. So this module writes the
 * request head itself, parses the status line and headers itself, and hands the socket over with
 * every byte that followed the head (including bytes that arrived in the same packet).
 */
import type { Socket } from 'node:net';
import { GardenError, type HttpMethod } from '@garden-ts/api-types';
import type { CallScope } from './call-options.js';
import { earlyEof } from './connection-errors.js';
import type { Dialer, GardenAddress } from './dial.js';
import { rawExchange } from './raw-exchange.js';
import { decodeErrorValue, EnvelopeDecodeError } from './response-decoding.js';

/** One request on a hijacked route. */
export interface HijackRequest {
  method: HttpMethod;
  /** Already-encoded path (and query). */
  path: string;
  /** Extra headers after Host and User-Agent, in order. */
  headers?: ReadonlyArray<readonly [string, string]>;
  /** A JSON body, always sent with Content-Length (never chunked: protocol §7.2). */
  body?: string;
}

/** A successful (2xx) hijacked exchange: the socket is now a private byte stream. */
export interface HijackedConnection {
  socket: Socket;
  statusCode: number;
  /** Response headers with lower-cased names (the last value wins). */
  headers: Record<string, string>;
  /** Stream bytes that arrived together with the head; they come before any socket data. */
  leftover: Buffer;
}

/** User-Agent the Go client sends; some proxies and logs key on it. */
export const USER_AGENT = 'Go-http-client/1.1';

/** The most a response head may take before it counts as malformed. */
export const MAX_HEAD_BYTES = 64 * 1024;

/**
 * Serialises a request head (+ body) the way Go's client writes it (protocol §1.3): the hijacked
 * routes' heads, and plain calls' with their `Content-Type` and `Connection: close` as `headers`.
 */
export function formatRequest(req: HijackRequest): Buffer {
  const lines = [`${req.method} ${req.path} HTTP/1.1`, 'Host: api', `User-Agent: ${USER_AGENT}`];
  const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
  if (body) lines.push(`Content-Length: ${body.length}`);
  for (const [name, value] of req.headers ?? []) lines.push(`${name}: ${value}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return body ? Buffer.concat([head, body]) : head;
}

interface ParsedHead {
  statusCode: number;
  headers: Record<string, string>;
}

/** Parses a status line and header block (without the terminating blank line). */
export function parseResponseHead(head: string): ParsedHead {
  const lines = head.split(/\r?\n/);
  const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!status) throw new GardenError(`malformed HTTP response ${JSON.stringify(lines[0] ?? '')}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new GardenError(`malformed MIME header line: ${line}`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { statusCode: Number(status[1]), headers };
}

/** Finds the end of the head: the index just past the first blank line, or undefined. */
export function headEnd(buf: Buffer): { bodyStart: number; headLength: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf === -1 && lf === -1) return undefined;
  if (lf !== -1 && (crlf === -1 || lf < crlf)) return { headLength: lf, bodyStart: lf + 2 };
  return { headLength: crlf, bodyStart: crlf + 4 };
}

/**
 * Extracts a complete body from `buf` by the response framing, or returns undefined when more
 * bytes are needed. `ended` means the peer closed the connection (a body without framing ends there).
 */
function framedBody(buf: Buffer, headers: Record<string, string>, ended: boolean): Buffer | undefined {
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd === -1) return ended ? Buffer.concat(parts) : undefined;
      const size = Number.parseInt(buf.subarray(pos, lineEnd).toString('latin1').split(';')[0]!.trim(), 16);
      if (!Number.isFinite(size)) return Buffer.concat(parts);
      if (size === 0) return Buffer.concat(parts);
      const dataStart = lineEnd + 2;
      if (buf.length < dataStart + size + 2)
        return ended ? Buffer.concat([...parts, buf.subarray(dataStart)]) : undefined;
      parts.push(buf.subarray(dataStart, dataStart + size));
      pos = dataStart + size + 2;
    }
  }
  const length = headers['content-length'];
  if (length !== undefined) {
    const n = Number(length);
    if (buf.length >= n) return buf.subarray(0, n);
    return ended ? buf : undefined;
  }
  return ended ? buf : undefined;
}

/**
 * The error for a non-2xx hijacked response, as the Go client builds it (protocol §4.3): the
 * typed error from the envelope, or a `Backend error: …` when the body is not an envelope.
 */
export function hijackedErrorFromBody(statusCode: number, body: Buffer): Error {
  const text = body.toString('utf8');
  try {
    return decodeErrorValue(text, statusCode);
  } catch (err) {
    const reason = err instanceof EnvelopeDecodeError ? err.message : String(err);
    const error = new GardenError(
      `Backend error: Exit status: ${statusCode}, Body: ${text}, error reading response body: ${reason}`,
    );
    error.statusCode = statusCode;
    return error;
  }
}

/**
 * Performs one hijacked exchange. Resolves once a 2xx head arrived, with the socket paused;
 * rejects with the typed Garden error for a non-2xx answer (after reading its framed body and
 * closing the socket), a GardenConnectionError, or the scope's abort error (the socket is
 * destroyed in every failure case).
 */
export async function hijack(
  dialer: Dialer,
  req: HijackRequest,
  scope: CallScope,
): Promise<HijackedConnection> {
  return dialer.exchange((socket, spare) => exchange(dialer.address, socket, spare, req, scope));
}

function exchange(
  address: GardenAddress,
  socket: Socket,
  spare: boolean,
  req: HijackRequest,
  scope: CallScope,
): Promise<HijackedConnection> {
  let head: ParsedHead | undefined;
  let bodyStart = 0;
  return rawExchange(address, socket, spare, formatRequest(req), scope, {
    closedEarly: () => earlyEof(address, `before the response head of ${req.method} ${req.path}`),
    read(buf, ended) {
      if (!head) {
        const end = headEnd(buf);
        if (!end) {
          if (buf.length > MAX_HEAD_BYTES)
            throw new GardenError('malformed HTTP response: header block too large');
          return undefined;
        }
        head = parseResponseHead(buf.subarray(0, end.headLength).toString('latin1'));
        bodyStart = end.bodyStart;
        if (head.statusCode >= 200 && head.statusCode <= 299) {
          const { statusCode, headers } = head;
          return { result: { socket, statusCode, headers, leftover: buf.subarray(bodyStart) }, keep: true };
        }
      }
      // An error answer: its framed body (whatever came, once the server closed).
      const body = framedBody(buf.subarray(bodyStart), head.headers, ended);
      if (body === undefined) return undefined;
      throw hijackedErrorFromBody(head.statusCode, body);
    },
  });
}
