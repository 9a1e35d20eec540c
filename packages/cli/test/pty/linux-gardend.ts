/**
 * `gardend --backend linux` for the CLI's terminal tests: the built executable on a temp socket,
 * temp depot and its own cgroup parent; stopped by its pid, with whatever a failed test left
 * swept up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRunDir } from '@garden-ts/backend-linux';
import { createClient } from '@garden-ts/client';
import { detectCgroupLayout } from '@garden-ts/native-ns';
import { testNetwork } from '../../../backend-linux/test/netns.js';

const repo = join(import.meta.dirname, '..', '..', '..', '..');
export const GARDEND_JS = join(repo, 'packages', 'gardend', 'dist', 'bin', 'gardend.js');

export interface LinuxGardend {
  socketPath: string;
  dir: string;
  stop(): Promise<void>;
}

async function waitForPing(socketPath: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const client = createClient({ socketPath });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await client.ping();
      return;
    } catch (err) {
      if (child.exitCode !== null) throw new Error(`gardend exited (${child.exitCode}): ${stderr()}`);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function start(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<void> } {
  const child = spawn(process.execPath, [GARDEND_JS, '--backend', 'linux', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, stderr: () => err, exited };
}

/** Starts gardend --backend linux; `name` makes its cgroup parent unique. */
export async function startLinuxGardend(name: string): Promise<LinuxGardend> {
  const dir = mkdtempSync(join(tmpdir(), `gaol-${name}-`));
  // Containers' (unmapped) root must pass through to the depot's files.
  chmodSync(dir, 0o711);
  const depot = join(dir, 'depot');
  const socketPath = join(dir, 'garden.sock');
  const cgroupParent = `garden-cli-${name}-${process.pid}`;
  // Network safety: the containers' bridges and nft tables go into a test-made namespace.
  const net = testNetwork(`cli${name}`.slice(0, 12));
  const common = ['--depot', depot, '--cgroup-parent', cgroupParent, '--network-namespace', net.hostPath];
  const server = start([...common, '--bind-socket', socketPath]);
  await waitForPing(socketPath, server.child, server.stderr);
  let stopped: Promise<void> | undefined;
  return {
    socketPath,
    dir,
    stop() {
      stopped ??= (async () => {
        if (server.child.exitCode === null && server.child.pid) {
          process.kill(server.child.pid, 'SIGTERM');
          await server.exited;
        }
        // Containers a failed test left: a sweeper gardend destroys what the depot holds.
        if (existsSync(join(depot, 'containers')) && readdirSync(join(depot, 'containers')).length > 0) {
          const sweepSock = join(dir, 'sweep.sock');
          const sweep = start([...common, '--destroy-containers-on-startup', '--bind-socket', sweepSock]);
          await waitForPing(sweepSock, sweep.child, sweep.stderr).catch(() => undefined);
          if (sweep.child.pid && sweep.child.exitCode === null) process.kill(sweep.child.pid, 'SIGTERM');
          await sweep.exited;
        }
        const layout = detectCgroupLayout();
        for (const mnt of new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) {
          const d = join(mnt, cgroupParent);
          if (existsSync(d)) rmdirSync(d);
        }
        rmSync(defaultRunDir(depot), { recursive: true, force: true });
        rmSync(dir, { recursive: true, force: true });
        net.cleanup();
      })();
      return stopped;
    },
  };
}
