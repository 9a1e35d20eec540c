/**
 * Handlers of the 24 plain routes (protocol §6), independent of the transport: each call gets the
 * route's captures, query and a way to read the body, and resolves to a {@link PlainAnswer} that
 * the front door's fast path or the HTTP-server path serialises. Each handler runs the Go
 * handler's steps in Go's order: decode the body (before the look-up, so a bad body wins over a
 * missing container), look the container up, pause its grace timer, call the backend, answer.
 * Only StreamIn and StreamOut need Node's request/response streams (`PlainCall.http`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Container,
  type ContainerSpec,
  decodeBody,
  encodeBody,
  errorToEnvelope,
  GardenError,
  goJsonLine,
  Wire,
} from '@garden-ts/api-types';
import type { Logger } from 'pino';
import { errorLine, errorStatus, jsonAnswer, type PlainAnswer } from '../http/responses.js';
import { parseQuery } from '../routing/form-decoding.js';
import type { RouteMatch } from '../routing/router.js';
import type { RouteName } from '../routing/routes.js';
import type { ServerContext } from '../server-context.js';
import { streamOut } from './stream-out.js';
import { touching } from './touch.js';

/** One plain request, already routed, as any transport presents it. */
export interface PlainCall {
  route: RouteName;
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
  route: RouteName;
  params: Record<string, string>;
  query: Map<string, string>;
  req: IncomingMessage;
  res: ServerResponse;
  log: Logger;
}

/** What a routed request needs besides its route: everything the transport supplies. */
export type PlainTransport = Omit<PlainCall, 'route' | 'params' | 'query'>;

const EMPTY = '{}\n';
const NOT_FOUND: PlainAnswer = { status: 404, kind: 'text', body: '404 page not found\n' };
const HIJACK_MISUSE = goJsonLine({
  ...errorToEnvelope(
    new GardenError(
      'Run, Attach, Stdout and Stderr must be the first request on an HTTP/1.1 connection, with a Content-Length body of at most 16 MiB',
    ),
  ),
});

/** A request body that failed to decode: answered 400 (deviation from Go's 500). */
class BodyDecodeFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('body decode failure');
  }
}

async function decode<T>(r: PlainCall, codec: Parameters<typeof decodeBody>[0]): Promise<T> {
  const bytes = await r.readBody();
  try {
    return decodeBody(codec, bytes.toString('utf8')) as T;
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
  if (match.route.hijacked) return Promise.resolve(jsonAnswer(400, HIJACK_MISUSE));
  return answerPlain(ctx, {
    route: match.route.name,
    params: match.params,
    query: parseQuery(rawQuery),
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
    let status = errorStatus(err, validation);
    if (err instanceof GardenError && err.statusCode === 413) status = 413;
    if (status >= 500) r.log.error({ route: r.route, err }, 'request failed');
    else r.log.debug({ route: r.route, err }, 'request failed');
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
  if (!r.http) throw new GardenError(`route ${r.route} needs a streaming transport`);
  return r.http;
}

async function lookup(ctx: ServerContext, r: PlainCall): Promise<Container> {
  return ctx.backend.lookup(r.params.handle ?? '');
}

/** Runs the route; returns the JSON body to send, or undefined when the handler answered itself. */
async function dispatch(ctx: ServerContext, r: PlainCall): Promise<string | undefined> {
  const { backend } = ctx;
  const handle = r.params.handle ?? '';
  const key = r.params.key ?? '';
  const withContainer = async (fn: (c: Container) => Promise<string>): Promise<string> => {
    const container = await lookup(ctx, r);
    return touching(ctx, container, () => fn(container));
  };

  switch (r.route) {
    case 'Ping':
      await backend.ping();
      return EMPTY;
    case 'Capacity':
      return encodeBody(Wire.capacity, await backend.capacity());
    case 'List': {
      const filter: Record<string, string> = {};
      for (const [k, v] of r.query) filter[k] = v;
      const containers = await backend.containers(filter);
      return encodeBody(
        Wire.listResponse,
        containers.map((c) => c.handle),
      );
    }
    case 'Create': {
      const spec = await decode<ContainerSpec>(r, Wire.containerSpec);
      if (!spec.graceTime) spec.graceTime = ctx.defaultGraceTime;
      const container = await backend.create(spec);
      let countdown = spec.graceTime;
      try {
        countdown = await backend.graceTime(container);
      } catch (err) {
        r.log.warn({ err, handle: container.handle }, 'reading grace time failed; using the requested one');
      }
      ctx.bomberman.strap(container.handle, countdown);
      return encodeBody(Wire.createResponse, container.handle);
    }
    case 'Info':
      return withContainer(async (c) => encodeBody(Wire.containerInfo, await c.info()));
    case 'BulkInfo':
      return encodeBody(Wire.bulkInfo, await backend.bulkInfo(bulkHandles(r.query)));
    case 'BulkMetrics':
      return encodeBody(Wire.bulkMetrics, await backend.bulkMetrics(bulkHandles(r.query)));
    case 'Destroy':
      await ctx.destroyGuard.run(handle, () => backend.destroy(handle));
      ctx.bomberman.defuse(handle);
      ctx.streams.forgetContainer(handle);
      return EMPTY;
    case 'Stop': {
      const kill = await decode<boolean>(r, Wire.stopRequest);
      return withContainer(async (c) => {
        await c.stop(Boolean(kill));
        return EMPTY;
      });
    }
    case 'StreamIn':
      return withContainer(async (c) => {
        await c.streamIn({
          path: r.query.get('destination') ?? '',
          user: r.query.get('user') ?? '',
          tarStream: streams(r).req,
        });
        return EMPTY;
      });
    case 'StreamOut': {
      const { req, res } = streams(r);
      const container = await lookup(ctx, r);
      await touching(ctx, container, () =>
        streamOut({ ...r, req, res }, container, {
          path: r.query.get('source') ?? '',
          user: r.query.get('user') ?? '',
        }),
      );
      return undefined;
    }
    case 'CurrentBandwidthLimits':
      return withContainer(async (c) => encodeBody(Wire.bandwidthLimits, await c.currentBandwidthLimits()));
    case 'CurrentCPULimits':
      return withContainer(async (c) => encodeBody(Wire.cpuLimits, await c.currentCPULimits()));
    case 'CurrentDiskLimits':
      return withContainer(async (c) => encodeBody(Wire.diskLimits, await c.currentDiskLimits()));
    case 'CurrentMemoryLimits':
      return withContainer(async (c) => encodeBody(Wire.memoryLimits, await c.currentMemoryLimits()));
    case 'NetIn': {
      const req = await decode<{ hostPort?: number; containerPort?: number }>(r, Wire.netInRequest);
      return withContainer(async (c) =>
        encodeBody(Wire.netInResponse, await c.netIn(req.hostPort ?? 0, req.containerPort ?? 0)),
      );
    }
    case 'NetOut': {
      const rule = await decode<Parameters<Container['netOut']>[0]>(r, Wire.netOutRule);
      return withContainer(async (c) => {
        await c.netOut(rule);
        return EMPTY;
      });
    }
    case 'BulkNetOut': {
      const rules = await decode<Parameters<Container['bulkNetOut']>[0] | null>(r, Wire.netOutRules);
      return withContainer(async (c) => {
        await c.bulkNetOut(rules ?? []);
        return EMPTY;
      });
    }
    case 'SetGraceTime': {
      const graceTime = await decode<bigint>(r, Wire.graceTime);
      const container = await lookup(ctx, r);
      try {
        await container.setGraceTime(graceTime);
      } catch (err) {
        // Go ignores this error (only logs it) and still answers {}.
        r.log.warn({ err, handle: container.handle }, 'backend set grace time failed');
      }
      try {
        ctx.bomberman.reset(container.handle, await backend.graceTime(container));
      } catch (err) {
        r.log.warn({ err, handle: container.handle }, 'reading grace time failed');
      }
      return EMPTY;
    }
    case 'Properties':
      return withContainer(async (c) => encodeBody(Wire.properties, await c.properties()));
    case 'Property':
      return withContainer(async (c) => encodeBody(Wire.propertyValue, await c.property(key)));
    case 'SetProperty': {
      const value = await decode<string>(r, Wire.propertyValue);
      return withContainer(async (c) => {
        await c.setProperty(key, value);
        return EMPTY;
      });
    }
    case 'RemoveProperty':
      return withContainer(async (c) => {
        await c.removeProperty(key);
        return EMPTY;
      });
    case 'Metrics':
      return withContainer(async (c) => encodeBody(Wire.metrics, await c.metrics()));
    default:
      throw new GardenError(`route ${r.route} is not served on the plain path`);
  }
}

/**
 * The `handles` query value split on `,` (items untrimmed, empty ones kept). An empty value is an
 * empty list; a missing parameter is too (Go's handler crashes there; protocol §11.3).
 */
function bulkHandles(query: Map<string, string>): string[] {
  const value = query.get('handles');
  return value === undefined || value === '' ? [] : value.split(',');
}
