/** Reads a request body into memory, refusing bodies larger than `limit` bytes. */
import type { Readable } from 'node:stream';
import { GardenError } from '@garden-ts/api-types';

/** Largest JSON request body accepted (Go has no limit; every real body is a few KiB). */
export const MAX_JSON_BODY_BYTES = 16 * 1024 * 1024;

/** The body was larger than the limit (answered with 413). */
export class BodyTooLargeError extends GardenError {
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.statusCode = 413;
  }
}

export function readBody(stream: Readable, limit = MAX_JSON_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        stream.resume();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('request body aborted'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
