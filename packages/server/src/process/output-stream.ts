/**
 * One output stream (stdout or stderr) of one Run/Attach stream id: the Writable the backend
 * writes to, and the socket of the Stdout/Stderr connection that reads it.
 *
 * Deviation from Go (documented in the README): Go queues up to 4000 chunks and silently drops
 * output when the queue is full, and never blocks the backend. Here:
 * - while no reader is attached, chunks are queued (up to `maxChunks` chunks / `maxBytes` bytes);
 * - when the queue is full before the first reader arrived, the backend's write callback is held
 *   (backpressure) for up to `attachWaitMs`, because the reader normally arrives a moment after
 *   the Run response; after that (or after a reader went away) overflowing chunks are dropped as
 *   in Go, so a client that never reads cannot stall the process forever;
 * - once a reader is attached, chunks go straight to its socket without copying, and the write
 *   callback is delayed until the socket drains, so a backend that respects backpressure slows
 *   down instead of losing data.
 */
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';

export interface OutputStreamOptions {
  maxChunks?: number;
  maxBytes?: number;
  attachWaitMs?: number;
}

/** Go's streamer queue length. */
export const DEFAULT_MAX_CHUNKS = 4000;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_ATTACH_WAIT_MS = 10_000;

type Callback = (err?: Error | null) => void;

export class OutputStream {
  /** The stream handed to the backend as `ProcessIO.stdout`/`stderr`. */
  readonly writable: Writable;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private reader: Socket | undefined;
  private everAttached = false;
  private pending: Callback | undefined;
  private attachWait: NodeJS.Timeout | undefined;
  private ended = false;
  private droppedChunks = 0;
  private waitExpired = false;
  private readonly maxChunks: number;
  private readonly maxBytes: number;
  private readonly attachWaitMs: number;

  constructor(options: OutputStreamOptions = {}) {
    this.maxChunks = options.maxChunks ?? DEFAULT_MAX_CHUNKS;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.attachWaitMs = options.attachWaitMs ?? DEFAULT_ATTACH_WAIT_MS;
    this.writable = new Writable({
      highWaterMark: 64 * 1024,
      write: (chunk: Buffer, _enc, cb) => this.accept([chunk], cb),
      writev: (chunks, cb) =>
        this.accept(
          chunks.map((c) => c.chunk as Buffer),
          cb,
        ),
      final: (cb) => {
        this.end();
        cb();
      },
      destroy: (err, cb) => {
        this.end();
        cb(err);
      },
    });
    // A backend writing after the stream was finished must not crash the server.
    this.writable.on('error', () => {});
  }

  /** Chunks dropped because nobody read them in time. */
  get dropped(): number {
    return this.droppedChunks;
  }

  /** True once no more output will arrive. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** True while a reader socket is attached. */
  get hasReader(): boolean {
    return this.reader !== undefined;
  }

  /**
   * Attaches the socket of a Stdout/Stderr connection (its response head already written). Queued
   * chunks are written at once; the socket is ended when the output is complete.
   * @returns false when another reader is attached (the caller closes the newcomer).
   */
  attach(socket: Socket): boolean {
    if (this.reader) return false;
    this.reader = socket;
    this.everAttached = true;
    this.clearAttachWait();
    if (this.queue.length > 0) {
      socket.cork();
      for (const chunk of this.queue) socket.write(chunk);
      socket.uncork();
      this.queue.length = 0;
      this.queuedBytes = 0;
    }
    socket.on('drain', this.onDrain);
    socket.on('close', this.onReaderClose);
    if (this.ended) {
      this.finishReader();
      return true;
    }
    // A write held while the queue was full is accepted now that it has been flushed.
    if (this.pending && socket.writableNeedDrain === false) this.release();
    return true;
  }

  /** Drops everything and closes the reader (stream forgotten or server stopping). */
  discard(): void {
    this.queue.length = 0;
    this.queuedBytes = 0;
    if (!this.writable.destroyed) this.writable.destroy();
    this.end();
  }

  private accept(chunks: Buffer[], cb: Callback): void {
    const reader = this.reader;
    if (reader) {
      let ok = true;
      if (chunks.length === 1) ok = reader.write(chunks[0]!);
      else {
        reader.cork();
        for (const c of chunks) ok = reader.write(c);
        reader.uncork();
      }
      if (ok) cb();
      else this.pending = cb;
      return;
    }
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      if (this.queue.length < this.maxChunks && this.queuedBytes + chunk.length <= this.maxBytes) {
        this.queue.push(chunk);
        this.queuedBytes += chunk.length;
      } else if (!this.everAttached && !this.waitExpired && this.attachWaitMs > 0) {
        // Queue full before the reader arrived: hold the backend until it does (bounded).
        for (const rest of chunks.slice(i)) {
          this.queue.push(rest);
          this.queuedBytes += rest.length;
        }
        this.pending = cb;
        this.attachWait = setTimeout(() => {
          this.attachWait = undefined;
          this.waitExpired = true;
          this.release();
        }, this.attachWaitMs);
        this.attachWait.unref();
        return;
      } else {
        this.droppedChunks++;
      }
    }
    cb();
  }

  private readonly onDrain = (): void => {
    this.release();
  };

  private readonly onReaderClose = (): void => {
    const reader = this.reader;
    if (!reader) return;
    reader.off('drain', this.onDrain);
    reader.off('close', this.onReaderClose);
    this.reader = undefined;
    // Output written after the reader went away is queued (and eventually dropped), as in Go.
    this.release();
  };

  private release(): void {
    const cb = this.pending;
    this.pending = undefined;
    this.clearAttachWait();
    cb?.();
  }

  private clearAttachWait(): void {
    if (this.attachWait) {
      clearTimeout(this.attachWait);
      this.attachWait = undefined;
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    if (this.reader) this.finishReader();
  }

  private finishReader(): void {
    const reader = this.reader;
    if (!reader) return;
    reader.off('drain', this.onDrain);
    // Half-close after the queued bytes are flushed; the 'close' handler forgets the reader.
    closeAfterFlush(reader);
  }
}

/**
 * Ends a raw socket once its pending writes are flushed and keeps discarding input so the peer's
 * FIN is seen; a peer that never closes its side is cut off after `lingerMs`.
 */
export function closeAfterFlush(socket: Socket, lingerMs = 5000): void {
  if (socket.destroyed) return;
  socket.on('data', () => {});
  socket.resume();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
