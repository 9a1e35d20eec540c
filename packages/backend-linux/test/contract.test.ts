/** The backend-contract suite against backend-linux, in-process, on a temp depot. */
import { runBackendContract } from '@garden-ts/backend-contract';
import { afterAll } from 'vitest';
import { type TestEnv, testEnv } from './helpers.js';

const envs: TestEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.cleanup();
});

runBackendContract({
  name: 'backend-linux',
  capabilities: {
    limits: true,
    networking: true,
    tty: true,
    privileged: true,
    diskLimits: true,
    metrics: true,
  },
  timeScale: 4,
  async setup() {
    const env = testEnv('contract');
    envs.push(env);
    const backend = env.backend({ stopTimeoutSeconds: 10 });
    await backend.start();
    return { client: backend, teardown: () => backend.stop() };
  },
});
