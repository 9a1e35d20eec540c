/**
 * The ProcessPayload messages of a Run/Attach control connection (protocol §5.11, §7.4, §7.5).
 */
import { encodeBody, type Signal, type TTYSpec, Wire } from '@garden-ts/api-types';

/** What the client needs from a server → client control message. */
export interface ServerMessage {
  processId?: string;
  streamId?: string;
  exitStatus?: number;
  error?: string;
}

/** Decodes one parsed control message. @throws InvalidRequestError naming a malformed field. */
export function decodeServerMessage(value: unknown): ServerMessage {
  const payload = Wire.processPayload.decode(value);
  return {
    processId: payload.processId,
    streamId: payload.streamId,
    exitStatus: payload.exitStatus,
    error: payload.error,
  };
}

/** `{"process_id":P,"source":0,"data":TEXT}` + LF: one stdin chunk. */
export function stdinDataMessage(processId: string, data: string): string {
  return encodeBody(Wire.processPayload, { processId, source: 0, data });
}

/** `{"process_id":P,"source":0}` + LF: stdin EOF. */
export function stdinEofMessage(processId: string): string {
  return encodeBody(Wire.processPayload, { processId, source: 0 });
}

/** `{"process_id":P,"signal":S}` + LF. */
export function signalMessage(processId: string, signal: Signal): string {
  return encodeBody(Wire.processPayload, { processId, signal });
}

/** `{"process_id":P,"tty":{…}}` + LF: a window resize. */
export function ttyMessage(processId: string, tty: TTYSpec): string {
  return encodeBody(Wire.processPayload, { processId, tty });
}
