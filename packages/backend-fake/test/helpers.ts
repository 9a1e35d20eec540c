import { Readable, Writable } from 'node:stream';
import tar from 'tar-stream';

/** A Writable that keeps everything written to it. */
export class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export interface TarEntrySpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string;
  mode?: number;
  linkname?: string;
  mtime?: Date;
}

/** Builds a tar archive in memory. */
export async function makeTar(entries: TarEntrySpec[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      linkname: e.linkname,
      ...(e.mtime ? { mtime: e.mtime } : {}),
    };
    if (type === 'file') pack.entry(header, Buffer.from(e.content ?? ''));
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface ListedEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  content: string;
  linkname: string;
  mtime: Date;
}

/** Reads a tar stream into its entries. */
export async function listTar(stream: Readable): Promise<ListedEntry[]> {
  const extract = tar.extract();
  const entries: ListedEntry[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      for await (const chunk of entry) parts.push(chunk as Buffer);
      const h = entry.header;
      entries.push({
        name: h.name,
        type: h.type,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        content: Buffer.concat(parts).toString('utf8'),
        linkname: h.linkname ?? '',
        mtime: h.mtime,
      });
    }
  })();
  stream.pipe(extract as unknown as Writable);
  await done;
  return entries;
}

export const bufferStream = (data: Buffer): Readable => Readable.from([data]);
