/**
 * One container: its record (write-through), its init, its processes, and the per-container Garden
 * operations, each delegated to the folder that owns the concern (runtime/ for processes and
 * stop, files/ for streaming). Created, destroyed and restored by the gardener (linux-backend.ts)
 * through the parts.
 */
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type {
  BandwidthLimits,
  ContainerInfo,
  CPULimits,
  DiskLimits,
  Duration,
  Container as GardenContainer,
  MemoryLimits,
  Metrics,
  Process,
  ProcessIO,
  ProcessSpec,
  Properties,
  StreamInSpec,
  StreamOutSpec,
} from '@garden-ts/api-types';
import { GardenError, type GardenEventInit } from '@garden-ts/api-types';
import type { ResolvedUser } from '@garden-ts/backend-kit';
import { cgroupOomKills, type Container as NativeContainer } from '@garden-ts/native-ns';
import type { ContainerRecord, StateStore } from './depot/state-store.js';
import { streamIn, streamOut } from './files/streaming.js';
import type { NetworkPart } from './network/network-part.js';
import type { Part } from './part.js';
import { cgroupOf, memberPids, signalMembers } from './runtime/cgroups.js';
import type { LinuxProcess } from './runtime/linux-process.js';
import type { PeaPart } from './runtime/peas.js';
import { attachProcess, runProcess } from './runtime/processes.js';
import { UserFiles } from './runtime/users.js';

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
  /** The parts, for their metrics. */
  parts: readonly Part[];
  /** Peas: processes with their own image (runtime/peas.ts). */
  peas: PeaPart;
  /** NetIn / NetOut / BulkNetOut. */
  network: NetworkPart;
  /** Looks the container up again (throws ContainerNotFoundError when destroyed). */
  live(handle: string): LinuxContainer;
  /** Publishes a lifecycle event (`Backend.events()`). */
  publish(event: GardenEventInit): void;
}

const OOM_EVENT = 'Out of memory';

/** A container backed by a native-ns init and a depot record. */
export class LinuxContainer {
  readonly processes = new Map<string, LinuxProcess>();
  /** Process ids being started (reserved before any await). */
  readonly starting = new Set<string>();
  destroying = false;

  constructor(
    readonly record: ContainerRecord,
    public init: NativeContainer | undefined,
    readonly host: ContainerHost,
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
  /** The container's /etc/passwd and /etc/group as last read (resolveUser). */
  private userFiles: UserFiles | undefined;

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
      netIn: async (hostPort, containerPort) => {
        const c = live();
        return c.host.network.netIn(c, hostPort, containerPort);
      },
      netOut: async (rule) => {
        const c = live();
        await c.host.network.netOut(c, [rule], false);
      },
      bulkNetOut: async (rules) => {
        const c = live();
        await c.host.network.netOut(c, rules ?? [], true);
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
      count = cgroupOomKills(cgroupOf(this.record.cgroupPath));
    } catch {
      return;
    }
    if (count > this.record.oomKills) {
      this.record.oomKills = count;
      if (!this.record.events.includes(OOM_EVENT)) this.record.events.push(OOM_EVENT);
      this.save();
      this.host.publish({ type: 'container.oom', handle: this.handle });
    }
  }

  /**
   * A process ended (its output delivered): OOM check when a signal (an OOM kill's SIGKILL) may
   * have ended it, then `process.exited` when its status is known. Other OOM kills reach the
   * events through the OOM watch part, and Info, properties and metrics check again anyway.
   */
  processExited(processId: string, status: number | undefined): void {
    if (status === undefined || status > 128) this.refreshEvents();
    if (status !== undefined) {
      this.host.publish({ type: 'process.exited', handle: this.handle, processId, exitStatus: status });
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

  /** Addresses and mapped ports come from the `garden.network.*` properties, as Guardian's (§7.4). */
  info(): ContainerInfo {
    const properties = this.properties();
    return {
      state: this.record.stopped ? 'stopped' : 'active',
      events: [...this.record.events],
      hostIP: properties['garden.network.host-ip'] ?? '',
      containerIP: properties['garden.network.container-ip'] ?? '',
      containerIPv6: properties['garden.network.container-ipv6'] ?? '',
      externalIP: properties['garden.network.external-ip'] ?? '',
      containerPath: this.dir,
      processIDs: [...this.processes.values()].filter((p) => p.running).map((p) => p.id),
      properties,
      mappedPorts: parseMappedPorts(properties['garden.network.mapped-ports']),
    };
  }

  /**
   * Age and CPU entitlement here; memory, CPU and pids from the runtime part (the cgroup), disk
   * from the store part (the volume's qgroup), network bytes from the network part (the host end
   * of the veth).
   */
  async metrics(): Promise<Metrics> {
    this.refreshEvents();
    const age = BigInt(Math.max(1, Date.now() - this.record.createdAt)) * 1_000_000n;
    const shares = BigInt(this.record.limits.cpuWeight ?? this.record.limits.cpuShares ?? '0');
    // Entitlement = S × perShare% × age, computed in fixed point (1e6) to stay in bigint.
    const perShareMicro = BigInt(Math.round(this.host.cpuPerShare * 1e6));
    const metrics: Metrics = {
      memoryStat: {} as Metrics['memoryStat'], // the runtime part's, from the cgroup
      cpuStat: { usage: 0n, user: 0n, system: 0n },
      // All 0 without a volume, as Guardian reports for raw:// images.
      diskStat: { totalBytesUsed: 0n, totalInodesUsed: 0n, exclusiveBytesUsed: 0n, exclusiveInodesUsed: 0n },
      networkStat: null,
      pidStat: { current: 0n, max: 0n },
      age,
      cpuEntitlement: (shares * perShareMicro * age) / 100_000_000n,
    };
    for (const part of this.host.parts) await part.metrics?.(this, metrics);
    return metrics;
  }

  memoryLimits(): MemoryLimits {
    const m = this.record.limits.memoryBytes;
    return m === undefined ? {} : { limitInBytes: BigInt(m) };
  }
  /**
   * Reference §6.2: `{ limitInShares: S }` (cgroup v1) or `{ limitInShares: W(S) }` (v2, the
   * weight the kernel holds); `weight` is always 0 (absent) in the reply.
   */
  cpuLimits(): CPULimits {
    const l = this.record.limits;
    const shares = l.cpuWeight ?? l.cpuShares;
    if (shares === undefined) return {};
    return { limitInShares: BigInt(l.cpuWeightV2 ?? shares) };
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

  /** The running init. @throws GardenError when it exited (a restart found it gone). */
  requireInit(): NativeContainer {
    if (!this.init)
      throw new GardenError(
        `container ${this.handle} has no running init (it exited); destroy and recreate it`,
      );
    return this.init;
  }

  /** Resolves a Garden user string against the container's passwd/group. */
  resolveUser(user: string | undefined): ResolvedUser {
    this.userFiles ??= new UserFiles(this.rootfs);
    return this.userFiles.resolve(user);
  }

  run(spec: ProcessSpec, io: ProcessIO): Promise<Process> {
    return runProcess(this, spec, io);
  }

  attach(id: string, io: ProcessIO): Process {
    return attachProcess(this, id, io);
  }

  /** SIGTERM (every second, up to `termSeconds`) then SIGKILL to every process except init (§3.10). */
  async stop(kill: boolean, termSeconds = 10): Promise<void> {
    const initPid = this.init?.pid;
    const others = () => memberPids(this.record.cgroupPath, initPid);
    if (!kill) {
      for (let i = 0; i < termSeconds * 10 && others().length > 0; i++) {
        if (i % 10 === 0) await signalMembers(this.record.cgroupPath, 15, initPid);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (let i = 0; i < 100 && others().length > 0; i++) {
      if (i % 10 === 0) await signalMembers(this.record.cgroupPath, 9, initPid);
      await new Promise((r) => setTimeout(r, 100));
    }
    this.record.stopped = true;
    this.save();
  }

  streamIn(spec: StreamInSpec): Promise<void> {
    return streamIn(this, spec);
  }

  streamOut(spec: StreamOutSpec): Promise<Readable> {
    return streamOut(this, spec);
  }
}

/** `garden.network.mapped-ports` (`[{"HostPort":61001,"ContainerPort":8080}]`); `[]` when absent or malformed. */
function parseMappedPorts(value: string | undefined): ContainerInfo['mappedPorts'] {
  if (!value) return [];
  try {
    const list = JSON.parse(value) as { HostPort?: unknown; ContainerPort?: unknown }[];
    if (!Array.isArray(list)) return [];
    return list
      .filter((m) => Number.isInteger(m?.HostPort) && Number.isInteger(m?.ContainerPort))
      .map((m) => ({ hostPort: m.HostPort as number, containerPort: m.ContainerPort as number }));
  } catch {
    return [];
  }
}
