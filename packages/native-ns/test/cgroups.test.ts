/** cgroups: layout detection, lifecycle, limits, stats, freeze and signal-all on this host. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  allCgroupDirs,
  applyCgroupLimits,
  cgroupPids,
  createCgroup,
  detectCgroupLayout,
  freezeCgroup,
  parseFlatKeyed,
  readCgroup,
  readCgroupStats,
  removeCgroup,
  signalCgroup,
  spawn,
  tryRemoveCgroup,
  writeCgroup,
} from '../src/index.js';
import { cleanup, collect, layout, newCgroup, newContainer, newDir, TEST_CGROUP_ROOT } from './helpers.js';

afterAll(cleanup);

it('detects v1, hybrid and pure v2 layouts from mountinfo', () => {
  const hybrid = [
    '30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
    '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
    '33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
    '34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory',
    '35 30 0:31 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
  ].join('\n');
  expect(detectCgroupLayout(hybrid)).toEqual({
    kind: 'hybrid',
    v1: {
      cpu: '/sys/fs/cgroup/cpu,cpuacct',
      cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
      memory: '/sys/fs/cgroup/memory',
      'name=systemd': '/sys/fs/cgroup/systemd',
    },
    v2: '/sys/fs/cgroup/unified',
  });
  expect(detectCgroupLayout('28 22 0:25 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate')).toEqual(
    { kind: 'v2', v1: {}, v2: '/sys/fs/cgroup' },
  );
  expect(detectCgroupLayout('33 30 0:29 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids').kind).toBe('v1');
  expect(() => detectCgroupLayout('')).toThrow(/no cgroup/);
  // this machine
  expect(['v1', 'v2', 'hybrid']).toContain(layout.kind);
});

it('creates, limits, reads stats of, and removes a cgroup', async () => {
  const set = createCgroup(layout, `${TEST_CGROUP_ROOT}/limits`);
  try {
    if (set.v1.memory) {
      writeCgroup(set, 'memory', 'memory.limit_in_bytes', String(64 * 1024 * 1024));
      expect(readCgroup(set, 'memory', 'memory.limit_in_bytes').trim()).toBe(String(64 * 1024 * 1024));
      expect(parseFlatKeyed(readCgroup(set, 'memory', 'memory.stat'))).toHaveProperty('cache');
    }
    if (set.v1.pids) {
      writeCgroup(set, 'pids', 'pids.max', '50');
      expect(readCgroup(set, 'pids', 'pids.max').trim()).toBe('50');
    }
    if (layout.kind === 'v2') {
      expect(readCgroup(set, 'v2', 'cgroup.procs')).toBe('');
    }
    expect(() => writeCgroup(set, 'memory', '../escape', '1')).toThrow(/file/);
    expect(() => createCgroup(layout, '../escape')).toThrow(/path/);
  } finally {
    await removeCgroup(set);
  }
  for (const dir of Object.values(set.v1)) expect(existsSync(dir)).toBe(false);
  if (set.v2) expect(existsSync(set.v2)).toBe(false);
});

it('tryRemoveCgroup removes a leaf at once and reports a busy one without waiting', async () => {
  const parent = createCgroup(layout, `${TEST_CGROUP_ROOT}/try-parent`);
  const child = createCgroup(layout, `${TEST_CGROUP_ROOT}/try-parent/child`);
  expect(tryRemoveCgroup(parent)).toBe(false); // a child cgroup keeps it busy
  expect(allCgroupDirs(parent).some((d) => existsSync(d))).toBe(true);
  expect(tryRemoveCgroup(child)).toBe(true);
  expect(allCgroupDirs(child).some((d) => existsSync(d))).toBe(false);
  expect(tryRemoveCgroup(parent)).toBe(true); // also where an earlier attempt removed some
  expect(allCgroupDirs(parent).some((d) => existsSync(d))).toBe(false);
  expect(tryRemoveCgroup(parent)).toBe(true); // gone already
});

it('enforces a pids limit on a per-process child cgroup', async () => {
  const { container } = await newContainer();
  const child = newCgroup('pids');
  if (!child.v1.pids && !layout.v2) return expect.unreachable('no pids controller');
  if (child.v1.pids) writeCgroup(child, 'pids', 'pids.max', '3');
  else writeCgroup(child, 'v2', 'pids.max', '3');
  const dirs = [...new Set(Object.values(child.v1)), ...(child.v2 ? [child.v2] : [])];
  const p = await spawn(
    container,
    { path: '/bin/sh', args: ['sh', '-c', 'for i in 1 2 3 4 5; do sleep 1 & done; wait'], cgroups: dirs },
    { dir: newDir() },
  );
  const r = await collect(p);
  expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
});

it('freezes, lists and signals every member except init', async () => {
  const { container, cgroup } = await newContainer();
  const dir = newDir();
  const procs = await Promise.all(
    [1, 2].map(async (i) => {
      const d = `${dir}/${i}`;
      (await import('node:fs')).mkdirSync(d);
      return spawn(container, { path: '/bin/sleep', args: ['sleep', '60'] }, { dir: d });
    }),
  );
  const pids = cgroupPids(cgroup);
  expect(pids).toContain(container.pid);
  for (const p of procs) expect(pids).toContain(p.pid);
  await freezeCgroup(cgroup, true);
  const state = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
  await freezeCgroup(cgroup, false);
  expect(state(procs[0]?.pid as number)).toMatch(/[SR]/);
  const n = await signalCgroup(cgroup, 15, [container.pid]);
  expect(n).toBe(2);
  for (const p of procs) expect((await p.wait()).exitStatus).toBe(143);
  expect(readFileSync(`/proc/${container.pid}/comm`, 'utf8').trim()).toBe('garden-init');
});

it('signals members of descendant cgroups too (per-process child cgroups)', async () => {
  const { container, cgroup } = await newContainer();
  const child = createCgroup(layout, `${cgroup.path}/proc`);
  try {
    const own = await spawn(container, { path: '/bin/sleep', args: ['sleep', '60'] }, { dir: newDir() });
    const nested = await spawn(
      container,
      { path: '/bin/sleep', args: ['sleep', '60'], cgroups: allCgroupDirs(child) },
      { dir: newDir() },
    );
    expect(cgroupPids(cgroup)).not.toContain(nested.pid);
    expect(cgroupPids(cgroup, { recursive: true })).toEqual(
      expect.arrayContaining([container.pid, own.pid, nested.pid]),
    );
    expect(await signalCgroup(cgroup, 15, [container.pid])).toBe(2);
    expect((await nested.wait()).exitStatus).toBe(143);
    expect((await own.wait()).exitStatus).toBe(143);
  } finally {
    await removeCgroup(child);
  }
});

it('destroy kills every process of the container through the init pidfd', async () => {
  const { container } = await newContainer();
  const p = await spawn(container, { path: '/bin/sleep', args: ['sleep', '60'] }, { dir: newDir() });
  await container.destroy();
  expect((await p.wait()).exitStatus).toBe(137);
  expect(
    existsSync(`/proc/${container.pid}/comm`) &&
      readFileSync(`/proc/${container.pid}/stat`, 'utf8').includes('garden-init'),
  ).toBe(false);
});

it('runs on the cgroup2 code paths alone (CLONE_INTO_CGROUP, cgroup.freeze, cgroup.kill)', async () => {
  // This host is hybrid; its cgroup2 hierarchy exercises exactly what a pure v2 host uses.
  expect(layout.v2).toBeDefined();
  const v2only = { kind: 'v2' as const, v1: {}, v2: layout.v2 as string };
  const set = createCgroup(v2only, `${TEST_CGROUP_ROOT}/v2only`);
  try {
    const { container } = await newContainer({ cgroups: { v2: set.v2 } });
    expect(readFileSync(`${set.v2}/cgroup.procs`, 'utf8').split('\n')).toContain(String(container.pid));
    // inside, the cgroup namespace is rooted at the container's own v2 cgroup
    const r = await collect(
      await spawn(container, { path: 'cat', args: ['cat', '/proc/self/cgroup'] }, { dir: newDir() }),
    );
    expect(r.stdout).toContain('0::/\n');
    const p = await spawn(container, { path: '/bin/sleep', args: ['sleep', '60'] }, { dir: newDir() });
    expect(cgroupPids(set)).toEqual(expect.arrayContaining([container.pid, p.pid]));
    await freezeCgroup(set, true);
    expect(readFileSync(`${set.v2}/cgroup.events`, 'utf8')).toContain('frozen 1');
    await freezeCgroup(set, false);
    expect(await signalCgroup(set, 15, [container.pid])).toBe(1);
    expect((await p.wait()).exitStatus).toBe(143);
    // Real cgroup2 statistics: cpu.stat (cgroup2's core keeps it without the cpu controller).
    const busy = await spawn(
      container,
      { path: '/bin/sh', args: ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'] },
      { dir: newDir() },
    );
    expect((await busy.wait()).exitStatus).toBe(0);
    const stats = readCgroupStats(set);
    expect(stats.cpu.usage).toBeGreaterThan(0n);
    expect(stats.cpu.user + stats.cpu.system).toBeGreaterThan(0n);
    expect(stats.cpu.usage % 1000n).toBe(0n); // µs × 1000
    expect(stats.memory.version).toBe(2);
    // A limit of a controller this cgroup2 hierarchy lacks is refused with the file named.
    const hasMemory = readFileSync(join(layout.v2 as string, 'cgroup.controllers'), 'utf8').includes(
      'memory',
    );
    if (!hasMemory)
      expect(() => applyCgroupLimits(set, { memoryBytes: 1n << 30n })).toThrow(
        /cgroup-limit: write memory\.max: EACCES/,
      );
    expect(await signalCgroup(set, 9)).toBe(-1); // cgroup.kill: everything, init included
    expect((await container.waitExit()).signal).toBe(9);
  } finally {
    await removeCgroup(set);
  }
});
