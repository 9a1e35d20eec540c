/** Starts a server over backend-fake on a temporary unix socket. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, Duration } from '@garden-ts/api-types';
import { createFakeBackend, type FakeBackend, type FakeBackendOptions } from '@garden-ts/backend-fake';
import { type BuildServerOptions, buildServer, type GardenServer } from '../../src/index.js';
import { type Injections, injecting, newInjections } from './injecting-backend.js';

export interface Fixture {
  server: GardenServer;
  fake: FakeBackend;
  backend: Backend;
  inject: Injections;
  socketPath: string;
  close(): Promise<void>;
}

export async function startServer(
  opts: { fake?: FakeBackendOptions; defaultGraceTime?: Duration } & Partial<BuildServerOptions> = {},
): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'garden-server-'));
  const socketPath = join(dir, 'garden.sock');
  const fake = createFakeBackend(opts.fake);
  const inject = newInjections();
  const backend = injecting(fake, inject);
  const server = buildServer({ ...opts, backend });
  await server.listen({ socketPath });
  return {
    server,
    fake,
    backend,
    inject,
    socketPath,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
