/**
 * The Garden route table (protocol §6.1): every route's name, method, path pattern, kind, request
 * and response bodies. It is the one description of the HTTP surface: the server routes and
 * dispatches with it, the client builds its requests from it, and documentation, OpenAPI and
 * per-route metrics are generated from it. Adding a route means adding an entry here; the
 * compiler then asks the server for a handler (`handlers/plain-routes.ts`) and the client's
 * callers get the path, bodies and parameter names from the entry.
 */
import type { WireCodec } from './wire.js';
import { Wire } from './wire.js';

/** Route names, as in Go's `routes.go`. */
export type RouteName = (typeof ROUTE_TABLE)[number]['name'];

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * How the exchange runs (protocol §1.2):
 * - `plain`: one request with a complete JSON (or empty) body, one complete JSON response;
 * - `stream`: a plain exchange whose request or response body is a byte stream (StreamIn's tar
 *   upload, StreamOut's tar download), served through Node's HTTP server;
 * - `hijacked`: after the response head the connection is a private byte stream (Run, Attach:
 *   NDJSON control messages; Stdout, Stderr: raw output bytes);
 * - `watch`: a long-lived response (chunked NDJSON) that stays open until the client goes away or
 *   the server stops (Events), served through Node's HTTP server; not counted as in flight for
 *   latency, and ended first at shutdown.
 */
export type RouteKind = 'plain' | 'stream' | 'hijacked' | 'watch';

// biome-ignore lint/suspicious/noExplicitAny: a codec of any value type.
type AnyCodec = WireCodec<any, any, any>;

/** What a request or response carries. */
export type RouteBody =
  /** Nothing (a request without a body). */
  | { readonly type: 'none' }
  /** One Go-JSON value (plus LF), encoded and decoded with `codec`. */
  | { readonly type: 'json'; readonly codec: AnyCodec }
  /** A tar archive (`application/x-tar`), streamed. */
  | { readonly type: 'tar' }
  /** NDJSON `ProcessPayload` messages in both directions after the head (`Wire.processPayload`). */
  | { readonly type: 'process-stream' }
  /** The process's raw output bytes, until the process is done. */
  | { readonly type: 'output-stream' }
  /** One JSON value per line (`application/x-ndjson`), each encoded with `codec`, until closed. */
  | { readonly type: 'ndjson'; readonly codec: AnyCodec }
  /** A JSON document the handler produces whole (not a Garden wire shape): OpenAPI. */
  | { readonly type: 'document' };

/** A query parameter a route reads; `*` stands for any key (List's property filter). */
export interface RouteQueryParam {
  readonly name: string;
  readonly description: string;
}

export interface RouteDef<N extends string = string> {
  readonly name: N;
  readonly method: HttpMethod;
  /** The `pat` pattern: literal bytes and `:name` captures (protocol §2.1). */
  readonly path: string;
  readonly kind: RouteKind;
  readonly request: RouteBody;
  readonly response: RouteBody;
  /** The success status (201 for Run, 200 otherwise). */
  readonly status: 200 | 201;
  readonly query: readonly RouteQueryParam[];
  /** One line for documentation and OpenAPI. */
  readonly summary: string;
  /**
   * True for Garden's own routes (Go's `routes.go`); false for garden-ts extensions (Events,
   * OpenAPI), which sit on paths no Garden pattern matches and after every Garden route.
   */
  readonly garden: boolean;
}

const NONE = { type: 'none' } as const;
const TAR = { type: 'tar' } as const;
const json = <C extends AnyCodec>(codec: C) => ({ type: 'json', codec }) as const;
const EMPTY = json(Wire.empty);

function route<
  const N extends string,
  const P extends string,
  const K extends RouteKind,
  const Req extends RouteBody,
  const Res extends RouteBody,
>(
  name: N,
  method: HttpMethod,
  path: P,
  kind: K,
  request: Req,
  response: Res,
  summary: string,
  extra: { status?: 200 | 201; query?: readonly RouteQueryParam[]; extension?: true } = {},
) {
  return {
    name,
    method,
    path,
    kind,
    request,
    response,
    status: extra.status ?? 200,
    query: extra.query ?? [],
    summary,
    garden: extra.extension !== true,
  } as const;
}

const USER = { name: 'user', description: 'the container user whose permissions apply (default: root)' };

/**
 * Every route in registration order, which is also the matching order within a method (a path is
 * tried against the patterns of its method in this order; protocol §2.1).
 */
export const ROUTE_TABLE = [
  route('Ping', 'GET', '/ping', 'plain', NONE, EMPTY, 'health check of the backend'),
  route(
    'Capacity',
    'GET',
    '/capacity',
    'plain',
    NONE,
    json(Wire.capacity),
    'memory, disk and container capacity',
  ),
  route('List', 'GET', '/containers', 'plain', NONE, json(Wire.listResponse), 'handles of the containers', {
    query: [{ name: '*', description: 'property filter: only containers whose property KEY has this value' }],
  }),
  route(
    'Create',
    'POST',
    '/containers',
    'plain',
    json(Wire.containerSpec),
    json(Wire.createResponse),
    'create a container',
  ),
  route('Info', 'GET', '/containers/:handle/info', 'plain', NONE, json(Wire.containerInfo), 'container info'),
  route(
    'BulkInfo',
    'GET',
    '/containers/bulk_info',
    'plain',
    NONE,
    json(Wire.bulkInfo),
    'info of several containers',
    {
      query: [{ name: 'handles', description: 'comma-separated handles' }],
    },
  ),
  route(
    'BulkMetrics',
    'GET',
    '/containers/bulk_metrics',
    'plain',
    NONE,
    json(Wire.bulkMetrics),
    'metrics of several containers',
    {
      query: [{ name: 'handles', description: 'comma-separated handles' }],
    },
  ),
  route('Destroy', 'DELETE', '/containers/:handle', 'plain', NONE, EMPTY, 'destroy a container'),
  route(
    'Stop',
    'PUT',
    '/containers/:handle/stop',
    'plain',
    json(Wire.stopRequest),
    EMPTY,
    "stop a container's processes",
  ),
  route(
    'StreamIn',
    'PUT',
    '/containers/:handle/files',
    'stream',
    TAR,
    EMPTY,
    'extract a tar stream into the container',
    {
      query: [{ name: 'destination', description: 'directory to extract into' }, USER],
    },
  ),
  route(
    'StreamOut',
    'GET',
    '/containers/:handle/files',
    'stream',
    NONE,
    TAR,
    'a path of the container as a tar stream',
    {
      query: [{ name: 'source', description: 'file or directory to archive' }, USER],
    },
  ),
  route(
    'CurrentBandwidthLimits',
    'GET',
    '/containers/:handle/limits/bandwidth',
    'plain',
    NONE,
    json(Wire.bandwidthLimits),
    'bandwidth limits',
  ),
  route(
    'CurrentCPULimits',
    'GET',
    '/containers/:handle/limits/cpu',
    'plain',
    NONE,
    json(Wire.cpuLimits),
    'CPU limits',
  ),
  route(
    'CurrentDiskLimits',
    'GET',
    '/containers/:handle/limits/disk',
    'plain',
    NONE,
    json(Wire.diskLimits),
    'disk limits',
  ),
  route(
    'CurrentMemoryLimits',
    'GET',
    '/containers/:handle/limits/memory',
    'plain',
    NONE,
    json(Wire.memoryLimits),
    'memory limits',
  ),
  route(
    'NetIn',
    'POST',
    '/containers/:handle/net/in',
    'plain',
    json(Wire.netInRequest),
    json(Wire.netInResponse),
    'map a host port to a container port',
  ),
  route(
    'NetOut',
    'POST',
    '/containers/:handle/net/out',
    'plain',
    json(Wire.netOutRule),
    EMPTY,
    'allow outbound traffic',
  ),
  route(
    'BulkNetOut',
    'POST',
    '/containers/:handle/net/out/bulk',
    'plain',
    json(Wire.netOutRules),
    EMPTY,
    'allow outbound traffic (several rules)',
  ),
  route(
    'Stdout',
    'GET',
    '/containers/:handle/processes/:pid/attaches/:streamid/stdout',
    'hijacked',
    NONE,
    { type: 'output-stream' },
    "a process stream's stdout",
  ),
  route(
    'Stderr',
    'GET',
    '/containers/:handle/processes/:pid/attaches/:streamid/stderr',
    'hijacked',
    NONE,
    { type: 'output-stream' },
    "a process stream's stderr",
  ),
  route(
    'Run',
    'POST',
    '/containers/:handle/processes',
    'hijacked',
    json(Wire.processSpec),
    { type: 'process-stream' },
    'start a process',
    {
      status: 201,
    },
  ),
  route(
    'Attach',
    'GET',
    '/containers/:handle/processes/:pid',
    'hijacked',
    NONE,
    { type: 'process-stream' },
    'attach to a process',
  ),
  route(
    'SetGraceTime',
    'PUT',
    '/containers/:handle/grace_time',
    'plain',
    json(Wire.graceTime),
    EMPTY,
    'set the grace time',
  ),
  route(
    'Properties',
    'GET',
    '/containers/:handle/properties',
    'plain',
    NONE,
    json(Wire.properties),
    'all properties',
  ),
  route(
    'Property',
    'GET',
    '/containers/:handle/properties/:key',
    'plain',
    NONE,
    json(Wire.propertyValue),
    'one property',
  ),
  route(
    'SetProperty',
    'PUT',
    '/containers/:handle/properties/:key',
    'plain',
    json(Wire.propertyValue),
    EMPTY,
    'set a property',
  ),
  route(
    'RemoveProperty',
    'DELETE',
    '/containers/:handle/properties/:key',
    'plain',
    NONE,
    EMPTY,
    'remove a property',
  ),
  route(
    'Metrics',
    'GET',
    '/containers/:handle/metrics',
    'plain',
    NONE,
    json(Wire.metrics),
    'container metrics',
  ),
  // ---- garden-ts extensions: after every Garden route, on paths no Garden pattern matches ----
  route(
    'Events',
    'GET',
    '/events',
    'watch',
    NONE,
    { type: 'ndjson', codec: Wire.event },
    'lifecycle events (created, destroyed, reaped, OOM, process exited) as NDJSON until the client closes',
    { extension: true },
  ),
  route(
    'OpenAPI',
    'GET',
    '/openapi.json',
    'plain',
    NONE,
    { type: 'document' },
    'this API as an OpenAPI 3.1 document',
    { extension: true },
  ),
] as const satisfies readonly RouteDef[];

type TableEntry = (typeof ROUTE_TABLE)[number];

/** The table entry of route `N`. */
export type RouteOf<N extends RouteName> = Extract<TableEntry, { name: N }>;

/** The routes by name. */
export const ROUTES = Object.freeze(Object.fromEntries(ROUTE_TABLE.map((r) => [r.name, r]))) as {
  readonly [N in RouteName]: RouteOf<N>;
};

/** Routes whose connection is hijacked after the head (Run, Attach, Stdout, Stderr). */
export type HijackedRouteName = Extract<TableEntry, { kind: 'hijacked' }>['name'];
/** Routes answered with one HTTP response (plain and stream routes). */
export type PlainRouteName = Exclude<RouteName, HijackedRouteName>;

/** The capture names of a `pat` pattern (`'/containers/:handle/info'` → `'handle'`). */
export type PathParamNames<P extends string> = P extends `${string}:${infer Rest}`
  ? Rest extends `${infer Param}/${infer Tail}`
    ? Param | PathParamNames<`/${Tail}`>
    : Rest
  : never;

/** The captures route `N` needs, by name. */
export type RouteParams<N extends RouteName> = { readonly [K in PathParamNames<RouteOf<N>['path']>]: string };

type CodecOf<B> = B extends { type: 'json'; codec: infer C } ? C : never;

/** Garden's own routes (those of Go's `routes.go`). */
export const GARDEN_ROUTES: readonly RouteDef[] = ROUTE_TABLE.filter((r) => r.garden);

/** The TS value route `N`'s request body decodes to (`undefined` for routes without a JSON body). */
export type RouteRequest<N extends RouteName> =
  CodecOf<RouteOf<N>['request']> extends WireCodec<infer _I, infer _W, infer O> ? O : undefined;
/** The TS value route `N`'s request body is encoded from. */
export type RouteRequestInput<N extends RouteName> =
  CodecOf<RouteOf<N>['request']> extends WireCodec<infer I, infer _W, infer _O> ? I : undefined;
/**
 * The TS value route `N`'s JSON response is encoded from (`undefined` without a JSON response; the
 * document's text for a `document` response).
 */
export type RouteResponse<N extends RouteName> = RouteOf<N>['response'] extends { type: 'document' }
  ? string
  : CodecOf<RouteOf<N>['response']> extends WireCodec<infer I, infer _W, infer _O>
    ? I
    : undefined;
/** The TS value route `N`'s JSON response decodes to. */
export type RouteResponseOutput<N extends RouteName> =
  CodecOf<RouteOf<N>['response']> extends WireCodec<infer _I, infer _W, infer O> ? O : undefined;
