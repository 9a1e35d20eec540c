/**
 * Opt-in: runs the client behaviour suite against any running Garden server (for example the
 * canonical Go server with its in-memory backend):
 *
 *   GARDEN_CLIENT_TEST_SOCKET=/tmp/garden.sock pnpm exec vitest run --project client external-server
 */
import { describe, it } from 'vitest';
import { describeClientBehaviour } from './shared.js';

const socketPath = process.env.GARDEN_CLIENT_TEST_SOCKET;

if (socketPath)
  describeClientBehaviour(`external server at ${socketPath}`, () => socketPath, { timeScale: 3 });
else
  describe.skip('client behaviour against an external server', () => {
    it('needs GARDEN_CLIENT_TEST_SOCKET', () => {});
  });
