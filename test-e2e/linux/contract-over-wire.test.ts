/**
 * The backend-contract suite through the wire: client → server (unix socket) → backend-linux.
 * (Lives here, not in backend-linux, so that backend-linux needs no dependency on the server,
 * which loads it: that would be a cycle.) Fixtures are backend-linux's own test helpers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackendContract } from '@garden-ts/backend-contract';
import { createClient } from '@garden-ts/client';
import { buildServer } from '@garden-ts/server';
import { afterAll, inject } from 'vitest';
import { linuxBackendCapabilities } from '../../packages/backend-linux/src/index.js';
import { type TestEnv, testEnv } from '../../packages/backend-linux/test/helpers.js';

const envs: TestEnv[] = [];
const sockets = mkdtempSync(join(tmpdir(), 'backend-linux-sock-'));
let n = 0;
afterAll(async () => {
  for (const e of envs) await e.cleanup();
  rmSync(sockets, { recursive: true, force: true });
});

runBackendContract({
  name: 'client→server→backend-linux',
  // Through a garden-ts server, which adds the container lifecycle events; testEnv's backends
  // have networking (in a test-made host netns).
  capabilities: { ...linuxBackendCapabilities(), containerEvents: true },
  // Peas from the default busybox rootfs (a directory image).
  peaImage: inject('rootfs'),
  timeScale: 4,
  async setup() {
    const env = testEnv('wire');
    envs.push(env);
    const server = buildServer({ backend: env.backend() });
    const socketPath = join(sockets, `garden-${n++}.sock`);
    await server.listen({ socketPath });
    return { client: createClient({ socketPath }), teardown: () => server.close() };
  },
});
