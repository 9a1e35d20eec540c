/**
 * The client's input API as a new user meets it (issue 14, "npm installs that work"): any
 * readable as StreamIn's archive, never a throw outside the returned promise; durations with
 * explicit units; a refused handle as the typed 400; the BigInt JSON helper; the README's imports.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as clientModule from '../src/index.js';
import {
  type ClientContainer,
  createClient,
  InvalidRequestError,
  SECOND,
  seconds,
  stringifyJson,
} from '../src/index.js';
import { collector, makeTar } from './shared.js';
import { startTsGarden, type TsGarden } from './ts-garden.js';

let garden: TsGarden;
let container: ClientContainer;
beforeAll(async () => {
  garden = await startTsGarden();
  container = await createClient({ socketPath: garden.socketPath }).create({});
});
afterAll(() => garden?.close());

async function cat(path: string): Promise<string> {
  const out = collector();
  await (await container.run({ path: 'cat', args: [path] }, { stdout: out.stream })).wait();
  return out.text();
}

describe('streamIn takes any readable', () => {
  it("tar-stream's pack()", async () => {
    const pack = tar.pack();
    pack.entry({ name: 'packed.txt' }, 'from tar-stream\n');
    pack.finalize();
    await container.streamIn({ path: '/in', tarStream: pack });
    expect(await cat('/in/packed.txt')).toBe('from tar-stream\n');
  });

  it('a web ReadableStream, an async generator, an array of chunks, a Uint8Array', async () => {
    const archive = await makeTar({ 'web.txt': 'web\n' });
    const web = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(archive.subarray(0, 700));
        controller.enqueue(archive.subarray(700));
        controller.close();
      },
    });
    await container.streamIn({ path: '/web', tarStream: web });
    expect(await cat('/web/web.txt')).toBe('web\n');

    const gen = await makeTar({ 'gen.txt': 'generated\n' });
    async function* chunks() {
      for (let i = 0; i < gen.length; i += 512) yield gen.subarray(i, i + 512);
    }
    await container.streamIn({ path: '/gen', tarStream: chunks() });
    expect(await cat('/gen/gen.txt')).toBe('generated\n');

    const arr = await makeTar({ 'arr.txt': 'array\n' });
    await container.streamIn({ path: '/arr', tarStream: [arr.subarray(0, 100), arr.subarray(100)] });
    expect(await cat('/arr/arr.txt')).toBe('array\n');

    await container.streamIn({ path: '/buf', tarStream: await makeTar({ 'b.txt': 'buffer\n' }) });
    expect(await cat('/buf/b.txt')).toBe('buffer\n');
  });

  it('rejects (never throws) for a bad argument or a failing source', async () => {
    const bad = container.streamIn({ path: '/x', tarStream: 42 as never });
    expect(bad).toBeInstanceOf(Promise);
    await expect(bad).rejects.toThrow(
      new TypeError(
        'spec.tarStream: expected a readable stream (Node Readable, web ReadableStream) or an (async) iterable of byte chunks',
      ),
    );
    const boom = new Error('disk on fire');
    async function* failing() {
      yield (await makeTar({ 'a.txt': 'a' })).subarray(0, 512);
      throw boom;
    }
    await expect(container.streamIn({ path: '/fail', tarStream: failing() })).rejects.toBe(boom);
    const nodeFailing = new Readable({
      read() {
        this.destroy(new Error('read failed'));
      },
    });
    await expect(container.streamIn({ path: '/fail', tarStream: nodeFailing })).rejects.toThrow(
      'read failed',
    );
    async function* notBytes() {
      yield 42;
    }
    await expect(container.streamIn({ path: '/fail', tarStream: notBytes() })).rejects.toThrow(TypeError);
  });

  it('survives a source that errors after its upload', async () => {
    const late = new Readable({ autoDestroy: false, read() {} });
    late.push(await makeTar({ 'late.txt': 'late\n' }));
    late.push(null);
    await container.streamIn({ path: '/late', tarStream: late });
    expect(await cat('/late/late.txt')).toBe('late\n');
    // Would be an uncaught exception (failing this test run) without the client's listener.
    late.destroy(new Error('late failure'));
    await new Promise((r) => setTimeout(r, 50));
  });
});

describe('durations have units', () => {
  it('refuses a plain number and takes strings, objects and bigints', async () => {
    const client = createClient({ socketPath: garden.socketPath });
    await expect(client.create({ graceTime: 300 as never })).rejects.toThrow(
      new TypeError(
        "spec.graceTime: a plain number is ambiguous (Garden durations are nanoseconds): give seconds(300), '300s' or { seconds: 300 }",
      ),
    );
    await expect(client.create({ graceTime: 'soon' })).rejects.toThrow(
      `spec.graceTime: invalid duration "soon" (e.g. '30s', '5m', '1h30m')`,
    );
    for (const [input, ns] of [
      ['5m', 300n * SECOND],
      [{ seconds: 90 }, 90n * SECOND],
      [{ milliseconds: 1500 }, 1500_000_000n],
      [seconds(7), 7n * SECOND],
    ] as const) {
      const c = await client.create({ graceTime: input });
      expect(await garden.backend.graceTime(await garden.backend.lookup(c.handle))).toBe(ns);
      await client.destroy(c.handle);
    }
    await container.setGraceTime('1h');
    expect(await garden.backend.graceTime(await garden.backend.lookup(container.handle))).toBe(
      3600n * SECOND,
    );
    await expect(container.setGraceTime(60 as never)).rejects.toThrow(TypeError);
  });
});

describe('errors and helpers', () => {
  it('a handle the server refuses arrives as InvalidRequestError (400)', async () => {
    const err = await createClient({ socketPath: garden.socketPath })
      .create({ handle: 'a/b' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err).toMatchObject({ statusCode: 400, code: 'GARDEN_INVALID_REQUEST' });
    expect((err as Error).message).toContain('"a/b"');
  });

  it('proc.close() is typed on what create() returns', async () => {
    const c = await createClient({ socketPath: garden.socketPath }).create({});
    const proc = await c.run({ path: 'sleep', args: ['5'] }, {});
    proc.close();
    await createClient({ socketPath: garden.socketPath }).destroy(c.handle);
  });

  it('stringifyJson writes bigints as exact numbers', () => {
    expect(stringifyJson({ limit: 9223372036854771712n, list: [1n], s: 'x' })).toBe(
      '{"limit":9223372036854771712,"list":[1],"s":"x"}',
    );
    expect(stringifyJson({ a: 1n }, 2)).toBe('{\n  "a": 1\n}');
    // A string that looks like the marker stays a string.
    expect(stringifyJson(['\u0000abc:5'])).toBe('["\\u0000abc:5"]');
  });

  it("exports every name the README imports from '@garden-ts/client', and the README imports nothing else", () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const imports = [...readme.matchAll(/import \{([^}]+)\} from '(@garden-ts\/[^']+)'/g)];
    expect(imports.length).toBeGreaterThan(2);
    for (const [, names, from] of imports) {
      expect(from).toBe('@garden-ts/client');
      for (const name of (names ?? '')
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean)) {
        expect(Object.keys(clientModule), name).toContain(name);
      }
    }
  });
});
