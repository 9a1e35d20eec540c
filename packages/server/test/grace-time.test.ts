/** Grace time end to end (protocol §9): real timers, short grace times, raw requests. */
import { MILLISECOND } from '@garden-ts/api-types';
import { afterEach, expect, it } from 'vitest';
import { exchange, goRequest, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

const alive = async (fx: Fixture, handle: string) =>
  (await fx.fake.containers()).some((c) => c.handle === handle);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('reaps an idle container after its grace time', async () => {
  f = await startServer();
  const r = await exchange(
    f.socketPath,
    goRequest('POST', '/containers', '{"handle":"idle","grace_time":150000000}\n'),
  );
  expect(r.status).toBe(200);
  expect(await alive(f, 'idle')).toBe(true);
  await expect.poll(() => alive(f!, 'idle'), { timeout: 2000, interval: 20 }).toBe(false);
});

it('uses the server default grace time when the spec has none', async () => {
  f = await startServer({ defaultGraceTime: 100n * MILLISECOND });
  await exchange(f.socketPath, goRequest('POST', '/containers', '{"handle":"dflt"}\n'));
  await expect.poll(() => alive(f!, 'dflt'), { timeout: 2000, interval: 20 }).toBe(false);
});

it('straps existing containers at start', async () => {
  f = await startServer();
  await f.server.close();
  const { createFakeBackend } = await import('@garden-ts/backend-fake');
  const { buildServer } = await import('../src/index.js');
  const fake = createFakeBackend();
  await fake.create({ handle: 'old', graceTime: 100n * MILLISECOND });
  const server = buildServer({ backend: fake });
  await server.listen({ socketPath: `${f.socketPath}.2` });
  try {
    expect(server.bomberman.has('old')).toBe(true);
    await expect.poll(async () => (await fake.containers()).length, { timeout: 2000, interval: 20 }).toBe(0);
  } finally {
    await server.close();
  }
});

it('keeps a container alive while a Run is in flight and reaps it after', async () => {
  f = await startServer();
  await exchange(
    f.socketPath,
    goRequest('POST', '/containers', '{"handle":"busy","grace_time":100000000}\n'),
  );
  const body = '{"path":"sleep","args":["0.4"]}\n';
  const c = await RawConnection.open(f.socketPath);
  c.write(
    `POST /containers/busy/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  await c.readHead();
  await c.readLine();
  await sleep(300);
  expect(await alive(f, 'busy')).toBe(true);
  expect(await c.readLine()).toContain('"exit_status":0');
  await expect.poll(() => alive(f!, 'busy'), { timeout: 2000, interval: 20 }).toBe(false);
});

it('is not kept alive by BulkInfo polling, but is by Info polling', async () => {
  f = await startServer();
  await exchange(
    f.socketPath,
    goRequest('POST', '/containers', '{"handle":"polled","grace_time":200000000}\n'),
  );
  await exchange(
    f.socketPath,
    goRequest('POST', '/containers', '{"handle":"bulk","grace_time":200000000}\n'),
  );
  for (let i = 0; i < 8; i++) {
    await exchange(f.socketPath, goRequest('GET', '/containers/polled/info'));
    await exchange(f.socketPath, goRequest('GET', '/containers/bulk_info?handles=bulk'));
    await sleep(50);
  }
  expect(await alive(f, 'polled')).toBe(true);
  expect(await alive(f, 'bulk')).toBe(false);
});

it('defuses on destroy and reaps at once after SetGraceTime(0)', async () => {
  f = await startServer();
  await exchange(f.socketPath, goRequest('POST', '/containers', '{"handle":"d","grace_time":100000000}\n'));
  expect((await exchange(f.socketPath, goRequest('DELETE', '/containers/d'))).status).toBe(200);
  expect(f.server.bomberman.has('d')).toBe(false);
  await exchange(f.socketPath, goRequest('POST', '/containers', '{"handle":"z","grace_time":60000000000}\n'));
  await exchange(f.socketPath, goRequest('PUT', '/containers/z/grace_time', '0\n'));
  await expect.poll(() => alive(f!, 'z'), { timeout: 500, interval: 5 }).toBe(false);
});
