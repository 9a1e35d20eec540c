/**
 * End-to-end backpressure through the backend: a slow Garden stdout consumer slows the process
 * down (no output is lost), and stdin larger than every buffer on the way reaches the process.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LinuxBackend } from '../src/index.js';
import { testEnv } from './helpers.js';

const env = testEnv('backpressure');
let backend: LinuxBackend;

beforeAll(async () => {
  backend = env.backend();
  await backend.start();
});
afterAll(() => env.cleanup());

/** 8 MiB of numbered lines ("0000001\n" ...), in 1 MiB chunks. */
function numberedLines(): Buffer[] {
  const chunks: Buffer[] = [];
  const perChunk = (1024 * 1024) / 8;
  for (let c = 0; c < 8; c++) {
    const lines: string[] = [];
    for (let i = 0; i < perChunk; i++) lines.push(`${String(c * perChunk + i + 1).padStart(7, '0')}\n`);
    chunks.push(Buffer.from(lines.join('')));
  }
  return chunks;
}

/** Hashes what it receives, stalling 20 ms after every 512 KiB. */
class SlowHasher extends Writable {
  readonly hash = createHash('sha256');
  bytes = 0;
  private sincePause = 0;

  constructor() {
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.sincePause += chunk.length;
    if (this.sincePause < 512 * 1024) {
      done();
      return;
    }
    this.sincePause = 0;
    setTimeout(done, 20);
  }
}

it('cat of 8 MiB stdin to a slow stdout consumer delivers every byte (hash matches)', async () => {
  const c = await backend.create({});
  const input = numberedLines();
  const want = createHash('sha256');
  for (const chunk of input) want.update(chunk);
  const stdout = new SlowHasher();
  const p = await c.run({ path: 'cat' }, { stdin: Readable.from(input), stdout });
  expect(await p.wait()).toBe(0);
  expect(stdout.bytes).toBe(8 * 1024 * 1024);
  expect(stdout.hash.digest('hex')).toBe(want.digest('hex'));
  await backend.destroy(c.handle);
});

it('16 MiB of stdin to a process that starts reading late all arrive', async () => {
  const c = await backend.create({});
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  let out = '';
  const stdout = new Writable({
    write(b: Buffer, _enc, done) {
      out += b.toString();
      done();
    },
  });
  const p = await c.run(
    { path: 'sh', args: ['-c', 'sleep 1; wc -c'] },
    { stdin: Readable.from(Array.from({ length: 16 }, () => chunk)), stdout },
  );
  expect(await p.wait()).toBe(0);
  expect(out.trim()).toBe('16777216');
  await backend.destroy(c.handle);
});
