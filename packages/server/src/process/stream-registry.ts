/**
 * The server's streamer (Go `server/streamer`): the stream ids of Run/Attach invocations, counting
 * up from 1 across Run and Attach, each naming `{ container, processId }`. Unlike Go's streamer it
 * does not queue output for the whole handler: a Stdout/Stderr connection attaches its socket to
 * the backend process ({@link OutputReader}), so output nobody reads stays in the backend for a
 * later Attach. Only until the reader arrives is output caught by the stream's
 * {@link StartupBuffer}s (the Go client sends stdin before it opens its output connections); when
 * no reader comes, that output is handed to the process's next reader ({@link HandBackStore}).
 *
 * A stream stays resolvable for `retentionMs` (60 s in Go) after its Run/Attach handler finished,
 * then it is forgotten (later readers get an empty stream).
 */
import type { Socket } from 'node:net';
import type { Container } from '@garden-ts/api-types';
import type { Logger } from 'pino';
import { closeAfterFlush } from './close-after-flush.js';
import { HandBackStore } from './hand-back-store.js';
import { type OutputKind, OutputReader } from './output-reader.js';
import { StartupBuffer } from './startup-buffer.js';

const KINDS: readonly OutputKind[] = ['stdout', 'stderr'];

/**
 * - `live`: the Run/Attach handler is serving the process; readers get output until it is done.
 * - `exited`: the handler saw the process finish; readers get what is left, then EOF.
 * - `detached`: the handler ended while the process kept running (client gone, server stopping):
 *   like Go's drained stream, a reader gets only the output undelivered at that moment, then EOF.
 */
type StreamState = 'live' | 'exited' | 'detached';

/** The output writables of one Run/Attach, handed to the backend before its stream id exists. */
export type StartupBuffers = Record<OutputKind, StartupBuffer>;

export interface StreamRegistryOptions {
  /** How long a finished stream stays resolvable (Go: 60 s). */
  retentionMs?: number;
  /** A startup buffer closes (its content handed back) this long after the Run/Attach started. */
  startupWindowMs?: number;
  /** Beyond this many bytes a startup buffer applies backpressure until its reader comes. */
  startupMaxBytes?: number;
  /** Bound of handed-back output per process stream (oldest bytes dropped). */
  handBackBytes?: number;
}

interface Entry {
  container: Container;
  processId: string;
  key: string;
  registeredAt: number;
  state: StreamState;
  startup: Partial<StartupBuffers>;
  window: NodeJS.Timeout | undefined;
  readers: Partial<Record<OutputKind, OutputReader>>;
  expiry: NodeJS.Timeout | undefined;
}

export class StreamRegistry {
  private nextId = 1;
  private readonly entries = new Map<string, Entry>();
  /**
   * Per process: readers attached now, and when the last one ended, per stream. A startup buffer
   * whose output another reader of the same process stream may have received (fan-out) is not
   * handed back, so delivered output is never replayed.
   */
  private readonly readerActivity = new Map<
    string,
    Record<OutputKind, { active: number; lastEnd: number }>
  >();
  private readonly handBack: HandBackStore;
  private readonly retentionMs: number;
  private readonly startupWindowMs: number;
  private readonly startupMaxBytes: number;

  constructor(retentionMsOrOptions: number | StreamRegistryOptions = {}) {
    const o =
      typeof retentionMsOrOptions === 'number' ? { retentionMs: retentionMsOrOptions } : retentionMsOrOptions;
    this.retentionMs = o.retentionMs ?? 60_000;
    this.startupWindowMs = o.startupWindowMs ?? 1000;
    const handBackBytes = o.handBackBytes ?? 1024 * 1024;
    // No more than can be handed back: beyond that the backend waits for the reader (it comes
    // within milliseconds), and output nobody reads is not held twice. (16 MiB per stream made
    // 8 unread floods take 128 MiB of buffers for a second, which the heap then kept.)
    this.startupMaxBytes = o.startupMaxBytes ?? handBackBytes;
    this.handBack = new HandBackStore(handBackBytes);
  }

  /**
   * Forgets the held output and reader bookkeeping of a destroyed container's processes (their
   * output can never be attached to again), so a long-lived server does not keep them until the
   * store's bound evicts them.
   */
  forgetContainer(handle: string): void {
    this.handBack.forgetContainer(handle);
    const prefix = `${handle}\0`;
    for (const key of this.readerActivity.keys()) if (key.startsWith(prefix)) this.readerActivity.delete(key);
    // Its streams too: a stream id of a destroyed container can never be read again, and each
    // entry references the backend's container (and through it its processes) until it expires.
    for (const [id, entry] of [...this.entries]) {
      if (!entry.key.startsWith(prefix)) continue;
      if (entry.window) clearTimeout(entry.window);
      entry.window = undefined;
      for (const kind of KINDS) entry.startup[kind]?.take();
      entry.startup = {};
      this.forget(id);
    }
  }

  /** Fresh output writables for a Run/Attach about to call the backend. */
  newStartupBuffers(): StartupBuffers {
    return {
      stdout: new StartupBuffer(this.startupMaxBytes),
      stderr: new StartupBuffer(this.startupMaxBytes),
    };
  }

  /** Registers the process of a Run/Attach the backend accepted; returns the new stream id. */
  register(container: Container, processId: string, startup: StartupBuffers): string {
    const id = String(this.nextId++);
    const entry: Entry = {
      container,
      processId,
      key: `${container.handle}\0${processId}`,
      registeredAt: performance.now(),
      state: 'live',
      startup: { ...startup },
      window: undefined,
      readers: {},
      expiry: undefined,
    };
    entry.window = setTimeout(() => this.closeStartup(entry), this.startupWindowMs);
    entry.window.unref();
    this.entries.set(id, entry);
    return id;
  }

  /**
   * Serves a Stdout/Stderr connection whose `200 OK` head was just written. An unknown or expired
   * stream id, or a second concurrent reader of the same output, gets an empty stream.
   */
  openReader(id: string, kind: OutputKind, socket: Socket, log?: Logger): void {
    const entry = this.entries.get(id);
    if (!entry || entry.readers[kind] || socket.destroyed) {
      closeAfterFlush(socket);
      return;
    }
    // Oldest first: output handed back by earlier streams of the process, then this stream's.
    const preamble = this.handBack.take(entry.key, kind);
    const startup = entry.startup[kind];
    if (startup) {
      delete entry.startup[kind];
      preamble.push(...startup.take());
    }
    let reader: OutputReader | undefined;
    reader = new OutputReader({
      container: entry.container,
      processId: entry.processId,
      kind,
      socket,
      preamble,
      backlogOnly: entry.state === 'detached',
      ...(log ? { log } : {}),
      onFinish: () => {
        if (reader !== undefined && entry.readers[kind] === reader) delete entry.readers[kind];
        this.readerEnded(entry.key, kind);
      },
    });
    this.activity(entry.key)[kind].active++;
    if (!reader.isFinished) entry.readers[kind] = reader;
  }

  /** True while a Stdout (or Stderr) connection is attached for the stream id. */
  hasReader(id: string, kind: OutputKind): boolean {
    return this.entries.get(id)?.readers[kind] !== undefined;
  }

  /** Bytes of output kept for the next reader of a process stream (startup output nobody read). */
  handedBack(container: Container | string, processId: string, kind: OutputKind): number {
    const handle = typeof container === 'string' ? container : container.handle;
    return this.handBack.bytes(`${handle}\0${processId}`, kind);
  }

  /**
   * The Run/Attach handler finished. Startup output nobody came for is handed back. When the
   * process is done (`exited`), readers end by themselves once the backend has written
   * everything; otherwise they are ended now, after flushing, and the backend keeps later output
   * for the next attacher. The stream is kept for late readers, then forgotten.
   */
  markDone(id: string, exited: boolean): void {
    const entry = this.entries.get(id);
    if (!entry || entry.expiry) return;
    entry.state = exited ? 'exited' : 'detached';
    this.closeStartup(entry);
    if (!exited) finishReaders(entry);
    entry.expiry = setTimeout(() => this.forget(id), this.retentionMs);
    entry.expiry.unref();
  }

  /** Number of streams currently resolvable. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Forgets every stream (server shutdown). With `endReaders`, attached readers are also ended
   * once what was already written to them is flushed.
   */
  close(endReaders = false): void {
    for (const [id, entry] of [...this.entries]) {
      this.closeStartup(entry);
      if (endReaders) finishReaders(entry);
      this.forget(id);
    }
  }

  /**
   * Ends the startup window: what no reader came for goes to the hand-back store, unless a reader
   * of another stream of the process was attached meanwhile (it got the same output).
   */
  private closeStartup(entry: Entry): void {
    if (entry.window) clearTimeout(entry.window);
    entry.window = undefined;
    for (const kind of KINDS) {
      const startup = entry.startup[kind];
      if (!startup) continue;
      delete entry.startup[kind];
      const chunks = startup.take();
      const seen = this.readerActivity.get(entry.key)?.[kind];
      if (seen && (seen.active > 0 || seen.lastEnd >= entry.registeredAt)) continue;
      this.handBack.put(entry.key, kind, chunks);
    }
    this.pruneActivity(entry.key);
  }

  private activity(key: string): Record<OutputKind, { active: number; lastEnd: number }> {
    let a = this.readerActivity.get(key);
    if (!a) {
      a = { stdout: { active: 0, lastEnd: -1 }, stderr: { active: 0, lastEnd: -1 } };
      this.readerActivity.set(key, a);
    }
    return a;
  }

  private readerEnded(key: string, kind: OutputKind): void {
    const a = this.readerActivity.get(key);
    if (!a) return;
    a[kind].active--;
    a[kind].lastEnd = performance.now();
    this.pruneActivity(key);
  }

  /** Reader activity only matters while some stream of the process has a startup buffer open. */
  private pruneActivity(key: string): void {
    const a = this.readerActivity.get(key);
    if (a && a.stdout.active === 0 && a.stderr.active === 0 && !this.hasOpenStartup(key)) {
      this.readerActivity.delete(key);
    }
  }

  private hasOpenStartup(key: string): boolean {
    for (const entry of this.entries.values()) {
      if (entry.key === key && (entry.startup.stdout || entry.startup.stderr)) return true;
    }
    return false;
  }

  private forget(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (entry.expiry) clearTimeout(entry.expiry);
    // A reader still attached (its process just exited) ends by itself once flushed.
    this.entries.delete(id);
  }
}

function finishReaders(entry: Entry): void {
  entry.readers.stdout?.finish();
  entry.readers.stderr?.finish();
}
