/** Frames between the server and garden-shim; mirrors native/protocol.h. */

/** type u8 | stream u8 | len u32le | value u64le */
export const FRAME_HEADER = 14;
export const MAX_OUTPUT_CHUNK = 64 * 1024;
export const MAX_CLIENT_PAYLOAD = 1 << 20;
export const FROM_UNDELIVERED = 0xffff_ffff_ffff_ffffn;
/** ATTACH flag (frame value): only EXIT is sent, output is neither sent nor marked delivered. */
export const ATTACH_STATUS_ONLY = 1n;

export const ClientFrame = { Spec: 1, Attach: 2, Stdin: 3, StdinEof: 4, Signal: 5, Resize: 6 } as const;
export const ShimFrame = { Started: 101, Error: 102, Output: 103, Eof: 104, Exit: 105 } as const;

/** One decoded frame. */
export interface Frame {
  type: number;
  stream: number;
  value: bigint;
  payload: Buffer;
}

/** Encodes one frame. */
export function encodeFrame(
  type: number,
  stream: number,
  value: bigint,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  b.writeUInt8(type, 0);
  b.writeUInt8(stream, 1);
  b.writeUInt32LE(payload.length, 2);
  b.writeBigUInt64LE(value, 6);
  payload.copy(b, FRAME_HEADER);
  return b;
}

/** Incremental decoder; rejects frames larger than `maxPayload`. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxPayload = MAX_OUTPUT_CHUNK + 4096) {}

  /** Feeds bytes; returns every complete frame. @throws Error on an oversized frame. */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    let off = 0;
    while (this.buf.length - off >= FRAME_HEADER) {
      const len = this.buf.readUInt32LE(off + 2);
      if (len > this.maxPayload) throw new Error(`shim frame too large (${len} bytes)`);
      if (this.buf.length - off < FRAME_HEADER + len) break;
      out.push({
        type: this.buf.readUInt8(off),
        stream: this.buf.readUInt8(off + 1),
        value: this.buf.readBigUInt64LE(off + 6),
        payload: Buffer.from(this.buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len)),
      });
      off += FRAME_HEADER + len;
    }
    this.buf = this.buf.subarray(off);
    return out;
  }
}
