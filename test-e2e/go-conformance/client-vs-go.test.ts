/**
 * The garden-ts client against the canonical Go Garden server (cmd/gogarden). Every assertion
 * here is checked against Go's server, so a failure is a client non-conformance (or a gap in the
 * Go fake backend, which the message says).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import {
  type Client,
  type Container,
  ContainerNotFoundError,
  ExecutableNotFoundError,
  GardenError,
  type ProcessIO,
  ProcessNotFoundError,
  type ProcessSpec,
  Signal,
} from '@garden-ts/api-types';
import { createClient } from '@garden-ts/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeClientBehaviour } from '../../packages/client/test/shared.js';
import { type GoGardenServer, startGoGardenServer } from './go-server.js';
import { collectTar, makeTar } from './tar-helpers.js';

let server: GoGardenServer;
let client: Client;
const created: string[] = [];

beforeAll(async () => {
  server = await startGoGardenServer();
  client = createClient({ socketPath: server.socketPath });
});

afterAll(async () => {
  await server?.stop();
});

async function newContainer(spec: Parameters<Client['create']>[0] = {}): Promise<Container> {
  const c = await client.create(spec);
  created.push(c.handle);
  return c;
}

/** A Writable that keeps everything written to it. */
class Sink extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

async function run(
  c: Container,
  spec: ProcessSpec,
  stdin?: Readable,
): Promise<{ stdout: string; stderr: string; code: number }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: ProcessIO = { stdout, stderr, ...(stdin ? { stdin } : {}) };
  const proc = await c.run(spec, io);
  const code = await proc.wait();
  return { stdout: stdout.text(), stderr: stderr.text(), code };
}

describe('garden-ts client → canonical Go server', () => {
  it('pings and reports capacity', async () => {
    await client.ping();
    const capacity = await client.capacity();
    expect(capacity.memoryInBytes).toBeGreaterThan(0n);
    expect(capacity.diskInBytes).toBeGreaterThan(0n);
    expect(capacity.maxContainers).toBeGreaterThan(0n);
  });

  it('creates with a generated handle and looks it up', async () => {
    const a = await newContainer();
    const b = await newContainer();
    expect(a.handle).not.toBe('');
    expect(a.handle).not.toBe(b.handle);
    expect((await client.lookup(a.handle)).handle).toBe(a.handle);
    expect((await a.info()).state).toBe('active');
  });

  it('creates from a full spec and reports limits, properties and ports back', async () => {
    const handle = `ts-full-${Date.now()}`;
    const c = await newContainer({
      handle,
      graceTime: 3_600_000_000_000n,
      bindMounts: [{ srcPath: '/tmp', dstPath: '/mnt/tmp', mode: 1, origin: 0 }],
      network: '10.0.0.0/30',
      properties: { owner: 'me', 'a b': 'c&d' },
      env: ['A=1', 'B=two'],
      limits: {
        bandwidth: { rateInBytesPerSecond: 100n, burstRateInBytesPerSecond: 200n },
        cpu: { weight: 512n },
        disk: { byteHard: 1n << 30n, scope: 1 },
        memory: { limitInBytes: 64n << 20n },
        pid: { max: 100n },
      },
      netOut: [
        { protocol: 3, networks: [{ start: '8.8.8.8', end: '8.8.8.8' }], icmps: { type: 8, code: 0 } },
      ],
      netIn: [{ hostPort: 0, containerPort: 8080 }],
    });
    expect(c.handle).toBe(handle);
    const info = await c.info();
    expect(info.properties).toEqual({ owner: 'me', 'a b': 'c&d' });
    expect(info.mappedPorts).toHaveLength(1);
    expect(info.mappedPorts[0]?.containerPort).toBe(8080);
    expect(info.mappedPorts[0]?.hostPort).toBeGreaterThanOrEqual(61001);
    expect(await c.currentMemoryLimits()).toEqual({ limitInBytes: 64n << 20n });
    // Guardian on cgroup v1 (and the Go fakebackend): the shares as limit_in_shares, weight 0.
    expect(await c.currentCPULimits()).toEqual({ limitInShares: 512n });
    expect(await c.currentDiskLimits()).toMatchObject({ byteHard: 1n << 30n, scope: 1 });
    expect(await c.currentBandwidthLimits()).toEqual({
      rateInBytesPerSecond: 100n,
      burstRateInBytesPerSecond: 200n,
    });
    const env = await run(c, { path: 'env', env: ['C=3'] });
    expect(env.stdout.split('\n')).toEqual(expect.arrayContaining(['A=1', 'B=two', 'C=3']));
    expect(env.stdout.indexOf('B=two')).toBeLessThan(env.stdout.indexOf('C=3'));
  });

  it('rejects a duplicate handle with a generic error', async () => {
    const c = await newContainer();
    const err = await client.create({ handle: c.handle }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenError);
    expect((err as GardenError).type).toBe('');
    expect((err as Error).message).toContain(`Handle '${c.handle}' already in use`);
  });

  it('lists containers with ANDed property filters, including characters that need escaping', async () => {
    const tag = `ts-list-${Date.now()}`;
    const a = await newContainer({ properties: { suite: tag, role: 'web', 'x y': 'p&q=r' } });
    const b = await newContainer({ properties: { suite: tag, role: 'web' } });
    const c = await newContainer({ properties: { suite: tag, role: 'db' } });
    const handles = async (filter: Record<string, string>) =>
      (await client.containers(filter)).map((x) => x.handle).sort();
    expect(await handles({ suite: tag })).toEqual([a.handle, b.handle, c.handle].sort());
    expect(await handles({ suite: tag, role: 'web' })).toEqual([a.handle, b.handle].sort());
    expect(await handles({ suite: tag, 'x y': 'p&q=r' })).toEqual([a.handle]);
    expect(await handles({ suite: tag, role: 'none' })).toEqual([]);
    const all = (await client.containers()).map((x) => x.handle);
    expect(all).toEqual(expect.arrayContaining([a.handle, b.handle, c.handle]));
  });

  it('reports ContainerNotFoundError for lookup, destroy and per-container calls on unknown handles', async () => {
    await expect(client.lookup('ts-nope')).rejects.toBeInstanceOf(ContainerNotFoundError);
    const err = (await client.destroy('ts-nope').catch((e: unknown) => e)) as ContainerNotFoundError;
    expect(err).toBeInstanceOf(ContainerNotFoundError);
    expect(err.handle).toBe('ts-nope');
    expect(err.message).toBe('unknown handle: ts-nope');
    const c = await newContainer();
    await client.destroy(c.handle);
    await expect(c.info()).rejects.toBeInstanceOf(ContainerNotFoundError);
    await expect(c.metrics()).rejects.toBeInstanceOf(ContainerNotFoundError);
    await expect(c.run({ path: 'true' }, {})).rejects.toBeInstanceOf(ContainerNotFoundError);
    await expect(c.attach('x', {})).rejects.toBeInstanceOf(ContainerNotFoundError);
  });

  it('escapes handles and property names in paths like the Go client expects', async () => {
    const c = await newContainer({ handle: `ts a+b/c%d ${Date.now()}` });
    expect((await c.info()).state).toBe('active');
    await c.setProperty('k y+z/w', 'v<&>');
    expect(await c.property('k y+z/w')).toBe('v<&>');
    expect(await c.properties()).toEqual({ 'k y+z/w': 'v<&>' });
    await c.removeProperty('k y+z/w');
    const err = (await c.property('k y+z/w').catch((e: unknown) => e)) as GardenError;
    expect(err).toBeInstanceOf(GardenError);
    expect(err.type).toBe('');
    expect(err.message).toContain('k y+z/w');
  });

  it('bulk info and bulk metrics report per-handle errors', async () => {
    const a = await newContainer({ properties: { n: 'a' } });
    const info = await client.bulkInfo([a.handle, 'ts-bulk-missing']);
    expect(Object.keys(info).sort()).toEqual([a.handle, 'ts-bulk-missing'].sort());
    expect(info[a.handle]?.info?.properties).toEqual({ n: 'a' });
    expect(info['ts-bulk-missing']?.error).toBeInstanceOf(ContainerNotFoundError);
    const metrics = await client.bulkMetrics([a.handle, 'ts-bulk-missing']);
    expect(metrics[a.handle]?.metrics?.age).toBeGreaterThan(0n);
    expect(metrics['ts-bulk-missing']?.error).toBeInstanceOf(ContainerNotFoundError);
    expect(await client.bulkInfo([])).toEqual({});
  });

  it('reads metrics', async () => {
    const c = await newContainer({ limits: { memory: { limitInBytes: 128n << 20n } } });
    const m = await c.metrics();
    expect(m.age).toBeGreaterThan(0n);
    expect(m.memoryStat.hierarchicalMemoryLimit).toBe(128n << 20n);
  });

  it('maps ports with netIn and records netOut rules', async () => {
    const c = await newContainer();
    const first = await c.netIn(0, 8080);
    expect(first.hostPort).toBeGreaterThanOrEqual(61001);
    expect(first.containerPort).toBe(8080);
    const second = await c.netIn(0, 0);
    expect(second.hostPort).not.toBe(first.hostPort);
    expect(second.containerPort).toBe(second.hostPort);
    expect((await c.info()).mappedPorts).toEqual(expect.arrayContaining([first, second]));
    await c.netOut({
      protocol: 3,
      networks: [{ start: '10.0.0.1', end: '10.0.0.255' }, { start: '2001:db8::1' }],
      icmps: { type: 8, code: 0 },
      log: true,
    });
    await c.netOut({});
    await c.bulkNetOut([{ protocol: 1, ports: [{ start: 80, end: 443 }] }, { protocol: 2 }]);
    await c.bulkNetOut([]);
  });

  it('stops a container: processes get SIGTERM and the state becomes stopped', async () => {
    const c = await newContainer();
    const proc = await c.run({ path: 'sleep', args: ['30'] }, {});
    await c.stop(false);
    expect(await proc.wait()).toBe(143);
    expect((await c.info()).state).toBe('stopped');
  });

  it('reaps a container once its grace time passes with no request in flight', async () => {
    const c = await newContainer({ graceTime: 300_000_000n });
    const d = await newContainer({ graceTime: 3_600_000_000_000n });
    await d.setGraceTime(200_000_000n);
    const deadline = Date.now() + 10_000;
    const gone = async (h: string) =>
      client.lookup(h).then(
        () => false,
        (e) => e instanceof ContainerNotFoundError,
      );
    while (!((await gone(c.handle)) && (await gone(d.handle)))) {
      if (Date.now() > deadline) throw new Error('containers were not reaped within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('streams a tar in (fixed length and streamed) and back out in Guardian layout', async () => {
    const c = await newContainer();
    const big = randomBytes(200 << 10);
    const tar = await makeTar([
      { name: 'd/', type: 'directory' },
      { name: 'd/a.txt', data: Buffer.from('alpha\n') },
      { name: 'd/sub/big.bin', data: big },
    ]);
    await c.streamIn({ path: '/tmp/in', tarStream: Readable.from([tar]) });
    // Many small chunks: exercises chunked request framing.
    const chunks = Array.from({ length: Math.ceil(tar.length / 4096) }, (_, i) =>
      tar.subarray(i * 4096, (i + 1) * 4096),
    );
    await c.streamIn({ path: '/tmp/chunked', user: 'root', tarStream: Readable.from(chunks) });
    for (const base of ['/tmp/in', '/tmp/chunked']) {
      const named = await collectTar(await c.streamOut({ path: `${base}/d` }));
      expect(Object.keys(named).sort()).toEqual(['d/', 'd/a.txt', 'd/sub/', 'd/sub/big.bin']);
      expect(named['d/a.txt']?.toString()).toBe('alpha\n');
      expect(named['d/sub/big.bin']?.equals(big)).toBe(true);
      const contents = await collectTar(await c.streamOut({ path: `${base}/d/`, user: 'root' }));
      expect(Object.keys(contents).sort()).toEqual(['./', './a.txt', './sub/', './sub/big.bin']);
    }
    const missing = (await c.streamOut({ path: '/no/such' }).catch((e: unknown) => e)) as GardenError;
    expect(missing).toBeInstanceOf(GardenError);
    expect(missing.type).toBe('');
  });

  it('runs processes: stdout, stderr, exit codes', async () => {
    const c = await newContainer();
    expect(await run(c, { path: 'echo', args: ['hello', 'world'] })).toEqual({
      stdout: 'hello world\n',
      stderr: '',
      code: 0,
    });
    expect(await run(c, { path: 'sh', args: ['-c', 'echo oops >&2'] })).toEqual({
      stdout: '',
      stderr: 'oops\n',
      code: 0,
    });
    expect((await run(c, { path: 'true' })).code).toBe(0);
    expect((await run(c, { path: 'false' })).code).toBe(1);
    expect((await run(c, { path: 'sh', args: ['-c', 'exit 42'] })).code).toBe(42);
    expect((await run(c, { path: 'pwd', dir: '/tmp' })).stdout).toBe('/tmp\n');
  });

  it('passes stdin through to EOF', async () => {
    const c = await newContainer();
    expect(
      (await run(c, { path: 'cat' }, Readable.from([Buffer.from('one\n'), Buffer.from('two\n')]))).stdout,
    ).toBe('one\ntwo\n');
    expect(await run(c, { path: 'cat' }, Readable.from([]))).toEqual({ stdout: '', stderr: '', code: 0 });
  });

  it('carries 8 MiB through stdin and stdout intact (sha256)', async () => {
    const c = await newContainer();
    const payload = Buffer.from(randomBytes(6 << 20).toString('base64')).subarray(0, 8 << 20);
    const want = createHash('sha256').update(payload).digest('hex');
    const hash = createHash('sha256');
    let bytes = 0;
    const stdout = new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        cb();
      },
    });
    const proc = await c.run({ path: 'cat' }, { stdin: Readable.from([payload]), stdout });
    expect(await proc.wait()).toBe(0);
    expect(bytes).toBe(payload.length);
    expect(hash.digest('hex')).toBe(want);
  }, 60_000);

  it('delivers terminate and kill as 143 and 137', async () => {
    const c = await newContainer();
    for (const [signal, want] of [
      [Signal.Terminate, 143],
      [Signal.Kill, 137],
    ] as const) {
      const proc = await c.run({ path: 'sleep', args: ['30'] }, {});
      await proc.signal(signal);
      expect(await proc.wait()).toBe(want);
    }
  });

  it('runs with a TTY and resizes it without ending the control stream', async () => {
    const c = await newContainer();
    const proc = await c.run(
      { path: 'sleep', args: ['30'], tty: { windowSize: { columns: 80, rows: 24 } } },
      { stdout: new Sink() },
    );
    await proc.setTTY({ windowSize: { columns: 100, rows: 50 } });
    await proc.signal(Signal.Terminate);
    expect(await proc.wait()).toBe(143);
  });

  it('uses given process ids, generates others, and rejects duplicates', async () => {
    const c = await newContainer();
    const p1 = await c.run({ path: 'true' }, {});
    const p2 = await c.run({ path: 'true' }, {});
    expect(p1.id).not.toBe('');
    expect(p1.id).not.toBe(p2.id);
    await Promise.all([p1.wait(), p2.wait()]);
    const given = await c.run({ id: 'ts-proc', path: 'sleep', args: ['30'] }, {});
    expect(given.id).toBe('ts-proc');
    const dup = (await c.run({ id: 'ts-proc', path: 'true' }, {}).catch((e: unknown) => e)) as GardenError;
    expect(dup).toBeInstanceOf(GardenError);
    expect(dup.message).toContain("process ID 'ts-proc' already in use");
    await given.signal(Signal.Kill);
    expect(await given.wait()).toBe(137);
  });

  it('attaches to running and finished processes', async () => {
    const c = await newContainer();
    const running = await c.run({ id: 'ts-attach', path: 'sleep', args: ['30'] }, {});
    const attached = await c.attach('ts-attach', { stdout: new Sink() });
    expect(attached.id).toBe('ts-attach');
    await attached.signal(Signal.Kill);
    expect(await attached.wait()).toBe(137);
    expect(await running.wait()).toBe(137);

    const done = await c.run({ id: 'ts-done', path: 'sh', args: ['-c', 'exit 7'] }, {});
    expect(await done.wait()).toBe(7);
    const later = await c.attach('ts-done', { stdout: new Sink(), stderr: new Sink() });
    expect(await later.wait()).toBe(7);
    expect(await later.wait()).toBe(7);
  });

  it('reports ProcessNotFoundError and ExecutableNotFoundError', async () => {
    const c = await newContainer();
    const pnf = (await c.attach('ts-no-such', {}).catch((e: unknown) => e)) as ProcessNotFoundError;
    expect(pnf).toBeInstanceOf(ProcessNotFoundError);
    expect(pnf.processId).toBe('ts-no-such');
    expect(pnf.message).toBe('unknown process: ts-no-such');
    const enf = await c.run({ path: '/no/such/binary' }, {}).catch((e: unknown) => e);
    expect(enf).toBeInstanceOf(ExecutableNotFoundError);
    expect((enf as Error).message).not.toBe('');
  });

  it('cleans up every container it created', async () => {
    for (const handle of created)
      await client.destroy(handle).catch((e) => {
        if (!(e instanceof ContainerNotFoundError)) throw e;
      });
    const left = (await client.containers()).map((c) => c.handle);
    expect(left.filter((h) => created.includes(h))).toEqual([]);
  });
});

// The client package's shared behaviour suite, against the same Go server.
describeClientBehaviour('canonical Go server + Go fake backend', () => server.socketPath);
