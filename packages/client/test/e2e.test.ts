/**
 * End to end: client → @garden-ts/server → @garden-ts/backend-fake over a unix socket.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Signal } from '@garden-ts/api-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/index.js';
import { collector, describeClientBehaviour } from './shared.js';
import { startTsGarden, type TsGarden } from './ts-garden.js';

let garden: TsGarden;
beforeAll(async () => {
  garden = await startTsGarden();
});
afterAll(async () => {
  await garden?.close();
});

describeClientBehaviour('TS server + backend-fake', () => garden.socketPath);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('end to end (TS server only)', { timeout: 20_000 }, () => {
  it('round-trips 8 MiB of binary-free stdin/stdout through cat, hash checked', async () => {
    const client = createClient({ socketPath: garden.socketPath });
    const c = await client.create({});
    try {
      // Stdin travels as JSON strings (not binary-safe), so the payload is text: hex of random bytes.
      const data = Buffer.from(randomBytes(4 * 1024 * 1024).toString('hex'));
      expect(data.length).toBe(8 * 1024 * 1024);
      const chunks: Buffer[] = [];
      for (let i = 0; i < data.length; i += 64 * 1024) chunks.push(data.subarray(i, i + 64 * 1024));
      const out = collector();
      const proc = await c.run({ path: 'cat' }, { stdin: Readable.from(chunks), stdout: out.stream });
      expect(await proc.wait()).toBe(0);
      expect(out.buffer().length).toBe(data.length);
      expect(sha256(out.buffer())).toBe(sha256(data));
    } finally {
      await client.destroy(c.handle);
    }
  });

  it('the server going away mid-run rejects wait() (no hang)', async () => {
    const own = await startTsGarden();
    try {
      const client = createClient({ socketPath: own.socketPath });
      const c = await client.create({});
      const proc = await c.run({ path: 'sleep', args: ['100'] }, { stdout: collector().stream });
      const waiting = proc.wait();
      await own.close();
      await expect(waiting).rejects.toMatchObject({
        name: 'GardenConnectionError',
        code: 'GARDEN_CONNECTION',
        address: `unix:${own.socketPath}`,
        message: expect.stringMatching(
          /^connection to the Garden server at unix:.* (closed|lost) before the process exited/,
        ),
      });
    } finally {
      await own.close();
    }
  });

  it('signals reach a process whose stdin is still open', async () => {
    const client = createClient({ socketPath: garden.socketPath });
    const c = await client.create({});
    try {
      const open = new Readable({ read() {} });
      const proc = await c.run({ path: 'sleep', args: ['100'] }, { stdin: open });
      open.push('x');
      await proc.signal(Signal.Terminate);
      expect(await proc.wait()).toBe(143);
    } finally {
      await client.destroy(c.handle);
    }
  });

  it('the server leaves no connection open once calls finished', async () => {
    const client = createClient({ socketPath: garden.socketPath });
    const c = await client.create({});
    const proc = await c.run(
      { path: 'echo', args: ['x'] },
      { stdout: collector().stream, stderr: collector().stream },
    );
    await proc.wait();
    await client.destroy(c.handle);
    // Clients keep the connection they dialled ahead for their next call (dial.ts) until it is
    // older than SPARE_MAX_AGE_MS: then nothing is left.
    for (let i = 0; i < 300 && garden.server.connectionCount > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(garden.server.connectionCount).toBe(0);
  });
});

describe('TCP', () => {
  it('works over { host, port }', async () => {
    const { createFakeBackend } = await import('@garden-ts/backend-fake');
    const { buildServer } = await import('@garden-ts/server');
    const server = buildServer({ backend: createFakeBackend() });
    await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const address = server.address;
      if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
      const client = createClient({ host: '127.0.0.1', port: address.port });
      const c = await client.create({});
      const out = collector();
      const proc = await c.run({ path: 'echo', args: ['over', 'tcp'] }, { stdout: out.stream });
      expect(await proc.wait()).toBe(0);
      expect(out.text()).toBe('over tcp\n');
      await client.destroy(c.handle);
    } finally {
      await server.close();
    }
  });
});
