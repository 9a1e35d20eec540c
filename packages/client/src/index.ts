/**
 * @garden-ts/client — a typed Garden client, wire-compatible with the canonical Go server.
 * @packageDocumentation
 */
export { GardenConnectionError } from '@garden-ts/api-types';
export { GardenAbortError } from './call-options.js';
export { type ClientOptions, createClient, GardenClient } from './client.js';
export { ClientContainer } from './container.js';
export { DEFAULT_CONNECT_TIMEOUT_MS, type GardenAddress } from './dial.js';
export { ClientProcess } from './process.js';
