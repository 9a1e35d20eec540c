/**
 * Part a from vitest: runs the Go conformance suite (`go test`, the canonical Go client) against
 * the garden-ts server started in this process from its TypeScript sources over backend-fake, so
 * no build is needed. The Go side is told the socket through GARDEN_SOCKET.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFakeBackend } from '@garden-ts/backend-fake';
import { buildServer, type GardenServer } from '@garden-ts/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GO_CONFORMANCE_DIR, goExecutable } from './go-server.js';

/** One `go test -json` event. */
interface TestEvent {
  Action: string;
  Test?: string;
  Package?: string;
  Output?: string;
}

/** Runs `go test -json` and returns the events and the exit code. */
function goTest(
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; events: TestEvent[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(goExecutable(), ['test', '-count=1', '-json', './...'], {
      cwd: GO_CONFORMANCE_DIR,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const events = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as TestEvent);
      resolve({ code, events, stderr });
    });
  });
}

/** The output of every failed test, for the assertion message. */
function failures(events: TestEvent[]): string {
  const failed = new Set(events.filter((e) => e.Action === 'fail' && e.Test).map((e) => e.Test));
  return events
    .filter((e) => e.Action === 'output' && e.Test && failed.has(e.Test))
    .map((e) => e.Output)
    .join('');
}

describe('canonical Go client → garden-ts server (in process, backend-fake)', () => {
  let dir: string;
  let server: GardenServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'go-client-vs-ts-'));
    server = buildServer({ backend: createFakeBackend() });
    await server.listen({ socketPath: join(dir, 'garden.sock') });
  });

  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes the Go conformance suite (go test ./...)', async () => {
    const { code, events, stderr } = await goTest({
      GARDEN_SOCKET: join(dir, 'garden.sock'),
      GARDEN_TARGET: 'ts',
    });
    const passed = events.filter((e) => e.Action === 'pass' && e.Test).length;
    expect(code, `go test failed:\n${failures(events) || stderr}`).toBe(0);
    // Guards against a vacuous run (no tests compiled or selected).
    expect(passed).toBeGreaterThan(60);
  }, 240_000);
});
