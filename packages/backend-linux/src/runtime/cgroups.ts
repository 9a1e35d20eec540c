/**
 * A container's cgroup (through native-ns's cgroup helpers, the one cgroup file reader and writer):
 * `<cgroupParent>/<id>` in every hierarchy with its limits (memory with memory+swap = memory, CPU
 * shares / weight, pids, the device allow-list on v1), per-process child cgroups for
 * `overrideContainerLimits`, signalling and removal.
 */
import { GardenError, type Limits } from '@garden-ts/api-types';
import {
  applyCgroupLimits,
  type CgroupLayout,
  type CgroupSet,
  cgroupChildren,
  cgroupPids,
  cgroupSet,
  createCgroup,
  detectCgroupLayout,
  removeCgroup,
  sharesToWeight,
  signalCgroup,
  tryRemoveCgroup,
} from '@garden-ts/native-ns';
import type { StoredLimits } from '../depot/state-store.js';

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

/**
 * The device nodes every container may use (reference §5.5): null, zero, full, random, urandom,
 * tty, ptmx, the pty slaves and tun (no node), read-write-mknod.
 */
const STANDARD_DEVICES = [
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:2 rwm',
  'c 136:* rwm',
  'c 10:200 rwm',
];

/**
 * A container's device cgroup: deny everything, then allow these (v1; reference §5.5).
 * Unprivileged: Guardian's runtime defaults exactly (the standard list, and mknod of any node,
 * which the user namespace refuses anyway). Privileged: the same list plus FUSE, and mknod of
 * character nodes only, so no block device node can be made either (Guardian lets one be made,
 * useless without read/write); never `a *:* rwm`.
 */
export function deviceRules(privileged: boolean): string[] {
  return privileged
    ? [...STANDARD_DEVICES, 'c 10:229 rwm', 'c *:* m']
    : [...STANDARD_DEVICES, 'c *:* m', 'b *:* m'];
}

function createCgroupOrFail(path: string): CgroupSet {
  try {
    return createCgroup(cgroupLayout(), path);
  } catch (e) {
    throw new GardenError(`creating the cgroup failed: ${(e as Error).message}`, { cause: e });
  }
}

const positive = (v: bigint | undefined): bigint | undefined => (v !== undefined && v > 0n ? v : undefined);

/**
 * Creates the container's cgroup and applies the limits; returns what was applied (reported back
 * by `current*Limits`).
 * @throws GardenError `applying limits failed: …` (the native error as `cause`) when the kernel refuses one.
 */
export function createContainerCgroup(
  path: string,
  limits: Limits | undefined,
  privileged: boolean,
): { set: CgroupSet; applied: StoredLimits } {
  const set = createCgroupOrFail(path);
  const memoryBytes = positive(limits?.memory?.limitInBytes);
  const cpuShares = positive(limits?.cpu?.weight || limits?.cpu?.limitInShares);
  const pidsMax = positive(limits?.pid?.max);
  try {
    applyCgroupLimits(set, {
      memoryBytes,
      cpuShares,
      pidsMax,
      devicesAllow: deviceRules(privileged),
    });
  } catch (e) {
    throw new GardenError(`applying limits failed: ${(e as Error).message}`, { cause: e });
  }
  const applied: StoredLimits = {};
  if (memoryBytes !== undefined) applied.memoryBytes = String(memoryBytes);
  if (cpuShares !== undefined) {
    applied.cpuShares = String(cpuShares);
    // cgroup v2 has no shares: the kernel holds W(S), and that is what Guardian reads back.
    if (!set.v1.cpu && set.v2) applied.cpuWeightV2 = String(sharesToWeight(cpuShares));
  }
  if (pidsMax !== undefined) applied.pidsMax = String(pidsMax);
  return { set, applied };
}

/**
 * A child cgroup for one process with its own CPU / memory limits (ProcessSpec
 * `overrideContainerLimits`); under the container's, so the container's limits still bound it.
 * @throws GardenError `applying process limits failed: …` (the native error as `cause`).
 */
export function createProcessCgroup(
  containerPath: string,
  name: string,
  limits: { memoryBytes?: bigint; shares?: bigint },
): CgroupSet {
  const set = createCgroupOrFail(`${containerPath}/${name}`);
  try {
    applyCgroupLimits(set, { memoryBytes: positive(limits.memoryBytes), cpuShares: positive(limits.shares) });
  } catch (e) {
    throw new GardenError(`applying process limits failed: ${(e as Error).message}`, { cause: e });
  }
  return set;
}

/** The container's cgroup and its per-process children (for signalling and removal). */
export function cgroupTree(path: string): CgroupSet[] {
  const set = cgroupOf(path);
  return [set, ...cgroupChildren(set).map((c) => cgroupOf(`${path}/${c}`))];
}

/** Removes the container's cgroup directories, children first (members must be gone). */
export async function removeContainerCgroup(path: string): Promise<void> {
  // Usually a leaf (per-process cgroups are the exception): its directories go at once. Listing
  // the tree first (every hierarchy's control files) cost more than the removal itself.
  if (tryRemoveCgroup(cgroupOf(path))) return;
  const [self, ...children] = cgroupTree(path);
  for (const c of children) await removeCgroup(c);
  if (self) await removeCgroup(self);
}

/** SIGKILLs whatever is still in a cgroup (processes of a privileged container may escape the pid ns kill). */
export async function killCgroup(path: string): Promise<void> {
  const set = cgroupOf(path);
  for (let i = 0; i < 50; i++) {
    let pids: number[];
    try {
      // One hierarchy, descendants included: every process we start joins all of them.
      pids = cgroupPids(set, { recursive: true });
    } catch {
      return; // no such cgroup
    }
    if (pids.length === 0) return;
    if (i % 10 === 0) await signalCgroup(set, 9).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Members of the container's cgroup tree other than `exclude` (its init). */
export function memberPids(path: string, exclude: number | undefined): number[] {
  const out: number[] = [];
  for (const set of cgroupTree(path)) {
    try {
      out.push(...cgroupPids(set).filter((p) => p !== exclude));
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

/** Signals every member of the container's cgroup tree except `exclude`. */
export async function signalMembers(
  path: string,
  signal: number,
  exclude: number | undefined,
): Promise<void> {
  const skip = exclude ? [exclude] : [];
  for (const set of cgroupTree(path)) await signalCgroup(set, signal, skip).catch(() => undefined);
}
