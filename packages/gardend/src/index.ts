/**
 * @garden-ts/gardend: the Garden daemon (`gardend`). The library part exposes its option schema
 * and the pieces built from it, for tools and documentation.
 */
export { BACKENDS } from './backends/index.js';
export { type BackendContext, type OpenBackend, StartupError } from './backends/types.js';
export { renderHelp, renderOptionsTable, TABLE_BEGIN, TABLE_END, withOptionsTable } from './options/docs.js';
export {
  CONFIG_ENV,
  type Loaded,
  type LoadInput,
  loadOptions,
  UsageError,
  type ValueSource,
} from './options/load.js';
export {
  BACKEND_NAMES,
  type BackendName,
  DEFAULT_DEPOT,
  DEFAULT_SOCKET,
  envName,
  flagName,
  type GardendConfig,
  LOG_LEVELS,
  OPTIONS,
  type OptionKey,
  type OptionSpec,
} from './options/schema.js';
export type { ValueType } from './options/value-types.js';
export { type GardendProcess, runGardend } from './run.js';
