/**
 * Output throughput and lossless delivery: `cat` of a large stdin through Run with a stdout
 * reader attached; every byte must arrive (backpressure, not dropping).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture;
beforeAll(async () => {
  f = await startServer();
  await f.fake.create({ handle: 'h' });
});
afterAll(async () => {
  await f.close();
});

it('delivers 64 MiB of cat output without loss', async () => {
  const total = 64 * 1024 * 1024;
  const body = '{"path":"cat"}\n';
  const c = await RawConnection.open(f.socketPath);
  c.write(
    `POST /containers/h/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  await c.readHead();
  const { stream_id } = JSON.parse(await c.readLine()) as { stream_id: string };

  const started = performance.now();
  const out = connect(f.socketPath);
  out.write(`GET /containers/h/processes/p/attaches/${stream_id}/stdout HTTP/1.1\r\nHost: api\r\n\r\n`);
  let received = 0;
  let headSkipped = false;
  let pending = Buffer.alloc(0);
  const done = new Promise<void>((resolve) => {
    out.on('data', (d: Buffer) => {
      if (!headSkipped) {
        pending = Buffer.concat([pending, d]);
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        headSkipped = true;
        received += pending.length - end - 4;
        return;
      }
      received += d.length;
    });
    out.on('end', () => resolve());
  });

  // Stdin as the Go client sends it: 32 KiB chunks as JSON strings, honouring socket backpressure.
  const chunk = `{"source":0,"data":"${'y'.repeat(32 * 1024)}"}\n`;
  for (let sent = 0; sent < total; sent += 32 * 1024) {
    if (!c.socket.write(chunk)) await new Promise((r) => c.socket.once('drain', r));
  }
  c.write('{"source":0}\n');
  expect(await c.readLine(30_000)).toContain('"exit_status":0');
  await done;
  const seconds = (performance.now() - started) / 1000;
  console.log(`cat throughput: ${(total / 1024 / 1024 / seconds).toFixed(0)} MiB/s`);
  expect(received).toBe(total);
}, 60_000);
