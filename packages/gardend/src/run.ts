/**
 * The daemon: configuration, backend, server, the debug server, and signals.
 *
 * - SIGTERM / SIGINT: a graceful stop (the server's `close()`: no new connections, in-flight
 *   requests answered, process streams detached — processes and containers keep running —, the
 *   backend stopped), then exit 0. A second SIGTERM/SIGINT, or `--shutdown-timeout` passing,
 *   exits at once with status 1.
 * - SIGHUP: re-reads the configuration (the same flags and environment, the config file again)
 *   and applies `log-level`; any other option that changed is logged as needing a restart.
 *   Logs go to stderr, so there is no log file to reopen (see docs/operating.md).
 * - An uncaught exception or unhandled rejection: logged, then the same graceful stop, exit 1.
 */
import type { Backend } from '@garden-ts/api-types';
import {
  buildServer,
  type DebugServer,
  type GardenServer,
  ServerMetrics,
  serializeError,
  startDebugServer,
} from '@garden-ts/server';
import { type Logger, pino } from 'pino';
import { BACKENDS } from './backends/index.js';
import { StartupError } from './backends/types.js';
import { renderHelp } from './options/docs.js';
import { type Loaded, loadOptions, UsageError } from './options/load.js';
import { type GardendConfig, OPTIONS, type OptionKey } from './options/schema.js';
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
  const backendLogger = logger.child({ backend: config.backend });
  let backend: Backend;
  try {
    backend = await BACKENDS[config.backend](config, { logger: backendLogger, moduleDir: p.moduleDir });
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    // Plain text, like usage errors: the operator reads this one.
    process.stderr.write(`gardend: ${err.message}\n`);
    return 1;
  }
  const metrics =
    config.debugBindIp === undefined
      ? undefined
      : new ServerMetrics({
          containerMetrics: config.debugContainerMetrics,
          containerMetricsLimit: config.debugContainerMetricsLimit,
        });
  const server = buildServer({
    backend,
    logger,
    defaultGraceTime: config.defaultGraceTime,
    readHeaderTimeout: config.readHeaderTimeout,
    maxIdleConnections: config.maxIdleConnections,
    apiVersion: p.version,
    ...(metrics ? { metrics } : {}),
  });
  let debug: DebugServer | undefined;
  // A stop signal that arrives while we are still starting (the socket may already accept
  // connections before listen() resolves) must not kill us with the default disposition: it is
  // remembered and acted on as soon as the stop handlers are in place.
  const early: NodeJS.Signals[] = [];
  const onEarly = (signal: NodeJS.Signals) => early.push(signal);
  for (const signal of STOP_SIGNALS) process.on(signal, onEarly);
  try {
    await server.listen(listen);
    if (metrics && config.debugBindIp !== undefined) {
      debug = await startDebugServer({
        host: config.debugBindIp,
        port: config.debugBindPort,
        metrics,
        vars: async () => ({ depotDirs: (await backend.containers()).length }),
      });
      logger.info({ address: debug.address }, 'debug server listening');
    }
  } catch (err) {
    for (const signal of STOP_SIGNALS) process.off(signal, onEarly);
    logger.fatal({ err }, 'cannot listen');
    await server.close().catch(() => {});
    return 1;
  }
  const stopped = untilStopped({ server, debug, logger, backendLogger, config, process: p });
  for (const signal of STOP_SIGNALS) process.off(signal, onEarly);
  if (early[0] !== undefined) process.emit(early[0], early[0]);
  return stopped;
}

interface Running {
  server: GardenServer;
  debug: DebugServer | undefined;
  logger: Logger;
  backendLogger: Logger;
  config: GardendConfig;
  process: GardendProcess;
}

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Serves until a stop signal (or a fatal error); resolves with the exit code. */
function untilStopped(r: Running): Promise<number> {
  const { logger } = r;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onHup = () => reload(r);
    const stop = (reason: { signal?: string; err?: unknown }) => {
      if (stopping) {
        logger.error(
          { signal: reason.signal, err: reason.err },
          'second stop request while stopping; exiting now',
        );
        process.exit(1);
      }
      stopping = true;
      if (reason.err !== undefined) logger.error({ err: reason.err }, 'shutting down after an error');
      else logger.info({ signal: reason.signal }, 'shutting down');
      const timeoutMs = Number(r.config.shutdownTimeout / 1_000_000n);
      const timer = setTimeout(() => {
        logger.error({ timeoutMs }, 'graceful stop took longer than --shutdown-timeout; exiting');
        process.exit(1);
      }, timeoutMs);
      timer.unref();
      Promise.all([r.server.close(), r.debug?.close()]).then(
        () => {
          clearTimeout(timer);
          process.off('SIGHUP', onHup);
          logger.info('stopped');
          resolve(reason.err === undefined ? 0 : 1);
        },
        (err: unknown) => {
          logger.error({ err }, 'stopping failed');
          process.exit(1);
        },
      );
    };
    for (const signal of STOP_SIGNALS) process.on(signal, () => stop({ signal }));
    process.on('SIGHUP', onHup);
    process.on('uncaughtException', (err) => stop({ err }));
    process.on('unhandledRejection', (err) => stop({ err }));
  });
}

/** Options SIGHUP applies without a restart. */
const RELOADABLE: ReadonlySet<OptionKey> = new Set(['logLevel']);

/** SIGHUP: re-reads the configuration, applies the log level, reports what needs a restart. */
function reload(r: Running): void {
  const { logger } = r;
  let loaded: Loaded;
  try {
    loaded = loadOptions({ argv: r.process.argv, env: r.process.env, cwd: r.process.cwd });
  } catch (err) {
    logger.error({ err }, 'SIGHUP: the configuration cannot be read; keeping the current one');
    return;
  }
  if (loaded.kind !== 'run') return;
  const next = loaded.config;
  const needRestart = (Object.keys(OPTIONS) as OptionKey[]).filter(
    (key) => !RELOADABLE.has(key) && JSON.stringify(show(next[key])) !== JSON.stringify(show(r.config[key])),
  );
  if (next.logLevel !== r.config.logLevel) {
    logger.level = next.logLevel;
    r.backendLogger.level = next.logLevel;
    r.server.setLogLevel(next.logLevel);
    r.config.logLevel = next.logLevel;
  }
  logger.info(
    { logLevel: next.logLevel, ...(needRestart.length > 0 ? { needRestart } : {}) },
    needRestart.length > 0
      ? 'SIGHUP: configuration re-read; log level applied; changed options need a restart'
      : 'SIGHUP: configuration re-read; log level applied',
  );
}

function show(value: unknown): unknown {
  return typeof value === 'bigint' ? String(value) : value;
}
