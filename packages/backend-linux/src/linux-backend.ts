/**
 * The Linux backend: admission (atomic handle and max-containers checks), the create sequence
 * over independent parts (state → rootfs → cgroup/limits → runtime init → network → created),
 * destroy (the reverse, releasing everything), listing, bulk calls, capacity, and startup
 * recovery + reconciliation of the depot.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
} from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  type Backend,
  type Capacity,
  type Container,
  type ContainerInfoEntry,
  type ContainerMetricsEntry,
  ContainerNotFoundError,
  type ContainerSpec,
  type Duration,
  GardenError,
  InvalidRequestError,
  type Properties,
} from '@garden-ts/api-types';
import {
  attach,
  cgroupDirs,
  cgroupPids,
  createContainer,
  type Container as NativeContainer,
  Container as NativeContainerClass,
  removeTree,
  signalCgroup,
  unmountAsync,
} from '@garden-ts/native-ns';
import { cgroupLayout, cgroupOf, createContainerCgroup, removeContainerCgroup } from './cgroup-part.js';
import { chooseHostHelper } from './host-tools.js';
import { LinuxContainer } from './linux-container.js';
import { LinuxProcess } from './linux-process.js';
import { checkName, generateName, hostnameOf, storageId } from './names.js';
import { chooseImage, lowerDirFor, mountOverlay, unmountRootfs, writeEtcFiles } from './rootfs.js';
import { defaultRunDir, ensureRunDir, listProcessDirs, releaseRunDir } from './run-dir.js';
import { resolveInRoot } from './safe-path.js';
import { type ContainerRecord, StateStore } from './state-store.js';

/** Minimal structured logger (pino-compatible subset). */
export interface BackendLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link createLinuxBackend}. */
export interface LinuxBackendOptions {
  /** Depot directory: one entry per container (record, overlay upper/work). */
  depot: string;
  /**
   * Volatile state (process rings, sockets, exit files, hosts/resolv.conf copies); should be a
   * tmpfs. Default `/run/garden-ts/<hash of depot>`, on a tmpfs mounted at /run/garden-ts when
   * /run is not one.
   */
  runDir?: string;
  /** Rootfs for creates without one: a directory, or `raw://DIR`. */
  defaultRootfs?: string;
  /** 0 / absent = unlimited. Counts containers being created and destroyed too. */
  maxContainers?: number;
  /** Destroy every container found in the depot at `start()` (Diego-style). */
  destroyContainersOnStartup?: boolean;
  logger?: BackendLogger;
  /** cgroup directory (relative to each hierarchy root) holding the containers. Default `garden`. */
  cgroupParent?: string;
  /** Seconds of SIGTERM before SIGKILL in `stop(false)`. Default 10 (Guardian). */
  stopTimeoutSeconds?: number;
  /**
   * A statically linked multi-call binary providing `tar` and `sh` for StreamIn/StreamOut and
   * directory creation inside containers, exec'd from a sealed copy (Guardian also brings its own
   * tar). Default `/bin/busybox` when it exists and is static; `false`: the image's own tools.
   */
  helperExecutable?: string | false;
}

const silent: BackendLogger = { info() {}, warn() {}, error() {} };

/** Guardian's MaxContainers without a pool or a flag: its default pool holds 256 /30 subnets. */
const DEFAULT_MAX_CONTAINERS = 256n;

/** The `Backend` returned by {@link createLinuxBackend}, with a few extras for tests and operators. */
export interface LinuxBackend extends Backend {
  /** Handles of every container the backend knows, in any phase. */
  handles(): string[];
  /** The depot directory. */
  readonly depot: string;
  /** The run directory (volatile state, tmpfs). */
  readonly runDir: string;
  /** Resolves once background removals of destroyed containers' depot dirs are done. */
  settled(): Promise<void>;
  /** The cgroup parent path. */
  readonly cgroupParent: string;
}

class LinuxBackendImpl implements LinuxBackend {
  readonly depot: string;
  readonly runDir: string;
  readonly cgroupParent: string;
  private readonly store: StateStore;
  /** Destroyed containers' depot dirs are renamed here and removed in the background. */
  private readonly trash: string;
  private readonly removals = new Set<Promise<void>>();
  private readonly hostHelper: string | undefined;
  private readonly byHandle = new Map<string, LinuxContainer>();
  /** Handles admitted (creating, created or destroying): the admission count. */
  private readonly admitted = new Set<string>();
  private readonly ids = new Set<string>();
  private readonly log: BackendLogger;
  private readonly cpuPerShare: number;
  private started: Promise<void> | undefined;

  constructor(private readonly options: LinuxBackendOptions) {
    if (typeof options.depot !== 'string' || !options.depot.startsWith('/'))
      throw new InvalidRequestError('depot', 'depot must be an absolute path');
    if (
      options.maxContainers !== undefined &&
      !(Number.isInteger(options.maxContainers) && options.maxContainers >= 0)
    ) {
      throw new InvalidRequestError('maxContainers', 'maxContainers must be a non-negative integer');
    }
    this.depot = options.depot;
    this.cgroupParent = options.cgroupParent ?? 'garden';
    mkdirSync(this.depot, { recursive: true, mode: 0o711 });
    // Bind-mount sources (hosts, resolv.conf) are opened by the container's mapped root: it needs
    // search permission on the way down (never read or write).
    const mode = statSync(this.depot).mode & 0o7777;
    if ((mode & 0o111) !== 0o111) chmodSync(this.depot, mode | 0o111);
    this.store = new StateStore(this.depot);
    this.trash = join(this.depot, 'trash');
    mkdirSync(this.trash, { recursive: true, mode: 0o700 });
    this.runDir = options.runDir ?? defaultRunDir(this.depot);
    if (!this.runDir.startsWith('/'))
      throw new InvalidRequestError('runDir', 'runDir must be an absolute path');
    ensureRunDir(this.runDir);
    try {
      this.hostHelper = chooseHostHelper(options.helperExecutable);
    } catch (e) {
      throw new InvalidRequestError('helperExecutable', (e as Error).message);
    }
    this.log = options.logger ?? silent;
    // Guardian's auto default: cores × 100 / total RAM in MiB (percent per share).
    this.cpuPerShare = (availableParallelism() * 100) / (totalmem() / (1024 * 1024));
  }

  handles(): string[] {
    return [...this.byHandle.keys()];
  }

  private host() {
    return {
      store: this.store,
      runDir: this.runDir,
      hostHelper: this.hostHelper,
      cpuPerShare: this.cpuPerShare,
      stopTimeoutSeconds: this.options.stopTimeoutSeconds ?? 10,
      live: (h: string) => this.live(h),
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

  async stop(): Promise<void> {
    const none = this.admitted.size === 0;
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
    await this.settled();
    // Nothing left to survive a restart: leave no empty run dir (nor, when it was the last one,
    // our /run/garden-ts tmpfs) behind; start() recreates them.
    if (none) releaseRunDir(this.runDir);
  }

  async ping(): Promise<void> {}

  async settled(): Promise<void> {
    while (this.removals.size > 0) await Promise.allSettled([...this.removals]);
  }

  /**
   * Moves a depot dir into `<depot>/trash` (one atomic rename: the id is free at once, nothing
   * lists the entry any more, and a restart only has to finish removing it). Returns the new
   * path, or undefined when there was no such dir.
   */
  private toTrash(dir: string): string | undefined {
    const target = join(this.trash, `${Date.now()}-${Math.random().toString(36).slice(2)}`);
    try {
      renameSync(dir, target);
      return target;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Unmounts a trashed depot dir's rootfs and deletes the dir, off the request path. */
  private removeInBackground(path: string): void {
    const p: Promise<void> = (async () => {
      // A stacked mount (never ours, but possible) comes off one per call.
      for (let i = 0; i < 10 && (await unmountAsync(join(path, 'rootfs'), { detach: true })); i++);
      await removeTree(path);
    })()
      .catch((e: Error) => this.log.warn({ path, err: e.message }, 'removing a destroyed depot dir'))
      .finally(() => this.removals.delete(p));
    this.removals.add(p);
  }

  async capacity(): Promise<Capacity> {
    const fs = statfsSync(this.depot);
    const disk = BigInt(fs.blocks) * BigInt(fs.bsize);
    const max = this.options.maxContainers ? BigInt(this.options.maxContainers) : DEFAULT_MAX_CONTAINERS;
    return {
      memoryInBytes: BigInt(totalmem()),
      diskInBytes: disk,
      schedulableDiskInBytes: disk,
      maxContainers: max,
    };
  }

  async create(spec: ContainerSpec): Promise<Container> {
    await this.start();
    const handle = spec.handle || generateName();
    checkName('handle', handle);
    // Refuse rather than silently ignore what this backend cannot do yet (no NetIn/NetOut).
    if (spec.netIn?.length || spec.netOut?.length)
      throw new GardenError(
        `${spec.netIn?.length ? 'netin' : 'netout_rules'} is not supported yet by the linux backend (containers have a private network namespace with only lo)`,
      );
    const id = storageId(handle);
    // Admission, synchronously (no await between check and reservation): atomic in Node.
    if (this.admitted.has(handle) || this.ids.has(id))
      throw new GardenError(`Handle '${handle}' already in use`);
    const max = this.options.maxContainers ?? 0;
    if (max > 0 && this.admitted.size >= max) throw new GardenError('max containers reached');
    this.admitted.add(handle);
    this.ids.add(id);
    let container: LinuxContainer | undefined;
    try {
      container = await this.build(handle, id, spec);
      return container.view();
    } catch (e) {
      this.log.warn({ handle, err: (e as Error).message }, 'create failed; cleaning up');
      await this.teardown(id, this.byHandle.get(handle)).catch((err: Error) =>
        this.log.error({ handle, err: err.message }, 'cleanup after failed create'),
      );
      this.byHandle.delete(handle);
      this.admitted.delete(handle);
      this.ids.delete(id);
      throw e;
    }
  }

  private async build(handle: string, id: string, spec: ContainerSpec): Promise<LinuxContainer> {
    const privileged = spec.privileged === true;
    const image = chooseImage(spec.rootfsPath, spec.image?.uri, this.options.defaultRootfs);
    for (const [i, e] of (spec.env ?? []).entries()) {
      if (!e.includes('='))
        throw new InvalidRequestError(
          `env[${i}]`,
          `env entries must look like KEY=value: ${JSON.stringify(e)}`,
        );
    }
    const binds = (spec.bindMounts ?? []).map((b, i) => {
      if (!b.srcPath || !b.dstPath)
        throw new InvalidRequestError(`bind_mounts[${i}]`, 'bind mounts need src_path and dst_path');
      if (!b.dstPath.startsWith('/'))
        throw new InvalidRequestError(`bind_mounts[${i}].dst_path`, 'dst_path must be absolute');
      return b;
    });
    const dir = this.store.dirOf(id);
    // No record is written until the container is complete: startup removes a depot entry
    // without one, and everything made before it (cgroup, mounts, run dir) is found by id.
    mkdirSync(dir, { mode: 0o711 });
    const runDir = join(this.runDir, id);
    try {
      mkdirSync(runDir, { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      ensureRunDir(this.runDir); // a stop() (of another instance on this depot) released it
      mkdirSync(runDir, { mode: 0o711 });
    }
    const record: ContainerRecord = {
      version: 1,
      handle,
      id,
      phase: 'creating',
      createdAt: Date.now(),
      privileged,
      hostname: hostnameOf(handle),
      lowerDir: image.path,
      env: [...(spec.env ?? [])],
      properties: { ...(spec.properties ?? {}) },
      limits: {},
      graceTime: String(spec.graceTime ?? 0n),
      stopped: false,
      events: [],
      oomKills: 0,
      cgroupPath: `${this.cgroupParent}/${id}`,
    };
    const container = new LinuxContainer(record, undefined, this.host());
    this.byHandle.set(handle, container);
    // rootfs
    const lower = await lowerDirFor(this.depot, image, privileged);
    record.lowerDir = lower;
    // The overlay is made on the thread pool while the event loop writes the etc files and the
    // cgroup (mkdir in every hierarchy, limits).
    const overlay = mountOverlay(dir, lower, privileged);
    let etc: ReturnType<typeof writeEtcFiles>;
    let cgroup: ReturnType<typeof createContainerCgroup>;
    try {
      etc = writeEtcFiles(runDir, record.hostname, privileged);
      cgroup = createContainerCgroup(record.cgroupPath, spec.limits, privileged);
    } finally {
      // Settled before anything else happens (teardown must see the mount if there is one).
      await overlay.catch(() => undefined);
    }
    const rootfs = await overlay;
    const { set, applied } = cgroup;
    record.limits = applied;
    // bind mount sources: origin Container means a path inside the container's rootfs.
    const nativeBinds = binds.map((b, i) => {
      // Origin Container: a path in the container's rootfs, its symlinks resolved inside the root
      // (an image's absolute link must not point the bind at a host directory).
      const source = b.origin === 1 ? resolveInRoot(rootfs, b.srcPath as string) : (b.srcPath as string);
      if (source === undefined || !existsSync(source))
        throw new GardenError(`bind mount source ${b.srcPath} does not exist (bind_mounts[${i}])`);
      return { source, destination: b.dstPath as string, readOnly: b.mode !== 1 };
    });
    // runtime; the network part is the new network namespace, whose `lo` native-ns brings up
    // before init runs (create fails if it cannot). Bridge/veth and NetIn/NetOut slot in after
    // init exists and before the record says `created`.
    let init: NativeContainer;
    try {
      init = await createContainer({
        rootfs,
        hostname: record.hostname,
        privileged,
        cgroups: cgroupDirs(set),
        env: record.env,
        bindMounts: [
          // Privileged containers get FUSE (reference §2.6 / issue: "/dev/fuse").
          ...(privileged && existsSync('/dev/fuse')
            ? [{ source: '/dev/fuse', destination: '/dev/fuse', readOnly: false }]
            : []),
          ...nativeBinds,
          { source: etc.hosts, destination: '/etc/hosts' },
          { source: etc.resolv, destination: '/etc/resolv.conf' },
        ].map((b) => ({
          ...b,
          readOnly: 'readOnly' in b ? b.readOnly : false,
        })),
      });
    } catch (e) {
      throw new GardenError(`creating the container failed: ${(e as Error).message}`);
    }
    container.init = init;
    record.init = { pid: init.pid, startTime: String(init.startTime) };
    record.phase = 'created';
    container.save();
    return container;
  }

  /** Releases every resource of a depot entry (used by destroy, failed creates and reconciliation). */
  private async teardown(
    id: string,
    container: LinuxContainer | undefined,
    record = container?.record ?? this.store.read(id),
    dir = this.store.dirOf(id),
  ): Promise<void> {
    let init = container?.init;
    if (!init && record?.init) {
      try {
        init = NativeContainerClass.open(record.init.pid, {
          privileged: record.privileged,
          startTime: BigInt(record.init.startTime),
        });
      } catch {
        init = undefined;
      }
    }
    this.log.info({ id, init: init?.pid }, 'teardown: killing init');
    if (init) await init.destroy();
    this.log.info({ id }, 'teardown: init gone');
    const cgroupPath = record?.cgroupPath ?? `${this.cgroupParent}/${id}`;
    await this.killCgroup(cgroupPath);
    if (container) {
      // Shims see their process die and finish: give attachers their exit status (137).
      await Promise.race([
        Promise.allSettled([...container.processes.values()].map((p) => p.wait())),
        new Promise((r) => setTimeout(r, 5000)),
      ]);
    }
    this.log.info({ id }, 'teardown: removing cgroup');
    await removeContainerCgroup(cgroupPath).catch((e: Error) =>
      this.log.warn({ id, err: e.message }, 'cgroup removal'),
    );
    // The run dir (tmpfs) is renamed out of the way at once and deleted in the background too.
    const run = join(this.runDir, id);
    const runTrash = join(this.runDir, `.trash-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    try {
      renameSync(run, runTrash);
      this.removeInBackground(runTrash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') rmSync(run, { recursive: true, force: true });
    }
    // Unmounting the overlay and deleting the depot dir happen in the background, from the trash.
    let trashed: string | undefined;
    try {
      trashed = dir.startsWith(`${this.trash}/`) ? dir : this.toTrash(dir);
    } catch (e) {
      this.log.warn({ dir, err: (e as Error).message }, 'moving to trash failed; removing in place');
      unmountRootfs(dir);
      rmSync(dir, { recursive: true, force: true });
    }
    if (trashed) this.removeInBackground(trashed);
    this.log.info({ id }, 'teardown: done');
  }

  /** SIGKILLs whatever is still in a cgroup (processes of a privileged container may escape the pid ns kill). */
  private async killCgroup(path: string): Promise<void> {
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
    // The depot entry goes to the trash first: that rename is the durable "being destroyed"
    // mark (a restart finishes the job; the orphaned cgroup and init are swept by id).
    let dir = this.store.dirOf(c.record.id);
    try {
      dir = this.toTrash(dir) ?? dir;
    } catch (e) {
      this.log.warn({ handle, err: (e as Error).message }, 'moving to trash failed');
      this.store.write(c.record);
    }
    try {
      await this.teardown(c.record.id, c, c.record, dir);
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
    const out: Record<string, ContainerInfoEntry> = {};
    for (const h of handles) {
      try {
        out[h] = { info: this.live(h).info() };
      } catch (e) {
        out[h] = { error: e as Error };
      }
    }
    return out;
  }

  async bulkMetrics(handles: string[]): Promise<Record<string, ContainerMetricsEntry>> {
    await this.start();
    const out: Record<string, ContainerMetricsEntry> = {};
    for (const h of handles) {
      try {
        out[h] = { metrics: this.live(h).metrics() };
      } catch (e) {
        out[h] = { error: e as Error };
      }
    }
    return out;
  }

  async graceTime(container: Container): Promise<Duration> {
    return BigInt(this.live(container.handle).record.graceTime);
  }

  // ---- startup ----------------------------------------------------------------------------------

  /**
   * Re-opens every container whose record is intact (init pid + start time), re-attaches its
   * processes, and removes what has no record: half-created or half-destroyed entries, cgroups
   * and mounts of unknown containers, temp image builds. A healthy container is never destroyed.
   */
  private async recover(): Promise<void> {
    cgroupLayout();
    ensureRunDir(this.runDir); // a stop() with no containers removed it
    const known = new Set<string>();
    for (const id of this.store.entries()) {
      const record = this.store.read(id);
      if (record?.phase !== 'created') {
        this.log.warn({ id, phase: record?.phase }, 'removing incomplete depot entry');
        await this.teardown(id, undefined, record).catch((e: Error) =>
          this.log.error({ id, err: e.message }, 'reconcile'),
        );
        continue;
      }
      let init: NativeContainer | undefined;
      if (record.init) {
        try {
          init = NativeContainerClass.open(record.init.pid, {
            privileged: record.privileged,
            startTime: BigInt(record.init.startTime),
            cgroups: (() => {
              const d = cgroupDirs(cgroupOf(record.cgroupPath));
              return d.v2 ? [...d.v1, d.v2] : d.v1;
            })(),
          });
        } catch {
          this.log.warn(
            { handle: record.handle },
            'container init is gone; keeping the record (destroy it to release it)',
          );
        }
      }
      const container = new LinuxContainer(record, init, this.host());
      this.byHandle.set(record.handle, container);
      this.admitted.add(record.handle);
      this.ids.add(id);
      known.add(id);
      for (const { dir: pdir, meta } of listProcessDirs(container.runDir)) {
        try {
          const conn = await attach(pdir, { from: 'undelivered' });
          container.processes.set(
            meta.id,
            new LinuxProcess(meta.id, pdir, conn, () => container.refreshEvents()),
          );
        } catch (e) {
          this.log.warn(
            { handle: record.handle, process: meta.id, err: (e as Error).message },
            're-attach failed',
          );
        }
      }
      container.refreshEvents();
    }
    this.removeOrphanCgroups(known);
    // Run dirs of containers with no depot entry (destroyed while we were down, or never made).
    for (const e of readdirSync(this.runDir))
      if (!known.has(e)) rmSync(join(this.runDir, e), { recursive: true, force: true });
    for (const e of readdirSync(this.trash)) this.removeInBackground(join(this.trash, e));
    const images = join(this.depot, 'images');
    if (existsSync(images))
      for (const e of readdirSync(images))
        if (e.startsWith('.tmp-')) rmSync(join(images, e), { recursive: true, force: true });
    if (this.options.destroyContainersOnStartup) {
      await Promise.all(
        [...this.byHandle.keys()].map((h) =>
          this.destroyNow(h).catch((e: Error) =>
            this.log.error({ handle: h, err: e.message }, 'destroy on startup'),
          ),
        ),
      );
    }
  }

  private removeOrphanCgroups(known: Set<string>): void {
    const layout = cgroupLayout();
    for (const mnt of new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) {
      const parent = join(mnt, this.cgroupParent);
      if (!existsSync(parent)) continue;
      for (const e of readdirSync(parent, { withFileTypes: true })) {
        if (!e.isDirectory() || known.has(e.name)) continue;
        const set = cgroupOf(`${this.cgroupParent}/${e.name}`);
        void (async () => {
          await this.killCgroup(set.path);
          try {
            await removeContainerCgroup(set.path);
          } catch (err) {
            this.log.warn(
              { cgroup: join(parent, e.name), err: (err as Error).message },
              'orphan cgroup removal',
            );
          }
        })();
      }
    }
  }
}

/**
 * Creates a Linux backend. Call `start()` (or any method; they start it lazily) to recover the
 * containers of an existing depot.
 * @throws InvalidRequestError for a relative depot or a bad maxContainers.
 */
export function createLinuxBackend(options: LinuxBackendOptions): LinuxBackend {
  return new LinuxBackendImpl(options);
}
