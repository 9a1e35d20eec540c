/** Pure parts of cgroups.ts (the file I/O is exercised on the host by test/cgroups.test.ts and backend-linux). */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  applyCgroupLimits,
  type CgroupSet,
  cgroupChildren,
  cgroupOomKills,
  createCgroup,
  readCgroupStats,
  sharesToWeight,
} from './cgroups.js';
import { NativeError } from './errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake hierarchy in a temp dir: control files are plain files here. */
function fakeSet(files: Record<string, Record<string, string>>): CgroupSet {
  const root = mkdtempSync(join(tmpdir(), 'cgroups-unit-'));
  dirs.push(root);
  const v1: Record<string, string> = {};
  let v2: string | undefined;
  for (const [ctrl, content] of Object.entries(files)) {
    const dir = join(root, ctrl);
    mkdirSync(dir);
    for (const [f, text] of Object.entries(content)) writeFileSync(join(dir, f), text);
    if (ctrl === 'v2') v2 = dir;
    else v1[ctrl] = dir;
  }
  return { path: 'x', v1, ...(v2 ? { v2 } : {}) };
}

const read = (set: CgroupSet, ctrl: string, file: string) =>
  readFileSync(join(ctrl === 'v2' ? (set.v2 as string) : (set.v1[ctrl] as string), file), 'utf8');

describe('createCgroup', () => {
  it('makes one directory per mount, missing parents first, and fills new cpusets from their parent', () => {
    const root = mkdtempSync(join(tmpdir(), 'cgroups-unit-'));
    dirs.push(root);
    const mount = (name: string) => {
      mkdirSync(join(root, name));
      return join(root, name);
    };
    const cpuset = mount('cpuset');
    writeFileSync(join(cpuset, 'cpuset.cpus'), '0-1\n');
    writeFileSync(join(cpuset, 'cpuset.mems'), '0\n');
    const cpu = mount('cpu,cpuacct');
    const layout = { kind: 'v1' as const, v1: { cpuset, cpu, cpuacct: cpu, memory: mount('memory') } };
    const set = createCgroup(layout, 'garden/a');
    expect(set.v1).toEqual({
      cpuset: join(cpuset, 'garden/a'),
      cpu: join(cpu, 'garden/a'),
      cpuacct: join(cpu, 'garden/a'),
      memory: join(root, 'memory/garden/a'),
    });
    // The parent made on the way and the cgroup itself both got the root's cpus and mems.
    for (const d of ['garden', 'garden/a']) {
      expect(readFileSync(join(cpuset, d, 'cpuset.cpus'), 'utf8')).toBe('0-1\n');
      expect(readFileSync(join(cpuset, d, 'cpuset.mems'), 'utf8')).toBe('0\n');
    }
    // A second cgroup under the existing parent; one that exists already is left as it is.
    createCgroup(layout, 'garden/b');
    expect(readFileSync(join(cpuset, 'garden/b/cpuset.cpus'), 'utf8')).toBe('0-1\n');
    writeFileSync(join(cpuset, 'garden/b/cpuset.cpus'), '1\n');
    createCgroup(layout, 'garden/b');
    expect(readFileSync(join(cpuset, 'garden/b/cpuset.cpus'), 'utf8')).toBe('1\n');
    // A missing hierarchy is a typed error naming the directory.
    rmSync(join(root, 'memory'), { recursive: true });
    expect(() => createCgroup(layout, 'garden/c')).toThrow(/cgroup-create: create .*memory/);
  });
});

describe('cgroup limits', () => {
  it('v1: memory and memsw alike, shares at least 2, pids, devices deny-all then the allow list', () => {
    const set = fakeSet({
      memory: { 'memory.limit_in_bytes': '', 'memory.memsw.limit_in_bytes': '' },
      cpu: {},
      pids: {},
      devices: {},
    });
    applyCgroupLimits(set, {
      memoryBytes: 64n << 20n,
      cpuShares: 1n,
      pidsMax: 50n,
      devicesAllow: ['c 1:3 rwm', 'c 1:5 rwm'],
    });
    expect(read(set, 'memory', 'memory.limit_in_bytes')).toBe(String(64 << 20));
    expect(read(set, 'memory', 'memory.memsw.limit_in_bytes')).toBe(String(64 << 20));
    expect(read(set, 'cpu', 'cpu.shares')).toBe('2');
    expect(read(set, 'pids', 'pids.max')).toBe('50');
    // one write per rule through one fd (a plain file shows them one after the other); the order
    // deny → allow is what the kernel needs
    expect(read(set, 'devices', 'devices.allow')).toBe('c 1:3 rwmc 1:5 rwm');
    expect(read(set, 'devices', 'devices.deny')).toBe('a');
  });

  it('v1 without swap accounting writes no memsw; v2 gets memory.max, swap 0 and a weight', () => {
    const noSwap = fakeSet({ memory: {} });
    applyCgroupLimits(noSwap, { memoryBytes: 1000n });
    expect(() => read(noSwap, 'memory', 'memory.memsw.limit_in_bytes')).toThrow();
    const v2 = fakeSet({ v2: { 'memory.swap.max': 'max' } });
    applyCgroupLimits(v2, { memoryBytes: 1000n, cpuShares: 1024n, pidsMax: 7n });
    expect(read(v2, 'v2', 'memory.max')).toBe('1000');
    expect(read(v2, 'v2', 'memory.swap.max')).toBe('0');
    expect(read(v2, 'v2', 'cpu.weight')).toBe('100');
    expect(read(v2, 'v2', 'pids.max')).toBe('7');
  });

  it('a refused write is a NativeError with the errno, the file and the cause', () => {
    const set: CgroupSet = { path: 'x', v1: { memory: '/nonexistent-cgroup-dir' } };
    let err: unknown;
    try {
      applyCgroupLimits(set, { memoryBytes: 1n });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NativeError);
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, stage: 'cgroup-limit', syscall: 'open' });
    expect((err as Error).message).toBe('cgroup-limit: write memory.limit_in_bytes: ENOENT (errno 2)');
    expect((err as Error).cause).toMatchObject({ code: 'ENOENT' });
  });

  it("converts shares to weight with opencontainers/cgroups' current formula (reference §6.2 samples)", () => {
    const samples: [bigint, bigint][] = [
      [1n, 1n],
      [2n, 1n],
      [10n, 4n],
      [100n, 17n],
      [280n, 37n],
      [512n, 59n],
      [1024n, 100n],
      [1028n, 101n],
      [2048n, 174n],
      [4096n, 303n],
      [262143n, 10000n],
      [262144n, 10000n],
      [2n ** 64n - 1n, 10000n],
    ];
    for (const [shares, weight] of samples) expect(sharesToWeight(shares), `${shares}`).toBe(weight);
  });
});

describe('cgroup stats', () => {
  it('v1: memory.stat, usage, cpuacct in ns, pids', () => {
    const set = fakeSet({
      memory: {
        'memory.stat': 'cache 5\ntotal_inactive_file 3\n',
        'memory.usage_in_bytes': '100\n',
        'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
      },
      cpuacct: { 'cpuacct.usage': '123456\n', 'cpuacct.stat': 'user 3\nsystem 4\n' },
      pids: { 'pids.current': '5\n', 'pids.max': 'max\n' },
    });
    expect(readCgroupStats(set)).toEqual({
      memory: { version: 1, stat: { cache: 5n, total_inactive_file: 3n }, usage: 100n },
      cpu: { usage: 123456n, user: 30_000_000n, system: 40_000_000n },
      pids: { current: 5n, max: 0n },
    });
    expect(cgroupOomKills(set)).toBe(2);
  });

  it('v2: memory.current, memory.max, cpu.stat in µs, memory.events; missing files read as 0', () => {
    const set = fakeSet({
      v2: {
        'memory.stat': 'anon 7\n',
        'memory.current': '70\n',
        'memory.max': '4096\n',
        'memory.events': 'oom 1\noom_kill 1\n',
        'cpu.stat': 'usage_usec 2\nuser_usec 1\nsystem_usec 1\n',
        'pids.max': '9\n',
      },
    });
    expect(readCgroupStats(set)).toEqual({
      memory: { version: 2, stat: { anon: 7n }, usage: 70n, limit: 4096n },
      cpu: { usage: 2000n, user: 1000n, system: 1000n },
      pids: { current: 0n, max: 9n },
    });
    expect(cgroupOomKills(set)).toBe(1);
    expect(cgroupOomKills({ path: 'x', v1: {} })).toBe(0);
  });

  it('lists child cgroups across hierarchies once; a missing cgroup has none', () => {
    const set = fakeSet({ memory: {}, v2: {} });
    mkdirSync(join(set.v1.memory as string, 'p-1'));
    mkdirSync(join(set.v2 as string, 'p-1'));
    mkdirSync(join(set.v2 as string, 'p-2'));
    writeFileSync(join(set.v2 as string, 'cgroup.procs'), '');
    expect(cgroupChildren(set).sort()).toEqual(['p-1', 'p-2']);
    expect(cgroupChildren({ path: 'x', v1: { memory: '/nonexistent-cgroup-dir' } })).toEqual([]);
  });
});

/**
 * A cgroup2 directory of a container in the kernel's formats (Documentation/admin-guide/
 * cgroup-v2.rst, kernel 6.x; cpu.stat as this host's cgroup2 core writes it, plus the cpu
 * controller's keys): this host mounts its memory, cpu and pids controllers on v1, so the v2
 * readers and writers are checked against these files.
 */
const CGROUP2_FILES = {
  'memory.stat': [
    'anon 1781760',
    'file 4325376',
    'kernel 933888',
    'kernel_stack 65536',
    'pagetables 131072',
    'sec_pagetables 0',
    'percpu 0',
    'sock 0',
    'vmalloc 0',
    'shmem 8192',
    'zswap 0',
    'zswapped 0',
    'file_mapped 2703360',
    'file_dirty 4096',
    'file_writeback 0',
    'swapcached 12288',
    'anon_thp 0',
    'file_thp 0',
    'shmem_thp 0',
    'inactive_anon 1744896',
    'active_anon 36864',
    'inactive_file 3244032',
    'active_file 1081344',
    'unevictable 0',
    'slab_reclaimable 406872',
    'slab_unreclaimable 281480',
    'slab 688352',
    'workingset_refault_anon 0',
    'workingset_refault_file 0',
    'workingset_activate_anon 0',
    'workingset_activate_file 0',
    'workingset_restore_anon 0',
    'workingset_restore_file 0',
    'workingset_nodereclaim 0',
    'pgscan 0',
    'pgsteal 0',
    'pgfault 5115',
    'pgmajfault 33',
    'pgrefill 0',
    'pgactivate 264',
    'pgdeactivate 0',
    'thp_fault_alloc 0',
    '',
  ].join('\n'),
  'memory.current': '7106560\n',
  'memory.max': '67108864\n',
  'memory.swap.max': 'max\n',
  'memory.events': 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n',
  'cpu.stat': [
    'usage_usec 123456',
    'user_usec 100000',
    'system_usec 23456',
    'nice_usec 0',
    'core_sched.force_idle_usec 0',
    'nr_periods 0',
    'nr_throttled 0',
    'throttled_usec 0',
    'nr_bursts 0',
    'burst_usec 0',
    '',
  ].join('\n'),
  'cpu.weight': '100\n',
  'pids.current': '3\n',
  'pids.max': 'max\n',
};

describe('cgroup v2 files (pure v2 hosts)', () => {
  it('reads memory.stat key by key, memory.current, memory.max, cpu.stat in µs, pids', () => {
    const set = fakeSet({ v2: CGROUP2_FILES });
    const stats = readCgroupStats(set);
    expect(stats.memory.version).toBe(2);
    expect(stats.memory.usage).toBe(7106560n);
    expect(stats.memory.limit).toBe(67108864n);
    expect(stats.memory.stat).toMatchObject({
      anon: 1781760n,
      file: 4325376n,
      file_mapped: 2703360n,
      swapcached: 12288n,
      inactive_file: 3244032n,
      active_anon: 36864n,
      pgfault: 5115n,
      pgmajfault: 33n,
    });
    expect(stats.cpu).toEqual({ usage: 123_456_000n, user: 100_000_000n, system: 23_456_000n });
    expect(stats.pids).toEqual({ current: 3n, max: 0n });
  });

  it('memory.max and pids.max of "max" read as unlimited; numbers as themselves', () => {
    const unlimited = readCgroupStats(fakeSet({ v2: { ...CGROUP2_FILES, 'memory.max': 'max\n' } }));
    expect(unlimited.memory.limit).toBeUndefined();
    expect(readCgroupStats(fakeSet({ v2: { ...CGROUP2_FILES, 'pids.max': '64\n' } })).pids.max).toBe(64n);
  });

  it('counts OOM kills from memory.events (oom_kill, not oom or max)', () => {
    expect(cgroupOomKills(fakeSet({ v2: CGROUP2_FILES }))).toBe(2);
    expect(cgroupOomKills(fakeSet({ v2: { ...CGROUP2_FILES, 'memory.events': 'low 0\noom 0\n' } }))).toBe(0);
  });

  it('writes memory.max, memory.swap.max 0, cpu.weight W(S) and pids.max in their formats', () => {
    const set = fakeSet({ v2: CGROUP2_FILES });
    applyCgroupLimits(set, { memoryBytes: 32n << 20n, cpuShares: 280n, pidsMax: 10n });
    expect(read(set, 'v2', 'memory.max')).toBe(String(32 << 20));
    expect(read(set, 'v2', 'memory.swap.max')).toBe('0');
    expect(read(set, 'v2', 'cpu.weight')).toBe('37');
    expect(read(set, 'v2', 'pids.max')).toBe('10');
  });
});
