import type { CgroupStats } from '@garden-ts/native-ns';
import { describe, expect, it } from 'vitest';
import { cgroupMetrics } from './metrics.js';

const cpu = { usage: 5n, user: 3n, system: 2n };
const pids = { current: 2n, max: 0n };

describe('Garden metrics from cgroup statistics (reference §7.1)', () => {
  it('v2: v1 names mapped onto v2 keys, v1-only keys 0, the limit from memory.max, usage toward the limit from memory.current', () => {
    const stats: CgroupStats = {
      memory: {
        version: 2,
        stat: {
          anon: 1781760n,
          file: 4325376n,
          swapcached: 12288n,
          file_mapped: 2703360n,
          inactive_anon: 1744896n,
          active_anon: 36864n,
          inactive_file: 3244032n,
          active_file: 1081344n,
          unevictable: 0n,
          pgfault: 5115n,
          pgmajfault: 33n,
          kernel: 933888n,
        },
        usage: 7106560n,
        limit: 67108864n,
      },
      cpu,
      pids,
    };
    const m = cgroupMetrics(stats);
    expect(m.memoryStat).toMatchObject({
      rss: 1781760n,
      totalRss: 1781760n,
      anon: 1781760n,
      cache: 4325376n,
      totalCache: 4325376n,
      file: 4325376n,
      mappedFile: 2703360n,
      inactiveFile: 3244032n,
      totalInactiveFile: 3244032n,
      activeAnon: 36864n,
      swapcached: 12288n,
      pgfault: 5115n,
      totalPgmajfault: 33n,
      hierarchicalMemoryLimit: 67108864n,
      hierarchicalMemswLimit: 67108864n,
      pgpgin: 0n,
      swap: 0n,
      totalUsageTowardLimit: 7106560n - 3244032n,
    });
    expect(m.cpuStat).toEqual(cpu);
    expect(m.pidStat).toEqual(pids);
    // memory.max "max": v1's unlimited value, as Guardian reports it
    const unlimited = cgroupMetrics({ ...stats, memory: { ...stats.memory, limit: undefined } });
    expect(unlimited.memoryStat.hierarchicalMemoryLimit).toBe(9223372036854771712n);
  });

  it('v1: the usage counter minus total_inactive_file (the stat counters lag), never below 0', () => {
    const v1 = (usage: bigint, stat: Record<string, bigint>): CgroupStats => ({
      memory: { version: 1, stat, usage },
      cpu,
      pids,
    });
    // a fresh container: the kernel has not flushed its rss counter yet
    expect(cgroupMetrics(v1(524288n, { total_rss: 0n })).memoryStat.totalUsageTowardLimit).toBe(524288n);
    expect(cgroupMetrics(v1(100n, { total_inactive_file: 20n })).memoryStat.totalUsageTowardLimit).toBe(80n);
    expect(cgroupMetrics(v1(10n, { total_inactive_file: 20n })).memoryStat.totalUsageTowardLimit).toBe(0n);
  });
});
