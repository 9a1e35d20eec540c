/**
 * The reference implementation of the output half of the `ProcessIO` contract, shared by
 * every backend: fan-out of a process's stdout/stderr to its current attachers, with a bounded
 * per-stream backlog of output nobody was attached to receive ("undelivered output"). See
 * "Process I/O contract" in docs/architecture.md.
 *
 * Only `node:stream` types are used, so api-types stays free of other runtime dependencies.
 */
import type { Writable } from 'node:stream';

/** Which output stream a chunk belongs to. */
export type OutputStream = 'stdout' | 'stderr';

/** Default bound of undelivered output kept per stream: 1 MiB, oldest bytes dropped beyond it. */
export const DEFAULT_OUTPUT_BACKLOG_LIMIT = 1024 * 1024;

/**
 * One attacher's writables, as returned by {@link ProcessOutput.attach}. It detaches itself when
 * either writable emits 'close' or 'error' or turns out destroyed or ended, which is how a server
 * signals that its client went away. The writables are never ended by it.
 */
export class OutputAttachment {
  private attachedFlag = true;
  private readonly onDetach = new Set<() => void>();
  private readonly cleanups: Array<() => void> = [];
  /** One pending 'drain' wait per writable, so repeated backpressured writes add no listeners. */
  private readonly drains = new Map<Writable, Promise<void>>();

  /** Created by {@link ProcessOutput.attach}; `release` unregisters it there. */
  constructor(
    readonly stdout: Writable | undefined,
    readonly stderr: Writable | undefined,
    private readonly release: (attachment: OutputAttachment) => void,
  ) {
    // A single writable given for both streams gets one pair of listeners.
    for (const writable of new Set([stdout, stderr])) {
      if (!writable) continue;
      const detach = (): void => this.detach();
      writable.on('close', detach);
      writable.on('error', detach);
      this.cleanups.push(() => {
        writable.off('close', detach);
        writable.off('error', detach);
      });
    }
  }

  /** False once detached (explicitly, by its writables going away, or by the process ending). */
  get attached(): boolean {
    return this.attachedFlag;
  }

  /** The usable writable for a stream, detaching when it has been closed behind our back. */
  target(stream: OutputStream): Writable | undefined {
    if (!this.attachedFlag) return undefined;
    const writable = stream === 'stdout' ? this.stdout : this.stderr;
    if (!writable) return undefined;
    if (writable.destroyed || writable.writableEnded) {
      this.detach();
      return undefined;
    }
    return writable;
  }

  /** Registers a callback run once on detach; returns its remover. */
  whenDetached(callback: () => void): () => void {
    this.onDetach.add(callback);
    return () => this.onDetach.delete(callback);
  }

  /**
   * Resolves on the writable's next 'drain', or when this attachment detaches (so a producer
   * waiting on a client that went away is released). Concurrent waits on one writable share one
   * listener.
   */
  drained(writable: Writable): Promise<void> {
    if (!this.attachedFlag) return Promise.resolve();
    const pending = this.drains.get(writable);
    if (pending) return pending;
    const wait = new Promise<void>((resolve) => {
      const done = (): void => {
        writable.off('drain', done);
        removeDetach();
        this.drains.delete(writable);
        resolve();
      };
      writable.on('drain', done);
      const removeDetach = this.whenDetached(done);
    });
    this.drains.set(writable, wait);
    return wait;
  }

  /** Removes every listener this attachment put on the caller's streams. Idempotent. */
  detach(): void {
    if (!this.attachedFlag) return;
    this.attachedFlag = false;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.release(this);
    for (const callback of [...this.onDetach]) callback();
    this.onDetach.clear();
  }
}

/** Undelivered output of one stream, keeping only the newest `limit` bytes. */
class Backlog {
  private chunks: Uint8Array[] = [];
  private bytes = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Uint8Array): void {
    if (this.limit <= 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes > this.limit) {
      const head = this.chunks[0]!;
      const excess = this.bytes - this.limit;
      if (head.length <= excess) {
        this.chunks.shift();
        this.bytes -= head.length;
      } else {
        // Drop only the oldest bytes of a chunk that straddles the bound.
        this.chunks[0] = head.subarray(excess);
        this.bytes -= excess;
      }
    }
  }

  take(): Uint8Array[] {
    const chunks = this.chunks;
    this.chunks = [];
    this.bytes = 0;
    return chunks;
  }

  get size(): number {
    return this.bytes;
  }
}

/**
 * Fan-out of a process's stdout and stderr to every current attacher. A chunk no attacher can take
 * (nobody attached with a writable for that stream) goes to a bounded backlog that the next attacher
 * with such a writable receives first ("undelivered output").
 */
export class ProcessOutput {
  private readonly attachments = new Set<OutputAttachment>();
  private readonly backlogs: Record<OutputStream, Backlog>;

  /**
   * @param backlogLimit bytes of undelivered output kept per stream (oldest dropped beyond it);
   *   0 or less keeps none.
   */
  constructor(backlogLimit = DEFAULT_OUTPUT_BACKLOG_LIMIT) {
    this.backlogs = { stdout: new Backlog(backlogLimit), stderr: new Backlog(backlogLimit) };
  }

  /**
   * Adds an attacher after handing it the undelivered backlog of each stream it has a writable
   * for. Backlogs are per stream: an attacher with only a stdout writable leaves the stderr backlog
   * for a later stderr attacher (a server attaches each output connection separately). An
   * attacher without writables receives nothing and is not kept (it is returned detached).
   */
  attach(stdout: Writable | undefined, stderr: Writable | undefined): OutputAttachment {
    const attachment = new OutputAttachment(stdout, stderr, (a) => this.attachments.delete(a));
    if (!stdout && !stderr) {
      attachment.detach();
      return attachment;
    }
    this.attachments.add(attachment);
    for (const stream of ['stdout', 'stderr'] as const) {
      if (!attachment.target(stream) || this.backlogs[stream].size === 0) continue;
      for (const chunk of this.backlogs[stream].take()) this.write(stream, chunk);
    }
    return attachment;
  }

  /** Bytes waiting for an attacher on a stream. */
  undelivered(stream: OutputStream): number {
    return this.backlogs[stream].size;
  }

  /**
   * Writes a chunk to every attacher of `stream`, or to the backlog when there is none. Returns a
   * promise when some writable asked for backpressure; it settles once each such writable emitted
   * 'drain' or its attacher detached. A writable whose `write` throws is detached.
   */
  write(stream: OutputStream, chunk: Uint8Array): Promise<void> | undefined {
    if (chunk.length === 0) return undefined;
    const waits: Promise<void>[] = [];
    let delivered = false;
    for (const attachment of [...this.attachments]) {
      const writable = attachment.target(stream);
      if (!writable) continue;
      delivered = true;
      let ok: boolean;
      try {
        ok = writable.write(chunk);
      } catch {
        attachment.detach();
        continue;
      }
      if (!ok) waits.push(attachment.drained(writable));
    }
    if (!delivered) this.backlogs[stream].push(chunk);
    if (waits.length === 0) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => undefined);
  }

  /** Detaches everyone (process end); pending drain waits settle. */
  detachAll(): void {
    for (const attachment of [...this.attachments]) attachment.detach();
  }

  /**
   * Detaches everyone and drops the undelivered output: nobody can attach any more (the
   * container was destroyed), so the backlogs would only hold memory.
   */
  discard(): void {
    this.detachAll();
    this.backlogs.stdout.take();
    this.backlogs.stderr.take();
  }

  /** How many attachers are currently kept. */
  get attachedCount(): number {
    return this.attachments.size;
  }
}
