/**
 * The per-container half of the client: a cheap handle whose methods map 1:1 onto the routes of
 * the route table (`ROUTES` of @garden-ts/api-types).
 */
import type { Readable } from 'node:stream';
import {
  type BandwidthLimits,
  type CallOptions,
  type Container,
  type ContainerInfo,
  type CPULimits,
  type DiskLimits,
  encodeBody,
  type MemoryLimits,
  type Metrics,
  type NetInRule,
  type NetOutRule,
  type ProcessIO,
  type ProcessSpec,
  type Properties,
  ROUTES,
  type StreamInSpec,
  type StreamOutSpec,
} from '@garden-ts/api-types';
import { type DurationInput, toDuration } from './durations.js';
import type { GardenConnection } from './garden-connection.js';
import type { ClientProcess } from './process.js';
import { type TarSource, toReadable } from './tar-source.js';
import { checkWellFormed } from './url-encoding.js';

/** {@link StreamInSpec} with the archive as any readable ({@link TarSource}). */
export interface ClientStreamInSpec extends Omit<StreamInSpec, 'tarStream'> {
  tarStream: TarSource;
}

/** A container on a Garden server. Obtain one from `client.create()` / `lookup()` / `containers()`. */
export class ClientContainer implements Container {
  /** @internal */
  constructor(
    private readonly conn: GardenConnection,
    readonly handle: string,
  ) {}

  /** The captures of this container's routes. */
  private get at(): { handle: string } {
    return { handle: this.handle };
  }

  /** The Stop route with `{"kill":…}`: SIGTERM then SIGKILL after the stop timeout, or SIGKILL at once. */
  async stop(kill: boolean, opts?: CallOptions): Promise<void> {
    if (typeof kill !== 'boolean') throw new TypeError('kill: expected a boolean');
    return this.conn.call('Stop', this.at, kill, opts);
  }

  /** @throws ContainerNotFoundError */
  async info(opts?: CallOptions): Promise<ContainerInfo> {
    return this.conn.call('Info', this.at, undefined, opts);
  }

  /**
   * Streams `spec.tarStream` (chunked) into `spec.path`. The archive may be any readable: a Node
   * Readable, a web ReadableStream, an async iterable (tar-stream's `pack()`) or an iterable of
   * chunks. It is consumed, and destroyed if the upload fails. Every failure (a bad argument too)
   * rejects the returned promise; nothing is thrown outside it.
   */
  async streamIn(spec: ClientStreamInSpec, opts?: CallOptions): Promise<void> {
    if (typeof spec?.path !== 'string') throw new TypeError('spec.path: expected a string');
    const tar = toReadable(spec.tarStream, 'spec.tarStream');
    return this.conn.upload(this.at, { destination: spec.path, user: spec.user ?? '' }, tar, opts);
  }

  /**
   * A tar stream of `spec.path`. The stream errors if the server aborts mid-download; the
   * call's signal/timeout keep applying until the stream ends.
   */
  async streamOut(spec: StreamOutSpec, opts?: CallOptions): Promise<Readable> {
    if (typeof spec?.path !== 'string') throw new TypeError('spec.path: expected a string');
    return this.conn.download(this.at, { source: spec.path, user: spec.user ?? '' }, opts);
  }

  async currentBandwidthLimits(opts?: CallOptions): Promise<BandwidthLimits> {
    return this.conn.call('CurrentBandwidthLimits', this.at, undefined, opts);
  }

  async currentCPULimits(opts?: CallOptions): Promise<CPULimits> {
    return this.conn.call('CurrentCPULimits', this.at, undefined, opts);
  }

  async currentDiskLimits(opts?: CallOptions): Promise<DiskLimits> {
    return this.conn.call('CurrentDiskLimits', this.at, undefined, opts);
  }

  async currentMemoryLimits(opts?: CallOptions): Promise<MemoryLimits> {
    return this.conn.call('CurrentMemoryLimits', this.at, undefined, opts);
  }

  /** Maps a host port to a container port (0 = allocate / same as host). */
  async netIn(hostPort: number, containerPort: number, opts?: CallOptions): Promise<NetInRule> {
    return this.conn.call('NetIn', this.at, { handle: this.handle, hostPort, containerPort }, opts);
  }

  async netOut(rule: NetOutRule, opts?: CallOptions): Promise<void> {
    return this.conn.call('NetOut', this.at, rule, opts);
  }

  async bulkNetOut(rules: NetOutRule[], opts?: CallOptions): Promise<void> {
    return this.conn.call('BulkNetOut', this.at, rules, opts);
  }

  /**
   * Starts a process. Resolves once the process started and the requested output streams are
   * attached; the call's signal/timeout cover only that phase (use `wait(opts)` for the rest).
   * @throws ExecutableNotFoundError when `spec.path` cannot be executed.
   * @throws ContainerNotFoundError
   */
  async run(spec: ProcessSpec, io: ProcessIO, opts?: CallOptions): Promise<ClientProcess> {
    const body = encodeBody(ROUTES.Run.request.codec, spec);
    return this.conn.process(this.handle, { kind: 'run', body }, io, opts);
  }

  /**
   * Attaches to a running (or recently exited) process by id.
   * @throws ProcessNotFoundError for an unknown process id.
   */
  async attach(processId: string, io: ProcessIO, opts?: CallOptions): Promise<ClientProcess> {
    if (typeof processId !== 'string') throw new TypeError('processId: expected a string');
    return this.conn.process(this.handle, { kind: 'attach', processId }, io, opts);
  }

  async metrics(opts?: CallOptions): Promise<Metrics> {
    return this.conn.call('Metrics', this.at, undefined, opts);
  }

  /**
   * Sets the grace time: `seconds(90)`, `'90s'` or `{ seconds: 90 }` (a plain number is refused:
   * Garden's unit is the nanosecond).
   * @throws TypeError for a plain number or a malformed duration.
   */
  async setGraceTime(graceTime: DurationInput, opts?: CallOptions): Promise<void> {
    return this.conn.call('SetGraceTime', this.at, toDuration(graceTime, 'graceTime'), opts);
  }

  async properties(opts?: CallOptions): Promise<Properties> {
    return this.conn.call('Properties', this.at, undefined, opts);
  }

  /** @throws GardenError when the property does not exist (message from the backend). */
  async property(name: string, opts?: CallOptions): Promise<string> {
    return this.conn.call('Property', { handle: this.handle, key: checkName(name) }, undefined, opts);
  }

  async setProperty(name: string, value: string, opts?: CallOptions): Promise<void> {
    if (typeof value !== 'string') throw new TypeError('value: expected a string');
    return this.conn.call('SetProperty', { handle: this.handle, key: checkName(name) }, value, opts);
  }

  async removeProperty(name: string, opts?: CallOptions): Promise<void> {
    return this.conn.call('RemoveProperty', { handle: this.handle, key: checkName(name) }, undefined, opts);
  }
}

function checkName(name: unknown): string {
  checkWellFormed(name, 'name');
  return name;
}
