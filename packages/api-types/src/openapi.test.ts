// biome-ignore-all lint/suspicious/noExplicitAny: the test walks an untyped JSON document.
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { API_TYPES_VERSION, openApiDocument, openApiJson } from './openapi.js';
import { ROUTE_TABLE } from './routes.js';
import { decodeBody, encodeBody, Wire } from './wire.js';

const doc = openApiDocument();

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator, strict JSON Schema)', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('has one operation per route, named after it, with the route summary and status', () => {
    const ops = new Map<string, { method: string; path: string; op: Record<string, unknown> }>();
    for (const [path, item] of Object.entries(
      doc.paths as Record<string, Record<string, Record<string, unknown>>>,
    )) {
      for (const [method, op] of Object.entries(item))
        ops.set(op.operationId as string, { method, path, op });
    }
    expect(ops.size).toBe(ROUTE_TABLE.length);
    for (const r of ROUTE_TABLE) {
      const o = ops.get(r.name);
      expect(o, r.name).toBeDefined();
      expect(o!.method).toBe(r.method.toLowerCase());
      expect(o!.path).toBe(r.path.replace(/:([a-z]+)/g, '{$1}'));
      expect(o!.op.summary).toBe(r.summary);
      expect(Object.keys(o!.op.responses as object)[0]).toBe(String(r.status));
      expect(o!.op.tags).toEqual([r.garden ? 'garden' : 'garden-ts extensions']);
    }
  });

  it('describes bodies from the wire schemas (Go key names, 64-bit formats, enums)', () => {
    const s = (doc.components as { schemas: Record<string, Record<string, any>> }).schemas;
    expect(Object.keys(s.ContainerSpec!.properties)).toContain('grace_time');
    expect(s.ContainerSpec!.properties.grace_time).toMatchObject({ type: 'integer', format: 'int64' });
    expect(s.MemoryLimits!.properties.limit_in_bytes).toMatchObject({
      type: 'integer',
      format: 'uint64',
      minimum: 0,
    });
    expect(s.NetOutRule!.properties.protocol).toMatchObject({ type: 'integer', enum: [0, 1, 2, 3, 4] });
    expect(s.Event!.properties.exit_status).toMatchObject({ type: 'integer' });
    const create = (doc.paths as any)['/containers'].post;
    expect(create.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/ContainerSpec',
    });
    expect((doc.paths as any)['/containers/{handle}/files'].put.requestBody.content).toHaveProperty(
      'application/x-tar',
    );
    expect((doc.paths as any)['/events'].get.responses['200'].content).toHaveProperty('application/x-ndjson');
    expect((doc.paths as any)['/containers/{handle}/processes'].post['x-garden-hijacked']).toBe(true);
  });

  it('names the package version', () => {
    expect(API_TYPES_VERSION).toBe(pkg.version);
    expect((doc.info as { version: string }).version).toBe(pkg.version);
  });

  it('is published unchanged in docs/openapi.json (regenerate: pnpm --filter @garden-ts/api-types run openapi)', () => {
    const published = readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8');
    expect(published).toBe(openApiJson());
  });
});

/**
 * The OpenAPI validator checks the document's structure but not the JSON Schemas inside it (3.1
 * delegates them to the dialect), so each schema is also compiled by Ajv's JSON Schema 2020-12
 * implementation in strict mode, and real wire bodies are validated against them.
 */
function schemaCompiler(document: Record<string, unknown>) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  ajv.addKeyword('x-go-type');
  for (const f of ['uint8', 'uint16', 'uint32', 'uint64', 'int64', 'ip']) ajv.addFormat(f, true);
  const local = (schema: object) =>
    JSON.parse(
      JSON.stringify(schema).replaceAll('#/components/schemas/', 'https://garden-ts.invalid/openapi#/$defs/'),
    );
  ajv.addSchema({
    $id: 'https://garden-ts.invalid/openapi',
    $defs: local((document.components as { schemas: object }).schemas),
  });
  return (schema: object) => ajv.compile(local(schema));
}

function bodySchemas(document: any): Array<[string, object]> {
  const out: Array<[string, object]> = [];
  for (const [path, item] of Object.entries<any>(document.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const contents = [op.requestBody?.content, ...Object.values<any>(op.responses).map((r) => r.content)];
      for (const c of contents)
        for (const [type, m] of Object.entries<any>(c ?? {}))
          out.push([`${method} ${path} ${type}`, m.schema]);
    }
  }
  return out;
}

describe('the JSON Schemas inside the document', () => {
  const compile = schemaCompiler(doc);

  it('compile under JSON Schema 2020-12, strict', () => {
    for (const [where, schema] of bodySchemas(doc)) expect(() => compile(schema), where).not.toThrow();
  });

  it('accept real wire bodies and refuse wrong ones', () => {
    const info = compile({ $ref: '#/components/schemas/ContainerInfo' });
    const body = encodeBody(Wire.containerInfo, {
      state: 'active',
      events: [],
      hostIP: '10.0.0.1',
      containerIP: '10.0.0.2',
      containerIPv6: '',
      externalIP: '',
      containerPath: '/d',
      processIDs: ['p'],
      properties: { a: 'b' },
      mappedPorts: [{ hostPort: 61001, containerPort: 8080 }],
    });
    expect(info(JSON.parse(body)), JSON.stringify(info.errors)).toBe(true);
    expect(info({ ...JSON.parse(body), MappedPorts: [{ HostPort: 'x' }] })).toBe(false);
    const event = compile({ $ref: '#/components/schemas/Event' });
    const line = encodeBody(Wire.event, {
      type: 'process.exited',
      time: new Date().toISOString(),
      handle: 'h',
      processId: 'p',
      exitStatus: 0,
    });
    expect(line).toContain('"exit_status":0');
    expect(event(JSON.parse(line)), JSON.stringify(event.errors)).toBe(true);
    expect(event({ type: 'process.exited', time: 5 })).toBe(false);
    // image.progress: Garden-style snake_case keys, zero counters kept, round trip intact.
    const progress = {
      type: 'image.progress',
      time: '2026-12-07T01:02:03.004Z',
      handle: 'h',
      image: 'docker:///busybox',
      phase: 'downloading',
      layer: 'sha256:ab',
      layerBytes: 4096,
      layerSize: 8192,
      layersDone: 0,
      layersTotal: 2,
      bytes: 4096,
      totalBytes: 9000,
    } as const;
    const progressLine = encodeBody(Wire.event, progress);
    expect(JSON.parse(progressLine)).toEqual({
      type: 'image.progress',
      time: '2026-12-07T01:02:03.004Z',
      handle: 'h',
      image: 'docker:///busybox',
      phase: 'downloading',
      layer: 'sha256:ab',
      layer_bytes: 4096,
      layer_size: 8192,
      layers_done: 0,
      layers_total: 2,
      bytes: 4096,
      total_bytes: 9000,
    });
    expect(event(JSON.parse(progressLine)), JSON.stringify(event.errors)).toBe(true);
    expect(decodeBody(Wire.event, progressLine)).toEqual(progress);
    const spec = compile({ $ref: '#/components/schemas/ContainerSpec' });
    expect(
      spec(
        JSON.parse(
          encodeBody(Wire.containerSpec, { handle: 'x', limits: { memory: { limitInBytes: 1024n } } }),
        ),
      ),
    ).toBe(true);
    expect(spec({ limits: { memory_limits: { limit_in_bytes: -1 } } })).toBe(false);
  });

  it('and the validators refuse broken documents (so the checks above can fail)', async () => {
    const broken = structuredClone(doc) as any;
    broken.paths['/ping'].get.responses = 'none';
    expect((await new Validator().validate(broken)).valid).toBe(false);
    const badSchema = structuredClone(doc) as any;
    badSchema.components.schemas.ContainerSpec.properties.grace_time.type = 'bigint';
    expect(() => schemaCompiler(badSchema)({ $ref: '#/components/schemas/ContainerSpec' })).toThrow();
  });
});
