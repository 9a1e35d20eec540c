/**
 * Client behaviour suite, runnable against any Garden server by unix socket path: this package
 * runs it against the TS server (+ backend-fake), and the Go-conformance tests run it against the
 * canonical Go server (+ its in-memory backend).
 *
 * Only behaviour both backends share is asserted: the simulated commands `echo`, `cat`, `true`,
 * `false`, `sh -c "exit N"`, `sh -c "echo TEXT >&2"`, `sleep N`, `pwd`, `env`; signals exiting
 * 143 (terminate) / 137 (kill); unknown executables failing with ExecutableNotFoundError.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import {
  type Container,
  ContainerNotFoundError,
  ExecutableNotFoundError,
  GardenError,
  ProcessNotFoundError,
  Protocol,
  Signal,
  seconds,
} from '@garden-ts/api-types';
import tar from 'tar-stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, GardenAbortError, type GardenClient } from '../src/index.js';

/** A Writable that collects everything written to it (and is never ended by the client). */
export function collector(): { stream: Writable; buffer(): Buffer; text(): string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, buffer: () => Buffer.concat(chunks), text: () => Buffer.concat(chunks).toString('utf8') };
}

/** An in-memory tar archive with the given files. */
export async function makeTar(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The files (name → content) of a tar stream. */
export async function readTar(stream: Readable): Promise<Record<string, string>> {
  const extract = tar.extract();
  stream.pipe(extract);
  const files: Record<string, string> = {};
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (entry.header.type === 'file') {
      files[entry.header.name.replace(/^\.\//, '')] = Buffer.concat(chunks).toString('utf8');
    }
  }
  return files;
}

export interface ClientBehaviourOptions {
  /** Multiplies the per-test timeout (default 1 → 10 s). */
  timeScale?: number;
}

/**
 * Declares the client behaviour suite. `getSocketPath` is called in `beforeAll`, so the server
 * may be started by an outer `beforeAll`.
 */
export function describeClientBehaviour(
  name: string,
  getSocketPath: () => string,
  options: ClientBehaviourOptions = {},
): void {
  const timeout = 10_000 * (options.timeScale ?? 1);

  describe(`client behaviour: ${name}`, { timeout }, () => {
    let client: GardenClient;
    const created: string[] = [];
    let counter = 0;
    const runId = randomBytes(3).toString('hex');
    const handle = (label: string) => `cb-${runId}-${label}-${++counter}`;
    const create = async (spec: Parameters<GardenClient['create']>[0] = {}): Promise<Container> => {
      const c = await client.create({ handle: handle('c'), ...spec });
      created.push(c.handle);
      return c;
    };
    const run = async (c: Container, path: string, args: string[] = [], stdin?: string | Buffer) => {
      const out = collector();
      const err = collector();
      const proc = await c.run(
        { path, args },
        {
          stdout: out.stream,
          stderr: err.stream,
          ...(stdin === undefined ? {} : { stdin: Readable.from([Buffer.from(stdin)]) }),
        },
      );
      const status = await proc.wait();
      return { status, stdout: out.text(), stderr: err.text(), id: proc.id };
    };

    beforeAll(() => {
      client = createClient({ socketPath: getSocketPath() });
    });
    afterEach(async () => {
      for (const h of created.splice(0)) await client.destroy(h).catch(() => {});
    });
    afterAll(async () => {
      for (const h of created.splice(0)) await client.destroy(h).catch(() => {});
    });

    describe('server', () => {
      it('pings', async () => {
        await expect(client.ping()).resolves.toBeUndefined();
      });

      it('reports capacity as bigints', async () => {
        const cap = await client.capacity();
        for (const v of Object.values(cap)) expect(typeof v).toBe('bigint');
      });
    });

    describe('lifecycle', () => {
      it('creates, lists, looks up and destroys', async () => {
        const c = await create({ properties: { suite: runId } });
        expect((await client.lookup(c.handle)).handle).toBe(c.handle);
        const listed = await client.containers({ suite: runId });
        expect(listed.map((x) => x.handle)).toEqual([c.handle]);
        expect((await client.containers()).map((x) => x.handle)).toContain(c.handle);
        await client.destroy(c.handle);
        await expect(client.lookup(c.handle)).rejects.toBeInstanceOf(ContainerNotFoundError);
        const err = await c.info().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ContainerNotFoundError);
        expect((err as ContainerNotFoundError).handle).toBe(c.handle);
        expect((err as GardenError).code).toBe('GARDEN_CONTAINER_NOT_FOUND');
      });

      it('destroy of an unknown handle is ContainerNotFoundError', async () => {
        const err = await client.destroy(handle('missing')).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ContainerNotFoundError);
      });

      it('handles with URL-special characters survive the path', async () => {
        const c = await create({ handle: handle('a+b c%2F?#é') });
        expect((await client.lookup(c.handle)).handle).toBe(c.handle);
        await expect(c.info()).resolves.toMatchObject({ state: expect.any(String) });
      });

      it('stop keeps the container', async () => {
        const c = await create();
        await c.stop(false);
        await c.stop(true);
        await expect(c.info()).resolves.toBeDefined();
      });

      it('sets the grace time', async () => {
        const c = await create({ graceTime: seconds(600) });
        await c.setGraceTime(seconds(300));
        await expect(c.info()).resolves.toBeDefined();
      });
    });

    describe('run', () => {
      it('echo writes stdout and exits 0', async () => {
        const c = await create();
        const r = await run(c, 'echo', ['hello', 'world']);
        expect(r).toMatchObject({ status: 0, stdout: 'hello world\n', stderr: '' });
      });

      it('reports exit statuses', async () => {
        const c = await create();
        expect((await run(c, 'true')).status).toBe(0);
        expect((await run(c, 'false')).status).toBe(1);
        expect((await run(c, 'sh', ['-c', 'exit 42'])).status).toBe(42);
      });

      it('separates stderr from stdout', async () => {
        const c = await create();
        const r = await run(c, 'sh', ['-c', 'echo oops >&2']);
        expect(r).toMatchObject({ status: 0, stdout: '', stderr: 'oops\n' });
      });

      it('uses the given process id, dir and env', async () => {
        const c = await create();
        const id = handle('proc');
        const out = collector();
        const proc = await c.run({ id, path: 'pwd', dir: '/tmp' }, { stdout: out.stream });
        expect(proc.id).toBe(id);
        expect(await proc.wait()).toBe(0);
        expect(out.text()).toBe('/tmp\n');
        const envOut = collector();
        const envProc = await c.run({ path: 'env', env: ['GARDEN_TEST=yes'] }, { stdout: envOut.stream });
        expect(await envProc.wait()).toBe(0);
        expect(envOut.text().split('\n')).toContain('GARDEN_TEST=yes');
      });

      it('generates a process id when none is given', async () => {
        const c = await create();
        const r = await run(c, 'true');
        expect(r.id).not.toBe('');
      });

      it('an unknown executable is ExecutableNotFoundError', async () => {
        const c = await create();
        const err = await c.run({ path: '/no/such/binary' }, {}).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ExecutableNotFoundError);
        expect((err as GardenError).code).toBe('GARDEN_EXECUTABLE_NOT_FOUND');
      });

      it('run in an unknown container is ContainerNotFoundError', async () => {
        const c = await create();
        await client.destroy(c.handle);
        await expect(c.run({ path: 'true' }, {})).rejects.toBeInstanceOf(ContainerNotFoundError);
      });

      it('wait() can be called many times', async () => {
        const c = await create();
        const proc = await c.run({ path: 'sh', args: ['-c', 'exit 7'] }, {});
        const [a, b] = await Promise.all([proc.wait(), proc.wait()]);
        expect([a, b, await proc.wait()]).toEqual([7, 7, 7]);
      });

      it("never ends the caller's writables", async () => {
        const c = await create();
        const out = collector();
        const proc = await c.run({ path: 'echo', args: ['x'] }, { stdout: out.stream, stderr: out.stream });
        await proc.wait();
        expect(out.stream.writableEnded).toBe(false);
        expect(out.stream.destroyed).toBe(false);
      });
    });

    describe('stdin', () => {
      it('cat echoes stdin and exits after EOF', async () => {
        const c = await create();
        const r = await run(c, 'cat', [], 'line one\nline two\n');
        expect(r).toMatchObject({ status: 0, stdout: 'line one\nline two\n' });
      });

      it('EOF on an empty stdin ends cat', async () => {
        const c = await create();
        const stdin = new Readable({ read() {} });
        stdin.push(null);
        const out = collector();
        const proc = await c.run({ path: 'cat' }, { stdin, stdout: out.stream });
        expect(await proc.wait()).toBe(0);
        expect(out.text()).toBe('');
      });

      it('streams stdin written after run() resolved, multi-byte text intact', async () => {
        const c = await create();
        const stdin = new Readable({ read() {} });
        const out = collector();
        const proc = await c.run({ path: 'cat' }, { stdin, stdout: out.stream });
        const text = Buffer.from('héllo wörld €😀\n');
        for (let i = 0; i < text.length; i++) stdin.push(text.subarray(i, i + 1));
        stdin.push(null);
        expect(await proc.wait()).toBe(0);
        expect(out.text()).toBe('héllo wörld €😀\n');
      });

      it('round-trips 1 MiB through cat (hash checked)', async () => {
        const c = await create();
        const data = randomBytes(512 * 1024).toString('hex'); // 1 MiB of ASCII
        const out = collector();
        const proc = await c.run(
          { path: 'cat' },
          { stdin: Readable.from([Buffer.from(data)]), stdout: out.stream },
        );
        expect(await proc.wait()).toBe(0);
        const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
        expect(out.buffer().length).toBe(data.length);
        expect(sha(out.buffer())).toBe(sha(data));
      });
    });

    describe('signals', () => {
      it('terminate exits 143', async () => {
        const c = await create();
        const proc = await c.run({ path: 'sleep', args: ['100'] }, {});
        await proc.signal(Signal.Terminate);
        expect(await proc.wait()).toBe(143);
      });

      it('kill exits 137', async () => {
        const c = await create();
        const out = collector();
        const proc = await c.run({ path: 'sleep', args: ['100'] }, { stdout: out.stream });
        await proc.signal(Signal.Kill);
        expect(await proc.wait()).toBe(137);
      });
    });

    describe('tty', () => {
      it('accepts a tty spec and resize messages', async () => {
        const c = await create();
        const proc = await c.run(
          { path: 'sleep', args: ['100'], tty: { windowSize: { columns: 80, rows: 24 } } },
          { stdout: collector().stream },
        );
        await proc.setTTY({ windowSize: { columns: 132, rows: 43 } });
        await proc.signal(Signal.Kill);
        expect(await proc.wait()).toBe(137);
      });
    });

    describe('attach', () => {
      it('attaches to a running process and sees its exit', async () => {
        const c = await create();
        const id = handle('long');
        const first = await c.run({ id, path: 'sleep', args: ['1'] }, {});
        const out = collector();
        const second = await c.attach(id, { stdout: out.stream, stderr: out.stream });
        expect(second.id).toBe(id);
        const [a, b] = await Promise.all([first.wait(), second.wait()]);
        expect([a, b]).toEqual([0, 0]);
      });

      it('attach to an unknown process is ProcessNotFoundError', async () => {
        const c = await create();
        const err = await c.attach('no-such-process', {}).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ProcessNotFoundError);
        expect((err as ProcessNotFoundError).processId).toBe('no-such-process');
      });
    });

    describe('cancellation', () => {
      it('an already-aborted signal rejects without a request', async () => {
        const ac = new AbortController();
        ac.abort();
        const err = await client.ping({ signal: ac.signal }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GardenAbortError);
        expect((err as Error).name).toBe('AbortError');
      });

      it('a wait() timeout rejects that call only', async () => {
        const c = await create();
        const proc = await c.run({ path: 'sleep', args: ['100'] }, {});
        const err = await proc.wait({ timeout: 50 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GardenAbortError);
        expect((err as GardenAbortError).timedOut).toBe(true);
        await proc.signal(Signal.Kill);
        expect(await proc.wait()).toBe(137);
      });
    });

    describe('properties', () => {
      it('reads, sets and removes properties', async () => {
        const c = await create({ properties: { a: '1', 'with space': 'x<&>y' } });
        expect(await c.properties()).toMatchObject({ a: '1', 'with space': 'x<&>y' });
        expect(await c.property('with space')).toBe('x<&>y');
        await c.setProperty('b/c+d', 'é');
        expect(await c.property('b/c+d')).toBe('é');
        await c.removeProperty('a');
        expect(await c.properties()).not.toHaveProperty('a');
        const err = await c.property('a').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GardenError);
        expect(err).not.toBeInstanceOf(ContainerNotFoundError);
        expect((await client.containers({ 'b/c+d': 'é' })).map((x) => x.handle)).toEqual([c.handle]);
      });
    });

    describe('limits', () => {
      it('reports the limits set at create', async () => {
        const c = await create({
          limits: {
            memory: { limitInBytes: 64n * 1024n * 1024n },
            cpu: { weight: 512n },
            bandwidth: { rateInBytesPerSecond: 1000n, burstRateInBytesPerSecond: 2000n },
          },
        });
        expect((await c.currentMemoryLimits()).limitInBytes).toBe(64n * 1024n * 1024n);
        // Guardian on cgroup v1: the shares come back as limit_in_shares, weight 0 (§6.2).
        expect(await c.currentCPULimits()).toEqual({ limitInShares: 512n });
        expect(await c.currentBandwidthLimits()).toMatchObject({
          rateInBytesPerSecond: 1000n,
          burstRateInBytesPerSecond: 2000n,
        });
        await expect(c.currentDiskLimits()).resolves.toBeDefined();
      });
    });

    describe('net', () => {
      it('maps ports and accepts netout rules', async () => {
        const c = await create();
        const mapping = await c.netIn(0, 8080);
        expect(mapping.containerPort).toBe(8080);
        expect(mapping.hostPort).toBeGreaterThan(0);
        await c.netOut({
          protocol: Protocol.TCP,
          networks: [{ start: '10.0.0.1', end: '10.0.0.9' }],
          ports: [{ start: 80, end: 443 }],
        });
        await c.bulkNetOut([
          { protocol: Protocol.UDP },
          { protocol: Protocol.ICMP, icmps: { type: 8, code: 0 } },
        ]);
      });
    });

    describe('files', () => {
      it('streams a tar in and back out', async () => {
        const c = await create();
        const archive = await makeTar({ 'hello.txt': 'hello from the client\n' });
        await c.streamIn({ path: '/tmp/in', tarStream: Readable.from([archive]) });
        const out = await c.streamOut({ path: '/tmp/in/hello.txt' });
        expect(await readTar(out)).toEqual({ 'hello.txt': 'hello from the client\n' });
      });

      it('streamOut of a missing path is an error', async () => {
        const c = await create();
        await expect(c.streamOut({ path: '/no/such/path' }).then(readTar)).rejects.toThrow();
      });
    });

    describe('info, metrics and bulk', () => {
      it('reports info and metrics', async () => {
        const c = await create({ properties: { k: 'v' } });
        const info = await c.info();
        expect(typeof info.state).toBe('string');
        expect(info.properties).toMatchObject({ k: 'v' });
        const m = await c.metrics();
        expect(typeof m.age).toBe('bigint');
        expect(typeof m.memoryStat.cache).toBe('bigint');
      });

      it('bulk calls type per-container errors', async () => {
        const c = await create();
        const missing = handle('missing');
        const infos = await client.bulkInfo([c.handle, missing]);
        expect(infos[c.handle]?.error).toBeUndefined();
        expect(typeof infos[c.handle]?.info?.state).toBe('string');
        expect(infos[missing]?.error).toBeInstanceOf(ContainerNotFoundError);
        const metrics = await client.bulkMetrics([c.handle, missing]);
        expect(typeof metrics[c.handle]?.metrics?.age).toBe('bigint');
        expect(metrics[missing]?.error).toBeInstanceOf(ContainerNotFoundError);
        expect(await client.bulkInfo([])).toEqual({});
      });
    });
  });
}
