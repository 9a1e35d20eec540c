/**
 * HTTP hardening (issue 10 item 6): broken chunked bodies, slow and idle connections, connect
 * bursts, and ill-formed Unicode in handles and property keys. Well-formed Go-client traffic is
 * unaffected (the protocol vectors and conformance tests check that).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { MILLISECOND, SECOND } from '@garden-ts/api-types';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_IDLE_CONNECTIONS, DEFAULT_READ_HEADER_TIMEOUT } from '../src/index.js';
import { exchange, goRequest, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

const chunkedHead = (method: string, target: string) =>
  `${method} ${target} HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n`;

describe('an invalid chunked body', () => {
  for (const [route, method, target] of [
    ['SetProperty', 'PUT', '/containers/h/properties/k'],
    ['Create', 'POST', '/containers'],
    ['StreamIn', 'PUT', '/containers/h/files?destination=/tmp'],
  ] as const) {
    it(`is answered 400 and the connection closed (${route})`, async () => {
      f = await startServer();
      await f.fake.create({ handle: 'h' });
      const c = await RawConnection.open(f.socketPath);
      // A valid first chunk, then a chunk size that is not hex.
      c.write(`${chunkedHead(method, target)}5\r\n{"val\r\nZZ\r\nnot a chunk\r\n`);
      const r = await c.readResponse(3000);
      expect(r.status).toBe(400);
      expect(await c.closedWithin(3000)).toBe(true);
      // The server is fine.
      expect((await exchange(f.socketPath, goRequest('GET', '/ping'))).body.toString()).toBe('{}\n');
      expect(f.server.connectionCount).toBe(0);
    });
  }
});

describe('slow and idle connections', () => {
  it('a read-header timeout is on by default', () => {
    expect(DEFAULT_READ_HEADER_TIMEOUT).toBe(60n * SECOND);
  });

  it('closes a connection whose first head is incomplete after the read-header timeout', async () => {
    f = await startServer({ readHeaderTimeout: 100n * MILLISECOND });
    const half = await RawConnection.open(f.socketPath);
    half.write('GET /ping HTTP/1.1\r\nHost: a');
    expect(await half.closedWithin(3000)).toBe(true);
  });

  it('caps idle connections: beyond the cap the longest-idle one (idle ≥ 1 s) is closed', async () => {
    expect(DEFAULT_MAX_IDLE_CONNECTIONS).toBeGreaterThanOrEqual(256);
    f = await startServer({ maxIdleConnections: 5 });
    const idle: RawConnection[] = [];
    for (let i = 0; i < 8; i++) idle.push(await RawConnection.open(f.socketPath));
    // Half-open: a head that never completes.
    for (const c of idle) c.write('GET /ping HTTP/1.1\r\n');
    // Fresh connections are never closed for the cap (a burst of Go clients is all "idle" for an
    // instant); after a second the old ones are fair game.
    await new Promise((r) => setTimeout(r, 1100));
    expect(idle.filter((c) => c.isClosed)).toHaveLength(0);
    const busy = await RawConnection.open(f.socketPath);
    busy.write('PUT /containers/x/files HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n');
    const fresh = await RawConnection.open(f.socketPath);
    await expect
      .poll(() => idle.filter((c) => c.isClosed).length, { timeout: 3000 })
      .toBeGreaterThanOrEqual(4);
    // The oldest went first; a well-formed client is served as always.
    expect(idle.slice(0, 4).every((c) => c.isClosed)).toBe(true);
    expect((await exchange(f.socketPath, goRequest('GET', '/ping'))).body.toString()).toBe('{}\n');
    fresh.write(goRequest('GET', '/ping'));
    expect((await fresh.readResponse()).body.toString()).toBe('{}\n');
    for (const c of [...idle, busy, fresh]) c.destroy();
  });

  it('never closes a hijacked process connection or a request in progress for the cap', async () => {
    f = await startServer({ maxIdleConnections: 1 });
    await f.fake.create({ handle: 'h' });
    const body = '{"path":"sleep","args":["10"]}\n';
    const run = await RawConnection.open(f.socketPath);
    run.write(
      `POST /containers/h/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect((await run.readHead()).status).toBe(201);
    const upload = await RawConnection.open(f.socketPath);
    upload.write(`${chunkedHead('PUT', '/containers/h/properties/k')}3\r\n{"v\r\n`);
    await new Promise((r) => setTimeout(r, 1100));
    const others: RawConnection[] = [];
    for (let i = 0; i < 3; i++) others.push(await RawConnection.open(f.socketPath));
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 3; i++) others.push(await RawConnection.open(f.socketPath));
    await expect.poll(() => others.filter((c) => c.isClosed).length, { timeout: 3000 }).toBeGreaterThan(0);
    expect(run.isClosed).toBe(false);
    expect(upload.isClosed).toBe(false);
    upload.write('A\r\nalue":"x"}\r\n0\r\n\r\n');
    expect((await upload.readResponse()).status).toBe(200);
    for (const c of [run, upload, ...others]) c.destroy();
  });
});

describe('the listen backlog', () => {
  it('is the system maximum: a burst of 1,000 connects gets no EAGAIN', async () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    expect(somaxconn).toBeGreaterThanOrEqual(1024);
    f = await startServer();
    const errors: string[] = [];
    const sockets: Socket[] = [];
    // All issued in one tick: the server accepts none of them before the last connect(2).
    for (let i = 0; i < 1000; i++) {
      const s = connect(f.socketPath);
      s.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
      sockets.push(s);
    }
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.connecting) return resolve();
            s.once('connect', () => resolve());
            s.once('error', () => resolve());
          }),
      ),
    );
    for (const s of sockets) s.destroy();
    expect(errors).toEqual([]);
  });
});

describe('ill-formed Unicode in handles and property keys', () => {
  const post = (body: string) => exchange(f!.socketPath, goRequest('POST', '/containers', body));

  it('refuses a lone surrogate in the Create handle with a 400 naming the field', async () => {
    f = await startServer();
    for (const handle of ['\\ud800', 'a\\udc00b', '\\ud83d']) {
      const r = await post(`{"handle":"${handle}"}`);
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body.toString()).Message).toMatch(/^handle: ill-formed UTF-16: lone surrogate/);
    }
    // A raw (unescaped) lone surrogate in the body text is refused too; a pair is fine.
    expect((await post('{"handle":"\ud83d\ude00"}')).status).toBe(200);
    expect(await f.fake.containers()).toHaveLength(1);
  });

  it('refuses a lone surrogate in a property key, naming it', async () => {
    f = await startServer();
    const r = await post('{"properties":{"ok":"1","\\udc00":"v"}}');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString()).Message).toMatch(/^properties: key .* ill-formed UTF-16/);
    // Values are data: Go's U+FFFD replacement applies, as before.
    expect((await post('{"handle":"v","properties":{"k":"\\ud800"}}')).status).toBe(200);
    await expect((await f.fake.lookup('v')).properties()).resolves.toEqual({ k: '\ufffd' });
  });

  it('refuses invalid UTF-8 in a handle or key capture instead of naming another container', async () => {
    f = await startServer();
    await f.fake.create({ handle: '\ufffd' });
    for (const [target, field] of [
      ['/containers/%FF/info', 'handle'],
      ['/containers/%ED%A0%80/properties', 'handle'],
      ['/containers/%EF%BF%BD/properties/%C3', 'key'],
    ] as const) {
      const r = await exchange(f.socketPath, goRequest('GET', target));
      expect(r.status, target).toBe(400);
      expect(JSON.parse(r.body.toString()).Message).toMatch(new RegExp(`^${field}: ill-formed UTF-8`));
    }
    // The real U+FFFD handle, spelt correctly, still works.
    expect((await exchange(f.socketPath, goRequest('GET', '/containers/%EF%BF%BD/info'))).status).toBe(200);
  });
});
