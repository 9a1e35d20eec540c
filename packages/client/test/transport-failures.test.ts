/**
 * Aborts, timeouts, disconnects and backpressure, against raw servers that misbehave on purpose.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { GardenError } from '@garden-ts/api-types';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientContainer } from '../src/container.js';
import { GardenConnection } from '../src/garden-connection.js';
import { createClient, GardenAbortError, GardenConnectionError } from '../src/index.js';
import { hijackHead, plainResponse, type RawServer, startRawServer } from './raw-server.js';

let server: RawServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const containerOn = (socketPath: string) =>
  new ClientContainer(new GardenConnection({ socketPath }, 2000), 'h1');
const first = (sid = '1') => `${hijackHead('201 Created')}{"process_id":"p","stream_id":"${sid}"}\n`;

describe('plain calls', () => {
  it('a timeout rejects with a timed-out AbortError and closes the connection', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest(); // never answers
    });
    const client = createClient({ socketPath: server.socketPath });
    const started = Date.now();
    const err = await client.ping({ timeout: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenAbortError);
    expect((err as GardenAbortError).name).toBe('AbortError');
    expect((err as GardenAbortError).timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    await server.connections[0]!.closed;
  });

  it('an abort signal rejects mid-call and closes the connection', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
    });
    const client = createClient({ socketPath: server.socketPath });
    const ac = new AbortController();
    const reason = new Error('user gave up');
    setTimeout(() => ac.abort(reason), 20);
    const err = await client.capacity({ signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenAbortError);
    expect((err as GardenAbortError).timedOut).toBe(false);
    expect((err as Error).cause).toBe(reason);
    await server.connections[0]!.closed;
  });

  it('a finished call leaves no abort listener on the signal', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      conn.end(plainResponse('200 OK', '{}\n'));
    });
    const client = createClient({ socketPath: server.socketPath });
    const ac = new AbortController();
    let added = 0;
    let removed = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added++;
      return add(...args);
    }) as typeof add;
    ac.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      removed++;
      return remove(...args);
    }) as typeof remove;
    await client.ping({ signal: ac.signal });
    expect(added).toBeGreaterThan(0);
    expect(removed).toBe(added);
  });

  it('rejects bad timeouts and addresses with errors naming the field', async () => {
    expect(() => createClient({ socketPath: '' })).toThrow(/address\.socketPath/);
    expect(() => createClient({ host: 'localhost', port: 0 })).toThrow(/address\.port/);
    const client = createClient({ socketPath: '/nonexistent/garden.sock' });
    await expect(client.ping({ timeout: -1 })).rejects.toThrow(/timeout/);
  });

  it('refuses ill-formed handles and property keys before sending anything', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      conn.end(plainResponse('200 OK', '{}\n'));
    });
    const client = createClient({ socketPath: server.socketPath });
    const c = containerOn(server.socketPath);
    for (const [call, message] of [
      [() => client.create({ handle: 'a\ud800' }), /^spec\.handle: ill-formed UTF-16/],
      [() => client.create({ properties: { '\udc00': 'v' } }), /^spec\.properties key .* ill-formed UTF-16/],
      [() => client.destroy('\ud800'), /^handle: ill-formed UTF-16/],
      [() => client.containers({ '\ud800': 'x' }), /^properties key .* ill-formed UTF-16/],
      [() => c.setProperty('\ud800', 'v'), /^name: ill-formed UTF-16/],
      [() => c.attach('\ud800', {}), /^pid: ill-formed UTF-16/],
    ] as const) {
      await expect(call()).rejects.toThrow(message);
    }
    expect(server.connections).toHaveLength(0);
  });

  it('a missing socket is a typed connection error naming the server, the socket error its cause', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'garden-client-'));
    try {
      const socketPath = join(dir, 'missing.sock');
      const client = createClient({ socketPath });
      for (const call of [
        () => client.ping(),
        () => containerOn(socketPath).streamOut({ path: '/x' }),
        () => containerOn(socketPath).run({ path: 'x' }, {}),
      ]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GardenConnectionError);
        expect(err).toBeInstanceOf(GardenError);
        expect(err).toMatchObject({
          code: 'GARDEN_CONNECTION',
          transportCode: 'ENOENT',
          address: `unix:${socketPath}`,
          statusCode: 0,
          message: `cannot connect to the Garden server at unix:${socketPath}: connect ENOENT ${socketPath}`,
          cause: { code: 'ENOENT', syscall: 'connect' },
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a refused connection is a connection error ECONNREFUSED', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'garden-client-'));
    try {
      // Not a listening socket (as a stale socket file left by a dead server): refused.
      const socketPath = join(dir, 'stale.sock');
      writeFileSync(socketPath, '');
      const err = await createClient({ socketPath })
        .ping()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GardenConnectionError);
      expect(err).toMatchObject({
        transportCode: 'ECONNREFUSED',
        message: `cannot connect to the Garden server at unix:${socketPath}: connect ECONNREFUSED ${socketPath}`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server closing before its answer is a connection error, not a raw socket error', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      conn.socket.destroy();
    });
    const err = await createClient({ socketPath: server.socketPath })
      .capacity()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenConnectionError);
    expect(err).toMatchObject({
      transportCode: 'ECONNRESET',
      message: expect.stringMatching(/^connection to the Garden server at unix:\S+ lost: socket hang up$/),
      cause: { code: 'ECONNRESET' },
    });
  });

  it('a response cut short is a connection error', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      await conn.write(
        'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"Memory',
      );
      conn.socket.destroy();
    });
    const err = await createClient({ socketPath: server.socketPath })
      .capacity()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenConnectionError);
    expect((err as GardenConnectionError).transportCode).toBe('ECONNRESET');
  });

  it('malformed HTTP from the server is a connection error carrying the parser code', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      conn.end('garbage, not HTTP\r\n\r\n');
    });
    const err = await createClient({ socketPath: server.socketPath })
      .ping()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenConnectionError);
    expect((err as GardenConnectionError).transportCode).toMatch(/^HPE_/);
  });

  it('streamOut: an abort mid-download errors the stream', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      await conn.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nDATA\r\n');
    });
    const ac = new AbortController();
    const out = await containerOn(server.socketPath).streamOut({ path: '/x' }, { signal: ac.signal });
    const chunks: Buffer[] = [];
    const done = (async () => {
      for await (const c of out) {
        chunks.push(c as Buffer);
        ac.abort();
      }
    })();
    await expect(done).rejects.toBeInstanceOf(GardenAbortError);
    expect(Buffer.concat(chunks).toString()).toBe('DATA');
    await server.connections[0]!.closed;
  });
});

describe('run and attach', () => {
  it('aborting run() while waiting for the first message closes the control connection', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      await conn.write(hijackHead('201 Created')); // head, but no first message
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await expect(
      containerOn(server.socketPath).run({ path: 'x' }, {}, { signal: ac.signal }),
    ).rejects.toBeInstanceOf(GardenAbortError);
    await server.connections[0]!.closed;
  });

  it('a run() timeout while attaching stdout closes every connection', async () => {
    server = await startRawServer(async (conn) => {
      const req = await conn.readRequest();
      if (req.line.startsWith('POST')) await conn.write(first());
      // the stdout connection never gets a head
    });
    const err = await containerOn(server.socketPath)
      .run({ path: 'x' }, { stdout: new Writable({ write: (_c, _e, cb) => cb() }) }, { timeout: 80 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenAbortError);
    expect(server.connections).toHaveLength(2);
    await Promise.all(server.connections.map((c) => c.closed));
  });

  it('server going away mid-run rejects wait() instead of hanging', async () => {
    server = await startRawServer(async (conn) => {
      const req = await conn.readRequest();
      if (req.line.startsWith('POST')) await conn.write(first());
      else await conn.write(`${hijackHead('200 OK', false)}partial`);
    });
    const out: Buffer[] = [];
    const proc = await containerOn(server.socketPath).run(
      { path: 'x' },
      {
        stdout: new Writable({
          write: (c, _e, cb) => {
            out.push(c);
            cb();
          },
        }),
      },
    );
    await new Promise((r) => setTimeout(r, 20));
    for (const conn of server.connections) conn.socket.destroy();
    const err = await proc.wait().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenConnectionError);
    expect((err as Error).message).toMatch(
      /^connection to the Garden server at unix:\S+ (closed|lost) before the process exited/,
    );
    expect(Buffer.concat(out).toString()).toBe('partial');
  });

  it('a failing output hijack still returns the process; wait() reports it', async () => {
    server = await startRawServer(async (conn) => {
      const req = await conn.readRequest();
      if (req.line.startsWith('POST')) await conn.write(first());
      else conn.socket.destroy();
    });
    const proc = await containerOn(server.socketPath).run(
      { path: 'x' },
      { stdout: new Writable({ write: (_c, _e, cb) => cb() }) },
    );
    const err = await proc.wait().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenConnectionError);
    expect((err as Error).message).toMatch(
      /^connection: failed to hijack stream Stdout: connection to the Garden server at unix:\S+ closed before the response head of GET \S+\/stdout: EOF$/,
    );
    await server.connections[0]!.closed;
  });

  it('close() detaches: wait() rejects with an AbortError and sockets close', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      await conn.write(first());
    });
    const proc = await containerOn(server.socketPath).run({ path: 'x' }, {});
    const waiting = proc.wait();
    proc.close();
    await expect(waiting).rejects.toBeInstanceOf(GardenAbortError);
    await server.connections[0]!.closed;
  });

  it('signal() after the control connection closed rejects', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      conn.end(`${first()}{"process_id":"p","exit_status":0}\n`);
    });
    const proc = await containerOn(server.socketPath).run({ path: 'x' }, {});
    expect(await proc.wait()).toBe(0);
    const err = await proc.signal(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenConnectionError);
    expect(err).toMatchObject({
      transportCode: 'CLOSED',
      message: expect.stringMatching(/control connection is closed$/),
    });
  });

  it('applies backpressure to a slow stdout and leaves no listeners behind', async () => {
    const payload = Buffer.alloc(4 * 1024 * 1024, 'abcdefgh');
    server = await startRawServer(async (conn) => {
      const req = await conn.readRequest();
      if (req.line.startsWith('POST')) {
        await conn.write(first());
        await conn.readLine(); // stdin EOF
        return;
      }
      await conn.write(hijackHead('200 OK', false));
      await conn.write(payload);
      conn.end();
      server!.connections[0]!.end('{"process_id":"p","exit_status":0}\n');
    });
    let maxBuffered = 0;
    const received: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk, _enc, cb) {
        received.push(chunk);
        maxBuffered = Math.max(maxBuffered, slow.writableLength);
        setImmediate(cb);
      },
    });
    const stdin = Readable.from([]);
    const before = {
      drain: slow.listenerCount('drain'),
      close: slow.listenerCount('close'),
      error: slow.listenerCount('error'),
    };
    const proc = await containerOn(server.socketPath).run({ path: 'x' }, { stdout: slow, stdin });
    expect(await proc.wait()).toBe(0);
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    // Writes stopped while the writable was full: it never buffered much past its high-water mark.
    expect(maxBuffered).toBeLessThan(1024 * 1024);
    expect({
      drain: slow.listenerCount('drain'),
      close: slow.listenerCount('close'),
      error: slow.listenerCount('error'),
    }).toEqual(before);
    expect(stdin.listenerCount('data')).toBe(0);
    expect(stdin.listenerCount('end')).toBe(0);
  });
});

describe('streamIn', () => {
  it('a failing tar stream rejects the upload with its error', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest().catch(() => {});
    });
    const tarStream = new Readable({ read() {} });
    tarStream.push('PART1');
    setTimeout(() => tarStream.destroy(new Error('disk read failed')), 20);
    await expect(containerOn(server.socketPath).streamIn({ path: '/x', tarStream })).rejects.toThrow(
      'disk read failed',
    );
    await server.connections[0]!.closed;
  });
});
