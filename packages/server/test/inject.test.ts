/** Plain routes through fastify's inject(), without a socket. */
import { createFakeBackend } from '@garden-ts/backend-fake';
import { expect, it } from 'vitest';
import { buildServer } from '../src/index.js';

it('serves plain routes through inject()', async () => {
  const server = buildServer({ backend: createFakeBackend() });
  try {
    const ping = await server.fastify.inject({ method: 'GET', url: '/ping' });
    expect(ping.statusCode).toBe(200);
    expect(ping.headers['content-type']).toBe('application/json');
    expect(ping.body).toBe('{}\n');
    const created = await server.fastify.inject({
      method: 'POST',
      url: '/containers',
      payload: '{"handle":"x y"}',
    });
    expect(created.body).toBe('{"Handle":"x y"}\n');
    const info = await server.fastify.inject({ method: 'GET', url: '/containers/x+y/info' });
    expect(JSON.parse(info.body).State).toBe('active');
    const missing = await server.fastify.inject({ method: 'GET', url: '/containers/nope/info' });
    expect(missing.statusCode).toBe(404);
    const notAllowed = await server.fastify.inject({ method: 'PUT', url: '/ping' });
    expect(notAllowed.statusCode).toBe(405);
    expect(notAllowed.headers.allow).toBe('GET');
  } finally {
    await server.close();
  }
});
