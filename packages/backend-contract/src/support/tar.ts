import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { readAll } from './streams.js';

/** One entry to put in a test archive. A name ending in `/` (or no content) is a directory. */
export interface TarInput {
  name: string;
  content?: string | Buffer;
  mode?: number;
}

/** One entry read back from an archive; `name` has no trailing `/`. */
export interface TarEntry {
  name: string;
  type: string;
  content: Buffer;
}

/** Builds an uncompressed tar archive in memory. */
export async function makeTar(entries: TarInput[]): Promise<Buffer> {
  const pack = tar.pack();
  const done = readAll(Readable.from(pack));
  for (const entry of entries) {
    if (entry.content === undefined) {
      pack.entry({ name: entry.name, type: 'directory', mode: entry.mode ?? 0o755 });
    } else {
      const content = typeof entry.content === 'string' ? Buffer.from(entry.content) : entry.content;
      pack.entry({ name: entry.name, type: 'file', mode: entry.mode ?? 0o644 }, content);
    }
  }
  pack.finalize();
  return done;
}

/** A Node Readable over an archive, as `streamIn` expects. */
export function tarStream(archive: Buffer): Readable {
  return Readable.from([archive]);
}

/** Reads a whole archive; rejects when the stream fails or the archive is malformed. */
export async function readTar(stream: Readable): Promise<TarEntry[]> {
  const archive = await readAll(stream);
  const extract = tar.extract();
  const entries: TarEntry[] = [];
  extract.end(archive);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({
      name: entry.header.name.replace(/\/+$/, '') || '/',
      type: entry.header.type ?? 'file',
      content: Buffer.concat(chunks),
    });
  }
  return entries;
}

/** Entry names of an archive, without trailing slashes and without the `./` prefix. */
export function entryNames(entries: TarEntry[]): string[] {
  return entries.map((e) => e.name.replace(/^\.\//, ''));
}

/** The content of the entry called `name` (`./` prefix ignored); throws when absent. */
export function entryContent(entries: TarEntry[], name: string): string {
  const found = entries.find((e) => e.name.replace(/^\.\//, '') === name);
  if (!found) throw new Error(`archive has no entry '${name}' (entries: ${entryNames(entries).join(', ')})`);
  return found.content.toString('utf8');
}
