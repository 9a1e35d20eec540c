/**
 * One Stdout/Stderr connection (protocol §7.6) served by attaching its socket to the backend
 * process as that stream's only writable: `container.attach(processId, { stdout: socket })`.
 *
 * The backend then does the buffering: it writes the output nobody has received yet (its
 * per-stream backlog) first, then live output, honouring the socket's backpressure. Output nobody
 * reads stays in the backend for a later Attach instead of being swallowed by a server-side queue
 * (architecture doc, "Process I/O contract"). The only output the server holds is what its
 * StartupBuffer (startup-buffer.ts) caught before the reader came (the `preamble`, written first).
 *
 * The socket is ended (after flushing) when that attach's `wait()` settles, i.e. the process is
 * done and every output byte has been written to it; or earlier by {@link OutputReader.finish}
 * (Run/Attach handler ended without an exit, server stopping). A client disconnect closes the
 * socket, which is how the backend learns the attacher left.
 */
import type { Socket } from 'node:net';
import type { Container, Process } from '@garden-ts/api-types';
import type { Logger } from 'pino';
import { closeAfterFlush } from './close-after-flush.js';

export type OutputKind = 'stdout' | 'stderr';

export interface OutputReaderOptions {
  container: Container;
  processId: string;
  kind: OutputKind;
  /** The hijacked socket, its `200 OK` head already written. */
  socket: Socket;
  /** Output the server took for this stream before the reader came; written before attaching. */
  preamble?: Buffer[];
  /** Deliver only what is undelivered right now, then end (the handler already detached). */
  backlogOnly?: boolean;
  log?: Logger;
  /** Called once when the reader is finished (socket ending or gone). */
  onFinish?: () => void;
}

export class OutputReader {
  private finished = false;
  /** Aborts this reader's wait when it finishes first, so no listener outlives the socket. */
  private readonly waitAbort = new AbortController();

  constructor(private readonly o: OutputReaderOptions) {
    const { socket } = o;
    socket.on('error', () => {});
    // Input on an output connection is meaningless; read it so the peer's close is noticed.
    socket.on('data', () => {});
    socket.once('close', this.onClose);
    socket.resume();
    if (o.preamble && o.preamble.length > 0) {
      socket.cork();
      for (const chunk of o.preamble) socket.write(chunk);
      socket.uncork();
    }
    // Attach in this very tick (no await before the call): output the backend produces from now
    // on must come after the preamble, through this attacher or the backend's backlog.
    let attached: Promise<Process>;
    try {
      attached = o.container.attach(
        o.processId,
        o.kind === 'stdout' ? { stdout: socket } : { stderr: socket },
      );
    } catch (err) {
      attached = Promise.reject(err);
    }
    attached.then(
      (process) => {
        // Whatever attach() delivered (the backlog) is in the socket now.
        if (this.finished || o.backlogOnly) return this.finish();
        process.wait({ signal: this.waitAbort.signal }).then(
          () => this.finish(),
          (err: unknown) => {
            if (!this.waitAbort.signal.aborted)
              o.log?.warn({ err, processId: o.processId }, 'output wait failed');
            this.finish();
          },
        );
      },
      (err: unknown) => {
        // The process or container is gone: an empty stream, like an unknown stream id.
        o.log?.info({ err, processId: o.processId, kind: o.kind }, 'output attach failed');
        this.finish();
      },
    );
  }

  /** True once the socket is ending or gone. */
  get isFinished(): boolean {
    return this.finished;
  }

  /** Ends the stream after what was written is flushed; the backend detaches as the socket ends. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.waitAbort.abort();
    this.o.socket.off('close', this.onClose);
    closeAfterFlush(this.o.socket);
    this.o.onFinish?.();
  }

  private readonly onClose = (): void => {
    if (this.finished) return;
    // Client gone. The backend saw the same 'close' and detached this attacher.
    this.finished = true;
    this.waitAbort.abort();
    this.o.onFinish?.();
  };
}
