/**
 * One layer from bytes to a directory in a single pass: the compressed bytes are hashed (the
 * blob digest), decompressed (gzip through zlib, zstd through fzstd: Node 20's zlib has no
 * zstd), hashed again (the diff id) and unpacked by {@link DirWriter}. Digests are checked when
 * the stream ends; the caller unpacks into a temporary directory and only keeps it on success.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import { DigestMismatchError, ImageError, ImageErrorCode } from './errors.js';
import { TarParser } from './tar.js';
import { DirWriter, type DirWriterOptions, type UnpackStats } from './unpack.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Compression from the first bytes (magic numbers), whatever the media type claims. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** zstd frames → bytes, as a Transform (fzstd is push-based). */
class ZstdDecompress extends Transform {
  private readonly d = new Decompress((data) => {
    if (data.length) this.push(Buffer.from(data)); // copied: fzstd may reuse its block buffers
  });

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.d.push(chunk);
    } catch (e) {
      cb(badCompression('zstd', e));
      return;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.d.push(new Uint8Array(0), true);
    } catch (e) {
      cb(badCompression('zstd', e));
      return;
    }
    cb();
  }
}

function badCompression(kind: string, cause: unknown): ImageError {
  return new ImageError(
    ImageErrorCode.InvalidImage,
    `layer is not valid ${kind} data: ${(cause as Error).message}`,
    {
      cause,
    },
  );
}

export interface LayerStreamOptions extends DirWriterOptions {
  /** For messages: `layer sha256:… of docker://…`. */
  what: string;
  /** Digest the compressed bytes must have (`sha256:…`). */
  expectDigest?: string;
  /** Digest the uncompressed archive must have (the config's diff id). */
  expectDiffId?: string;
  /** Called with the running count of compressed bytes read. */
  onBytes?: (bytes: number) => void;
}

export interface LayerStreamResult {
  /** sha256 of the bytes as read. */
  digest: string;
  /** sha256 of the uncompressed archive. */
  diffId: string;
  compressedSize: number;
  /** Uncompressed archive size. */
  size: number;
  compression: Compression;
  stats: UnpackStats;
}

/**
 * Reads `source` to its end, unpacking into `dir` (an existing empty directory). On a digest
 * mismatch, a corrupt archive or a read error it throws after the stream was abandoned; `dir` then
 * holds a partial tree for the caller to delete.
 */
export async function unpackLayerStream(
  source: AsyncIterable<Uint8Array>,
  dir: string,
  options: LayerStreamOptions,
): Promise<LayerStreamResult> {
  const compressedHash = createHash('sha256');
  const diffHash = createHash('sha256');
  let compressedSize = 0;
  let size = 0;
  const it = source[Symbol.asyncIterator]();
  // Peek at the first bytes to choose the decompressor.
  const head: Buffer[] = [];
  let headLen = 0;
  let done = false;
  while (headLen < 4) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    head.push(b);
    headLen += b.length;
  }
  const compression = sniffCompression(Buffer.concat(head, headLen));
  const onBytes = options.onBytes;
  async function* tapped(): AsyncGenerator<Buffer> {
    for (const b of head) {
      compressedHash.update(b);
      compressedSize += b.length;
      onBytes?.(compressedSize);
      yield b;
    }
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      compressedHash.update(b);
      compressedSize += b.length;
      onBytes?.(compressedSize);
      yield b;
    }
  }
  const writer = new DirWriter(dir, options);
  const parser = new TarParser(writer);
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      diffHash.update(chunk);
      size += chunk.length;
      parser.write(chunk).then(() => cb(), cb);
    },
    final(cb) {
      try {
        parser.finish();
      } catch (e) {
        cb(e as Error);
        return;
      }
      try {
        writer.finish();
      } catch (e) {
        cb(e as Error);
        return;
      }
      cb();
    },
  });
  const stages: (NodeJS.ReadableStream | NodeJS.ReadWriteStream | NodeJS.WritableStream)[] = [
    Readable.from(tapped(), { objectMode: false, highWaterMark: 1 << 20 }),
  ];
  if (compression === 'gzip') stages.push(createGunzip({ chunkSize: 128 * 1024 }));
  else if (compression === 'zstd') stages.push(new ZstdDecompress());
  stages.push(sink);
  try {
    await pipeline(stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
  } catch (e) {
    writer.abort();
    let err = e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || code === 'Z_NEED_DICT')
      err = badCompression('gzip', e);
    // Undecodable content with a known digest: read the rest to tell corruption in transit or
    // storage (a digest mismatch, the real cause) from a well-formed but bad archive.
    if (err instanceof ImageError && options.expectDigest && !done) {
      let drained = true;
      try {
        for (let r = await it.next(); !r.done; r = await it.next()) compressedHash.update(r.value);
      } catch {
        drained = false;
      }
      const actual = `sha256:${compressedHash.digest('hex')}`;
      if (drained && actual !== options.expectDigest) {
        const m = new DigestMismatchError(options.what, options.expectDigest, actual);
        (m as { cause?: unknown }).cause = err;
        throw m;
      }
    }
    if (typeof it.return === 'function') await it.return(undefined).catch(() => undefined);
    throw err;
  }
  const digest = `sha256:${compressedHash.digest('hex')}`;
  const diffId = `sha256:${diffHash.digest('hex')}`;
  if (options.expectDigest && options.expectDigest !== digest)
    throw new DigestMismatchError(options.what, options.expectDigest, digest);
  if (options.expectDiffId && options.expectDiffId !== diffId)
    throw new DigestMismatchError(`${options.what} (uncompressed)`, options.expectDiffId, diffId);
  return { digest, diffId, compressedSize, size, compression, stats: writer.stats };
}
