/**
 * @garden-ts/server: the Garden HTTP server over any Backend, wire-compatible with the canonical
 * Go server (see the protocol doc), and the building blocks it is made of.
 */
export {
  type BuildServerOptions,
  buildServer,
  type GardenServer,
  type ListenOptions,
} from './build-server.js';
export { Bomberman } from './grace/bomberman.js';
export { DestroyGuard } from './grace/destroy-guard.js';
export { TimeBomb } from './grace/timebomb.js';
export { HandBackStore } from './process/hand-back-store.js';
export { type OutputKind, OutputReader, type OutputReaderOptions } from './process/output-reader.js';
export { StartupBuffer } from './process/startup-buffer.js';
export {
  type StartupBuffers,
  StreamRegistry,
  type StreamRegistryOptions,
} from './process/stream-registry.js';
export { matchRoute, type Route, type RouteMatch, tryPattern } from './routing/router.js';
