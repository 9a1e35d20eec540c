/**
 * `gardend --backend linux`: loads @garden-ts/backend-linux lazily (it is an optional, Linux-only
 * dependency, so the server stays installable elsewhere), checks the environment and the flags'
 * values, and starts the backend. Every failure is a {@link StartupError} whose message says what
 * to do.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Backend } from '@garden-ts/api-types';
import type { LinuxBackendFlags } from '../cli-options.js';

/** gardend cannot start the backend; the message names the flag or the missing piece. */
export class StartupError extends Error {}

/** The package `--backend linux` loads. */
export const LINUX_BACKEND_PACKAGE = '@garden-ts/backend-linux';

/** The subset of pino's logger the backend logs through. */
export interface LoggerLike {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * The garden-ts checkout `fromDir` lies in (gardend runs from `packages/server/dist/bin/` or, in
 * tests, from a bundle inside the package), or undefined when gardend was installed elsewhere.
 */
export function findRepoRoot(fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (
      existsSync(join(dir, 'scripts', 'build-rootfs.sh')) &&
      existsSync(join(dir, 'packages', 'server', 'package.json'))
    ) {
      return dir;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The rootfs for creates that name none: `--default-rootfs`, else `<repo>/.rootfs/busybox` when
 * gardend runs from a checkout. Checked to be a directory now rather than at the first create.
 * @throws StartupError naming `--default-rootfs`.
 */
export function resolveDefaultRootfs(flag: string | undefined, repoRoot: string | undefined): string {
  if (flag !== undefined) {
    const dir = flag.startsWith('raw://') ? flag.slice('raw://'.length) : flag;
    if (!isDirectory(dir)) throw new StartupError(`--default-rootfs ${flag}: no such directory`);
    return flag;
  }
  if (repoRoot === undefined) {
    throw new StartupError(
      '--default-rootfs is required: gardend is not running from a garden-ts checkout, so there is no .rootfs/busybox to default to',
    );
  }
  const rootfs = join(repoRoot, '.rootfs', 'busybox');
  if (!isDirectory(rootfs)) {
    throw new StartupError(
      `no default rootfs: ${rootfs} does not exist; build it with \`bash ${join(repoRoot, 'scripts', 'build-rootfs.sh')}\` or pass --default-rootfs`,
    );
  }
  return rootfs;
}

/**
 * The first directory above `depot` without search permission for "others". Unprivileged
 * containers' root is an unmapped user on the host, so it needs `o+x` on every ancestor to open
 * the files the backend bind-mounts from the depot (the backend fixes the depot's own mode).
 */
export function unsearchableAncestor(depot: string): string | undefined {
  const ancestors: string[] = [];
  for (let dir = dirname(depot); ; dir = dirname(dir)) {
    ancestors.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  // A missing ancestor is created by gardend with mode 0755 (searchable), so only existing ones count.
  return ancestors.find((dir) => {
    const stat = statSync(dir, { throwIfNoEntry: false });
    return stat !== undefined && (stat.mode & 0o001) === 0;
  });
}

function modeOf(path: string): string {
  return (statSync(path).mode & 0o7777).toString(8).padStart(4, '0');
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Imports the backend package, turning "not installed" / "not built" into a StartupError.
 * @param specifier the package to load (tests pass one that does not exist).
 */
export async function importLinuxBackend(
  specifier: string = LINUX_BACKEND_PACKAGE,
): Promise<typeof import('@garden-ts/backend-linux')> {
  try {
    // A variable specifier: the bundler leaves this import to Node at run time, so backend-linux
    // and native-ns (which finds its addon beside its own files) load from their installed
    // packages, never from gardend's bundle.
    return (await import(specifier)) as typeof import('@garden-ts/backend-linux');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(`Cannot find package '${specifier}'`)) {
      throw new StartupError(
        `--backend linux needs the package ${specifier}, which is not installed (it is an optional dependency of @garden-ts/server and installs on Linux only)`,
      );
    }
    if (e.code === 'ERR_MODULE_NOT_FOUND') {
      throw new StartupError(
        `${specifier} cannot be loaded (${e.message}); was it built? Run \`pnpm build\``,
      );
    }
    throw err;
  }
}

/**
 * Opens the Linux backend for `gardend`: root, package, depot and default rootfs checks, then
 * `createLinuxBackend(...)` and `start()` (recovery and reconciliation of the depot).
 * @param moduleDir the directory of the running gardend, to find the repo's default rootfs.
 * @throws StartupError with a message for the operator.
 */
export async function openLinuxBackend(
  flags: LinuxBackendFlags,
  logger: LoggerLike,
  moduleDir: string,
): Promise<Backend> {
  if (process.getuid?.() !== 0) {
    throw new StartupError('--backend linux must run as root (it creates namespaces, cgroups and mounts)');
  }
  const { createLinuxBackend } = await importLinuxBackend();
  try {
    mkdirSync(flags.depot, { recursive: true, mode: 0o711 });
  } catch (err) {
    throw new StartupError(`--depot ${flags.depot}: cannot create it: ${(err as Error).message}`);
  }
  if (!isDirectory(flags.depot)) throw new StartupError(`--depot ${flags.depot}: not a directory`);
  const closed = unsearchableAncestor(flags.depot);
  if (closed !== undefined) {
    throw new StartupError(
      `--depot ${flags.depot}: ${closed} is not searchable by others (mode ${modeOf(closed)}); unprivileged containers' root reaches its files through it: chmod o+x ${closed} or choose another depot`,
    );
  }
  const defaultRootfs = resolveDefaultRootfs(flags.defaultRootfs, findRepoRoot(moduleDir));
  const backend = createLinuxBackend({
    depot: flags.depot,
    defaultRootfs,
    maxContainers: flags.maxContainers,
    destroyContainersOnStartup: flags.destroyContainersOnStartup,
    ...(flags.cgroupParent === undefined ? {} : { cgroupParent: flags.cgroupParent }),
    ...(flags.runDir === undefined ? {} : { runDir: flags.runDir }),
    logger,
  });
  logger.info(
    {
      depot: flags.depot,
      defaultRootfs,
      maxContainers: flags.maxContainers,
      destroyContainersOnStartup: flags.destroyContainersOnStartup,
      cgroupParent: backend.cgroupParent,
      runDir: backend.runDir,
    },
    'starting the linux backend',
  );
  try {
    await backend.start();
  } catch (err) {
    // Missing native build, cgroups not mounted, an unreadable depot...: nothing can be served.
    throw new StartupError(`the linux backend cannot start: ${(err as Error).message}`);
  }
  return backend;
}
