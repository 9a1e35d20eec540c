/**
 * The server's Prometheus metrics (prom-client, on a registry of its own), served by the debug
 * server (`debug-server.ts`) at `GET /metrics`. Created only when asked for
 * (`buildServer({ metrics: … })`, gardend's `--debug-bind-*`): without it the request paths do
 * not even read the clock.
 *
 * Counted as requests happen (cheap: a hand-written tally, see `RequestTally`):
 * - `garden_requests_total{route,transport,code}` and `garden_request_duration_seconds{route}`:
 *   every request, labelled with its route-table name (`NotFound` / `MethodNotAllowed` when none
 *   matched), the path that served it (`fast`, `http`, `hijacked`) and the status. The duration
 *   is until the complete answer for plain and stream routes, until the response head for
 *   hijacked ones (the process started) and not observed for `watch` routes (Events);
 * - `garden_container_creates_total{outcome}`, `garden_container_destroys_total{outcome,reason}`
 *   (`reason` `api` or `grace-time`), `garden_process_runs_total{outcome}` (Run);
 * - `garden_process_output_bytes_total{stream}`: bytes sent on Stdout/Stderr connections.
 *
 * Read from the backend at scrape time: `garden_containers{state}`, `garden_processes_running`,
 * and, opt-in (`containerMetrics`), `garden_container_cpu_usage_seconds{handle}` and
 * `garden_container_memory_usage_bytes{handle}` for at most `containerMetricsLimit` containers
 * (bounded cardinality; `garden_container_metrics_omitted` says how many were left out).
 *
 * Process-level: prom-client's default metrics (`process_*`, `nodejs_heap_*`,
 * `nodejs_eventloop_lag_*`, GC durations, …).
 */
import type { Backend, Metrics } from '@garden-ts/api-types';
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';

export interface MetricsOptions {
  /** Per-container CPU and memory gauges (labelled by handle). Default false. */
  containerMetrics?: boolean;
  /** At most this many containers get per-container gauges (the first by handle). Default 100. */
  containerMetricsLimit?: number;
}

export type Transport = 'fast' | 'http' | 'hijacked';

/** Request latency buckets, in seconds: 100 µs to 10 s. */
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * The per-request counter and latency histogram, hand-written (a measured hot path): prom-client's
 * labelled `inc()`/`observe()` hash their label object on every call (≈ 2 µs per request, measured
 * with 10^6 calls), where this is one map lookup and three increments. prom-client still renders
 * them: `metric()` and `histogram()` are registered as custom metrics read at scrape time.
 */
class RequestTally {
  private readonly counts = new Map<string, { route: string; transport: string; code: string; n: number }>();
  private readonly latency = new Map<string, { buckets: Float64Array; sum: number; count: number }>();

  record(route: string, transport: string, code: number, seconds: number | undefined): void {
    const key = `${route} ${transport} ${code}`;
    const c = this.counts.get(key);
    if (c === undefined) this.counts.set(key, { route, transport, code: String(code), n: 1 });
    else c.n++;
    if (seconds === undefined) return;
    let h = this.latency.get(route);
    if (h === undefined) {
      h = { buckets: new Float64Array(LATENCY_BUCKETS.length), sum: 0, count: 0 };
      this.latency.set(route, h);
    }
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    if (i < LATENCY_BUCKETS.length) h.buckets[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /** `garden_requests_total` as a prom-client custom metric. */
  metric() {
    const name = 'garden_requests_total';
    const help = 'Requests served, by route-table name, serving path and HTTP status.';
    return {
      name,
      help,
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({
        name,
        help,
        type: 'counter',
        aggregator: 'sum',
        values: [...this.counts.values()].map(({ route, transport, code, n }) => ({
          labels: { route, transport, code },
          value: n,
        })),
      }),
      reset: () => this.counts.clear(),
    };
  }

  /** `garden_request_duration_seconds` as a prom-client custom metric (cumulative buckets). */
  histogram() {
    const name = 'garden_request_duration_seconds';
    const help = 'Time to answer a request (hijacked routes: to the response head), by route-table name.';
    return {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => {
        const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> =
          [];
        for (const [route, h] of this.latency) {
          let cumulative = 0;
          LATENCY_BUCKETS.forEach((le, i) => {
            cumulative += h.buckets[i]!;
            values.push({ labels: { le, route }, value: cumulative, metricName: `${name}_bucket` });
          });
          values.push({ labels: { le: '+Inf', route }, value: h.count, metricName: `${name}_bucket` });
          values.push({ labels: { route }, value: h.sum, metricName: `${name}_sum` });
          values.push({ labels: { route }, value: h.count, metricName: `${name}_count` });
        }
        return { name, help, type: 'histogram', aggregator: 'sum', values };
      },
      reset: () => this.latency.clear(),
    };
  }
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests = new RequestTally();
  private readonly creates: Counter<'outcome'>;
  private readonly destroys: Counter<'outcome' | 'reason'>;
  private readonly runs: Counter<'outcome'>;
  private readonly outputBytes: Counter<'stream'>;
  private backend: Backend | undefined;

  constructor(readonly options: MetricsOptions = {}) {
    const registers = [this.registry];
    const limit = options.containerMetricsLimit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(`containerMetricsLimit must be a non-negative integer, got ${limit}`);
    }
    // Custom metrics: prom-client renders whatever their get() returns.
    this.registry.registerMetric(this.requests.metric() as unknown as Metric);
    this.registry.registerMetric(this.requests.histogram() as unknown as Metric);
    this.creates = new Counter({
      name: 'garden_container_creates_total',
      help: 'Container creates, by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.destroys = new Counter({
      name: 'garden_container_destroys_total',
      help: 'Container destroys, by outcome and reason (api, grace-time).',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    this.runs = new Counter({
      name: 'garden_process_runs_total',
      help: 'Processes started with Run, by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.outputBytes = new Counter({
      name: 'garden_process_output_bytes_total',
      help: 'Process output bytes sent to clients on Stdout/Stderr connections.',
      labelNames: ['stream'],
      registers,
    });
    // Zero-valued series from the start, so rates work from the first scrape.
    for (const outcome of ['success', 'error']) {
      this.creates.labels(outcome).inc(0);
      this.runs.labels(outcome).inc(0);
      for (const reason of ['api', 'grace-time']) this.destroys.labels(outcome, reason).inc(0);
    }
    for (const stream of ['stdout', 'stderr']) this.outputBytes.labels(stream).inc(0);

    const self = this;
    new Gauge({
      name: 'garden_containers',
      help: 'Containers, by state (active, stopped).',
      labelNames: ['state'],
      registers,
      async collect() {
        const snapshot = await self.snapshot();
        this.reset();
        this.labels('active').set(0);
        this.labels('stopped').set(0);
        for (const [state, n] of snapshot.states) this.labels(state).set(n);
      },
    });
    new Gauge({
      name: 'garden_processes_running',
      help: 'Processes running in all containers.',
      registers,
      async collect() {
        this.set((await self.snapshot()).processes);
      },
    });
    if (options.containerMetrics) {
      // The handles chosen for this scrape, shared by the three gauges below.
      const chosen = async () => {
        const handles = [...(await self.snapshot()).handles].sort();
        return { chosen: handles.slice(0, limit), omitted: Math.max(0, handles.length - limit) };
      };
      new Gauge({
        name: 'garden_container_metrics_omitted',
        help: 'Containers left out of the per-container gauges (beyond the configured limit).',
        registers,
        async collect() {
          this.set((await chosen()).omitted);
        },
      });
      new Gauge({
        name: 'garden_container_cpu_usage_seconds',
        help: 'CPU time used by a container (cumulative), from the backend metrics.',
        labelNames: ['handle'],
        registers,
        async collect() {
          this.reset();
          for (const [handle, m] of await self.containerMetrics(chosen)) {
            this.labels(handle).set(Number(m.cpuStat.usage) / 1e9);
          }
        },
      });
      new Gauge({
        name: 'garden_container_memory_usage_bytes',
        help: "Memory counted toward a container's limit, from the backend metrics.",
        labelNames: ['handle'],
        registers,
        async collect() {
          this.reset();
          for (const [handle, m] of await self.containerMetrics(chosen)) {
            this.labels(handle).set(Number(m.memoryStat.totalUsageTowardLimit));
          }
        },
      });
    }
    collectDefaultMetrics({ register: this.registry });
  }

  /** Gives the scrape-time collectors their backend (buildServer does this). */
  bind(backend: Backend): void {
    this.backend = backend;
  }

  /** One request: counted, and its duration observed unless `seconds` is undefined. */
  request(route: string, transport: Transport, code: number, seconds: number | undefined): void {
    this.requests.record(route, transport, code, seconds);
  }

  created(ok: boolean): void {
    this.creates.labels(ok ? 'success' : 'error').inc();
  }

  destroyed(ok: boolean, reason: 'api' | 'grace-time'): void {
    this.destroys.labels(ok ? 'success' : 'error', reason).inc();
  }

  ran(ok: boolean): void {
    this.runs.labels(ok ? 'success' : 'error').inc();
  }

  output(stream: 'stdout' | 'stderr', bytes: number): void {
    if (bytes > 0) this.outputBytes.labels(stream).inc(bytes);
  }

  /** The exposition text (`text/plain; version=0.0.4`). */
  render(): Promise<string> {
    this.snapshotPromise = undefined;
    this.metricsPromise = undefined;
    return this.registry.metrics();
  }

  // The backend's metrics of the chosen containers, once per scrape.
  private metricsPromise: Promise<Array<[string, Metrics]>> | undefined;
  private containerMetrics(chosen: () => Promise<{ chosen: string[] }>): Promise<Array<[string, Metrics]>> {
    this.metricsPromise ??= (async () => {
      const handles = (await chosen()).chosen;
      if (handles.length === 0 || !this.backend) return [];
      const entries = await this.backend.bulkMetrics(handles);
      return Object.entries(entries).flatMap(
        ([h, e]): Array<[string, Metrics]> => (e.metrics ? [[h, e.metrics]] : []),
      );
    })();
    return this.metricsPromise;
  }

  /** The content type of {@link render}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  // One look at the backend per scrape, shared by the collectors that need it.
  private snapshotPromise: Promise<Snapshot> | undefined;
  private snapshot(): Promise<Snapshot> {
    this.snapshotPromise ??= this.takeSnapshot();
    return this.snapshotPromise;
  }

  private async takeSnapshot(): Promise<Snapshot> {
    const out: Snapshot = { states: new Map(), processes: 0, handles: [] };
    if (!this.backend) return out;
    const handles = (await this.backend.containers()).map((c) => c.handle);
    out.handles = handles;
    if (handles.length === 0) return out;
    const infos = await this.backend.bulkInfo(handles);
    for (const entry of Object.values(infos)) {
      if (!entry.info) continue;
      const state = entry.info.state === 'stopped' ? 'stopped' : 'active';
      out.states.set(state, (out.states.get(state) ?? 0) + 1);
      out.processes += entry.info.processIDs?.length ?? 0;
    }
    return out;
  }
}

interface Snapshot {
  states: Map<string, number>;
  processes: number;
  handles: string[];
}
