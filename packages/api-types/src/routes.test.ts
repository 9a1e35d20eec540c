import { describe, expect, it } from 'vitest';
import { GARDEN_ROUTES, ROUTE_TABLE, ROUTES } from './routes.js';
import { decodeBody, encodeBody, Wire } from './wire.js';

describe('route table', () => {
  it('is protocol §6.1: names, methods, paths and kinds in registration order', () => {
    const P = 'plain';
    const H = 'hijacked';
    const S = 'stream';
    expect(ROUTE_TABLE.map((r) => [r.name, r.method, r.path, r.kind, r.status])).toEqual([
      ['Ping', 'GET', '/ping', P, 200],
      ['Capacity', 'GET', '/capacity', P, 200],
      ['List', 'GET', '/containers', P, 200],
      ['Create', 'POST', '/containers', P, 200],
      ['Info', 'GET', '/containers/:handle/info', P, 200],
      ['BulkInfo', 'GET', '/containers/bulk_info', P, 200],
      ['BulkMetrics', 'GET', '/containers/bulk_metrics', P, 200],
      ['Destroy', 'DELETE', '/containers/:handle', P, 200],
      ['Stop', 'PUT', '/containers/:handle/stop', P, 200],
      ['StreamIn', 'PUT', '/containers/:handle/files', S, 200],
      ['StreamOut', 'GET', '/containers/:handle/files', S, 200],
      ['CurrentBandwidthLimits', 'GET', '/containers/:handle/limits/bandwidth', P, 200],
      ['CurrentCPULimits', 'GET', '/containers/:handle/limits/cpu', P, 200],
      ['CurrentDiskLimits', 'GET', '/containers/:handle/limits/disk', P, 200],
      ['CurrentMemoryLimits', 'GET', '/containers/:handle/limits/memory', P, 200],
      ['NetIn', 'POST', '/containers/:handle/net/in', P, 200],
      ['NetOut', 'POST', '/containers/:handle/net/out', P, 200],
      ['BulkNetOut', 'POST', '/containers/:handle/net/out/bulk', P, 200],
      ['Stdout', 'GET', '/containers/:handle/processes/:pid/attaches/:streamid/stdout', H, 200],
      ['Stderr', 'GET', '/containers/:handle/processes/:pid/attaches/:streamid/stderr', H, 200],
      ['Run', 'POST', '/containers/:handle/processes', H, 201],
      ['Attach', 'GET', '/containers/:handle/processes/:pid', H, 200],
      ['SetGraceTime', 'PUT', '/containers/:handle/grace_time', P, 200],
      ['Properties', 'GET', '/containers/:handle/properties', P, 200],
      ['Property', 'GET', '/containers/:handle/properties/:key', P, 200],
      ['SetProperty', 'PUT', '/containers/:handle/properties/:key', P, 200],
      ['RemoveProperty', 'DELETE', '/containers/:handle/properties/:key', P, 200],
      ['Metrics', 'GET', '/containers/:handle/metrics', P, 200],
      // garden-ts extensions, after every Garden route
      ['Events', 'GET', '/events', 'watch', 200],
      ['OpenAPI', 'GET', '/openapi.json', P, 200],
    ]);
    expect(ROUTE_TABLE.filter((r) => !r.garden).map((r) => r.name)).toEqual(['Events', 'OpenAPI']);
    expect(GARDEN_ROUTES).toHaveLength(28);
  });

  it('extension routes cannot shadow a Garden path, nor a Garden path reach them', () => {
    // A Garden pattern's literal prefix (before the first capture) is where pat starts matching;
    // an extension path must share no prefix with any Garden pattern beyond "/", so no Garden
    // request can ever reach it whatever its captures hold, and vice versa.
    const literal = (p: string) => (p.includes(':') ? p.slice(0, p.indexOf(':')) : p);
    for (const ext of ROUTE_TABLE.filter((r) => !r.garden)) {
      expect(ext.path.includes(':'), ext.name).toBe(false);
      for (const g of GARDEN_ROUTES) {
        const prefix = literal(g.path);
        expect(ext.path.startsWith(prefix) || prefix.startsWith(ext.path), `${ext.name} vs ${g.name}`).toBe(
          false,
        );
        // The first path segment differs: Garden's are ping, capacity and containers.
        expect(ext.path.split('/')[1]).not.toBe(g.path.split('/')[1]);
      }
    }
  });

  it('has one entry per name and per method + path, reachable by name', () => {
    expect(new Set(ROUTE_TABLE.map((r) => r.name)).size).toBe(ROUTE_TABLE.length);
    expect(new Set(ROUTE_TABLE.map((r) => `${r.method} ${r.path}`)).size).toBe(ROUTE_TABLE.length);
    for (const r of ROUTE_TABLE) expect(ROUTES[r.name]).toBe(r);
    expect(Object.isFrozen(ROUTES)).toBe(true);
  });

  it('names a wire codec for every JSON body, and only streams carry tar', () => {
    const codecs = new Set<unknown>(Object.values(Wire));
    for (const r of ROUTE_TABLE) {
      for (const body of [r.request, r.response]) {
        if (body.type === 'json') expect(codecs.has(body.codec), `${r.name}`).toBe(true);
        if (body.type === 'tar') expect(r.kind, r.name).toBe('stream');
        if (body.type === 'process-stream' || body.type === 'output-stream')
          expect(r.kind, r.name).toBe('hijacked');
      }
      // Plain routes answer one JSON value (protocol §6.2); GET and DELETE carry no request body.
      if (r.kind === 'plain' && r.garden) expect(r.response.type, r.name).toBe('json');
      if (isNdjson(r)) expect(r.kind, r.name).toBe('watch');
      if (r.method === 'GET' || r.method === 'DELETE') expect(r.request.type, r.name).toBe('none');
    }
    expect(ROUTES.Create.request).toEqual({ type: 'json', codec: Wire.containerSpec });
    expect(ROUTES.Run.request).toEqual({ type: 'json', codec: Wire.processSpec });
    expect(ROUTES.StreamIn.request.type).toBe('tar');
    expect(ROUTES.StreamOut.response.type).toBe('tar');
    expect(ROUTES.List.query.map((q) => q.name)).toEqual(['*']);
    expect(ROUTES.StreamIn.query.map((q) => q.name)).toEqual(['destination', 'user']);
  });
});

describe('Wire.empty (the `{}` answer)', () => {
  it('encodes `{}` + LF and accepts any JSON value back', () => {
    expect(encodeBody(Wire.empty, undefined)).toBe('{}\n');
    expect(Wire.empty.encode()).toEqual({});
    expect(decodeBody(Wire.empty, '{}\n')).toBeUndefined();
    expect(decodeBody(Wire.empty, '{"unexpected":[1,2]}')).toBeUndefined();
    expect(decodeBody(Wire.empty, 'null')).toBeUndefined();
    // No value at all is Go's EOF.
    expect(() => decodeBody(Wire.empty, '')).toThrow('EOF');
  });
});

function isNdjson(r: (typeof ROUTE_TABLE)[number]): boolean {
  return r.response.type === 'ndjson';
}
