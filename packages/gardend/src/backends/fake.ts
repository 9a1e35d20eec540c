/** `gardend --backend fake`: the in-memory backend, for tests and development. */
import type { Backend } from '@garden-ts/api-types';
import { createFakeBackend } from '@garden-ts/backend-fake';
import type { GardendConfig } from '../options/schema.js';
import { StartupError } from './types.js';

export async function openFakeBackend(config: GardendConfig): Promise<Backend> {
  try {
    return createFakeBackend({
      maxContainers: config.maxContainers,
      portPoolStart: config.portPoolStart,
      portPoolSize: config.portPoolSize,
    });
  } catch (err) {
    if (err instanceof RangeError)
      throw new StartupError(`--port-pool-start/--port-pool-size: ${err.message}`);
    throw err;
  }
}
