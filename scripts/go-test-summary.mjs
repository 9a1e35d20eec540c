// Prints go test -json output of failing tests (and a one-line count) for the CI log.
import fs from 'node:fs';

const out = new Map();
let pass = 0;
let fail = 0;
for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\n')) {
  if (!line.startsWith('{')) continue;
  const ev = JSON.parse(line);
  const key = `${ev.Package} ${ev.Test ?? ''}`;
  if (ev.Action === 'output') out.set(key, (out.get(key) ?? '') + ev.Output);
  if (ev.Action === 'pass' && ev.Test) pass++;
  if (ev.Action === 'fail') {
    if (ev.Test) fail++;
    process.stdout.write(`--- FAIL ${key}\n${out.get(key) ?? ''}\n`);
  }
}
console.log(`go: ${pass} passed, ${fail} failed`);
