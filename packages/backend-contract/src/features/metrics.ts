import { type Container, ContainerNotFoundError, MEMORY_STAT_KEYS, Signal } from '@garden-ts/api-types';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { delay, runToExit } from '../support/streams.js';

const MEMORY_KEYS = MEMORY_STAT_KEYS;

/** Metrics and BulkMetrics: shape, plausible values, age, per-handle errors. */
export function metrics(h: Harness): void {
  describe.skipIf(!h.caps.metrics)('usage (caps.metrics)', () => {
    let container: Container;
    let createdAt: number;
    beforeAll(async () => {
      createdAt = Date.now();
      container = await h.create();
    });

    it('every memory, CPU, disk and pid stat is a bigint', async () => {
      const m = await container.metrics();
      for (const key of MEMORY_KEYS) expect(typeof m.memoryStat[key], `memoryStat.${key}`).toBe('bigint');
      for (const value of Object.values(m.cpuStat)) expect(typeof value).toBe('bigint');
      for (const value of Object.values(m.diskStat)) expect(typeof value).toBe('bigint');
      expect(typeof m.pidStat.current).toBe('bigint');
      expect(typeof m.pidStat.max).toBe('bigint');
      expect(typeof m.age).toBe('bigint');
      expect(typeof m.cpuEntitlement).toBe('bigint');
    });

    it.skipIf(!h.caps.networking)(
      'a networked container reports network stats (caps.networking)',
      async () => {
        const m = await container.metrics();
        expect(m.networkStat).not.toBeNull();
        expect(typeof m.networkStat?.rxBytes).toBe('bigint');
        expect(typeof m.networkStat?.txBytes).toBe('bigint');
      },
    );

    it('after work, a running process shows in memory, CPU time and pids', async () => {
      const busy = await h.create();
      expect((await runToExit(busy, { path: 'echo', args: ['some', 'work'] })).exitCode).toBe(0);
      const sleeper = await busy.run({ path: 'sleep', args: ['100'] }, {});
      try {
        const m = await busy.metrics();
        expect(m.cpuStat.usage, 'cpuStat.usage').toBeGreaterThan(0n);
        expect(m.memoryStat.totalUsageTowardLimit, 'totalUsageTowardLimit').toBeGreaterThan(0n);
        // its init and the sleeping process
        expect(m.pidStat.current, 'pidStat.current').toBeGreaterThanOrEqual(2n);
        expect(m.age).toBeGreaterThan(0n);
      } finally {
        await sleeper.signal(Signal.Kill);
        await sleeper.wait();
      }
    });

    it('memory usage is non-zero and within the memory the host has', async () => {
      const [m, capacity] = await Promise.all([container.metrics(), h.client.capacity()]);
      expect(m.memoryStat.totalUsageTowardLimit).toBeGreaterThan(0n);
      expect(m.memoryStat.totalUsageTowardLimit).toBeLessThanOrEqual(capacity.memoryInBytes);
    });

    it('age is positive and no older than the container', async () => {
      const m = await container.metrics();
      const upperNs = BigInt(Date.now() - createdAt + 1000) * 1_000_000n;
      expect(m.age).toBeGreaterThan(0n);
      expect(m.age).toBeLessThanOrEqual(upperNs);
    });

    it('age grows between two calls', async () => {
      const first = (await container.metrics()).age;
      await delay(50);
      const second = (await container.metrics()).age;
      expect(second).toBeGreaterThan(first);
      expect(second - first).toBeGreaterThanOrEqual(40_000_000n);
    });

    it('bulkMetrics returns metrics for every known handle', async () => {
      const other = await h.create();
      const entries = await h.client.bulkMetrics([container.handle, other.handle]);
      expect(Object.keys(entries).sort()).toEqual([container.handle, other.handle].sort());
      for (const entry of Object.values(entries)) {
        expect(entry.error).toBeUndefined();
        expect(entry.metrics?.age).toBeGreaterThan(0n);
      }
    });
  });

  it('bulkMetrics reports an unknown handle as a per-handle ContainerNotFoundError', async () => {
    const known = await h.create();
    const unknown = h.handle('no-such-container');
    const entries = await h.client.bulkMetrics([known.handle, unknown]);
    expect(Object.keys(entries).sort()).toEqual([known.handle, unknown].sort());
    expect(entries[known.handle]?.error).toBeUndefined();
    expect(entries[known.handle]?.metrics).toBeDefined();
    const err = entries[unknown]?.error;
    expect(err).toBeInstanceOf(ContainerNotFoundError);
    expect((err as ContainerNotFoundError).handle).toBe(unknown);
  });

  it('bulkMetrics of no handles is empty', async () => {
    expect(await h.client.bulkMetrics([])).toEqual({});
  });

  it('bulkMetrics for a destroyed container reports ContainerNotFoundError', async () => {
    const container = await h.create();
    await h.client.destroy(container.handle);
    const entries = await h.client.bulkMetrics([container.handle]);
    expect(entries[container.handle]?.error).toBeInstanceOf(ContainerNotFoundError);
  });
}
