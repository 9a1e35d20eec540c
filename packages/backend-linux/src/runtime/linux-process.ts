/**
 * One process of a container as the backend sees it: a connection to its garden-shim (from
 * `spawn`, or from `attach` after a server restart), a pump that fans the shim's output out to
 * every Garden attacher (api-types' `ProcessOutput`, with a bounded backlog for nobody-attached
 * output), stdin forwarding and the exit status.
 *
 * Output buffering, end to end: the shim drains the process's pipes into an on-disk ring per
 * stream (1 MiB each by default). While this backend is connected, the shim never overwrites bytes
 * it has not sent us yet: when we stop reading, the ring fills, the shim stops reading the pipe and
 * the process blocks in write(). We stop reading exactly when a Garden attacher's writable asks for
 * backpressure (`ProcessOutput.write` returns its drain wait; the stream is paused until it
 * settles), so a slow Garden client slows the process down instead of losing output. Bytes no
 * Garden attacher can take go to an in-memory backlog (1 MiB per stream, oldest dropped beyond it)
 * handed to the next attacher, so with nobody attached the process never blocks. While the server
 * is down nothing is read and the ring overwrites its oldest bytes: after a restart the backend
 * re-attaches from the shim's "not yet delivered" offset, so output produced meanwhile (up to the
 * ring size) reaches the next attacher.
 *
 * Stdin is forwarded with backpressure too: the Garden stdin stream is paused while the shim
 * socket has unsent frames (the shim stops reading it while its own stdin queue is full).
 */
import type { Readable } from 'node:stream';
import type { Process, ProcessIO, Signal, TTYSpec } from '@garden-ts/api-types';
import { GardenError, ProcessOutput } from '@garden-ts/api-types';
import type { ShimProcess } from '@garden-ts/native-ns';

function ended(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}

/** A supervised process and its attachers. */
export class LinuxProcess {
  private readonly output = new ProcessOutput();
  private readonly exit: Promise<number>;
  private exitStatus: number | undefined;
  private conn: ShimProcess;

  constructor(
    readonly id: string,
    readonly dir: string,
    conn: ShimProcess,
    private readonly onExit: (p: LinuxProcess, status: number | undefined) => void,
  ) {
    this.conn = conn;
    this.pump(conn.stdout, 'stdout');
    this.pump(conn.stderr, 'stderr');
    this.exit = (async () => {
      let status: number | undefined;
      try {
        const [exit] = await Promise.all([conn.wait(), ended(conn.stdout), ended(conn.stderr)]);
        status = exit.exitStatus;
        return status;
      } catch (e) {
        // The shim died (ProcessLostError: no exit file) or the connection failed.
        throw new GardenError((e as Error).message, { cause: e });
      } finally {
        this.exitStatus = status;
        this.settled = true;
        this.output.detachAll();
        this.onExit(this, status);
      }
    })();
    this.exit.catch(() => undefined);
  }

  private pump(stream: Readable, name: 'stdout' | 'stderr'): void {
    stream.on('data', (chunk: Buffer) => {
      const waiting = this.output.write(name, chunk);
      if (waiting) {
        stream.pause();
        void waiting.then(() => stream.resume());
      }
    });
  }

  private settled = false;

  /** True until the exit status is known (or the connection was given up). */
  get running(): boolean {
    return !this.settled;
  }

  /** Adds a Garden attacher and returns its `Process`. */
  attach(io: ProcessIO): Process {
    const attachment = this.output.attach(io.stdout, io.stderr);
    // After the exit the backlog was handed over above; nothing more will come.
    if (!this.running) attachment.detach();
    else if (io.stdin) this.feedStdin(io.stdin);
    return this.handle();
  }

  private feedStdin(stdin: Readable): void {
    const onData = (chunk: Buffer | string): void => {
      let sent: Promise<void>;
      try {
        sent = this.conn.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      } catch {
        // the process has exited: its stdin is gone, like writing to a closed pipe
        return;
      }
      // Read no further ahead than the process consumes (the socket settles 'drain' or closes).
      stdin.pause();
      void sent.then(() => stdin.resume());
    };
    const onEnd = (): void => {
      cleanup();
      try {
        this.conn.end();
      } catch {
        // exited already
      }
    };
    const cleanup = (): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onEnd);
    };
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.on('error', onEnd);
    void this.exit.finally(cleanup).catch(() => undefined);
  }

  /** Resolves with the exit status once exited and all output is delivered. */
  wait(): Promise<number> {
    return this.exit;
  }

  /** The Garden-facing handle. */
  handle(): Process {
    return {
      id: this.id,
      wait: () => this.exit,
      setTTY: async (spec: TTYSpec) => {
        const ws = spec.windowSize;
        if (!ws || !this.running) return;
        try {
          this.conn.resize(ws.columns || 80, ws.rows || 24);
        } catch {
          // exited meanwhile
        }
      },
      signal: async (signal: Signal) => {
        if (!this.running) return;
        try {
          this.conn.signal(signal === 0 ? 'SIGTERM' : 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      },
    };
  }

  /**
   * Its container was destroyed: nothing can attach any more, so the output nobody took goes
   * (up to 1 MiB per stream, which a destroyed container's processes would otherwise hold until
   * every reference to the container is gone).
   */
  dispose(): void {
    this.output.discard();
  }

  /** Drops the shim connection without touching the process (server shutdown). */
  detach(): void {
    this.settled = true;
    this.output.detachAll();
    this.conn.detach();
  }
}
