/**
 * The transport for plain (non-hijacked) routes: node:http with one fresh connection per request
 * and `Connection: close`, exactly the Go client's connection model (protocol §1.2); the
 * connection is one the Dialer made ahead when it has one.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { HttpMethod } from '@garden-ts/api-types';
import type { CallScope } from './call-options.js';
import { connectionError } from './connection-errors.js';
import { type Dialer, type GardenAddress, SPARE_CLOSED, spareClosedEarly } from './dial.js';
import { USER_AGENT } from './hijack-transport.js';
import { plainCall } from './plain-call.js';
import { plainErrorFromBody } from './response-decoding.js';

/** One plain request. */
export interface PlainRequest {
  method: HttpMethod;
  /** Already-encoded path and query. */
  path: string;
  /** A JSON text (sent with Content-Length and `application/json`) or a stream (sent chunked). */
  body?: string | Readable;
  /** Content-Type for a stream body. */
  contentType?: string;
}

/** Sends plain requests to one Garden address. */
export class HttpTransport {
  constructor(private readonly dialer: Dialer) {}

  private get address(): GardenAddress {
    return this.dialer.address;
  }

  /**
   * Sends `req` and resolves with the response once its head arrived. Until the returned
   * `release()` is called, an abort of `scope` destroys the response (with the abort error).
   * @throws GardenConnectionError when the server cannot be reached or the connection breaks
   *   before the head; a stream body's own error; the scope's abort error.
   */
  async open(req: PlainRequest, scope: CallScope): Promise<{ res: IncomingMessage; release: () => void }> {
    // A stream body cannot be sent twice: it gets a new connection, never a spare.
    return this.dialer.exchange(
      (socket, spare) => this.exchange(req, scope, socket, spare),
      typeof req.body === 'object',
    );
  }

  private exchange(
    req: PlainRequest,
    scope: CallScope,
    socket: Socket,
    spare: boolean,
  ): Promise<{ res: IncomingMessage; release: () => void }> {
    return new Promise((resolve, reject) => {
      const headers: OutgoingHttpHeaders = { Host: 'api', 'User-Agent': USER_AGENT };
      let json: Buffer | undefined;
      if (typeof req.body === 'string') {
        json = Buffer.from(req.body, 'utf8');
        headers['Content-Length'] = json.length;
        headers['Content-Type'] = 'application/json';
      } else if (req.body) {
        headers['Transfer-Encoding'] = 'chunked';
        if (req.contentType) headers['Content-Type'] = req.contentType;
      }
      headers.Connection = 'close';

      let settled = false;
      let response: IncomingMessage | undefined;
      let bodyError: Error | undefined;
      const clientRequest = httpRequest({
        method: req.method,
        path: req.path,
        headers,
        setHost: false,
        createConnection: () => socket,
      });
      const removeAbort = scope.onAbort((err) => {
        response?.destroy(err);
        clientRequest.destroy(err);
        if (!settled) {
          settled = true;
          reject(err);
        }
      });
      clientRequest.once('response', (res: IncomingMessage) => {
        response = res;
        if (settled) return void res.destroy();
        settled = true;
        resolve({ res, release: removeAbort });
      });
      clientRequest.on('error', (err) => {
        if (settled) return;
        settled = true;
        removeAbort();
        // Not one byte of an answer: the server closed the spare without reading the request.
        if (spare && socket.bytesRead === 0 && spareClosedEarly(err)) return reject(SPARE_CLOSED);
        reject(err === bodyError ? err : connectionError(this.address, err));
      });
      if (json) clientRequest.end(json);
      else if (req.body && typeof req.body !== 'string') {
        const body = req.body;
        // A failing tar stream aborts the upload with its own error (reported by 'error' above).
        // The listener stays: an error of the source after the upload (or the answer) changes
        // nothing, and must not become an uncaught exception in the caller's process.
        let over = false;
        const onBodyError = (err: Error) => {
          if (over) return;
          bodyError = err;
          clientRequest.destroy(err);
        };
        body.on('error', onBodyError);
        body.once('end', () => {
          over = true;
        });
        clientRequest.once('close', () => {
          over = true;
          body.unpipe(clientRequest);
          // The upload is over (answered early, aborted or failed): release the caller's source.
          if (!body.readableEnded) body.destroy();
        });
        body.pipe(clientRequest);
      } else clientRequest.end();
    });
  }

  /**
   * Sends `req` and reads the whole response body.
   * @throws the typed Garden error for a non-2xx status; a GardenConnectionError or the abort
   *   error otherwise.
   */
  async call(req: PlainRequest, scope: CallScope): Promise<Buffer> {
    if (typeof req.body !== 'object') {
      // No stream to send: the whole exchange on the raw socket (plain-call.ts).
      const answer = await plainCall(
        this.dialer,
        { method: req.method, path: req.path, body: req.body },
        scope,
      );
      if (answer.statusCode < 200 || answer.statusCode > 299)
        throw plainErrorFromBody(answer.statusCode, answer.body);
      return answer.body;
    }
    const { res, release } = await this.open(req, scope);
    try {
      const body = await readAll(res).catch((err: unknown) => {
        throw connectionError(this.address, err);
      });
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) throw plainErrorFromBody(status, body);
      return body;
    } finally {
      release();
    }
  }
}

/** Reads a response to its end; rejects if the connection breaks first. */
export function readAll(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => chunks.push(chunk);
    const done = (err?: Error) => {
      res.off('data', onData);
      res.off('end', onEnd);
      res.off('error', onError);
      res.off('aborted', onAborted);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(err);
    const onAborted = () => done(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    res.on('data', onData);
    res.once('end', onEnd);
    res.once('error', onError);
    res.once('aborted', onAborted);
  });
}
