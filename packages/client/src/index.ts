/**
 * @garden-ts/client — a typed Garden client, wire-compatible with the canonical Go server.
 *
 * Everything a client program needs is exported here, including the values, helpers, errors
 * and types of `@garden-ts/api-types` that the client's API takes and returns.
 * @packageDocumentation
 */

export type {
  BandwidthLimits,
  BindMount,
  CallOptions,
  Capacity,
  Container,
  ContainerInfo,
  ContainerInfoEntry,
  ContainerMetricsEntry,
  ContainerSpec,
  CPULimits,
  DiskLimits,
  Duration,
  EventsOptions,
  GardenEvent,
  GardenEventStream,
  GardenEventType,
  ICMPControl,
  ImageRef,
  IPRange,
  Limits,
  MemoryLimits,
  Metrics,
  NetInRule,
  NetOutRule,
  PidLimits,
  PortMapping,
  PortRange,
  Process,
  ProcessIO,
  ProcessLimits,
  ProcessSpec,
  Properties,
  ResourceLimits,
  StreamInSpec,
  StreamOutSpec,
  TTYSpec,
  WindowSize,
} from '@garden-ts/api-types';
export {
  BindMountMode,
  BindMountOrigin,
  ContainerNotFoundError,
  DiskLimitScope,
  ErrorCode,
  ExecutableNotFoundError,
  GARDEN_EVENT_TYPES,
  GardenConnectionError,
  GardenError,
  HOUR,
  InvalidRequestError,
  MICROSECOND,
  MILLISECOND,
  MINUTE,
  millis,
  NANOSECOND,
  ProcessNotFoundError,
  Protocol,
  parseDuration,
  SECOND,
  ServiceUnavailableError,
  Signal,
  seconds,
  toMillis,
  UnrecoverableError,
} from '@garden-ts/api-types';
export { GardenAbortError } from './call-options.js';
export { type ClientContainerSpec, type ClientOptions, createClient, GardenClient } from './client.js';
export { ClientContainer, type ClientStreamInSpec } from './container.js';
export { DEFAULT_CONNECT_TIMEOUT_MS, type GardenAddress } from './dial.js';
export { type DurationInput, toDuration } from './durations.js';
export { stringifyJson } from './json.js';
export { ClientProcess } from './process.js';
export type { TarSource } from './tar-source.js';
