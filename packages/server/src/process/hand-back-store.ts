/**
 * Output that a {@link StartupBuffer} received while no reader came, kept per process and stream
 * for that process's next Stdout/Stderr reader (of any Run/Attach stream id), so the server never
 * swallows output. Bounded like the backends' own backlogs: per stream at most `maxBytes` (oldest
 * bytes dropped), and at most `maxProcesses` processes (the least recently stored is forgotten).
 */
import type { OutputKind } from './output-reader.js';

interface Held {
  stdout: Buffer[];
  stderr: Buffer[];
  stdoutBytes: number;
  stderrBytes: number;
}

export class HandBackStore {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly maxBytes = 1024 * 1024,
    private readonly maxProcesses = 1024,
  ) {}

  /** Appends output of a process stream (after anything already held for it). */
  put(key: string, kind: OutputKind, chunks: Buffer[]): void {
    if (chunks.length === 0 || this.maxBytes <= 0) return;
    let held = this.held.get(key);
    if (held) this.held.delete(key);
    held ??= { stdout: [], stderr: [], stdoutBytes: 0, stderrBytes: 0 };
    this.held.set(key, held);
    const list = held[kind];
    let bytes = held[`${kind}Bytes`];
    for (const c of chunks) {
      list.push(c);
      bytes += c.length;
    }
    while (bytes > this.maxBytes) {
      const head = list[0]!;
      const excess = bytes - this.maxBytes;
      if (head.length <= excess) {
        list.shift();
        bytes -= head.length;
      } else {
        list[0] = head.subarray(excess);
        bytes -= excess;
      }
    }
    held[`${kind}Bytes`] = bytes;
    while (this.held.size > this.maxProcesses) {
      const oldest = this.held.keys().next().value as string;
      this.held.delete(oldest);
    }
  }

  /** Removes and returns what is held for a process stream. */
  take(key: string, kind: OutputKind): Buffer[] {
    const held = this.held.get(key);
    if (!held) return [];
    const chunks = held[kind];
    held[kind] = [];
    held[`${kind}Bytes`] = 0;
    if (held.stdoutBytes === 0 && held.stderrBytes === 0) this.held.delete(key);
    return chunks;
  }

  /** Forgets everything held for the processes of a container (it was destroyed). */
  forgetContainer(handle: string): void {
    const prefix = `${handle}\0`;
    for (const key of this.held.keys()) if (key.startsWith(prefix)) this.held.delete(key);
  }

  /** Bytes held for a process stream. */
  bytes(key: string, kind: OutputKind): number {
    return this.held.get(key)?.[`${kind}Bytes`] ?? 0;
  }
}
