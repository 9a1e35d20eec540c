import type { Readable, Writable } from 'node:stream';
import type { EventsOptions, GardenEventStream } from './events.js';
import type {
  BandwidthLimits,
  Capacity,
  ContainerInfo,
  ContainerInfoEntry,
  ContainerMetricsEntry,
  ContainerSpec,
  CPULimits,
  DiskLimits,
  Duration,
  MemoryLimits,
  Metrics,
  NetInRule,
  NetOutRule,
  ProcessSpec,
  Properties,
  Signal,
  TTYSpec,
} from './types.js';

/**
 * Options every call accepts. Backends may ignore them; the client honours both.
 * `timeout` is in milliseconds.
 */
export interface CallOptions {
  signal?: AbortSignal;
  timeout?: number;
}

/**
 * Standard streams of a process.
 *
 * - `stdin` is read until it ends; its end is delivered to the process as EOF.
 *   When absent, the process's stdin stays open until the process exits (Garden semantics).
 * - `stdout`/`stderr` receive the process output. They are **not** ended by the backend or the
 *   client (like Go's io.Writer: passing `process.stdout` is safe); every byte has been written to
 *   them before `Process.wait()` resolves.
 */
export interface ProcessIO {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
}

/** A process running (or finished) in a container. */
export interface Process {
  /** The process id: `ProcessSpec.id` when given, otherwise generated. */
  readonly id: string;
  /**
   * Resolves with the exit status once the process has exited and all its output has been
   * delivered to the ProcessIO writables. May be called any number of times.
   */
  wait(opts?: CallOptions): Promise<number>;
  /** Resizes the process's TTY. */
  setTTY(spec: TTYSpec, opts?: CallOptions): Promise<void>;
  /** Sends terminate (SIGTERM) or kill (SIGKILL). */
  signal(signal: Signal, opts?: CallOptions): Promise<void>;
}

export interface StreamInSpec {
  /** Destination directory in the container. */
  path: string;
  /** User that performs the extraction; empty = backend default (root). */
  user?: string;
  /** A tar archive. */
  tarStream: Readable;
}

export interface StreamOutSpec {
  /** Path to archive; a trailing `/` archives the directory's contents. */
  path: string;
  user?: string;
}

/** A container: a cheap handle on which every per-container operation lives. */
export interface Container {
  readonly handle: string;
  /**
   * kill=false: SIGTERM every process, SIGKILL after 10 s; kill=true: SIGKILL at once.
   * Files stay streamable afterwards.
   */
  stop(kill: boolean, opts?: CallOptions): Promise<void>;
  info(opts?: CallOptions): Promise<ContainerInfo>;
  /** Extracts a tar stream into `spec.path`. */
  streamIn(spec: StreamInSpec, opts?: CallOptions): Promise<void>;
  /** A tar stream of `spec.path`. */
  streamOut(spec: StreamOutSpec, opts?: CallOptions): Promise<Readable>;
  currentBandwidthLimits(opts?: CallOptions): Promise<BandwidthLimits>;
  currentCPULimits(opts?: CallOptions): Promise<CPULimits>;
  currentDiskLimits(opts?: CallOptions): Promise<DiskLimits>;
  currentMemoryLimits(opts?: CallOptions): Promise<MemoryLimits>;
  /** Maps a host port to a container port; 0 = allocate (host) or same as host (container). */
  netIn(hostPort: number, containerPort: number, opts?: CallOptions): Promise<NetInRule>;
  netOut(rule: NetOutRule, opts?: CallOptions): Promise<void>;
  bulkNetOut(rules: NetOutRule[], opts?: CallOptions): Promise<void>;
  /** @throws ExecutableNotFoundError when `spec.path` cannot be executed. */
  run(spec: ProcessSpec, io: ProcessIO, opts?: CallOptions): Promise<Process>;
  /** @throws ProcessNotFoundError for an unknown process id. */
  attach(processId: string, io: ProcessIO, opts?: CallOptions): Promise<Process>;
  metrics(opts?: CallOptions): Promise<Metrics>;
  setGraceTime(graceTime: Duration, opts?: CallOptions): Promise<void>;
  properties(opts?: CallOptions): Promise<Properties>;
  /** @throws GardenError when the property does not exist. */
  property(name: string, opts?: CallOptions): Promise<string>;
  setProperty(name: string, value: string, opts?: CallOptions): Promise<void>;
  removeProperty(name: string, opts?: CallOptions): Promise<void>;
}

/** The Garden client API (Go `garden.Client`). */
export interface Client {
  /** @throws UnrecoverableError when the server cannot recover. */
  ping(opts?: CallOptions): Promise<void>;
  capacity(opts?: CallOptions): Promise<Capacity>;
  create(spec: ContainerSpec, opts?: CallOptions): Promise<Container>;
  /** @throws ContainerNotFoundError */
  destroy(handle: string, opts?: CallOptions): Promise<void>;
  /** Containers whose properties match every given key/value (ANDed). */
  containers(properties?: Properties, opts?: CallOptions): Promise<Container[]>;
  bulkInfo(handles: string[], opts?: CallOptions): Promise<Record<string, ContainerInfoEntry>>;
  bulkMetrics(handles: string[], opts?: CallOptions): Promise<Record<string, ContainerMetricsEntry>>;
  /** @throws ContainerNotFoundError */
  lookup(handle: string, opts?: CallOptions): Promise<Container>;
}

/** What a server runs on: a Client plus lifecycle and grace-time queries (Go `garden.Backend`). */
export interface Backend extends Client {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The grace time stored for this container (set at create or by setGraceTime). */
  graceTime(container: Container): Promise<Duration>;
  /**
   * Optional (a garden-ts extension): the lifecycle events only the backend knows —
   * `process.exited` (every process that exits, with its status, once its output is delivered)
   * and `container.oom` (the kernel's OOM killer fired in a container). The server forwards them
   * on `GET /events` beside its own `container.created` / `container.destroyed` /
   * `container.reaped`; a backend must not publish those three. `EventHub` implements the
   * subscription side. Without it the server's event stream has no process or OOM events.
   */
  events?(opts?: EventsOptions): GardenEventStream;
}
