import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import {
  type Backend,
  type BackendCapabilities,
  type BandwidthLimits,
  type CallOptions,
  type Capacity,
  type Container,
  type ContainerInfo,
  type ContainerInfoEntry,
  type ContainerMetricsEntry,
  ContainerNotFoundError,
  type ContainerSpec,
  type CPULimits,
  type DiskLimits,
  type Duration,
  EventHub,
  type EventsOptions,
  GardenError,
  type GardenEventStream,
  InvalidRequestError,
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
  type WindowSize,
} from '@garden-ts/api-types';
import {
  checkContainerLimits,
  checkName,
  checkProcessLimits,
  PortPool,
  validateNetOutRule,
} from '@garden-ts/backend-kit';
import { ContainerRecord } from './container-record.js';
import { simulateMetrics } from './metrics.js';
import { seedRootfs } from './seed-rootfs.js';

const GIB = 1024n * 1024n * 1024n;

/** Options of {@link createFakeBackend}. Every field is optional. */
export interface FakeBackendOptions {
  /** Overrides of the reported capacity (defaults: 8 GiB memory, 100 GiB disk, 32768 containers). */
  capacity?: Partial<Capacity>;
  /** Maximum number of containers; 0 or absent = unlimited. Also caps `capacity().maxContainers`. */
  maxContainers?: number;
  /** First host port of the NetIn pool (default 61001). */
  portPoolStart?: number;
  /** Number of ports in the pool (default 4534, i.e. up to 65534). */
  portPoolSize?: number;
  /** Wall clock in (possibly fractional) milliseconds since the epoch; drives Metrics `age`. */
  now?: () => number;
  /** Handle generator for specs without a handle (default: deterministic UUID-shaped counter). */
  generateHandle?: () => string;
  /** Process id generator for specs without an id (default: `crypto.randomUUID`). */
  generateProcessId?: () => string;
  /** Directory reported as `ContainerInfo.containerPath` parent (default `/var/fake/containers`). */
  depotDir?: string;
  /** Reported external IP (default `127.0.0.1`). */
  externalIP?: string;
  /** Bytes of undelivered output kept per process stream (default 1 MiB; oldest dropped). */
  outputBacklogBytes?: number;
  /** CPU entitlement in percent of a core per share (default: 4 cores × 100 / 8192 MiB). */
  cpuEntitlementPerShare?: number;
}

/** A deterministic generator of UUIDv4-shaped handles: `00000000-0000-4000-8000-000000000001`, … */
export function sequentialHandles(): () => string {
  let n = 0;
  return () => {
    n++;
    return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  };
}

const DEFAULT_NOW = (): number => performance.timeOrigin + performance.now();

/**
 * Container subnets are /30 blocks from 10.254.0.0 (Guardian's default pool start), in a /15 so the
 * fake is not capped at Guardian's 256 containers: 32768 subnets.
 */
const SUBNET_COUNT = 32768;

function checkPort(field: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidRequestError(field, `${field.slice(1)} must be an integer in 0-65535, got ${port}`);
  }
}

/**
 * An in-memory Garden backend with real behaviour: containers with properties, limits, a file tree
 * (tar in/out), a port pool, NetOut rule bookkeeping and simulated processes (`echo`, `cat`, `sh -c`,
 * `sleep`, …) with Garden's attach/fan-out semantics. No host processes; deterministic except for
 * `sleep` timers and generated process ids.
 */
export class FakeBackend implements Backend {
  private readonly records = new Map<string, ContainerRecord>();
  private readonly ports: PortPool;
  private readonly subnets = new Map<string, number>();
  /** Released subnet indexes (reused lowest first) and the next never-used one. */
  private readonly freeSubnets: number[] = [];
  private nextSubnet = 0;
  private readonly now: () => number;
  private readonly generateHandle: () => string;
  private readonly generateProcessId: () => string;
  private readonly options: FakeBackendOptions;
  private readonly hub = new EventHub();

  constructor(options: FakeBackendOptions = {}) {
    const max = options.maxContainers ?? 0;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RangeError(`maxContainers must be a non-negative integer, got ${max}`);
    }
    this.options = options;
    this.ports = new PortPool(options.portPoolStart ?? 61001, options.portPoolSize ?? 4534);
    this.now = options.now ?? DEFAULT_NOW;
    this.generateHandle = options.generateHandle ?? sequentialHandles();
    this.generateProcessId = options.generateProcessId ?? randomUUID;
  }

  /** No-op: the fake needs no startup work. */
  async start(): Promise<void> {}

  /** Kills every process in every container; containers stay. */
  async stop(): Promise<void> {
    const records = [...this.records.values()];
    for (const record of records) record.killAll();
    await Promise.all(records.flatMap((r) => [...r.processes.values()].map((p) => p.wait())));
  }

  async ping(_opts?: CallOptions): Promise<void> {}

  async capacity(_opts?: CallOptions): Promise<Capacity> {
    const max = this.options.maxContainers ?? 0;
    const pool = BigInt(SUBNET_COUNT);
    return {
      memoryInBytes: 8n * GIB,
      diskInBytes: 100n * GIB,
      schedulableDiskInBytes: 100n * GIB,
      maxContainers: max > 0 && BigInt(max) < pool ? BigInt(max) : pool,
      ...Object.fromEntries(Object.entries(this.options.capacity ?? {}).filter(([, v]) => v !== undefined)),
    };
  }

  /**
   * @throws GardenError `Handle 'X' already in use`, `max containers reached`, invalid NetOut rules,
   *   `port pool is exhausted`; InvalidRequestError for a malformed handle or port.
   */
  async create(spec: ContainerSpec, _opts?: CallOptions): Promise<Container> {
    if (spec.handle) checkName('handle', spec.handle);
    let handle = spec.handle;
    if (!handle) {
      do handle = this.generateHandle();
      while (this.records.has(handle));
    }
    if (this.records.has(handle)) throw new GardenError(`Handle '${handle}' already in use`);
    const max = this.options.maxContainers ?? 0;
    if (max > 0 && this.records.size >= max) throw new GardenError('max containers reached');
    if ((spec.graceTime ?? 0n) < 0n)
      throw new InvalidRequestError('/grace_time', 'grace_time must not be negative');
    checkContainerLimits(spec.limits);
    for (const rule of spec.netOut ?? []) validateNetOutRule(rule);
    spec.netIn?.forEach((rule, i) => {
      checkPort(`/net_in/${i}/host_port`, rule.hostPort);
      checkPort(`/net_in/${i}/container_port`, rule.containerPort);
    });

    const subnet = this.allocateSubnet();
    if (subnet === undefined) throw new GardenError('insufficient subnets remaining in the pool');
    const base = subnet * 4;
    const ip = (offset: number): string => {
      const n = base + offset;
      return `10.${254 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
    };
    const nowDate = (): Date => new Date(this.now());
    const record = new ContainerRecord({
      handle,
      spec,
      createdAtMs: this.now(),
      makeTree: () => seedRootfs(handle, nowDate),
      containerPath: `${this.options.depotDir ?? '/var/fake/containers'}/${handle}`,
      addresses: { hostIP: ip(1), containerIP: ip(2), externalIP: this.options.externalIP ?? '127.0.0.1' },
      generateProcessId: this.generateProcessId,
      backlogLimit: this.options.outputBacklogBytes,
    });
    this.subnets.set(handle, subnet);
    this.records.set(handle, record);
    try {
      for (const rule of spec.netIn ?? []) this.mapPort(record, rule.hostPort, rule.containerPort);
      record.addNetOutRules(spec.netOut ?? []);
    } catch (err) {
      // After admission any failure undoes the partial container (§2.1).
      this.remove(record);
      throw err;
    }
    return new FakeContainer(this, handle);
  }

  private allocateSubnet(): number | undefined {
    if (this.freeSubnets.length > 0) {
      let lowest = 0;
      for (let i = 1; i < this.freeSubnets.length; i++) {
        if (this.freeSubnets[i]! < this.freeSubnets[lowest]!) lowest = i;
      }
      return this.freeSubnets.splice(lowest, 1)[0];
    }
    return this.nextSubnet < SUBNET_COUNT ? this.nextSubnet++ : undefined;
  }

  private remove(record: ContainerRecord): void {
    record.killAll();
    for (const mapping of record.mappedPorts) this.ports.release(mapping.hostPort);
    const subnet = this.subnets.get(record.handle);
    if (subnet !== undefined) this.freeSubnets.push(subnet);
    this.subnets.delete(record.handle);
    this.records.delete(record.handle);
  }

  /** @throws ContainerNotFoundError */
  async destroy(handle: string, _opts?: CallOptions): Promise<void> {
    const record = this.record(handle);
    this.remove(record);
    await Promise.all([...record.processes.values()].map((p) => p.wait()));
  }

  /** Containers whose properties contain every filter pair (`garden.state` `all`/`created` match any). */
  async containers(filter: Properties = {}, _opts?: CallOptions): Promise<Container[]> {
    const pairs = Object.entries(filter);
    const matches = (record: ContainerRecord): boolean =>
      pairs.every(([key, value]) => {
        const actual = record.properties.get(key);
        if (actual === undefined && key === 'garden.state') return value === 'all' || value === 'created';
        return actual === value;
      });
    return [...this.records.values()].filter(matches).map((r) => new FakeContainer(this, r.handle));
  }

  async bulkInfo(handles: string[], _opts?: CallOptions): Promise<Record<string, ContainerInfoEntry>> {
    const out: Record<string, ContainerInfoEntry> = {};
    for (const handle of handles) {
      const record = this.records.get(handle);
      out[handle] = record ? { info: record.info() } : { error: new ContainerNotFoundError(handle) };
    }
    return out;
  }

  async bulkMetrics(handles: string[], _opts?: CallOptions): Promise<Record<string, ContainerMetricsEntry>> {
    const out: Record<string, ContainerMetricsEntry> = {};
    for (const handle of handles) {
      const record = this.records.get(handle);
      out[handle] = record
        ? { metrics: this.metricsOf(record) }
        : { error: new ContainerNotFoundError(handle) };
    }
    return out;
  }

  /** @throws ContainerNotFoundError */
  async lookup(handle: string, _opts?: CallOptions): Promise<Container> {
    this.record(handle);
    return new FakeContainer(this, handle);
  }

  /** @throws ContainerNotFoundError */
  async graceTime(container: Container): Promise<Duration> {
    return this.record(container.handle).graceTime;
  }

  /**
   * Lifecycle events only a backend knows: `process.exited` for every process that exits (its
   * output already delivered), with its status (143/137 when signalled or killed by a
   * stop/destroy). The fake never reports `container.oom` (it enforces no memory limit).
   */
  events(opts?: EventsOptions): GardenEventStream {
    return this.hub.events(opts);
  }

  /** @internal Publishes the exit of a process started with `run`. */
  watchExit(handle: string, process: Process): void {
    void process
      .wait()
      .then((exitStatus) =>
        this.hub.publish({ type: 'process.exited', handle, processId: process.id, exitStatus }),
      );
  }

  // ---- inspection helpers for tests (not part of the Garden API) ----

  /** The NetOut rules recorded for a container, in the order they were applied (deep copies). */
  netOutRules(handle: string): NetOutRule[] {
    return this.record(handle).netOutRules.map((rule) => structuredClone(rule));
  }

  /** Whether a process has a TTY, and its current window size (80×24 unless set). */
  processTTY(handle: string, processId: string): { tty: boolean; windowSize: Required<WindowSize> } {
    const process = this.record(handle).processes.get(processId);
    if (!process) throw new ProcessNotFoundError(processId);
    return { tty: process.tty, windowSize: process.windowSize };
  }

  /**
   * Contents of a file in a container's tree (following symlinks), for assertions.
   * @throws GardenError when the path is missing or not a regular file.
   */
  readFile(handle: string, path: string): Buffer {
    const node = this.record(handle).tree.tryLookup(posix.resolve('/', path));
    if (node?.kind !== 'file')
      throw new GardenError(`${path}: ${node ? 'not a regular file' : 'no such file'}`);
    return node.data;
  }

  /** Handles of all containers, in creation order. */
  handles(): string[] {
    return [...this.records.keys()];
  }

  // ---- used by FakeContainer ----

  /** @internal @throws ContainerNotFoundError */
  record(handle: string): ContainerRecord {
    const record = this.records.get(handle);
    if (!record) throw new ContainerNotFoundError(handle);
    return record;
  }

  /** @internal */
  metricsOf(record: ContainerRecord): Metrics {
    const ageMs = Math.max(0, this.now() - record.createdAtMs);
    return simulateMetrics({
      ageNs: BigInt(Math.round(ageMs * 1e6)),
      limits: record.limits,
      runningProcesses: record.runningProcesses().length,
      fileBytes: record.tree.usage().bytes,
      entitlementPerShare: this.options.cpuEntitlementPerShare ?? (4 * 100) / 8192,
    });
  }

  /** @internal */
  mapPort(record: ContainerRecord, hostPort: number, containerPort: number): NetInRule {
    checkPort('/hostPort', hostPort);
    checkPort('/containerPort', containerPort);
    let host = hostPort;
    if (host === 0) host = this.ports.acquire();
    else this.ports.reserve(host);
    const mapping = { hostPort: host, containerPort: containerPort === 0 ? host : containerPort };
    record.mappedPorts.push(mapping);
    return { ...mapping };
  }
}

/** A cheap handle on a fake container; every call re-checks that the container still exists. */
export class FakeContainer implements Container {
  constructor(
    private readonly backend: FakeBackend,
    readonly handle: string,
  ) {}

  private get record(): ContainerRecord {
    return this.backend.record(this.handle);
  }

  async stop(kill: boolean, _opts?: CallOptions): Promise<void> {
    await this.record.stop(kill);
  }

  async info(_opts?: CallOptions): Promise<ContainerInfo> {
    return this.record.info();
  }

  async streamIn(spec: StreamInSpec, _opts?: CallOptions): Promise<void> {
    let record: ContainerRecord;
    try {
      record = this.record;
    } catch (err) {
      spec.tarStream.resume();
      throw err;
    }
    await record.streamIn(spec.path, spec.user, spec.tarStream);
  }

  async streamOut(spec: StreamOutSpec, _opts?: CallOptions): Promise<Readable> {
    return this.record.streamOut(spec.path, spec.user);
  }

  async currentBandwidthLimits(_opts?: CallOptions): Promise<BandwidthLimits> {
    return { ...this.record.limits.bandwidth };
  }

  /**
   * Guardian on cgroup v1 (reference §6.2): the effective shares S (`weight`, else
   * `limitInShares`) as `limitInShares`; `weight` is always 0.
   */
  async currentCPULimits(_opts?: CallOptions): Promise<CPULimits> {
    const cpu = this.record.limits.cpu;
    const shares = cpu?.weight || cpu?.limitInShares;
    return shares ? { limitInShares: shares } : {};
  }

  async currentDiskLimits(_opts?: CallOptions): Promise<DiskLimits> {
    return { ...this.record.limits.disk };
  }

  async currentMemoryLimits(_opts?: CallOptions): Promise<MemoryLimits> {
    return { ...this.record.limits.memory };
  }

  async netIn(hostPort: number, containerPort: number, _opts?: CallOptions): Promise<NetInRule> {
    return this.backend.mapPort(this.record, hostPort, containerPort);
  }

  async netOut(rule: NetOutRule, _opts?: CallOptions): Promise<void> {
    this.record.addNetOutRules([rule]);
  }

  async bulkNetOut(rules: NetOutRule[], _opts?: CallOptions): Promise<void> {
    this.record.addNetOutRules(rules);
  }

  async run(spec: ProcessSpec, io: ProcessIO, _opts?: CallOptions): Promise<Process> {
    checkProcessLimits(spec.overrideContainerLimits);
    const process = this.record.run(spec, io);
    this.backend.watchExit(this.handle, process);
    return process;
  }

  async attach(processId: string, io: ProcessIO, _opts?: CallOptions): Promise<Process> {
    return this.record.attach(processId, io);
  }

  async metrics(_opts?: CallOptions): Promise<Metrics> {
    return this.backend.metricsOf(this.record);
  }

  async setGraceTime(graceTime: Duration, _opts?: CallOptions): Promise<void> {
    const record = this.record;
    if (graceTime < 0n) throw new InvalidRequestError('/grace_time', 'grace time must not be negative');
    record.graceTime = graceTime;
  }

  async properties(_opts?: CallOptions): Promise<Properties> {
    return this.record.propertiesObject();
  }

  /** @throws GardenError `property does not exist: <key>` */
  async property(name: string, _opts?: CallOptions): Promise<string> {
    const value = this.record.properties.get(name);
    if (value === undefined) throw new GardenError(`property does not exist: ${name}`);
    return value;
  }

  async setProperty(name: string, value: string, _opts?: CallOptions): Promise<void> {
    this.record.properties.set(name, value);
  }

  async removeProperty(name: string, _opts?: CallOptions): Promise<void> {
    this.record.properties.delete(name);
  }
}

/**
 * What this backend supports, for the backend contract suite: everything, with CPU limits read
 * back as cgroup v1 shares (Guardian on v1), and process exits through `events()`.
 */
export const FAKE_BACKEND_CAPABILITIES: BackendCapabilities = {
  limits: true,
  networking: true,
  tty: true,
  privileged: true,
  diskLimits: true,
  metrics: true,
  cpuLimitsReadBack: 'shares',
  events: true,
};

/** Creates an in-memory backend. See {@link FakeBackendOptions}. */

export function createFakeBackend(options?: FakeBackendOptions): FakeBackend {
  return new FakeBackend(options);
}
