/** The backend's options and public shape (createLinuxBackend). */
import type { Backend, EventsOptions, GardenEventStream } from '@garden-ts/api-types';
import type { ImageServiceOptions } from '@garden-ts/images';
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
