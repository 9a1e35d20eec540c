/**
 * The output writable a Run/Attach hands the backend for the moment before the client's
 * Stdout/Stderr connection arrives.
 *
 * Why it exists: the Go client starts sending stdin right after the first control message and
 * only then opens its output connections, and a process may print at once. Without a writer of
 * its own in that window the server would leave that output in the backend's bounded backlog
 * (1 MiB, oldest bytes dropped), so a fast `cat` or a big `cat FILE` would silently lose its
 * beginning. This buffer takes that output instead; when the reader arrives its content is
 * written to the socket first, the buffer is destroyed (so the backend stops writing to it) and
 * the socket is attached to the backend in the same tick, which keeps the bytes in order.
 *
 * It never swallows output: when no reader came (the window closed), its content goes to the
 * server's {@link HandBackStore} and reaches the process's next reader of that stream.
 */
import { Writable } from 'node:stream';

type WriteCallback = (error: Error | null | undefined) => void;

export class StartupBuffer extends Writable {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private taken = false;

  /** @param maxBytes beyond this, `write()` returns false: the backend waits for the reader. */
  constructor(private readonly maxBytes: number) {
    super();
    // A backend writing after the buffer was taken must not crash the server.
    this.on('error', () => {});
  }

  // Overridden so that Node's internal write buffer is never used: every chunk is in `chunks`,
  // and `take()` gets them all.
  override write(
    chunk: unknown,
    encodingOrCallback?: BufferEncoding | WriteCallback,
    callback?: WriteCallback,
  ): boolean {
    const cb = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (this.taken) {
      if (cb) process.nextTick(cb, new Error('output buffer closed'));
      return false;
    }
    const encoding = typeof encodingOrCallback === 'string' ? encodingOrCallback : 'utf8';
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : chunk instanceof Uint8Array
        ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
        : Buffer.from(String(chunk), encoding);
    if (buf.length > 0) {
      this.chunks.push(buf);
      this.bytes += buf.length;
    }
    if (cb) process.nextTick(cb, null);
    return this.bytes < this.maxBytes;
  }

  /** Bytes queued. */
  get size(): number {
    return this.bytes;
  }

  /**
   * Stops accepting output and returns everything queued. The buffer is destroyed at once (the
   * backend sees it `destroyed` on its next write and detaches it); a backend waiting for
   * `'drain'` is released.
   */
  take(): Buffer[] {
    if (this.taken) return [];
    this.taken = true;
    const chunks = this.chunks;
    this.chunks = [];
    this.bytes = 0;
    this.destroy();
    this.emit('drain');
    return chunks;
  }
}
