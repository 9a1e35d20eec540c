// Sums vitest's JSON report, the static checks and the `go test -json` streams into the closing
// line "tests: N passed, M failed[, K skipped] (…)", after one line per run. A suite that runs
// against several targets (the Go conformance suite against gardend over backend-fake, over
// backend-linux and against the canonical Go server; the contract suite in-process and over the
// wire) counts each test once per target, and the line says so. Exits non-zero when nothing ran
// or anything failed.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
/** @type {Array<{ name: string, passed: number, failed: number, skipped: number }>} */
const runs = [];

const vitestFile = path.join(dir, 'vitest.json');
if (fs.existsSync(vitestFile)) {
  const v = JSON.parse(fs.readFileSync(vitestFile, 'utf8'));
  let failed = v.numFailedTests;
  // A test file that failed to load has no test results but must count as a failure.
  for (const f of v.testResults ?? []) if (f.status === 'failed' && f.assertionResults.length === 0) failed++;
  runs.push({
    name: 'vitest',
    passed: v.numPassedTests,
    failed,
    skipped: v.numPendingTests + v.numTodoTests,
  });
} else {
  runs.push({ name: 'vitest (no report: it crashed)', passed: 0, failed: 1, skipped: 0 });
}

const checksFile = path.join(dir, 'checks.json');
if (fs.existsSync(checksFile)) {
  const c = JSON.parse(fs.readFileSync(checksFile, 'utf8'));
  runs.push({ name: 'static checks', passed: c.passed, failed: c.failed, skipped: 0 });
}

// go-<module>.json: the module against its default target; go-<module>-<target>.json: GARDEN_TARGET=<target>.
for (const name of fs
  .readdirSync(dir)
  .filter((n) => n.startsWith('go-') && n.endsWith('.json'))
  .sort()) {
  const run = { name: `go test ${name.slice(3, -5)}`, passed: 0, failed: 0, skipped: 0 };
  const packagesWithTests = new Set();
  for (const line of fs.readFileSync(path.join(dir, name), 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const ev = JSON.parse(line);
    if (ev.Test) {
      packagesWithTests.add(ev.Package);
      if (ev.Action === 'pass') run.passed++;
      else if (ev.Action === 'fail') run.failed++;
      else if (ev.Action === 'skip') run.skipped++;
    } else if (ev.Action === 'fail' && !packagesWithTests.has(ev.Package)) {
      run.failed++; // the package failed without running a test: a build or setup failure
    }
  }
  runs.push(run);
}

const sum = (key) => runs.reduce((n, r) => n + r[key], 0);
const passed = sum('passed');
const failed = sum('failed');
const skipped = sum('skipped');
const counts = (r) => `${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}`;
console.log(`by run: ${runs.map((r) => `${r.name}: ${counts(r)}`).join('; ')}`);
console.log(
  `tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''} (suites run against several targets are counted once per target)`,
);
process.exit(failed > 0 || passed + failed === 0 ? 1 : 0);
