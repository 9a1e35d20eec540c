// Rewrites the gardend options tables of the root README and this package's README from the
// option schema (the built dist: run by `pnpm --filter @garden-ts/gardend run options-tables`, which builds first).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withOptionsTable } from '../dist/index.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const readme of [join(pkg, 'README.md'), join(pkg, '..', '..', 'README.md')]) {
  const before = readFileSync(readme, 'utf8');
  const after = withOptionsTable(before);
  if (after !== before) writeFileSync(readme, after);
  console.log(`${readme}: ${after === before ? 'up to date' : 'updated'}`);
}
