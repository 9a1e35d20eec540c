/**
 * The server's streamer (Go `server/streamer`): output streams of Run/Attach invocations, addressed
 * by a stream id that counts up from 1 across Run and Attach. A stream stays resolvable for
 * `retentionMs` (60 s in Go) after its Run/Attach handler finished, then it is forgotten.
 */
import { OutputStream, type OutputStreamOptions } from './output-stream.js';

export interface ProcessStreams {
  stdout: OutputStream;
  stderr: OutputStream;
}

interface Entry extends ProcessStreams {
  expiry: NodeJS.Timeout | undefined;
}

export class StreamRegistry {
  private nextId = 1;
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly retentionMs = 60_000,
    private readonly outputOptions: OutputStreamOptions = {},
  ) {}

  /** Fresh, unregistered output streams for a Run/Attach about to call the backend. */
  newStreams(): ProcessStreams {
    return { stdout: new OutputStream(this.outputOptions), stderr: new OutputStream(this.outputOptions) };
  }

  /** Registers streams after the backend accepted the Run/Attach; returns the new stream id. */
  register(streams: ProcessStreams): string {
    const id = String(this.nextId++);
    this.entries.set(id, { ...streams, expiry: undefined });
    return id;
  }

  get(id: string): ProcessStreams | undefined {
    return this.entries.get(id);
  }

  /** The Run/Attach handler finished: keep the stream for late readers, then forget it. */
  markDone(id: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.expiry) return;
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
    for (const id of [...this.entries.keys()]) this.forget(id, endReaders);
  }

  private forget(id: string, endReaders = false): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (entry.expiry) clearTimeout(entry.expiry);
    this.entries.delete(id);
    // Unread output is dropped; a reader still draining keeps its socket until flushed.
    if (endReaders || !entry.stdout.hasReader) entry.stdout.discard();
    if (endReaders || !entry.stderr.hasReader) entry.stderr.discard();
  }
}
