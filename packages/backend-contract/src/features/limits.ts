import {
  type Container,
  ContainerNotFoundError,
  type CPULimits,
  DiskLimitScope,
  GardenError,
  type Limits,
} from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { rejectionOf } from '../support/errors.js';
import { runToExit } from '../support/streams.js';

const MiB = 1024n * 1024n;

/** Limits given at create are reported by the current*Limits queries. */
export function limits(h: Harness): void {
  describe.skipIf(!h.caps.limits)('memory, CPU and bandwidth (caps.limits)', () => {
    it('currentMemoryLimits returns the memory limit set at create', async () => {
      const container = await h.create({ limits: { memory: { limitInBytes: 64n * MiB } } });
      expect((await container.currentMemoryLimits()).limitInBytes).toBe(64n * MiB);
    });

    // Guardian (linux-backend-reference §6.2): the effective shares S (weight, else
    // limitInShares) come back as limitInShares, or as the cgroup v2 weight W(S) the kernel holds
    // (reference samples: W(512) = 59, W(1024) = 100, W(280) = 37); weight is always 0.
    const readBack = (shares: bigint, v2Weight: bigint): CPULimits => ({
      limitInShares: h.caps.cpuLimitsReadBack === 'shares' ? shares : v2Weight,
    });

    it('currentCPULimits reports a weight as limitInShares, weight 0', async () => {
      const container = await h.create({ limits: { cpu: { weight: 512n } } });
      const cpu = await container.currentCPULimits();
      expect(cpu).toEqual(readBack(512n, 59n));
      expect(cpu.weight ?? 0n).toBe(0n);
    });

    it('currentCPULimits reports limitInShares given alone; a weight given too wins', async () => {
      const [alone, both] = await Promise.all([
        h.create({ limits: { cpu: { limitInShares: 1024n } } }),
        h.create({ limits: { cpu: { weight: 280n, limitInShares: 1024n } } }),
      ]);
      expect(await alone.currentCPULimits()).toEqual(readBack(1024n, 100n));
      expect(await both.currentCPULimits()).toEqual(readBack(280n, 37n));
    });

    it('currentCPULimits without a CPU limit is empty', async () => {
      const container = await h.create();
      const cpu = await container.currentCPULimits();
      expect(cpu.limitInShares ?? 0n).toBe(0n);
      expect(cpu.weight ?? 0n).toBe(0n);
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
          cpu: { weight: 1024n },
          bandwidth: { rateInBytesPerSecond: 5_000n, burstRateInBytesPerSecond: 10_000n },
        },
      });
      const [memory, cpu, bandwidth] = await Promise.all([
        container.currentMemoryLimits(),
        container.currentCPULimits(),
        container.currentBandwidthLimits(),
      ]);
      expect(memory.limitInBytes).toBe(96n * MiB);
      expect(cpu).toEqual(readBack(1024n, 100n));
      expect(bandwidth).toMatchObject({ rateInBytesPerSecond: 5_000n, burstRateInBytesPerSecond: 10_000n });
    });

    it('limits reported are bigints (u64 precision)', async () => {
      const container = await h.create({ limits: { memory: { limitInBytes: 32n * MiB } } });
      expect(typeof (await container.currentMemoryLimits()).limitInBytes).toBe('bigint');
    });
  });

  // A Garden rule for every backend (backend-kit's checkContainerLimits): a limit no container can
  // run with is refused before anything is made, naming the field and the range.
  it.each([
    [
      'a 1-byte memory limit',
      { memory: { limitInBytes: 1n } },
      /limits\.memory_limits\.limit_in_bytes.*1048576/,
    ],
    ['pids.max 2^64-1', { pid: { max: 2n ** 64n - 1n } }, /limits\.pid_limits\.max.*1\.\.4194304/],
    ['a CPU weight of 1', { cpu: { weight: 1n } }, /limits\.cpu_limits\.weight.*2\.\.262144/],
  ] as [string, Limits, RegExp][])(
    '%s is refused at create, naming the field and the range; nothing is made',
    async (_label, limits, message) => {
      const handle = h.handle('bad-limits');
      const err = await rejectionOf(h.client.create({ handle, limits }));
      expect(err).toBeInstanceOf(GardenError);
      expect((err as Error).message).toMatch(message);
      expect(await rejectionOf(h.client.lookup(handle))).toBeInstanceOf(ContainerNotFoundError);
      expect((await h.client.containers()).map((c) => c.handle)).not.toContain(handle);
    },
  );

  it("a process's own limits the kernel cannot take are refused at run, naming the field", async () => {
    const container = await h.create();
    const err = await rejectionOf(
      container.run(
        { path: 'echo', args: ['x'], overrideContainerLimits: { memory: { limitInBytes: 512n } } },
        {},
      ),
    );
    expect((err as Error).message).toMatch(/limits\.memory_limits\.limit_in_bytes.*1048576/);
    expect((await container.info()).processIDs).toEqual([]);
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

  describe.skipIf(!h.caps.diskQuotas)('disk quotas (caps.diskQuotas)', () => {
    /** `dd` of `mib` MiB into `path`: its exit status and stderr. */
    const write = (c: Container, path: string, mib: number) =>
      runToExit(c, { path: 'dd', args: ['if=/dev/zero', `of=${path}`, 'bs=1M', `count=${mib}`] });

    it('currentDiskLimits is {} without a disk limit, and writes are not limited', async () => {
      const c = await h.create({});
      expect(await c.currentDiskLimits()).toEqual({});
      expect((await write(c, '/twelve', 12)).exitCode).toBe(0);
    });

    it('an exclusive 10 MiB limit stops an 11 MiB write with EDQUOT and allows 9 MiB', async () => {
      const c = await h.create({
        limits: { disk: { byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive } },
      });
      const over = await write(c, '/eleven', 11);
      expect(over.exitCode).not.toBe(0);
      expect(over.stderr).toContain('Disk quota exceeded');
      expect((await runToExit(c, { path: 'rm', args: ['/eleven'] })).exitCode).toBe(0);
      expect((await write(c, '/nine', 9)).exitCode).toBe(0);
    });

    it('each container has its own quota; DiskStat follows the writes', async () => {
      const spec = { limits: { disk: { byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive } } };
      const [a, b] = await Promise.all([h.create(spec), h.create(spec)]);
      const before = (await a.metrics()).diskStat.exclusiveBytesUsed;
      const [wa, wb] = await Promise.all([write(a, '/six', 6), write(b, '/six', 6)]);
      expect([wa.exitCode, wb.exitCode]).toEqual([0, 0]);
      const grown = (await a.metrics()).diskStat.exclusiveBytesUsed - before;
      expect(grown).toBeGreaterThanOrEqual(5n * MiB);
      expect(grown).toBeLessThanOrEqual(7n * MiB);
      expect((await write(a, '/five', 5)).stderr).toContain('Disk quota exceeded');
    });
  });
}
