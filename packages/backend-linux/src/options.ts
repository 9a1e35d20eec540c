/** The backend's options and public shape (createLinuxBackend). */
import {
  type Backend,
  type EventsOptions,
  type GardenEventStream,
  InvalidRequestError,
} from '@garden-ts/api-types';
import type { ImageServiceOptions } from '@garden-ts/images';
import { defaultRunDir } from './depot/run-dir.js';
import { chooseHostHelper } from './files/host-helper.js';
import type { NetworkOptions } from './network/types.js';
import type { ImageSource } from './rootfs/image-uri.js';
import type { DiskStoreOptions } from './store/disk-store.js';

/** Minimal structured logger (pino-compatible subset). */
export interface BackendLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The image options: those of @garden-ts/images' `ImageService` with the store path optional. */
export interface ImageOptions
  extends Pick<
    ImageServiceOptions,
    'registry' | 'preloaded' | 'keepUnusedBytes' | 'view' | 'tagTtlMs' | 'layerConcurrency'
  > {
  /** The layer store directory. Default `<depot>/image-store`. */
  store?: string;
}

/** Options of `createLinuxBackend`. */
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
  /**
   * Images (`docker://`, `oci://`, tarballs, `preloaded:`, …; @garden-ts/images): the layer store
   * (default `<depot>/image-store`), registry mirrors and insecure registries, preloaded rootfses,
   * the GC policy.
   */
  images?: ImageOptions;
  /** Sources for URI schemes of one's own (checked before the built-in ones). */
  imageSources?: readonly ImageSource[];
  /**
   * The disk store that enforces disk limits: a btrfs filesystem with quotas, holding each
   * container's writable layer in a subvolume of its own whose qgroup limit applies to every
   * writer in the container. `path` (default `<depot>/store`) is used as is when it is on btrfs;
   * otherwise a sparse image `<path>.img` of `size` bytes is made once and loop-mounted there
   * (it stays mounted while containers exist, across restarts). `false`: no store — writable
   * layers in the depot, disk limits stored and reported only, `DiskStat` all 0. Default `{}`.
   */
  diskStore?: DiskStoreOptions | false;
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
  /**
   * Container networking (linux-backend-reference §8): address pool, MTU, deny networks, host
   * access, DNS, external IP, NetIn port pool, network plugin, and the host network namespace to
   * work in (default: the server's own). Default: networking with Guardian's defaults. `false`:
   * containers get a private network namespace with only `lo`, and NetIn/NetOut are refused.
   */
  network?: NetworkOptions | false;
}

/** The `Backend` returned by `createLinuxBackend`, with a few extras for tests and operators. */
export interface LinuxBackend extends Backend {
  /** Handles of every container the backend knows, in any phase. */
  handles(): string[];
  /** The depot directory. */
  readonly depot: string;
  /** The run directory (volatile state, tmpfs). */
  readonly runDir: string;
  /**
   * Resolves once background work of destroyed containers is done: depot dirs removed, and the
   * bridges of freed subnets (kept a few seconds for reuse) deleted now.
   */
  settled(): Promise<void>;
  /** The cgroup parent path. */
  readonly cgroupParent: string;
  /** Process exits, OOM kills and image pull progress (always there: not optional as in `Backend`). */
  events(opts?: EventsOptions): GardenEventStream;
}

export const silentLogger: BackendLogger = { info() {}, warn() {}, error() {} };

/** The smallest disk store image mkfs.btrfs makes with room to spare. */
const MIN_STORE_SIZE = 256n * 1024n * 1024n;

/**
 * Checks the options a backend is made with, and resolves the run dir, the host helper and the
 * disk store (undefined: none).
 * @throws InvalidRequestError naming the option.
 */
export function checkOptions(options: LinuxBackendOptions): {
  runDir: string;
  hostHelper: string | undefined;
  diskStore: DiskStoreOptions | undefined;
} {
  if (typeof options.depot !== 'string' || !options.depot.startsWith('/'))
    throw new InvalidRequestError('depot', 'depot must be an absolute path');
  const max = options.maxContainers;
  if (max !== undefined && !(Number.isInteger(max) && max >= 0))
    throw new InvalidRequestError('maxContainers', 'maxContainers must be a non-negative integer');
  const runDir = options.runDir ?? defaultRunDir(options.depot);
  if (!runDir.startsWith('/')) throw new InvalidRequestError('runDir', 'runDir must be an absolute path');
  let hostHelper: string | undefined;
  try {
    hostHelper = chooseHostHelper(options.helperExecutable);
  } catch (e) {
    throw new InvalidRequestError('helperExecutable', (e as Error).message);
  }
  const o = options.diskStore;
  if (o === false) return { runDir, hostHelper, diskStore: undefined };
  if (o?.path !== undefined && !(typeof o.path === 'string' && o.path.startsWith('/')))
    throw new InvalidRequestError('diskStore', 'the disk store path must be absolute');
  if (o?.size !== undefined && !(typeof o.size === 'bigint' && o.size >= MIN_STORE_SIZE))
    throw new InvalidRequestError('diskStoreSize', 'the disk store size must be at least 256 MiB');
  return { runDir, hostHelper, diskStore: o ?? {} };
}
