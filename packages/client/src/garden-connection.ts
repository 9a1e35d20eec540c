/**
 * What every client call shares: the server address, the plain transport, and the glue that
 * applies CallOptions and decodes bodies.
 */
import type { Readable } from 'node:stream';
import {
  type CallOptions,
  type EventsOptions,
  encodeBody,
  type GardenEventStream,
  type ProcessIO,
  ROUTES,
  type RouteName,
  type RouteOf,
  type RouteParams,
  type RouteRequestInput,
  type RouteResponseOutput,
  type WireCodec,
} from '@garden-ts/api-types';
import { callScope, withScope } from './call-options.js';
import { connectionError } from './connection-errors.js';
import { Dialer, type GardenAddress } from './dial.js';
import { ClientEventStream } from './events.js';
import { HttpTransport, type PlainRequest, readAll } from './http-transport.js';
import { type ClientProcess, type ControlRequest, startProcess } from './process.js';
import { type Decoder, decodeSuccessBody, plainErrorFromBody } from './response-decoding.js';
import { routeTarget } from './route-target.js';

/** The routes answered with one JSON value for an optional JSON body (protocol §6). */
export type JsonRouteName = Extract<
  RouteOf<RouteName>,
  { kind: 'plain'; response: { type: 'json' } }
>['name'];

/** @internal Shared by ClientContainer and GardenClient. */
export class GardenConnection {
  private readonly http: HttpTransport;
  readonly dialer: Dialer;

  constructor(
    readonly address: GardenAddress,
    readonly connectTimeoutMs: number,
  ) {
    this.dialer = new Dialer(address, connectTimeoutMs);
    this.http = new HttpTransport(this.dialer);
  }

  /**
   * Calls a plain route as the route table describes it: the target from its path (and `query`),
   * the body encoded with its request codec, the 2xx body decoded with its response codec (an
   * empty body is the error `EOF`, as for the Go client: protocol §4.3).
   */
  call<N extends JsonRouteName>(
    name: N,
    params: RouteParams<N>,
    body: RouteRequestInput<N>,
    opts: CallOptions | undefined,
    query?: Record<string, string>,
  ): Promise<RouteResponseOutput<N>> {
    const route: RouteOf<JsonRouteName> = ROUTES[name];
    // The table ties each name to its codecs; the compiler sees the union of every route's.
    const response = route.response.codec as Decoder<unknown> as Decoder<RouteResponseOutput<N>>;
    return withScope(opts, async (scope) => {
      const req: PlainRequest = { method: route.method, path: routeTarget(name, params, query) };
      if (route.request.type === 'json') {
        req.body = encodeBody(route.request.codec as WireCodec<RouteRequestInput<N>, unknown, unknown>, body);
      }
      return decodeSuccessBody(await this.http.call(req, scope), response);
    });
  }

  /**
   * StreamIn: uploads `tar` (chunked). The 2xx body is not read, as by the Go client.
   */
  upload(
    params: RouteParams<'StreamIn'>,
    query: Record<string, string>,
    tar: Readable,
    opts: CallOptions | undefined,
  ): Promise<void> {
    return withScope(opts, async (scope) => {
      await this.http.call(
        {
          method: ROUTES.StreamIn.method,
          path: routeTarget('StreamIn', params, query),
          body: tar,
          contentType: 'application/x-tar',
        },
        scope,
      );
    });
  }

  /** StreamOut: the 2xx body handed to the caller as a stream. */
  async download(
    params: RouteParams<'StreamOut'>,
    query: Record<string, string>,
    opts: CallOptions | undefined,
  ): Promise<Readable> {
    const req: PlainRequest = {
      method: ROUTES.StreamOut.method,
      path: routeTarget('StreamOut', params, query),
    };
    const scope = callScope(opts);
    try {
      scope.throwIfAborted();
      const { res, release } = await this.http.open(req, scope);
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        try {
          const body = await readAll(res).catch((err: unknown) => {
            throw connectionError(this.address, err);
          });
          throw plainErrorFromBody(status, body);
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
        const lost = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
        if (!res.destroyed) res.destroy(connectionError(this.address, lost, 'during the download'));
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

  /** The Events route as an async iterator (see events.ts). */
  events(opts: EventsOptions | undefined): GardenEventStream {
    return new ClientEventStream(this.http, this.address, opts);
  }

  /** Run or Attach. The scope covers the start only (see `Container.run`). */
  process(
    handle: string,
    request: ControlRequest,
    io: ProcessIO,
    opts: CallOptions | undefined,
  ): Promise<ClientProcess> {
    return withScope(opts, (scope) =>
      startProcess({ address: this.address, dialer: this.dialer, handle }, request, io, scope),
    );
  }
}
