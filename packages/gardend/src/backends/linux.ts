/**
 * `gardend --backend linux`: loads @garden-ts/backend-linux lazily (it is an optional, Linux-only
 * dependency, so gardend stays installable elsewhere), checks the environment and the options'
 * values, and starts the backend. Every failure is a {@link StartupError} whose message says what
 * to do.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { dirname, join } from 'node:path';
import { type Backend, InvalidRequestError, SECOND } from '@garden-ts/api-types';
import { flagName, type GardendConfig } from '../options/schema.js';
import { type BackendContext, StartupError } from './types.js';

/** backend-linux's network option names that are not the flag's name. */
const NETWORK_FLAGS: Record<string, string> = {
  denyNetworks: 'deny-network',
  dnsServers: 'dns-server',
  additionalDnsServers: 'additional-dns-server',
  portPool: 'port-pool-start',
  hostNetns: 'network-namespace',
};

/** The package `--backend linux` loads. */
export const LINUX_BACKEND_PACKAGE = '@garden-ts/backend-linux';

/**
 * The garden-ts checkout `fromDir` lies in (gardend runs from `packages/gardend/dist/bin/` or, in
 * tests, from a bundle inside the package), or undefined when gardend was installed elsewhere.
 */
export function findRepoRoot(fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (
      existsSync(join(dir, 'scripts', 'build-rootfs.sh')) &&
      existsSync(join(dir, 'packages', 'gardend', 'package.json'))
    ) {
      return dir;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The rootfs for creates that name none: `--default-rootfs`, else `<repo>/.rootfs/busybox` when
 * gardend runs from a checkout. A path is checked to exist now rather than at the first create
 * (`raw://` must be a directory); an image URI is the backend's to check.
 * @throws StartupError naming `--default-rootfs`.
 */
export function resolveDefaultRootfs(flag: string | undefined, repoRoot: string | undefined): string {
  if (flag !== undefined) {
    if (flag.startsWith('raw://')) {
      if (!isDirectory(flag.slice('raw://'.length)))
        throw new StartupError(`--default-rootfs ${flag}: no such directory`);
    } else if (flag.startsWith('/') && !existsSync(flag)) {
      throw new StartupError(`--default-rootfs ${flag}: no such directory or tarball`);
    }
    return flag;
  }
  if (repoRoot === undefined) {
    throw new StartupError(
      '--default-rootfs is required: gardend is not running from a garden-ts checkout, so there is no .rootfs/busybox to default to (build one with `garden-ts-build-rootfs DIR`, a command of @garden-ts/backend-linux)',
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

/** `--disk-store`, `--disk-store-size` and `--disk-store-quotas` as the backend's `diskStore` option. */
export function diskStoreOptions(config: GardendConfig): {
  diskStore?: { path?: string; size?: bigint; quotas: 'auto' | 'simple' | 'full' } | false;
} {
  if (config.diskStore === false) {
    if (config.diskStoreSize !== undefined)
      throw new StartupError('--disk-store-size cannot be used with --disk-store none');
    return { diskStore: false };
  }
  return {
    diskStore: {
      ...(config.diskStore === undefined ? {} : { path: config.diskStore }),
      ...(config.diskStoreSize === undefined ? {} : { size: config.diskStoreSize }),
      quotas: config.diskStoreQuotas,
    },
  };
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
        `--backend linux needs the package ${specifier}, which is not installed (it is an optional dependency of @garden-ts/gardend and installs on Linux only)`,
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
 * `createLinuxBackend(...)` from the configuration and `start()` (recovery and reconciliation of
 * the depot).
 * @throws StartupError with a message for the operator.
 */
export async function openLinuxBackend(
  config: GardendConfig,
  { logger, moduleDir }: BackendContext,
): Promise<Backend> {
  if (process.getuid?.() !== 0) {
    throw new StartupError('--backend linux must run as root (it creates namespaces, cgroups and mounts)');
  }
  const { createLinuxBackend } = await importLinuxBackend();
  const { depot } = config;
  try {
    mkdirSync(depot, { recursive: true, mode: 0o711 });
  } catch (err) {
    throw new StartupError(`--depot ${depot}: cannot create it: ${(err as Error).message}`);
  }
  if (!isDirectory(depot)) throw new StartupError(`--depot ${depot}: not a directory`);
  const closed = unsearchableAncestor(depot);
  if (closed !== undefined) {
    throw new StartupError(
      `--depot ${depot}: ${closed} is not searchable by others (mode ${modeOf(closed)}); unprivileged containers' root reaches its files through it: chmod o+x ${closed} or choose another depot`,
    );
  }
  const defaultRootfs = resolveDefaultRootfs(config.defaultRootfs, findRepoRoot(moduleDir));
  const names = config.preloadedRootfs.map((p) => p.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new StartupError(`--preloaded-rootfs names ${twice} twice`);
  for (const p of config.preloadedRootfs)
    if (!existsSync(p.path))
      throw new StartupError(`--preloaded-rootfs ${p.name}:${p.path}: no such directory or tarball`);
  if (config.networkNamespace !== undefined && !existsSync(config.networkNamespace))
    throw new StartupError(`--network-namespace ${config.networkNamespace}: no such namespace file`);
  const options = {
    depot,
    defaultRootfs,
    maxContainers: config.maxContainers,
    destroyContainersOnStartup: config.destroyContainersOnStartup,
    cgroupParent: config.cgroupParent,
    stopTimeoutSeconds: Number(config.stopTimeout) / Number(SECOND),
    ...(config.runDir === undefined ? {} : { runDir: config.runDir }),
    ...(config.helperExecutable === undefined ? {} : { helperExecutable: config.helperExecutable }),
    ...diskStoreOptions(config),
    network: {
      pool: config.networkPool,
      mtu: config.mtu,
      denyNetworks: config.denyNetwork,
      allowHostAccess: config.allowHostAccess,
      dnsServers: config.dnsServer,
      additionalDnsServers: config.additionalDnsServer,
      portPoolStart: config.portPoolStart,
      portPoolSize: config.portPoolSize,
      ...(config.externalIp === undefined ? {} : { externalIp: config.externalIp }),
      // NetIn ports are published on the address gardend listens on too.
      ...(config.bindIp !== undefined && isIPv4(config.bindIp) ? { bindIp: config.bindIp } : {}),
      ...(config.networkNamespace === undefined ? {} : { hostNetns: config.networkNamespace }),
      ...(config.networkPlugin === undefined
        ? {}
        : { plugin: { path: config.networkPlugin, extraArgs: config.networkPluginExtraArg } }),
    },
    images: {
      ...(config.imageStore === undefined ? {} : { store: config.imageStore }),
      registry: { mirrors: config.registryMirror, insecureRegistries: config.insecureDockerRegistry },
      preloaded: Object.fromEntries(config.preloadedRootfs.map((p) => [p.name, p.path])),
      keepUnusedBytes: config.imageGcKeepBytes,
      tagTtlMs: Number(config.imageTagTtl / 1_000_000n),
    },
    logger,
  };
  let backend: ReturnType<typeof createLinuxBackend>;
  try {
    backend = createLinuxBackend(options);
  } catch (err) {
    // The backend names its own option; say which gardend option that is.
    if (err instanceof InvalidRequestError)
      throw new StartupError(`--${NETWORK_FLAGS[err.field] ?? flagName(err.field)}: ${err.message}`);
    throw err;
  }
  const { logger: _, ...shown } = options;
  logger.info(
    { ...shown, cgroupParent: backend.cgroupParent, runDir: backend.runDir },
    'starting the linux backend',
  );
  try {
    await backend.start();
  } catch (err) {
    // Missing native build, cgroups not mounted, an unreadable depot...: nothing can be served.
    throw new StartupError(`the linux backend cannot start: ${(err as Error).message}`, { cause: err });
  }
  return backend;
}
