/**
 * Lifecycle events (a garden-ts extension; Garden has none): what happened to containers and
 * processes, as a stream a client, a server or a backend can subscribe to.
 *
 * - The **server** publishes what it decides: `container.created`, `container.destroyed` (after a
 *   Destroy or a grace-time reap) and `container.reaped` (the grace time expired; followed by
 *   `container.destroyed` once the backend has destroyed it).
 * - A **backend** publishes what only it knows, through the optional `Backend.events()`:
 *   `process.exited` (with the exit status), `container.oom` (the kernel's OOM killer fired in
 *   the container) and `image.progress` (a create is pulling its image: layers and bytes so far;
 *   rate-limited by the backend, ending with a `done` phase). The server forwards them.
 * - `events.dropped` is written to one subscriber that did not keep up: it lost `count` events
 *   (each subscriber buffers at most {@link DEFAULT_EVENT_BUFFER} undelivered events).
 *
 * On the wire (`GET /events`) each event is one JSON line with Garden-style snake_case keys
 * (`Wire.event`). New event types may be added: consumers must ignore types they do not know.
 */
import type { GARDEN_EVENT_TYPES } from './schemas.js';

/** The kinds of event. */
export type GardenEventType = (typeof GARDEN_EVENT_TYPES)[number];

interface EventBase {
  /** When it happened: RFC 3339, UTC, milliseconds (`2025-01-02T03:04:05.678Z`). */
  time: string;
}

/** Where a create's image pull is (`image.progress`). */
export interface ImageProgressFields {
  /** The image URI as the create named it. */
  image: string;
  /** `resolving` (manifest), `downloading` (a layer's bytes), `layer-done`, `done` (all layers in the store). */
  phase: 'resolving' | 'downloading' | 'layer-done' | 'done';
  /** The layer this event is about (its blob digest), for `downloading` and `layer-done`. */
  layer?: string;
  /** Bytes of that layer read so far, and its size when known. */
  layerBytes?: number;
  layerSize?: number;
  /** Layers complete (downloaded now or already in the store) and in the image. */
  layersDone: number;
  layersTotal: number;
  /** Bytes read for the whole pull so far, and the sum of the sizes of the layers to fetch. */
  bytes: number;
  totalBytes: number;
}

/** A lifecycle event. */
export type GardenEvent =
  | (EventBase & { type: 'container.created'; handle: string })
  | (EventBase & { type: 'container.destroyed'; handle: string })
  | (EventBase & { type: 'container.reaped'; handle: string })
  | (EventBase & { type: 'container.oom'; handle: string })
  | (EventBase & { type: 'process.exited'; handle: string; processId: string; exitStatus: number })
  | (EventBase & ImageProgressFields & { type: 'image.progress'; handle: string })
  | (EventBase & { type: 'events.dropped'; count: number });

/** Options of an `events()` subscription. */
export interface EventsOptions {
  /** Ends the subscription (the iterator finishes without an error). */
  signal?: AbortSignal;
}

/**
 * A subscription: an async iterator of events, from the moment it is active until it is closed.
 * `for await (const event of source.events({ signal }))` is the usual way to read it.
 */
export interface GardenEventStream extends AsyncIterableIterator<GardenEvent> {
  /**
   * Resolves once the subscription is active: every event published after that is delivered.
   * Rejects when it cannot start (e.g. the server cannot be reached); the iterator then throws
   * the same error.
   */
  readonly ready: Promise<void>;
  /** Ends the subscription; pending and later `next()` calls finish (`done: true`). Idempotent. */
  close(): void;
}

/** Something that streams lifecycle events: the client, the server's event hub, a backend. */
export interface EventSource {
  events(opts?: EventsOptions): GardenEventStream;
}

/** Undelivered events one subscriber may hold before it starts losing them. */
export const DEFAULT_EVENT_BUFFER = 10_000;

/** An event without its time (the publisher stamps it). */
export type GardenEventInit = WithoutTime<GardenEvent>;
type WithoutTime<E> = E extends GardenEvent ? Omit<E, 'time'> & { time?: string } : never;

/**
 * An in-memory fan-out of events to any number of subscribers, each with its own bounded buffer:
 * what backends and the server use to implement `events()`. Publishing never blocks and never
 * throws; a subscriber that falls {@link DEFAULT_EVENT_BUFFER} events behind loses the oldest and
 * is told how many with an `events.dropped` event.
 */
export class EventHub implements EventSource {
  private readonly subscribers = new Set<Subscription>();

  constructor(private readonly bufferLimit = DEFAULT_EVENT_BUFFER) {}

  /** Number of active subscriptions. */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Delivers `event` (stamped with the current time unless it has one) to every subscriber. */
  publish(event: GardenEventInit): void {
    if (this.subscribers.size === 0) return;
    const stamped = (
      event.time === undefined ? { ...event, time: new Date().toISOString() } : event
    ) as GardenEvent;
    for (const s of this.subscribers) s.push(stamped);
  }

  /** A new subscription, active at once (`ready` is already resolved). */
  events(opts: EventsOptions = {}): GardenEventStream {
    const sub = new Subscription(this.bufferLimit, () => this.subscribers.delete(sub));
    if (opts.signal?.aborted) {
      sub.close();
      return sub;
    }
    this.subscribers.add(sub);
    opts.signal?.addEventListener('abort', () => sub.close(), { once: true });
    return sub;
  }

  /** Ends every subscription. */
  closeAll(): void {
    for (const s of [...this.subscribers]) s.close();
  }
}

/** One subscriber of an {@link EventHub}. */
class Subscription implements GardenEventStream {
  readonly ready = Promise.resolve();
  private readonly queue: GardenEvent[] = [];
  private head = 0;
  private dropped = 0;
  private closed = false;
  private waiter: ((r: IteratorResult<GardenEvent>) => void) | undefined;

  constructor(
    private readonly limit: number,
    private readonly release: () => void,
  ) {}

  push(event: GardenEvent): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: event, done: false });
      return;
    }
    if (this.queue.length - this.head >= this.limit) {
      this.head++;
      this.dropped++;
    }
    this.queue.push(event);
  }

  next(): Promise<IteratorResult<GardenEvent>> {
    if (this.dropped > 0) {
      const count = this.dropped;
      this.dropped = 0;
      return Promise.resolve({
        value: { type: 'events.dropped', time: new Date().toISOString(), count },
        done: false,
      });
    }
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<GardenEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.head = 0;
    this.dropped = 0;
    this.release();
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
