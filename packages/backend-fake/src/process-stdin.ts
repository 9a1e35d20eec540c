import type { Readable } from 'node:stream';

/** Bytes queued before the sources are paused, like a pipe filling up. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;

/**
 * The stdin of a simulated process, fed by the run's `io.stdin` and every attacher's. The first
 * source to end (or fail, meaning its client went away) is EOF for the process. Sources are paused
 * while the process does not read, so a producer sees backpressure.
 */
export class ProcessStdin {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private eof = false;
  private waiter: (() => void) | undefined;
  private readonly sources = new Map<Readable, () => void>();
  private readonly paused = new Set<Readable>();

  /** Starts reading a source. */
  addSource(source: Readable): void {
    if (this.eof || this.sources.has(source)) return;
    if (source.readableEnded || source.destroyed) {
      this.end();
      return;
    }
    const onData = (chunk: Buffer | string): void => {
      this.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (this.bytes > HIGH_WATER && !this.paused.has(source)) {
        this.paused.add(source);
        source.pause();
      }
    };
    const onEnd = (): void => this.end();
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onEnd);
    source.on('close', onEnd);
    this.sources.set(source, () => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onEnd);
      source.off('close', onEnd);
    });
  }

  private push(chunk: Buffer): void {
    if (this.eof || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** EOF: no more input; stops reading every source. */
  end(): void {
    if (this.eof) return;
    this.eof = true;
    this.releaseSources();
    this.wake();
  }

  /** Drops queued input and stops reading (process exit). */
  close(): void {
    this.chunks.length = 0;
    this.bytes = 0;
    this.end();
  }

  private releaseSources(): void {
    for (const [source, cleanup] of this.sources) {
      cleanup();
      // Let the producer finish instead of stalling on a pause nobody will lift; the bytes are
      // discarded, like writes to a pipe whose reader has gone.
      if (this.paused.has(source)) source.resume();
    }
    this.sources.clear();
    this.paused.clear();
  }

  /** The next chunk, or null at EOF. */
  async read(): Promise<Buffer | null> {
    while (this.chunks.length === 0) {
      if (this.eof) return null;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
    const chunk = this.chunks.shift()!;
    this.bytes -= chunk.length;
    if (this.bytes <= LOW_WATER && this.paused.size > 0) {
      for (const source of this.paused) source.resume();
      this.paused.clear();
    }
    return chunk;
  }

  /** Reads everything until EOF. */
  async readAll(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let chunk = await this.read(); chunk !== null; chunk = await this.read()) parts.push(chunk);
    return Buffer.concat(parts);
  }
}
