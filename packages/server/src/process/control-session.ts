/**
 * The control connection of one Run or Attach after its response head (protocol §7.3–§7.5, §7.8):
 * reads ProcessPayload lines from the client and dispatches them in the Go server's priority order,
 * waits for the process, writes the final `exit_status`/`error` message and closes.
 */
import type { Socket } from 'node:net';
import type { PassThrough } from 'node:stream';
import {
  decodeBody,
  encodeBody,
  isSignal,
  type Process,
  type ProcessPayload,
  Wire,
} from '@garden-ts/api-types';
import type { Logger } from 'pino';
import { errorSummary } from '../log-errors.js';
import { closeAfterFlush } from './close-after-flush.js';

/** Longest control message accepted; a longer line is treated like a decode error. */
const MAX_CONTROL_LINE = 16 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);

// The Go client's stdin messages: exactly these keys, compact. They take a fast path (JSON.parse is
// an order of magnitude faster than the Go-exact decoder on 32 KiB strings); anything else is
// decoded with Go's rules.
const STDIN_KEYS = new Set(['process_id', 'source', 'data']);
const SOURCE_LITERAL = /"source":(\d{1,15})[,}]/;

/** Decodes one control line as Go's decoder would. @throws InvalidRequestError */
function decodeControlMessage(line: string): ProcessPayload {
  if (line.startsWith('{"') && line.includes('"data":"')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const o = parsed as Record<string, unknown>;
      const keys = Object.keys(o);
      const literal = SOURCE_LITERAL.exec(line);
      if (
        keys.every((k) => STDIN_KEYS.has(k)) &&
        typeof o.data === 'string' &&
        (o.process_id === undefined || typeof o.process_id === 'string') &&
        typeof o.source === 'number' &&
        literal !== null &&
        Number(literal[1]) === o.source
      ) {
        const msg: ProcessPayload = { source: o.source, data: o.data };
        if (o.process_id) msg.processId = o.process_id as string;
        return msg;
      }
    }
  }
  return decodeBody(Wire.processPayload, line) ?? {};
}

/** How the session ended. */
export type SessionEnd = 'exited' | 'wait-failed' | 'client-gone' | 'server-stopping';

export interface ControlSessionOptions {
  socket: Socket;
  process: Process;
  stdin: PassThrough;
  streamId: string;
  /** Bytes that arrived with the request (after the Run body): the first control messages. */
  initial: Buffer;
  log: Logger;
  stopping: AbortSignal;
}

/** The first line of a control stream: `{"process_id":…,"stream_id":…}`. */
export function firstMessage(processId: string, streamId: string): string {
  return encodeBody(Wire.processPayload, { processId, streamId });
}

/**
 * Serves the control connection until the process is done, the client went away while the server
 * was still reading, or the server stops. Resolves with the reason; never rejects.
 */
export function runControlSession(o: ControlSessionOptions): Promise<SessionEnd> {
  const { socket, process, stdin, log } = o;
  const processId = process.id;
  let buffered: Buffer = o.initial;
  let reading = true;
  let busy = false;
  let ended = false;

  return new Promise<SessionEnd>((resolve) => {
    const stopReading = () => {
      if (!reading) return;
      reading = false;
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      socket.pause();
      buffered = EMPTY;
      partial = [];
    };

    const finish = (reason: SessionEnd, final?: ProcessPayload) => {
      if (ended) return;
      ended = true;
      stopReading();
      o.stopping.removeEventListener('abort', onStopping);
      if (final && !socket.destroyed && socket.writable) socket.write(encodeBody(Wire.processPayload, final));
      if (reason === 'client-gone') socket.destroy();
      else closeAfterFlush(socket);
      // The output connections are not ours: the caller ends them through the stream registry.
      if (reason === 'exited' || reason === 'wait-failed') {
        if (!stdin.writableEnded) stdin.end();
      } else {
        // The process keeps running; it sees a read error on stdin (the client went away).
        stdin.destroy(new Error(reason === 'client-gone' ? 'control connection closed' : 'server stopping'));
      }
      log.debug({ reason, processId, streamId: o.streamId }, 'process stream ended');
      resolve(reason);
    };

    const closeStdin = () => {
      if (!stdin.writableEnded && !stdin.destroyed) stdin.end();
    };

    /** Reads no further message until `settled` settles. */
    const holdUntil = (settled: Promise<unknown>) => {
      busy = true;
      socket.pause();
      void settled.finally(() => {
        busy = false;
        if (reading) {
          socket.resume();
          drainLines();
        }
      });
    };

    /** Handles one decoded message; returns false when reading must stop. */
    const dispatch = (msg: ProcessPayload): boolean => {
      if (msg.tty !== undefined) {
        const tty = msg.tty;
        // Errors (even synchronous ones) are only logged, as in Go. The messages behind it wait
        // until the backend has applied it, as in Go (SetTTY returns before the next message is
        // read): a stdin EOF right behind a resize must not reach the process first.
        holdUntil(
          Promise.resolve()
            .then(() => process.setTTY(tty))
            .catch((err) => log.warn({ err, processId }, 'set tty failed')),
        );
        return true;
      }
      if (msg.source !== undefined) {
        if (msg.data === undefined) {
          closeStdin();
          return false;
        }
        if (stdin.destroyed || stdin.writableEnded) return false;
        if (!stdin.write(Buffer.from(msg.data, 'utf8'))) {
          holdUntil(
            new Promise<void>((resolve) => {
              const resume = () => {
                stdin.off('drain', resume);
                stdin.off('close', resume);
                resolve();
              };
              stdin.on('drain', resume);
              stdin.on('close', resume);
            }),
          );
        }
        return true;
      }
      if (msg.signal !== undefined) {
        if (isSignal(msg.signal)) {
          const signal = msg.signal;
          Promise.resolve()
            .then(() => process.signal(signal))
            .catch((err) => log.warn({ err, processId }, 'signal failed'));
          return true;
        }
      }
      // An unknown signal or an unrecognised message: close stdin and stop reading.
      closeStdin();
      return false;
    };

    // Bytes of the current, incomplete line (kept as a list: lines span many socket reads).
    let partial: Buffer[] = [];
    let partialBytes = 0;

    const drainLines = () => {
      while (reading && !busy) {
        const nl = buffered.indexOf(10);
        if (nl === -1) {
          if (buffered.length > 0) {
            partial.push(buffered);
            partialBytes += buffered.length;
            buffered = EMPTY;
          }
          if (partialBytes > MAX_CONTROL_LINE) finish('client-gone');
          return;
        }
        let lineBytes = buffered.subarray(0, nl);
        buffered = buffered.subarray(nl + 1);
        if (partial.length > 0) {
          partial.push(lineBytes);
          lineBytes = Buffer.concat(partial, partialBytes + lineBytes.length);
          partial = [];
          partialBytes = 0;
        }
        const line = lineBytes.toString('utf8');
        if (line.trim() === '') continue;
        let msg: ProcessPayload;
        try {
          msg = decodeControlMessage(line);
        } catch (err) {
          // A message that does not decode is treated like the client going away (Go §7.4 rule 5).
          // The client's mistake: info, without a stack.
          log.info({ error: errorSummary(err), processId }, 'undecodable control message');
          return finish('client-gone');
        }
        if (!dispatch(msg)) {
          stopReading();
          return;
        }
      }
    };

    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      drainLines();
    };
    const onGone = () => finish('client-gone');
    const onStopping = () => finish('server-stopping');

    socket.on('error', () => {});
    socket.on('data', onData);
    socket.on('end', onGone);
    socket.on('close', onGone);
    if (o.stopping.aborted) return finish('server-stopping');
    o.stopping.addEventListener('abort', onStopping);

    Promise.resolve()
      .then(() => process.wait())
      .then(
        (exitStatus) => finish('exited', { processId, exitStatus }),
        (err: unknown) =>
          finish('wait-failed', { processId, error: err instanceof Error ? err.message : String(err) }),
      );

    socket.resume();
    drainLines();
  });
}
