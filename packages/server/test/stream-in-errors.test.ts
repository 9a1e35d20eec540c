/**
 * StreamIn refused before its body is fully read (issue 10 item 5, the server's half): the client
 * gets a complete HTTP error response with the envelope naming the entry, then the connection
 * closes — never a reset — whether the upload is chunked (after `100 Continue`) or has a
 * Content-Length, and whether the backend drains, abandons or destroys the tar stream it was given.
 * (The same through the TS client: packages/client/test/stream-in-refused.test.ts.)
 */
import type { Readable } from 'node:stream';
import { type Container, GardenError } from '@garden-ts/api-types';
import tar from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, goRequest, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

const BIG = 8 * 1024 * 1024;

/** A tar whose first entry climbs out with `..`, followed by 8 MiB the server never needs. */
async function hostileTar(): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name: '../escape', mode: 0o644 }, 'owned');
  pack.entry({ name: 'big', mode: 0o644 }, Buffer.alloc(BIG, 'x'));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** How the backend treats the tar stream it refuses. */
const BACKENDS = {
  'drains it (backend-fake)': undefined,
  'destroys it': (stream: Readable) => stream.destroy(),
  'leaves it unread': (_stream: Readable) => {},
} as const;

async function start(onRefuse: ((s: Readable) => void) | undefined): Promise<Fixture> {
  const fixture = await startServer();
  await fixture.fake.create({ handle: 'h' });
  if (onRefuse) {
    fixture.inject.containers.set('*', {
      async streamIn(spec) {
        // Read the first block, refuse, and treat the rest as the backend under test does.
        await new Promise<void>((resolve) => spec.tarStream.once('readable', () => resolve()));
        spec.tarStream.read(512);
        onRefuse(spec.tarStream);
        throw new GardenError("error streaming in: tar: ../escape: refusing to extract path containing '..'");
      },
    } satisfies Partial<Container>);
  }
  return fixture;
}

/** Writes `body` in 64 KiB pieces (chunk-framed when `chunked`), stopping when the socket is gone. */
async function upload(c: RawConnection, body: Buffer, chunked: boolean): Promise<void> {
  for (let at = 0; at < body.length && !c.isClosed; at += 64 * 1024) {
    const piece = body.subarray(at, at + 64 * 1024);
    const framed = chunked
      ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])
      : piece;
    if (!c.socket.write(framed)) {
      await new Promise<void>((resolve) => {
        c.socket.once('drain', resolve);
        c.socket.once('close', resolve);
      });
    }
  }
  if (chunked && !c.isClosed) c.socket.write('0\r\n\r\n');
}

function expectEnvelope(r: { status: number; headers: Array<[string, string]>; body: Buffer }): void {
  expect(r.status).toBe(500);
  expect(r.headers).toContainEqual(['Connection', 'close']);
  expect(JSON.parse(r.body.toString())).toEqual({
    Type: '',
    Message: "error streaming in: tar: ../escape: refusing to extract path containing '..'",
    Handle: '',
    ProcessID: '',
    Binary: '',
  });
}

describe.each(Object.entries(BACKENDS))('a refused StreamIn, when the backend %s', (_name, onRefuse) => {
  it('chunked after 100 Continue: a complete error response, then the connection closes', async () => {
    f = await start(onRefuse);
    const body = await hostileTar();
    const c = await RawConnection.open(f.socketPath);
    c.write(
      'PUT /containers/h/files?destination=%2Ftmp HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n' +
        'Content-Type: application/x-tar\r\nExpect: 100-continue\r\n\r\n',
    );
    expect((await c.readHead()).status).toBe(100);
    const sending = upload(c, body, true);
    expectEnvelope(await c.readResponse(10_000));
    expect(await c.closedWithin(10_000)).toBe(true);
    await sending;
    expect((await exchange(f.socketPath, goRequest('GET', '/ping'))).status).toBe(200);
    await expect.poll(() => f!.server.connectionCount, { timeout: 5000 }).toBe(0);
  }, 30_000);

  it('with Content-Length: a complete error response, then the connection closes', async () => {
    f = await start(onRefuse);
    const body = await hostileTar();
    const c = await RawConnection.open(f.socketPath);
    c.write(
      `PUT /containers/h/files?destination=%2Ftmp HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n` +
        'Content-Type: application/x-tar\r\n\r\n',
    );
    const sending = upload(c, body, false);
    expectEnvelope(await c.readResponse(10_000));
    expect(await c.closedWithin(10_000)).toBe(true);
    await sending;
  }, 30_000);
});
