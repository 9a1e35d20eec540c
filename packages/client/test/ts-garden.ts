/**
 * Starts @garden-ts/server over @garden-ts/backend-fake on a temp unix socket, for end-to-end
 * tests of the client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFakeBackend, type FakeBackend, type FakeBackendOptions } from '@garden-ts/backend-fake';
import { type BuildServerOptions, buildServer, type GardenServer } from '@garden-ts/server';

export interface TsGarden {
  socketPath: string;
  backend: FakeBackend;
  server: GardenServer;
  /** Stops the server (and backend) and removes the temp dir. Idempotent. */
  close(): Promise<void>;
}

export async function startTsGarden(
  options: { backend?: FakeBackendOptions; server?: Omit<BuildServerOptions, 'backend'> } = {},
): Promise<TsGarden> {
  const dir = mkdtempSync(join(tmpdir(), 'garden-client-e2e-'));
  const socketPath = join(dir, 'garden.sock');
  const backend = createFakeBackend(options.backend);
  const server = buildServer({ backend, ...options.server });
  await server.listen({ socketPath });
  let closed: Promise<void> | undefined;
  return {
    socketPath,
    backend,
    server,
    close() {
      closed ??= server.close().finally(() => rmSync(dir, { recursive: true, force: true }));
      return closed;
    },
  };
}
