/**
 * The cgroup part of a container: create under the backend's parent, apply limits (memory with
 * memory+swap = memory, CPU shares / weight, pids, a devices allow-list for unprivileged v1),
 * read metrics straight from the cgroup files, count OOM kills, remove.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerMemoryStat, Limits } from '@garden-ts/api-types';
import { GardenError } from '@garden-ts/api-types';
import {
  type CgroupLayout,
  type CgroupSet,
  cgroupSet,
  createCgroup,
  detectCgroupLayout,
  parseFlatKeyed,
  removeCgroup,
} from '@garden-ts/native-ns';
import type { StoredLimits } from './state-store.js';

let layoutCache: CgroupLayout | undefined;

/** The host's cgroup layout (detected once). */
export function cgroupLayout(): CgroupLayout {
  layoutCache ??= detectCgroupLayout();
  return layoutCache;
}

/** Resolves a container's cgroup without creating it. */
export function cgroupOf(path: string): CgroupSet {
  return cgroupSet(cgroupLayout(), path);
}

/** Devices an unprivileged container may use (runc's default allow-list). */
const ALLOWED_DEVICES = [
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:1 rwm',
  'c 5:2 rwm',
  'c 136:* rwm',
  'c *:* m',
  'b *:* m',
];

/** Converts cgroup v1 CPU shares to v2 weight (the kernel / runc formula). */
export function sharesToWeight(shares: bigint): bigint {
  if (shares <= 2n) return 1n;
  const w = 1n + ((shares - 2n) * 9999n) / 262142n;
  return w > 10000n ? 10000n : w;
}

function write(dir: string | undefined, file: string, value: string): void {
  if (!dir) return;
  writeFileSync(join(dir, file), value);
}

/**
 * Creates the cgroup and applies the limits; returns what was applied (reported back by
 * `current*Limits`).
 * @throws GardenError when the kernel refuses a limit.
 */
export function createContainerCgroup(
  path: string,
  limits: Limits | undefined,
  privileged: boolean,
): { set: CgroupSet; applied: StoredLimits } {
  const layout = cgroupLayout();
  const set = createCgroup(layout, path);
  const applied: StoredLimits = {};
  try {
    const mem = limits?.memory?.limitInBytes;
    if (mem !== undefined && mem > 0n) {
      if (set.v1.memory) {
        write(set.v1.memory, 'memory.limit_in_bytes', String(mem));
        // No swap escape: memory+swap = memory (only when swap accounting exists).
        if (existsSync(join(set.v1.memory, 'memory.memsw.limit_in_bytes')))
          write(set.v1.memory, 'memory.memsw.limit_in_bytes', String(mem));
      } else if (set.v2) {
        write(set.v2, 'memory.max', String(mem));
        if (existsSync(join(set.v2, 'memory.swap.max'))) write(set.v2, 'memory.swap.max', '0');
      }
      applied.memoryBytes = String(mem);
    }
    const shares = limits?.cpu?.weight || limits?.cpu?.limitInShares;
    if (shares !== undefined && shares > 0n) {
      if (set.v1.cpu) write(set.v1.cpu, 'cpu.shares', String(shares < 2n ? 2n : shares));
      else if (set.v2) write(set.v2, 'cpu.weight', String(sharesToWeight(shares)));
      if (limits?.cpu?.weight) applied.cpuWeight = String(limits.cpu.weight);
      if (limits?.cpu?.limitInShares) applied.cpuShares = String(limits.cpu.limitInShares);
    }
    const pids = limits?.pid?.max;
    if (pids !== undefined && pids > 0n) {
      if (set.v1.pids) write(set.v1.pids, 'pids.max', String(pids));
      else if (set.v2) write(set.v2, 'pids.max', String(pids));
      applied.pidsMax = String(pids);
    }
    if (!privileged && set.v1.devices) {
      write(set.v1.devices, 'devices.deny', 'a');
      for (const rule of ALLOWED_DEVICES) write(set.v1.devices, 'devices.allow', rule);
    }
  } catch (e) {
    throw new GardenError(`applying limits failed: ${(e as Error).message}`);
  }
  const bw = limits?.bandwidth;
  if (bw?.rateInBytesPerSecond !== undefined) applied.bandwidthRate = String(bw.rateInBytesPerSecond);
  if (bw?.burstRateInBytesPerSecond !== undefined)
    applied.bandwidthBurst = String(bw.burstRateInBytesPerSecond);
  const disk = limits?.disk;
  if (disk) {
    applied.disk = {};
    for (const [k, v] of Object.entries(disk)) if (v !== undefined) applied.disk[k] = String(v);
  }
  return { set, applied };
}

/** The container's cgroup and its per-process children (for signalling and removal). */
export function cgroupTree(path: string): CgroupSet[] {
  const set = cgroupOf(path);
  const children = new Set<string>();
  for (const dir of [...Object.values(set.v1), ...(set.v2 ? [set.v2] : [])]) {
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) children.add(e.name);
    } catch {
      // not there
    }
  }
  return [set, ...[...children].map((c) => cgroupOf(`${path}/${c}`))];
}

/** Removes the container's cgroup directories, children first (members must be gone). */
export async function removeContainerCgroup(path: string): Promise<void> {
  const [self, ...children] = cgroupTree(path);
  for (const c of children) await removeCgroup(c);
  if (self) await removeCgroup(self);
}

/**
 * A child cgroup for one process with its own CPU / memory limits (ProcessSpec
 * `overrideContainerLimits`); under the container's, so the container's limits still bound it.
 */
export function createProcessCgroup(
  containerPath: string,
  name: string,
  limits: { memoryBytes?: bigint; shares?: bigint },
): CgroupSet {
  const set = createCgroup(cgroupLayout(), `${containerPath}/${name}`);
  try {
    if (limits.memoryBytes !== undefined && limits.memoryBytes > 0n) {
      if (set.v1.memory) {
        write(set.v1.memory, 'memory.limit_in_bytes', String(limits.memoryBytes));
        if (existsSync(join(set.v1.memory, 'memory.memsw.limit_in_bytes')))
          write(set.v1.memory, 'memory.memsw.limit_in_bytes', String(limits.memoryBytes));
      } else if (set.v2) {
        write(set.v2, 'memory.max', String(limits.memoryBytes));
      }
    }
    if (limits.shares !== undefined && limits.shares > 0n) {
      if (set.v1.cpu) write(set.v1.cpu, 'cpu.shares', String(limits.shares < 2n ? 2n : limits.shares));
      else if (set.v2) write(set.v2, 'cpu.weight', String(sharesToWeight(limits.shares)));
    }
  } catch (e) {
    throw new GardenError(`applying process limits failed: ${(e as Error).message}`);
  }
  return set;
}

function readText(dir: string | undefined, file: string): string | undefined {
  if (!dir) return undefined;
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

function num(text: string | undefined): bigint {
  const t = text?.trim();
  if (!t || !/^\d+$/.test(t)) return 0n;
  return BigInt(t);
}

/** OOM kills so far (v1 `memory.oom_control`'s `oom_kill`, v2 `memory.events`). */
export function oomKillCount(set: CgroupSet): number {
  const text = set.v1.memory
    ? readText(set.v1.memory, 'memory.oom_control')
    : readText(set.v2, 'memory.events');
  const kv = parseFlatKeyed(text ?? '');
  return Number(kv.oom_kill ?? 0n);
}

/** Raw figures for Metrics, read from the cgroup files only (no subprocesses). */
export interface CgroupStats {
  memory: ContainerMemoryStat;
  cpu: { usage: bigint; user: bigint; system: bigint };
  pids: { current: bigint; max: bigint };
}

const TICK_NS = 10_000_000n; // USER_HZ = 100

/** Reads memory, CPU and pid statistics. */
export function readStats(set: CgroupSet): CgroupStats {
  const v1 = set.v1.memory !== undefined;
  const memText = v1 ? readText(set.v1.memory, 'memory.stat') : readText(set.v2, 'memory.stat');
  const m = parseFlatKeyed(memText ?? '');
  const g = (k: string): bigint => m[k] ?? 0n;
  let memory: ContainerMemoryStat;
  if (v1) {
    const usage = num(readText(set.v1.memory, 'memory.usage_in_bytes'));
    const inactive = g('total_inactive_file');
    memory = {
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
      // Guardian: usage minus the inactive file cache the kernel reclaims before hitting the limit.
      totalUsageTowardLimit: usage > inactive ? usage - inactive : 0n,
      anon: g('total_rss'),
      file: g('total_cache'),
      swapcached: g('swapcached'),
    };
  } else {
    const usage = num(readText(set.v2, 'memory.current'));
    const inactive = g('inactive_file');
    const limitText = readText(set.v2, 'memory.max')?.trim();
    const limit = limitText && limitText !== 'max' ? BigInt(limitText) : 9223372036854771712n;
    memory = {
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
      totalUsageTowardLimit: usage > inactive ? usage - inactive : 0n,
      anon: g('anon'),
      file: g('file'),
      swapcached: g('swapcached'),
    };
  }
  let cpu: CgroupStats['cpu'];
  if (set.v1.cpuacct) {
    const st = parseFlatKeyed(readText(set.v1.cpuacct, 'cpuacct.stat') ?? '');
    cpu = {
      usage: num(readText(set.v1.cpuacct, 'cpuacct.usage')),
      user: (st.user ?? 0n) * TICK_NS,
      system: (st.system ?? 0n) * TICK_NS,
    };
  } else {
    const st = parseFlatKeyed(readText(set.v2, 'cpu.stat') ?? '');
    cpu = {
      usage: (st.usage_usec ?? 0n) * 1000n,
      user: (st.user_usec ?? 0n) * 1000n,
      system: (st.system_usec ?? 0n) * 1000n,
    };
  }
  const pidsDir = set.v1.pids ?? set.v2;
  const max = readText(pidsDir, 'pids.max')?.trim();
  return {
    memory,
    cpu,
    pids: { current: num(readText(pidsDir, 'pids.current')), max: max && max !== 'max' ? BigInt(max) : 0n },
  };
}
