#!/usr/bin/env node
// The `gaol` command. Its implementation is built into dist/ (`pnpm build`); this file exists
// before the build so that package managers can link the command at install time.
import '../dist/gaol.js';
