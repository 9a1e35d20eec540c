/** Container creation and whole-container signals (the init's pidfd). */
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isAbsolute } from 'node:path';
import { NativeArgumentError, NativeError } from './errors.js';
import { loadBinding, nativeArtifacts, type RawExit } from './native.js';
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
  bindMounts?: { source: string; destination: string; readOnly?: boolean }[];
  /** Defaults to {@link DEFAULT_MASKED_PATHS} when unprivileged, none when privileged. */
  maskedPaths?: string[];
  /** Defaults to {@link DEFAULT_READONLY_PATHS} when unprivileged, none when privileged. */
  readOnlyPaths?: string[];
  /** The init's environment. */
  env?: string[];
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
  ) {}

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
  const env = options.env ?? [];
  for (const [i, e] of env.entries()) {
    if (typeof e !== 'string' || !e.includes('=') || e.includes('\0'))
      throw new NativeArgumentError(`env[${i}]`, 'must look like KEY=value');
  }
  const b = loadBinding();
  // The clone runs in an idle garden-shim (small address space), and init becomes our child.
  const shim = takeShim();
  let r: { pid: number; pidfd: number; viaShim: boolean };
  try {
    r = await b.createContainer({
      rootfs,
      hostname,
      privileged,
      uidMap: privileged ? '' : mapText('uidMap', options.uidMap ?? defaultIdMap()),
      gidMap: privileged ? '' : mapText('gidMap', options.gidMap ?? defaultIdMap()),
      cgroupV1: v1,
      cgroupV2: v2,
      netns: options.netns === undefined ? '' : absPath('netns', options.netns),
      binds,
      maskedPaths: masked,
      readOnlyPaths: readOnly,
      initPath: nativeArtifacts().init,
      env,
      mqueue: true,
      shimFd: shim.fd,
    });
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
  return new Container(r.pid, r.pidfd, privileged, st, v2 ? [...v1, v2] : v1);
}
