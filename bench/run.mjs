#!/usr/bin/env node
/**
 * Benchmark harness behind `pnpm bench`: runs every bench/cases/*.mjs, A (garden-ts) against
 * B (its peer) in alternating pairs, writes bench/results/latest.json and regenerates the
 * table in docs/benchmarks.md. See bench/README.md for the case format.
 *
 *   node bench/run.mjs [--filter substr] [--pairs N] [--quick]
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { caseName, loadCases } from './lib/case-file.mjs';
import { describeMachine } from './lib/machine.mjs';
import { existingRows, formatNumber, renderBlock, spliceBlock } from './lib/markdown.mjs';
import { runCase } from './lib/run-case.mjs';

/**
 * @typedef {import('./lib/run-case.mjs').CaseResult} CaseResult
 * @typedef {import('./lib/machine.mjs').MachineDescription} MachineDescription
 *
 * @typedef {object} RunOptions
 * @property {string} [casesDir]    directory of *.mjs cases (default bench/cases)
 * @property {string} [filter]      run only cases whose name or file name contains this
 * @property {number} [pairs]       override every case's `pairs`
 * @property {boolean} [quick]      short run: 2 pairs unless `pairs` is given; cases see `{ quick: true }` in setup
 * @property {string | null} [resultsPath] JSON output (default bench/results/latest.json); null = none
 * @property {string | null} [docsPath]    markdown output (default docs/benchmarks.md); null = none
 * @property {(line: string) => void} [log] progress lines (default: stderr)
 * @property {Readonly<Record<string, () => string | null>>} [checks] requirement checks (tests inject)
 *
 * @typedef {object} RunReport
 * @property {CaseResult[]} results
 * @property {MachineDescription} machine
 * @property {boolean} failed true when any case errored
 */

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);

/** Pairs per case under --quick: two, so both orders (A,B and B,A) are exercised. */
export const QUICK_PAIRS = 2;

/**
 * Runs the cases of `casesDir` one after the other (never concurrently: they would skew each
 * other's timings) and writes the results.
 * @param {RunOptions} [options]
 * @returns {Promise<RunReport>}
 */
export async function runCases(options = {}) {
  const casesDir = options.casesDir ?? path.join(benchDir, 'cases');
  const resultsPath =
    options.resultsPath === undefined ? path.join(benchDir, 'results', 'latest.json') : options.resultsPath;
  const docsPath =
    options.docsPath === undefined ? path.join(repoRoot, 'docs', 'benchmarks.md') : options.docsPath;
  const log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  const quick = options.quick ?? false;
  const pairs = options.pairs ?? (quick ? QUICK_PAIRS : undefined);
  if (pairs !== undefined && !(Number.isInteger(pairs) && pairs >= 1)) {
    throw new RangeError(`pairs must be a positive integer, got ${pairs}`);
  }

  const loaded = await loadCases(casesDir);
  const filter = options.filter;
  const selected =
    filter === undefined
      ? loaded
      : loaded.filter((c) => caseName(c).includes(filter) || path.basename(c.file).includes(filter));
  if (selected.length === 0)
    log(`no case matches${filter === undefined ? '' : ` '${filter}'`} in ${casesDir}`);

  /** @type {CaseResult[]} */
  const results = [];
  for (const c of selected) {
    if ('error' in c) {
      log(`${caseName(c)}: error: ${c.error.message}`);
      results.push(loadErrorResult(caseName(c), c.error, quick));
      continue;
    }
    log(`${c.definition.name}: running…`);
    const result = await runCase(c.definition, { pairs, quick, checks: options.checks });
    log(`${result.name}: ${summaryLine(result)}`);
    results.push(result);
  }

  const machine = describeMachine();
  if (resultsPath !== null) {
    await mkdir(path.dirname(resultsPath), { recursive: true });
    const json = { machine, options: { filter: filter ?? null, pairs: pairs ?? null, quick }, results };
    await writeFile(resultsPath, `${JSON.stringify(json, null, 2)}\n`);
  }
  if (docsPath !== null) {
    const doc = await readFile(docsPath, 'utf8').catch((err) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    // Keep the rows of cases that still exist but were filtered out of this run.
    const ran = new Set(results.map((r) => r.name));
    const known = new Set(loaded.map(caseName));
    const kept = [...existingRows(doc ?? '')].filter(([name]) => known.has(name) && !ran.has(name));
    /** @type {Map<string, string>} */
    const descriptions = new Map();
    for (const c of loaded) {
      if ('definition' in c) descriptions.set(c.definition.name, c.definition.description ?? '');
    }
    const block = renderBlock(
      results,
      machine,
      kept.map(([, row]) => row),
      descriptions,
    );
    await mkdir(path.dirname(docsPath), { recursive: true });
    await writeFile(docsPath, spliceBlock(doc, block));
  }
  return { results, machine, failed: results.some((r) => r.status === 'error') };
}

/**
 * @param {string} name
 * @param {Error} error
 * @param {boolean} quick
 * @returns {CaseResult}
 */
function loadErrorResult(name, error, quick) {
  return {
    name,
    description: '',
    unit: '?',
    better: 'higher',
    status: 'error',
    reason: `cannot load case: ${error.message}`,
    pairs: 0,
    quick,
    peer: null,
    peerSkipped: null,
    a: null,
    b: null,
    ratio: null,
    measuredAt: new Date().toISOString(),
  };
}

/**
 * @param {CaseResult} r
 * @returns {string}
 */
function summaryLine(r) {
  if (r.status !== 'ok' || r.a === null) return `${r.status}: ${r.reason}`;
  let line = `${formatNumber(r.a.summary.median)} ${r.unit}`;
  if (r.b !== null) line += ` vs ${r.peer} ${formatNumber(r.b.summary.median)} ${r.unit}`;
  if (r.ratio !== null) line += `, ratio ${r.ratio.median.toFixed(2)}× (> 1 = garden-ts better)`;
  if (r.peerSkipped !== null) line += ` (peer skipped: ${r.peerSkipped})`;
  return line;
}

/**
 * CLI entry point.
 * @param {string[]} argv
 * @returns {Promise<number>} exit code
 */
export async function main(argv) {
  const usage = 'usage: node bench/run.mjs [--filter substr] [--pairs N] [--quick]\n';
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        filter: { type: 'string' },
        pairs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  let pairs;
  if (values.pairs !== undefined) {
    pairs = Number(values.pairs);
    if (!(Number.isInteger(pairs) && pairs >= 1)) {
      process.stderr.write(`--pairs must be a positive integer, got '${values.pairs}'\n`);
      return 2;
    }
  }
  const report = await runCases({
    filter: values.filter,
    pairs,
    quick: values.quick,
    // A quick run is a smoke test; its figures must not replace the documented ones.
    docsPath: values.quick ? null : undefined,
  });
  for (const r of report.results) process.stdout.write(`${r.name}: ${summaryLine(r)}\n`);
  if (report.failed) process.stderr.write('some cases failed (see above)\n');
  return report.failed ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // A case that leaves a socket or child behind would keep node alive forever; say so and leave.
      setTimeout(() => {
        process.stderr.write('bench: a case left handles open (sockets, timers, children); exiting anyway\n');
        process.exit(code === 0 ? 1 : code);
      }, 5000).unref();
    },
    (err) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
