/**
 * planCgroupfs against recorded mount tables (this VM's hybrid layout, Debian's co-mounted v1,
 * pure v2), and id translation through a user namespace map.
 */
import { describe, expect, it } from 'vitest';
import { defaultIdMap, planCgroupfs, toHostId } from './container.js';
import { NativeArgumentError } from './errors.js';

const controllers = new Set([
  'cpuset',
  'cpu',
  'cpuacct',
  'blkio',
  'memory',
  'devices',
  'freezer',
  'net_cls',
  'perf_event',
  'net_prio',
  'hugetlb',
  'pids',
  'rdma',
  'misc',
]);

const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 23 0:50 / /run/x\\040y rw - tmpfs tmpfs rw`;

// Debian 10 / Ubuntu with systemd's legacy layout: co-mounted controllers, symlinked names.
const comounted = `25 24 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
28 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
29 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,net_cls,net_prio`;

const pureV2 =
  '26 23 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate';

describe('planCgroupfs', () => {
  it('mounts each joined v1 hierarchy by its host name, and cgroup2 at unified beside them', () => {
    expect(
      planCgroupfs(
        [
          '/sys/fs/cgroup/memory/garden/c1',
          '/sys/fs/cgroup/systemd/garden/c1',
          '/sys/fs/cgroup/cpu/garden/c1',
        ],
        '/sys/fs/cgroup/unified/garden/c1',
        hybrid,
        controllers,
      ),
    ).toEqual([
      { target: 'memory', fstype: 'cgroup', data: 'memory', links: [] },
      // neither xattr nor the host's release_agent: only what selects the hierarchy
      { target: 'systemd', fstype: 'cgroup', data: 'name=systemd', links: [] },
      { target: 'cpu', fstype: 'cgroup', data: 'cpu', links: [] },
      { target: 'unified', fstype: 'cgroup2', data: '', links: [] },
    ]);
  });

  it('links co-mounted controllers to their hierarchy, as the host does', () => {
    expect(
      planCgroupfs(
        ['/sys/fs/cgroup/cpu,cpuacct/g/c', '/sys/fs/cgroup/net_cls,net_prio/g/c'],
        '',
        comounted,
        controllers,
      ),
    ).toEqual([
      { target: 'cpu,cpuacct', fstype: 'cgroup', data: 'cpu,cpuacct', links: ['cpu', 'cpuacct'] },
      {
        target: 'net_cls,net_prio',
        fstype: 'cgroup',
        data: 'net_cls,net_prio',
        links: ['net_cls', 'net_prio'],
      },
    ]);
  });

  it('mounts cgroup2 at /sys/fs/cgroup itself on a pure v2 host', () => {
    expect(planCgroupfs([], '/sys/fs/cgroup/garden/c1', pureV2, controllers)).toEqual([
      { target: '', fstype: 'cgroup2', data: '', links: [] },
    ]);
  });

  it('refuses a directory that is on no cgroup mount of its kind, naming the field', () => {
    expect(() => planCgroupfs(['/sys/fs/cgroup/unified/x'], '', hybrid, controllers)).toThrow(
      NativeArgumentError,
    );
    expect(() => planCgroupfs(['/tmp/x'], '', hybrid, controllers)).toThrow(/cgroups\.v1\[0\]/);
    expect(() => planCgroupfs([], '/sys/fs/cgroup/memory/x', hybrid, controllers)).toThrow(/cgroups\.v2/);
  });
});

describe('toHostId', () => {
  it("translates through Guardian's map: root to the max id, the rest to themselves", () => {
    const map = defaultIdMap();
    expect(toHostId(map, 0)).toBe(4294967294);
    expect(toHostId(map, 1001)).toBe(1001);
    expect(toHostId(map, 4294967293)).toBe(4294967293);
    expect(toHostId(map, 4294967294)).toBeUndefined();
    expect(toHostId([{ containerId: 0, hostId: 100000, size: 65536 }], 65535)).toBe(165535);
    expect(toHostId([{ containerId: 0, hostId: 100000, size: 65536 }], 65536)).toBeUndefined();
  });
});
