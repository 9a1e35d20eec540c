/**
 * The per-container half of the client: a cheap handle whose methods map 1:1 onto routes.
 */
import type { Readable } from 'node:stream';
import {
  type BandwidthLimits,
  type CallOptions,
  type Container,
  type ContainerInfo,
  type CPULimits,
  type DiskLimits,
  type Duration,
  encodeBody,
  type MemoryLimits,
  type Metrics,
  type NetInRule,
  type NetOutRule,
  type ProcessIO,
  type ProcessSpec,
  type Properties,
  type StreamInSpec,
  type StreamOutSpec,
  Wire,
} from '@garden-ts/api-types';
import type { GardenConnection } from './garden-connection.js';
import type { ClientProcess } from './process.js';
import { encodePathParam, withQuery } from './url-encoding.js';

/** A container on a Garden server. Obtain one from `client.create()` / `lookup()` / `containers()`. */
export class ClientContainer implements Container {
  /** @internal */
  constructor(
    private readonly conn: GardenConnection,
    readonly handle: string,
  ) {}

  private path(suffix = ''): string {
    return `/containers/${encodePathParam(this.handle)}${suffix}`;
  }

  /** `PUT /containers/:handle/stop` with `{"kill":…}`. */
  async stop(kill: boolean, opts?: CallOptions): Promise<void> {
    if (typeof kill !== 'boolean') throw new TypeError('kill: expected a boolean');
    return this.conn.empty(
      { method: 'PUT', path: this.path('/stop'), body: encodeBody(Wire.stopRequest, kill) },
      opts,
    );
  }

  /** @throws ContainerNotFoundError */
  async info(opts?: CallOptions): Promise<ContainerInfo> {
    return this.conn.json({ method: 'GET', path: this.path('/info') }, Wire.containerInfo, opts);
  }

  /**
   * Streams `spec.tarStream` (chunked) into `spec.path`. The tar stream is consumed (and
   * destroyed if the upload fails).
   */
  async streamIn(spec: StreamInSpec, opts?: CallOptions): Promise<void> {
    if (typeof spec?.path !== 'string') throw new TypeError('spec.path: expected a string');
    if (typeof spec.tarStream?.pipe !== 'function') {
      throw new TypeError('spec.tarStream: expected a Readable stream');
    }
    const path = withQuery(this.path('/files'), { destination: spec.path, user: spec.user ?? '' });
    return this.conn.empty(
      { method: 'PUT', path, body: spec.tarStream, contentType: 'application/x-tar' },
      opts,
    );
  }

  /**
   * A tar stream of `spec.path`. The stream errors if the server aborts mid-download; the
   * call's signal/timeout keep applying until the stream ends.
   */
  async streamOut(spec: StreamOutSpec, opts?: CallOptions): Promise<Readable> {
    if (typeof spec?.path !== 'string') throw new TypeError('spec.path: expected a string');
    const path = withQuery(this.path('/files'), { source: spec.path, user: spec.user ?? '' });
    return this.conn.stream({ method: 'GET', path }, opts);
  }

  async currentBandwidthLimits(opts?: CallOptions): Promise<BandwidthLimits> {
    return this.conn.json(
      { method: 'GET', path: this.path('/limits/bandwidth') },
      Wire.bandwidthLimits,
      opts,
    );
  }

  async currentCPULimits(opts?: CallOptions): Promise<CPULimits> {
    return this.conn.json({ method: 'GET', path: this.path('/limits/cpu') }, Wire.cpuLimits, opts);
  }

  async currentDiskLimits(opts?: CallOptions): Promise<DiskLimits> {
    return this.conn.json({ method: 'GET', path: this.path('/limits/disk') }, Wire.diskLimits, opts);
  }

  async currentMemoryLimits(opts?: CallOptions): Promise<MemoryLimits> {
    return this.conn.json({ method: 'GET', path: this.path('/limits/memory') }, Wire.memoryLimits, opts);
  }

  /** Maps a host port to a container port (0 = allocate / same as host). */
  async netIn(hostPort: number, containerPort: number, opts?: CallOptions): Promise<NetInRule> {
    const body = encodeBody(Wire.netInRequest, { handle: this.handle, hostPort, containerPort });
    return this.conn.json({ method: 'POST', path: this.path('/net/in'), body }, Wire.netInResponse, opts);
  }

  async netOut(rule: NetOutRule, opts?: CallOptions): Promise<void> {
    return this.conn.empty(
      { method: 'POST', path: this.path('/net/out'), body: encodeBody(Wire.netOutRule, rule) },
      opts,
    );
  }

  async bulkNetOut(rules: NetOutRule[], opts?: CallOptions): Promise<void> {
    return this.conn.empty(
      { method: 'POST', path: this.path('/net/out/bulk'), body: encodeBody(Wire.netOutRules, rules) },
      opts,
    );
  }

  /**
   * Starts a process. Resolves once the process started and the requested output streams are
   * attached; the call's signal/timeout cover only that phase (use `wait(opts)` for the rest).
   * @throws ExecutableNotFoundError when `spec.path` cannot be executed.
   * @throws ContainerNotFoundError
   */
  async run(spec: ProcessSpec, io: ProcessIO, opts?: CallOptions): Promise<ClientProcess> {
    const body = encodeBody(Wire.processSpec, spec);
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
    return this.conn.json({ method: 'GET', path: this.path('/metrics') }, Wire.metrics, opts);
  }

  /** Sets the grace time (bigint nanoseconds, e.g. `seconds(90)`). */
  async setGraceTime(graceTime: Duration, opts?: CallOptions): Promise<void> {
    const body = encodeBody(Wire.graceTime, graceTime);
    return this.conn.empty({ method: 'PUT', path: this.path('/grace_time'), body }, opts);
  }

  async properties(opts?: CallOptions): Promise<Properties> {
    return this.conn.json({ method: 'GET', path: this.path('/properties') }, Wire.properties, opts);
  }

  /** @throws GardenError when the property does not exist (message from the backend). */
  async property(name: string, opts?: CallOptions): Promise<string> {
    const path = this.path(`/properties/${encodePathParam(checkName(name))}`);
    return this.conn.json({ method: 'GET', path }, Wire.propertyValue, opts);
  }

  async setProperty(name: string, value: string, opts?: CallOptions): Promise<void> {
    if (typeof value !== 'string') throw new TypeError('value: expected a string');
    const path = this.path(`/properties/${encodePathParam(checkName(name))}`);
    return this.conn.empty({ method: 'PUT', path, body: encodeBody(Wire.propertyValue, value) }, opts);
  }

  async removeProperty(name: string, opts?: CallOptions): Promise<void> {
    const path = this.path(`/properties/${encodePathParam(checkName(name))}`);
    return this.conn.empty({ method: 'DELETE', path }, opts);
  }
}

function checkName(name: unknown): string {
  if (typeof name !== 'string') throw new TypeError('name: expected a string');
  return name;
}
