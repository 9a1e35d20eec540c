import type { ContainerMemoryStat, Limits, Metrics } from '@garden-ts/api-types';

/** cgroup v1's "unlimited" memory limit, as the Linux backend reports it. */
export const UNLIMITED_MEMORY = 9223372036854771712n;

const MIB = 1024n * 1024n;
/** Simulated size of the container image, counted in total disk usage. */
const IMAGE_BYTES = 12n * MIB;

export interface MetricsInput {
  ageNs: bigint;
  limits: Limits;
  runningProcesses: number;
  /** Bytes of files in the container's tree (its "upperdir"). */
  fileBytes: number;
  /** Percent of a core per CPU share, as Guardian's `cpu-entitlement-per-share`. */
  entitlementPerShare: number;
}

/**
 * Plausible, deterministic metrics: a base footprint plus 1 MiB per running process, capped at
 * the memory limit; CPU time growing with age at 1% of a core plus 0.5% per running process; pids =
 * running processes + init; entitlement = shares × perShare% × age (linux-backend-reference §7.2).
 */
export function simulateMetrics(input: MetricsInput): Metrics {
  const { ageNs, limits, runningProcesses } = input;
  const limit = limits.memory?.limitInBytes ?? 0n;
  const rss = 3n * MIB + BigInt(runningProcesses) * MIB;
  const cache = 1n * MIB + BigInt(input.fileBytes);
  const inactiveFile = cache / 2n;
  let usage = rss + cache - inactiveFile;
  if (limit > 0n && usage > limit) usage = limit;
  const memoryStat: ContainerMemoryStat = {
    activeAnon: rss,
    activeFile: cache - inactiveFile,
    cache,
    hierarchicalMemoryLimit: limit > 0n ? limit : UNLIMITED_MEMORY,
    inactiveAnon: 0n,
    inactiveFile,
    mappedFile: 512n * 1024n,
    pgfault: 1200n + ageNs / 1_000_000n,
    pgmajfault: 3n,
    pgpgin: 900n,
    pgpgout: 400n,
    rss,
    totalActiveAnon: rss,
    totalActiveFile: cache - inactiveFile,
    totalCache: cache,
    totalInactiveAnon: 0n,
    totalInactiveFile: inactiveFile,
    totalMappedFile: 512n * 1024n,
    totalPgfault: 1200n + ageNs / 1_000_000n,
    totalPgmajfault: 3n,
    totalPgpgin: 900n,
    totalPgpgout: 400n,
    totalRss: rss,
    totalUnevictable: 0n,
    unevictable: 0n,
    swap: 0n,
    hierarchicalMemswLimit: limit > 0n ? limit : UNLIMITED_MEMORY,
    totalSwap: 0n,
    totalUsageTowardLimit: usage,
    anon: rss,
    file: cache,
    swapcached: 0n,
  };
  // 1% of a core idle plus 0.5% per running process, and a 2 ms start-up cost so a fresh
  // container already reports non-zero usage.
  const cpuUsage = 2_000_000n + ageNs / 100n + (ageNs * BigInt(runningProcesses)) / 200n;
  const shares = limits.cpu?.weight || limits.cpu?.limitInShares || 0n;
  const entitlement = BigInt(Math.floor(Number(shares) * (input.entitlementPerShare / 100) * Number(ageNs)));
  const ageSeconds = ageNs / 1_000_000_000n;
  return {
    memoryStat,
    cpuStat: { usage: cpuUsage, user: (cpuUsage * 2n) / 3n, system: cpuUsage - (cpuUsage * 2n) / 3n },
    diskStat: {
      totalBytesUsed: IMAGE_BYTES + BigInt(input.fileBytes),
      totalInodesUsed: 0n,
      exclusiveBytesUsed: BigInt(input.fileBytes),
      exclusiveInodesUsed: 0n,
    },
    networkStat: { rxBytes: 90n + ageSeconds * 64n, txBytes: 42n + ageSeconds * 32n },
    pidStat: { current: BigInt(runningProcesses + 1), max: limits.pid?.max ?? 0n },
    age: ageNs,
    cpuEntitlement: entitlement,
  };
}
