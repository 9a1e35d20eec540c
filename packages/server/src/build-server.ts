/**
 * The app factory: a Garden server over any Backend, separate from the process that listens.
 *
 * Connections arrive at a front `net.Server` (see `http/front-door.ts`). Hijacked routes are served
 * on the raw socket; everything else is handed to the `http.Server` fastify owns (built through
 * `serverFactory`), where one `onRequest` hook routes with Go `pat` semantics and answers with
 * Go-shaped bytes. fastify supplies pino logging with request ids, `inject()` and close handling.
 */
import { readFileSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  type Backend,
  type Duration,
  EventHub,
  type EventsOptions,
  type GardenEventStream,
  openApiJson,
  SECOND,
  toMillis,
} from '@garden-ts/api-types';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { type Logger, pino } from 'pino';
import { Bomberman } from './grace/bomberman.js';
import { DestroyGuard } from './grace/destroy-guard.js';
import { serveHijacked } from './handlers/hijacked-routes.js';
import { answerMatch } from './handlers/plain-routes.js';
import { createFrontDoor, type FastRequest, handToHttp, type RawRequest } from './http/front-door.js';
import { DEFAULT_MAX_IDLE_CONNECTIONS, IdleConnections } from './http/idle-connections.js';
import { readBody } from './http/read-body.js';
import { goBadRequest, writeAnswer } from './http/responses.js';
import { serializeError } from './log-errors.js';
import type { ServerMetrics } from './metrics/server-metrics.js';
import { StreamRegistry } from './process/stream-registry.js';
import { hasValidEscapes, splitTarget } from './routing/form-decoding.js';
import { matchRoute, type RouteMatch } from './routing/router.js';
import type { ServerContext } from './server-context.js';

export interface BuildServerOptions {
  backend: Backend;
  /** A pino logger; omitted or `false` = no logging. Errors are logged through {@link serializeError}. */
  logger?: Logger | false;
  /** Grace time substituted at Create when the spec has none (0 = never reap such containers). */
  defaultGraceTime?: Duration;
  /**
   * Close a connection whose request head takes longer than this, without answering (Go's
   * ReadHeaderTimeout). Default {@link DEFAULT_READ_HEADER_TIMEOUT}; 0 = no limit.
   */
  readHeaderTimeout?: Duration;
  /**
   * At most this many connections may wait idle for a request head; beyond it the longest-idle
   * ones (idle for at least 1 s) are closed. Default {@link DEFAULT_MAX_IDLE_CONNECTIONS}.
   */
  maxIdleConnections?: number;
  /** Call `backend.start()` in `listen()` (default true). `close()` always calls `backend.stop()`. */
  startBackend?: boolean;
  /** How long a finished process stream stays resolvable for late Stdout/Stderr readers (ms; Go: 60 s). */
  streamRetentionMs?: number;
  /**
   * Prometheus metrics to record (`new ServerMetrics()`; serve them with `startDebugServer`).
   * Absent = nothing is measured (the request paths do not even read the clock).
   */
  metrics?: ServerMetrics;
  /** `info.version` of the OpenAPI document served at `GET /openapi.json` (default: api-types'). */
  apiVersion?: string;
}

export type ListenOptions = { socketPath: string } | { host: string; port: number };

/** Go sends its request head at once; a minute is generous and still ends half-open connections. */
export const DEFAULT_READ_HEADER_TIMEOUT: Duration = 60n * SECOND;

/**
 * The listen backlog: the system maximum (`net.core.somaxconn`; the kernel caps any larger value
 * anyway), not Node's 511, so a burst of connects from many clients is queued instead of refused
 * with EAGAIN.
 */
function listenBacklog(): number {
  try {
    const max = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    if (Number.isInteger(max) && max > 0) return max;
  } catch {
    // not Linux, or no procfs
  }
  return 4096;
}

export interface GardenServer {
  readonly fastify: FastifyInstance<HttpServer, IncomingMessage, ServerResponse, Logger>;
  /** Starts the backend, straps a grace timer on every existing container, then listens. */
  listen(opts: ListenOptions): Promise<void>;
  /** Graceful stop (protocol §10); resolves when every connection is closed and the backend stopped. */
  close(): Promise<void>;
  /** The listening address (a socket path or host/port), or null before `listen()`. */
  readonly address: string | AddressInfo | null;
  /** Open connections (plain and hijacked). */
  readonly connectionCount: number;
  /** Grace-time bookkeeping, exposed for inspection. */
  readonly bomberman: Bomberman;
  /** Process output streams, exposed for inspection. */
  readonly streams: StreamRegistry;
  /** The metrics given in the options, bound to the backend. */
  readonly metrics: ServerMetrics | undefined;
  /**
   * Subscribes to the lifecycle events `GET /events` streams (the server's and the backend's),
   * in process.
   */
  events(opts?: EventsOptions): GardenEventStream;
  /** Changes the level of the server's logger (a pino child keeps the level it was created with). */
  setLogLevel(level: string): void;
}

export function buildServer(options: BuildServerOptions): GardenServer {
  const { backend } = options;
  const headerTimeoutMs = toMillis(options.readHeaderTimeout ?? DEFAULT_READ_HEADER_TIMEOUT);
  // Every error is logged with its cause chain and codes (log-errors.ts), whatever the caller's
  // logger does with `err` otherwise.
  const log: Logger = options.logger
    ? options.logger.child({}, { serializers: { err: serializeError } })
    : pino({ enabled: false });
  let httpServer: HttpServer | undefined;
  // One request-id sequence for both plain paths and the hijacked path.
  let reqCounter = 0;
  const reqIdOf = (n: number) => `req-${n.toString(36)}`;
  const nextReqId = () => reqIdOf(++reqCounter);

  const fastify = Fastify({
    loggerInstance: log,
    return503OnClosing: false,
    genReqId: nextReqId,
    // Routing happens in our own hook on the raw request-target; fastify's router sees one path.
    rewriteUrl: () => '/',
    // fastify's own request lines would show that one path ("/"); the handlers log each request
    // at debug with its real target and route name instead.
    logController: new LogController({ disableRequestLogging: true }),
    serverFactory: (handler) => {
      httpServer = createHttpServer(
        {
          // Go answers a missing Host with its own text; we check it ourselves.
          requireHostHeader: false,
          requestTimeout: 0,
          // The read-header timeout also bounds heads that reach Node's parser (0 = none).
          headersTimeout: headerTimeoutMs,
          keepAliveTimeout: 0,
          maxHeaderSize: 1024 * 1024,
        },
        handler,
      );
      return httpServer;
    },
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => clientError(err, socket),
  });

  const stopping = new AbortController();
  const destroyGuard = new DestroyGuard();
  const events = new EventHub();
  const metrics = options.metrics;
  metrics?.bind(backend);
  const bomberman = new Bomberman((handle) => {
    // Reap: same guard as Destroy; errors are only logged and never retried.
    events.publish({ type: 'container.reaped', handle });
    destroyGuard
      .run(handle, () => backend.destroy(handle))
      .then(
        () => {
          metrics?.destroyed(true, 'grace-time');
          events.publish({ type: 'container.destroyed', handle });
          streams.forgetContainer(handle);
          log.info({ handle }, 'grace time expired; container destroyed');
        },
        (err) => {
          metrics?.destroyed(false, 'grace-time');
          log.error({ err, handle }, 'reaping container failed');
        },
      );
  });
  let openApi: string | undefined;
  const streams = new StreamRegistry(options.streamRetentionMs ?? 60_000);
  const ctx: ServerContext = {
    backend,
    bomberman,
    destroyGuard,
    streams,
    defaultGraceTime: options.defaultGraceTime ?? 0n,
    log,
    stopping: stopping.signal,
    events,
    metrics,
    openApi: () => {
      openApi ??= openApiJson(options.apiVersion === undefined ? {} : { version: options.apiVersion });
      return openApi;
    },
  };

  // ---- connection and request bookkeeping (for shutdown and leak checks) ----
  // Answers Node's parser errors like Go does (400, or 431 for an oversized head), after any
  // response still in flight on that connection (a valid request followed by garbage).
  const clientError = (err: NodeJS.ErrnoException, socket: Socket) => {
    const answer = () => {
      if (socket.writable && err.code !== 'ECONNRESET') {
        socket.end(
          err.code === 'HPE_HEADER_OVERFLOW'
            ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large'
            : goBadRequest(),
        );
        socket.once('finish', () => socket.destroy());
      } else {
        socket.destroy();
      }
    };
    // A request whose own body is broken (e.g. an invalid chunk) is answered now: its handler
    // would otherwise wait forever for the rest of the body.
    const current = reading.get(socket);
    if (busy.has(socket) && (current === undefined || current.complete)) afterResponse.set(socket, answer);
    else answer();
  };
  // The request each HTTP-path socket is serving (to tell a broken body from later garbage).
  const reading = new WeakMap<Socket, IncomingMessage>();
  const afterResponse = new Map<Socket, () => void>();
  const sockets = new Set<Socket>();
  const idle = new IdleConnections(options.maxIdleConnections ?? DEFAULT_MAX_IDLE_CONNECTIONS);
  // One shared listener instead of a closure per connection (`this` is the socket).
  function forgetSocket(this: Socket) {
    sockets.delete(this);
    idle.active(this);
  }
  const busy = new Map<Socket, number>();
  let inFlight = 0;
  let inFlightDrained: (() => void) | undefined;
  let closing = false;

  // A plain request started on `socket` (either path): shutdown waits for it, and does not cut
  // its connection as idle.
  const plainBegin = (socket: Socket) => {
    inFlight++;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    idle.active(socket);
  };
  // Its response is complete: run a deferred parser-error answer, or end the connection when
  // the server is stopping.
  const plainEnded = (socket: Socket) => {
    inFlight--;
    const n = (busy.get(socket) ?? 1) - 1;
    if (n <= 0) busy.delete(socket);
    else busy.set(socket, n);
    if (n <= 0) {
      const pendingAnswer = afterResponse.get(socket);
      afterResponse.delete(socket);
      if (pendingAnswer) pendingAnswer();
      else if (closing) socket.end();
      else if (!socket.destroyed && socket.writable) idle.waiting(socket);
    }
    if (inFlight === 0) inFlightDrained?.();
  };
  const plainStarted = (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    reading.set(socket, req);
    plainBegin(socket);
    res.once('close', () => plainEnded(socket));
  };

  // ---- the plain path ----
  // A request's logger: a child with its id (and Go's session tag), created on first use only, so
  // requests that log nothing (the fast path at info level) pay nothing for it.
  const lazyRequestLog = (reqNo: number, session: string | undefined) => {
    let reqLog: Logger | undefined;
    return (): Logger => {
      if (reqLog === undefined) {
        reqLog = log.child({ reqId: reqIdOf(reqNo) });
        if (session !== undefined) reqLog = reqLog.child({ session });
      }
      return reqLog;
    };
  };

  // Node's HTTP server: everything the front door's fast path does not take (streams, HTTP/1.0,
  // odd heads, partial requests, inject()).
  const servePlainHttp = async (req: IncomingMessage, res: ServerResponse, reqLog: Logger) => {
    let target = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    let routeName = 'NotFound';
    if (metrics) {
      const started = performance.now();
      res.once('close', () => {
        if (routeName !== 'Events') {
          metrics.request(routeName, 'http', res.statusCode, (performance.now() - started) / 1000);
        }
      });
    }
    if (reqLog.isLevelEnabled('debug')) {
      const started = process.hrtime.bigint();
      const url = target;
      res.once('close', () => {
        reqLog.debug(
          {
            method: req.method,
            url,
            route: routeName,
            statusCode: res.statusCode,
            responseTime: Number(process.hrtime.bigint() - started) / 1e6,
          },
          'request completed',
        );
      });
    }
    // Go's missing-Host check (HTTP/1.1 only), answered before routing, then the connection closes.
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
      res.statusCode = 400; // for the metrics: the answer goes to the socket directly
      req.socket.end(goBadRequest('missing required Host header'));
      return;
    }
    const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(target);
    if (absolute) target = target.slice(absolute[0].length) || '/';
    const { path, query } = splitTarget(target);
    if (!hasValidEscapes(path)) {
      res.statusCode = 400;
      req.socket.end(goBadRequest());
      return;
    }
    const match = matchRoute(req.method ?? '', path);
    routeName = routeLabel(match);
    const answer = await answerMatch(ctx, match, query, {
      log: reqLog,
      readBody: () => readBody(req),
      http: { req, res },
    });
    if (answer !== undefined) writeAnswer(req, res, answer);
  };

  // Every request is answered by the onRequest hook below, which hijacks the reply before fastify
  // would parse the body; these handlers only give fastify a route to run the hook for.
  fastify.all('/', () => {});
  fastify.setNotFoundHandler(() => {});
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.hijack();
    plainStarted(request.raw, reply.raw);
    // Go's server tags log lines with the client's X-Vcap-Request-Id when it sends one.
    const vcap = request.headers['x-vcap-request-id'];
    const reqLog = request.log as unknown as Logger;
    servePlainHttp(
      request.raw,
      reply.raw,
      typeof vcap === 'string' ? reqLog.child({ session: vcap }) : reqLog,
    ).catch((err) => {
      request.log.error({ err }, 'unexpected handler failure');
      reply.raw.destroy();
    });
    done();
  });

  // The front door's fast path: complete, ordinary requests answered on the raw socket with the
  // same handlers (see http/front-door.ts).
  const onFastRequest = async (fast: FastRequest): Promise<void> => {
    const { socket, request } = fast;
    plainBegin(socket);
    const reqLog = lazyRequestLog(++reqCounter, request.session);
    const debug = log.isLevelEnabled('debug');
    const started = debug ? process.hrtime.bigint() : 0n;
    const t0 = metrics ? performance.now() : 0;
    try {
      const answer = await answerMatch(ctx, fast.match, request.query, {
        get log() {
          return reqLog();
        },
        readBody: () => Promise.resolve(fast.body),
      });
      if (answer === undefined) throw new Error('a streaming route reached the fast path');
      fast.respond(answer);
      metrics?.request(routeLabel(fast.match), 'fast', answer.status, (performance.now() - t0) / 1000);
      if (debug) {
        reqLog().debug(
          {
            method: request.head.method,
            url: request.head.target,
            route: fast.match.kind === 'route' ? fast.match.route.name : undefined,
            statusCode: answer.status,
            responseTime: Number(process.hrtime.bigint() - started) / 1e6,
          },
          'request completed',
        );
      }
    } catch (err) {
      reqLog().error({ err }, 'unexpected handler failure');
      socket.destroy();
    } finally {
      plainEnded(socket);
    }
  };

  // ---- the hijacked path ----
  // Sockets served on the raw path: shutdown lets them flush instead of cutting them as idle.
  const hijackedSockets = new WeakSet<Socket>();
  const isHijacked = (socket: Socket) => hijackedSockets.has(socket);
  const onHijack = (raw: RawRequest) => {
    hijackedSockets.add(raw.socket);
    idle.active(raw.socket);
    const reqLog = log.child({ reqId: nextReqId() });
    const vcap = raw.head.headers.find(([k]) => k.toLowerCase() === 'x-vcap-request-id')?.[1];
    const hijackLog = vcap ? reqLog.child({ session: vcap }) : reqLog;
    // One line per Run/Attach/Stdout/Stderr: debug, so the default info level stays quiet.
    hijackLog.debug(
      { method: raw.head.method, url: raw.head.target, route: raw.route.name },
      'hijacked request',
    );
    serveHijacked(ctx, {
      started: metrics ? performance.now() : 0,
      route: raw.route.name,
      params: raw.params,
      illFormed: raw.illFormed,
      socket: raw.socket,
      body: raw.body,
      rest: raw.rest,
      log: hijackLog,
      continuePlain: (rest) => {
        hijackedSockets.delete(raw.socket);
        if (closing) raw.socket.end();
        else {
          idle.waiting(raw.socket);
          handToHttp(httpServer!, raw.socket, rest);
        }
      },
    });
  };

  const front = createFrontDoor({
    get httpServer() {
      return httpServer!;
    },
    onHijack,
    onFastRequest,
    onConnection: (socket) => {
      sockets.add(socket);
      socket.on('close', forgetSocket);
      if (closing) socket.destroy();
      else idle.waiting(socket);
    },
    readHeaderTimeoutMs: headerTimeoutMs,
  });

  // What only the backend knows (process exits, OOM kills) joins the server's own events.
  const forwardBackendEvents = () => {
    if (typeof backend.events !== 'function') return;
    const source = backend.events({ signal: stopping.signal });
    (async () => {
      for await (const event of source) events.publish(event);
    })().catch((err: unknown) => log.error({ err }, "the backend's event stream failed"));
  };

  let closePromise: Promise<void> | undefined;
  let listening = false;

  const close = (): Promise<void> => {
    closePromise ??= (async () => {
      closing = true;
      // 1. Hijacked Run/Attach handlers detach (no final message); processes keep running. Event
      // streams end.
      stopping.abort();
      events.closeAll();
      // 2. No new connections; idle keep-alive connections are closed now, busy ones after their response.
      const frontClosed = listening
        ? new Promise<void>((resolve) => front.close(() => resolve()))
        : Promise.resolve();
      for (const socket of sockets) if (!busy.has(socket) && !isHijacked(socket)) socket.destroy();
      // 3. Wait for in-flight plain requests.
      if (inFlight > 0) await new Promise<void>((resolve) => (inFlightDrained = resolve));
      // Output streams: drain what is queued, then close their sockets.
      streams.close(true);
      bomberman.close();
      await closeRemaining(sockets);
      await frontClosed;
      await fastify.close();
      // 4. Stop the backend.
      await backend.stop();
    })();
    return closePromise;
  };

  return {
    fastify,
    get address() {
      return front.address();
    },
    get connectionCount() {
      return sockets.size;
    },
    bomberman,
    streams,
    metrics,
    events: (opts) => events.events(opts),
    setLogLevel: (level) => {
      log.level = level;
    },
    close,
    async listen(opts: ListenOptions) {
      if (closing) throw new Error('server is closed');
      await fastify.ready();
      if (options.startBackend !== false) await backend.start();
      forwardBackendEvents();
      for (const container of await backend.containers()) {
        try {
          bomberman.strap(container.handle, await backend.graceTime(container));
        } catch (err) {
          log.warn({ err, handle: container.handle }, 'strapping existing container failed');
        }
      }
      if ('socketPath' in opts) {
        // Like Go: remove a stale socket file, bind, make it reachable by everyone.
        await rm(opts.socketPath, { force: true });
        await new Promise<void>((resolve, reject) => {
          front.once('error', reject);
          front.listen({ path: opts.socketPath, backlog: listenBacklog() }, () => {
            front.off('error', reject);
            resolve();
          });
        });
        await chmod(opts.socketPath, 0o777);
      } else {
        await new Promise<void>((resolve, reject) => {
          front.once('error', reject);
          front.listen({ port: opts.port, host: opts.host, backlog: listenBacklog() }, () => {
            front.off('error', reject);
            resolve();
          });
        });
      }
      listening = true;
      log.info({ address: front.address() }, 'garden server listening');
    },
  };
}

/** The metrics label of a routing outcome: the route-table name, or what pat answered. */
function routeLabel(match: RouteMatch): string {
  if (match.kind === 'route') return match.route.name;
  return match.kind === 'not-found' ? 'NotFound' : 'MethodNotAllowed';
}

/** Ends every remaining socket (flushing what is queued) and waits until all are closed. */
async function closeRemaining(sockets: Set<Socket>): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const socket of sockets) {
    waits.push(
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        if (socket.writableLength === 0) socket.destroy();
        else {
          socket.end();
          const t = setTimeout(() => socket.destroy(), 1000);
          t.unref();
          socket.once('close', () => clearTimeout(t));
        }
      }),
    );
  }
  await Promise.all(waits);
}
