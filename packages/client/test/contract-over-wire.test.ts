/**
 * The backend contract suite, run through the wire: client → server → backend-fake. Every test
 * applies, including attach-after-exit with undelivered output: the server hands the backend no
 * output writables of its own, only each Stdout/Stderr connection's socket.
 */
import { runBackendContract } from '@garden-ts/backend-contract';
import { FAKE_BACKEND_CAPABILITIES } from '@garden-ts/backend-fake';
import { createClient } from '../src/index.js';
import { startTsGarden } from './ts-garden.js';

runBackendContract({
  name: 'client→server→backend-fake',
  setup: async () => {
    const garden = await startTsGarden();
    return { client: createClient({ socketPath: garden.socketPath }), teardown: () => garden.close() };
  },
  // Through a garden-ts server, which adds the container lifecycle events.
  capabilities: { ...FAKE_BACKEND_CAPABILITIES, containerEvents: true },
});
