/**
 * Run and Attach: a process spec becomes a native-ns spawn through a garden-shim (reference §3):
 * id rules, user and environment, working directory (created when missing), rlimits, tty,
 * per-process limits, security, and Garden's errors for what goes wrong.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ExecutableNotFoundError,
  GardenError,
  type Process,
  type ProcessIO,
  ProcessNotFoundError,
  type ProcessSpec,
} from '@garden-ts/api-types';
import { checkName, checkProcessLimits, generateName, processEnv } from '@garden-ts/backend-kit';
import {
  allCgroupDirs,
  NativeError,
  ExecutableNotFoundError as NativeExecutableNotFoundError,
  type ProcessSpec as NativeProcessSpec,
  type ShimProcess,
  spawn,
} from '@garden-ts/native-ns';
import type { LinuxContainer } from '../container.js';
import { storageId } from '../depot/names.js';
import { PROCESS_META, type ProcessMeta } from '../depot/run-dir.js';
import { containerPath } from '../files/archive.js';
import { ensureDir } from '../files/helper-process.js';
import { createProcessCgroup } from './cgroups.js';
import { LinuxProcess } from './linux-process.js';
import type { PreparedPea } from './peas.js';
import { runAs } from './security.js';

/** A per-process child cgroup when the spec overrides the container's memory or CPU limits. */
function processCgroup(c: LinuxContainer, spec: ProcessSpec, id: string) {
  const override = spec.overrideContainerLimits;
  const memoryBytes = override?.memory?.limitInBytes;
  const shares = override?.cpu?.weight || override?.cpu?.limitInShares;
  if (!((memoryBytes ?? 0n) > 0n || (shares ?? 0n) > 0n)) return undefined;
  return createProcessCgroup(c.record.cgroupPath, `p-${storageId(id)}`, { memoryBytes, shares });
}

/** A fresh process dir in the container's run dir (leftovers of a lost process with this id go). */
function processDir(c: LinuxContainer, id: string): string {
  const dir = join(c.runDir, 'p', storageId(id));
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) === undefined) {
    // Leftovers of a process with this id that could not be re-attached after a restart.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
  }
  return dir;
}

/**
 * Starts a process in the container and attaches `io`.
 * @throws InvalidRequestError for a bad id or pea image; GardenError for a duplicate id (`process
 *   ID '<id>' already in use`), an unknown user, bind mounts without an image, a pea that cannot
 *   be made; ExecutableNotFoundError; GardenError `running <path> failed: …` with the native
 *   error (code, errno, stage) as `cause`.
 */
export async function runProcess(c: LinuxContainer, spec: ProcessSpec, io: ProcessIO): Promise<Process> {
  if (spec.bindMounts && spec.bindMounts.length > 0 && !spec.image?.uri)
    throw new GardenError('Running a process with bind mounts and no image provided is not allowed');
  if (!spec.path) throw new GardenError('process path must not be empty');
  checkProcessLimits(spec.overrideContainerLimits);
  const id = spec.id || generateName();
  checkName('id', id);
  if (c.processes.has(id) || c.starting.has(id)) throw new GardenError(`process ID '${id}' already in use`);
  c.starting.add(id);
  try {
    c.requireInit(); // a container whose init is gone runs nothing
    // A pea (its own image): its own rootfs and mount namespace, the container's other namespaces.
    const pea = spec.image?.uri ? await c.host.peas.prepare(c, spec, id) : undefined;
    let proc: LinuxProcess | undefined;
    try {
      proc = await start(c, spec, id, pea);
    } finally {
      // The pea's init only held its mount namespace until the process joined it.
      await pea?.init.destroy().catch(() => undefined);
      if (pea && !proc) await c.host.peas.release(pea.meta).catch(() => undefined);
    }
    if (pea) c.host.peas.releaseAfter(proc.wait(), pea.meta);
    return proc.attach(io);
  } finally {
    c.starting.delete(id);
  }
}

/** Spawns the process (into the container, or into its pea) and registers it. */
async function start(c: LinuxContainer, spec: ProcessSpec, id: string, pea: PreparedPea | undefined) {
  const path = spec.path as string;
  const user = pea ? pea.user : c.resolveUser(spec.user);
  // A pea's env heads with its image's, not the container's; its default dir is / (Guardian).
  const env = processEnv(pea ? pea.env : c.record.env, spec.env, {
    spec: spec.user,
    uid: user.uid,
    home: user.home,
  });
  const cwd = spec.dir ? containerPath(spec.dir, '/') : pea ? '/' : user.home;
  await ensureDir(c, cwd, user, pea ? { rootfs: pea.rootfs, init: pea.init } : undefined);
  const rlimits: NativeProcessSpec['rlimits'] = {};
  for (const [k, v] of Object.entries(spec.rlimits ?? {}))
    if (v !== undefined) (rlimits as Record<string, bigint>)[k] = v;
  const dir = processDir(c, id);
  // A pea's process joins the pea's cgroups (its init's): the container's, or its own.
  const cgroup = pea ? undefined : processCgroup(c, spec, id);
  // What a restarted server needs to re-attach (the run dir survives a crash of the server).
  const meta: ProcessMeta = {
    id,
    tty: spec.tty !== undefined,
    startedAt: Date.now(),
    ...(pea ? { pea: pea.meta } : {}),
  };
  writeFileSync(join(dir, PROCESS_META), JSON.stringify(meta), { mode: 0o600 });
  let conn: ShimProcess;
  try {
    conn = await spawn(
      pea ? pea.init : c.requireInit(),
      {
        path,
        args: [path, ...(spec.args ?? [])],
        env,
        cwd,
        rlimits,
        ...runAs(user, c.record.privileged),
        ...(meta.tty
          ? {
              tty: { columns: spec.tty?.windowSize?.columns || 80, rows: spec.tty?.windowSize?.rows || 24 },
            }
          : {}),
        ...(cgroup ? { cgroups: allCgroupDirs(cgroup) } : {}),
      },
      { dir },
    );
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    if (e instanceof NativeExecutableNotFoundError)
      throw new ExecutableNotFoundError(`exec: "${path}": executable file not found in $PATH`, {
        cause: e,
      });
    if (e instanceof NativeError) throw new GardenError(`running ${path} failed: ${e.message}`, { cause: e });
    throw e;
  }
  const proc = new LinuxProcess(id, dir, conn, (p, status) => c.processExited(p.id, status));
  c.processes.set(id, proc);
  return proc;
}

/** Attaches `io` to a process of the container. @throws ProcessNotFoundError */
export function attachProcess(c: LinuxContainer, id: string, io: ProcessIO): Process {
  const proc = c.processes.get(id);
  if (!proc) throw new ProcessNotFoundError(id);
  return proc.attach(io);
}
