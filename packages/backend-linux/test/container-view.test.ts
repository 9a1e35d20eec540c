/**
 * What a container sees of itself (issue 10, items 13 and 14): an unprivileged container on
 * cgroup v1 sees its own cgroups read-only under /sys/fs/cgroup (reference §5.4), without
 * siblings or `release_agent`; its init runs with the container's capability set (§5.1).
 */
import type { Container } from '@garden-ts/api-types';
import { detectCgroupLayout } from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinuxBackend } from '../src/index.js';
import { exec, testEnv } from './helpers.js';

const env = testEnv('view');
let backend: LinuxBackend;
const layout = detectCgroupLayout();

beforeAll(async () => {
  backend = env.backend();
  await backend.start();
});
afterAll(() => env.cleanup());

const sh = (c: Container, cmd: string) => exec(c, { path: 'sh', args: ['-c', cmd], dir: '/' });

describe.runIf(layout.v1.memory !== undefined)('cgroupfs of an unprivileged container (cgroup v1)', () => {
  let c: Container;
  let sibling: Container;
  beforeAll(async () => {
    [c, sibling] = await Promise.all([
      backend.create({ limits: { memory: { limitInBytes: 96n << 20n }, pid: { max: 77n } } }),
      backend.create({}),
    ]);
  });

  it('shows one mount per joined hierarchy, each rooted at its own cgroup (its limits, no siblings)', async () => {
    const names = (await sh(c, 'ls /sys/fs/cgroup')).stdout.trim().split('\n');
    for (const controller of ['memory', 'pids', 'cpu', 'cpuacct', 'devices', 'freezer'])
      if (layout.v1[controller]) expect(names, controller).toContain(controller);
    const limits = await sh(
      c,
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max',
    );
    expect(limits.stdout).toBe(`${96 << 20}\n77\n`);
    // The sibling container's cgroup is not below this view, nor anything of the hierarchy root.
    const found = await sh(c, `find /sys/fs/cgroup -maxdepth 3 -name '${sibling.handle}' | wc -l`);
    expect(found.stdout).toBe('0\n');
  });

  it('is read-only and has no release_agent', async () => {
    const w = await sh(c, 'echo 1 > /sys/fs/cgroup/pids/pids.max');
    expect(w.status).not.toBe(0);
    expect(w.stderr).toMatch(/Read-only file system/);
    expect((await sh(c, 'find /sys/fs/cgroup -name release_agent | wc -l')).stdout).toBe('0\n');
    const mounts = (await sh(c, 'grep " /sys/fs/cgroup" /proc/self/mountinfo')).stdout.trim().split('\n');
    expect(mounts.length).toBeGreaterThan(1);
    for (const m of mounts) expect(m.split(' ')[5], m).toMatch(/^ro(,|$)/);
  });

  it('privileged containers get none (Guardian: no cgroupfs when privileged)', async () => {
    const p = await backend.create({ privileged: true });
    expect((await sh(p, 'ls /sys/fs/cgroup | wc -l')).stdout).toBe('0\n');
  });
});

describe("init's capabilities (/proc/1/status)", () => {
  it.each([
    ['unprivileged', false, '00000000a80425fb'],
    ['privileged', true, '0000003fffffffff'],
  ])('%s: CapEff, CapPrm and CapBnd are the container set', async (_label, privileged, mask) => {
    const c = await backend.create({ privileged });
    const r = await sh(c, 'grep -E "^Cap(Prm|Eff|Bnd|Amb):" /proc/1/status');
    // (Privileged: caps 0–37 clipped to the server's bounding set, which may lack some.)
    const want = privileged
      ? BigInt(`0x${mask}`) &
        BigInt(`0x${(await sh(c, 'grep ^CapBnd: /proc/self/status')).stdout.split('\t')[1]?.trim()}`)
      : BigInt(`0x${mask}`);
    const got = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(':\t') as [string, string]),
    );
    expect(BigInt(`0x${got.CapPrm}`)).toBe(want);
    expect(BigInt(`0x${got.CapEff}`)).toBe(want);
    expect(BigInt(`0x${got.CapBnd}`)).toBe(want);
    expect(got.CapAmb).toBe('0000000000000000');
    if (!privileged) expect(got.CapEff).toBe(mask);
  });
});
