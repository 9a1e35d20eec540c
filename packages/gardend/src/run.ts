/** The daemon: configuration, backend, server, and a clean stop on SIGTERM/SIGINT. */
import type { Backend } from '@garden-ts/api-types';
import { buildServer, serializeError } from '@garden-ts/server';
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { BACKENDS } from './backends/index.js';
import { StartupError } from './backends/types.js';
import { renderHelp } from './options/docs.js';
import { type Loaded, loadOptions, UsageError } from './options/load.js';
import { socketInUse } from './socket-in-use.js';

export interface GardendProcess {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** The directory of the running gardend (to find the checkout it runs from). */
  moduleDir: string;
  version: string;
}

/** Runs gardend until it is told to stop; resolves with the exit code. */
export async function runGardend(p: GardendProcess): Promise<number> {
  let loaded: Loaded;
  try {
    loaded = loadOptions({ argv: p.argv, env: p.env, cwd: p.cwd });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`gardend: ${err.message}\n\nRun gardend --help for the options.\n`);
      return 2;
    }
    throw err;
  }
  if (loaded.kind === 'help') {
    process.stdout.write(renderHelp());
    return 0;
  }
  if (loaded.kind === 'version') {
    process.stdout.write(`gardend ${p.version}\n`);
    return 0;
  }
  const { config, listen } = loaded;
  if ('socketPath' in listen && (await socketInUse(listen.socketPath))) {
    process.stderr.write(
      `gardend: --bind-socket ${listen.socketPath}: another server is already listening there\n`,
    );
    return 1;
  }

  // JSON logs to stderr (fd 2), synchronously so nothing is lost at exit.
  const logger = pino(
    { level: config.logLevel, name: 'gardend', serializers: { err: serializeError } },
    pino.destination({ fd: 2, sync: true }),
  );
  let backend: Backend;
  try {
    backend = await BACKENDS[config.backend](config, {
      logger: logger.child({ backend: config.backend }),
      moduleDir: p.moduleDir,
    });
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    // Plain text, like usage errors: the operator reads this one.
    process.stderr.write(`gardend: ${err.message}\n`);
    return 1;
  }
  const server = buildServer({
    backend,
    logger,
    defaultGraceTime: config.defaultGraceTime,
    readHeaderTimeout: config.readHeaderTimeout,
    maxIdleConnections: config.maxIdleConnections,
  });
  try {
    await server.listen(listen);
  } catch (err) {
    logger.fatal({ err }, 'cannot listen');
    await server.close().catch(() => {});
    return 1;
  }
  return new Promise<number>((resolve) => {
    closeWithGrace(
      { delay: 10_000, logger: { error: (m: unknown) => logger.error(m) } },
      async ({ signal, err }) => {
        if (err) logger.error({ err }, 'shutting down after an error');
        else logger.info({ signal }, 'shutting down');
        await server.close();
        logger.info('stopped');
        resolve(err ? 1 : 0);
      },
    );
  });
}
