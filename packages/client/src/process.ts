/**
 * The client side of the process protocol (protocol §7): the control connection of Run/Attach,
 * the Stdout/Stderr output connections, stdin forwarding, and `wait()`.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import {
  type CallOptions,
  GardenConnectionError,
  GardenError,
  GoJsonStreamDecoder,
  isSignal,
  type Process,
  type ProcessIO,
  ROUTES,
  type Signal,
  type TTYSpec,
} from '@garden-ts/api-types';
import { type CallScope, GardenAbortError, withScope } from './call-options.js';
import { connectionError, earlyEof } from './connection-errors.js';
import {
  decodeServerMessage,
  type ServerMessage,
  signalMessage,
  stdinDataMessage,
  stdinEofMessage,
  ttyMessage,
} from './control-messages.js';
import { type Dialer, describeAddress, type GardenAddress } from './dial.js';
import { type HijackedConnection, type HijackRequest, hijack } from './hijack-transport.js';
import { type OutputPump, pumpOutput } from './output-pump.js';
import { routeTarget } from './route-target.js';

/** Where and how to open the connections of one process. */
export interface ProcessTarget {
  address: GardenAddress;
  /** Opens the process's connections (control, stdout, stderr). */
  dialer: Dialer;
  handle: string;
}

type Outcome = { ok: true; exitStatus: number } | { ok: false; error: Error };

/**
 * Reads the control connection: hands the first message to `onFirst`, then settles `outcome`
 * with the final `exit_status`/`error` message or the decode failure (EOF included).
 */
class ControlReader {
  private readonly decoder = new GoJsonStreamDecoder();
  private first: ((msg: ServerMessage | Error) => void) | undefined;
  private settled = false;
  readonly outcome: Promise<Outcome>;
  private settle!: (o: Outcome) => void;

  constructor(
    private readonly socket: Socket,
    private readonly address: GardenAddress,
    leftover: Buffer,
    onFirst: (msg: ServerMessage | Error) => void,
  ) {
    this.first = onFirst;
    this.outcome = new Promise((resolve) => {
      this.settle = resolve;
    });
    socket.on('data', this.onData);
    socket.once('end', this.onEnd);
    socket.once('close', this.onEnd);
    socket.on('error', this.onError);
    if (leftover.length > 0) this.onData(leftover);
    if (!this.settled) socket.resume();
  }

  private readonly onData = (chunk: Buffer) => {
    // Feed line by line so that a malformed message only fails after the ones before it were
    // handled, as with Go's decoder reading one value at a time.
    for (let start = 0; start < chunk.length && !this.settled; ) {
      const lf = chunk.indexOf(0x0a, start);
      const end = lf === -1 ? chunk.length : lf + 1;
      let values: unknown[];
      try {
        values = this.decoder.push(chunk.subarray(start, end));
      } catch (err) {
        return this.fail(err as Error);
      }
      start = end;
      for (const value of values) {
        if (this.settled) return;
        let msg: ServerMessage;
        try {
          msg = decodeServerMessage(value);
        } catch (err) {
          return this.fail(err as Error);
        }
        this.handle(msg);
      }
    }
  };

  private handle(msg: ServerMessage) {
    const first = this.first;
    if (first) {
      this.first = undefined;
      return first(msg);
    }
    // Like the Go client: `error` wins over `exit_status`; other messages (legacy in-band output)
    // are discarded.
    if (msg.error !== undefined) {
      this.finish({ ok: false, error: new GardenError(`connection: process error: ${msg.error}`) });
    } else if (msg.exitStatus !== undefined) {
      this.finish({ ok: true, exitStatus: msg.exitStatus });
    }
  }

  private readonly onEnd = () => {
    try {
      for (const value of this.decoder.end()) {
        if (this.settled) return;
        this.handle(decodeServerMessage(value));
      }
    } catch (err) {
      return this.fail(err as Error);
    }
    this.lost(earlyEof(this.address, this.first ? 'before the first message' : 'before the process exited'));
  };

  private readonly onError = (err: Error) =>
    this.lost(
      connectionError(
        this.address,
        err,
        this.first ? 'before the first message' : 'before the process exited',
      ),
    );

  /** The control stream held something that is not a ProcessPayload (a protocol error). */
  private fail(err: Error) {
    // Like Go's Run/Attach: a broken first message fails the call with the decoder's error.
    this.lost(
      this.first
        ? new GardenError(err.message, { cause: err })
        : new GardenError(`connection: decode failed: ${err.message}`, { cause: err }),
    );
  }

  /** Ends reading with `error` (handed to a pending first-message waiter too). */
  private lost(error: Error) {
    const first = this.first;
    this.first = undefined;
    this.finish({ ok: false, error });
    first?.(error);
  }

  private finish(outcome: Outcome) {
    if (this.settled) return;
    this.settled = true;
    this.first = undefined;
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    // Keep an error listener: the socket may still fail before it is destroyed.
    this.settle(outcome);
  }
}

/**
 * Forwards a caller's stdin as `source:0` data messages (never splitting a UTF-8 sequence) and the
 * EOF message at its end. A read error ends forwarding without EOF, like the Go client.
 */
class StdinForwarder {
  private readonly utf8 = new StringDecoder('utf8');
  private stopped = false;
  private waitingForDrain = false;

  constructor(
    private readonly stdin: Readable,
    private readonly control: Socket,
    private readonly processId: string,
  ) {
    if (stdin.readableEnded) {
      this.onEnd();
      return;
    }
    stdin.on('data', this.onData);
    stdin.once('end', this.onEnd);
    stdin.once('error', this.stop);
    stdin.resume();
  }

  private send(message: string): boolean {
    if (this.control.destroyed || !this.control.writable) {
      this.stop();
      return true;
    }
    return this.control.write(message);
  }

  private readonly onData = (chunk: Buffer | string) => {
    const text = typeof chunk === 'string' ? chunk : this.utf8.write(chunk);
    if (text === '') return;
    if (!this.send(stdinDataMessage(this.processId, text)) && !this.stopped && !this.waitingForDrain) {
      this.waitingForDrain = true;
      this.stdin.pause();
      this.control.once('drain', this.onDrain);
    }
  };

  private readonly onDrain = () => {
    this.waitingForDrain = false;
    if (!this.stopped) this.stdin.resume();
  };

  private readonly onEnd = () => {
    const rest = this.utf8.end();
    if (rest !== '') this.send(stdinDataMessage(this.processId, rest));
    // EOF closes the process's stdin; the socket stays open for the exit status.
    this.send(stdinEofMessage(this.processId));
    this.stop();
  };

  /** Detaches from stdin (pausing it, so unread data stays with its owner). */
  readonly stop = () => {
    if (this.stopped) return;
    this.stopped = true;
    this.stdin.off('data', this.onData);
    this.stdin.off('end', this.onEnd);
    this.stdin.off('error', this.stop);
    this.control.off('drain', this.onDrain);
    if (!this.stdin.readableEnded) this.stdin.pause();
  };
}

/** A process started by `run` or `attach`. See {@link Process}. */
export class ClientProcess implements Process {
  private readonly result: Promise<number>;
  private closedByClient: Error | undefined;
  private readonly stdinForwarder: StdinForwarder | undefined;

  /** @internal Use `container.run()` / `container.attach()`. */
  constructor(
    readonly id: string,
    private readonly control: Socket,
    private readonly address: GardenAddress,
    controlOutcome: Promise<Outcome>,
    private readonly outputs: OutputPump[],
    stdin: Readable | undefined,
    hijackFailure: Error | undefined,
  ) {
    this.stdinForwarder = stdin && !hijackFailure ? new StdinForwarder(stdin, control, id) : undefined;
    const outcome: Promise<Outcome> = hijackFailure
      ? Promise.resolve({ ok: false, error: hijackFailure })
      : controlOutcome;
    if (hijackFailure) control.destroy();
    this.result = (async () => {
      const o = await outcome;
      // The exit status only counts once every opened output stream reached EOF (protocol §7.5).
      await Promise.all(outputs.map((p) => p.done));
      this.release();
      if (this.closedByClient) throw this.closedByClient;
      if (!o.ok) throw o.error;
      return o.exitStatus;
    })();
    // wait() may never be called; the rejection is still observable through it.
    this.result.catch(() => {});
  }

  /**
   * Resolves with the exit status once the process exited and all its output was written to the
   * ProcessIO writables. Rejects with a GardenError `connection: process error: …` (the backend
   * failed to wait) or `connection: decode failed: …` (the server sent something that is not a
   * control message), a {@link GardenConnectionError} when the control connection broke or
   * closed first (e.g. the server went away; `transportCode` `EOF`, `ECONNRESET`, …), or a
   * {@link GardenAbortError} when *this call's* signal/timeout fired (the process is unaffected
   * and `wait()` can be called again).
   */
  wait(opts?: CallOptions): Promise<number> {
    return withScope(opts, (scope) => raceScope(this.result, scope));
  }

  /** Sends terminate (0) or kill (1). Resolves once the message was written. */
  signal(signal: Signal, opts?: CallOptions): Promise<void> {
    if (!isSignal(signal)) {
      return Promise.reject(
        new TypeError(`signal: expected Signal.Terminate (0) or Signal.Kill (1), got ${signal}`),
      );
    }
    return withScope(opts, (scope) => raceScope(this.writeControl(signalMessage(this.id, signal)), scope));
  }

  /** Resizes the process's TTY. Resolves once the message was written. */
  setTTY(spec: TTYSpec, opts?: CallOptions): Promise<void> {
    return withScope(opts, (scope) => raceScope(this.writeControl(ttyMessage(this.id, spec)), scope));
  }

  /**
   * Detaches from the process: closes the control and output connections (the process keeps
   * running; reattach with `container.attach(id)`). A pending `wait()` rejects with a
   * {@link GardenAbortError}.
   */
  close(): void {
    if (!this.closedByClient) {
      this.closedByClient = new GardenAbortError('The process connection was closed by the client', {
        timedOut: false,
      });
    }
    this.release();
  }

  private writeControl(message: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.control.destroyed || !this.control.writable) {
        const where = describeAddress(this.address);
        reject(
          new GardenConnectionError(
            `connection to the Garden server at ${where}: the control connection is closed`,
            {
              address: where,
              transportCode: 'CLOSED',
            },
          ),
        );
        return;
      }
      this.control.write(message, (err) => (err ? reject(connectionError(this.address, err)) : resolve()));
    });
  }

  private release() {
    this.stdinForwarder?.stop();
    for (const output of this.outputs) output.close();
    this.control.destroy();
  }
}

/** Rejects with the scope's abort error as soon as it aborts; otherwise settles like `p`. */
function raceScope<T>(p: Promise<T>, scope: CallScope): Promise<T> {
  if (!scope.signal) return p;
  return new Promise<T>((resolve, reject) => {
    const remove = scope.onAbort(reject);
    p.then(
      (v) => {
        remove();
        resolve(v);
      },
      (e) => {
        remove();
        reject(e);
      },
    );
  });
}

/** How to open the control connection: Run (POST with the spec) or Attach (GET by id). */
export type ControlRequest = { kind: 'run'; body: string } | { kind: 'attach'; processId: string };

/**
 * Opens a process's control connection, reads its first message, opens the requested output
 * streams and starts stdin forwarding (protocol §7.2–§7.6, Go client order).
 * @throws the typed Garden error of a non-2xx answer (ExecutableNotFoundError,
 *   ProcessNotFoundError, ContainerNotFoundError, …), the first message's decode error, or the
 *   scope's abort error (every socket opened so far is closed).
 */
export async function startProcess(
  target: ProcessTarget,
  request: ControlRequest,
  io: ProcessIO,
  scope: CallScope,
): Promise<ClientProcess> {
  checkIO(io);
  const { handle } = target;
  const hijackRequest: HijackRequest =
    request.kind === 'run'
      ? {
          method: ROUTES.Run.method,
          path: routeTarget('Run', { handle }),
          headers: [['Content-Type', 'application/json']],
          body: request.body,
        }
      : { method: ROUTES.Attach.method, path: routeTarget('Attach', { handle, pid: request.processId }) };
  const control = await hijack(target.dialer, hijackRequest, scope);
  const opened: OutputPump[] = [];
  const abandon = () => {
    for (const pump of opened) pump.close();
    control.socket.destroy();
  };
  let removeAbort = () => {};
  try {
    let reader!: ControlReader;
    const first = await new Promise<ServerMessage>((resolve, reject) => {
      removeAbort = scope.onAbort(reject);
      reader = new ControlReader(control.socket, target.address, control.leftover, (msg) =>
        msg instanceof Error ? reject(msg) : resolve(msg),
      );
    });
    removeAbort();
    const processId = first.processId ?? '';
    const streamId = first.streamId ?? '';

    let hijackFailure: Error | undefined;
    for (const [stream, dest] of [
      ['Stdout', io.stdout],
      ['Stderr', io.stderr],
    ] as const) {
      if (!dest || hijackFailure) continue;
      const path = routeTarget(stream, { handle, pid: processId, streamid: streamId });
      let conn: HijackedConnection;
      try {
        conn = await hijack(
          target.dialer,
          { method: ROUTES[stream].method, path, headers: [['Content-Type', 'application/json']] },
          scope,
        );
      } catch (err) {
        if (err instanceof GardenAbortError) throw err;
        // Like the Go client: Run/Attach still succeed, and wait() reports the failure.
        const message = `connection: failed to hijack stream ${stream}: ${(err as Error).message}`;
        hijackFailure =
          err instanceof GardenConnectionError
            ? new GardenConnectionError(message, {
                address: err.address,
                transportCode: err.transportCode,
                cause: err,
              })
            : new GardenError(message, { cause: err });
        continue;
      }
      opened.push(pumpOutput(conn, dest));
    }
    scope.throwIfAborted();
    return new ClientProcess(
      processId,
      control.socket,
      target.address,
      reader.outcome,
      opened,
      io.stdin,
      hijackFailure,
    );
  } catch (err) {
    removeAbort();
    abandon();
    throw err;
  }
}

function checkIO(io: ProcessIO): void {
  if (typeof io !== 'object' || io === null)
    throw new TypeError('io: expected a ProcessIO object ({} for none)');
  if (io.stdin !== undefined && typeof (io.stdin as Readable).on !== 'function') {
    throw new TypeError('io.stdin: expected a Readable stream');
  }
  for (const key of ['stdout', 'stderr'] as const) {
    const w = io[key];
    if (w !== undefined && typeof w.write !== 'function')
      throw new TypeError(`io.${key}: expected a Writable stream`);
  }
}
