/**
 * cgroup v1 / v2 / hybrid as plain file I/O: layout detection at runtime, create / remove /
 * children, limits (memory without a swap escape, CPU shares or weight, pids, a v1 devices
 * allow-list), stats and the OOM-kill counter, freeze, signal-all. The one cgroup file reader and
 * writer of garden-ts (backend-linux goes through these). Membership at clone time is native (see
 * container.ts).
 */
import {
  closeSync,
  type Dirent,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NativeArgumentError, NativeError } from './errors.js';
import { loadBinding } from './native.js';

/** Where the hierarchies are mounted. */
export interface CgroupLayout {
  /** `v2`: pure unified; `v1`: controllers only; `hybrid`: v1 controllers plus a cgroup2 mount. */
  kind: 'v1' | 'v2' | 'hybrid';
  /** v1 controller (or `name=` hierarchy) → mount point; several names may share one mount. */
  v1: Record<string, string>;
  /** The cgroup2 mount point, if any. */
  v2?: string;
}

/** Reads /proc/self/mountinfo. */
export function detectCgroupLayout(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): CgroupLayout {
  const v1: Record<string, string> = {};
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = left[4];
    const fstype = right[0];
    if (!mountPoint) continue;
    if (fstype === 'cgroup2') {
      v2 ??= mountPoint;
    } else if (fstype === 'cgroup') {
      for (const opt of (right[2] ?? '').split(',')) {
        if (['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children'].includes(opt))
          continue;
        if (opt.startsWith('release_agent=') || opt === 'xattr') continue;
        v1[opt] ??= mountPoint;
      }
    }
  }
  const hasV1 = Object.keys(v1).length > 0;
  if (!hasV1 && !v2) throw new NativeError('cgroup', 2, '', 'no cgroup hierarchy is mounted');
  return { kind: hasV1 ? (v2 ? 'hybrid' : 'v1') : 'v2', v1, v2 };
}

/** One logical cgroup across every hierarchy. */
export interface CgroupSet {
  /** Path relative to each hierarchy root, e.g. `garden/abc`. */
  path: string;
  /** Controller → directory for v1 (one entry per distinct mount). */
  v1: Record<string, string>;
  /** The cgroup2 directory, if any. */
  v2?: string;
}

function checkRel(path: string): void {
  if (!path || path.startsWith('/') || path.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new NativeArgumentError('path', 'must be a relative cgroup path without . or .. components');
  }
}

/** The directories of `set` for `createContainer({ cgroups })` / `spawn({ cgroups })`. */
export function cgroupDirs(set: CgroupSet): { v1: string[]; v2?: string } {
  return { v1: [...new Set(Object.values(set.v1))], v2: set.v2 };
}

/** Every directory of a set, v1 and v2, deduplicated (for `ProcessSpec.cgroups`). */
export function allCgroupDirs(set: CgroupSet): string[] {
  const d = cgroupDirs(set);
  return d.v2 ? [...d.v1, d.v2] : d.v1;
}

/** Resolves (without creating) a cgroup path in every hierarchy of the layout. */
export function cgroupSet(layout: CgroupLayout, path: string): CgroupSet {
  checkRel(path);
  const v1: Record<string, string> = {};
  for (const [ctrl, mnt] of Object.entries(layout.v1)) v1[ctrl] = join(mnt, path);
  return { path, v1, v2: layout.v2 ? join(layout.v2, path) : undefined };
}

/** What each v1 cpuset parent holds (a new child is empty and must get it): by directory. */
const cpusetOfParent = new Map<string, { cpus: Buffer; mems: Buffer }>();

/** Makes a new v1 cpuset usable: its parent's cpus and mems (remembered; re-read if refused). */
function fillCpuset(dir: string, parent: string): void {
  for (let attempt = 0; ; attempt++) {
    let known = cpusetOfParent.get(parent);
    if (!known || attempt > 0) {
      known = {
        cpus: readFileSync(join(parent, 'cpuset.cpus')),
        mems: readFileSync(join(parent, 'cpuset.mems')),
      };
      cpusetOfParent.set(parent, known);
    }
    try {
      writeFileSync(join(dir, 'cpuset.cpus'), known.cpus);
      writeFileSync(join(dir, 'cpuset.mems'), known.mems);
      return;
    } catch (e) {
      // The parent's set changed since (hotplug, an operator): read it again, once.
      if (attempt > 0) throw e;
    }
  }
}

/** mkdir of one cgroup directory, making missing parents first (cpusets filled on the way). */
function makeCgroupDir(dir: string, mount: string, cpuset: boolean): void {
  try {
    mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    // A missing parent is made first; a missing mount is an error (never made here).
    if (code !== 'ENOENT' || dirname(dir) === mount) throw e;
    makeCgroupDir(dirname(dir), mount, cpuset);
    mkdirSync(dir);
  }
  if (cpuset) fillCpuset(dir, dirname(dir));
}

/**
 * Creates the cgroup (and parents) everywhere; v1 cpuset gets its parent's cpus/mems. One mkdir
 * per hierarchy when the parent exists (the usual case: no lookups first).
 * @throws NativeArgumentError for a bad path; NativeError (stage `cgroup-create`, the Node error as `cause`).
 */
export function createCgroup(layout: CgroupLayout, path: string): CgroupSet {
  const set = cgroupSet(layout, path);
  // One directory per mount (co-mounted controllers such as cpu,cpuacct share it).
  const cpusetMount = layout.v1.cpuset;
  const dirs = new Map<string, string>();
  for (const mnt of Object.values(layout.v1)) dirs.set(join(mnt, path), mnt);
  let dir = '';
  try {
    for (const [d, mnt] of dirs) {
      dir = d;
      makeCgroupDir(d, mnt, mnt === cpusetMount);
    }
    dir = set.v2 ?? '';
    if (set.v2) mkdirSync(set.v2, { recursive: true });
  } catch (e) {
    throw NativeError.fromErrno('cgroup-create', `create ${dir}`, e);
  }
  return set;
}

async function rmdirRetry(dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // The last member may still be exiting (its zombie keeps the cgroup busy briefly).
      if (code === 'EBUSY' && i < 100) {
        await sleep(10);
        continue;
      }
      throw e;
    }
  }
}

/** Removes the cgroup's leaf directory everywhere (it must have no members and no children). */
export async function removeCgroup(set: CgroupSet): Promise<void> {
  for (const dir of new Set([...Object.values(set.v1), ...(set.v2 ? [set.v2] : [])])) await rmdirRetry(dir);
}

/**
 * Removes the cgroup's directories at once, without waiting: true when they are gone, false when
 * one is busy (members or child cgroups left, e.g. a member still exiting); whatever went stays
 * gone, so {@link removeCgroup} after emptying it finishes the job.
 */
export function tryRemoveCgroup(set: CgroupSet): boolean {
  for (const dir of new Set([...Object.values(set.v1), ...(set.v2 ? [set.v2] : [])])) {
    try {
      rmdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EBUSY') return false;
      if (code !== 'ENOENT') throw e;
    }
  }
  return true;
}

function dirFor(set: CgroupSet, controller: string | 'v2'): string {
  const d = controller === 'v2' ? set.v2 : set.v1[controller];
  if (!d) throw new NativeArgumentError('controller', `no ${controller} hierarchy in this layout`);
  return d;
}

/** Writes a control file, e.g. `writeCgroup(set, 'memory', 'memory.limit_in_bytes', '1048576')`. */
export function writeCgroup(set: CgroupSet, controller: string | 'v2', file: string, value: string): void {
  if (file.includes('/')) throw new NativeArgumentError('file', 'must be a file name');
  writeFileSync(join(dirFor(set, controller), file), value);
}

/** Reads a control file. */
export function readCgroup(set: CgroupSet, controller: string | 'v2', file: string): string {
  if (file.includes('/')) throw new NativeArgumentError('file', 'must be a file name');
  return readFileSync(join(dirFor(set, controller), file), 'utf8');
}

/** Names of the cgroup's child cgroups, across every hierarchy (e.g. per-process cgroups). */
export function cgroupChildren(set: CgroupSet): string[] {
  const names = new Set<string>();
  for (const dir of new Set([...Object.values(set.v1), ...(set.v2 ? [set.v2] : [])])) {
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return [...names];
}

/** Limits of a cgroup; absent fields are left as they are. */
export interface CgroupLimits {
  /**
   * Memory bytes: v1 `memory.limit_in_bytes` and, where swap accounting exists,
   * `memory.memsw.limit_in_bytes` to the same value; v2 `memory.max` and `memory.swap.max` 0. So
   * no swap escape either way.
   */
  memoryBytes?: bigint;
  /** CPU shares: v1 `cpu.shares` (at least 2), v2 `cpu.weight` through {@link sharesToWeight}. */
  cpuShares?: bigint;
  /** `pids.max`. */
  pidsMax?: bigint;
  /**
   * v1 devices cgroup: deny everything, then allow these rules (`c 1:3 rwm`, …). Ignored without a
   * v1 devices hierarchy (v2 device control needs a BPF program).
   */
  devicesAllow?: readonly string[];
}

/**
 * Converts cgroup v1 CPU shares to v2 `cpu.weight` with the current opencontainers/cgroups
 * formula (reference §6.2), which maps the default 1024 shares to the default weight 100:
 * S ≤ 2 → 1, S ≥ 262144 → 10000, else ⌈10^((l² + 125·l)/612 − 7/34)⌉ with l = log2(S). (The old
 * linear formula gave 39 for 1024.) Doubles, as runc's Go code: 1024 is the one share count whose
 * exponent lands on an integer, and both compute exactly 100 there.
 */
export function sharesToWeight(shares: bigint): bigint {
  if (shares <= 2n) return 1n;
  if (shares >= 262144n) return 10000n;
  const l = Math.log2(Number(shares));
  return BigInt(Math.ceil(10 ** ((l * l + 125 * l) / 612 - 7 / 34)));
}

/**
 * Writes each of `values` to control file `file` with a write() of its own (a cgroup file takes one
 * value per write, e.g. one devices rule), through one open fd.
 */
function writeControl(dir: string, file: string, ...values: string[]): void {
  let fd: number | undefined;
  try {
    fd = openSync(join(dir, file), 'w');
    for (const v of values) writeSync(fd, v);
  } catch (e) {
    throw NativeError.fromErrno('cgroup-limit', `write ${file}`, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Applies `limits` to the cgroup (v1 controllers where mounted, else v2).
 * @throws NativeError (stage `cgroup-limit`, the errno of the refused write, the Node error as `cause`).
 */
export function applyCgroupLimits(set: CgroupSet, limits: CgroupLimits): void {
  const { memoryBytes, cpuShares, pidsMax, devicesAllow } = limits;
  if (memoryBytes !== undefined) {
    const mem = String(memoryBytes);
    if (set.v1.memory) {
      writeControl(set.v1.memory, 'memory.limit_in_bytes', mem);
      if (existsSync(join(set.v1.memory, 'memory.memsw.limit_in_bytes')))
        writeControl(set.v1.memory, 'memory.memsw.limit_in_bytes', mem);
    } else if (set.v2) {
      writeControl(set.v2, 'memory.max', mem);
      if (existsSync(join(set.v2, 'memory.swap.max'))) writeControl(set.v2, 'memory.swap.max', '0');
    }
  }
  if (cpuShares !== undefined) {
    if (set.v1.cpu) writeControl(set.v1.cpu, 'cpu.shares', String(cpuShares < 2n ? 2n : cpuShares));
    else if (set.v2) writeControl(set.v2, 'cpu.weight', String(sharesToWeight(cpuShares)));
  }
  if (pidsMax !== undefined) {
    const dir = set.v1.pids ?? set.v2;
    if (dir) writeControl(dir, 'pids.max', String(pidsMax));
  }
  if (devicesAllow && set.v1.devices) {
    writeControl(set.v1.devices, 'devices.deny', 'a');
    writeControl(set.v1.devices, 'devices.allow', ...devicesAllow);
  }
}

function readOptional(dir: string | undefined, file: string): string | undefined {
  if (!dir) return undefined;
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

function decimal(text: string | undefined): bigint {
  const t = text?.trim();
  return t && /^\d+$/.test(t) ? BigInt(t) : 0n;
}

/** What {@link readCgroupStats} reads; 0 (or empty) where a file is missing. */
export interface CgroupStats {
  memory: {
    /** Which hierarchy `stat` comes from: v1 (`total_*` keys) or v2 (`anon`, `file`, …). */
    version: 1 | 2;
    /** `memory.stat`, key by key. */
    stat: Record<string, bigint>;
    /** v1 `memory.usage_in_bytes`, v2 `memory.current`. */
    usage: bigint;
    /** v2 `memory.max` (undefined for `max`); v1 reports its limits in `stat`. */
    limit?: bigint;
  };
  /** Nanoseconds: total, user and system CPU time. */
  cpu: { usage: bigint; user: bigint; system: bigint };
  /** `pids.current`, and `pids.max` (0 for `max`). */
  pids: { current: bigint; max: bigint };
}

/** USER_HZ: cpuacct.stat counts in ticks of 10 ms. */
const TICK_NS = 10_000_000n;

/** Reads memory, CPU and pid statistics from the control files (no subprocess). */
export function readCgroupStats(set: CgroupSet): CgroupStats {
  const v1 = set.v1.memory !== undefined;
  const memDir = v1 ? set.v1.memory : set.v2;
  const limitText = v1 ? undefined : readOptional(set.v2, 'memory.max')?.trim();
  const memory: CgroupStats['memory'] = {
    version: v1 ? 1 : 2,
    stat: parseFlatKeyed(readOptional(memDir, 'memory.stat') ?? ''),
    usage: decimal(readOptional(memDir, v1 ? 'memory.usage_in_bytes' : 'memory.current')),
    ...(limitText && limitText !== 'max' ? { limit: decimal(limitText) } : {}),
  };
  let cpu: CgroupStats['cpu'];
  if (set.v1.cpuacct) {
    const st = parseFlatKeyed(readOptional(set.v1.cpuacct, 'cpuacct.stat') ?? '');
    cpu = {
      usage: decimal(readOptional(set.v1.cpuacct, 'cpuacct.usage')),
      user: (st.user ?? 0n) * TICK_NS,
      system: (st.system ?? 0n) * TICK_NS,
    };
  } else {
    const st = parseFlatKeyed(readOptional(set.v2, 'cpu.stat') ?? '');
    cpu = {
      usage: (st.usage_usec ?? 0n) * 1000n,
      user: (st.user_usec ?? 0n) * 1000n,
      system: (st.system_usec ?? 0n) * 1000n,
    };
  }
  const pidsDir = set.v1.pids ?? set.v2;
  return {
    memory,
    cpu,
    pids: {
      current: decimal(readOptional(pidsDir, 'pids.current')),
      max: decimal(readOptional(pidsDir, 'pids.max')),
    },
  };
}

/** OOM kills in the cgroup so far (v1 `memory.oom_control`, v2 `memory.events`: `oom_kill`). */
export function cgroupOomKills(set: CgroupSet): number {
  const text = set.v1.memory
    ? readOptional(set.v1.memory, 'memory.oom_control')
    : readOptional(set.v2, 'memory.events');
  return Number(parseFlatKeyed(text ?? '').oom_kill ?? 0n);
}

/** Parses `key value` lines (memory.stat, cpu.stat, …). */
export function parseFlatKeyed(text: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = BigInt(v);
  }
  return out;
}

/** Options of {@link cgroupPids}. */
export interface CgroupPidsOptions {
  /** Also list the members of every descendant cgroup (default false: the cgroup's own only). */
  recursive?: boolean;
}

function readProcs(dir: string, recursive: boolean, top: boolean, out: number[]): void {
  let text: string;
  let entries: Dirent[] = [];
  try {
    text = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
    if (recursive) entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    // A descendant may be removed while we walk it; the cgroup asked for must exist.
    if (!top && (e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const p of text.split('\n')) if (p) out.push(Number.parseInt(p, 10));
  for (const ent of entries) if (ent.isDirectory()) readProcs(join(dir, ent.name), true, false, out);
}

/**
 * Pids of the members (from the freezer, else v2, else any v1 hierarchy); with
 * `{ recursive: true }` also those of every descendant cgroup.
 */
export function cgroupPids(set: CgroupSet, options: CgroupPidsOptions = {}): number[] {
  const dir = set.v1.freezer ?? set.v2 ?? Object.values(set.v1)[0];
  if (!dir) return [];
  const out: number[] = [];
  readProcs(dir, options.recursive === true, true, out);
  return out;
}

/** Freezes (true) or thaws (false) every member; waits until the state is reached. */
export async function freezeCgroup(set: CgroupSet, frozen: boolean): Promise<void> {
  if (set.v1.freezer) {
    const f = join(set.v1.freezer, 'freezer.state');
    writeFileSync(f, frozen ? 'FROZEN' : 'THAWED');
    for (let i = 0; i < 200 && readFileSync(f, 'utf8').trim() !== (frozen ? 'FROZEN' : 'THAWED'); i++)
      await sleep(5);
    return;
  }
  if (set.v2 && existsSync(join(set.v2, 'cgroup.freeze'))) {
    writeFileSync(join(set.v2, 'cgroup.freeze'), frozen ? '1' : '0');
    for (let i = 0; i < 200; i++) {
      const events = readFileSync(join(set.v2, 'cgroup.events'), 'utf8');
      if (events.includes(`frozen ${frozen ? 1 : 0}`)) return;
      await sleep(5);
    }
    return;
  }
  throw new NativeError('cgroup', 95, '', 'no freezer available');
}

/**
 * Signals every member except `exclude` (e.g. the init), recursively: members of descendant
 * cgroups (per-process child cgroups) are signalled too. Race-free: the cgroup is frozen (v1
 * freezer and v2 `cgroup.freeze` both freeze descendants), so no member can exit and have its pid
 * reused between listing and `pidfd_send_signal`.
 * SIGKILL of everything uses v2 `cgroup.kill` when available.
 */
export async function signalCgroup(set: CgroupSet, signal: number, exclude: number[] = []): Promise<number> {
  if (signal === 9 && exclude.length === 0 && set.v2 && existsSync(join(set.v2, 'cgroup.kill'))) {
    writeFileSync(join(set.v2, 'cgroup.kill'), '1');
    return -1;
  }
  const b = loadBinding();
  await freezeCgroup(set, true);
  let count = 0;
  try {
    for (const pid of cgroupPids(set, { recursive: true })) {
      if (exclude.includes(pid)) continue;
      let fd: number;
      try {
        fd = b.pidfdOpen(pid);
      } catch {
        continue; // already gone
      }
      try {
        b.pidfdSendSignal(fd, signal);
        count++;
      } catch {
        // exited meanwhile
      } finally {
        b.closeFd(fd);
      }
    }
  } finally {
    await freezeCgroup(set, false);
  }
  return count;
}
