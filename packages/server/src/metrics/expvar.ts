/**
 * `GET /debug/vars` in the shape of Go's `expvar` handler, as gdn's debug server serves it:
 * `cmdline` (the command line), `memstats` (Go's `runtime.MemStats` field names) and the
 * variables Guardian publishes that mean something here (`numCPUS`, `depotDirs` = containers).
 * Tools that poll gdn's debug endpoint (e.g. for `memstats.Alloc`, `memstats.HeapInuse`,
 * `memstats.NumGC`) read the same fields from gardend.
 *
 * Mapping from V8 (fields Go has and V8 does not are 0 and listed in the README):
 * `Alloc` = `HeapAlloc` = used heap + external memory; `Sys` = resident set size; `HeapSys` = V8's
 * heap size; `HeapInuse` = used heap; `HeapIdle` = heap size − used; `NextGC` = V8's heap size
 * (the size at which V8 collects next, roughly); `TotalAlloc` = `Alloc` (V8 keeps no cumulative
 * count: a lower bound); `OtherSys` = RSS − heap size; `NumGC`, `PauseTotalNs`, `PauseNs`, `PauseEnd`, `LastGC` and
 * `GCCPUFraction` from the GC entries of `perf_hooks` since the debug server started.
 */
import { availableParallelism } from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/** Go keeps the last 256 pauses in circular buffers. */
const RING = 256;

/** Garbage-collection pauses, observed from when `start()` is called. */
export class GcObserver {
  numGC = 0;
  pauseTotalNs = 0;
  lastGcNs = 0;
  readonly pauseNs = new Array<number>(RING).fill(0);
  readonly pauseEnd = new Array<number>(RING).fill(0);
  private observer: PerformanceObserver | undefined;

  start(): void {
    if (this.observer) return;
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const ns = Math.round(entry.duration * 1e6);
        const endNs = Math.round((performance.timeOrigin + entry.startTime + entry.duration) * 1e6);
        this.pauseNs[this.numGC % RING] = ns;
        this.pauseEnd[this.numGC % RING] = endNs;
        this.numGC++;
        this.pauseTotalNs += ns;
        this.lastGcNs = endNs;
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }
}

/** Go's `runtime.MemStats` as JSON, from V8's heap statistics and the observed GC pauses. */
export function memstats(gc: GcObserver): Record<string, unknown> {
  const heap = getHeapStatistics();
  const usage = process.memoryUsage();
  const alloc = heap.used_heap_size + heap.external_memory;
  const uptimeNs = process.uptime() * 1e9;
  return {
    Alloc: alloc,
    TotalAlloc: alloc,
    Sys: usage.rss,
    Lookups: 0,
    Mallocs: 0,
    Frees: 0,
    HeapAlloc: alloc,
    HeapSys: heap.total_heap_size,
    HeapIdle: Math.max(0, heap.total_heap_size - heap.used_heap_size),
    HeapInuse: heap.used_heap_size,
    HeapReleased: 0,
    HeapObjects: 0,
    StackInuse: 0,
    StackSys: 0,
    MSpanInuse: 0,
    MSpanSys: 0,
    MCacheInuse: 0,
    MCacheSys: 0,
    BuckHashSys: 0,
    GCSys: 0,
    OtherSys: Math.max(0, usage.rss - heap.total_heap_size),
    NextGC: heap.total_heap_size,
    LastGC: gc.lastGcNs,
    PauseTotalNs: gc.pauseTotalNs,
    PauseNs: gc.pauseNs,
    PauseEnd: gc.pauseEnd,
    NumGC: gc.numGC,
    NumForcedGC: 0,
    GCCPUFraction: uptimeNs > 0 ? gc.pauseTotalNs / uptimeNs : 0,
    EnableGC: true,
    DebugGC: false,
    BySize: [],
  };
}

/** The whole `/debug/vars` object; `extra` adds published variables (sorted like Go's). */
export function expvars(gc: GcObserver, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const vars: Record<string, unknown> = {
    cmdline: process.argv.slice(1),
    memstats: memstats(gc),
    numCPUS: availableParallelism(),
    ...extra,
  };
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(vars).sort()) sorted[key] = vars[key];
  return sorted;
}
