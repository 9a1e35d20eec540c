/**
 * The server's error logs carry the cause chain and its codes, so operators can count ENOSPC apart
 * from EACCES behind the same Garden error.
 */
import { Writable } from 'node:stream';
import { GardenError } from '@garden-ts/api-types';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exchange, goRequest } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture;
const lines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  f = await startServer({ logger: pino({ level: 'info' }, sink) });
});
afterAll(() => f.close());

it('logs a failed request with the cause chain: err.code, err.cause.code, err.codes', async () => {
  for (const code of ['ENOSPC', 'EACCES']) {
    f.inject.backend.capacity = async () => {
      throw new GardenError('reading capacity failed', {
        cause: Object.assign(new Error(`statfs ${code}`), { code, syscall: 'statfs' }),
      });
    };
    const res = await exchange(f.socketPath, goRequest('GET', '/capacity'));
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body.toString()).Message).toBe('reading capacity failed');
  }
  delete f.inject.backend.capacity;
  const failed = lines.filter((l) => l.msg === 'request failed');
  expect(failed.map((l) => (l.err as { codes: string[] }).codes)).toEqual([
    ['GARDEN_ERROR', 'ENOSPC'],
    ['GARDEN_ERROR', 'EACCES'],
  ]);
  expect(failed[0]).toMatchObject({
    route: 'Capacity',
    err: { type: 'GardenError', code: 'GARDEN_ERROR', cause: { code: 'ENOSPC', syscall: 'statfs' } },
  });
});
