/**
 * The debug server, scraped: `GET /metrics` parsed strictly as the Prometheus text format and
 * checked against the requests made (fast path, HTTP path, hijacked routes, 404s), creates,
 * destroys, runs, output bytes, containers by state and the opt-in per-container gauges;
 * `GET /debug/vars` in Go expvar's shape.
 */
import { openApiJson } from '@garden-ts/api-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DebugServer, ServerMetrics, startDebugServer } from '../src/index.js';
import { parsePrometheusText, seriesValue } from './helpers/prometheus-text.js';
import { exchange, goRequest, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture;
let debug: DebugServer;
let base: string;

beforeAll(async () => {
  f = await startServer({ metrics: new ServerMetrics({ containerMetrics: true, containerMetricsLimit: 1 }) });
  debug = await startDebugServer({
    host: '127.0.0.1',
    port: 0,
    metrics: f.server.metrics!,
    vars: () => ({ depotDirs: f.fake.handles().length }),
  });
  base = `http://127.0.0.1:${debug.address.port}`;
});
afterAll(async () => {
  await debug.close();
  await f.close();
});

async function scrape() {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

async function run(handle: string, body: object): Promise<{ status: number; stdout: string }> {
  const c = await RawConnection.open(f.socketPath);
  const json = JSON.stringify(body);
  c.write(
    `POST /containers/${handle}/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
  );
  const head = await c.readHead();
  if (head.status !== 201) return { status: head.status, stdout: '' };
  const first = JSON.parse(await c.readLine()) as { stream_id: string };
  const o = await RawConnection.open(f.socketPath);
  o.write(
    `GET /containers/${handle}/processes/p/attaches/${first.stream_id}/stdout HTTP/1.1\r\nHost: api\r\n\r\n`,
  );
  await o.readHead();
  await c.readLine(); // exit status
  const stdout = (await o.readToEnd()).toString();
  c.socket.destroy();
  return { status: 201, stdout };
}

describe('GET /metrics', () => {
  it('counts every path, route and outcome, parsed strictly', async () => {
    for (let i = 0; i < 3; i++)
      expect((await exchange(f.socketPath, goRequest('GET', '/ping'))).status).toBe(200);
    // HTTP/1.0 is Node's (the HTTP path).
    expect((await exchange(f.socketPath, 'GET /ping HTTP/1.0\r\n\r\n')).status).toBe(200);
    expect((await exchange(f.socketPath, goRequest('GET', '/nope'))).status).toBe(404);
    expect((await exchange(f.socketPath, goRequest('PUT', '/ping'))).status).toBe(405);
    for (const h of ['m1', 'm2', 'm3']) {
      expect(
        (await exchange(f.socketPath, goRequest('POST', '/containers', JSON.stringify({ handle: h }))))
          .status,
      ).toBe(200);
    }
    expect((await exchange(f.socketPath, goRequest('POST', '/containers', '{"handle":"m1"}'))).status).toBe(
      500,
    );
    expect(await run('m1', { path: 'echo', args: ['hello'] })).toEqual({ status: 201, stdout: 'hello\n' });
    expect((await run('gone', { path: 'echo' })).status).toBe(404);
    expect((await exchange(f.socketPath, goRequest('DELETE', '/containers/m3'))).status).toBe(200);
    expect(
      (await exchange(f.socketPath, goRequest('PUT', '/containers/m2/stop', '{"kill":true}'))).status,
    ).toBe(200);

    const m = await scrape();
    const req = (route: string, transport: string, code: string) =>
      seriesValue(m, 'garden_requests_total', { route, transport, code });
    expect(req('Ping', 'fast', '200')).toBe(3);
    expect(req('Ping', 'http', '200')).toBe(1);
    expect(req('NotFound', 'fast', '404')).toBe(1);
    expect(req('MethodNotAllowed', 'fast', '405')).toBe(1);
    expect(req('Create', 'fast', '200')).toBe(3);
    expect(req('Create', 'fast', '500')).toBe(1);
    expect(req('Run', 'hijacked', '201')).toBe(1);
    expect(req('Run', 'hijacked', '404')).toBe(1);
    expect(req('Stdout', 'hijacked', '200')).toBe(1);
    expect(seriesValue(m, 'garden_request_duration_seconds_count', { route: 'Ping' })).toBe(4);
    expect(seriesValue(m, 'garden_request_duration_seconds_count', { route: 'Run' })).toBe(2);
    expect(m.get('garden_request_duration_seconds')?.type).toBe('histogram');
    expect(seriesValue(m, 'garden_container_creates_total', { outcome: 'success' })).toBe(3);
    expect(seriesValue(m, 'garden_container_creates_total', { outcome: 'error' })).toBe(1);
    expect(seriesValue(m, 'garden_container_destroys_total', { outcome: 'success', reason: 'api' })).toBe(1);
    expect(seriesValue(m, 'garden_process_runs_total', { outcome: 'success' })).toBe(1);
    expect(seriesValue(m, 'garden_process_runs_total', { outcome: 'error' })).toBe(1);
    expect(seriesValue(m, 'garden_process_output_bytes_total', { stream: 'stdout' })).toBe('hello\n'.length);
    expect(seriesValue(m, 'garden_containers', { state: 'active' })).toBe(1);
    expect(seriesValue(m, 'garden_containers', { state: 'stopped' })).toBe(1);
    expect(seriesValue(m, 'garden_processes_running')).toBe(0);
    // Per-container gauges, bounded to 1 container (the first by handle).
    expect(m.get('garden_container_memory_usage_bytes')?.samples.map((s) => s.labels.handle)).toEqual(['m1']);
    expect(seriesValue(m, 'garden_container_memory_usage_bytes', { handle: 'm1' })).toBeGreaterThan(0);
    expect(seriesValue(m, 'garden_container_cpu_usage_seconds', { handle: 'm1' })).toBeGreaterThan(0);
    expect(seriesValue(m, 'garden_container_metrics_omitted')).toBe(1);
    // The process: heap and event-loop lag.
    expect(seriesValue(m, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(m.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
    expect(m.get('process_resident_memory_bytes')).toBeDefined();
  });

  it('counts running processes', async () => {
    const c = await RawConnection.open(f.socketPath);
    const body = JSON.stringify({ path: 'sleep', args: ['10'] });
    c.write(
      `POST /containers/m1/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await c.readHead();
    expect(seriesValue(await scrape(), 'garden_processes_running')).toBe(1);
    c.socket.destroy();
  });

  it('the debug server answers 404 elsewhere and 405 for other methods', async () => {
    expect((await fetch(`${base}/debug/pprof`)).status).toBe(404);
    const post = await fetch(`${base}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('GET /debug/vars', () => {
  it("is Go expvar's shape: cmdline, memstats with a non-zero Alloc, published vars", async () => {
    const res = await fetch(`${base}/debug/vars`);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const vars = (await res.json()) as Record<string, any>;
    expect(Object.keys(vars)).toEqual([...Object.keys(vars)].sort());
    expect(Array.isArray(vars.cmdline)).toBe(true);
    expect(vars.memstats.Alloc).toBeGreaterThan(0);
    expect(vars.memstats.HeapInuse).toBeGreaterThan(0);
    expect(vars.memstats.Sys).toBeGreaterThanOrEqual(vars.memstats.HeapSys);
    expect(vars.memstats.PauseNs).toHaveLength(256);
    for (const k of [
      'TotalAlloc',
      'HeapAlloc',
      'HeapSys',
      'HeapIdle',
      'NextGC',
      'NumGC',
      'PauseTotalNs',
      'LastGC',
    ]) {
      expect(typeof vars.memstats[k], k).toBe('number');
    }
    expect(vars.numCPUS).toBeGreaterThan(0);
    expect(vars.depotDirs).toBe(f.fake.handles().length);
  });
});

describe('the strict exposition parser', () => {
  it('refuses what the format does not allow (so the scrape test can fail)', () => {
    const ok = '# HELP a_total x\n# TYPE a_total counter\na_total{l="v"} 1\n';
    expect(() => parsePrometheusText(ok)).not.toThrow();
    for (const bad of [
      ok.slice(0, -1), // no final newline
      '# TYPE a counter\na{l="v} 1\n',
      '# TYPE a counter\na{1l="v"} 1\n',
      '# TYPE a counter\na 1\na 2\n',
      '# TYPE a counter\na -1\n',
      '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n',
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
      'a 1\n# TYPE a counter\n',
      '# TYPE a bogus\na 1\n',
      'a x\n',
    ]) {
      expect(() => parsePrometheusText(bad), JSON.stringify(bad)).toThrow();
    }
  });
});

describe('GET /openapi.json', () => {
  it('serves the generated document, the same on the fast path and on the HTTP path', async () => {
    const fast = await exchange(f.socketPath, goRequest('GET', '/openapi.json'));
    const http = await exchange(f.socketPath, 'GET /openapi.json HTTP/1.0\r\n\r\n');
    expect(fast.status).toBe(200);
    expect(fast.headers.find(([k]) => k === 'Content-Type')?.[1]).toBe('application/json');
    expect(fast.body.toString()).toBe(openApiJson());
    expect(http.body.toString()).toBe(openApiJson());
    expect((await exchange(f.socketPath, goRequest('DELETE', '/openapi.json'))).status).toBe(405);
  });
});
