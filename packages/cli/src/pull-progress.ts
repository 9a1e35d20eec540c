/**
 * `gaol create`'s image pull display: while the create runs, the server's `image.progress` events
 * for it — by handle when `-n` named one, else by image URI (concurrent creates of one image share
 * one pull, so its progress is this create's too) — drawn as one line on stderr, erased when the
 * create returns. Only on a terminal, and only for URIs that can pull; a server without
 * `GET /events` (the canonical Go server, Guardian) simply gets no display.
 */
import type { GardenClient } from '@garden-ts/client';
import { progressLine } from './progress.js';

type TerminalLike = { columns?: number; write(text: string): unknown };

/** Whether a create from `uri` may pull (a scheme other than `raw://`; directories never do). */
export function mayPull(uri: string | undefined): uri is string {
  return uri !== undefined && /^[a-z][a-z0-9+.-]*:/i.test(uri) && !uri.startsWith('raw://');
}

/** Runs `work` (the create), drawing the pull of `image` (for `handle` when known) meanwhile. */
export async function withPullProgress<T>(
  client: GardenClient,
  stream: TerminalLike,
  want: { image: string; handle?: string },
  work: () => Promise<T>,
): Promise<T> {
  const stop = new AbortController();
  const events = client.events({ signal: stop.signal });
  try {
    await events.ready;
  } catch {
    // No events route (a Go server): the create goes on without a display.
    events.close();
    return work();
  }
  let drawn = false;
  const reading = (async () => {
    try {
      for await (const e of events) {
        if (e.type !== 'image.progress') continue;
        if (want.handle !== undefined ? e.handle !== want.handle : e.image !== want.image) continue;
        const label = `Pulling ${e.image} (${e.layersDone}/${e.layersTotal} layers)`;
        const total = e.totalBytes > 0 ? e.totalBytes : undefined;
        stream.write(`\r\x1b[2K${progressLine(label, e.bytes, total, stream.columns ?? 80)}`);
        drawn = true;
      }
    } catch {
      // The display is a courtesy: a broken event stream must not fail the create, which reports
      // its own errors.
    }
  })();
  try {
    return await work();
  } finally {
    stop.abort();
    await reading;
    if (drawn) stream.write('\r\x1b[2K');
  }
}
