import { createFakeBackend, FAKE_BACKEND_CAPABILITIES } from '@garden-ts/backend-fake';
import { runBackendContract } from '../src/index.js';

runBackendContract({
  name: 'backend-fake',
  setup: async () => {
    const backend = createFakeBackend();
    await backend.start();
    return { client: backend, teardown: () => backend.stop() };
  },
  capabilities: FAKE_BACKEND_CAPABILITIES,
});
