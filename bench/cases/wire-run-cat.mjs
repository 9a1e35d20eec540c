/**
 * Process I/O throughput: `cat` of 256 MiB through Run with @garden-ts/client — stdin up the
 * control connection as JSON text messages, stdout back on the hijacked output stream. A = the
 * client against garden-ts `gardend --backend fake`; B = the same client against the canonical Go
 * server (cmd/gogarden). Every sample checks that all bytes came back.
 */
import { Readable, Writable } from 'node:stream';
import { startGardend } from '../../test-e2e/go-conformance/bench-support.mjs';
import { startGoGardenServer } from '../../test-e2e/go-conformance/go-server.mjs';

const MIB = 1024 * 1024;
const TOTAL_BYTES = 256 * MIB;
const QUICK_TOTAL_BYTES = 16 * MIB;
const CHUNK = MIB;

async function loadClient() {
  try {
    return await import('@garden-ts/client');
  } catch (err) {
    if (/** @type {{ code?: string }} */ (err)?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error('@garden-ts/client is not built: run `pnpm build` first', { cause: err });
    }
    throw err;
  }
}

/**
 * Letters and digits only: the payload survives stdin's JSON-text encoding unchanged (protocol
 * §7.4) and needs no JSON escaping, so neither side pays for `\"` or `\\` sequences.
 * @returns {Buffer}
 */
function makeChunk() {
  const alphabet = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
  const chunk = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i++) chunk[i] = /** @type {number} */ (alphabet[(i * 7919) % alphabet.length]);
  return chunk;
}

/**
 * @param {() => Promise<{ socketPath: string, stop(): Promise<void> }>} start
 * @param {boolean} quick
 */
async function setupWith(start, quick) {
  const { createClient } = await loadClient();
  const server = await start();
  try {
    const client = createClient({ socketPath: server.socketPath });
    const container = await client.create({ handle: `bench-cat-${process.pid}` });
    return { server, client, container, chunk: makeChunk(), total: quick ? QUICK_TOTAL_BYTES : TOTAL_BYTES };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/**
 * @param {{ container: import('@garden-ts/api-types').Container, chunk: Buffer, total: number }} ctx
 */
async function measure({ container, chunk, total }) {
  const chunks = total / chunk.length;
  let received = 0;
  const stdin = Readable.from(
    (function* () {
      for (let i = 0; i < chunks; i++) yield chunk;
    })(),
  );
  const stdout = new Writable({
    write(data, _encoding, callback) {
      received += data.length;
      callback();
    },
  });
  const start = process.hrtime.bigint();
  const proc = await container.run({ path: 'cat' }, { stdin, stdout });
  const status = await proc.wait();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (status !== 0) throw new Error(`cat exited ${status}`);
  if (received !== total) throw new Error(`cat returned ${received} of ${total} bytes`);
  return { value: total / MIB / seconds, seconds };
}

/** @param {{ client: import('@garden-ts/api-types').Client, container: { handle: string }, server: { stop(): Promise<void> } }} ctx */
async function teardown({ client, container, server }) {
  try {
    await client.destroy(container.handle);
  } finally {
    await server.stop();
  }
}

export default {
  name: 'wire-run-cat',
  description:
    'Run `cat` with 256 MiB of text on stdin through @garden-ts/client, counting stdout; value = MiB/s of stdout (wall time from run() to wait()), seconds = one sample.',
  unit: 'MB/s',
  better: 'higher',
  pairs: 3,
  /** @param {{ quick: boolean }} [options] */
  setup: ({ quick } = { quick: false }) => setupWith(startGardend, quick),
  measure,
  teardown,
  peer: {
    name: 'go-garden',
    requires: ['go'],
    /** @param {{ quick: boolean }} [options] */
    setup: ({ quick } = { quick: false }) => setupWith(() => startGoGardenServer(), quick),
    measure,
    teardown,
  },
};
