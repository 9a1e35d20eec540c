/**
 * Transport failures as {@link GardenConnectionError}s: every socket, dial and HTTP-parser error
 * the client meets becomes one typed error that names the server and keeps the original as `cause`.
 */
import { GardenConnectionError, GardenError } from '@garden-ts/api-types';
import { GardenAbortError } from './call-options.js';
import { describeAddress, type GardenAddress } from './dial.js';

// Failures to establish a connection (as opposed to losing one).
const CONNECT_CODES = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'EACCES',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * The connection error for `err`, a failure of the connection to `address`; `what` says what was
 * lost (for example `before the process exited`). Abort errors and Garden errors (answers of the
 * server, or already wrapped) are returned unchanged.
 */
export function connectionError(address: GardenAddress, err: unknown, what?: string): Error {
  if (err instanceof GardenAbortError || err instanceof GardenError) return err;
  const e: NodeJS.ErrnoException = err instanceof Error ? err : new Error(String(err));
  const transportCode = typeof e.code === 'string' && e.code !== '' ? e.code : 'ECONNRESET';
  const where = describeAddress(address);
  const connecting =
    e.syscall === 'connect' || e.syscall === 'getaddrinfo' || CONNECT_CODES.has(transportCode);
  const message = connecting
    ? `cannot connect to the Garden server at ${where}: ${e.message}`
    : `connection to the Garden server at ${where} lost${what ? ` ${what}` : ''}: ${e.message}`;
  return new GardenConnectionError(message, { address: where, transportCode, cause: e });
}

/** The server closed the connection cleanly before the answer was complete. */
export function earlyEof(address: GardenAddress, what: string): GardenConnectionError {
  const where = describeAddress(address);
  return new GardenConnectionError(`connection to the Garden server at ${where} closed ${what}: EOF`, {
    address: where,
    transportCode: 'EOF',
  });
}
