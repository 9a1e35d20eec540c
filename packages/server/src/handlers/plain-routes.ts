/**
 * Handlers of the 24 plain and stream routes (protocol §6) and the extension routes (Events, OpenAPI), driven by the route table of
 * @garden-ts/api-types and independent of the transport: each call gets the
 * route's captures, query and a way to read the body, and resolves to a {@link PlainAnswer} that
 * the front door's fast path or the HTTP-server path serialises. Each handler runs the Go
 * handler's steps in Go's order: decode the body (before the look-up, so a bad body wins over a
 * missing container), look the container up, pause its grace timer, call the backend, answer.
 * Only StreamIn and StreamOut need Node's request/response streams (`PlainCall.http`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import {
  type Container,
  decodeBody,
  encodeBody,
  errorToEnvelope,
  GardenError,
  goJsonLine,
  InvalidRequestError,
  type PlainRouteName,
  type RouteOf,
  type RouteRequest,
  type RouteResponse,
} from '@garden-ts/api-types';
import type { Logger } from 'pino';
import { errorLine, errorStatus, jsonAnswer, type PlainAnswer } from '../http/responses.js';
import { logRequestFailure } from '../log-errors.js';
import { parseQuery } from '../routing/form-decoding.js';
import type { RouteMatch } from '../routing/router.js';
import type { ServerContext } from '../server-context.js';
import { serveEvents } from './events.js';
import { streamOut } from './stream-out.js';
import { touching } from './touch.js';

/** A plain or stream route's table entry. */
export type PlainRoute = RouteOf<PlainRouteName>;

/** One plain request, already routed, as any transport presents it. */
export interface PlainCall {
  route: PlainRoute;
  params: Record<string, string>;
  query: Map<string, string>;
  /** The request's logger (with `reqId`; may be created lazily on first use). */
  log: Logger;
  /** The whole request body (rejects with a 413 `GardenError` beyond the size limit). */
  readBody(): Promise<Buffer>;
  /** Node's request and response, for the routes whose bodies are streams (StreamIn, StreamOut). */
  http?: { req: IncomingMessage; res: ServerResponse } | undefined;
}

/** A request served on Node's response stream (StreamOut). */
export interface PlainRequest {
  route: PlainRoute;
  params: Record<string, string>;
  query: Map<string, string>;
  req: IncomingMessage;
  res: ServerResponse;
  log: Logger;
}

/** What a routed request needs besides its route: everything the transport supplies. */
export type PlainTransport = Omit<PlainCall, 'route' | 'params' | 'query'>;

const NOT_FOUND: PlainAnswer = { status: 404, kind: 'text', body: '404 page not found\n' };
const HIJACK_MISUSE = goJsonLine({
  ...errorToEnvelope(
    new GardenError(
      'Run, Attach, Stdout and Stderr must be the first request on an HTTP/1.1 connection, with a Content-Length body of at most 16 MiB',
    ),
  ),
});

/**
 * The error for a path capture that is not valid UTF-8 (deviation from Go, which would look the
 * bytes up): read as text it becomes U+FFFD and could name another container or property.
 */
export function illFormedCapture(name: string): InvalidRequestError {
  return new InvalidRequestError(name, `${name}: ill-formed UTF-8 in the request path`);
}

/** A request body that failed to decode: answered 400 (deviation from Go's 500). */
class BodyDecodeFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('body decode failure');
  }
}

async function decode(r: PlainCall, codec: Parameters<typeof decodeBody>[0]): Promise<unknown> {
  const bytes = await r.readBody();
  try {
    return decodeBody(codec, bytes.toString('utf8'));
  } catch (err) {
    throw new BodyDecodeFailure(err);
  }
}

/**
 * Answers a request from its `pat` routing outcome (protocol §2.1): pat's 404 and 405 texts, the
 * 400 for a hijacked route that reached the plain path (not the first request of a connection),
 * else the route's handler. `rawQuery` is the target's query, still escaped. Resolves to
 * `undefined` when the handler answered on `transport.http.res` itself. Never rejects.
 */
export function answerMatch(
  ctx: ServerContext,
  match: RouteMatch,
  rawQuery: string,
  transport: PlainTransport,
): Promise<PlainAnswer | undefined> {
  if (match.kind === 'not-found') return Promise.resolve(NOT_FOUND);
  if (match.kind === 'method-not-allowed') {
    return Promise.resolve({
      status: 405,
      kind: 'text',
      body: 'Method Not Allowed\n',
      allow: match.allow.join(', '),
    });
  }
  if (match.route.kind === 'hijacked') return Promise.resolve(jsonAnswer(400, HIJACK_MISUSE));
  const illFormedKeys: string[] = [];
  const query = parseQuery(rawQuery, match.route.name === 'List' ? illFormedKeys : undefined);
  const refused =
    match.illFormed !== undefined
      ? illFormedCapture(match.illFormed)
      : illFormedKeys.length > 0
        ? new InvalidRequestError(
            'properties',
            `properties: key ${JSON.stringify(illFormedKeys[0])} is ill-formed UTF-8`,
          )
        : undefined;
  if (refused) {
    logRequestFailure(transport.log, match.route.name, refused, 400);
    return Promise.resolve(jsonAnswer(400, errorLine(refused)));
  }
  return answerPlain(ctx, {
    route: match.route,
    params: match.params,
    query,
    readBody: transport.readBody,
    http: transport.http,
    // Read through, so a transport's lazily created logger stays lazy.
    get log() {
      return transport.log;
    },
  });
}

/**
 * Serves one plain route. Resolves to the answer to write, or `undefined` when the handler
 * answered on `r.http.res` itself (StreamOut). Never rejects.
 */
export async function answerPlain(ctx: ServerContext, r: PlainCall): Promise<PlainAnswer | undefined> {
  try {
    const body = await dispatch(ctx, r);
    return body === undefined ? undefined : jsonAnswer(200, body);
  } catch (caught) {
    const validation = caught instanceof BodyDecodeFailure;
    const err = validation ? caught.cause : caught;
    let status = errorStatus(err);
    if (err instanceof GardenError && err.statusCode === 413) status = 413;
    logRequestFailure(r.log, r.route.name, err, status);
    const res = r.http?.res;
    if (res?.headersSent) {
      // A streamed answer failed midway: end it early (truncated, well-formed) as Go does.
      res.destroy();
      return undefined;
    }
    return jsonAnswer(status, errorLine(err));
  }
}

function streams(r: PlainCall): { req: IncomingMessage; res: ServerResponse } {
  if (!r.http) throw new GardenError(`route ${r.route.name} needs a streaming transport`);
  return r.http;
}

async function lookup(ctx: ServerContext, r: PlainCall): Promise<Container> {
  return ctx.backend.lookup(r.params.handle ?? '');
}

/**
 * A route's handler: gets the decoded request body (the route table's request codec; `undefined`
 * for routes without one) and resolves to the value the route table's response codec encodes, or
 * `undefined` for StreamOut, which answers on the response stream itself.
 */
type Handler<N extends PlainRouteName> = (
  ctx: ServerContext,
  r: PlainCall,
  body: RouteRequest<N>,
) => Promise<RouteResponse<N>>;

const withContainer = async <T>(
  ctx: ServerContext,
  r: PlainCall,
  fn: (c: Container) => Promise<T>,
): Promise<T> => {
  const container = await lookup(ctx, r);
  return touching(ctx, container, () => fn(container));
};

/** Every plain and stream route's handler (protocol §6.3), keyed by route name. */
const HANDLERS: { readonly [N in PlainRouteName]: Handler<N> } = {
  Ping: async ({ backend }) => backend.ping(),
  Capacity: async ({ backend }) => backend.capacity(),
  List: async ({ backend }, r) => {
    const filter: Record<string, string> = {};
    for (const [k, v] of r.query) filter[k] = v;
    return (await backend.containers(filter)).map((c) => c.handle);
  },
  Create: async (ctx, r, spec) => {
    if (!spec.graceTime) spec.graceTime = ctx.defaultGraceTime;
    let container: Container;
    try {
      container = await ctx.backend.create(spec);
    } catch (err) {
      ctx.metrics?.created(false);
      throw err;
    }
    ctx.metrics?.created(true);
    ctx.events.publish({ type: 'container.created', handle: container.handle });
    let countdown = spec.graceTime;
    try {
      countdown = await ctx.backend.graceTime(container);
    } catch (err) {
      r.log.warn({ err, handle: container.handle }, 'reading grace time failed; using the requested one');
    }
    ctx.bomberman.strap(container.handle, countdown);
    return container.handle;
  },
  Info: (ctx, r) => withContainer(ctx, r, (c) => c.info()),
  BulkInfo: async ({ backend }, r) => backend.bulkInfo(bulkHandles(r.query)),
  BulkMetrics: async ({ backend }, r) => backend.bulkMetrics(bulkHandles(r.query)),
  Destroy: async (ctx, r) => {
    const handle = r.params.handle ?? '';
    try {
      await ctx.destroyGuard.run(handle, () => ctx.backend.destroy(handle));
    } catch (err) {
      ctx.metrics?.destroyed(false, 'api');
      throw err;
    }
    ctx.metrics?.destroyed(true, 'api');
    ctx.events.publish({ type: 'container.destroyed', handle });
    ctx.bomberman.defuse(handle);
    ctx.streams.forgetContainer(handle);
  },
  Stop: (ctx, r, kill) => withContainer(ctx, r, (c) => c.stop(Boolean(kill))),
  StreamIn: (ctx, r) =>
    withContainer(ctx, r, (c) =>
      c.streamIn({
        path: r.query.get('destination') ?? '',
        user: r.query.get('user') ?? '',
        tarStream: uploadOf(streams(r).req),
      }),
    ),
  StreamOut: async (ctx, r) => {
    const { req, res } = streams(r);
    const container = await lookup(ctx, r);
    await touching(ctx, container, () =>
      streamOut({ ...r, req, res }, container, {
        path: r.query.get('source') ?? '',
        user: r.query.get('user') ?? '',
      }),
    );
  },
  CurrentBandwidthLimits: (ctx, r) => withContainer(ctx, r, (c) => c.currentBandwidthLimits()),
  CurrentCPULimits: (ctx, r) => withContainer(ctx, r, (c) => c.currentCPULimits()),
  CurrentDiskLimits: (ctx, r) => withContainer(ctx, r, (c) => c.currentDiskLimits()),
  CurrentMemoryLimits: (ctx, r) => withContainer(ctx, r, (c) => c.currentMemoryLimits()),
  NetIn: (ctx, r, req) => withContainer(ctx, r, (c) => c.netIn(req.hostPort ?? 0, req.containerPort ?? 0)),
  NetOut: (ctx, r, rule) => withContainer(ctx, r, (c) => c.netOut(rule)),
  BulkNetOut: (ctx, r, rules) => withContainer(ctx, r, (c) => c.bulkNetOut(rules ?? [])),
  SetGraceTime: async (ctx, r, graceTime) => {
    const container = await lookup(ctx, r);
    try {
      await container.setGraceTime(graceTime);
    } catch (err) {
      // Go ignores this error (only logs it) and still answers {}.
      r.log.warn({ err, handle: container.handle }, 'backend set grace time failed');
    }
    try {
      ctx.bomberman.reset(container.handle, await ctx.backend.graceTime(container));
    } catch (err) {
      r.log.warn({ err, handle: container.handle }, 'reading grace time failed');
    }
  },
  Properties: (ctx, r) => withContainer(ctx, r, (c) => c.properties()),
  Property: (ctx, r) => withContainer(ctx, r, (c) => c.property(r.params.key ?? '')),
  SetProperty: (ctx, r, value) => withContainer(ctx, r, (c) => c.setProperty(r.params.key ?? '', value)),
  RemoveProperty: (ctx, r) => withContainer(ctx, r, (c) => c.removeProperty(r.params.key ?? '')),
  Metrics: (ctx, r) => withContainer(ctx, r, (c) => c.metrics()),
  // ---- garden-ts extensions ----
  Events: async (ctx, r) => {
    const { req, res } = streams(r);
    await serveEvents(ctx, req, res);
  },
  OpenAPI: async (ctx) => ctx.openApi(),
};

/**
 * Runs the route as its table entry says: decode the JSON request body (before any look-up, so a
 * bad body wins over a missing container, as in Go), call the handler, encode its result. Returns
 * the JSON body to send, or undefined when the handler answered itself (a non-JSON response).
 */
async function dispatch(ctx: ServerContext, r: PlainCall): Promise<string | undefined> {
  const route = r.route;
  const body = route.request.type === 'json' ? await decode(r, route.request.codec) : undefined;
  const handler = HANDLERS[route.name] as Handler<PlainRouteName>;
  const result = await handler(ctx, r, body as never);
  if (route.response.type === 'document') return result as string;
  return route.response.type === 'json' ? encodeBody(route.response.codec, result) : undefined;
}

/**
 * The request body as the backend's tar stream. Not `req` itself: a backend that refuses an
 * archive may destroy its stream (killing tar), and destroying an unfinished request destroys the
 * socket, so the client would get a reset instead of the error answer. A destroyed or abandoned
 * copy only stops the copying; a broken upload (client gone, bad chunk) errors the copy.
 */
function uploadOf(req: IncomingMessage): Readable {
  const body = new PassThrough();
  const broken = (err?: Error) => {
    if (!body.destroyed) body.destroy(err ?? new GardenError('the request body was cut off'));
  };
  req.once('error', broken);
  req.once('close', () => {
    if (!req.complete) broken();
  });
  body.on('error', () => {}); // a backend that stopped listening must not crash the server
  req.pipe(body);
  return body;
}

/**
 * The `handles` query value split on `,` (items untrimmed, empty ones kept). An empty value is an
 * empty list; a missing parameter is too (Go's handler crashes there; protocol §11.3).
 */
function bulkHandles(query: Map<string, string>): string[] {
  const value = query.get('handles');
  return value === undefined || value === '' ? [] : value.split(',');
}
