/**
 * The runtime part (Guardian's containerizer): the container's init (`garden-init`), in the cgroup
 * the cgroup part made, in new mount/uts/ipc/pid/net(/user) namespaces through native-ns, with the
 * spec's bind mounts and those earlier parts asked for, and the network devices the network part
 * asked for (made while init mounts its root). Destroy kills init (the kernel then kills the
 * whole pid namespace) and whatever is left in the cgroup and lets the shims report their exits
 * (the cgroup part then removes the cgroup). Restore re-opens init and re-attaches every process
 * through its shim.
 */
import { existsSync } from 'node:fs';
import { type ContainerSpec, GardenError, InvalidRequestError, type Metrics } from '@garden-ts/api-types';
import { checkContainerLimits, errorFields } from '@garden-ts/backend-kit';
import {
  attach,
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
import { cgroupOf, killCgroup } from './cgroups.js';
import { LinuxProcess } from './linux-process.js';
import { cgroupMetrics } from './metrics.js';

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
    const { cgroup } = ctx;
    if (!cgroup || !ctx.rootfs)
      throw new GardenError('the cgroup and rootfs parts must run before the runtime part');
    // Mounted on the thread pool while the parts since the rootfs part prepared.
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
        cgroups: cgroupDirs(cgroup),
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
    // Empty when the create failed before the cgroup part ran (e.g. in the store part).
    await killCgroup(record?.cgroupPath || `${this.cgroupParent}/${ctx.id}`);
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
    // The cgroup part removes the (now empty) cgroup.
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

  metrics(c: LinuxContainer, metrics: Metrics): void {
    Object.assign(metrics, cgroupMetrics(readCgroupStats(cgroupOf(c.record.cgroupPath))));
  }
}
