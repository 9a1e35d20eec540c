/**
 * One request and its answer on a raw socket (the hijacked routes, and plain calls without a
 * stream body): the socket's listeners, the scope's abort, and the failures every such exchange
 * shares; what makes an answer complete is the caller's `read`.
 */
import type { Socket } from 'node:net';
import type { CallScope } from './call-options.js';
import { connectionError } from './connection-errors.js';
import { type GardenAddress, SPARE_CLOSED, spareClosedEarly } from './dial.js';

/** What an exchange reads its answer with. */
export interface AnswerReader<T> {
  /**
   * Everything received so far (`ended`: the server closed its side): undefined while more is
   * needed (never once `ended` after a head), else the result and whether the socket stays open
   * for the caller (paused) rather than being destroyed. Throws the exchange's error.
   */
  read(buf: Buffer, ended: boolean): { result: T; keep: boolean } | undefined;
  /** The error for a connection that closed before the head. */
  closedEarly(): Error;
}

/**
 * Writes `request` on `socket` (once connected) and feeds what arrives to `reader` until it has
 * its answer. Rejects with the reader's error, a GardenConnectionError for a socket error, the
 * scope's abort error, or {@link SPARE_CLOSED} when a spare closed without a byte of an answer;
 * the socket is destroyed in every failure case.
 */
export function rawExchange<T>(
  address: GardenAddress,
  socket: Socket,
  spare: boolean,
  request: Buffer,
  scope: CallScope,
  reader: AnswerReader<T>,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;

    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onEnd);
      removeAbort();
    };
    const fail = (err: Error | typeof SPARE_CLOSED) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    };
    // Not one byte of an answer on a spare: the server closed it without reading our request.
    const spareGone = (err?: unknown) =>
      spare && buf.length === 0 && (err === undefined || spareClosedEarly(err));
    const step = (ended: boolean) => {
      if (settled) return;
      let r: { result: T; keep: boolean } | undefined;
      try {
        r = reader.read(buf, ended);
      } catch (err) {
        return fail(err as Error);
      }
      if (r === undefined) {
        if (ended) fail(spareGone() ? SPARE_CLOSED : reader.closedEarly());
        return;
      }
      settled = true;
      if (r.keep) {
        // Pause before dropping our listener: a flowing socket with no listener loses data.
        socket.pause();
        cleanup();
        // Until the new owner listens, a socket error must not become an uncaught exception; the
        // owner learns about failures from 'close'/'end' (and its own 'error' listener).
        socket.on('error', () => {});
      } else {
        cleanup();
        socket.destroy();
      }
      resolve(r.result);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      step(false);
    };
    const onEnd = () => step(true);
    const onError = (err: Error) => fail(spareGone(err) ? SPARE_CLOSED : connectionError(address, err));
    const removeAbort = scope.onAbort((err) => fail(err));

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onEnd);
    const send = () => {
      if (!settled) socket.write(request);
    };
    // A spare is connected already.
    if (socket.connecting) socket.once('connect', send);
    else send();
  });
}
