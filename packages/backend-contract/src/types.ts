import type { Client } from '@garden-ts/api-types';

/**
 * What a backend declares it supports. Each flag gates the contract tests that need it; every
 * other test runs unconditionally and must pass on every backend.
 */
export interface BackendCapabilities {
  /** Memory, CPU and bandwidth limits set at create are reported back by `current*Limits`. */
  limits: boolean;
  /**
   * The backend gives containers a network: container IPs in `info`, `netIn` port mappings from a
   * port pool, and `netOut`/`bulkNetOut` rules.
   */
  networking: boolean;
  /** Processes can run with a TTY (`ProcessSpec.tty`, `Process.setTTY`). */
  tty: boolean;
  /** Containers can be created with `privileged: true`. */
  privileged: boolean;
  /** Disk limits set at create are reported back by `currentDiskLimits`. */
  diskLimits: boolean;
  /** `metrics`/`bulkMetrics` report real usage (non-zero memory, a growing age). */
  metrics: boolean;
  /**
   * The target has `events()` (a garden-ts extension) and reports `process.exited` for every
   * process with its exit status: a Backend implementing the optional `Backend.events`, or the
   * client of a garden-ts server over such a backend. Default false.
   */
  events?: boolean;
  /**
   * `events()` also reports `container.created`, `container.destroyed` and `container.reaped`:
   * what the garden-ts server adds (so: targets reached through a server). Default false.
   */
  containerEvents?: boolean;
  /** `events()` reports `container.oom` when the OOM killer fires in a container. Default false. */
  oomEvents?: boolean;
}

/** A freshly started backend (or client connected to one) and how to dispose of it. */
export interface ContractTarget {
  /** Anything implementing the Garden `Client` interface: a Backend or the wire client. */
  client: Client;
  /** Releases everything `setup` started (backend, server, sockets). Called once per feature. */
  teardown(): Promise<void>;
}

/** Options of {@link runBackendContract}. */
export interface ContractOptions {
  /** Name of the top-level `describe` block, usually the backend's name. */
  name: string;
  /**
   * Starts a fresh target. Called once per feature block (before its tests); each target is
   * torn down after the block, once the containers the block created are destroyed.
   */
  setup(): Promise<ContractTarget>;
  /** The backend's capability manifest. */
  capabilities: BackendCapabilities;
  /**
   * Only these feature blocks (by name: `lifecycle`, `properties`, `processes`, `attach`,
   * `signals`, `stop`, `files`, `limits`, `metrics`, `info`, `net`, `grace time`, `capacity`,
   * `tty`, `errors`, `events`), for a backend that is still growing. Default: every feature.
   * A backend is only Garden-compatible once it passes them all.
   */
  features?: readonly string[];
  /**
   * Multiplies every test and hook timeout, for slow backends (a real Linux backend creating
   * containers from an image). Default 1: 5 s per test, 30 s per hook.
   */
  timeScale?: number;
}
