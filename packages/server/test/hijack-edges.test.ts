/** Edge cases of the hijacked routes beyond the protocol vectors. */
import { type Process, Signal } from '@garden-ts/api-types';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exchange, goRequest, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture;
beforeAll(async () => {
  f = await startServer();
  await f.fake.create({ handle: 'h' });
});
afterAll(async () => {
  await f.close();
});

const runHead = (body: string, extra = '') =>
  `POST /containers/h/processes HTTP/1.1\r\nHost: api\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;

it('refuses Run as a keep-alive follow-up request with a 400 envelope', async () => {
  const c = await RawConnection.open(f.socketPath);
  const body = '{"path":"echo"}\n';
  c.write(`GET /ping HTTP/1.1\r\nHost: api\r\n\r\n${runHead(body)}${body}`);
  expect((await c.readResponse()).status).toBe(200);
  const r = await c.readResponse();
  expect(r.status).toBe(400);
  expect(JSON.parse(r.body.toString())).toMatchObject({
    Type: '',
    Message: expect.stringContaining('first request'),
  });
  c.destroy();
});

it('refuses a chunked Run body with a 400 envelope', async () => {
  const c = await RawConnection.open(f.socketPath);
  c.write(
    'POST /containers/h/processes HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
  );
  expect((await c.readResponse()).status).toBe(400);
});

it('sends 100 Continue to a Run client that expects it', async () => {
  const body = '{"path":"echo","args":["hi"]}\n';
  const c = await RawConnection.open(f.socketPath);
  c.write(runHead(body, 'Expect: 100-continue\r\n'));
  expect((await c.readHead()).status).toBe(100);
  c.write(body);
  expect((await c.readHead()).status).toBe(201);
  expect(await c.readLine()).toContain('"stream_id"');
  expect(await c.readLine()).toContain('"exit_status":0');
});

it('answers a Run with an undecodable spec with 400 and keeps the connection usable', async () => {
  const body = '{"path":5}\n';
  const c = await RawConnection.open(f.socketPath);
  c.write(runHead(body) + body);
  const r = await c.readResponse();
  expect(r.status).toBe(400);
  expect(r.headers.some(([k]) => k.toLowerCase() === 'connection')).toBe(false);
  expect(JSON.parse(r.body.toString()).Message).toContain('ProcessSpec.path');
  c.write('GET /ping HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
  expect((await c.readResponse()).body.toString()).toBe('{}\n');
});

it('survives a backend whose setTTY and signal throw synchronously', async () => {
  f.inject.containers.set('h', {
    run: async (spec, io) => {
      const real = await (await f.fake.lookup('h')).run(spec, io);
      return {
        id: real.id,
        wait: () => real.wait(),
        setTTY: () => {
          throw new Error('tty boom');
        },
        signal: (s) => {
          if (s === 0) throw new Error('signal boom');
          return real.signal(s);
        },
      };
    },
  });
  try {
    const body = '{"path":"sleep","args":["5"]}\n';
    const c = await RawConnection.open(f.socketPath);
    c.write(runHead(body) + body);
    await c.readHead();
    await c.readLine();
    c.write('{"tty":{"window_size":{"columns":1,"rows":1}}}\n{"signal":0}\n{"signal":1}\n');
    expect(await c.readLine()).toContain('"exit_status":137');
  } finally {
    f.inject.containers.delete('h');
  }
  expect((await exchange(f.socketPath, goRequest('GET', '/ping'))).status).toBe(200);
});

it('gives a second concurrent reader of one stream an empty stream', async () => {
  const body = '{"path":"cat"}\n';
  const c = await RawConnection.open(f.socketPath);
  c.write(runHead(body) + body);
  await c.readHead();
  const { stream_id } = JSON.parse(await c.readLine()) as { stream_id: string };
  const req = `GET /containers/h/processes/p/attaches/${stream_id}/stdout HTTP/1.1\r\nHost: api\r\n\r\n`;
  const first = await RawConnection.open(f.socketPath);
  first.write(req);
  await first.readHead();
  await expect.poll(() => f.server.streams.hasReader(stream_id, 'stdout')).toBe(true);
  const second = await RawConnection.open(f.socketPath);
  second.write(req);
  await second.readHead();
  expect((await second.readToEnd()).length).toBe(0);
  c.write('{"source":0,"data":"one reader"}\n{"source":0}\n');
  expect((await first.readToEnd()).toString()).toBe('one reader');
});

it('applies a resize before the messages behind it (a stdin EOF cannot overtake it)', async () => {
  const events: string[] = [];
  let real: Process | undefined;
  f.inject.containers.set('h', {
    run: async (spec, io) => {
      io.stdin?.on('end', () => events.push('stdin end'));
      io.stdin?.resume();
      const started = await (await f.fake.lookup('h')).run(spec, {});
      real = started;
      return {
        id: started.id,
        wait: () => started.wait(),
        // A backend whose resize takes a while (a round trip to its process supervisor).
        setTTY: async () => {
          await new Promise((r) => setTimeout(r, 50));
          events.push('resized');
        },
        signal: (s) => started.signal(s),
      };
    },
  });
  try {
    const body = '{"path":"sleep","args":["5"],"tty":{}}\n';
    const c = await RawConnection.open(f.socketPath);
    c.write(runHead(body) + body);
    await c.readHead();
    await c.readLine();
    c.write('{"tty":{"window_size":{"columns":132,"rows":43}}}\n{"source":0}\n');
    await expect.poll(() => events.length).toBe(2);
    expect(events).toEqual(['resized', 'stdin end']);
    await real?.signal(Signal.Kill);
    expect(await c.readLine()).toContain('"exit_status":137');
  } finally {
    f.inject.containers.delete('h');
  }
});
