/**
 * The Dialer's spare connection (dial.ts): each call still gets a connection that carried nothing
 * before, dialled ahead; a spare the server closed is replaced by a new connection transparently;
 * a spare never keeps the process alive.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ClientContainer } from '../src/container.js';
import { GardenConnection } from '../src/garden-connection.js';
import { createClient } from '../src/index.js';
import { hijackHead, plainResponse, type RawServer, startRawServer } from './raw-server.js';

let server: RawServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const pong = async (conn: import('./raw-server.js').RawConn) => {
  await conn.readRequest();
  conn.end(plainResponse('200 OK', '{}\n'));
};
const settle = () => new Promise((r) => setTimeout(r, 30));

describe('the spare connection', () => {
  it('is dialled after a call and carries the next call, one request per connection', async () => {
    server = await startRawServer(pong);
    const client = createClient({ socketPath: server.socketPath });
    await client.ping();
    await settle();
    // The first call's connection, and the spare (connected, nothing sent).
    expect(server.accepted).toHaveLength(2);
    const spare = server.accepted[1];
    await client.ping();
    // The second request arrived on the connection accepted before it was made.
    expect(server.connections[1]?.socket).toBe(spare);
    // Each connection carried exactly one request (the Go client's model).
    expect(server.connections).toHaveLength(2);
  });

  it('replaces a spare the server closed before the call, for plain and hijacked calls', async () => {
    // A server that closes every connection that sent nothing for 10 ms (as a restarting server
    // or a short header timeout would), and answers the others.
    server = await startRawServer(async (conn) => {
      const req = await conn.readRequest();
      if (req.line.startsWith('POST /containers/h1/processes')) {
        await conn.write(`${hijackHead('201 Created')}{"process_id":"p","stream_id":"1"}\n`);
        await conn.write('{"process_id":"p","exit_status":3}\n');
        return;
      }
      conn.end(plainResponse('200 OK', '{}\n'));
    });
    const seen = new Map<object, number>();
    const closeIdle = setInterval(() => {
      for (const s of server?.accepted ?? []) {
        if (!seen.has(s)) seen.set(s, Date.now());
        else if (s.bytesRead === 0 && Date.now() - (seen.get(s) ?? 0) >= 10) s.destroy();
      }
    }, 2);
    try {
      const client = createClient({ socketPath: server.socketPath });
      for (let i = 0; i < 3; i++) {
        await client.ping();
        await settle(); // the spare is made, then closed by the server
      }
      const container = new ClientContainer(
        new GardenConnection({ socketPath: server.socketPath }, 2000),
        'h1',
      );
      for (let i = 0; i < 2; i++) {
        const proc = await container.run({ path: 'x' }, {});
        expect(await proc.wait()).toBe(3);
        await settle();
      }
    } finally {
      clearInterval(closeIdle);
    }
  });

  it('never sends a request twice once any byte of an answer came', async () => {
    let requests = 0;
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      requests++;
      if (requests === 1) return conn.end(plainResponse('200 OK', '{}\n'));
      // The second request (on the spare): half a head, then the server is gone.
      await conn.write('HTTP/1.1 200 OK\r\nContent-');
      conn.socket.destroy();
    });
    const client = createClient({ socketPath: server.socketPath });
    await client.ping();
    await settle();
    await expect(client.ping()).rejects.toThrow(/Garden server/);
    await settle();
    expect(requests).toBe(2);
  });

  it('never keeps the process alive', async () => {
    const count = (type: string) => process.getActiveResourcesInfo().filter((t) => t === type).length;
    server = await startRawServer(pong);
    // What keeps the event loop alive before the client does anything: the test runner's pipes
    // and the raw server's listening socket (earlier tests' sockets are closed by now).
    await settle();
    const pipes = count('PipeWrap');
    const client = createClient({ socketPath: server.socketPath });
    await client.ping();
    await settle();
    expect(server.accepted).toHaveLength(2); // the spare is there
    // The server's side of those sockets is in this process too: let go of it here. What is left
    // is the client's, which must add nothing.
    for (const s of server.accepted) s.unref();
    expect(count('PipeWrap')).toBe(pipes);
  });
});
