/**
 * `client.events({ signal })`: the server's `GET /events` NDJSON stream (a garden-ts extension)
 * as an async iterator of typed events. The request is sent at once; `ready` resolves when the
 * server has answered with the head, i.e. the subscription is active.
 */
import type { IncomingMessage } from 'node:http';
import {
  decodeBody,
  type EventsOptions,
  type GardenEvent,
  type GardenEventStream,
  ROUTES,
  Wire,
} from '@garden-ts/api-types';
import { callScope } from './call-options.js';
import { connectionError } from './connection-errors.js';
import type { GardenAddress } from './dial.js';
import { type HttpTransport, readAll } from './http-transport.js';
import { plainErrorFromBody } from './response-decoding.js';
import { routeTarget } from './route-target.js';

/** @internal The {@link GardenEventStream} of a client. */
export class ClientEventStream implements GardenEventStream {
  readonly ready: Promise<void>;
  private readonly closer = new AbortController();
  private readonly response: Promise<IncomingMessage>;
  private readonly lines: AsyncGenerator<GardenEvent, undefined>;
  private closed = false;

  constructor(http: HttpTransport, address: GardenAddress, opts: EventsOptions = {}) {
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.closer.signal]) : this.closer.signal;
    signal.addEventListener('abort', () => this.close(), { once: true });
    this.response = (async () => {
      const scope = callScope({ signal });
      try {
        scope.throwIfAborted();
        const { res, release } = await http.open(
          { method: ROUTES.Events.method, path: routeTarget('Events', {}) },
          scope,
        );
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          const body = await readAll(res).catch((err: unknown) => {
            throw connectionError(address, err);
          });
          release();
          throw plainErrorFromBody(status, body);
        }
        release();
        if (this.closed) res.destroy();
        return res;
      } finally {
        scope.dispose();
      }
    })();
    this.ready = this.response.then(() => undefined);
    this.ready.catch(() => {}); // the iterator reports the same error
    this.lines = this.read(address);
  }

  private async *read(address: GardenAddress): AsyncGenerator<GardenEvent, undefined> {
    let res: IncomingMessage;
    try {
      res = await this.response;
    } catch (err) {
      if (this.closed) return undefined;
      throw err;
    }
    let pending = '';
    try {
      res.setEncoding('utf8');
      for await (const chunk of res as AsyncIterable<string>) {
        pending += chunk;
        let nl = pending.indexOf('\n');
        while (nl !== -1) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.trim() !== '') yield decodeBody(Wire.event, line) as GardenEvent;
          nl = pending.indexOf('\n');
        }
      }
    } catch (err) {
      if (this.closed) return undefined;
      throw connectionError(address, err, 'while streaming events');
    } finally {
      res.destroy();
    }
    return undefined;
  }

  next(): Promise<IteratorResult<GardenEvent>> {
    return this.lines.next();
  }

  async return(): Promise<IteratorResult<GardenEvent>> {
    this.close();
    await this.lines.return(undefined);
    return { value: undefined, done: true };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closer.abort();
    this.response.then(
      (res) => res.destroy(),
      () => {},
    );
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
