/**
 * The volatile run directory: per-container and per-process state that only lives as long as the
 * processes it describes (garden-shim output rings, control sockets, exit files, process
 * metadata, the /etc/hosts and /etc/resolv.conf copies bind-mounted into containers). It is on a
 * tmpfs, like runc's and crun's /run state: it survives a crash or restart of the server (which is
 * what restart survival needs), but not a reboot, which ends every container process anyway. The
 * depot keeps only what must outlive that (records, overlay upper dirs).
 *
 * Why not the depot: each process creates a handful of small files, and on a disk filesystem
 * with churn (ext4: inode allocation skipping recently deleted inodes) each creation can cost
 * milliseconds; on tmpfs the whole spawn takes about a millisecond.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statfsSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { GardenError } from '@garden-ts/api-types';
import { mountTmpfs, unmount } from '@garden-ts/native-ns';
import type { PeaMeta } from '../runtime/peas.js';

/** Where default run directories live (one per depot). */
export const RUN_ROOT = '/run/garden-ts';
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

/** File in each process dir (`<runDir>/<container id>/p/<process>`) naming the process. */
export const PROCESS_META = 'meta.json';

/** Contents of {@link PROCESS_META}. */
export interface ProcessMeta {
  id: string;
  tty: boolean;
  /** ms since the epoch. */
  startedAt: number;
  /** What the process's pea holds, when it runs in one (runtime/peas.ts). */
  pea?: PeaMeta;
}

/** The process dirs under a container's run dir with a readable meta file, in start order. */
export function listProcessDirs(containerRunDir: string): { dir: string; meta: ProcessMeta }[] {
  const base = join(containerRunDir, 'p');
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  const out: { dir: string; meta: ProcessMeta }[] = [];
  for (const n of names) {
    const dir = join(base, n);
    try {
      const meta = JSON.parse(readFileSync(join(dir, PROCESS_META), 'utf8')) as ProcessMeta;
      if (typeof meta.id === 'string' && typeof meta.startedAt === 'number') out.push({ dir, meta });
    } catch {
      // a spawn that crashed before its meta was complete: nothing ran there
    }
  }
  return out.sort((a, b) => a.meta.startedAt - b.meta.startedAt);
}

/** The default run directory of a depot: `/run/garden-ts/<hash of the depot path>`. */
export function defaultRunDir(depot: string): string {
  return join(RUN_ROOT, createHash('sha256').update(depot).digest('hex').slice(0, 16));
}

function isMemoryFs(path: string): boolean {
  const t = statfsSync(path).type;
  return t === TMPFS_MAGIC || t === RAMFS_MAGIC;
}

/** Refuses a run directory another user could have planted or can write. */
function checkOwned(path: string): void {
  const st = lstatSync(path);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0)
    throw new GardenError(
      `run directory ${path} must be a directory owned by root and not writable by group or others`,
    );
}

/**
 * Makes sure `RUN_ROOT` is a root-owned tmpfs (mounting one when /run is not a tmpfs on this
 * host), then creates `dir` under it (or, for an operator-chosen `dir` elsewhere, just creates
 * it: the operator picked its filesystem). Under RUN_ROOT this happens under the lock that
 * {@link releaseRunDir} takes, so a concurrent release cannot unmount the tmpfs in between.
 */
export function ensureRunDir(dir: string): void {
  if (dir === RUN_ROOT || dir.startsWith(`${RUN_ROOT}/`)) {
    withRunRootLock(() => {
      mkdirSync(RUN_ROOT, { recursive: true, mode: 0o711 });
      checkOwned(RUN_ROOT);
      if (!isMemoryFs(RUN_ROOT)) mountTmpfs(RUN_ROOT, { mode: 0o711, size: '25%' });
      mkdirSync(dir, { recursive: true, mode: 0o711 });
    });
  } else {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
  }
  checkOwned(dir);
}

/**
 * Removes an empty run dir; when that leaves RUN_ROOT empty and RUN_ROOT is the tmpfs mounted by
 * {@link ensureRunDir} (its own mount point, not a directory of a tmpfs /run), unmounts it and
 * removes the directory too, so a host where nothing runs keeps nothing of ours.
 */
export function releaseRunDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    return; // not empty (processes still have state there) or already gone
  }
  if (!dir.startsWith(`${RUN_ROOT}/`)) return;
  withRunRootLock(() => {
    try {
      if (readdirSync(RUN_ROOT).length > 0) return;
      if (statSync(RUN_ROOT).dev !== statSync(dirname(RUN_ROOT)).dev && !unmount(RUN_ROOT)) return;
      rmdirSync(RUN_ROOT);
    } catch {
      // busy (another server just started using it) or gone: leave it
    }
  });
}

/**
 * Runs `fn` holding an O_EXCL lock file next to RUN_ROOT: two servers (or test workers) must not
 * stack two tmpfs mounts (the second would hide the first one's files), nor unmount one that
 * another is about to use.
 */
function withRunRootLock(fn: () => void): void {
  const lock = `${RUN_ROOT}.lock`;
  const deadline = Date.now() + 5000;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fd !== undefined) {
      try {
        fn();
      } finally {
        closeSync(fd);
        rmSync(lock, { force: true });
      }
      return;
    }
    if (Date.now() > deadline) rmSync(lock, { force: true }); // a holder that died: take over
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}
