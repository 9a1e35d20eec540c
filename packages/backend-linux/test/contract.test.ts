/** The backend-contract suite against backend-linux, in-process, on a temp depot. */
import { runBackendContract } from '@garden-ts/backend-contract';
import { afterAll, inject } from 'vitest';
import { linuxBackendCapabilities } from '../src/index.js';
import { type TestEnv, testEnv } from './helpers.js';

const envs: TestEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.cleanup();
});

runBackendContract({
  name: 'backend-linux',
  // testEnv's backends have networking (in a test-made host netns).
  capabilities: linuxBackendCapabilities(),
  // Peas from the default busybox rootfs (a directory image).
  peaImage: inject('rootfs'),
  timeScale: 4,
  async setup() {
    const env = testEnv('contract');
    envs.push(env);
    const backend = env.backend({ stopTimeoutSeconds: 10 });
    await backend.start();
    return { client: backend, teardown: () => backend.stop() };
  },
});
