/**
 * The Garden client: `createClient({ socketPath })` or `createClient({ host, port })`.
 */
import {
  type CallOptions,
  type Capacity,
  type Client,
  type ContainerInfoEntry,
  type ContainerMetricsEntry,
  ContainerNotFoundError,
  type ContainerSpec,
  type EventSource,
  type EventsOptions,
  type GardenEventStream,
  type Properties,
} from '@garden-ts/api-types';
import { ClientContainer } from './container.js';
import { checkAddress, DEFAULT_CONNECT_TIMEOUT_MS, type GardenAddress } from './dial.js';
import { type DurationInput, toDuration } from './durations.js';
import { GardenConnection } from './garden-connection.js';
import { checkWellFormed } from './url-encoding.js';

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Milliseconds to wait for each connection to be established (Go client: 2000). 0 = no limit. */
  connectTimeout?: number;
}

/** {@link ContainerSpec} with `graceTime` in explicit units ({@link DurationInput}). */
export interface ClientContainerSpec extends Omit<ContainerSpec, 'graceTime'> {
  graceTime?: DurationInput;
}

/** The {@link Client} implementation returned by {@link createClient}. */
export class GardenClient implements Client, EventSource {
  private readonly conn: GardenConnection;

  /** @internal Use {@link createClient}. */
  constructor(address: GardenAddress, options: ClientOptions = {}) {
    const timeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0) {
      throw new RangeError('options.connectTimeout: expected a non-negative number of milliseconds');
    }
    this.conn = new GardenConnection(address, timeout);
  }

  /** The server's address. */
  get address(): GardenAddress {
    return this.conn.address;
  }

  /** The Ping route: the backend's health check. @throws UnrecoverableError when the server cannot recover. */
  async ping(opts?: CallOptions): Promise<void> {
    await this.conn.call('Ping', {}, undefined, opts);
  }

  async capacity(opts?: CallOptions): Promise<Capacity> {
    return this.conn.call('Capacity', {}, undefined, opts);
  }

  /**
   * Creates a container and returns its handle object. `spec.graceTime` takes explicit units:
   * `seconds(300)`, `'5m'` or `{ seconds: 300 }`.
   * @throws TypeError when `spec.handle` or a property key is not well-formed UTF-16, or for a
   *   plain-number or malformed `graceTime`; InvalidRequestError (400) for a handle the server
   *   refuses.
   */
  async create(spec: ClientContainerSpec, opts?: CallOptions): Promise<ClientContainer> {
    if (typeof spec?.handle === 'string') checkWellFormed(spec.handle, 'spec.handle');
    if (typeof spec?.properties === 'object' && spec.properties !== null) {
      for (const key of Object.keys(spec.properties))
        checkWellFormed(key, `spec.properties key ${JSON.stringify(key)}`);
    }
    const { graceTime, ...rest } = spec ?? {};
    const wire: ContainerSpec =
      graceTime === undefined ? rest : { ...rest, graceTime: toDuration(graceTime, 'spec.graceTime') };
    const created = await this.conn.call('Create', {}, wire, opts);
    return new ClientContainer(this.conn, created);
  }

  /** @throws ContainerNotFoundError */
  async destroy(handle: string, opts?: CallOptions): Promise<void> {
    checkWellFormed(handle, 'handle');
    await this.conn.call('Destroy', { handle }, undefined, opts);
  }

  /** Containers whose properties match every given key/value. */
  async containers(properties: Properties = {}, opts?: CallOptions): Promise<ClientContainer[]> {
    checkProperties(properties);
    const handles = await this.conn.call('List', {}, undefined, opts, properties);
    return handles.map((h) => new ClientContainer(this.conn, h));
  }

  /** Info of several containers; per-container failures are typed errors in `error`. */
  async bulkInfo(handles: string[], opts?: CallOptions): Promise<Record<string, ContainerInfoEntry>> {
    return this.conn.call('BulkInfo', {}, undefined, opts, { handles: joinHandles(handles) });
  }

  /** Metrics of several containers; per-container failures are typed errors in `error`. */
  async bulkMetrics(handles: string[], opts?: CallOptions): Promise<Record<string, ContainerMetricsEntry>> {
    return this.conn.call('BulkMetrics', {}, undefined, opts, { handles: joinHandles(handles) });
  }

  /**
   * Lifecycle events (a garden-ts extension: `GET /events`; the canonical Go server answers 404):
   * containers created, destroyed and reaped, OOM kills, process exits. The request is sent at
   * once; `ready` resolves when the subscription is active. Iterate until you `close()` it or
   * abort `signal` (the loop then ends without an error); a broken connection throws a
   * `GardenConnectionError`.
   *
   * ```ts
   * for await (const event of client.events({ signal })) console.log(event.type, event.handle);
   * ```
   */
  events(opts?: EventsOptions): GardenEventStream {
    return this.conn.events(opts);
  }

  /**
   * The container with this handle. Like the Go client this lists all containers and searches
   * locally (so it does not touch the container's grace timer).
   * @throws ContainerNotFoundError when no container has this handle.
   */
  async lookup(handle: string, opts?: CallOptions): Promise<ClientContainer> {
    if (typeof handle !== 'string') throw new TypeError('handle: expected a string');
    const list = await this.conn.call('List', {}, undefined, opts);
    if (!list.includes(handle)) throw new ContainerNotFoundError(handle);
    return new ClientContainer(this.conn, handle);
  }
}

function joinHandles(handles: unknown): string {
  if (!Array.isArray(handles) || handles.some((h) => typeof h !== 'string')) {
    throw new TypeError('handles: expected an array of strings');
  }
  return handles.join(',');
}

function checkProperties(properties: unknown): void {
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
    throw new TypeError('properties: expected an object of string values');
  }
  for (const [key, value] of Object.entries(properties)) {
    checkWellFormed(key, `properties key ${JSON.stringify(key)}`);
    if (typeof value !== 'string') throw new TypeError(`properties.${key}: expected a string`);
  }
}

/**
 * Creates a client for the Garden server at `address`: `{ socketPath }` for a unix socket or
 * `{ host, port }` for TCP.
 *
 * ```ts
 * const client = createClient({ socketPath: '/tmp/garden.sock' });
 * const container = await client.create({ handle: 'web' });
 * ```
 * @throws TypeError naming the bad field of `address`; RangeError for a bad `connectTimeout`.
 */
export function createClient(address: GardenAddress, options?: ClientOptions): GardenClient {
  return new GardenClient(checkAddress(address), options);
}
