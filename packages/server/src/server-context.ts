/** State shared by every handler of one server instance. */
import type { Backend, Duration, EventHub } from '@garden-ts/api-types';
import type { Logger } from 'pino';
import type { Bomberman } from './grace/bomberman.js';
import type { DestroyGuard } from './grace/destroy-guard.js';
import type { ServerMetrics } from './metrics/server-metrics.js';
import type { StreamRegistry } from './process/stream-registry.js';

export interface ServerContext {
  backend: Backend;
  bomberman: Bomberman;
  destroyGuard: DestroyGuard;
  streams: StreamRegistry;
  /** Substituted at Create when the spec's grace time is 0. */
  defaultGraceTime: Duration;
  log: Logger;
  /** Aborted when the server starts stopping: hijacked handlers detach at once. */
  stopping: AbortSignal;
  /** Lifecycle events: the server's own and the backend's, fanned out to `GET /events`. */
  events: EventHub;
  /** Prometheus metrics, when enabled. */
  metrics: ServerMetrics | undefined;
  /** The OpenAPI document served at `GET /openapi.json`. */
  openApi(): string;
}
