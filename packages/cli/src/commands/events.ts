/**
 * `gaol events [HANDLE...] [--type TYPE]... [--json]`: the server's lifecycle events
 * (`GET /events`, a garden-ts extension) as they happen, until Ctrl-C.
 *
 * The route has no filters, so HANDLE and `--type` filter here, on the client; `events.dropped`
 * (this reader fell behind and lost events) always passes, whatever the filters. Ctrl-C (SIGINT),
 * SIGTERM and SIGHUP end the stream and gaol exits with 128 + N, as a program they interrupt
 * does in a shell (130 for Ctrl-C); the server ending the stream (it is stopping) is exit 0 with
 * a line on stderr; a broken connection is 125.
 */
import { GARDEN_EVENT_TYPES, type GardenEvent, stringifyJson } from '@garden-ts/client';
import type { CommandContext } from '../context.js';
import { CliError, ExitCode, UsageError } from '../errors.js';

/** The exit code of each signal that ends the stream: 128 + its number. */
const SIGNAL_EXIT = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
type EndSignal = keyof typeof SIGNAL_EXIT;

/** The width of the type column: the longest known type. */
const TYPE_WIDTH = Math.max(...GARDEN_EVENT_TYPES.map((t) => t.length));

/**
 * `--type` values → a predicate on the type. A value is a type (`process.exited`) or its group
 * (`container`: every `container.*`); anything else is refused, naming the known types.
 */
export function typeFilter(values: readonly string[]): (type: string) => boolean {
  if (values.length === 0) return () => true;
  const groups = new Set(GARDEN_EVENT_TYPES.map((t) => t.slice(0, t.indexOf('.'))));
  for (const v of values) {
    if (!(GARDEN_EVENT_TYPES as readonly string[]).includes(v) && !groups.has(v)) {
      throw new UsageError(
        `--type: unknown event type "${v}" (one of ${GARDEN_EVENT_TYPES.join(', ')}, or a group: ${[...groups].join(', ')})`,
      );
    }
  }
  const wanted = new Set(values);
  return (type) => wanted.has(type) || wanted.has(type.slice(0, type.indexOf('.')));
}

/** One event as a line for people: time, type, handle and what else it carries. */
export function eventLine(event: GardenEvent): string {
  const cells = [event.time, event.type.padEnd(TYPE_WIDTH)];
  switch (event.type) {
    case 'process.exited':
      cells.push(event.handle, `process=${event.processId}`, `exit=${event.exitStatus}`);
      break;
    case 'events.dropped':
      cells.push(`count=${event.count} (gaol read too slowly; these events were lost)`);
      break;
    case 'image.progress':
      cells.push(
        event.handle,
        `image=${event.image}`,
        `phase=${event.phase}`,
        `layers=${event.layersDone}/${event.layersTotal}`,
        `bytes=${event.bytes}/${event.totalBytes}`,
      );
      break;
    default: {
      // The container events, and types newer than this gaol (whatever fields they carry).
      const { time: _time, type: _type, handle, ...rest } = event as unknown as Record<string, unknown>;
      if (typeof handle === 'string') cells.push(handle);
      for (const [k, v] of Object.entries(rest)) cells.push(`${k}=${String(v)}`);
    }
  }
  return cells.join('  ').trimEnd();
}

export async function events(ctx: CommandContext): Promise<number> {
  const handles = new Set(ctx.args.positionals);
  const typeWanted = typeFilter(ctx.list('type'));
  const wanted = (e: GardenEvent) =>
    e.type === 'events.dropped' ||
    (typeWanted(e.type) && (handles.size === 0 || ('handle' in e && handles.has(e.handle))));

  const client = await ctx.client();
  const stop = new AbortController();
  let ended: EndSignal | undefined;
  const listeners = (Object.keys(SIGNAL_EXIT) as EndSignal[]).map((name) => {
    const listener = () => {
      ended ??= name;
      stop.abort();
    };
    ctx.io.signals.on(name, listener);
    return [name, listener] as const;
  });
  const stream = client.events({ signal: stop.signal });
  try {
    try {
      await stream.ready;
    } catch (err) {
      if ((err as { statusCode?: unknown }).statusCode === 404) {
        throw new CliError(
          `the server at ${ctx.target.display} has no event stream (GET /events is a garden-ts extension; Guardian and the Go server do not serve it)`,
          ExitCode.Failure,
          { cause: err },
        );
      }
      throw err;
    }
    // On a terminal, say that the subscription is live (nothing after this line is missed).
    if (ctx.io.stderr.isTTY && ended === undefined) {
      ctx.warn(`watching events on ${ctx.target.display} (Ctrl-C to stop)`);
    }
    for await (const event of stream) {
      if (!wanted(event)) continue;
      ctx.print(ctx.json ? stringifyJson(event) : eventLine(event));
    }
  } catch (err) {
    // A signal closes the stream; whatever that interrupted is no failure.
    if (ended === undefined) throw err;
  } finally {
    for (const [name, listener] of listeners) ctx.io.signals.off(name, listener);
    stream.close();
  }
  if (ended !== undefined) return SIGNAL_EXIT[ended];
  ctx.warn('the server ended the event stream (it is stopping)');
  return ExitCode.Ok;
}
