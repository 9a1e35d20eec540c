// Writes docs/openapi.json from the built api-types (run through `pnpm --filter @garden-ts/api-types run openapi`).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiJson } from '../dist/index.js';

const target = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));
writeFileSync(target, openApiJson());
console.log(`wrote ${target}`);
