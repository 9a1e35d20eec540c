/**
 * What backend-linux refuses, through the wire (client → server over a unix socket →
 * backend-linux): hostile or broken tars get a complete HTTP error response naming the entry and
 * the reason (issue 10, item 5), with the TS client's chunked upload and with a raw
 * Content-Length upload, and nothing after the refused entry is written; limits no container can
 * run with get a 400 naming the field and the range (item 9); bad NetIn/NetOut input its typed error.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Client, type Container, GardenConnectionError, GardenError } from '@garden-ts/api-types';
import { createClient } from '@garden-ts/client';
import { buildServer, type GardenServer } from '@garden-ts/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  exec,
  packTar,
  type TarEntry,
  type TestEnv,
  testEnv,
} from '../../packages/backend-linux/test/helpers.js';
import { RawConnection } from '../../packages/server/test/helpers/raw-http.js';

let env: TestEnv;
let server: GardenServer;
let client: Client;
let c: Container;
const dir = mkdtempSync(join(tmpdir(), 'refusals-over-wire-'));
const socketPath = join(dir, 'garden.sock');

beforeAll(async () => {
  env = testEnv('refusals');
  server = buildServer({ backend: env.backend() });
  await server.listen({ socketPath });
  client = createClient({ socketPath });
  c = await client.create({ handle: `refusals-${process.pid}` });
});
afterAll(async () => {
  await server?.close();
  await env?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

type Entry = TarEntry;
const pack = (entries: Entry[]) => packTar(entries.map((e) => ({ devmajor: 1, devminor: 1, ...e })));

const around = (bad: Entry) =>
  pack([{ name: 'before.txt', content: 'before' }, bad, { name: 'after.txt', content: 'after' }]);

const CASES: [string, () => Promise<Buffer>, RegExp, string[]][] = [
  [
    'a .. entry',
    () => around({ name: '../escape', content: 'x' }),
    /^error streaming in: archive entry "\.\.\/escape": escapes the destination \(\.\.\)$/,
    ['./before.txt'],
  ],
  [
    'an absolute hard link target',
    () => around({ name: 'hl', type: 'link', linkname: '/etc/passwd' }),
    /^error streaming in: archive entry "hl": hard link to an absolute path \(\/etc\/passwd\)$/,
    ['./before.txt'],
  ],
  [
    'a device node',
    () => around({ name: 'dev', type: 'character-device' }),
    /^error streaming in: archive entry "dev": device nodes are not allowed in unprivileged containers$/,
    ['./before.txt'],
  ],
  [
    '64 KiB of random bytes',
    async () => randomBytes(64 * 1024),
    /^error streaming in: not a tar archive \(Invalid tar header/,
    [],
  ],
];

async function written(): Promise<string[]> {
  const r = await exec(c, { path: 'sh', args: ['-c', 'cd /tmp/in && find . -mindepth 1 | sort'], dir: '/' });
  return r.stdout.split('\n').filter(Boolean);
}

async function freshDestination(): Promise<void> {
  await exec(c, { path: 'sh', args: ['-c', 'rm -rf /tmp/in && mkdir -p /tmp/in'], dir: '/' });
}

describe.each(CASES)('StreamIn of %s', (_label, archive, message, before) => {
  it('through the TS client (chunked): the typed error naming the entry and the reason', async () => {
    await freshDestination();
    const body = await archive();
    // In 16 KiB reads, as a file would be read.
    const pieces: Buffer[] = [];
    for (let at = 0; at < body.length; at += 16 * 1024) pieces.push(body.subarray(at, at + 16 * 1024));
    const err = await c.streamIn({ path: '/tmp/in', tarStream: Readable.from(pieces) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(GardenConnectionError);
    expect(err).toBeInstanceOf(GardenError);
    expect((err as GardenError).message).toMatch(message);
    expect((err as GardenError).statusCode).toBe(500);
    expect(await written()).toEqual(before);
    await client.ping();
  });

  it('with Content-Length: a complete HTTP error response naming the entry and the reason', async () => {
    await freshDestination();
    const body = await archive();
    const conn = await RawConnection.open(socketPath);
    conn.write(
      `PUT /containers/${c.handle}/files?destination=%2Ftmp%2Fin HTTP/1.1\r\nHost: api\r\n` +
        `Content-Type: application/x-tar\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    conn.write(body);
    const r = await conn.readResponse(20_000);
    conn.destroy();
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body.toString()).Message).toMatch(message);
    expect(await written()).toEqual(before);
  });
});

// NetIn/NetOut input the backend refuses comes back typed with Guardian's text, nothing recorded
// (the full matrix is test-e2e/linux/network.test.ts).
it('bad NetIn and NetOut input is refused with a typed error, nothing recorded', async () => {
  const { hostPort } = await c.netIn(0, 8080);
  const refusals: [() => Promise<unknown>, string][] = [
    [() => c.netIn(hostPort, 8081), `port ${hostPort} is already in use`],
    [() => c.netOut({ protocol: 0, ports: [{ start: 80 }] }), 'Ports cannot be specified for Protocol ALL'],
    [() => c.bulkNetOut([{ protocol: 1 }, { protocol: 4 }]), 'invalid protocol: 4'],
  ];
  for (const [call, text] of refusals) {
    const err = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GardenError);
    expect((err as GardenError).message).toBe(text);
  }
  expect((await c.info()).mappedPorts).toEqual([{ hostPort, containerPort: 8080 }]);
});

describe('limits no container can run with', () => {
  it.each([
    [{ memory: { limitInBytes: 1n } }, /limits\.memory_limits\.limit_in_bytes.*at least 1048576/],
    [{ pid: { max: 2n ** 64n - 1n } }, /limits\.pid_limits\.max.*1\.\.4194304/],
  ])('%o: HTTP 400 naming the field and the range', async (limits, message) => {
    const err = await client.create({ limits }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GardenError);
    expect((err as GardenError).statusCode).toBe(400);
    expect((err as GardenError).message).toMatch(message);
  });
});
