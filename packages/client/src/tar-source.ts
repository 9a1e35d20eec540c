/**
 * What `streamIn` accepts as its tar archive: any readable stream or iterable of bytes — a Node
 * Readable, a web ReadableStream, an async iterable (tar-stream's `pack()`, a generator), an
 * iterable of chunks or one buffer — turned into the Node Readable the transport pipes.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/**
 * A tar archive as any stream or iterable of byte chunks. Async iterables are typed with unknown
 * chunks because streamx streams (tar-stream's `pack()`) declare theirs so; a chunk that is not
 * bytes or a string fails the upload (a rejected promise).
 */
export type TarSource =
  | NodeJS.ReadableStream
  | Uint8Array
  | WebReadableStream<Uint8Array>
  | AsyncIterable<unknown>
  | Iterable<Uint8Array>;

/**
 * A Node Readable of `source`.
 * @throws TypeError naming `field` when `source` is none of the accepted kinds.
 */
export function toReadable(source: unknown, field: string): Readable {
  if (source instanceof Readable) return source;
  if (typeof source === 'object' && source !== null) {
    const s = source as Record<string | symbol, unknown>;
    // A web ReadableStream (also tested by shape: it may come from another realm).
    if (typeof s.getReader === 'function' && typeof s.pipeTo === 'function') {
      return Readable.fromWeb(source as WebReadableStream<Uint8Array>, { objectMode: false });
    }
    // The whole archive in memory.
    if (source instanceof Uint8Array) return Readable.from([source], { objectMode: false });
    // Iterables: streamx streams (tar-stream's pack) are async iterables and iterate cleanly.
    if (typeof s[Symbol.asyncIterator] === 'function' || typeof s[Symbol.iterator] === 'function') {
      return Readable.from(source as AsyncIterable<Uint8Array>, { objectMode: false });
    }
    // An old-style stream (data/end events, pipe) that is not an iterable.
    if (typeof s.pipe === 'function' && typeof s.on === 'function') {
      return new Readable({ objectMode: false }).wrap(source as NodeJS.ReadableStream);
    }
  }
  throw new TypeError(
    `${field}: expected a readable stream (Node Readable, web ReadableStream) or an (async) iterable of byte chunks`,
  );
}
