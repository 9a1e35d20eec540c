/**
 * The gardener: admission (atomic handle and max-containers checks), then create, destroy and
 * startup recovery as short sequences over the parts (part.ts) — depot → store → rootfs → network
 * → cgroup → runtime to create, the reverse to destroy — plus listing, bulk calls and capacity.
 */
import { statfsSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  type Capacity,
  type Container,
  type ContainerInfoEntry,
  type ContainerMetricsEntry,
  ContainerNotFoundError,
  type ContainerSpec,
  type Duration,
  EventHub,
  type EventsOptions,
  GardenError,
  type GardenEventStream,
  type Properties,
} from '@garden-ts/api-types';
import { checkName, errorFields, generateName, hostnameOf } from '@garden-ts/backend-kit';
import { LinuxContainer } from './container.js';
import { DepotPart } from './depot/depot-part.js';
import { storageId } from './depot/names.js';
import { ensureRunDir, releaseRunDir } from './depot/run-dir.js';
import type { ContainerRecord } from './depot/state-store.js';
import { OomWatchPart } from './events/oom-watch-part.js';
import { NetworkPart } from './network/network-part.js';
import {
  type BackendLogger,
  checkOptions,
  type LinuxBackend,
  type LinuxBackendOptions,
  silentLogger,
} from './options.js';
import type { CreateContext, DestroyContext, Part } from './part.js';
import { RootfsPart } from './rootfs/rootfs-part.js';
import { CgroupPart } from './runtime/cgroup-part.js';
import { PeaPart } from './runtime/peas.js';
import { RuntimePart } from './runtime/runtime-part.js';
import { QuotaPart } from './store/quota-part.js';
import { StorePart } from './store/store-part.js';

class LinuxBackendImpl implements LinuxBackend {
  readonly depot: string;
  readonly runDir: string;
  readonly cgroupParent: string;
  private readonly depotPart: DepotPart;
  /** Undefined when running without a disk store. */
  private readonly storePart: StorePart | undefined;
  private readonly networkPart: NetworkPart;
  private readonly rootfsPart: RootfsPart;
  private readonly peaPart: PeaPart;
  /** In create order; destroy runs them in reverse. */
  private readonly parts: readonly Part[];
  private readonly hostHelper: string | undefined;
  private readonly byHandle = new Map<string, LinuxContainer>();
  /** Handles admitted (creating, created or destroying): the admission count. */
  private readonly admitted = new Set<string>();
  private readonly ids = new Set<string>();
  private readonly log: BackendLogger;
  private readonly cpuPerShare: number;
  private started: Promise<void> | undefined;
  /** Lifecycle events only the backend knows (process exits, OOM kills): events/. */
  private readonly hub = new EventHub();
  private readonly oomWatch = new OomWatchPart((h) => this.byHandle.get(h));

  constructor(private readonly options: LinuxBackendOptions) {
    const checked = checkOptions(options);
    this.depot = options.depot;
    this.cgroupParent = options.cgroupParent ?? 'garden';
    this.runDir = checked.runDir;
    this.hostHelper = checked.hostHelper;
    this.log = options.logger ?? silentLogger;
    this.depotPart = new DepotPart(this.depot, this.runDir, this.log);
    this.storePart = checked.diskStore ? new StorePart(this.depot, checked.diskStore, this.log) : undefined;
    this.networkPart = new NetworkPart(options.network, this.log, join(this.depot, 'network.json'));
    this.rootfsPart = new RootfsPart(
      this.depot,
      options.defaultRootfs,
      options.imageSources ?? [],
      options.images ?? {},
      this.log,
      (p) => this.hub.publish({ type: 'image.progress', ...p }),
    );
    this.peaPart = new PeaPart(this.depot, this.cgroupParent, this.rootfsPart, this.storePart, this.log);
    this.parts = [
      this.depotPart,
      ...(this.storePart ? [this.storePart] : []),
      this.rootfsPart,
      new QuotaPart(this.storePart, this.log),
      this.networkPart,
      new CgroupPart(this.cgroupParent, this.log),
      new RuntimePart(this.cgroupParent, this.log),
      this.peaPart,
      // The container's devices need its init (its network namespace).
      this.networkPart.attachPart,
      this.oomWatch,
    ];
    // Guardian's auto default: cores × 100 / total RAM in MiB (percent per share).
    this.cpuPerShare = (availableParallelism() * 100) / (totalmem() / (1024 * 1024));
  }

  handles(): string[] {
    return [...this.byHandle.keys()];
  }

  private host() {
    return {
      store: this.depotPart.store,
      runDir: this.runDir,
      hostHelper: this.hostHelper,
      cpuPerShare: this.cpuPerShare,
      stopTimeoutSeconds: this.options.stopTimeoutSeconds ?? 10,
      parts: this.parts,
      peas: this.peaPart,
      network: this.networkPart,
      live: (h: string) => this.live(h),
      publish: this.hub.publish.bind(this.hub),
    };
  }

  /** A container that exists and is not being destroyed. */
  private live(handle: string): LinuxContainer {
    const c = this.byHandle.get(handle);
    if (!c || c.destroying || c.record.phase !== 'created') throw new ContainerNotFoundError(handle);
    return c;
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  start(): Promise<void> {
    this.started ??= this.recover();
    return this.started;
  }

  /** `process.exited` and `container.oom` (see events/oom-watch-part.ts). */
  events(opts?: EventsOptions): GardenEventStream {
    return this.hub.events(opts);
  }

  async stop(): Promise<void> {
    const none = this.admitted.size === 0;
    this.oomWatch.close();
    // Containers and processes keep running; only our connections to the shims go.
    for (const c of this.byHandle.values()) {
      for (const p of c.processes.values()) p.detach();
      c.init?.close();
    }
    this.byHandle.clear();
    this.admitted.clear();
    this.ids.clear();
    // A later start() recovers everything from the depot again.
    this.started = undefined;
    this.storePart?.abandonWaits();
    await this.settled();
    // With no container left (in the depot, which a second stop() still sees), no nft table or
    // bridge of ours stays on the host either.
    const containersLeft = !none || this.depotPart.store.entries().length > 0;
    for (const part of this.parts) await part.stop?.({ containersLeft });
    // Nothing left to survive a restart: leave no empty run dir (nor, when it was the last one,
    // our /run/garden-ts tmpfs) behind; start() recreates them.
    if (none) releaseRunDir(this.runDir);
  }

  async ping(): Promise<void> {}

  async settled(): Promise<void> {
    await Promise.all([this.depotPart.trash.settled(), this.networkPart.settled()]);
  }

  async capacity(): Promise<Capacity> {
    await this.start();
    const fs = statfsSync(this.depot);
    const disk = BigInt(fs.blocks) * BigInt(fs.bsize);
    return {
      memoryInBytes: BigInt(totalmem()),
      diskInBytes: disk,
      // What the store can hold (Guardian: the image store's capacity); the depot's size without one.
      schedulableDiskInBytes: (await this.storePart?.capacity()) ?? disk,
      maxContainers: this.networkPart.maxContainers(this.options.maxContainers),
    };
  }

  async create(spec: ContainerSpec): Promise<Container> {
    await this.start();
    const handle = spec.handle || generateName();
    checkName('handle', handle);
    const id = storageId(handle);
    // Admission, synchronously (no await between check and reservation): atomic in Node.
    if (this.admitted.has(handle) || this.ids.has(id))
      throw new GardenError(`Handle '${handle}' already in use`);
    const max = this.options.maxContainers ?? 0;
    if (max > 0 && this.admitted.size >= max) throw new GardenError('max containers reached');
    this.admitted.add(handle);
    this.ids.add(id);
    const release = () => {
      this.byHandle.delete(handle);
      this.admitted.delete(handle);
      this.ids.delete(id);
    };
    try {
      // Nothing is made for a spec a part refuses.
      for (const part of this.parts) part.validate?.(spec);
    } catch (e) {
      release();
      throw e;
    }
    try {
      return (await this.build(handle, id, spec)).view();
    } catch (e) {
      this.log.warn({ handle, ...errorFields(e) }, 'create failed; cleaning up');
      await this.teardown({ id, container: this.byHandle.get(handle) }).catch((err) =>
        this.log.error({ handle, ...errorFields(err) }, 'cleanup after failed create'),
      );
      release();
      throw e;
    }
  }

  /** The create sequence: every part in order, then the record (the container is complete). */
  private async build(handle: string, id: string, spec: ContainerSpec): Promise<LinuxContainer> {
    const record: ContainerRecord = {
      version: 1,
      handle,
      id,
      phase: 'creating',
      createdAt: Date.now(),
      privileged: spec.privileged === true,
      hostname: hostnameOf(handle),
      lowerDir: '',
      env: [...(spec.env ?? [])],
      properties: { ...(spec.properties ?? {}) },
      limits: {},
      graceTime: String(spec.graceTime ?? 0n),
      stopped: false,
      events: [],
      oomKills: 0,
      cgroupPath: '',
    };
    const container = new LinuxContainer(record, undefined, this.host());
    this.byHandle.set(handle, container);
    const ctx: CreateContext = {
      spec,
      record,
      dir: this.depotPart.dirOf(id),
      runDir: this.depotPart.runDirOf(id),
      bindMounts: [],
    };
    try {
      for (const part of this.parts) await part.create(ctx);
    } finally {
      container.init = ctx.init;
      // Nothing a part started may still be running when a failed create is torn down.
      await ctx.rootfs?.catch(() => undefined);
    }
    record.phase = 'created';
    container.save();
    return container;
  }

  /**
   * The destroy sequence, for destroy, failed creates and leftovers found at startup: the entry
   * goes to the trash first (a restart then only finishes the job), then every part in reverse
   * order; what they queue runs in the background.
   */
  private async teardown(
    entry: { id: string; container?: LinuxContainer; record?: ContainerRecord } | { trashed: string },
  ): Promise<void> {
    const id = 'id' in entry ? entry.id : undefined;
    const container = 'id' in entry ? entry.container : undefined;
    const record =
      'id' in entry ? (entry.record ?? container?.record ?? this.depotPart.store.read(entry.id)) : undefined;
    const dir = 'id' in entry ? this.depotPart.dirOf(entry.id) : entry.trashed;
    const steps: (() => Promise<void>)[] = [];
    const ctx: DestroyContext = {
      id,
      record,
      container,
      dir: this.depotPart.markDestroying(dir, record, this.log),
      later: (step) => steps.push(step),
    };
    this.log.info({ id, init: container?.init?.pid ?? record?.init?.pid }, 'teardown');
    try {
      for (const part of [...this.parts].reverse()) await part.destroy?.(ctx);
    } finally {
      this.depotPart.trash.background(ctx.dir, steps);
    }
  }

  async destroy(handle: string): Promise<void> {
    await this.start();
    await this.destroyNow(handle);
  }

  private async destroyNow(handle: string): Promise<void> {
    const c = this.byHandle.get(handle);
    if (!c || c.record.phase === 'creating') throw new ContainerNotFoundError(handle);
    if (c.destroying) throw new GardenError('container already being destroyed');
    c.destroying = true;
    c.record.phase = 'destroying';
    try {
      await this.teardown({ id: c.record.id, container: c });
    } finally {
      this.byHandle.delete(handle);
      this.admitted.delete(handle);
      this.ids.delete(c.record.id);
    }
  }

  async containers(filter: Properties = {}): Promise<Container[]> {
    await this.start();
    const want = { ...filter };
    const all = want['garden.state'] === 'all';
    if (all) delete want['garden.state'];
    const out: Container[] = [];
    for (const c of this.byHandle.values()) {
      if (c.destroying || c.record.phase !== 'created') continue;
      const props = c.properties();
      if (Object.entries(want).every(([k, v]) => props[k] === v)) out.push(c.view());
    }
    return out;
  }

  async lookup(handle: string): Promise<Container> {
    await this.start();
    return this.live(handle).view();
  }

  async bulkInfo(handles: string[]): Promise<Record<string, ContainerInfoEntry>> {
    await this.start();
    return this.bulk(handles, (c) => ({ info: c.info() }));
  }

  async bulkMetrics(handles: string[]): Promise<Record<string, ContainerMetricsEntry>> {
    await this.start();
    return this.bulk(handles, async (c) => ({ metrics: await c.metrics() }));
  }

  private async bulk<T>(
    handles: string[],
    one: (c: LinuxContainer) => T | Promise<T>,
  ): Promise<Record<string, T | { error: Error }>> {
    const results = await Promise.all(
      handles.map(async (h): Promise<T | { error: Error }> => {
        try {
          return await one(this.live(h));
        } catch (e) {
          return { error: e as Error };
        }
      }),
    );
    const out: Record<string, T | { error: Error }> = {};
    handles.forEach((h, i) => {
      out[h] = results[i] as T | { error: Error };
    });
    return out;
  }

  async graceTime(container: Container): Promise<Duration> {
    return BigInt(this.live(container.handle).record.graceTime);
  }

  // ---- startup ----------------------------------------------------------------------------------

  /**
   * Restores every container whose record is complete (init pid + start time, processes) and
   * removes what has no complete record: half-created or half-destroyed entries, the trash, and
   * what the parts find of unknown containers (cgroups, run dirs, temp image copies). A container
   * with an intact record is never destroyed.
   */
  private async recover(): Promise<void> {
    ensureRunDir(this.runDir); // a stop() with no containers removed it
    const known = new Set<string>();
    for (const id of this.depotPart.store.entries()) {
      const record = this.depotPart.store.read(id);
      if (record?.phase !== 'created') {
        this.log.warn({ id, phase: record?.phase }, 'removing incomplete depot entry');
        await this.teardown({ id, record }).catch((e) =>
          this.log.error({ id, ...errorFields(e) }, 'reconcile'),
        );
        continue;
      }
      const container = new LinuxContainer(record, undefined, this.host());
      this.byHandle.set(record.handle, container);
      this.admitted.add(record.handle);
      this.ids.add(id);
      known.add(id);
      for (const part of this.parts) await part.restore?.(container);
    }
    for (const part of this.parts) await part.reconcile?.(known);
    for (const dir of this.depotPart.trash.entries())
      await this.teardown({ trashed: dir }).catch((e) =>
        this.log.error({ dir, ...errorFields(e) }, 'reconcile'),
      );
    if (this.options.destroyContainersOnStartup) {
      await Promise.all(
        [...this.byHandle.keys()].map((h) =>
          this.destroyNow(h).catch((e) =>
            this.log.error({ handle: h, ...errorFields(e) }, 'destroy on startup'),
          ),
        ),
      );
    }
  }
}

/**
 * Creates a Linux backend. Call `start()` (or any method; they start it lazily) to recover the
 * containers of an existing depot.
 * @throws InvalidRequestError for a relative depot or run dir, a bad maxContainers or helper.
 */
export function createLinuxBackend(options: LinuxBackendOptions): LinuxBackend {
  return new LinuxBackendImpl(options);
}
