import { DiskLimitScope } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import type { Harness } from '../harness.js';

const MiB = 1024n * 1024n;

/** Limits given at create are reported by the current*Limits queries. */
export function limits(h: Harness): void {
  describe.skipIf(!h.caps.limits)('memory, CPU and bandwidth (caps.limits)', () => {
    it('currentMemoryLimits returns the memory limit set at create', async () => {
      const container = await h.create({ limits: { memory: { limitInBytes: 64n * MiB } } });
      expect((await container.currentMemoryLimits()).limitInBytes).toBe(64n * MiB);
    });

    it('currentCPULimits returns the CPU weight set at create', async () => {
      const container = await h.create({ limits: { cpu: { weight: 512n } } });
      expect((await container.currentCPULimits()).weight).toBe(512n);
    });

    it('currentBandwidthLimits returns the rate and burst set at create', async () => {
      const container = await h.create({
        limits: { bandwidth: { rateInBytesPerSecond: 1_000_000n, burstRateInBytesPerSecond: 2_000_000n } },
      });
      expect(await container.currentBandwidthLimits()).toMatchObject({
        rateInBytesPerSecond: 1_000_000n,
        burstRateInBytesPerSecond: 2_000_000n,
      });
    });

    it('each container reports its own memory limit', async () => {
      const [small, large] = await Promise.all([
        h.create({ limits: { memory: { limitInBytes: 64n * MiB } } }),
        h.create({ limits: { memory: { limitInBytes: 128n * MiB } } }),
      ]);
      expect((await small.currentMemoryLimits()).limitInBytes).toBe(64n * MiB);
      expect((await large.currentMemoryLimits()).limitInBytes).toBe(128n * MiB);
    });

    it('all limits given together are all reported', async () => {
      const container = await h.create({
        limits: {
          memory: { limitInBytes: 96n * MiB },
          cpu: { weight: 256n },
          bandwidth: { rateInBytesPerSecond: 5_000n, burstRateInBytesPerSecond: 10_000n },
        },
      });
      const [memory, cpu, bandwidth] = await Promise.all([
        container.currentMemoryLimits(),
        container.currentCPULimits(),
        container.currentBandwidthLimits(),
      ]);
      expect(memory.limitInBytes).toBe(96n * MiB);
      expect(cpu.weight).toBe(256n);
      expect(bandwidth).toMatchObject({ rateInBytesPerSecond: 5_000n, burstRateInBytesPerSecond: 10_000n });
    });

    it('limits reported are bigints (u64 precision)', async () => {
      const container = await h.create({ limits: { memory: { limitInBytes: 32n * MiB } } });
      expect(typeof (await container.currentMemoryLimits()).limitInBytes).toBe('bigint');
    });
  });

  describe.skipIf(!h.caps.diskLimits)('disk (caps.diskLimits)', () => {
    it('currentDiskLimits returns the byte and inode limits set at create', async () => {
      const container = await h.create({
        limits: { disk: { byteHard: 1024n * MiB, inodeHard: 100_000n, scope: DiskLimitScope.Exclusive } },
      });
      expect(await container.currentDiskLimits()).toMatchObject({
        byteHard: 1024n * MiB,
        inodeHard: 100_000n,
      });
    });

    it('each container reports its own disk limit', async () => {
      const [a, b] = await Promise.all([
        h.create({ limits: { disk: { byteHard: 256n * MiB } } }),
        h.create({ limits: { disk: { byteHard: 512n * MiB } } }),
      ]);
      expect((await a.currentDiskLimits()).byteHard).toBe(256n * MiB);
      expect((await b.currentDiskLimits()).byteHard).toBe(512n * MiB);
    });
  });
}
