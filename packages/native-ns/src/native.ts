/**
 * The raw binding exactly as the addon (native/addon.cc) exposes it, and its loader. JS
 * validates every argument before calling in: the native side trusts its input's shape.
 */
import { accessSync, chmodSync, constants, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Options of {@link RawBinding.createContainer}, fully resolved by the wrapper. */
export interface RawCreateOptions {
  rootfs: string;
  hostname: string;
  privileged: boolean;
  /** `/proc/<pid>/uid_map` text; ignored when privileged. */
  uidMap: string;
  gidMap: string;
  /** cgroup v1 directories: the child writes "0" (itself) to their `tasks`. */
  cgroupV1: string[];
  /** One cgroup2 directory joined with `CLONE_INTO_CGROUP`, or "". */
  cgroupV2: string;
  /** A network namespace file to join, or "" for a new one. */
  netns: string;
  binds: { src: string; dst: string; readOnly: boolean }[];
  maskedPaths: string[];
  readOnlyPaths: string[];
  initPath: string;
  env: string[];
  mqueue: boolean;
  /** garden-init's capability mask (clipped natively to the caller's bounding set). */
  initCapabilities: bigint;
  /** Read-only cgroup mounts below /sys/fs/cgroup (names only; empty: none). */
  cgroupMounts: { target: string; fstype: string; data: string; links: string[] }[];
  /** Character device nodes made in the container's /dev (privileged only). */
  deviceNodes: { name: string; major: number; minor: number; mode: number }[];
  /**
   * An idle garden-shim's control socket (the caller keeps it): the shim clones init with
   * CLONE_PARENT and then waits for its next frame. Absent, or the shim gone: cloned from this
   * process.
   */
  shimFd?: number;
  /**
   * The container's veth pair and bridge (network.ts `containerLinkArgs`), made once the child
   * is cloned, while it builds its root; a failure kills the child and rejects (stage `network`).
   */
  network?: ReturnType<typeof import('./network.js').containerLinkArgs>;
  /** Another container init's pidfd whose namespaces (all but mount) are joined: a pea. */
  joinPidfd?: number;
}

/** Exit of a watched pidfd; `known` is false when the process was not our child. */
export interface RawExit {
  code: number | null;
  signal: number | null;
  known: boolean;
}

/** Errors thrown or rejected by the binding carry these fields. */
export interface RawError extends Error {
  errno: number;
  code: string;
  syscall: string;
  stage: string;
}

/** The addon's exports. */
export interface RawBinding {
  /** `viaShim`: the shim of `options.shimFd` did it (and can serve again). */
  createContainer(options: RawCreateOptions): Promise<{ pid: number; pidfd: number; viaShim: boolean }>;
  /** vfork-style spawn of a helper in its own session; target fd i gets `fds[i]` (-1: /dev/null). */
  spawnHelper(path: string, argv: string[], envp: string[], fds: number[]): { pid: number; pidfd: number };
  /** `spawnHelper` on the thread pool (the fds must stay open until it settles). */
  spawnHelperAsync(
    path: string,
    argv: string[],
    envp: string[],
    fds: number[],
  ): Promise<{ pid: number; pidfd: number }>;
  /** Resolves once the pidfd's process exits (reaping it when it is our child). The pidfd stays
   *  open (the caller closes it). `keepAlive` keeps Node's event loop running until then. */
  watchExit(pidfd: number, keepAlive?: boolean): Promise<RawExit>;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  socketpair(): [number, number];
  closeFd(fd: number): void;
  /** Writes all of `frame` to a blocking socket; `passFd` (>= 0) rides along as SCM_RIGHTS. */
  sendFrame(fd: number, frame: Buffer, passFd: number): void;
  stageNames(): string[];
  /** mkdir `<volume ?? dir>/{upper,work}` and `<dir>/rootfs`, chown upper + rootfs (uid >= 0),
   *  mount the overlay at rootfs. */
  createOverlay(lower: string, dir: string, uid: number, gid: number, volume?: string): Promise<string>;
  /** mount(2) of a nosuid,nodev,noexec tmpfs at `target` with option string `data` (sync). */
  mountTmpfs(target: string, data: string): void;
  /** umount2(2), lazily when `detach`; false when `target` is not a mount point. */
  unmount(target: string, detach: boolean): boolean;
  /** Deletes a directory tree on the thread pool (no symlink following, no crossing mounts); a
   *  rejection also carries `path`, the entry that could not be removed. */
  removeTree(path: string): Promise<void>;
  /** `unmount` on the thread pool. */
  unmountAsync(target: string, detach: boolean, all: boolean): Promise<boolean>;
}

/** Where the addon and the helper executables are. */
export interface NativeArtifacts {
  addon: string;
  init: string;
  shim: string;
}

function packageRoot(): string {
  // src/native.ts and dist/index.js are both one level below the package root.
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

/** The artefacts' paths as last computed, for the override they were computed with. */
let artifacts: { override: string | undefined; paths: NativeArtifacts } | undefined;

/**
 * Locates the built artefacts (`GARDEN_NATIVE_NS_BUILD` overrides the directory). Asked on every
 * create and every shim launch: the paths are computed again only when the override changed.
 */
export function nativeArtifacts(): NativeArtifacts {
  const override = process.env.GARDEN_NATIVE_NS_BUILD;
  if (artifacts?.override !== override || !artifacts) {
    const dir = override ?? join(packageRoot(), 'build', 'Release');
    artifacts = {
      override,
      paths: {
        addon: join(dir, 'garden_ns.node'),
        init: join(dir, 'garden-init'),
        shim: join(dir, 'garden-shim'),
      },
    };
  }
  return { ...artifacts.paths };
}

let cached: RawBinding | undefined;

/**
 * Loads the addon once.
 * @throws Error naming the missing file and the build command when it was not built.
 */
export function loadBinding(): RawBinding {
  if (cached) return cached;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `native-ns: runs on Linux x86_64 only (its addon and helpers are built for linux-x64); this is ${process.platform}-${process.arch}`,
    );
  }
  const a = nativeArtifacts();
  for (const file of [a.addon, a.init, a.shim]) {
    if (!existsSync(file)) {
      throw new Error(
        `native-ns: ${file} is missing: the package ships its linux-x64 build in build/Release; in a garden-ts checkout, build it with \`pnpm --filter @garden-ts/native-ns build:native\` (cmake, g++)`,
      );
    }
  }
  for (const helper of [a.init, a.shim]) ensureExecutable(helper);
  const require = createRequire(import.meta.url);
  try {
    cached = require(a.addon) as RawBinding;
  } catch (err) {
    throw new Error(`native-ns: cannot load ${a.addon}: ${(err as Error).message}`, { cause: err });
  }
  return cached;
}

/**
 * Makes a helper executable when it is not: package managers may unpack it with mode 0644 (pnpm
 * pack writes every file that is not a `bin` so), and every exec of it would then fail with
 * EACCES.
 * @throws Error naming the file and the command to fix it when it cannot be made executable.
 */
function ensureExecutable(file: string): void {
  try {
    accessSync(file, constants.X_OK);
    return;
  } catch {
    // Not executable (by us): try to fix the mode below.
  }
  try {
    chmodSync(file, (statSync(file).mode & 0o7777) | 0o555);
    accessSync(file, constants.X_OK);
  } catch (err) {
    throw new Error(
      `native-ns: ${file} is not executable and cannot be made so (${(err as Error).message}): run \`chmod +x ${file}\``,
      { cause: err },
    );
  }
}
