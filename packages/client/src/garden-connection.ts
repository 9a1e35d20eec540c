/**
 * What every client call shares: the server address, the plain transport, and the glue that
 * applies CallOptions and decodes bodies.
 */
import type { Readable } from 'node:stream';
import type { CallOptions, ProcessIO } from '@garden-ts/api-types';
import { callScope, withScope } from './call-options.js';
import type { GardenAddress } from './dial.js';
import { HttpTransport, type PlainRequest, readAll } from './http-transport.js';
import { type ClientProcess, type ControlRequest, startProcess } from './process.js';
import { type Decoder, decodeSuccessBody, plainErrorFromBody } from './response-decoding.js';

/** @internal Shared by ClientContainer and GardenClient. */
export class GardenConnection {
  private readonly http: HttpTransport;

  constructor(
    readonly address: GardenAddress,
    readonly connectTimeoutMs: number,
  ) {
    this.http = new HttpTransport(address, connectTimeoutMs);
  }

  /** A plain call whose 2xx body is decoded with `codec`. */
  json<T>(req: PlainRequest, codec: Decoder<T>, opts: CallOptions | undefined): Promise<T> {
    return withScope(opts, async (scope) => decodeSuccessBody(await this.http.call(req, scope), codec));
  }

  /**
   * A plain call without a result. The 2xx body must still hold a JSON value (`{}`): an empty
   * body is the error `EOF`, as for the Go client (protocol §4.3) — except StreamIn, whose body
   * the Go client never reads.
   */
  empty(req: PlainRequest, opts: CallOptions | undefined): Promise<void> {
    const ignoreBody = typeof req.body === 'object';
    return withScope(opts, async (scope) => {
      const body = await this.http.call(req, scope);
      if (!ignoreBody) decodeSuccessBody(body, anyValue);
    });
  }

  /** A plain call whose 2xx body is handed to the caller as a stream. */
  async stream(req: PlainRequest, opts: CallOptions | undefined): Promise<Readable> {
    const scope = callScope(opts);
    try {
      scope.throwIfAborted();
      const { res, release } = await this.http.open(req, scope);
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        try {
          throw plainErrorFromBody(status, await readAll(res));
        } finally {
          release();
          scope.dispose();
        }
      }
      // The scope keeps guarding the download; release it when the body is done either way.
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        release();
        scope.dispose();
        res.off('end', finish);
        res.off('close', finish);
        res.off('aborted', onAborted);
      };
      // An early server close must surface as a stream error, not as a silent short stream.
      const onAborted = () => {
        if (!res.destroyed) res.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      };
      res.once('end', finish);
      res.once('close', finish);
      res.once('aborted', onAborted);
      return res;
    } catch (err) {
      scope.dispose();
      throw err;
    }
  }

  /** Run or Attach. The scope covers the start only (see `Container.run`). */
  process(
    handle: string,
    request: ControlRequest,
    io: ProcessIO,
    opts: CallOptions | undefined,
  ): Promise<ClientProcess> {
    return withScope(opts, (scope) =>
      startProcess(
        { address: this.address, connectTimeoutMs: this.connectTimeoutMs, handle },
        request,
        io,
        scope,
      ),
    );
  }
}

const anyValue: Decoder<unknown> = { decode: (value) => value };
