/** Output buffering and backpressure of one process output stream. */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OutputStream } from './output-stream.js';

/** A stand-in for the reader's socket: a stream whose write() reports backpressure at a small mark. */
function fakeSocket(highWaterMark = 4) {
  const s = new PassThrough({ highWaterMark });
  return { socket: s as unknown as import('node:net').Socket, stream: s };
}

const write = (o: OutputStream, text: string) =>
  new Promise<void>((resolve, reject) =>
    o.writable.write(Buffer.from(text), (e) => (e ? reject(e) : resolve())),
  );

afterEach(() => {
  vi.useRealTimers();
});

describe('OutputStream', () => {
  it('queues output until a reader attaches, then flushes it in order', async () => {
    const o = new OutputStream();
    await write(o, 'a');
    await write(o, 'b');
    const { socket, stream } = fakeSocket(1024);
    expect(o.attach(socket)).toBe(true);
    await write(o, 'c');
    expect(stream.read()?.toString()).toBe('abc');
  });

  it('drops overflow like Go once the attach wait is over, without blocking the writer', async () => {
    vi.useFakeTimers();
    const o = new OutputStream({ maxChunks: 2, attachWaitMs: 100 });
    await write(o, '1');
    await write(o, '2');
    let third = false;
    o.writable.write(Buffer.from('3'), () => (third = true));
    await vi.advanceTimersByTimeAsync(50);
    expect(third).toBe(false); // held: the reader normally arrives right after the Run response
    await vi.advanceTimersByTimeAsync(60);
    expect(third).toBe(true);
    await write(o, '4');
    expect(o.dropped).toBe(1);
    const { socket, stream } = fakeSocket(1024);
    o.attach(socket);
    expect(stream.read()?.toString()).toBe('123');
  });

  it('releases a held write as soon as the reader attaches', async () => {
    const o = new OutputStream({ maxChunks: 1, attachWaitMs: 10_000 });
    await write(o, 'x');
    const held = write(o, 'y');
    const { socket, stream } = fakeSocket(1024);
    o.attach(socket);
    await held;
    expect(stream.read()?.toString()).toBe('xy');
    expect(o.dropped).toBe(0);
  });

  it('applies the reader socket backpressure to the writer', async () => {
    const o = new OutputStream();
    const { socket, stream } = fakeSocket(4);
    o.attach(socket);
    let done = false;
    o.writable.write(Buffer.from('0123456789'), () => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    stream.read();
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(true);
  });

  it('ends the reader after the writer ends, and refuses a second reader', async () => {
    const o = new OutputStream();
    const a = fakeSocket(1024);
    const got: Buffer[] = [];
    a.stream.on('data', (d: Buffer) => got.push(d));
    expect(o.attach(a.socket)).toBe(true);
    expect(o.attach(fakeSocket().socket)).toBe(false);
    await write(o, 'bye');
    o.writable.end();
    await new Promise((r) => a.stream.once('finish', r));
    expect(Buffer.concat(got).toString()).toBe('bye');
    expect(o.isEnded).toBe(true);
  });
});
