/**
 * Output of a process between its Run response and the client's Stdout/Stderr connection, and
 * output nobody reads: none of it is lost or swallowed by the server (protocol §7.6, architecture
 * doc "Process I/O contract").
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture;

beforeAll(async () => {
  // A small backend backlog: anything left there beyond it would be cut.
  f = await startServer({ fake: { outputBacklogBytes: 1024 } });
  await f.fake.create({ handle: 'h' });
});
afterAll(() => f.close());

const runRequest = (body: string) =>
  `POST /containers/h/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const attachRequest = (pid: string) => `GET /containers/h/processes/${pid} HTTP/1.1\r\nHost: api\r\n\r\n`;
const outputRequest = (id: string, which: 'stdout' | 'stderr') =>
  `GET /containers/h/processes/p/attaches/${id}/${which} HTTP/1.1\r\nHost: api\r\n\r\n`;

async function control(request: string) {
  const c = await RawConnection.open(f.socketPath);
  c.write(request);
  await c.readHead();
  const first = JSON.parse(await c.readLine()) as { process_id: string; stream_id: string };
  return { c, ...first };
}

async function output(streamId: string, which: 'stdout' | 'stderr') {
  const o = await RawConnection.open(f.socketPath);
  o.write(outputRequest(streamId, which));
  await o.readHead();
  return o;
}

it('keeps stdin-driven output produced before the Stdout connection (as the Go client sends it)', async () => {
  const { c, stream_id } = await control(runRequest('{"path":"cat"}\n'));
  // Far more than the backend backlog, before the output connection exists.
  const line = 'x'.repeat(32 * 1024);
  for (let i = 0; i < 8; i++) c.write(`{"source":0,"data":"${line}"}\n`);
  c.write('{"source":0}\n');
  await new Promise((r) => setTimeout(r, 30));
  const out = await output(stream_id, 'stdout');
  expect(await c.readLine()).toContain('"exit_status":0');
  const got = await out.readToEnd();
  expect(got.length).toBe(8 * line.length);
});

it('hands output nobody read to the next Attach, per stream, in order', async () => {
  const script = 'echo one; echo err-one >&2; sleep 0.2; echo two; echo err-two >&2';
  const { c, process_id, stream_id } = await control(
    runRequest(JSON.stringify({ path: 'sh', args: ['-c', script] })),
  );
  // Nobody reads this stream; its startup output is handed back when the handler ends.
  expect(await c.readLine()).toContain('"exit_status":0');
  await expect.poll(() => f.server.streams.handedBack('h', process_id, 'stdout')).toBe(8);
  expect(f.server.streams.handedBack('h', process_id, 'stderr')).toBe(16);
  // A stdout-only attacher leaves stderr for a later stderr reader.
  const a = await control(attachRequest(process_id));
  const out = await output(a.stream_id, 'stdout');
  expect(await a.c.readLine()).toContain('"exit_status":0');
  expect((await out.readToEnd()).toString()).toBe('one\ntwo\n');
  expect(f.server.streams.handedBack('h', process_id, 'stderr')).toBe(16);
  // A late reader of the original stream id (within the retention) gets the rest of stderr.
  const late = await output(stream_id, 'stderr');
  expect((await late.readToEnd()).toString()).toBe('err-one\nerr-two\n');
  // Delivered output is not replayed.
  const again = await control(attachRequest(process_id));
  const [o2, e2] = [await output(again.stream_id, 'stdout'), await output(again.stream_id, 'stderr')];
  expect(await again.c.readLine()).toContain('"exit_status":0');
  expect([(await o2.readToEnd()).length, (await e2.readToEnd()).length]).toEqual([0, 0]);
});

it('does not replay output another reader of the process received (fan-out)', async () => {
  const { c, process_id, stream_id } = await control(runRequest('{"path":"cat"}\n'));
  const out = await output(stream_id, 'stdout');
  await expect.poll(() => f.server.streams.hasReader(stream_id, 'stdout')).toBe(true);
  // A second attacher that never opens its output connections also gets the fan-out copy.
  const a = await control(attachRequest(process_id));
  c.write('{"source":0,"data":"shared"}\n{"source":0}\n');
  expect(await c.readLine()).toContain('"exit_status":0');
  expect(await a.c.readLine()).toContain('"exit_status":0');
  expect((await out.readToEnd()).toString()).toBe('shared');
  expect(f.server.streams.handedBack('h', process_id, 'stdout')).toBe(0);
  const late = await control(attachRequest(process_id));
  const lateOut = await output(late.stream_id, 'stdout');
  expect(await late.c.readLine()).toContain('"exit_status":0');
  expect((await lateOut.readToEnd()).length).toBe(0);
});

it('forgets output held for a destroyed container', async () => {
  await f.fake.create({ handle: 'gone' });
  const body = JSON.stringify({ path: 'sh', args: ['-c', 'echo held'] });
  const c = await RawConnection.open(f.socketPath);
  c.write(
    `POST /containers/gone/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  await c.readHead();
  const { process_id } = JSON.parse(await c.readLine()) as { process_id: string };
  expect(await c.readLine()).toContain('"exit_status":0');
  await expect.poll(() => f.server.streams.handedBack('gone', process_id, 'stdout')).toBe(5);
  const d = await RawConnection.open(f.socketPath);
  d.write('DELETE /containers/gone HTTP/1.1\r\nHost: api\r\n\r\n');
  expect((await d.readHead()).status).toBe(200);
  expect(f.server.streams.handedBack('gone', process_id, 'stdout')).toBe(0);
});
