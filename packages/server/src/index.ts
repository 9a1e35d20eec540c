/**
 * @garden-ts/server: the Garden HTTP server over any Backend, wire-compatible with the canonical
 * Go server (see the protocol doc). The daemon that wires backends to it is @garden-ts/gardend.
 */
export {
  type BuildServerOptions,
  buildServer,
  DEFAULT_READ_HEADER_TIMEOUT,
  type GardenServer,
  type ListenOptions,
} from './build-server.js';
export type { Bomberman } from './grace/bomberman.js';
export { DEFAULT_MAX_IDLE_CONNECTIONS } from './http/idle-connections.js';
export { type SerializedError, serializeError } from './log-errors.js';
export { type DebugServer, type DebugServerOptions, startDebugServer } from './metrics/debug-server.js';
export { expvars, GcObserver, memstats } from './metrics/expvar.js';
export { type MetricsOptions, ServerMetrics, type Transport } from './metrics/server-metrics.js';
export type { StreamRegistry } from './process/stream-registry.js';
