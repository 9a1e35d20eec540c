#!/usr/bin/env node
/**
 * gardend: serves the Garden API over the chosen backend (`fake`, or `linux`: real containers,
 * loaded lazily from the optional @garden-ts/backend-linux package).
 * Exit codes: 0 after a clean shutdown, 1 on a runtime or startup failure (e.g. not root for
 * `--backend linux`), 2 on a usage error.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '@garden-ts/api-types';
import { createFakeBackend } from '@garden-ts/backend-fake';
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { buildServer } from '../build-server.js';
import { parseGardendArgs, USAGE, UsageError } from '../cli-options.js';
import { openLinuxBackend, StartupError } from './linux-backend.js';
import { socketInUse } from './socket-in-use.js';

async function main(): Promise<number> {
  let options: ReturnType<typeof parseGardendArgs>;
  try {
    options = parseGardendArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`gardend: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if ('socketPath' in options.listen && (await socketInUse(options.listen.socketPath))) {
    process.stderr.write(
      `gardend: --bind-socket ${options.listen.socketPath}: another server is already listening there\n`,
    );
    return 1;
  }

  // JSON logs to stderr (fd 2), synchronously so nothing is lost at exit.
  const logger = pino({ level: options.logLevel, name: 'gardend' }, pino.destination({ fd: 2, sync: true }));
  let backend: Backend;
  if (options.linux) {
    try {
      backend = await openLinuxBackend(
        options.linux,
        logger.child({ backend: 'linux' }),
        dirname(fileURLToPath(import.meta.url)),
      );
    } catch (err) {
      if (!(err instanceof StartupError)) throw err;
      // Plain text, like usage errors: the operator reads this one.
      process.stderr.write(`gardend: ${err.message}\n`);
      return 1;
    }
  } else {
    backend = createFakeBackend();
  }
  const server = buildServer({
    backend,
    logger,
    defaultGraceTime: options.defaultGraceTime,
    readHeaderTimeout: options.readHeaderTimeout,
  });
  try {
    await server.listen(options.listen);
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

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`gardend: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
