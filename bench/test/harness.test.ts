import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidCaseError, validateCase } from '../lib/case-file.mjs';
import { BEGIN_MARKER, END_MARKER } from '../lib/markdown.mjs';
import { pairOrder, pairRatio } from '../lib/schedule.mjs';
import { median, quantile, summarize } from '../lib/stats.mjs';
import { runCases } from '../run.mjs';

// Synthetic cases return scripted values so the ratio math can be checked exactly; each records
// its calls in a global trace so the A,B / B,A ordering can be checked too.
const SCRIPTED = `
const trace = (globalThis.__benchTrace ??= []);
function scripted(tag, values) {
  let i = 0;
  return async () => { trace.push(tag); return values[i++ % values.length]; };
}
`;

const CASES: Record<string, string> = {
  'a-throughput.mjs': `${SCRIPTED}
export default {
  name: 'synthetic-throughput', description: 'scripted | higher', unit: 'ops/s', better: 'higher', pairs: 3,
  async setup(options) { trace.push('setup:' + options.quick); return {}; },
  // warm-up first, then pairs 0..2: A = 100, 300, 200; B = 50, 100, 100 -> ratios 2, 3, 2
  measure: (() => { const f = scripted('A', [1, { value: 100, p50: 1 }, { value: 300, p50: 3 }, { value: 200, p50: 2, note: 'x' }]); return f; })(),
  peer: { name: 'scripted-peer', measure: scripted('B', [1, 50, 100, 100]) },
};`,
  'b-latency.mjs': `${SCRIPTED}
export default {
  name: 'synthetic-latency', unit: 'ms', better: 'lower', pairs: 2,
  // lower is better: ratio = B/A; A = 10, 20; B = 40, 30 -> ratios 4, 1.5
  measure: scripted('L-A', [5, 10, 20]),
  peer: { name: 'slow-peer', measure: scripted('L-B', [5, 40, 30]) },
};`,
  'c-broken.mjs': `
export default {
  name: 'synthetic-broken', unit: 'ops/s', better: 'higher',
  async setup() { throw new Error('no such daemon'); },
  async measure() { return 1; },
};`,
  'd-needs.mjs': `
export default {
  name: 'synthetic-needs', unit: 'ops/s', better: 'higher', requires: ['impossible'],
  async measure() { throw new Error('must not run'); },
};`,
  'e-solo.mjs': `
export default {
  name: 'synthetic-solo', unit: 'MB/s', better: 'higher', pairs: 4,
  async measure() { return 7; },
  async teardown() { globalThis.__benchTorn = true; },
};`,
};

type Trace = { __benchTrace?: string[]; __benchTorn?: boolean };
const g = globalThis as Trace;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bench-harness-'));
  await mkdir(path.join(dir, 'cases'));
  await Promise.all(
    Object.entries(CASES).map(([file, text]) => writeFile(path.join(dir, 'cases', file), text)),
  );
  g.__benchTrace = [];
  g.__benchTorn = false;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  delete g.__benchTrace;
  delete g.__benchTorn;
});

const checks = { impossible: () => 'needs the impossible' };

function options(extra: Parameters<typeof runCases>[0] = {}) {
  return {
    casesDir: path.join(dir, 'cases'),
    resultsPath: path.join(dir, 'results', 'latest.json'),
    docsPath: path.join(dir, 'benchmarks.md'),
    log: () => {},
    checks,
    ...extra,
  };
}

describe('statistics', () => {
  it('interpolates quantiles and takes the middle for medians', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantile([10, 20], 0.75)).toBe(17.5);
    expect(summarize([5, 1, 9])).toEqual({ n: 3, median: 5, min: 1, max: 9, q1: 3, q3: 7 });
    expect(() => median([])).toThrow(RangeError);
  });

  it('orients the ratio so that > 1 means garden-ts is better', () => {
    expect(pairRatio(200, 100, 'higher')).toBe(2);
    expect(pairRatio(10, 40, 'lower')).toBe(4);
    expect(pairRatio(1, 0, 'higher')).toBeNull();
    expect([0, 1, 2, 3].map(pairOrder)).toEqual([
      ['A', 'B'],
      ['B', 'A'],
      ['A', 'B'],
      ['B', 'A'],
    ]);
  });
});

describe('validateCase', () => {
  it('names the offending field', () => {
    const base = { name: 'x', unit: 'ops/s', better: 'higher', measure: async () => 1 };
    expect(validateCase('x.mjs', base)).toBe(base);
    expect(() => validateCase('x.mjs', { ...base, better: 'faster' })).toThrow(/'better'/);
    expect(() => validateCase('x.mjs', { ...base, pairs: 0 })).toThrow(/'pairs'/);
    expect(() => validateCase('x.mjs', { ...base, warmup: 1.5 })).toThrow(/'warmup'/);
    expect(() => validateCase('x.mjs', { ...base, peer: { name: 'go' } })).toThrow(/'peer.measure'/);
    expect(() => validateCase('x.mjs', { ...base, requires: 'root' })).toThrow(InvalidCaseError);
  });
});

describe('runCases', () => {
  it('computes pair-by-pair ratios, medians and spreads', async () => {
    const report = await runCases(options());
    const byName = new Map(report.results.map((r) => [r.name, r]));

    const t = byName.get('synthetic-throughput')!;
    expect(t.status).toBe('ok');
    expect(t.a?.samples).toEqual([100, 300, 200]);
    expect(t.b?.samples).toEqual([50, 100, 100]);
    expect(t.a?.summary).toMatchObject({ median: 200, min: 100, max: 300 });
    expect(t.a?.details).toEqual({ p50: 2 }); // numeric details only, median across pairs
    expect(t.ratio?.values).toEqual([2, 3, 2]);
    expect(t.ratio).toMatchObject({ median: 2, min: 2, max: 3 });

    const l = byName.get('synthetic-latency')!;
    expect(l.ratio?.values).toEqual([4, 1.5]);
    expect(l.ratio?.median).toBe(2.75);

    // warm-up A, warm-up B, then A,B / B,A / A,B
    expect(g.__benchTrace?.filter((e) => /^(setup|A|B)/.test(e))).toEqual([
      'setup:false',
      'A',
      'B',
      'A',
      'B',
      'B',
      'A',
      'A',
      'B',
    ]);

    const solo = byName.get('synthetic-solo')!;
    expect(solo).toMatchObject({ status: 'ok', peer: null, b: null, ratio: null, pairs: 4 });
    expect(g.__benchTorn).toBe(true);

    expect(byName.get('synthetic-broken')).toMatchObject({ status: 'error', reason: 'no such daemon' });
    expect(byName.get('synthetic-needs')).toMatchObject({
      status: 'skipped',
      reason: 'needs the impossible',
    });
    expect(report.failed).toBe(true);

    const json = JSON.parse(await readFile(path.join(dir, 'results', 'latest.json'), 'utf8'));
    expect(json.results.map((r: { name: string }) => r.name)).toEqual([
      'synthetic-throughput',
      'synthetic-latency',
      'synthetic-broken',
      'synthetic-needs',
      'synthetic-solo',
    ]);
    expect(json.machine.node).toBe(process.version);
  });

  it("takes the case's warm-up samples on both sides before the pairs, one under --quick", async () => {
    await writeFile(
      path.join(dir, 'cases', 'f-warm.mjs'),
      `${SCRIPTED}
export default {
  name: 'synthetic-warm', unit: 'ms', better: 'lower', pairs: 2, warmup: 3,
  // three warm-up samples (99) per side are thrown away; then A = 10, 20; B = 20, 20
  measure: scripted('W-A', [99, 99, 99, 10, 20]),
  peer: { name: 'p', measure: scripted('W-B', [99, 99, 99, 20, 20]) },
};`,
    );
    const report = await runCases(options({ filter: 'warm' }));
    expect(report.results[0]?.a?.samples).toEqual([10, 20]);
    expect(report.results[0]?.b?.samples).toEqual([20, 20]);
    expect(g.__benchTrace).toEqual(['W-A', 'W-B', 'W-A', 'W-B', 'W-A', 'W-B', 'W-A', 'W-B', 'W-B', 'W-A']);

    g.__benchTrace?.splice(0); // the case module holds this array
    const quick = await runCases(options({ filter: 'warm', quick: true }));
    expect(g.__benchTrace?.slice(0, 2)).toEqual(['W-A', 'W-B']);
    expect(g.__benchTrace).toHaveLength(2 + 2 * 2);
    expect(quick.results[0]?.a?.samples).toHaveLength(2);
  });

  it('writes the markdown table between the markers, with intro and machine', async () => {
    await runCases(options());
    const doc = await readFile(path.join(dir, 'benchmarks.md'), 'utf8');
    expect(doc).toMatch(/^# Benchmarks/);
    expect(doc).toContain('> 1 always means garden-ts is better');
    const block = doc.slice(doc.indexOf(BEGIN_MARKER), doc.indexOf(END_MARKER));
    expect(block).toContain(
      '| `synthetic-throughput` | ops/s, higher is better | 200 (100–300) | scripted-peer | 100 (50–100) | 2.00× (2.00×–3.00×) | A: p50 2 | ok, 3 pairs |',
    );
    expect(block).toContain(
      '| `synthetic-latency` | ms, lower is better | 15 (10–20) | slow-peer | 35 (30–40) | 2.75× (1.50×–4.00×) |',
    );
    expect(block).toContain(
      '| `synthetic-solo` | MB/s, higher is better | 7 | no peer | — | — | — | ok, 4 pairs |',
    );
    expect(block).toContain('| error: no such daemon |');
    expect(block).toContain('| skipped: needs the impossible |');
    expect(block).toContain('- `synthetic-throughput`: scripted \\| higher');
    expect(block).toMatch(/Latest run: \d+ × .+ GiB RAM, .+ kernel .+, Node v\d+/);
  });

  it('under --quick runs two pairs, tells setup, and keeps the rows and text of other cases', async () => {
    const docsPath = path.join(dir, 'benchmarks.md');
    await runCases(options());
    await writeFile(docsPath, `${await readFile(docsPath, 'utf8')}\nHand-written footer.\n`);

    const report = await runCases(options({ quick: true, filter: 'throughput' }));
    expect(report.results.map((r) => r.name)).toEqual(['synthetic-throughput']);
    expect(report.results[0]).toMatchObject({ pairs: 2, quick: true });
    expect(report.results[0]?.a?.samples).toHaveLength(2);
    expect(g.__benchTrace).toContain('setup:true');
    expect(report.failed).toBe(false);

    const doc = await readFile(docsPath, 'utf8');
    expect(doc).toContain('Hand-written footer.');
    expect(doc.match(/<!-- bench:begin -->/g)).toHaveLength(1);
    expect(doc).toMatch(/\| `synthetic-throughput` \|.*\| ok, 2 pairs \(quick\) \|/);
    // rows of the filtered-out cases survive from the previous run
    expect(doc).toContain('| `synthetic-solo` | MB/s, higher is better | 7 |');
    expect(doc).toContain('| error: no such daemon |');

    // a second filtered run keeps the first one's row and its description
    await runCases(options({ filter: 'solo' }));
    const again = await readFile(docsPath, 'utf8');
    expect(again).toMatch(/\| `synthetic-throughput` \|.*\| ok, 2 pairs \(quick\) \|/);
    expect(again).toContain('- `synthetic-throughput`: scripted \\| higher');
    expect(again).toContain('keep their earlier row');
    expect(again).toContain('Hand-written footer.');
  });

  it('tears both sides down when a sample throws, and names the failing peer', async () => {
    await writeFile(
      path.join(dir, 'cases', 'y-flaky.mjs'),
      `export default {
        name: 'flaky', unit: 'ops/s', better: 'higher',
        async setup() { return 'ctx-a'; },
        async measure() { return 1; },
        async teardown(ctx) { (globalThis.__benchTrace ??= []).push('down:' + ctx); },
        peer: {
          name: 'go-garden',
          async setup() { return 'ctx-b'; },
          async measure() { throw new Error('peer crashed'); },
          async teardown(ctx) { (globalThis.__benchTrace ??= []).push('down:' + ctx); },
        },
      };`,
    );
    const report = await runCases(options({ filter: 'flaky' }));
    expect(report.results[0]).toMatchObject({ status: 'error', reason: 'peer crashed', a: null });
    expect(report.failed).toBe(true);
    expect(g.__benchTrace).toEqual(['down:ctx-b', 'down:ctx-a']);
  });

  it('reports a case file that cannot load as an error without stopping the others', async () => {
    await writeFile(path.join(dir, 'cases', 'z-bad.mjs'), 'export default { name: "bad", unit: "ms" };');
    const report = await runCases(options({ filter: 'solo' }));
    expect(report.failed).toBe(false);
    const all = await runCases(options());
    const bad = all.results.find((r) => r.name === 'bad' || r.name === 'z-bad');
    expect(bad).toMatchObject({ status: 'error' });
    expect(bad?.reason).toMatch(/'better'/);
  });
});
