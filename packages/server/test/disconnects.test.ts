/**
 * Abrupt client disconnects during Run, Attach, Stdout, StreamIn and StreamOut: the server notices,
 * releases everything it holds (sockets, grace-timer pauses, backend streams) and keeps serving.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exchange, goRequest, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture;
let baseline: Record<string, number>;

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

beforeAll(async () => {
  baseline = resources();
  f = await startServer();
  await f.fake.create({ handle: 'h' });
  f.server.bomberman.strap('h', 3600n * 1_000_000_000n);
});
afterAll(async () => {
  await f.close();
  await new Promise((r) => setTimeout(r, 50));
  const after = resources();
  for (const kind of ['PipeWrap', 'PipeServerWrap', 'TCPWrap', 'Timeout']) {
    expect(after[kind] ?? 0, kind).toBeLessThanOrEqual(baseline[kind] ?? 0);
  }
});

const runRequest = (body: string) =>
  `POST /containers/h/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const outputRequest = (id: string, which = 'stdout') =>
  `GET /containers/h/processes/p/attaches/${id}/${which} HTTP/1.1\r\nHost: api\r\n\r\n`;

async function startRun(body: string) {
  const c = await RawConnection.open(f.socketPath);
  c.write(runRequest(body));
  await c.readHead();
  const first = JSON.parse(await c.readLine()) as { process_id: string; stream_id: string };
  return { c, ...first };
}

const settled = () => expect.poll(() => f.server.connectionCount, { timeout: 2000, interval: 10 }).toBe(0);
const pauses = () => f.server.bomberman.bomb('h')?.pauseCount;

it('Run: a control-connection disconnect closes stdin with an error and drains the output', async () => {
  const { c, stream_id } = await startRun('{"path":"cat"}\n');
  const out = await RawConnection.open(f.socketPath);
  out.write(outputRequest(stream_id));
  await out.readHead();
  c.write('{"source":0,"data":"partial"}\n');
  await expect.poll(() => f.server.streams.hasReader(stream_id, 'stdout')).toBe(true);
  expect(pauses()).toBe(1);
  c.destroy();
  // The output connection is drained and closed as the handler ends (cat, seeing stdin end —
  // the fake counts a stdin error as EOF — exits too).
  expect((await out.readToEnd()).toString()).toBe('partial');
  await settled();
  expect(pauses()).toBe(0);
  expect(f.server.streams.hasReader(stream_id, 'stdout')).toBe(false);
});

it('Run: the process keeps running after a disconnect; its output stays with the backend', async () => {
  const { c, process_id, stream_id } = await startRun(
    '{"path":"sh","args":["-c","echo before; sleep 0.5; echo after; echo after-err >&2"]}\n',
  );
  const out = await RawConnection.open(f.socketPath);
  out.write(outputRequest(stream_id));
  await out.readHead();
  await expect.poll(() => f.server.streams.hasReader(stream_id, 'stdout')).toBe(true);
  c.destroy();
  // Go drains and closes the output connections when the handler ends.
  expect((await out.readToEnd()).toString()).toBe('before\n');
  await settled();
  expect(pauses()).toBe(0);
  const info = await (await f.fake.lookup('h')).info();
  expect(info.processIDs).toContain(process_id);
  // A late reader of the finished stream gets only what was undelivered then: nothing, yet.
  const late = await RawConnection.open(f.socketPath);
  late.write(outputRequest(stream_id));
  await late.readHead();
  expect((await late.readToEnd()).length).toBe(0);
  // Re-attach: output produced while nobody was attached is delivered to the new attacher.
  const a = await RawConnection.open(f.socketPath);
  a.write(`GET /containers/h/processes/${process_id} HTTP/1.1\r\nHost: api\r\n\r\n`);
  await a.readHead();
  const attached = JSON.parse(await a.readLine()) as { stream_id: string };
  const [aOut, aErr] = await Promise.all([
    RawConnection.open(f.socketPath),
    RawConnection.open(f.socketPath),
  ]);
  aOut.write(outputRequest(attached.stream_id));
  aErr.write(outputRequest(attached.stream_id, 'stderr'));
  await Promise.all([aOut.readHead(), aErr.readHead()]);
  expect(await a.readLine()).toBe(`{"process_id":"${process_id}","exit_status":0}\n`);
  expect((await aOut.readToEnd()).toString()).toBe('after\n');
  expect((await aErr.readToEnd()).toString()).toBe('after-err\n');
  await settled();
});

it('Attach: a disconnect ends the handler and unpauses the container', async () => {
  const { c, process_id } = await startRun('{"path":"sleep","args":["30"]}\n');
  const a = await RawConnection.open(f.socketPath);
  a.write(`GET /containers/h/processes/${process_id} HTTP/1.1\r\nHost: api\r\n\r\n`);
  await a.readHead();
  await a.readLine();
  expect(pauses()).toBe(2);
  a.destroy();
  await expect.poll(pauses).toBe(1);
  c.write(`{"signal":1}\n`);
  expect(await c.readLine()).toContain('"exit_status":137');
  await settled();
  expect(pauses()).toBe(0);
});

it('Stdout: a reader that disconnects mid-stream does not disturb the process', async () => {
  const { c, stream_id } = await startRun('{"path":"cat"}\n');
  const out = await RawConnection.open(f.socketPath);
  out.write(outputRequest(stream_id));
  await out.readHead();
  c.write(`{"source":0,"data":"${'x'.repeat(10_000)}"}\n`);
  out.destroy();
  await expect.poll(() => f.server.streams.hasReader(stream_id, 'stdout')).toBe(false);
  c.write('{"source":0,"data":"more"}\n{"source":0}\n');
  expect(await c.readLine()).toContain('"exit_status":0');
  await settled();
});

it('StreamIn: a client that disconnects mid-upload aborts the backend read', async () => {
  let sawError: unknown;
  let started!: () => void;
  const begun = new Promise<void>((r) => (started = r));
  f.inject.containers.set('h', {
    streamIn: async (spec) => {
      started();
      try {
        for await (const _ of spec.tarStream) {
          // consume
        }
      } catch (err) {
        sawError = err;
        throw err;
      }
    },
  });
  try {
    const c = await RawConnection.open(f.socketPath);
    c.write(
      `PUT /containers/h/files?destination=%2Ftmp&user= HTTP/1.1\r\nHost: api\r\nContent-Length: 1000000\r\n\r\n${'a'.repeat(1000)}`,
    );
    await begun;
    c.destroy();
    await expect.poll(() => sawError !== undefined).toBe(true);
    await settled();
    expect(pauses()).toBe(0);
  } finally {
    f.inject.containers.delete('h');
  }
});

it('StreamOut: a client that disconnects mid-download destroys the backend stream', async () => {
  let source: Readable | undefined;
  f.inject.containers.set('h', {
    streamOut: async () => {
      let n = 0;
      source = new Readable({
        read() {
          this.push(Buffer.alloc(64 * 1024, n++ % 256));
        },
      });
      return source;
    },
  });
  try {
    const c = await RawConnection.open(f.socketPath);
    c.write('GET /containers/h/files?source=%2F&user= HTTP/1.1\r\nHost: api\r\n\r\n');
    const head = await c.readHead();
    expect(head.status).toBe(200);
    c.destroy();
    await expect.poll(() => source?.destroyed).toBe(true);
    await settled();
    expect(pauses()).toBe(0);
  } finally {
    f.inject.containers.delete('h');
  }
});

it('still serves after all that', async () => {
  expect((await exchange(f.socketPath, goRequest('GET', '/ping'))).body.toString()).toBe('{}\n');
  await settled();
});
