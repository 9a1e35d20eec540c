import { createFakeBackend } from '@garden-ts/backend-fake';
import { runBackendContract } from '../src/index.js';

runBackendContract({
  name: 'backend-fake',
  setup: async () => {
    const backend = createFakeBackend();
    await backend.start();
    return { client: backend, teardown: () => backend.stop() };
  },
  capabilities: {
    limits: true,
    networking: true,
    tty: true,
    privileged: true,
    diskLimits: true,
    metrics: true,
    events: true,
  },
});
