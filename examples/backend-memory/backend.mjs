// @ts-check
/**
 * A tiny Garden backend, the one docs/writing-a-backend.md walks through: containers that are
 * records in memory (handles, properties, limits, grace times, state). It runs no processes and
 * holds no files — those calls fail with a clear GardenError — which is enough to serve
 * gardend's whole API surface, pass the contract suite's container features and be driven by
 * any Garden client.
 *
 * gardend loads it with `gardend --backend module --backend-module ./examples/backend-memory/backend.mjs`
 * and calls `createBackend(options, { logger })`.
 */
import {
  ContainerNotFoundError,
  GardenError,
  InvalidRequestError,
  MEMORY_STAT_KEYS,
} from '@garden-ts/api-types';
// Garden's backend-independent rules (handle names, the limits a kernel can take, env merging,
// users, the port pool): use them rather than re-deriving Guardian's behaviour.
import { checkContainerLimits, checkName, checkProcessLimits } from '@garden-ts/backend-kit';

/** @typedef {import('@garden-ts/api-types').Backend} Backend */
/** @typedef {import('@garden-ts/api-types').Container} Container */
/** @typedef {import('@garden-ts/api-types').ContainerSpec} ContainerSpec */

const notSupported = (what) => async () => {
  throw new GardenError(`${what} is not supported by the memory example backend`);
};

/**
 * @param {{ maxContainers?: number }} options `--backend-options` (a JSON object)
 * @param {{ logger?: { info(o: object, msg: string): void } }} [context]
 * @returns {Backend}
 */
export function createBackend(options = {}, context = {}) {
  const max = options.maxContainers ?? 0;
  if (!Number.isInteger(max) || max < 0) {
    throw new InvalidRequestError('maxContainers', 'maxContainers must be a non-negative integer');
  }
  /** @type {Map<string, { spec: ContainerSpec, properties: Record<string, string>, graceTime: bigint, stopped: boolean, createdAt: number }>} */
  const records = new Map();
  let counter = 0;

  const record = (handle) => {
    const r = records.get(handle);
    if (!r) throw new ContainerNotFoundError(handle);
    return r;
  };

  /** A cheap handle object; every call re-checks that the container still exists. */
  const view = (handle) =>
    /** @type {Container} */ ({
      handle,
      async stop() {
        record(handle).stopped = true;
      },
      async info() {
        const r = record(handle);
        return {
          state: r.stopped ? 'stopped' : 'active',
          events: [],
          hostIP: '',
          containerIP: '',
          containerIPv6: '',
          externalIP: '',
          containerPath: '',
          processIDs: [],
          properties: { ...r.properties },
          mappedPorts: [],
        };
      },
      streamIn: async (spec) => {
        spec.tarStream.resume(); // drain what the client sends before refusing
        record(handle);
        throw new GardenError('files are not supported by the memory example backend');
      },
      streamOut: notSupported('StreamOut'),
      async currentBandwidthLimits() {
        return { ...record(handle).spec.limits?.bandwidth };
      },
      async currentCPULimits() {
        // Garden reports the shares S in effect (weight if given, else limitInShares) and never
        // echoes weight (linux-backend-reference §6.2; the contract's cpuLimitsReadBack: 'shares').
        const cpu = record(handle).spec.limits?.cpu;
        const shares = cpu?.weight || cpu?.limitInShares;
        return shares ? { limitInShares: shares } : {};
      },
      async currentDiskLimits() {
        return { ...record(handle).spec.limits?.disk };
      },
      async currentMemoryLimits() {
        return { ...record(handle).spec.limits?.memory };
      },
      netIn: notSupported('NetIn'),
      netOut: notSupported('NetOut'),
      bulkNetOut: notSupported('BulkNetOut'),
      run: async (spec) => {
        record(handle);
        checkProcessLimits(spec.overrideContainerLimits);
        throw new GardenError('processes are not supported by the memory example backend');
      },
      attach: notSupported('Attach'),
      async metrics() {
        return metricsOf(record(handle));
      },
      async setGraceTime(graceTime) {
        record(handle).graceTime = graceTime;
      },
      async properties() {
        return { ...record(handle).properties };
      },
      async property(name) {
        const value = record(handle).properties[name];
        if (value === undefined) throw new GardenError(`property does not exist: ${name}`);
        return value;
      },
      async setProperty(name, value) {
        record(handle).properties[name] = value;
      },
      async removeProperty(name) {
        delete record(handle).properties[name];
      },
    });

  const metricsOf = (r) => ({
    memoryStat: Object.fromEntries(MEMORY_STAT_KEYS.map((k) => [k, 0n])),
    cpuStat: { usage: 0n, user: 0n, system: 0n },
    diskStat: { totalBytesUsed: 0n, totalInodesUsed: 0n, exclusiveBytesUsed: 0n, exclusiveInodesUsed: 0n },
    networkStat: null,
    pidStat: { current: 0n, max: 0n },
    age: BigInt(Date.now() - r.createdAt) * 1_000_000n,
    cpuEntitlement: 0n,
  });

  return {
    async start() {
      context.logger?.info({ maxContainers: max }, 'memory example backend started');
    },
    async stop() {},
    async ping() {},
    async capacity() {
      return {
        memoryInBytes: 1n << 30n,
        diskInBytes: 1n << 30n,
        schedulableDiskInBytes: 1n << 30n,
        maxContainers: BigInt(max || 1024),
      };
    },
    async create(spec) {
      const handle = spec.handle || `memory-${++counter}`;
      checkName('handle', handle);
      if (records.has(handle)) throw new GardenError(`Handle '${handle}' already in use`);
      checkContainerLimits(spec.limits);
      if (max > 0 && records.size >= max) throw new GardenError('max containers reached');
      records.set(handle, {
        spec,
        properties: { ...spec.properties },
        graceTime: spec.graceTime ?? 0n,
        stopped: false,
        createdAt: Date.now(),
      });
      return view(handle);
    },
    async destroy(handle) {
      record(handle);
      records.delete(handle);
    },
    async containers(filter = {}) {
      return [...records]
        .filter(([, r]) => Object.entries(filter).every(([k, v]) => r.properties[k] === v))
        .map(([handle]) => view(handle));
    },
    async bulkInfo(handles) {
      const out = {};
      for (const h of handles) {
        out[h] = records.has(h) ? { info: await view(h).info() } : { error: new ContainerNotFoundError(h) };
      }
      return out;
    },
    async bulkMetrics(handles) {
      const out = {};
      for (const h of handles) {
        out[h] = records.has(h)
          ? { metrics: metricsOf(record(h)) }
          : { error: new ContainerNotFoundError(h) };
      }
      return out;
    },
    async lookup(handle) {
      record(handle);
      return view(handle);
    },
    async graceTime(container) {
      return record(container.handle).graceTime;
    },
  };
}
