/**
 * The example backend of docs/writing-a-backend.md, checked the two ways the guide describes:
 * the contract suite's container features in process, and the same suite through gardend
 * serving it as a module (`--backend module --backend-module …`), client → server → module.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '@garden-ts/api-types';
import { runBackendContract } from '@garden-ts/backend-contract';
import { createClient } from '@garden-ts/client';
import { afterAll } from 'vitest';
import { createBackend } from './backend.mjs';

/** What the example supports: containers, properties, limits, metrics' shape, capacity, errors of lookups. */
const FEATURES = ['properties', 'limits', 'metrics', 'capacity'];
const NO_CAPS = {
  limits: true,
  networking: false,
  tty: false,
  privileged: false,
  diskLimits: true,
  metrics: false,
  cpuLimitsReadBack: 'shares' as const,
};

runBackendContract({
  name: 'examples/backend-memory (in process)',
  features: FEATURES,
  capabilities: NO_CAPS,
  async setup() {
    const backend: Backend = createBackend({});
    await backend.start();
    return { client: backend, teardown: () => backend.stop() };
  },
});

const gardend = join(import.meta.dirname, '..', '..', 'packages', 'gardend', 'dist', 'bin', 'gardend.js');
const dir = mkdtempSync(join(tmpdir(), 'backend-memory-'));
const children = new Set<ChildProcess>();
let n = 0;
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

runBackendContract({
  name: 'examples/backend-memory served by gardend --backend module',
  features: [...FEATURES, 'events'],
  capabilities: { ...NO_CAPS, containerEvents: true },
  async setup() {
    if (!existsSync(gardend)) throw new Error(`${gardend} is missing: run pnpm build`);
    const socketPath = join(dir, `g${n++}.sock`);
    const child = spawn(
      process.execPath,
      [
        gardend,
        '--backend',
        'module',
        '--backend-module',
        join(import.meta.dirname, 'backend.mjs'),
        '--bind-socket',
        socketPath,
        '--log-level',
        'fatal',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.add(child);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const client = createClient({ socketPath });
    for (
      let tries = 0;
      !(await client.ping().then(
        () => true,
        () => false,
      ));
      tries++
    ) {
      if (tries > 200) throw new Error('gardend did not start serving within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      client,
      async teardown() {
        child.kill('SIGTERM');
        const code = await exited;
        if (code !== 0) throw new Error(`gardend exited with ${code} after SIGTERM`);
        children.delete(child);
      },
    };
  },
});
