/**
 * A StreamIn the backend refuses mid-upload, through the client and the server: the caller gets
 * the server's typed error naming the entry, not a connection error, whether the backend drains
 * or destroys the tar stream it refused (the server's side: server/test/stream-in-errors.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Backend, type Container, GardenConnectionError, GardenError } from '@garden-ts/api-types';
import { createFakeBackend } from '@garden-ts/backend-fake';
import { buildServer, type GardenServer } from '@garden-ts/server';
import tar from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../src/index.js';

const REFUSAL = "error streaming in: tar: ../escape: refusing to extract path containing '..'";

let server: GardenServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  server = undefined;
  dir = undefined;
});

/** backend-fake, or backend-fake whose containers destroy the tar stream they refuse (as tar being killed does). */
function backendThat(destroys: boolean): Backend {
  const fake = createFakeBackend();
  if (!destroys) return fake;
  const refusing = (c: Container): Container =>
    new Proxy(c, {
      get(target, prop, receiver) {
        if (prop === 'streamIn') {
          return async (spec: { tarStream: Readable }) => {
            await new Promise<void>((resolve) => spec.tarStream.once('readable', () => resolve()));
            spec.tarStream.destroy();
            throw new GardenError(REFUSAL);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return new Proxy(fake, {
    get(target, prop, receiver) {
      if (prop === 'lookup') return async (handle: string) => refusing(await target.lookup(handle));
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A tar whose first entry climbs out with `..`, then 8 MiB the server never needs, in 64 KiB reads. */
async function hostileTar(): Promise<Readable> {
  const pack = tar.pack();
  pack.entry({ name: '../escape', mode: 0o644 }, 'owned');
  pack.entry({ name: 'big', mode: 0o644 }, Buffer.alloc(8 * 1024 * 1024, 'x'));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  const all = Buffer.concat(chunks);
  const pieces: Buffer[] = [];
  for (let at = 0; at < all.length; at += 64 * 1024) pieces.push(all.subarray(at, at + 64 * 1024));
  return Readable.from(pieces, { objectMode: false });
}

describe.each([
  ['drains it (backend-fake)', false],
  ['destroys it', true],
])('a StreamIn refused mid-upload, when the backend %s', (_name, destroys) => {
  it('rejects with the typed error naming the entry, not a connection error', async () => {
    dir = mkdtempSync(join(tmpdir(), 'garden-client-streamin-'));
    const socketPath = join(dir, 'garden.sock');
    server = buildServer({ backend: backendThat(destroys) });
    await server.listen({ socketPath });
    const client = createClient({ socketPath });
    const container = await client.create({ handle: 'h' });
    const err = await container
      .streamIn({ path: '/tmp', tarStream: await hostileTar() })
      .catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(GardenConnectionError);
    expect(err).toBeInstanceOf(GardenError);
    expect((err as GardenError).message).toBe(REFUSAL);
    expect((err as GardenError).statusCode).toBe(500);
    // The server serves on; nothing escaped.
    await client.ping();
    await expect(container.streamOut({ path: '/escape' })).rejects.toThrow();
  });
});
