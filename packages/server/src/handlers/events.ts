/**
 * `GET /events` (a garden-ts extension): the server's event hub as NDJSON, one `Wire.event` line
 * per event, on a chunked response that stays open until the client goes away or the server
 * stops. The subscription is active before the head is sent, so a client that has the head sees
 * every later event. A client that reads too slowly is written to with backpressure; the hub
 * buffers for it and, beyond its bound, tells it with an `events.dropped` line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeBody, Wire } from '@garden-ts/api-types';
import { writeStreamHead } from '../http/responses.js';
import type { ServerContext } from '../server-context.js';

export async function serveEvents(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.once('close', onClose);
  const stopping = () => gone.abort();
  ctx.stopping.addEventListener('abort', stopping, { once: true });
  const subscription = ctx.events.events({ signal: gone.signal });
  try {
    writeStreamHead(req, res, 200, 'application/x-ndjson');
    res.flushHeaders();
    // Counted at the head: the response may stay open for days (no latency is observed).
    ctx.metrics?.request('Events', 'http', 200, undefined);
    for await (const event of subscription) {
      if (!res.write(encodeBody(Wire.event, event))) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            gone.signal.removeEventListener('abort', done);
            resolve();
          };
          res.once('drain', done);
          gone.signal.addEventListener('abort', done, { once: true });
        });
      }
    }
  } finally {
    subscription.close();
    res.off('close', onClose);
    ctx.stopping.removeEventListener('abort', stopping);
    if (!res.destroyed) res.end();
  }
}
