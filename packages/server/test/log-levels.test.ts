/**
 * gardend's default `info` level stays quiet under load: no line per request or per process,
 * client mistakes at debug (404, 400, an unknown executable) or info (a backend rule: a duplicate
 * handle) without stacks, server failures at error with the stack; the debug request lines carry
 * the real URL and the route name (issue 14, "npm installs that work": logs).
 */
import { Readable, Writable } from 'node:stream';
import { pino } from 'pino';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The client by path: the server has no dependency on it (the client depends on the server).
import { createClient } from '../../client/src/index.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

type Line = Record<string, unknown> & { level: number; msg: string };

function capture(level: string): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

async function workload(socketPath: string): Promise<void> {
  const client = createClient({ socketPath });
  const c = await client.create({ handle: 'busy', properties: { a: '1' } });
  for (let i = 0; i < 5; i++)
    await (
      await c.run({ path: 'echo', args: ['hi'] }, { stdout: new Writable({ write: (_c, _e, cb) => cb() }) })
    ).wait();
  await c.info();
  await client.containers({ a: '1' });
  const pack = tar.pack();
  pack.entry({ name: 'f.txt' }, 'x');
  pack.finalize();
  await c.streamIn({ path: '/tmp', tarStream: Readable.from(pack) });
  await client.lookup('ghost').catch(() => undefined); // a client-side 404
  await client.destroy('ghost').catch(() => undefined); // a server 404
  await c.run({ path: 'no-such-program' }, {}).catch(() => undefined);
  await client.create({ handle: 'a/b' }).catch(() => undefined); // 400
  await client.create({ handle: 'busy' }).catch(() => undefined); // duplicate: a backend rule
}

describe('at info', () => {
  let f: Fixture;
  const { logger, lines } = capture('info');
  beforeAll(async () => {
    f = await startServer({ logger });
  });
  afterAll(() => f.close());

  it('logs nothing per request or process; a duplicate handle once, at info, without a stack', async () => {
    await workload(f.socketPath);
    await new Promise((r) => setTimeout(r, 50));
    const requestLines = lines.filter((l) => l.msg !== 'garden server listening');
    expect(requestLines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'request failed',
        route: 'Create',
        status: 500,
        error: { type: 'GardenError', code: 'GARDEN_ERROR', message: "Handle 'busy' already in use" },
      }),
    ]);
    expect(JSON.stringify(requestLines)).not.toContain('stack');
  });

  it('logs a failure with a cause at error, with the stack', async () => {
    f.inject.backend.capacity = async () => {
      throw new Error('bug: capacity is undefined');
    };
    await createClient({ socketPath: f.socketPath })
      .capacity()
      .catch(() => undefined);
    delete f.inject.backend.capacity;
    const failed = lines.filter((l) => l.route === 'Capacity');
    expect(failed).toEqual([expect.objectContaining({ level: 50, msg: 'request failed', status: 500 })]);
    expect((failed[0]?.err as { stack?: string } | undefined)?.stack).toContain('bug: capacity is undefined');
  });
});

describe('at debug', () => {
  let f: Fixture;
  const { logger, lines } = capture('debug');
  beforeAll(async () => {
    f = await startServer({ logger });
  });
  afterAll(() => f.close());

  it('logs every request with its real URL and route name, mistakes without stacks', async () => {
    await workload(f.socketPath);
    await new Promise((r) => setTimeout(r, 50));
    const completed = lines.filter((l) => l.msg === 'request completed');
    expect(completed).toContainEqual(
      expect.objectContaining({
        method: 'PUT',
        url: '/containers/busy/files?destination=%2Ftmp&user=',
        route: 'StreamIn',
        statusCode: 200,
      }),
    );
    expect(completed).toContainEqual(
      expect.objectContaining({ method: 'GET', url: '/containers?a=1', route: 'List' }),
    );
    expect(completed).toContainEqual(
      expect.objectContaining({
        method: 'DELETE',
        url: '/containers/ghost',
        route: 'Destroy',
        statusCode: 404,
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'hijacked request',
        method: 'POST',
        url: '/containers/busy/processes',
        route: 'Run',
      }),
    );
    const failed = lines.filter((l) => l.msg === 'request failed');
    expect(failed.map((l) => [l.level, l.route, l.status])).toEqual([
      [20, 'Destroy', 404],
      [20, 'Run', 500],
      [20, 'Create', 400],
      [30, 'Create', 500],
    ]);
    expect(JSON.stringify(failed)).not.toContain('stack');
    expect(lines.some((l) => l.url === '/')).toBe(false);
  });
});
