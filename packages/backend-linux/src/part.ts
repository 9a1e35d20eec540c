/**
 * The Part contract: backend-linux is a gardener over parts (Guardian: volumizer → containerizer
 * → networker). Each part owns one concern of a container (depot entry, rootfs, network,
 * runtime) and can create it, destroy it (idempotently, in reverse order, also for half-made
 * containers and for leftovers found at startup), restore it after a restart, and report its
 * metrics. The gardener (linux-backend.ts) only sequences them.
 */
import type { ContainerSpec, Metrics } from '@garden-ts/api-types';
import type { CgroupSet, ContainerNetworkOptions, Container as NativeContainer } from '@garden-ts/native-ns';
import type { LinuxContainer } from './container.js';
import type { ContainerRecord } from './depot/state-store.js';

/** A bind mount for the container's init (native-ns's shape; sources are host paths). */
export interface InitBindMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

/** What the parts of a create share; each part reads what earlier ones made and adds its own. */
export interface CreateContext {
  readonly spec: ContainerSpec;
  /**
   * The record being built (phase `creating`; written to the depot only once the container is
   * complete). Parts set their fields: `lowerDir`, `limits`, `cgroupPath`, `init`, …
   */
  readonly record: ContainerRecord;
  /** The container's depot directory (durable). */
  readonly dir: string;
  /** The container's run directory (tmpfs: volatile files). */
  readonly runDir: string;
  /**
   * The container's root directory once mounted: set by the rootfs part to a promise that it does
   * not await (the mount runs on the thread pool while later parts prepare), awaited by the
   * runtime part.
   */
  rootfs?: Promise<string>;
  /**
   * Where the overlay's `upper/` and `work/` go: the container's volume in the disk store (a
   * quota'd subvolume), set by the store part; absent, the container's depot dir.
   */
  volume?: string;
  /** The container's cgroup, with its limits: made by the cgroup part for the runtime part. */
  cgroup?: CgroupSet;
  /**
   * The container's network devices for the runtime to have made while its init is cloned
   * (native-ns `createContainer`'s `network`): set by the network part in bridge mode, resolving
   * once the subnet's bridge is ready.
   */
  network?: Promise<ContainerNetworkOptions>;
  /** Bind mounts parts before the runtime ask for (the runtime adds the spec's own). */
  readonly bindMounts: InitBindMount[];
  /** The container's init, once the runtime part made it: parts after it may enter its namespaces. */
  init?: NativeContainer;
}

/** What a part gets to undo its share. Everything may be missing: destroy is idempotent. */
export interface DestroyContext {
  /** The depot id; undefined for an entry of `<depot>/trash` whose id is no longer known. */
  readonly id: string | undefined;
  /** The record, when there is one (a half-made entry may have none). */
  readonly record: ContainerRecord | undefined;
  /** The in-memory container (destroy of a live one, or a failed create). */
  readonly container: LinuxContainer | undefined;
  /** Where the depot entry is now (usually already moved into `<depot>/trash`). */
  readonly dir: string;
  /**
   * Queues a step to run after the request, off its path; queued steps run in order (a part's
   * step after those of the parts destroyed before it) and `settled()` waits for them.
   */
  later(step: () => Promise<void>): void;
}

/** One concern of a container. */
export interface Part {
  /** For logs: `depot`, `store`, `rootfs`, `quota`, `network`, `runtime`. */
  readonly name: string;
  /** Refuses a spec this part cannot serve, before anything is made. @throws GardenError / InvalidRequestError */
  validate?(spec: ContainerSpec): void;
  /** Makes this part's share of a new container (parts run in order). */
  create(ctx: CreateContext): Promise<void> | void;
  /** Releases this part's share; never throws for what is already gone (parts run in reverse order). */
  destroy?(ctx: DestroyContext): Promise<void> | void;
  /** At startup, for every container whose record is complete: take up what it holds again. */
  restore?(container: LinuxContainer): Promise<void> | void;
  /** At startup, after restoring: remove what belongs to no container of `known` (depot ids). */
  reconcile?(known: ReadonlySet<string>): Promise<void> | void;
  /** Adds this part's figures to a container's metrics. */
  metrics?(container: LinuxContainer, metrics: Metrics): Promise<void> | void;
  /** The backend stops (containers keep running): release what the part holds open. */
  stop?(options: { containersLeft: boolean }): Promise<void> | void;
}
