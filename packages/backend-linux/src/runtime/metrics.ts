/** Garden's memory, CPU and pid metrics from a cgroup's statistics (reference §7.1). */
import type { ContainerMemoryStat, Metrics } from '@garden-ts/api-types';
import type { CgroupStats } from '@garden-ts/native-ns';

/** cgroup v1's "unlimited", reported for a v2 `memory.max` of `max`. */
const UNLIMITED = 9223372036854771712n;

/**
 * TotalUsageTowardLimit: what the kernel counts against the limit (v1 `memory.usage_in_bytes`, v2
 * `memory.current`) minus the inactive file cache it reclaims first, never below 0. Guardian sums
 * memory.stat counters instead (reference §7.1: rss + cache + swap − inactive_file), but the kernel
 * flushes those per-cgroup counters lazily: a small container's total_rss reads 0 for a while,
 * and clients expect a non-zero figure for a container running something.
 */
function towardLimit(usage: bigint, inactiveFile: bigint): bigint {
  return usage > inactiveFile ? usage - inactiveFile : 0n;
}

/** The Garden view of v1 `memory.stat` (hierarchical `total_*` keys). */
function v1Memory(stats: CgroupStats['memory']): ContainerMemoryStat {
  const s = stats.stat;
  const g = (k: string): bigint => s[k] ?? 0n;
  const inactive = g('total_inactive_file');
  return {
    activeAnon: g('active_anon'),
    activeFile: g('active_file'),
    cache: g('cache'),
    hierarchicalMemoryLimit: g('hierarchical_memory_limit'),
    inactiveAnon: g('inactive_anon'),
    inactiveFile: g('inactive_file'),
    mappedFile: g('mapped_file'),
    pgfault: g('pgfault'),
    pgmajfault: g('pgmajfault'),
    pgpgin: g('pgpgin'),
    pgpgout: g('pgpgout'),
    rss: g('rss'),
    totalActiveAnon: g('total_active_anon'),
    totalActiveFile: g('total_active_file'),
    totalCache: g('total_cache'),
    totalInactiveAnon: g('total_inactive_anon'),
    totalInactiveFile: inactive,
    totalMappedFile: g('total_mapped_file'),
    totalPgfault: g('total_pgfault'),
    totalPgmajfault: g('total_pgmajfault'),
    totalPgpgin: g('total_pgpgin'),
    totalPgpgout: g('total_pgpgout'),
    totalRss: g('total_rss'),
    totalUnevictable: g('total_unevictable'),
    unevictable: g('unevictable'),
    swap: g('swap'),
    hierarchicalMemswLimit: g('hierarchical_memsw_limit'),
    totalSwap: g('total_swap'),
    totalUsageTowardLimit: towardLimit(stats.usage, inactive),
    anon: g('total_rss'),
    file: g('total_cache'),
    swapcached: g('swapcached'),
  };
}

/** The Garden view of v2 `memory.stat` (already hierarchical; v1 names mapped onto v2 keys). */
function v2Memory(stats: CgroupStats['memory']): ContainerMemoryStat {
  const s = stats.stat;
  const g = (k: string): bigint => s[k] ?? 0n;
  const inactive = g('inactive_file');
  const limit = stats.limit ?? UNLIMITED;
  return {
    activeAnon: g('active_anon'),
    activeFile: g('active_file'),
    cache: g('file'),
    hierarchicalMemoryLimit: limit,
    inactiveAnon: g('inactive_anon'),
    inactiveFile: inactive,
    mappedFile: g('file_mapped'),
    pgfault: g('pgfault'),
    pgmajfault: g('pgmajfault'),
    pgpgin: 0n,
    pgpgout: 0n,
    rss: g('anon'),
    totalActiveAnon: g('active_anon'),
    totalActiveFile: g('active_file'),
    totalCache: g('file'),
    totalInactiveAnon: g('inactive_anon'),
    totalInactiveFile: inactive,
    totalMappedFile: g('file_mapped'),
    totalPgfault: g('pgfault'),
    totalPgmajfault: g('pgmajfault'),
    totalPgpgin: 0n,
    totalPgpgout: 0n,
    totalRss: g('anon'),
    totalUnevictable: g('unevictable'),
    unevictable: g('unevictable'),
    swap: 0n,
    hierarchicalMemswLimit: limit,
    totalSwap: 0n,
    totalUsageTowardLimit: towardLimit(stats.usage, inactive),
    anon: g('anon'),
    file: g('file'),
    swapcached: g('swapcached'),
  };
}

/** Memory, CPU and pid metrics of a container's cgroup. */
export function cgroupMetrics(stats: CgroupStats): Pick<Metrics, 'memoryStat' | 'cpuStat' | 'pidStat'> {
  return {
    memoryStat: stats.memory.version === 1 ? v1Memory(stats.memory) : v2Memory(stats.memory),
    cpuStat: stats.cpu,
    pidStat: stats.pids,
  };
}
