/** What opening a backend takes and how it fails. */
import type { Backend } from '@garden-ts/api-types';
import type { Logger } from 'pino';
import type { GardendConfig } from '../options/schema.js';

/** gardend cannot start the backend; the message names the option or the missing piece. */
export class StartupError extends Error {}

export interface BackendContext {
  /** gardend's logger, with `backend` set. */
  logger: Logger;
  /** The directory of the running gardend (to find the checkout it runs from). */
  moduleDir: string;
}

/** Opens (and starts) one backend from the resolved configuration. @throws StartupError */
export type OpenBackend = (config: GardendConfig, ctx: BackendContext) => Promise<Backend>;
