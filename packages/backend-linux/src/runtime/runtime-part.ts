/**
 * The runtime part (Guardian's containerizer): the container's cgroup with its limits, then its
 * init (`garden-init`) in new mount/uts/ipc/pid/net(/user) namespaces through native-ns, with the
 * spec's bind mounts and those earlier parts asked for, and the network devices the network part
 * asked for (made while init mounts its root). Destroy kills init (the kernel then kills
 * the whole pid namespace) and whatever is left in the cgroup, lets the shims report their exits,
 * and removes the cgroup. Restore re-opens init and re-attaches every process through its shim.
 */
import { existsSync } from 'node:fs';
import { type ContainerSpec, GardenError, InvalidRequestError, type Metrics } from '@garden-ts/api-types';
import { checkContainerLimits, errorFields } from '@garden-ts/backend-kit';
import {
  attach,
  cgroupChildren,
  cgroupDirs,
  createContainer,
  Container as NativeContainer,
  readCgroupStats,
} from '@garden-ts/native-ns';
import type { LinuxContainer } from '../container.js';
import { listProcessDirs } from '../depot/run-dir.js';
import { resolveInRoot } from '../files/safe-path.js';
import type { BackendLogger } from '../options.js';
import type { CreateContext, DestroyContext, InitBindMount, Part } from '../part.js';
import { cgroupOf, createContainerCgroup, killCgroup, removeContainerCgroup } from './cgroups.js';
import { LinuxProcess } from './linux-process.js';
import { cgroupMetrics } from './metrics.js';
import { isPeaCgroupOf } from './peas.js';

/** Guardian's /dev/fuse of privileged containers (its devices cgroup allows 10:229, cgroups.ts). */
const FUSE = { name: 'fuse', major: 10, minor: 229, mode: 0o666 };

/** How long a destroy waits for the shims to report the exits of the killed processes. */
const EXIT_REPORT_MS = 5000;

export class RuntimePart implements Part {
  readonly name = 'runtime';

  constructor(
    /** cgroup directory (in every hierarchy) holding the containers. */
    private readonly cgroupParent: string,
    private readonly log: BackendLogger,
  ) {}

  /** The cgroup path of a container. */
  cgroupPath(id: string): string {
    return `${this.cgroupParent}/${id}`;
  }

  validate(spec: ContainerSpec): void {
    // Limits the kernel cannot take are refused here, before any part makes anything.
    checkContainerLimits(spec.limits);
    for (const [i, e] of (spec.env ?? []).entries()) {
      if (!e.includes('='))
        throw new InvalidRequestError(
          `env[${i}]`,
          `env entries must look like KEY=value: ${JSON.stringify(e)}`,
        );
    }
    for (const [i, b] of (spec.bindMounts ?? []).entries()) {
      if (!b.srcPath || !b.dstPath)
        throw new InvalidRequestError(`bind_mounts[${i}]`, 'bind mounts need src_path and dst_path');
      if (!b.dstPath.startsWith('/'))
        throw new InvalidRequestError(`bind_mounts[${i}].dst_path`, 'dst_path must be absolute');
    }
  }

  async create(ctx: CreateContext): Promise<void> {
    const { record, spec } = ctx;
    record.cgroupPath = this.cgroupPath(record.id);
    // Made while the rootfs part's overlay mount is still running on the thread pool.
    let cgroup: ReturnType<typeof createContainerCgroup>;
    try {
      cgroup = createContainerCgroup(record.cgroupPath, spec.limits, record.privileged);
    } finally {
      // Settled before anything else happens (a teardown must see the mount if there is one).
      await ctx.rootfs?.catch(() => undefined);
    }
    Object.assign(record.limits, cgroup.applied);
    if (!ctx.rootfs) throw new GardenError('no rootfs part ran before the runtime part');
    const rootfs = await ctx.rootfs;
    const network = ctx.network ? await ctx.network : undefined;
    const binds: InitBindMount[] = (spec.bindMounts ?? []).map((b, i) => {
      // Origin Container: a path in the container's rootfs, its symlinks resolved inside the root
      // (an image's absolute link must not point the bind at a host directory).
      const source = b.origin === 1 ? resolveInRoot(rootfs, b.srcPath as string) : (b.srcPath as string);
      if (source === undefined || !existsSync(source))
        throw new GardenError(`bind mount source ${b.srcPath} does not exist (bind_mounts[${i}])`);
      return { source, destination: b.dstPath as string, readOnly: b.mode !== 1 };
    });
    try {
      ctx.init = await createContainer({
        rootfs,
        hostname: record.hostname,
        privileged: record.privileged,
        cgroups: cgroupDirs(cgroup.set),
        // Unprivileged containers see their own cgroups read-only (reference §5.4; none when
        // privileged, as Guardian).
        cgroupfs: !record.privileged,
        env: record.env,
        bindMounts: [...binds, ...ctx.bindMounts],
        // Privileged containers get FUSE, 0666 (reference §5.5; the host's node is often 0600).
        ...(record.privileged ? { deviceNodes: [FUSE] } : {}),
        // The network part's veth pair, made while init mounts its root.
        ...(network ? { network } : {}),
      });
    } catch (e) {
      const what =
        (e as { stage?: string }).stage === 'network'
          ? "setting up the container's network"
          : 'creating the container';
      throw new GardenError(`${what} failed: ${(e as Error).message}`, { cause: e });
    }
    record.init = { pid: ctx.init.pid, startTime: String(ctx.init.startTime) };
  }

  async destroy(ctx: DestroyContext): Promise<void> {
    if (ctx.id === undefined) return;
    const { record, container } = ctx;
    let init = container?.init;
    if (!init && record?.init) {
      try {
        init = NativeContainer.open(record.init.pid, {
          privileged: record.privileged,
          startTime: BigInt(record.init.startTime),
        });
      } catch {
        init = undefined;
      }
    }
    if (init) await init.destroy();
    // Empty when the create failed before this part ran (e.g. in the rootfs part).
    const cgroupPath = record?.cgroupPath || this.cgroupPath(ctx.id);
    await killCgroup(cgroupPath);
    if (container) {
      // Shims see their process die and finish: give attachers their exit status (137).
      await Promise.race([
        Promise.allSettled([...container.processes.values()].map((p) => p.wait())),
        new Promise((r) => setTimeout(r, EXIT_REPORT_MS)),
      ]);
      // Nothing can attach to them any more: their undelivered output goes now, not whenever the
      // last reference to this container (a server's stream bookkeeping) goes.
      for (const p of container.processes.values()) p.dispose();
      container.processes.clear();
    }
    await removeContainerCgroup(cgroupPath).catch((e) =>
      this.log.warn({ id: ctx.id, ...errorFields(e) }, 'cgroup removal'),
    );
  }

  async restore(c: LinuxContainer): Promise<void> {
    const { record } = c;
    if (record.init) {
      try {
        const d = cgroupDirs(cgroupOf(record.cgroupPath));
        c.init = NativeContainer.open(record.init.pid, {
          privileged: record.privileged,
          startTime: BigInt(record.init.startTime),
          cgroups: d.v2 ? [...d.v1, d.v2] : d.v1,
        });
      } catch {
        this.log.warn(
          { handle: record.handle },
          'container init is gone; keeping the record (destroy it to release it)',
        );
      }
    }
    for (const { dir, meta } of listProcessDirs(c.runDir)) {
      try {
        const conn = await attach(dir, { from: 'undelivered' });
        c.processes.set(
          meta.id,
          new LinuxProcess(meta.id, dir, conn, (p, status) => c.processExited(p.id, status)),
        );
      } catch (e) {
        this.log.warn({ handle: record.handle, process: meta.id, ...errorFields(e) }, 're-attach failed');
      }
    }
    // OOM kills while the server was down.
    c.refreshEvents();
  }

  /** cgroups under the parent with no container: their processes are killed, then they go. */
  reconcile(known: ReadonlySet<string>): void {
    for (const name of cgroupChildren(cgroupOf(this.cgroupParent))) {
      // A pea's own cgroup of a known container: the pea part's.
      if (known.has(name) || isPeaCgroupOf(name, known)) continue;
      const path = this.cgroupPath(name);
      void (async () => {
        await killCgroup(path);
        await removeContainerCgroup(path);
      })().catch((e) => this.log.warn({ cgroup: path, ...errorFields(e) }, 'orphan cgroup removal'));
    }
  }

  metrics(c: LinuxContainer, metrics: Metrics): void {
    Object.assign(metrics, cgroupMetrics(readCgroupStats(cgroupOf(c.record.cgroupPath))));
  }
}
