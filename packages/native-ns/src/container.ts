/** Container creation and whole-container signals (the init's pidfd). */
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, isAbsolute } from 'node:path';
import { type CapabilitySet, capabilityMask, UNPRIVILEGED_CAPABILITIES } from './capabilities.js';
import { NativeArgumentError, NativeError } from './errors.js';
import { loadBinding, nativeArtifacts, type RawCreateOptions, type RawExit } from './native.js';
import { type ContainerNetworkOptions, containerLinkArgs } from './network.js';
import { returnShim, scheduleRefill, takeShim } from './process.js';

/** One line of a uid/gid map. */
export interface IdMapEntry {
  containerId: number;
  hostId: number;
  size: number;
}

/** The highest valid host uid/gid (Guardian's "maximus"): 2^32 - 2. */
export const MAX_HOST_ID = 4294967294;

/** Guardian's unprivileged map: container root → host max id, 1..max-1 → the same host ids. */
export function defaultIdMap(max = MAX_HOST_ID): IdMapEntry[] {
  return [
    { containerId: 0, hostId: max, size: 1 },
    { containerId: 1, hostId: 1, size: max - 1 },
  ];
}

/** Guardian's masked paths plus ours (§5.3); missing ones are skipped. */
export const DEFAULT_MASKED_PATHS = [
  '/proc/kcore',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/keys',
  '/proc/acpi',
  '/proc/asound',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Read-only paths (§5.3 "beat"). */
export const DEFAULT_READONLY_PATHS = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Capabilities 0–37 (CHOWN … AUDIT_READ): Guardian's privileged set, `3fffffffff` (§5.1). */
export const PRIVILEGED_INIT_CAPABILITIES = (1n << 38n) - 1n;

/** Options of {@link createContainer}. */
export interface CreateContainerOptions {
  /** Prepared rootfs directory; for an unprivileged container owned by the mapped root. */
  rootfs: string;
  hostname?: string;
  /** No user namespace: container root is host root. */
  privileged?: boolean;
  uidMap?: IdMapEntry[];
  gidMap?: IdMapEntry[];
  /** Host cgroup directories to join: every v1 controller directory, and/or one cgroup2 directory. */
  cgroups?: { v1?: string[]; v2?: string };
  /** Join this network namespace (a file such as /run/netns/x) instead of creating one. */
  netns?: string;
  /**
   * The container's network devices, made in its new network namespace by this call (not with
   * `netns` or `join`): the subnet's bridge when missing (its `bridgeIndex` when it is known to be
   * ready), a veth pair whose container end is created inside the namespace, addressed, up, with
   * the default route via the gateway. They are made while the init sets up its root (that wait
   * is most of a create), so they cost the create little. A failure kills the init, leaves
   * nothing of the pair, and rejects with the network step's NativeError (stage `network`).
   */
  network?: ContainerNetworkOptions;
  bindMounts?: { source: string; destination: string; readOnly?: boolean }[];
  /** Defaults to {@link DEFAULT_MASKED_PATHS} when unprivileged, none when privileged. */
  maskedPaths?: string[];
  /** Defaults to {@link DEFAULT_READONLY_PATHS} when unprivileged, none when privileged. */
  readOnlyPaths?: string[];
  /** The init's environment. */
  env?: string[];
  /**
   * garden-init's capability set, as bounding = inheritable = permitted = effective (ambient
   * empty), like the container's root processes. Default: Guardian's (§5.1) —
   * {@link UNPRIVILEGED_CAPABILITIES} (`a80425fb`) when unprivileged,
   * {@link PRIVILEGED_INIT_CAPABILITIES} (`3fffffffff`) when privileged — always clipped to the
   * server's own bounding set. init needs none of them for its job (reaping, ignoring signals).
   */
  initCapabilities?: CapabilitySet;
  /**
   * Show the container its own cgroups, read-only, under `/sys/fs/cgroup` (Guardian's view for
   * unprivileged containers, reference §5.4): one `cgroup` mount per v1 hierarchy in
   * `cgroups.v1`, named as on the host (`memory`, `cpu,cpuacct` plus `cpu`/`cpuacct` symlinks,
   * `systemd`, …) in a read-only tmpfs, and the `cgroups.v2` directory as a read-only `cgroup2`
   * mount (at `unified` next to v1 hierarchies, as on a hybrid host; at `/sys/fs/cgroup` itself on
   * a pure v2 host). Each is mounted from inside the container's cgroup namespace, so its root is
   * the container's own cgroup: no sibling cgroup and no hierarchy root (`release_agent`) is
   * visible, and the container's own sub-cgroups are. Default false: `/sys/fs/cgroup` is empty.
   */
  cgroupfs?: boolean;
  /**
   * A **pea**: join this running container's pid, network, IPC, UTS and cgroup namespaces (and
   * its user namespace unless privileged) instead of making new ones; only the mount namespace is
   * new, with `rootfs` as its root and the usual mounts (`/proc` of the container's pid
   * namespace, `/sys`, `/dev`, binds, masked paths). Its init is one more process in that pid
   * namespace; `spawn` into the returned Container runs processes there (its mount namespace,
   * the container's others). `privileged` must match the container's; `hostname`, `uidMap`,
   * `gidMap` and `netns` do not apply. Cloned from the server (not a pooled shim).
   */
  join?: Container;
  /**
   * Character device nodes made with `mknod` in the container's `/dev`, with exactly `mode`
   * (e.g. Guardian's `/dev/fuse`, 10:229, 0666 in privileged containers, reference §5.5; a bind
   * of the host's node would carry the host's mode, often 0600). Privileged containers only: a
   * user namespace may not make device nodes. Whether the node can be opened is the devices
   * cgroup's decision.
   */
  deviceNodes?: DeviceNode[];
}

/** A character device node of {@link CreateContainerOptions.deviceNodes}. */
export interface DeviceNode {
  /** Its name in `/dev` (`fuse`): letters, digits, `.`, `_`, `-`. */
  name: string;
  major: number;
  minor: number;
  /** Permission bits, 0..0o7777. */
  mode: number;
}

/** The nodes every container's /dev has already (bound from the host). */
const STANDARD_NODES = new Set(['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'console']);

function deviceNodes(nodes: DeviceNode[] | undefined, privileged: boolean): DeviceNode[] {
  const out = (nodes ?? []).map((n, i) => {
    const field = `deviceNodes[${i}]`;
    if (typeof n?.name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(n.name) || /^\.\.?$/.test(n.name))
      throw new NativeArgumentError(`${field}.name`, 'must be a file name below /dev');
    if (STANDARD_NODES.has(n.name))
      throw new NativeArgumentError(`${field}.name`, `/dev/${n.name} is already made for every container`);
    for (const [k, max] of [
      ['major', 0xfff],
      ['minor', 0xfffff],
      ['mode', 0o7777],
    ] as const) {
      const v = n[k];
      if (!Number.isInteger(v) || v < 0 || v > max)
        throw new NativeArgumentError(`${field}.${k}`, `must be an integer in 0..${max}`);
    }
    return { name: n.name, major: n.major, minor: n.minor, mode: n.mode };
  });
  if (out.length > 0 && !privileged)
    throw new NativeArgumentError('deviceNodes', 'only a privileged container can have device nodes made');
  return out;
}

/** One read-only cgroup filesystem below `/sys/fs/cgroup` ({@link CreateContainerOptions.cgroupfs}). */
export interface CgroupfsMount {
  /** Directory name below /sys/fs/cgroup; "" for /sys/fs/cgroup itself (pure v2). */
  target: string;
  fstype: 'cgroup' | 'cgroup2';
  /** Mount data: the v1 hierarchy's controllers and `name=` ("" for cgroup2). */
  data: string;
  /** Symlinks to `target`: the names of its co-mounted controllers (`cpu` → `cpu,cpuacct`). */
  links: string[];
}

interface CgroupHierarchy {
  mountPoint: string;
  fstype: 'cgroup' | 'cgroup2';
  superOptions: string[];
}

/** The cgroup and cgroup2 mounts of a mountinfo text (octal escapes decoded). */
function cgroupHierarchies(mountinfo: string): CgroupHierarchy[] {
  const out: CgroupHierarchy[] = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    const fstype = f[sep + 1];
    if (sep < 0 || (fstype !== 'cgroup' && fstype !== 'cgroup2')) continue;
    const mountPoint = (f[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) =>
      String.fromCharCode(Number.parseInt(o, 8)),
    );
    out.push({ mountPoint, fstype, superOptions: (f[sep + 3] ?? '').split(',') });
  }
  return out;
}

/**
 * Plans the read-only cgroupfs view ({@link CreateContainerOptions.cgroupfs}) of a container that
 * joins the v1 cgroup directories `v1` and/or the cgroup2 directory `v2` (may be ""), from the
 * host's `mountinfo` text and its v1 controller names (`/proc/cgroups`). Exported for tests.
 * @throws NativeArgumentError when a directory is on no cgroup mount of the right kind.
 */
export function planCgroupfs(
  v1: readonly string[],
  v2: string,
  mountinfo: string,
  controllers: ReadonlySet<string>,
): CgroupfsMount[] {
  return planFromHierarchies(v1, v2, cgroupHierarchies(mountinfo), controllers);
}

function planFromHierarchies(
  v1: readonly string[],
  v2: string,
  hierarchies: readonly CgroupHierarchy[],
  controllers: ReadonlySet<string>,
): CgroupfsMount[] {
  const mountOf = (dir: string, fstype: 'cgroup' | 'cgroup2', field: string): CgroupHierarchy => {
    let best: CgroupHierarchy | undefined;
    for (const h of hierarchies) {
      const under = dir === h.mountPoint || dir.startsWith(h.mountPoint === '/' ? '/' : `${h.mountPoint}/`);
      if (h.fstype === fstype && under && (!best || h.mountPoint.length > best.mountPoint.length)) best = h;
    }
    if (!best)
      throw new NativeArgumentError(
        field,
        `is not in a ${fstype === 'cgroup' ? 'cgroup v1 hierarchy' : 'cgroup2 mount'}`,
      );
    return best;
  };
  const mounts: CgroupfsMount[] = v1.map((dir, i) => {
    const h = mountOf(dir, 'cgroup', `cgroups.v1[${i}]`);
    const target = basename(h.mountPoint);
    // Only what selects the hierarchy: its controllers and name (not rw, xattr, release_agent=…).
    const opts = h.superOptions.filter((o) => controllers.has(o) || o.startsWith('name='));
    const links = opts.filter((o) => controllers.has(o) && o !== target);
    return { target, fstype: 'cgroup', data: opts.join(','), links };
  });
  if (v2) {
    const h = mountOf(v2, 'cgroup2', 'cgroups.v2');
    mounts.push({
      target: mounts.length ? basename(h.mountPoint) : '',
      fstype: 'cgroup2',
      data: '',
      links: [],
    });
  }
  const names = new Set<string>();
  for (const m of mounts) {
    for (const n of [m.target, ...m.links]) {
      if (names.has(n))
        throw new NativeArgumentError('cgroups', `two cgroup hierarchies would be named ${n}`);
      names.add(n);
    }
  }
  return mounts;
}

// Parsed once: the mount table grows with every container's rootfs, and parsing it took ~0.2 ms
// per create.
let hostCgroupInfo: { hierarchies: CgroupHierarchy[]; controllers: Set<string> } | undefined;

/** planCgroupfs against this host (its mount table read once, again when a directory is not found). */
function hostCgroupfs(v1: string[], v2: string): CgroupfsMount[] {
  for (let attempt = 0; ; attempt++) {
    hostCgroupInfo ??= {
      hierarchies: cgroupHierarchies(readFileSync('/proc/self/mountinfo', 'utf8')),
      controllers: new Set(
        readFileSync('/proc/cgroups', 'utf8')
          .split('\n')
          .filter((l) => l && !l.startsWith('#'))
          .map((l) => l.split('\t')[0] as string),
      ),
    };
    try {
      return planFromHierarchies(v1, v2, hostCgroupInfo.hierarchies, hostCgroupInfo.controllers);
    } catch (e) {
      if (attempt > 0) throw e;
      hostCgroupInfo = undefined; // mounted since we looked
    }
  }
}

/** The `/proc/<pid>/uid_map` text of `entries`. @throws NativeArgumentError naming `field`. */
export function mapText(field: string, entries: IdMapEntry[]): string {
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > 340) {
    throw new NativeArgumentError(field, 'must list 1..340 entries');
  }
  return entries
    .map((e, i) => {
      for (const k of ['containerId', 'hostId', 'size'] as const) {
        const v = e[k];
        if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff)
          throw new NativeArgumentError(`${field}[${i}].${k}`, 'must be a u32');
      }
      return `${e.containerId} ${e.hostId} ${e.size}\n`;
    })
    .join('');
}

/** `p` when it is an absolute path without NUL. @throws NativeArgumentError naming `field`. */
export function absPath(field: string, p: unknown): string {
  if (typeof p !== 'string' || !isAbsolute(p) || p.includes('\0'))
    throw new NativeArgumentError(field, 'must be an absolute path');
  return p;
}

/** Start time (clock ticks since boot) of a pid, to recognise it again after a restart. */
export function processStartTime(pid: number): bigint {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return BigInt(fields[19] ?? '0');
}

/** Parses `/proc/<pid>/uid_map` text ("inside outside count" lines). */
function parseIdMap(text: string): IdMapEntry[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every(Number.isInteger))
    .map(([containerId, hostId, size]) => ({ containerId, hostId, size }) as IdMapEntry);
}

/** The host id of container id `id` through `map`, or undefined when it is not mapped. */
export function toHostId(map: readonly IdMapEntry[], id: number): number | undefined {
  const e = map.find((m) => id >= m.containerId && id - m.containerId < m.size);
  return e === undefined ? undefined : e.hostId + (id - e.containerId);
}

/** A running container, represented by its init's pidfd. */
export class Container {
  private exitPromise: Promise<RawExit> | undefined;
  private closed = false;

  /** @internal */
  constructor(
    /** Host pid of the container's init. */
    readonly pid: number,
    private readonly fd: number,
    readonly privileged: boolean,
    /** Init's start time, to check identity when reopening after a restart. */
    readonly startTime: bigint,
    /** Host cgroup directories of the container; processes join them unless told otherwise. */
    readonly cgroups: string[] = [],
    /** Its user namespace's maps (unprivileged); read from /proc when first needed if absent. */
    private idMaps?: { uid: IdMapEntry[]; gid: IdMapEntry[] },
  ) {}

  /**
   * @internal The host ids of a container uid/gid (what owns a file they create), or undefined
   * when either is not mapped. Identity for a privileged container.
   */
  hostIds(uid: number, gid: number): { uid: number; gid: number } | undefined {
    if (this.privileged) return { uid, gid };
    if (!this.idMaps) {
      const maps = {
        uid: parseIdMap(readFileSync(`/proc/${this.pid}/uid_map`, 'utf8')),
        gid: parseIdMap(readFileSync(`/proc/${this.pid}/gid_map`, 'utf8')),
      };
      // Read by pid: trusted only if init (our pidfd) is still alive after, so the pid is still
      // its. A user namespace's maps never change once written.
      this.signal(0);
      this.idMaps = maps;
    }
    const hostUid = toHostId(this.idMaps.uid, uid);
    const hostGid = toHostId(this.idMaps.gid, gid);
    return hostUid === undefined || hostGid === undefined ? undefined : { uid: hostUid, gid: hostGid };
  }

  /** The init's pidfd (owned by this object). */
  get pidfd(): number {
    if (this.closed) throw new NativeArgumentError('container', 'is closed');
    return this.fd;
  }

  /**
   * Re-opens a container by init pid, e.g. after a server restart.
   * @throws NativeError (`ESRCH`) when the pid is gone or now names another process.
   */
  static open(
    pid: number,
    options: { privileged: boolean; startTime?: bigint; cgroups?: string[] },
  ): Container {
    const fd = loadBinding().pidfdOpen(pid);
    try {
      const st = processStartTime(pid);
      if (options.startTime !== undefined && st !== options.startTime) {
        throw new NativeError(
          'open',
          osConstants.errno.ESRCH,
          'pidfd_open',
          `pid ${pid} is not the container's init any more`,
        );
      }
      return new Container(pid, fd, options.privileged, st, options.cgroups ?? []);
    } catch (e) {
      loadBinding().closeFd(fd);
      throw e instanceof NativeError ? e : new NativeError('open', osConstants.errno.ESRCH, 'pidfd_open');
    }
  }

  /** Signals init only (through its pidfd). */
  signal(signal: number): void {
    try {
      loadBinding().pidfdSendSignal(this.pidfd, signal);
    } catch (e) {
      throw NativeError.from(e);
    }
  }

  /** Resolves when init exits (status known only if this process created it). */
  waitExit(keepAlive = false): Promise<RawExit> {
    this.exitPromise ??= loadBinding().watchExit(this.pidfd, keepAlive);
    return this.exitPromise;
  }

  /** SIGKILLs init — the kernel then kills every process of the pid namespace — and waits. */
  async destroy(): Promise<void> {
    if (this.closed) return;
    const exited = this.waitExit(true);
    try {
      loadBinding().pidfdSendSignal(this.fd, 9);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ESRCH') throw NativeError.from(e);
    }
    await exited;
    this.close();
  }

  /** Closes the pidfd (the container keeps running). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    loadBinding().closeFd(this.fd);
  }
}

/** A pea's init: `raw` in the namespaces of `join` (all but mount), cloned from this process. */
async function createPea(join: Container, raw: RawCreateOptions): Promise<Container> {
  if (!(join instanceof Container)) throw new NativeArgumentError('join', 'must be a Container');
  if (join.privileged !== raw.privileged)
    throw new NativeArgumentError('join', 'a pea is privileged exactly when its container is');
  if (raw.netns !== '' || raw.hostname !== '')
    throw new NativeArgumentError('join', "a pea shares the container's network and hostname");
  let r: { pid: number; pidfd: number };
  try {
    r = await loadBinding().createContainer({ ...raw, uidMap: '', gidMap: '', joinPidfd: join.pidfd });
  } catch (e) {
    throw NativeError.from(e);
  }
  let st = 0n;
  try {
    st = processStartTime(r.pid);
  } catch {
    // already gone: the caller's next call reports it
  }
  return new Container(r.pid, r.pidfd, raw.privileged, st, [
    ...raw.cgroupV1,
    ...(raw.cgroupV2 ? [raw.cgroupV2] : []),
  ]);
}

/**
 * Creates a container and starts its init (`garden-init`).
 * @throws NativeArgumentError for bad options; NativeError (rejected) naming the failed stage.
 */
export async function createContainer(options: CreateContainerOptions): Promise<Container> {
  const rootfs = absPath('rootfs', options.rootfs);
  const privileged = options.privileged === true;
  const hostname = options.hostname ?? '';
  if (typeof hostname !== 'string' || Buffer.byteLength(hostname) > 64)
    throw new NativeArgumentError('hostname', 'must be at most 64 bytes');
  const v1 = (options.cgroups?.v1 ?? []).map((p, i) => absPath(`cgroups.v1[${i}]`, p));
  const v2 = options.cgroups?.v2 === undefined ? '' : absPath('cgroups.v2', options.cgroups.v2);
  const binds = (options.bindMounts ?? []).map((b, i) => ({
    src: absPath(`bindMounts[${i}].source`, b.source),
    dst: absPath(`bindMounts[${i}].destination`, b.destination),
    readOnly: b.readOnly === true,
  }));
  const masked = (options.maskedPaths ?? (privileged ? [] : DEFAULT_MASKED_PATHS)).map((p, i) =>
    absPath(`maskedPaths[${i}]`, p),
  );
  const readOnly = (options.readOnlyPaths ?? (privileged ? [] : DEFAULT_READONLY_PATHS)).map((p, i) =>
    absPath(`readOnlyPaths[${i}]`, p),
  );
  let initCapabilities: bigint;
  try {
    initCapabilities = capabilityMask(
      options.initCapabilities ?? (privileged ? PRIVILEGED_INIT_CAPABILITIES : UNPRIVILEGED_CAPABILITIES),
    );
  } catch (e) {
    throw new NativeArgumentError('initCapabilities', (e as Error).message);
  }
  if (initCapabilities < 0n || initCapabilities >= 1n << 64n)
    throw new NativeArgumentError('initCapabilities', 'must be a 64-bit mask');
  const cgroupMounts = options.cgroupfs === true ? hostCgroupfs(v1, v2) : [];
  const nodes = deviceNodes(options.deviceNodes, privileged);
  const uidMap = options.uidMap ?? defaultIdMap();
  const gidMap = options.gidMap ?? defaultIdMap();
  const env = options.env ?? [];
  for (const [i, e] of env.entries()) {
    if (typeof e !== 'string' || !e.includes('=') || e.includes('\0'))
      throw new NativeArgumentError(`env[${i}]`, 'must look like KEY=value');
  }
  if (options.network !== undefined && (options.netns !== undefined || options.join !== undefined))
    throw new NativeArgumentError(
      'network',
      `is made in the container's own network namespace (not with ${options.netns !== undefined ? 'netns' : 'join'})`,
    );
  const network = options.network === undefined ? undefined : containerLinkArgs(options.network);
  const b = loadBinding();
  const raw: RawCreateOptions = {
    rootfs,
    hostname,
    privileged,
    uidMap: privileged ? '' : mapText('uidMap', uidMap),
    gidMap: privileged ? '' : mapText('gidMap', gidMap),
    cgroupV1: v1,
    cgroupV2: v2,
    netns: options.netns === undefined ? '' : absPath('netns', options.netns),
    binds,
    maskedPaths: masked,
    readOnlyPaths: readOnly,
    initPath: nativeArtifacts().init,
    env,
    mqueue: true,
    initCapabilities,
    cgroupMounts,
    deviceNodes: nodes,
    ...(network ? { network } : {}),
  };
  if (options.join !== undefined) return createPea(options.join, raw);
  // The clone runs in an idle garden-shim (small address space), and init becomes our child.
  const shim = takeShim();
  let r: { pid: number; pidfd: number; viaShim: boolean };
  try {
    r = await b.createContainer({ ...raw, shimFd: shim.fd });
  } catch (e) {
    b.closeFd(shim.fd);
    scheduleRefill();
    throw NativeError.from(e);
  }
  if (r.viaShim) {
    returnShim(shim);
  } else {
    b.closeFd(shim.fd);
    scheduleRefill();
  }
  let st = 0n;
  try {
    st = processStartTime(r.pid);
  } catch {
    // init already gone: the caller's next call reports it
  }
  return new Container(
    r.pid,
    r.pidfd,
    privileged,
    st,
    v2 ? [...v1, v2] : v1,
    privileged ? undefined : { uid: uidMap, gid: gidMap },
  );
}
