/**
 * The raw-socket plain exchange (src/plain-call.ts): every framing an HTTP/1.1 server may answer
 * a plain call with, and the failures, as node:http's path gives them.
 */
import { GardenConnectionError } from '@garden-ts/api-types';
import { afterEach, expect, it } from 'vitest';
import { createClient } from '../src/index.js';
import { plainHead, type RawServer, startRawServer } from './raw-server.js';

let server: RawServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const CAPACITY = '{"memory_in_bytes":1111,"disk_in_bytes":2222,"max_containers":42}\n';
const decoded = { memoryInBytes: 1111n, diskInBytes: 2222n, schedulableDiskInBytes: 0n, maxContainers: 42n };

/** The request heads the server got. */
let heads: string[] = [];

/** Serves `answer` (written in the given pieces, then the connection closed) to every request. */
async function answering(pieces: string[], close = true) {
  heads = [];
  server = await startRawServer(async (conn) => {
    heads.push((await conn.readRequest()).head);
    for (const p of pieces) {
      await conn.write(p);
      await new Promise((r) => setTimeout(r, 5));
    }
    if (close) conn.socket.end();
  });
  return createClient({ socketPath: server.socketPath });
}

it('reads a body delimited by the end of the connection (no Content-Length, not chunked)', async () => {
  const client = await answering([
    `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n${CAPACITY.slice(0, 20)}`,
    CAPACITY.slice(20),
  ]);
  expect(await client.capacity()).toEqual(decoded);
});

it('reads a chunked body whose last chunk and final CRLF come in separate packets', async () => {
  const c1 = CAPACITY.slice(0, 30);
  const c2 = CAPACITY.slice(30);
  const client = await answering(
    [
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${c1.length.toString(16)}\r\n${c1}\r\n`,
      `${c2.length.toString(16)}\r\n${c2}\r\n0\r\n`,
      '\r\n',
    ],
    false,
  );
  expect(await client.capacity()).toEqual(decoded);
});

it('skips an interim 100 Continue answer; a 204 has no body to wait for', async () => {
  let client = await answering([
    `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: ${CAPACITY.length}\r\n\r\n${CAPACITY}`,
  ]);
  expect(await client.capacity()).toEqual(decoded);
  await server?.close();
  // The server keeps the connection open: the answer is complete at its head (an empty body,
  // which ping then fails to decode, as the Go client does), not at the end of the connection.
  client = await answering(['HTTP/1.1 204 No Content\r\n\r\n'], false);
  await expect(client.ping()).rejects.toThrow(/^EOF$/);
  expect(heads).toEqual([plainHead('GET /ping HTTP/1.1')]);
});

it('a chunked body cut short is a connection error ECONNRESET', async () => {
  const client = await answering([
    `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n${CAPACITY.slice(0, 10)}`,
  ]);
  const err = await client.capacity().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GardenConnectionError);
  expect(err).toMatchObject({ transportCode: 'ECONNRESET' });
});

it('a malformed chunk size or Content-Length is a connection error with the parser code', async () => {
  let client = await answering([
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
  ]);
  expect(await client.capacity().catch((e: unknown) => e)).toMatchObject({
    transportCode: 'HPE_INVALID_CHUNK_SIZE',
  });
  await server?.close();
  client = await answering(['HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n{}']);
  expect(await client.capacity().catch((e: unknown) => e)).toMatchObject({
    transportCode: 'HPE_INVALID_CONTENT_LENGTH',
  });
});
