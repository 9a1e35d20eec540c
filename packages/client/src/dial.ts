import { connect, type Socket } from 'node:net';

/** Where the Garden server listens: a unix socket path or a TCP host and port. */
export type GardenAddress = { socketPath: string } | { host: string; port: number };

/** Go's client dials every connection with a 2-second connect timeout (protocol §1.1). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;

/** A human-readable address, for error messages. */
export function describeAddress(address: GardenAddress): string {
  return 'socketPath' in address ? `unix:${address.socketPath}` : `tcp:${address.host}:${address.port}`;
}

/**
 * Opens one connection to the server. The returned socket is connecting; it is destroyed with an
 * `ETIMEDOUT` error when it has not connected within `connectTimeoutMs`.
 */
export function dial(address: GardenAddress, connectTimeoutMs: number): Socket {
  const socket =
    'socketPath' in address
      ? connect({ path: address.socketPath })
      : connect({ host: address.host, port: address.port });
  if (connectTimeoutMs > 0) {
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`dial ${describeAddress(address)}: i/o timeout`), {
        code: 'ETIMEDOUT',
        syscall: 'connect',
      });
      socket.destroy(err);
    }, connectTimeoutMs);
    timer.unref?.();
    const clear = () => clearTimeout(timer);
    socket.once('connect', clear);
    socket.once('close', clear);
  }
  return socket;
}

/** A spare older than this is not used (closed and replaced): it may be near a server timeout. */
export const SPARE_MAX_AGE_MS = 2000;

/**
 * Opens the connections of one client. Every request still gets a connection of its own that
 * carried nothing before (the Go client's model, protocol §1.2: the same bytes on the wire), but
 * that connection is dialled ahead: after each request takes one, the next is connected in the
 * background, unreferenced (it never keeps the process alive), and used if it is still open and
 * younger than {@link SPARE_MAX_AGE_MS}, when it is closed anyway (a quiet client holds nothing at
 * the server). The connect and the server's accept are then off the request's path: with every
 * wakeup of a sleeping peer costing a VM exit, that was ~0.3-0.5 ms per request on the benchmark
 * VM (docs/benchmarks.md). A spare the server closes meanwhile (a restart, its header timeout)
 * is noticed by the transports: a failure before any byte of an answer on a spare is retried once
 * on a new connection (a server would see the request twice only if it read it, died without
 * answering, and another already listened).
 */
export class Dialer {
  private spare: { socket: Socket; at: number; drop: () => void; timer: NodeJS.Timeout } | undefined;
  private spareScheduled = false;

  constructor(
    readonly address: GardenAddress,
    readonly connectTimeoutMs: number,
  ) {}

  /** A connection for one request; `spare` says whether it was dialled ahead. */
  take(): { socket: Socket; spare: boolean } {
    const s = this.spare;
    this.spare = undefined;
    this.scheduleSpare();
    if (s) {
      clearTimeout(s.timer);
      s.socket.off('error', s.drop);
      s.socket.off('end', s.drop);
      s.socket.off('close', s.drop);
      const usable =
        !s.socket.destroyed &&
        !s.socket.connecting &&
        !s.socket.readableEnded &&
        performance.now() - s.at < SPARE_MAX_AGE_MS;
      if (usable) {
        s.socket.ref();
        return { socket: s.socket, spare: true };
      }
      s.socket.destroy();
    }
    return { socket: this.dial(), spare: false };
  }

  /** A new connection, never a spare (a retry's, or a request body that cannot be sent twice). */
  dial(): Socket {
    return dial(this.address, this.connectTimeoutMs);
  }

  /**
   * Runs one request's exchange on a connection of its own (a spare unless `fresh`). An exchange
   * that rejects with {@link SPARE_CLOSED} (it got no byte of an answer on a spare) runs once more
   * on a new connection.
   */
  async exchange<T>(attempt: (socket: Socket, spare: boolean) => Promise<T>, fresh = false): Promise<T> {
    const { socket, spare } = fresh ? { socket: this.dial(), spare: false } : this.take();
    try {
      return await attempt(socket, spare);
    } catch (err) {
      if (err !== SPARE_CLOSED) throw err;
      return attempt(this.dial(), false);
    }
  }

  private scheduleSpare(): void {
    if (this.spareScheduled) return;
    this.spareScheduled = true;
    // After the current request's bytes are written.
    setImmediate(() => {
      this.spareScheduled = false;
      if (this.spare) return;
      const socket = this.dial();
      socket.unref();
      const entry = {
        socket,
        at: performance.now(),
        // Refused, reset or closed by the server, or too old: not usable.
        drop: () => {
          clearTimeout(entry.timer);
          if (this.spare === entry) this.spare = undefined;
          socket.destroy();
        },
        // A client that went quiet keeps no connection open at the server.
        timer: setTimeout(() => entry.drop(), SPARE_MAX_AGE_MS),
      };
      entry.timer.unref();
      socket.on('error', entry.drop);
      socket.on('end', entry.drop);
      socket.on('close', entry.drop);
      this.spare = entry;
    });
  }
}

/** An exchange's rejection: no byte of an answer came on a spare (see {@link Dialer.exchange}). */
export const SPARE_CLOSED = Symbol('spare closed');

/** Errors of a spare that the server closed before it read a request from it: retried. */
export function spareClosedEarly(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'EOF';
}

/** Validates a {@link GardenAddress}. @throws TypeError naming the bad field. */
export function checkAddress(address: unknown): GardenAddress {
  if (typeof address !== 'object' || address === null)
    throw new TypeError('address: expected { socketPath } or { host, port }');
  const a = address as Record<string, unknown>;
  if ('socketPath' in a) {
    if (typeof a.socketPath !== 'string' || a.socketPath === '') {
      throw new TypeError('address.socketPath: expected a non-empty string');
    }
    return { socketPath: a.socketPath };
  }
  if (typeof a.host !== 'string' || a.host === '')
    throw new TypeError('address.host: expected a non-empty string');
  if (typeof a.port !== 'number' || !Number.isInteger(a.port) || a.port <= 0 || a.port > 65535) {
    throw new TypeError('address.port: expected an integer between 1 and 65535');
  }
  return { host: a.host, port: a.port };
}
