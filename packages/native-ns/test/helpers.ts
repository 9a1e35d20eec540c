/** Shared fixtures: containers, cgroups and depot dirs that are always cleaned up. */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { inject } from 'vitest';
import {
  type CgroupSet,
  type Container,
  type CreateContainerOptions,
  cgroupDirs,
  createCgroup,
  createContainer,
  detectCgroupLayout,
  type ExitStatus,
  type ProcessSpec,
  removeCgroup,
  removeTree,
  type ShimProcess,
  spawn,
} from '../src/index.js';

export const layout = detectCgroupLayout();
export const TEST_CGROUP_ROOT = `garden-native-test-${process.pid}`;

const containers: Container[] = [];
const cgroups: CgroupSet[] = [];
const dirs: string[] = [];

/** A fresh per-test cgroup in every hierarchy. */
export function newCgroup(name: string): CgroupSet {
  const set = createCgroup(layout, `${TEST_CGROUP_ROOT}/${name}-${cgroups.length}`);
  cgroups.push(set);
  return set;
}

/** A depot directory for one process. */
export function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'native-ns-proc-'));
  chmodSync(d, 0o777); // also used as bind-mount sources reachable by the container's root
  dirs.push(d);
  return d;
}

/** An unprivileged container on the shifted busybox rootfs, in its own cgroup. */
export async function newContainer(
  extra: Partial<CreateContainerOptions> = {},
): Promise<{ container: Container; cgroup: CgroupSet }> {
  const cgroup = newCgroup('c');
  const container = await createContainer({
    rootfs: extra.privileged ? inject('rootfs') : inject('rootfsUnprivileged'),
    hostname: 'test-box',
    cgroups: cgroupDirs(cgroup),
    ...extra,
  });
  containers.push(container);
  return { container, cgroup };
}

/** Runs to completion, collecting output. */
export async function run(
  container: Container | null,
  spec: ProcessSpec,
): Promise<{ stdout: string; stderr: string } & ExitStatus> {
  const p = await spawn(container, spec, { dir: newDir() });
  return collect(p);
}

export async function collect(p: ShimProcess): Promise<{ stdout: string; stderr: string } & ExitStatus> {
  const [stdout, stderr, status] = await Promise.all([text(p.stdout), text(p.stderr), p.wait()]);
  return { stdout, stderr, ...status };
}

/** Pids of the processes whose `/proc/<pid>/stat` passes `match` (state, ppid, whole line). */
function processesWhere(match: (state: string, ppid: number, stat: string) => boolean): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (match(f[0] ?? '', Number(f[1]), stat)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

/** The garden-shim processes that are children of this process (pooled or serving). */
export function shimChildren(): number[] {
  return processesWhere((_, ppid, stat) => ppid === process.pid && stat.includes('(garden-shim)'));
}

/** Zombie children of `ppid`. */
export function zombiesOf(ppid: number): number[] {
  return processesWhere((state, parent) => state === 'Z' && parent === ppid);
}

/** Destroys every container and removes every cgroup and dir created through these helpers. */
export async function cleanup(): Promise<void> {
  for (const c of containers.splice(0)) await c.destroy();
  for (const set of cgroups.splice(0).reverse()) await removeCgroup(set);
  // removeTree: a test may leave a tree deeper than rmSync can walk
  for (const d of dirs.splice(0)) await removeTree(d);
  for (const mnt of new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) {
    try {
      rmSync(join(mnt, TEST_CGROUP_ROOT), { recursive: false });
    } catch {
      // rmSync cannot rmdir a cgroup dir with files: use rmdir
    }
  }
  const { rmdirSync, existsSync } = await import('node:fs');
  for (const mnt of new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) {
    const d = join(mnt, TEST_CGROUP_ROOT);
    if (existsSync(d)) rmdirSync(d);
  }
}
