import { PassThrough } from 'node:stream';
import {
  ContainerNotFoundError,
  GardenError,
  InvalidRequestError,
  Protocol,
  seconds,
} from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeBackend } from '../src/index.js';
import { bufferStream, makeTar } from './helpers.js';

describe('containers', () => {
  it('generates deterministic handles and rejects duplicates', async () => {
    const backend = createFakeBackend();
    expect(backend).toBeInstanceOf(FakeBackend);
    const a = await backend.create({});
    const b = await backend.create({ handle: '' });
    expect([a.handle, b.handle]).toEqual([
      '00000000-0000-4000-8000-000000000001',
      '00000000-0000-4000-8000-000000000002',
    ]);
    await backend.create({ handle: 'mine' });
    await expect(backend.create({ handle: 'mine' })).rejects.toThrow(
      new GardenError("Handle 'mine' already in use"),
    );
    const custom = createFakeBackend({ generateHandle: () => 'fixed' });
    expect((await custom.create({})).handle).toBe('fixed');
    await expect(backend.create({ handle: '../x' })).rejects.toThrow(InvalidRequestError);
  });

  it('enforces maxContainers', async () => {
    const backend = createFakeBackend({ maxContainers: 2 });
    await backend.create({});
    await backend.create({});
    await expect(backend.create({})).rejects.toThrow(new GardenError('max containers reached'));
    expect((await backend.capacity()).maxContainers).toBe(2n);
    await backend.destroy((await backend.containers())[0]!.handle);
    await backend.create({});
  });

  it('gives ContainerNotFoundError for unknown handles everywhere', async () => {
    const backend = createFakeBackend();
    const gone = await backend.create({ handle: 'gone' });
    await backend.destroy('gone');
    await expect(backend.destroy('gone')).rejects.toThrow(ContainerNotFoundError);
    await expect(backend.lookup('gone')).rejects.toThrow(new ContainerNotFoundError('gone'));
    await expect(backend.graceTime(gone)).rejects.toThrow(ContainerNotFoundError);
    const calls: Array<() => Promise<unknown>> = [
      () => gone.info(),
      () => gone.stop(false),
      () => gone.streamIn({ path: '/', tarStream: new PassThrough().end() }),
      () => gone.streamOut({ path: '/' }),
      () => gone.currentBandwidthLimits(),
      () => gone.currentCPULimits(),
      () => gone.currentDiskLimits(),
      () => gone.currentMemoryLimits(),
      () => gone.netIn(0, 0),
      () => gone.netOut({}),
      () => gone.bulkNetOut([]),
      () => gone.run({ path: 'true' }, {}),
      () => gone.attach('p', {}),
      () => gone.metrics(),
      () => gone.setGraceTime(1n),
      () => gone.properties(),
      () => gone.property('k'),
      () => gone.setProperty('k', 'v'),
      () => gone.removeProperty('k'),
    ];
    for (const call of calls) await expect(call(), call.toString()).rejects.toThrow(ContainerNotFoundError);
  });

  it('stores properties and filters containers on every pair', async () => {
    const backend = createFakeBackend();
    const a = await backend.create({ handle: 'a', properties: { team: 'x', tier: 'web' } });
    await backend.create({ handle: 'b', properties: { team: 'x', tier: 'db' } });
    await a.setProperty('extra', '1');
    expect(await a.properties()).toEqual({ team: 'x', tier: 'web', extra: '1' });
    expect(await a.property('tier')).toBe('web');
    await expect(a.property('nope')).rejects.toThrow(new GardenError('property does not exist: nope'));
    await a.removeProperty('nope');
    await a.removeProperty('extra');
    expect((await a.info()).properties).toEqual({ team: 'x', tier: 'web' });
    const handles = async (filter?: Record<string, string>) =>
      (await backend.containers(filter)).map((c) => c.handle);
    expect(await handles()).toEqual(['a', 'b']);
    expect(await handles({ team: 'x' })).toEqual(['a', 'b']);
    expect(await handles({ team: 'x', tier: 'db' })).toEqual(['b']);
    expect(await handles({ team: 'y' })).toEqual([]);
    expect(await handles({ 'garden.state': 'all' })).toEqual(['a', 'b']);
  });

  it('returns limits as given (CPU as Guardian reads shares back) and {} when unset', async () => {
    const backend = createFakeBackend();
    const limited = await backend.create({
      limits: {
        bandwidth: { rateInBytesPerSecond: 100n, burstRateInBytesPerSecond: 200n },
        cpu: { weight: 512n },
        disk: { byteHard: 1n << 30n, scope: 1 },
        memory: { limitInBytes: 64n << 20n },
      },
    });
    expect(await limited.currentBandwidthLimits()).toEqual({
      rateInBytesPerSecond: 100n,
      burstRateInBytesPerSecond: 200n,
    });
    expect(await limited.currentCPULimits()).toEqual({ limitInShares: 512n });
    expect(await limited.currentDiskLimits()).toEqual({ byteHard: 1n << 30n, scope: 1 });
    expect(await limited.currentMemoryLimits()).toEqual({ limitInBytes: 64n << 20n });
    const plain = await backend.create({});
    for (const limits of await Promise.all([
      plain.currentBandwidthLimits(),
      plain.currentCPULimits(),
      plain.currentDiskLimits(),
      plain.currentMemoryLimits(),
    ])) {
      expect(limits).toEqual({});
    }
  });

  it('stores the grace time', async () => {
    const backend = createFakeBackend();
    const c = await backend.create({ graceTime: seconds(5) });
    expect(await backend.graceTime(c)).toBe(5_000_000_000n);
    await c.setGraceTime(seconds(1));
    expect(await backend.graceTime(c)).toBe(1_000_000_000n);
    expect(await backend.graceTime(await backend.create({}))).toBe(0n);
  });

  it('reports info, bulk info and bulk metrics', async () => {
    const backend = createFakeBackend();
    const c = await backend.create({ handle: 'h', properties: { p: 'v' } });
    const info = await c.info();
    expect(info).toMatchObject({
      state: 'active',
      events: [],
      containerPath: '/var/fake/containers/h',
      processIDs: [],
      properties: { p: 'v' },
      mappedPorts: [],
    });
    expect(info.containerIP).toMatch(/^10\.254\.\d+\.\d+$/);
    const bulk = await backend.bulkInfo(['h', 'missing']);
    expect(bulk.h?.info).toEqual(info);
    expect(bulk.missing?.error).toBeInstanceOf(ContainerNotFoundError);
    const metrics = await backend.bulkMetrics(['h', 'missing']);
    expect(metrics.h?.metrics?.pidStat.current).toBe(1n);
    expect(metrics.missing?.error).toBeInstanceOf(ContainerNotFoundError);
  });

  it('reports plausible metrics driven by the injected clock', async () => {
    let now = 1_700_000_000_000;
    const backend = createFakeBackend({ now: () => now });
    const c = await backend.create({
      limits: { memory: { limitInBytes: 2n << 20n }, cpu: { weight: 1024n }, pid: { max: 10n } },
    });
    await c.run({ path: 'sleep', args: ['100'] }, {});
    now += 2000;
    const m1 = await c.metrics();
    expect(m1.age).toBe(2_000_000_000n);
    expect(m1.pidStat).toEqual({ current: 2n, max: 10n });
    expect(m1.memoryStat.totalUsageTowardLimit).toBeGreaterThan(0n);
    expect(m1.memoryStat.totalUsageTowardLimit).toBeLessThanOrEqual(2n << 20n);
    expect(m1.memoryStat.hierarchicalMemoryLimit).toBe(2n << 20n);
    expect(m1.cpuStat.usage).toBeGreaterThan(0n);
    expect(m1.cpuEntitlement).toBeGreaterThan(0n);
    expect(m1.networkStat).not.toBeNull();
    expect(m1.diskStat.totalBytesUsed).toBeGreaterThan(0n);
    now += 2000;
    const m2 = await c.metrics();
    expect(m2.cpuStat.usage).toBeGreaterThan(m1.cpuStat.usage);
    expect(m2.cpuEntitlement).toBe(m1.cpuEntitlement * 2n);
    await backend.stop();
    expect((await c.metrics()).pidStat.current).toBe(1n);
  });

  it('enforces the pid limit', async () => {
    const backend = createFakeBackend();
    const c = await backend.create({ limits: { pid: { max: 2n } } });
    await c.run({ path: 'sleep', args: ['100'] }, {});
    await expect(c.run({ path: 'true' }, {})).rejects.toThrow(/resource temporarily unavailable/);
    await backend.stop();
  });

  it('capacity is non-zero', async () => {
    const capacity = await createFakeBackend().capacity();
    for (const value of Object.values(capacity)) expect(value).toBeGreaterThan(0n);
    expect((await createFakeBackend({ capacity: { memoryInBytes: 5n } }).capacity()).memoryInBytes).toBe(5n);
  });
});

describe('networking', () => {
  it('maps ports from the pool, records them and releases them on destroy', async () => {
    const backend = createFakeBackend({ portPoolStart: 62000, portPoolSize: 2 });
    const c = await backend.create({ handle: 'n', netIn: [{ hostPort: 0, containerPort: 8080 }] });
    expect(await c.netIn(0, 0)).toEqual({ hostPort: 62001, containerPort: 62001 });
    expect(await c.netIn(9000, 0)).toEqual({ hostPort: 9000, containerPort: 9000 });
    expect((await c.info()).mappedPorts).toEqual([
      { hostPort: 62000, containerPort: 8080 },
      { hostPort: 62001, containerPort: 62001 },
      { hostPort: 9000, containerPort: 9000 },
    ]);
    await expect(c.netIn(0, 0)).rejects.toThrow(new GardenError('port pool is exhausted'));
    await expect(c.netIn(70000, 0)).rejects.toThrow(InvalidRequestError);
    await backend.destroy('n');
    const d = await backend.create({});
    expect((await d.netIn(0, 1)).hostPort).toBe(62000);
  });

  it('records NetOut rules and rejects invalid ones', async () => {
    const backend = createFakeBackend();
    const c = await backend.create({
      handle: 'o',
      netOut: [{ protocol: Protocol.TCP, ports: [{ start: 80, end: 80 }] }],
    });
    await c.netOut({ protocol: Protocol.ICMP, icmps: { type: 8, code: 0 } });
    await c.bulkNetOut([
      { networks: [{ start: '10.0.0.1', end: '10.0.0.9' }] },
      { protocol: Protocol.UDP, log: true },
    ]);
    expect(backend.netOutRules('o')).toEqual([
      { protocol: Protocol.TCP, ports: [{ start: 80, end: 80 }] },
      { protocol: Protocol.ICMP, icmps: { type: 8, code: 0 } },
      { networks: [{ start: '10.0.0.1', end: '10.0.0.9' }] },
      { protocol: Protocol.UDP, log: true },
    ]);
    await expect(c.netOut({ protocol: Protocol.TCP, ports: [{ start: 90, end: 80 }] })).rejects.toThrow(
      /start port 90 is greater than end port 80/,
    );
    await expect(c.netOut({ protocol: Protocol.All, ports: [{ start: 80 }] })).rejects.toThrow(
      new GardenError('Ports cannot be specified for Protocol ALL'),
    );
    await expect(c.netOut({ protocol: 4 as Protocol })).rejects.toThrow(
      new GardenError('invalid protocol: 4'),
    );
    await expect(c.netOut({ networks: [{ start: '10.0.0.9', end: '10.0.0.1' }] })).rejects.toThrow(
      GardenError,
    );
    await expect(c.netOut({ networks: [{ start: 'banana' }] })).rejects.toThrow(/invalid IP address: banana/);
    // A bulk batch with one bad rule applies nothing.
    await expect(c.bulkNetOut([{ protocol: Protocol.TCP }, { protocol: 9 as Protocol }])).rejects.toThrow(
      GardenError,
    );
    expect(backend.netOutRules('o')).toHaveLength(4);
    await expect(backend.create({ netOut: [{ protocol: 7 as Protocol }] })).rejects.toThrow(
      'invalid protocol: 7',
    );
    expect(backend.handles()).toEqual(['o']);
  });
});

describe('backend lifecycle', () => {
  it('stop kills every process and keeps containers', async () => {
    const backend = createFakeBackend();
    await backend.start();
    const c = await backend.create({});
    const p = await c.run({ path: 'sleep', args: ['100'] }, {});
    await c.streamIn({ path: '/x', tarStream: bufferStream(await makeTar([{ name: 'f', content: '1' }])) });
    await backend.stop();
    expect(await p.wait()).toBe(137);
    expect(backend.readFile(c.handle, '/x/f').toString()).toBe('1');
  });
});
