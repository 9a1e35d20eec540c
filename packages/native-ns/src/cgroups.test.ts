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
      devicesAllow: ['c 1:3 rwm'],
    });
    expect(read(set, 'memory', 'memory.limit_in_bytes')).toBe(String(64 << 20));
    expect(read(set, 'memory', 'memory.memsw.limit_in_bytes')).toBe(String(64 << 20));
    expect(read(set, 'cpu', 'cpu.shares')).toBe('2');
    expect(read(set, 'pids', 'pids.max')).toBe('50');
    // a plain file keeps the last write; the order deny → allow is what the kernel needs
    expect(read(set, 'devices', 'devices.allow')).toBe('c 1:3 rwm');
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
    expect(read(v2, 'v2', 'cpu.weight')).toBe('39');
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

  it('converts shares to weight as the kernel does', () => {
    expect(sharesToWeight(2n)).toBe(1n);
    expect(sharesToWeight(1024n)).toBe(39n);
    expect(sharesToWeight(262144n)).toBe(10000n);
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
