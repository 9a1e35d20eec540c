import type { BackendCapabilities, Client } from '@garden-ts/api-types';

/** The manifest type lives with the Backend interface; re-exported for existing imports. */
export type { BackendCapabilities };

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
  /**
   * The backend's capability manifest, as the backend exports it (e.g. backend-fake's
   * `FAKE_BACKEND_CAPABILITIES`): it gates tests and sets expected values, so it must come from
   * the backend, not be written in the test file.
   */
  capabilities: BackendCapabilities;
  /**
   * Only these feature blocks (by name: `lifecycle`, `properties`, `processes`, `attach`,
   * `signals`, `stop`, `files`, `limits`, `metrics`, `info`, `net`, `grace time`, `capacity`,
   * `tty`, `errors`, `events`), for a backend that is still growing. Default: every feature.
   * A backend is only Garden-compatible once it passes them all.
   */
  features?: readonly string[];
  /**
   * An image URI the backend runs peas from (`run` with `image`): a rootfs with `sh`, `readlink`
   * and `echo`. Required when `capabilities.peas` is true.
   */
  peaImage?: string;
  /**
   * Multiplies every test and hook timeout, for slow backends (a real Linux backend creating
   * containers from an image). Default 1: 5 s per test, 30 s per hook.
   */
  timeScale?: number;
}
