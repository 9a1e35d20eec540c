// Sums vitest's JSON report and `go test -json` streams into the closing line
// "tests: N passed, M failed[, K skipped]". Exits non-zero when nothing ran or anything failed.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;

const vitestFile = path.join(dir, 'vitest.json');
if (fs.existsSync(vitestFile)) {
  const v = JSON.parse(fs.readFileSync(vitestFile, 'utf8'));
  passed += v.numPassedTests;
  failed += v.numFailedTests;
  skipped += v.numPendingTests + v.numTodoTests;
  // A test file that failed to load has no test results but must count as a failure.
  for (const f of v.testResults ?? []) if (f.status === 'failed' && f.assertionResults.length === 0) failed++;
} else {
  failed++; // vitest did not produce a report: it crashed.
}

const checksFile = path.join(dir, 'checks.json');
if (fs.existsSync(checksFile)) {
  const c = JSON.parse(fs.readFileSync(checksFile, 'utf8'));
  passed += c.passed;
  failed += c.failed;
}

for (const name of fs.readdirSync(dir).filter((n) => n.startsWith('go-') && n.endsWith('.json'))) {
  const packagesWithTests = new Set();
  for (const line of fs.readFileSync(path.join(dir, name), 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const ev = JSON.parse(line);
    if (ev.Test) {
      packagesWithTests.add(ev.Package);
      if (ev.Action === 'pass') passed++;
      else if (ev.Action === 'fail') failed++;
      else if (ev.Action === 'skip') skipped++;
    } else if (ev.Action === 'fail' && !packagesWithTests.has(ev.Package)) {
      failed++; // the package failed without running a test: a build or setup failure
    }
  }
}

const total = passed + failed;
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || total === 0 ? 1 : 0);
