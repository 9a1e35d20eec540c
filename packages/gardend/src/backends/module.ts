/**
 * `gardend --backend module --backend-module PATH|PKG`: serves a third-party backend. The module
 * (ESM or CommonJS) exports
 *
 * ```ts
 * export function createBackend(options: Record<string, unknown>, context: { logger: Logger }): Backend | Promise<Backend>;
 * ```
 *
 * (or a default export with a `createBackend` function, as a CommonJS module seen from ESM has).
 * `options` is `--backend-options` (a JSON object, `{}` by default). gardend then calls
 * `backend.start()` when the server listens and `backend.stop()` when it stops. See
 * docs/writing-a-backend.md.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Backend } from '@garden-ts/api-types';
import type { GardendConfig } from '../options/schema.js';
import { type BackendContext, StartupError } from './types.js';

/** What a backend module exports. */
export interface BackendModule {
  createBackend(
    options: Record<string, unknown>,
    context: { logger: BackendContext['logger'] },
  ): Backend | Promise<Backend>;
}

const BACKEND_METHODS = [
  'start',
  'stop',
  'ping',
  'capacity',
  'create',
  'destroy',
  'containers',
  'lookup',
  'graceTime',
];

/** Imports `specifier`: a file path, or a package found from gardend or else from `cwd`. */
async function importModule(specifier: string, cwd: string): Promise<unknown> {
  if (specifier.startsWith('/')) return import(pathToFileURL(specifier).href);
  try {
    return await import(specifier);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    let resolved: string;
    try {
      resolved = createRequire(join(cwd, 'noop.js')).resolve(specifier);
    } catch {
      throw err;
    }
    return import(pathToFileURL(resolved).href);
  }
}

function createBackendOf(mod: unknown): BackendModule['createBackend'] | undefined {
  const m = mod as { createBackend?: unknown; default?: { createBackend?: unknown } };
  if (typeof m.createBackend === 'function') return m.createBackend as BackendModule['createBackend'];
  if (typeof m.default?.createBackend === 'function')
    return m.default.createBackend as BackendModule['createBackend'];
  return undefined;
}

export async function openModuleBackend(
  config: GardendConfig,
  { logger }: BackendContext,
  cwd: string = process.cwd(),
): Promise<Backend> {
  const specifier = config.backendModule;
  if (specifier === undefined) throw new StartupError('--backend module needs --backend-module PATH|PKG');
  let mod: unknown;
  try {
    mod = await importModule(specifier, cwd);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') {
      throw new StartupError(`--backend-module ${specifier}: cannot be found (${e.message})`, { cause: err });
    }
    throw new StartupError(`--backend-module ${specifier}: loading it failed: ${e.message}`, { cause: err });
  }
  const create = createBackendOf(mod);
  if (create === undefined) {
    throw new StartupError(
      `--backend-module ${specifier}: exports no createBackend(options, context) function (docs/writing-a-backend.md)`,
    );
  }
  let backend: Backend;
  try {
    backend = await create(config.backendOptions, { logger });
  } catch (err) {
    throw new StartupError(`--backend-module ${specifier}: createBackend failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const missing = BACKEND_METHODS.filter(
    (m) => typeof (backend as unknown as Record<string, unknown>)?.[m] !== 'function',
  );
  if (missing.length > 0) {
    throw new StartupError(
      `--backend-module ${specifier}: createBackend returned no Backend (missing ${missing.join(', ')})`,
    );
  }
  logger.info({ module: specifier }, 'serving a backend module');
  return backend;
}
