/** Guards a unix socket path against a second gardend taking it over from a live one. */
import { connect } from 'node:net';

/**
 * Whether something accepts connections on `socketPath` right now. The server removes a stale
 * socket file before binding (as Go's does), which would silently steal the path from a running
 * gardend — and two Linux backends on one depot would fight over its containers.
 */
export function socketInUse(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    const done = (inUse: boolean) => {
      socket.destroy();
      resolve(inUse);
    };
    socket.setTimeout(timeoutMs, () => done(true));
    socket.once('connect', () => done(true));
    // ENOENT (no file) or ECONNREFUSED (a stale file nobody listens on): free to take.
    socket.once('error', () => done(false));
  });
}
