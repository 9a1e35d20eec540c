/**
 * The OpenAPI 3.1 description of the HTTP surface, generated from the route table (paths,
 * methods, kinds, statuses, query parameters, summaries) and the TypeBox wire schemas (bodies).
 * Nothing here is written by hand per route: a new route or field appears in the document by
 * being added to `routes.ts` / `schemas.ts`.
 *
 * The server serves it at `GET /openapi.json`; `docs/openapi.json` is the published copy (a test
 * fails when it drifts: regenerate with `pnpm --filter @garden-ts/api-types run openapi`).
 *
 * Mapping of the schema annotations: 64-bit integers become `integer` with `format` `int64` /
 * `uint64` (their bounds do not fit a JSON number exactly, so only bounds that do are written);
 * enums list their values; `x-go-type` is kept (Go's type name); the codec-only annotations
 * (`x-ts`, `x-omit`, …) are dropped. Named Garden structs become `components.schemas`.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { ROUTE_TABLE, type RouteBody, type RouteDef } from './routes.js';
import { ErrorEnvelopeSchema, ProcessPayloadSchema } from './schemas.js';

/** A JSON value as the document holds it. */
export type JsonObject = { [key: string]: unknown };

/** What the document says about the server that serves it. */
export interface OpenApiOptions {
  /** `info.version`: the version of the API's implementation (default: api-types' own). */
  version?: string;
}

/** The api-types version the published document names (kept equal to package.json by a test). */
export const API_TYPES_VERSION = '0.1.0';

const KEPT_ANNOTATIONS = new Set(['x-go-type']);

class SchemaConverter {
  readonly components: Record<string, JsonObject> = {};

  /** A JSON Schema 2020-12 object for a TypeBox wire schema; named structs become `$ref`s. */
  convert(schema: TSchema): JsonObject {
    const name = componentName(schema);
    if (name !== undefined) {
      if (!(name in this.components)) {
        this.components[name] = {}; // reserve (recursive shapes)
        this.components[name] = this.inline(schema);
      }
      const ref: JsonObject = { $ref: `#/components/schemas/${name}` };
      if (typeof schema.description === 'string' && schema.description !== this.components[name]!.description)
        ref.description = schema.description;
      return ref;
    }
    return this.inline(schema);
  }

  private inline(schema: TSchema): JsonObject {
    const out: JsonObject = {};
    const kind = schema[Kind] as string;
    switch (kind) {
      case 'BigInt':
        Object.assign(out, integer(schema));
        break;
      case 'String':
        out.type = 'string';
        if (schema['x-go-ip'] === true) out.format = 'ip';
        break;
      case 'Boolean':
        out.type = 'boolean';
        break;
      case 'Null':
        out.type = 'null';
        break;
      case 'Array':
        out.type = 'array';
        out.items = this.convert(schema.items as TSchema);
        break;
      case 'Union':
        out.anyOf = (schema.anyOf as TSchema[]).map((s) => this.convert(s));
        break;
      case 'Record': {
        out.type = 'object';
        const [value] = Object.values(schema.patternProperties as Record<string, TSchema>);
        out.additionalProperties = this.convert(value!);
        break;
      }
      case 'Object': {
        out.type = 'object';
        const properties: JsonObject = {};
        for (const [key, value] of Object.entries(schema.properties as Record<string, TSchema>)) {
          properties[key] = this.convert(value);
        }
        out.properties = properties;
        break;
      }
      default:
        throw new Error(`openapi: no mapping for TypeBox kind ${kind}`);
    }
    if (typeof schema.description === 'string') out.description = schema.description;
    for (const key of KEPT_ANNOTATIONS) if (schema[key] !== undefined) out[key] = schema[key];
    return out;
  }
}

/** `garden.ContainerSpec` → `ContainerSpec`; unnamed and anonymous Go types stay inline. */
function componentName(schema: TSchema): string | undefined {
  const goType = schema['x-go-type'];
  if (typeof goType !== 'string') return undefined;
  const m = /^(garden|transport|events)\.([A-Za-z]+)$/.exec(goType);
  if (!m || (schema[Kind] !== 'Object' && schema[Kind] !== 'Record')) return undefined;
  return m[1] === 'events' ? `Event` : m[2];
}

function integer(schema: TSchema): JsonObject {
  const out: JsonObject = { type: 'integer' };
  const kind = schema['x-go-int'] as string | undefined;
  const min = schema.minimum as bigint | undefined;
  const max = schema.maximum as bigint | undefined;
  const names = schema['x-enum'] as string[] | undefined;
  if (names) {
    out.enum = names.map((_, i) => i);
    return out;
  }
  if (kind === 'uint64' || kind === 'int64' || kind === 'int')
    out.format = kind === 'uint64' ? 'uint64' : 'int64';
  else if (kind !== undefined) out.format = kind;
  const safe = (v: bigint | undefined) =>
    v !== undefined && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);
  if (safe(min)) out.minimum = Number(min);
  if (safe(max)) out.maximum = Number(max);
  return out;
}

const TAG_GARDEN = 'garden';
const TAG_EXTENSION = 'garden-ts extensions';

function openApiPath(pattern: string): string {
  return pattern.replace(/:([A-Za-z0-9]+)/g, '{$1}');
}

function pathParams(pattern: string): string[] {
  return [...pattern.matchAll(/:([A-Za-z0-9]+)/g)].map((m) => m[1]!);
}

const PARAM_TEXT: Record<string, string> = {
  handle: 'the container handle',
  pid: 'the process id',
  streamid: 'the stream id from the Run/Attach answer',
  key: 'the property key',
};

function content(body: RouteBody, schemas: SchemaConverter): JsonObject | undefined {
  switch (body.type) {
    case 'none':
      return undefined;
    case 'json':
      return { 'application/json': { schema: schemas.convert(body.codec.schema) } };
    case 'tar':
      return {
        'application/x-tar': { schema: { type: 'string', contentMediaType: 'application/x-tar' } },
      };
    case 'process-stream':
      return {
        'application/json': { schema: schemas.convert(ProcessPayloadSchema) },
      };
    case 'output-stream':
      return { 'application/octet-stream': { schema: { type: 'string' } } };
    case 'ndjson':
      return { 'application/x-ndjson': { schema: schemas.convert(body.codec.schema) } };
    case 'document':
      return { 'application/json': { schema: { type: 'object' } } };
  }
}

function operation(route: RouteDef, schemas: SchemaConverter): JsonObject {
  const parameters: JsonObject[] = pathParams(route.path).map((name) => ({
    name,
    in: 'path',
    required: true,
    description: PARAM_TEXT[name] ?? name,
    schema: { type: 'string' },
  }));
  for (const q of route.query) {
    if (q.name === '*') {
      parameters.push({
        name: 'properties',
        in: 'query',
        description: q.description,
        style: 'form',
        explode: true,
        schema: { type: 'object', additionalProperties: { type: 'string' } },
      });
    } else {
      parameters.push({ name: q.name, in: 'query', description: q.description, schema: { type: 'string' } });
    }
  }
  const op: JsonObject = {
    operationId: route.name,
    summary: route.summary,
    tags: [route.garden ? TAG_GARDEN : TAG_EXTENSION],
  };
  if (parameters.length > 0) op.parameters = parameters;
  const request = content(route.request, schemas);
  if (request) op.requestBody = { required: true, content: request };
  const success: JsonObject = { description: successText(route) };
  const response = content(route.response, schemas);
  if (response) success.content = response;
  const responses: JsonObject = { [String(route.status)]: success };
  if (route.garden) {
    const envelope = { 'application/json': { schema: schemas.convert(ErrorEnvelopeSchema) } };
    if (route.path.includes(':handle')) {
      responses['404'] = {
        description: 'no such container (or process): a NotFound error envelope',
        content: envelope,
      };
    }
    responses.default = {
      description:
        'a Garden error envelope: 400 for a request value that does not fit (garden-ts; Go answers 500), 500 for a failure of the backend',
      content: envelope,
    };
  }
  op.responses = responses;
  if (route.kind === 'hijacked') op['x-garden-hijacked'] = true;
  return op;
}

function successText(route: RouteDef): string {
  switch (route.kind) {
    case 'hijacked':
      return route.response.type === 'process-stream'
        ? 'the connection is hijacked: after the head, NDJSON ProcessPayload messages flow both ways (stdin, signals and TTY changes in; the process id, then the exit status or an error out)'
        : "the connection is hijacked: the process's raw output bytes follow until it exits";
    case 'watch':
      return 'one JSON event per line, for as long as the connection stays open (the server ends it when it stops)';
    case 'stream':
      return route.response.type === 'tar' ? 'a tar stream' : 'the archive was extracted';
    default:
      return 'success';
  }
}

/** The OpenAPI 3.1 document of every route in the table. */
export function openApiDocument(options: OpenApiOptions = {}): JsonObject {
  const schemas = new SchemaConverter();
  const paths: Record<string, JsonObject> = {};
  for (const route of ROUTE_TABLE) {
    const path = openApiPath(route.path);
    paths[path] ??= {};
    paths[path]![route.method.toLowerCase()] = operation(route, schemas);
  }
  const sorted: Record<string, JsonObject> = {};
  for (const name of Object.keys(schemas.components).sort()) sorted[name] = schemas.components[name]!;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Garden API (garden-ts)',
      version: options.version ?? API_TYPES_VERSION,
      summary: 'Cloud Foundry Garden: container creation and management',
      description:
        "The Garden HTTP API as served by garden-ts, byte-compatible with Go's garden server (over a unix socket by default). Routes tagged `garden-ts extensions` are not part of Garden. Integers are Go's: 64-bit ones exceed a JSON double, so parse them exactly. Hijacked routes (x-garden-hijacked) turn the connection into a private stream after the response head.",
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [
      { name: TAG_GARDEN, description: "Garden's own routes (Go's routes.go)" },
      { name: TAG_EXTENSION, description: 'garden-ts additions on paths no Garden route matches' },
    ],
    paths,
    components: { schemas: sorted },
  };
}

/** The document as published: two-space indented JSON and a final newline. */
export function openApiJson(options: OpenApiOptions = {}): string {
  return `${JSON.stringify(openApiDocument(options), null, 2)}\n`;
}
