#!/usr/bin/env node
/**
 * gardend: serves the Garden API over the chosen backend.
 * Exit codes: 0 after a clean shutdown, 1 on a runtime failure, 2 on a usage error.
 */
import { createFakeBackend } from '@garden-ts/backend-fake';
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { buildServer } from '../build-server.js';
import { parseGardendArgs, USAGE, UsageError } from '../cli-options.js';

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
  if (options.backend === 'linux') {
    process.stderr.write('gardend: the linux backend is not available yet; use --backend fake\n');
    return 2;
  }

  // JSON logs to stderr (fd 2), synchronously so nothing is lost at exit.
  const logger = pino({ level: options.logLevel, name: 'gardend' }, pino.destination({ fd: 2, sync: true }));
  const server = buildServer({
    backend: createFakeBackend(),
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
