/**
 * The backend contract suite, run through the wire: client → server → backend-fake.
 */
import { runBackendContract } from '@garden-ts/backend-contract';
import { beforeEach } from 'vitest';
import { createClient } from '../src/index.js';
import { startTsGarden } from './ts-garden.js';

/**
 * Contract tests that no backend can pass behind a Go-compatible Garden server, with the reason.
 * They are reported as skipped (not dropped) until the contract gates them with a capability;
 * test-e2e/go-conformance/contract-vs-go.test.ts skips the same ones behind the Go server.
 */
const NOT_APPLICABLE_THROUGH_THE_WIRE: ReadonlyMap<string, string> = new Map([
  [
    'attach after exit gets the exit status and the undelivered stdout',
    'the server always hands Run a stdout writer (its stream queue, protocol §7.3/§7.6), so the backend never sees undelivered output to replay to a later Attach',
  ],
  [
    'attach after exit gets the undelivered stderr',
    'the server always hands Run a stderr writer (its stream queue, protocol §7.3/§7.6), so the backend never sees undelivered output to replay to a later Attach',
  ],
]);

beforeEach((ctx) => {
  if (NOT_APPLICABLE_THROUGH_THE_WIRE.has(ctx.task.name)) ctx.skip();
});

runBackendContract({
  name: 'client→server→backend-fake',
  setup: async () => {
    const garden = await startTsGarden();
    return { client: createClient({ socketPath: garden.socketPath }), teardown: () => garden.close() };
  },
  capabilities: {
    limits: true,
    networking: true,
    tty: true,
    privileged: true,
    diskLimits: true,
    metrics: true,
  },
});
