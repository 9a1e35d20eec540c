/** Small tar helpers (tar-stream) for the conformance tests. */
import type { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';

/** One entry of {@link makeTar}: a directory, or a file with contents. */
export type TarInput = { name: string; type: 'directory' } | { name: string; data: Buffer };

/** Builds an in-memory tar archive. */
export async function makeTar(entries: TarInput[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    p.on('data', (c) => chunks.push(c as Buffer));
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const e of entries) {
    if ('type' in e) p.entry({ name: e.name, type: 'directory', mode: 0o755 });
    else p.entry({ name: e.name, mode: 0o644 }, e.data);
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Reads a tar stream into name → contents. Directory names keep their trailing `/` and map to an
 * empty buffer.
 */
export async function collectTar(stream: Readable): Promise<Record<string, Buffer>> {
  const ex = extract();
  const out: Record<string, Buffer> = {};
  stream.pipe(ex);
  for await (const entry of ex) {
    const parts: Buffer[] = [];
    for await (const chunk of entry) parts.push(chunk as Buffer);
    const name =
      entry.header.type === 'directory' && !entry.header.name.endsWith('/')
        ? `${entry.header.name}/`
        : entry.header.name;
    out[name] = Buffer.concat(parts);
  }
  return out;
}
