/** Server shutdown (protocol §10), read-header timeout and stream retention (§7.7). */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MILLISECOND } from '@garden-ts/api-types';
import { createFakeBackend } from '@garden-ts/backend-fake';
import { afterEach, expect, it } from 'vitest';
import { buildServer } from '../src/index.js';
import { exchange, goRequest, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

const run = async (fx: Fixture, body: string) => {
  const c = await RawConnection.open(fx.socketPath);
  c.write(
    `POST /containers/h/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  await c.readHead();
  return { c, first: JSON.parse(await c.readLine()) as { process_id: string; stream_id: string } };
};

it('shuts down gracefully: detaches streams, closes idle connections, waits for in-flight requests', async () => {
  f = await startServer();
  await f.fake.create({ handle: 'h' });
  let stopped = false;
  f.inject.backend.stop = async () => {
    stopped = true;
    await f!.fake.stop();
  };
  const { c: control, first } = await run(f, '{"path":"sleep","args":["30"]}\n');

  const idle = await RawConnection.open(f.socketPath);
  idle.write('GET /ping HTTP/1.1\r\nHost: api\r\n\r\n');
  await idle.readResponse();

  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  f.inject.containers.set('h', {
    info: async () => {
      await gate;
      return (await f!.fake.lookup('h')).info();
    },
  });
  const slow = exchange(f.socketPath, goRequest('GET', '/containers/h/info'));
  await new Promise((r) => setTimeout(r, 30));

  let closed = false;
  const closing = f.server.close().then(() => (closed = true));
  // The control stream ends without a final message; the idle connection is closed.
  expect((await control.readToEnd()).length).toBe(0);
  expect(await idle.closedWithin(1000)).toBe(true);
  // New connections are refused.
  await expect(
    new Promise((resolve, reject) => connect(f!.socketPath).on('connect', resolve).on('error', reject)),
  ).rejects.toThrow();
  // The in-flight request is waited for, then the backend is stopped.
  await new Promise((r) => setTimeout(r, 50));
  expect(closed).toBe(false);
  expect(stopped).toBe(false);
  const info = await (await f.fake.lookup('h')).info();
  expect(info.processIDs).toContain(first.process_id); // not signalled by the server
  release();
  expect((await slow).status).toBe(200);
  await closing;
  expect(stopped).toBe(true);
  expect(existsSync(f.socketPath)).toBe(false);
});

it('closes a connection whose request head is slower than readHeaderTimeout, without answering', async () => {
  f = await startServer({ readHeaderTimeout: 50n * MILLISECOND });
  const c = await RawConnection.open(f.socketPath);
  c.write('GET /ping HTTP/1.1\r\nHost: ap');
  expect(await c.closedWithin(1000)).toBe(true);
  expect((await c.readToEnd()).length).toBe(0);
  expect((await exchange(f.socketPath, goRequest('GET', '/ping'))).status).toBe(200);
});

it('keeps a finished stream for late readers, then forgets it', async () => {
  f = await startServer({ streamRetentionMs: 150 });
  await f.fake.create({ handle: 'h' });
  const { c, first } = await run(f, '{"path":"sh","args":["-c","echo hi; echo oops >&2"]}\n');
  expect(await c.readLine()).toContain('"exit_status":0');
  const out = await RawConnection.open(f.socketPath);
  out.write(`GET /containers/h/processes/x/attaches/${first.stream_id}/stdout HTTP/1.1\r\nHost: api\r\n\r\n`);
  await out.readHead();
  expect((await out.readToEnd()).toString()).toBe('hi\n');
  await new Promise((r) => setTimeout(r, 250));
  const late = await RawConnection.open(f.socketPath);
  late.write(
    `GET /containers/h/processes/x/attaches/${first.stream_id}/stderr HTTP/1.1\r\nHost: api\r\n\r\n`,
  );
  await late.readHead();
  expect((await late.readToEnd()).length).toBe(0);
  expect(f.server.streams.size).toBe(0);
});

it('replaces a stale socket file and makes the socket world-accessible', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'garden-stale-'));
  const socketPath = join(dir, 'garden.sock');
  writeFileSync(socketPath, 'stale');
  const server = buildServer({ backend: createFakeBackend() });
  try {
    await server.listen({ socketPath });
    expect(statSync(socketPath).isSocket()).toBe(true);
    expect(statSync(socketPath).mode & 0o777).toBe(0o777);
    expect(server.address).toBe(socketPath);
    expect((await exchange(socketPath, goRequest('GET', '/ping'))).status).toBe(200);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('listens on TCP loopback', async () => {
  const server = buildServer({ backend: createFakeBackend() });
  try {
    await server.listen({ host: '127.0.0.1', port: 0 });
    const { port } = server.address as { port: number };
    const body = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.write(goRequest('GET', '/ping'));
    });
    expect(body.endsWith('\r\n\r\n{}\n')).toBe(true);
  } finally {
    await server.close();
  }
});
