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
