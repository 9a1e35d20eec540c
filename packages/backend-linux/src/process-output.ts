/**
 * Fan-out of a process's output to its current attachers with a bounded in-memory backlog for
 * output nobody was attached to receive (adapted from backend-fake: the same I/O contract).
 */
import type { Writable } from 'node:stream';

/** Which output stream a chunk belongs to. */
export type OutputStream = 'stdout' | 'stderr';

/** Default bound of undelivered output kept per stream: 1 MiB, oldest bytes dropped beyond it. */
export const DEFAULT_BACKLOG_LIMIT = 1024 * 1024;

/**
 * One attacher's writables. It detaches itself when either writable emits 'close' or 'error' or
 * turns out destroyed, which is how a server signals that its client went away.
 */
export class Attachment {
  private attachedFlag = true;
  private readonly onDetach = new Set<() => void>();
  private readonly cleanups: Array<() => void> = [];

  constructor(
    readonly stdout: Writable | undefined,
    readonly stderr: Writable | undefined,
    private readonly release: (attachment: Attachment) => void,
  ) {
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

class Backlog {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
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
        this.chunks[0] = head.subarray(excess);
        this.bytes -= excess;
      }
    }
  }

  take(): Buffer[] {
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
  private readonly attachments = new Set<Attachment>();
  private readonly backlogs: Record<OutputStream, Backlog>;

  constructor(backlogLimit = DEFAULT_BACKLOG_LIMIT) {
    this.backlogs = { stdout: new Backlog(backlogLimit), stderr: new Backlog(backlogLimit) };
  }

  /** Adds an attacher after handing it the undelivered backlog of each stream it can receive. */
  attach(stdout: Writable | undefined, stderr: Writable | undefined): Attachment {
    const attachment = new Attachment(stdout, stderr, (a) => this.attachments.delete(a));
    // Backlogs are per stream; an attacher without writables takes nothing and is not kept.
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
   * Writes a chunk to every attacher of `stream`. Returns a promise when some writable asked for
   * backpressure; it settles on 'drain' or when that attacher detaches.
   */
  write(stream: OutputStream, chunk: Buffer): Promise<void> | undefined {
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
      if (!ok) waits.push(drained(attachment, writable));
    }
    if (!delivered) this.backlogs[stream].push(chunk);
    if (waits.length === 0) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => undefined);
  }

  /** Detaches everyone (process end); pending drain waits settle. */
  detachAll(): void {
    for (const attachment of [...this.attachments]) attachment.detach();
  }

  get attachedCount(): number {
    return this.attachments.size;
  }
}

function drained(attachment: Attachment, writable: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      writable.off('drain', done);
      removeDetach();
      resolve();
    };
    writable.on('drain', done);
    const removeDetach = attachment.whenDetached(done);
  });
}
