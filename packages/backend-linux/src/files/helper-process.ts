/**
 * Helper processes inside a container for file operations: `tar` for StreamIn/StreamOut and the
 * `sh` that creates missing directories. They run in the container's namespaces as the requested
 * user, so every path resolves inside the container; the executable is the host's static helper
 * (host-helper.ts) when there is one, else the image's own.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { GardenError } from '@garden-ts/api-types';
import { type ResolvedUser, ROOT_PATH } from '@garden-ts/backend-kit';
import {
  type Container as NativeContainer,
  type ProcessSpec as NativeProcessSpec,
  type ShimProcess,
  spawn,
} from '@garden-ts/native-ns';
import type { LinuxContainer } from '../container.js';
import { runAs } from '../runtime/security.js';
import { resolveInRoot } from './safe-path.js';

/** A started helper: its shim connection and its process dir (removed by the caller when done). */
export interface Helper {
  proc: ShimProcess;
  dir: string;
}

/** The executable of a file-operation tool: the host's static helper when there is one. */
export function tool(
  c: LinuxContainer,
  name: 'tar' | 'sh',
): Pick<NativeProcessSpec, 'path' | 'hostExecutable'> {
  const helper = c.host.hostHelper;
  return helper ? { path: `/bin/${name}`, hostExecutable: helper } : { path: `/bin/${name}` };
}

/**
 * Starts a helper in the container (or in a pea of it: `into`), feeding it `stdin` with the
 * shim's backpressure (or EOF).
 */
export async function startHelper(
  c: LinuxContainer,
  spec: NativeProcessSpec,
  stdin?: Readable,
  into?: NativeContainer,
): Promise<Helper> {
  const dir = join(c.runDir, 'ops', randomUUID());
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let proc: ShimProcess;
  try {
    proc = await spawn(into ?? c.requireInit(), spec, { dir });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  if (stdin) {
    // Respect the shim's backpressure: a large archive must not pile up in the socket buffer.
    stdin.on('data', (chunk: Buffer) => {
      let written: Promise<void>;
      try {
        written = proc.write(chunk);
      } catch {
        return; // exited
      }
      stdin.pause();
      written.then(
        () => stdin.resume(),
        () => stdin.resume(),
      );
    });
    stdin.on('end', () => {
      try {
        proc.end();
      } catch {
        // exited
      }
    });
  } else {
    proc.end();
  }
  return { proc, dir };
}

/** Runs a helper to completion, collecting its output. */
export async function runHelper(
  c: LinuxContainer,
  spec: NativeProcessSpec,
  into?: NativeContainer,
): Promise<{ status: number; stderr: string; stdout: string }> {
  const h = await startHelper(c, spec, undefined, into);
  try {
    const [stdout, stderr, exit] = await Promise.all([
      text(h.proc.stdout),
      text(h.proc.stderr),
      h.proc.wait(),
    ]);
    return { status: exit.exitStatus, stderr, stdout };
  } finally {
    rmSync(h.dir, { recursive: true, force: true });
  }
}

/**
 * Creates `dir` if missing (reference §3.4: `mkdir -p` as container root, inside the container —
 * or inside a pea of it, `into`; only the newly created components are given to the user).
 * @throws GardenError `creating directory <dir> failed: <stderr>`.
 */
export async function ensureDir(
  c: LinuxContainer,
  dir: string,
  user: ResolvedUser,
  into?: { rootfs: string; init: NativeContainer },
): Promise<void> {
  const root = into?.rootfs ?? c.rootfs;
  if (resolveInRoot(root, dir) !== undefined) return;
  const missing: string[] = [];
  for (
    let d = dir;
    d !== '/' && resolveInRoot(root, d) === undefined;
    d = d.slice(0, d.lastIndexOf('/')) || '/'
  )
    missing.push(d);
  const r = await runHelper(
    c,
    {
      ...tool(c, 'sh'),
      args: [
        'sh',
        '-c',
        'd=$1; o=$2; shift 2; mkdir -p -- "$d" && chown -h "$o" -- "$@"',
        'sh',
        dir,
        `${user.uid}:${user.gid}`,
        ...missing,
      ],
      env: [`PATH=${ROOT_PATH}`],
      cwd: '/',
      ...runAs(c.resolveUser('root:0'), c.record.privileged),
    },
    into?.init,
  );
  if (r.status !== 0) throw new GardenError(`creating directory ${dir} failed: ${r.stderr.trim()}`);
}
