/**
 * One container: its record (write-through), the init's pidfd, its processes, and every
 * per-container Garden operation. Created and destroyed by the backend (linux-backend.ts), which
 * sequences the independent parts (rootfs, cgroup, runtime, network, state).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import {
  type BandwidthLimits,
  type ContainerInfo,
  type CPULimits,
  type DiskLimits,
  type Duration,
  ExecutableNotFoundError,
  type Container as GardenContainer,
  GardenError,
  type MemoryLimits,
  type Metrics,
  type NetInRule,
  type NetOutRule,
  type Process,
  type ProcessIO,
  ProcessNotFoundError,
  type ProcessSpec,
  type Properties,
  type StreamInSpec,
  type StreamOutSpec,
} from '@garden-ts/api-types';
import {
  allCgroupDirs,
  cgroupPids,
  type Container as NativeContainer,
  NativeError,
  ExecutableNotFoundError as NativeExecutableNotFoundError,
  type ProcessSpec as NativeProcessSpec,
  type ShimProcess,
  signalCgroup,
  spawn,
} from '@garden-ts/native-ns';
import { cgroupOf, cgroupTree, createProcessCgroup, oomKillCount, readStats } from './cgroup-part.js';
import { checkedArchive, containerPath, streamOutCommand } from './files.js';
import { LinuxProcess } from './linux-process.js';
import { checkName, generateName, storageId } from './names.js';
import { PROCESS_META, type ProcessMeta } from './run-dir.js';
import { readInRoot, resolveInRoot } from './safe-path.js';
import { capabilitiesFor, defaultSeccomp } from './security.js';
import type { ContainerRecord, StateStore } from './state-store.js';
import { type ResolvedUser, resolveUser } from './users.js';

/** What a container needs from its backend. */
export interface ContainerHost {
  store: StateStore;
  /** The backend's run directory (tmpfs); the container's volatile files are in `<runDir>/<id>`. */
  runDir: string;
  /** A static multi-call binary (busybox) run for `tar` and `sh` instead of the image's. */
  hostHelper: string | undefined;
  /** CPU entitlement per share, in percent. */
  cpuPerShare: number;
  /** SIGTERM phase of stop(false), seconds. */
  stopTimeoutSeconds: number;
  /** Looks the container up again (throws ContainerNotFoundError when destroyed). */
  live(handle: string): LinuxContainer;
}

const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const USER_PATH = '/usr/local/bin:/usr/bin:/bin';
const OOM_EVENT = 'Out of memory';
/** StreamOut must never drop bytes: its ring holds the whole archive if the reader is slow. */
const STREAM_OUT_RING = 2 ** 32;

/** Merges `KEY=VALUE` lists: a later key replaces the earlier value in its position (§3.2). */
export function mergeEnv(...lists: ReadonlyArray<readonly string[] | undefined>): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const list of lists) {
    for (const entry of list ?? []) {
      const eq = entry.indexOf('=');
      const key = eq < 0 ? entry : entry.slice(0, eq);
      if (!values.has(key)) order.push(key);
      values.set(key, entry);
    }
  }
  return order.map((key) => values.get(key) as string);
}

function hasKey(env: string[], key: string): boolean {
  return env.some((e) => e.startsWith(`${key}=`));
}

/** A container backed by a native-ns init and a depot record. */
export class LinuxContainer {
  readonly processes = new Map<string, LinuxProcess>();
  /** Process ids being started (reserved before any await). */
  private readonly starting = new Set<string>();
  destroying = false;

  constructor(
    readonly record: ContainerRecord,
    public init: NativeContainer | undefined,
    private readonly host: ContainerHost,
  ) {}

  get handle(): string {
    return this.record.handle;
  }
  get dir(): string {
    return this.host.store.dirOf(this.record.id);
  }
  /** Volatile files: process dirs (`p/`), helper dirs (`ops/`), hosts and resolv.conf. */
  get runDir(): string {
    return join(this.host.runDir, this.record.id);
  }
  get rootfs(): string {
    return join(this.dir, 'rootfs');
  }

  /** Persists the record (atomic replace); nothing once destroy has moved the depot entry away. */
  save(): void {
    if (this.destroying) return;
    this.host.store.write(this.record);
  }

  /** The Garden view of this container (a cheap handle that re-checks liveness per call). */
  view(): GardenContainer {
    const live = (): LinuxContainer => this.host.live(this.handle);
    return {
      handle: this.handle,
      stop: async (kill) => live().stop(kill, this.host.stopTimeoutSeconds),
      info: async () => live().info(),
      streamIn: async (spec) => live().streamIn(spec),
      streamOut: async (spec) => live().streamOut(spec),
      currentBandwidthLimits: async () => live().bandwidthLimits(),
      currentCPULimits: async () => live().cpuLimits(),
      currentDiskLimits: async () => live().diskLimits(),
      currentMemoryLimits: async () => live().memoryLimits(),
      netIn: async (_h: number, _c: number): Promise<NetInRule> => {
        live();
        throw new GardenError(
          'NetIn is not supported yet by the linux backend (containers have a private network namespace with only lo)',
        );
      },
      netOut: async (_rule: NetOutRule) => {
        live();
        throw new GardenError(
          'NetOut is not supported yet by the linux backend (containers have a private network namespace with only lo)',
        );
      },
      bulkNetOut: async (_rules: NetOutRule[]) => {
        live();
        throw new GardenError(
          'BulkNetOut is not supported yet by the linux backend (containers have a private network namespace with only lo)',
        );
      },
      run: async (spec, io) => live().run(spec, io),
      attach: async (id, io) => live().attach(id, io),
      metrics: async () => live().metrics(),
      setGraceTime: async (g: Duration) => {
        const c = live();
        c.record.graceTime = String(g);
        c.save();
      },
      properties: async () => live().properties(),
      property: async (name) => {
        const v = live().properties()[name];
        if (v === undefined) throw new GardenError(`property does not exist: ${name}`);
        return v;
      },
      setProperty: async (name, value) => {
        const c = live();
        c.record.properties[name] = value;
        c.save();
      },
      removeProperty: async (name) => {
        const c = live();
        if (!(name in c.record.properties)) return;
        delete c.record.properties[name];
        c.save();
      },
    };
  }

  /** Folds new OOM kills of the cgroup into the events (also those that happened while down). */
  refreshEvents(): void {
    let count: number;
    try {
      count = oomKillCount(cgroupOf(this.record.cgroupPath));
    } catch {
      return;
    }
    if (count > this.record.oomKills) {
      this.record.oomKills = count;
      if (!this.record.events.includes(OOM_EVENT)) this.record.events.push(OOM_EVENT);
      this.save();
    }
  }

  /** Every property, bookkeeping keys included (reference §2.7). */
  properties(): Properties {
    this.refreshEvents();
    const r = this.record;
    const own: Properties = { 'garden.state': 'created' };
    if (r.graceTime !== '0') own['garden.grace-time'] = r.graceTime;
    if (r.stopped) own['rundmc.state'] = 'stopped';
    if (r.events.length > 0) own['rundmc.events'] = r.events.join(',');
    return { ...own, ...r.properties };
  }

  info(): ContainerInfo {
    const properties = this.properties();
    return {
      state: this.record.stopped ? 'stopped' : 'active',
      events: [...this.record.events],
      hostIP: '',
      containerIP: '',
      containerIPv6: '',
      externalIP: '',
      containerPath: this.dir,
      processIDs: [...this.processes.values()].filter((p) => p.running).map((p) => p.id),
      properties,
      mappedPorts: [],
    };
  }

  metrics(): Metrics {
    this.refreshEvents();
    const stats = readStats(cgroupOf(this.record.cgroupPath));
    const age = BigInt(Math.max(1, Date.now() - this.record.createdAt)) * 1_000_000n;
    const shares = BigInt(this.record.limits.cpuWeight ?? this.record.limits.cpuShares ?? '0');
    // Entitlement = S × perShare% × age, computed in fixed point (1e6) to stay in bigint.
    const perShareMicro = BigInt(Math.round(this.host.cpuPerShare * 1e6));
    return {
      memoryStat: stats.memory,
      cpuStat: stats.cpu,
      diskStat: { totalBytesUsed: 0n, totalInodesUsed: 0n, exclusiveBytesUsed: 0n, exclusiveInodesUsed: 0n },
      networkStat: null,
      pidStat: stats.pids,
      age,
      cpuEntitlement: (shares * perShareMicro * age) / 100_000_000n,
    };
  }

  memoryLimits(): MemoryLimits {
    const m = this.record.limits.memoryBytes;
    return m === undefined ? {} : { limitInBytes: BigInt(m) };
  }
  cpuLimits(): CPULimits {
    const l = this.record.limits;
    const out: CPULimits = {};
    if (l.cpuWeight !== undefined) out.weight = BigInt(l.cpuWeight);
    if (l.cpuShares !== undefined) out.limitInShares = BigInt(l.cpuShares);
    // Guardian reports the shares in both fields when only one was given.
    if (out.weight === undefined && out.limitInShares !== undefined) out.weight = out.limitInShares;
    if (out.limitInShares === undefined && out.weight !== undefined) out.limitInShares = out.weight;
    return out;
  }
  bandwidthLimits(): BandwidthLimits {
    const l = this.record.limits;
    const out: BandwidthLimits = {};
    if (l.bandwidthRate !== undefined) out.rateInBytesPerSecond = BigInt(l.bandwidthRate);
    if (l.bandwidthBurst !== undefined) out.burstRateInBytesPerSecond = BigInt(l.bandwidthBurst);
    return out;
  }
  diskLimits(): DiskLimits {
    const out: Record<string, bigint | number> = {};
    for (const [k, v] of Object.entries(this.record.limits.disk ?? {}))
      out[k] = k === 'scope' ? Number(v) : BigInt(v);
    return out as DiskLimits;
  }

  private requireInit(): NativeContainer {
    if (!this.init)
      throw new GardenError(
        `container ${this.handle} has no running init (it exited); destroy and recreate it`,
      );
    return this.init;
  }

  /** Resolves a Garden user string against the container's passwd/group. */
  resolveUser(user: string | undefined): ResolvedUser {
    return resolveUser(
      user ?? '',
      readInRoot(this.rootfs, '/etc/passwd'),
      readInRoot(this.rootfs, '/etc/group'),
    );
  }

  /** The native spec pieces every process of this container gets (user, security). */
  private baseSpec(
    user: ResolvedUser,
  ): Pick<NativeProcessSpec, 'user' | 'capabilities' | 'seccomp' | 'noNewPrivileges'> {
    const privileged = this.record.privileged;
    return {
      user: { uid: user.uid, gid: user.gid, groups: user.groups },
      capabilities: capabilitiesFor(user.uid, privileged),
      ...(privileged ? {} : { seccomp: defaultSeccomp(), noNewPrivileges: true }),
    };
  }

  /** The executable of a file-operation tool: the host's static helper when there is one. */
  private tool(name: 'tar' | 'sh'): Pick<NativeProcessSpec, 'path' | 'hostExecutable'> {
    const helper = this.host.hostHelper;
    return helper ? { path: `/bin/${name}`, hostExecutable: helper } : { path: `/bin/${name}` };
  }

  /** Runs a helper to completion inside the container (mkdir, tar), collecting stderr. */
  private async helper(
    spec: NativeProcessSpec,
    stdin?: Readable,
  ): Promise<{ status: number; stderr: string; stdout: Readable; proc: ShimProcess; dir: string }> {
    const dir = join(this.runDir, 'ops', randomUUID());
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let proc: ShimProcess;
    try {
      proc = await spawn(this.requireInit(), spec, { dir });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    if (stdin) {
      // Respect the shim's backpressure: a large archive must not pile up in the socket buffer.
      stdin.on('data', (c: Buffer) => {
        let written: Promise<void>;
        try {
          written = proc.write(c);
        } catch {
          return; // exited
        }
        stdin.pause();
        written.then(
          () => stdin.resume(),
          () => stdin.resume(),
        );
      });
      stdin.on('end', () => {
        try {
          proc.end();
        } catch {
          // exited
        }
      });
    } else {
      proc.end();
    }
    return { status: -1, stderr: '', stdout: proc.stdout, proc, dir };
  }

  private async runHelper(
    spec: NativeProcessSpec,
    stdin?: Readable,
  ): Promise<{ status: number; stderr: string; stdout: string }> {
    const h = await this.helper(spec, stdin);
    try {
      const [stdout, stderr, exit] = await Promise.all([
        text(h.proc.stdout),
        text(h.proc.stderr),
        h.proc.wait(),
      ]);
      return { status: exit.exitStatus, stderr, stdout };
    } finally {
      rmSync(h.dir, { recursive: true, force: true });
    }
  }

  /** Creates `dir` (mkdir -p as container root, inside the container) owned by the user if missing. */
  private async ensureDir(dir: string, user: ResolvedUser): Promise<void> {
    if (resolveInRoot(this.rootfs, dir) !== undefined) return;
    const missing: string[] = [];
    for (
      let d = dir;
      d !== '/' && resolveInRoot(this.rootfs, d) === undefined;
      d = d.slice(0, d.lastIndexOf('/')) || '/'
    )
      missing.push(d);
    const root = this.resolveUser('root:0');
    const r = await this.runHelper({
      ...this.tool('sh'),
      args: [
        'sh',
        '-c',
        'd=$1; o=$2; shift 2; mkdir -p -- "$d" && chown -h "$o" -- "$@"',
        'sh',
        dir,
        `${user.uid}:${user.gid}`,
        ...missing,
      ],
      env: [`PATH=${ROOT_PATH}`],
      cwd: '/',
      ...this.baseSpec(root),
    });
    if (r.status !== 0) throw new GardenError(`creating directory ${dir} failed: ${r.stderr.trim()}`);
  }

  async run(spec: ProcessSpec, io: ProcessIO): Promise<Process> {
    if (spec.image?.uri || (spec.bindMounts && spec.bindMounts.length > 0)) {
      if (!spec.image?.uri)
        throw new GardenError('Running a process with bind mounts and no image provided is not allowed');
      throw new GardenError(
        'processes with their own image (peas) are not supported yet by the linux backend',
      );
    }
    if (!spec.path) throw new GardenError('process path must not be empty');
    const id = spec.id || generateName();
    checkName('id', id);
    if (this.processes.has(id) || this.starting.has(id))
      throw new GardenError(`process ID '${id}' already in use`);
    this.starting.add(id);
    try {
      const init = this.requireInit();
      const user = this.resolveUser(spec.user);
      const env = mergeEnv(this.record.env, spec.env);
      if (!hasKey(env, 'PATH')) env.push(`PATH=${user.uid === 0 ? ROOT_PATH : USER_PATH}`);
      if (!hasKey(env, 'USER')) env.push(`USER=${spec.user || 'root'}`);
      if (!hasKey(env, 'HOME')) env.push(`HOME=${user.home}`);
      const cwd = spec.dir ? containerPath(spec.dir, '/') : user.home;
      await this.ensureDir(cwd, user);
      const rlimits: NativeProcessSpec['rlimits'] = {};
      for (const [k, v] of Object.entries(spec.rlimits ?? {}))
        if (v !== undefined) (rlimits as Record<string, bigint>)[k] = v;
      const dir = join(this.runDir, 'p', storageId(id));
      if (mkdirSync(dir, { recursive: true, mode: 0o700 }) === undefined) {
        // Leftovers of a process with this id that could not be re-attached after a restart.
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { mode: 0o700 });
      }
      const tty = spec.tty !== undefined;
      const override = spec.overrideContainerLimits;
      const overrideMemory = override?.memory?.limitInBytes;
      const overrideShares = override?.cpu?.weight || override?.cpu?.limitInShares;
      const processCgroup =
        (overrideMemory ?? 0n) > 0n || (overrideShares ?? 0n) > 0n
          ? createProcessCgroup(this.record.cgroupPath, `p-${storageId(id)}`, {
              memoryBytes: overrideMemory,
              shares: overrideShares,
            })
          : undefined;
      // What a restarted server needs to re-attach (the run dir survives a crash of the server).
      const meta: ProcessMeta = { id, tty, startedAt: Date.now() };
      writeFileSync(join(dir, PROCESS_META), JSON.stringify(meta), { mode: 0o600 });
      let conn: ShimProcess;
      try {
        conn = await spawn(
          init,
          {
            path: spec.path,
            args: [spec.path, ...(spec.args ?? [])],
            env,
            cwd,
            rlimits,
            ...this.baseSpec(user),
            ...(tty
              ? {
                  tty: {
                    columns: spec.tty?.windowSize?.columns || 80,
                    rows: spec.tty?.windowSize?.rows || 24,
                  },
                }
              : {}),
            ...(processCgroup ? { cgroups: allCgroupDirs(processCgroup) } : {}),
          },
          { dir },
        );
      } catch (e) {
        rmSync(dir, { recursive: true, force: true });
        if (e instanceof NativeExecutableNotFoundError) {
          throw new ExecutableNotFoundError(`exec: "${spec.path}": executable file not found in $PATH`);
        }
        if (e instanceof NativeError)
          throw new GardenError(`running ${spec.path} failed at ${e.stage}: ${e.message}`);
        throw e;
      }
      const proc = new LinuxProcess(id, dir, conn, () => this.refreshEvents());
      this.processes.set(id, proc);
      return proc.attach(io);
    } finally {
      this.starting.delete(id);
    }
  }

  attach(id: string, io: ProcessIO): Process {
    const proc = this.processes.get(id);
    if (!proc) throw new ProcessNotFoundError(id);
    return proc.attach(io);
  }

  /** SIGTERM (every second, up to 10 s) then SIGKILL to every process except init (§3.10). */
  async stop(kill: boolean, termSeconds = 10): Promise<void> {
    const initPid = this.init?.pid;
    const exclude = initPid ? [initPid] : [];
    const others = (): number[] => {
      const out: number[] = [];
      for (const set of cgroupTree(this.record.cgroupPath)) {
        try {
          out.push(...cgroupPids(set).filter((p) => p !== initPid));
        } catch {
          // removed meanwhile
        }
      }
      return out;
    };
    const signalAll = async (sig: number): Promise<void> => {
      for (const set of cgroupTree(this.record.cgroupPath))
        await signalCgroup(set, sig, exclude).catch(() => undefined);
    };
    if (!kill) {
      for (let i = 0; i < termSeconds * 10 && others().length > 0; i++) {
        if (i % 10 === 0) await signalAll(15);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (let i = 0; i < 100 && others().length > 0; i++) {
      if (i % 10 === 0) await signalAll(9);
      await new Promise((r) => setTimeout(r, 100));
    }
    this.record.stopped = true;
    this.save();
  }

  private streamUser(user: string | undefined): ResolvedUser {
    return this.resolveUser(user || 'root');
  }

  async streamIn(spec: StreamInSpec): Promise<void> {
    let user: ResolvedUser;
    try {
      user = this.streamUser(spec.user);
    } catch (e) {
      spec.tarStream.resume();
      throw new GardenError(`error streaming in: ${(e as Error).message}`);
    }
    const dest = containerPath(spec.path, user.home);
    const archive = checkedArchive(spec.tarStream, { allowDevices: this.record.privileged });
    let archiveError: Error | undefined;
    archive.on('error', (e) => {
      archiveError = e;
    });
    try {
      await this.ensureDir(dest, user);
    } catch (e) {
      archive.destroy();
      throw new GardenError(`error streaming in: ${(e as Error).message}`);
    }
    let h: Awaited<ReturnType<LinuxContainer['helper']>>;
    try {
      h = await this.helper(
        {
          ...this.tool('tar'),
          args: ['tar', '-x', '-o', '-f', '-'],
          env: [`PATH=${user.uid === 0 ? ROOT_PATH : USER_PATH}`, `HOME=${user.home}`],
          cwd: dest,
          ...this.baseSpec(user),
        },
        archive,
      );
    } catch (e) {
      archive.destroy();
      if (e instanceof NativeExecutableNotFoundError)
        throw new GardenError(
          this.host.hostHelper
            ? `error streaming in: ${this.host.hostHelper} is missing on the host`
            : 'error streaming in: the container image has no /bin/tar',
        );
      throw new GardenError(`error streaming in: ${(e as Error).message}`);
    }
    // A refused or broken archive kills tar at once: nothing after the bad entry is extracted.
    const kill = (): void => {
      try {
        h.proc.signal('SIGKILL');
      } catch {
        // exited
      }
    };
    if (archiveError) kill();
    archive.on('error', kill);
    let r: { status: number; stderr: string };
    try {
      const [stderr, exit] = await Promise.all([text(h.proc.stderr), h.proc.wait(), text(h.proc.stdout)]);
      r = { status: exit.exitStatus, stderr };
    } finally {
      rmSync(h.dir, { recursive: true, force: true });
    }
    if (r.status !== 0)
      throw new GardenError(`error streaming in: ${r.stderr.trim() || `tar exited with ${r.status}`}`);
  }

  async streamOut(spec: StreamOutSpec): Promise<Readable> {
    let user: ResolvedUser;
    try {
      user = this.streamUser(spec.user);
    } catch (e) {
      throw new GardenError(`error streaming out: ${(e as Error).message}`);
    }
    const full = containerPath(spec.path, user.home);
    if (resolveInRoot(this.rootfs, full) === undefined)
      throw new GardenError(`error streaming out: ${spec.path}: no such file or directory`);
    const cmd = streamOutCommand(spec.path, user.home);
    let h: Awaited<ReturnType<LinuxContainer['helper']>>;
    try {
      h = await this.helper({
        ...this.tool('tar'),
        args: cmd.args,
        env: [`PATH=${user.uid === 0 ? ROOT_PATH : USER_PATH}`, `HOME=${user.home}`],
        cwd: cmd.cwd,
        ringCapacity: STREAM_OUT_RING,
        ...this.baseSpec(user),
      });
    } catch (e) {
      if (e instanceof NativeExecutableNotFoundError)
        throw new GardenError(
          this.host.hostHelper
            ? `error streaming out: ${this.host.hostHelper} is missing on the host`
            : 'error streaming out: the container image has no /bin/tar',
        );
      throw new GardenError(`error streaming out: ${(e as Error).message}`);
    }
    const out = new PassThrough();
    h.proc.stdout.pipe(out, { end: false });
    const stderr = text(h.proc.stderr);
    void Promise.all([h.proc.wait(), stderr, new Promise((r) => h.proc.stdout.once('end', r))])
      .then(([exit, err]) => {
        if (exit.exitStatus !== 0 || h.proc.lostBytes[0] > 0n) {
          out.destroy(
            new GardenError(`error streaming out: ${err.trim() || `tar exited with ${exit.exitStatus}`}`),
          );
        } else {
          out.end();
        }
      })
      .catch((e: Error) => out.destroy(new GardenError(`error streaming out: ${e.message}`)))
      .finally(() => rmSync(h.dir, { recursive: true, force: true }));
    return out;
  }
}
