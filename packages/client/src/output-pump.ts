/**
 * Copies a hijacked output stream (Stdout/Stderr route) into the caller's writable.
 */
import type { Writable } from 'node:stream';
import type { HijackedConnection } from './hijack-transport.js';

/** A running copy; `done` resolves (never rejects) when the stream reached EOF or broke. */
export interface OutputPump {
  readonly done: Promise<void>;
  /** Stops copying and closes the connection. */
  close(): void;
}

/**
 * Writes the bytes that arrived with the response head, then every socket byte, to `dest` with
 * backpressure (the socket is paused while `dest.write()` returns false). `dest` is never ended:
 * it may be `process.stdout`, shared by several processes.
 */
export function pumpOutput(conn: HijackedConnection, dest: Writable): OutputPump {
  const { socket } = conn;
  let finished = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });

  let waitingForDrain = false;
  const onDrain = () => {
    waitingForDrain = false;
    if (!finished) socket.resume();
  };
  const waitForDrain = () => {
    socket.pause();
    if (waitingForDrain) return;
    waitingForDrain = true;
    dest.once('drain', onDrain);
  };
  const write = (chunk: Buffer) => {
    if (dest.destroyed || dest.writableEnded) return finish();
    if (!dest.write(chunk)) waitForDrain();
  };
  const onDestGone = () => finish();
  const finish = () => {
    if (finished) return;
    finished = true;
    socket.off('data', write);
    socket.off('end', finish);
    socket.off('close', finish);
    socket.off('error', finish);
    dest.off('drain', onDrain);
    dest.off('close', onDestGone);
    dest.off('error', onDestGone);
    socket.destroy();
    resolveDone();
  };

  dest.once('close', onDestGone);
  dest.once('error', onDestGone);
  socket.on('data', write);
  socket.once('end', finish);
  socket.once('close', finish);
  // A broken output connection ends the copy; Go's client ignores the io.Copy error too.
  socket.once('error', finish);
  if (conn.leftover.length > 0) write(conn.leftover);
  if (!finished) {
    // dest may already be full (another writer, or the leftover): start once it drains.
    if (dest.writableNeedDrain) waitForDrain();
    else socket.resume();
  }
  return { done, close: finish };
}
