/**
 * StreamIn / StreamOut (reference §4): `tar` runs *inside* the container as the requested user,
 * so every path resolves in the container's mount namespace and nothing outside its root can be
 * reached, whatever symlinks it holds; written files belong to the user. The archive is checked
 * and re-packed first (archive.ts).
 */
import { rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { PassThrough, type Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { GardenError, type StreamInSpec, type StreamOutSpec } from '@garden-ts/api-types';
import { defaultPath, type ResolvedUser } from '@garden-ts/backend-kit';
import { ExecutableNotFoundError as NativeExecutableNotFoundError } from '@garden-ts/native-ns';
import type { LinuxContainer } from '../container.js';
import { runAs } from '../runtime/security.js';
import { checkedArchive, containerPath, streamOutCommand } from './archive.js';
import { ensureDir, type Helper, startHelper, tool } from './helper-process.js';
import { resolveInRoot } from './safe-path.js';

/** StreamOut must never drop bytes: its ring holds the whole archive if the reader is slow. */
const STREAM_OUT_RING = 2 ** 32;

/** `error streaming in: …` / `error streaming out: …` keeping what went wrong as `cause`. */
function streamError(direction: 'in' | 'out', detail: string, cause?: unknown): GardenError {
  return new GardenError(
    `error streaming ${direction}: ${detail}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Why the helper could not start: a missing tar names where it was looked for. */
function startError(c: LinuxContainer, direction: 'in' | 'out', e: unknown): GardenError {
  if (e instanceof NativeExecutableNotFoundError)
    return streamError(
      direction,
      c.host.hostHelper
        ? `${c.host.hostHelper} is missing on the host`
        : 'the container image has no /bin/tar',
      e,
    );
  return streamError(direction, (e as Error).message, e);
}

/** The tar helper's environment and identity for `user`. */
function tarSpec(c: LinuxContainer, user: ResolvedUser) {
  return {
    ...tool(c, 'tar'),
    env: [`PATH=${defaultPath(user.uid)}`, `HOME=${user.home}`],
    ...runAs(user, c.record.privileged),
  };
}

/** Extracts `spec.tarStream` at `spec.path` (relative to the user's home) as `spec.user` (default root). */
export async function streamIn(c: LinuxContainer, spec: StreamInSpec): Promise<void> {
  let user: ResolvedUser;
  try {
    user = c.resolveUser(spec.user || 'root');
  } catch (e) {
    spec.tarStream.resume();
    throw streamError('in', (e as Error).message, e);
  }
  const dest = containerPath(spec.path, user.home);
  const archive = checkedArchive(spec.tarStream, { allowDevices: c.record.privileged });
  // A broken upload errors the stream; a refused entry ends it cleanly (both set problem()).
  archive.stream.on('error', () => undefined);
  try {
    await ensureDir(c, dest, user);
  } catch (e) {
    archive.stream.destroy();
    throw streamError('in', (e as Error).message, e);
  }
  let h: Helper;
  try {
    h = await startHelper(
      c,
      { ...tarSpec(c, user), args: ['tar', '-x', '-o', '-f', '-'], cwd: dest },
      archive.stream,
    );
  } catch (e) {
    archive.stream.destroy();
    throw startError(c, 'in', e);
  }
  // A broken archive kills tar at once: what it was sent may end inside an entry.
  const kill = (): void => {
    try {
      void h.proc.signal('SIGKILL');
    } catch {
      // exited
    }
  };
  if (archive.stream.errored) kill();
  archive.stream.on('error', kill);
  const oomKillsBefore = c.record.oomKills;
  let r: { status: number; stderr: string };
  try {
    const [stderr, exit] = await Promise.all([text(h.proc.stderr), h.proc.wait(), text(h.proc.stdout)]);
    r = { status: exit.exitStatus, stderr };
  } finally {
    rmSync(h.dir, { recursive: true, force: true });
  }
  // A refused entry or a broken archive is the answer (it names the entry), whatever tar said.
  const problem = archive.problem();
  if (problem) throw problem;
  if (r.status === 0) return;
  if (r.stderr.trim()) throw streamError('in', r.stderr.trim());
  throw streamError('in', tarDeath(c, r.status, oomKillsBefore));
}

/** Why tar ended without saying anything: its exit status, or the signal and what sent it. */
function tarDeath(c: LinuxContainer, status: number, oomKillsBefore: number): string {
  if (status <= 128) return `tar exited with ${status}`;
  const signal = status - 128;
  const name = Object.entries(osConstants.signals).find(([, n]) => n === signal)?.[0] ?? `signal ${signal}`;
  c.refreshEvents();
  if (c.record.oomKills > oomKillsBefore)
    return `tar was killed by ${name}: the container ran out of memory (its memory limit is too small for this archive)`;
  return `tar was killed by ${name} (not by garden: something in or outside the container signalled it)`;
}

/** A tar stream of `spec.path` as `spec.user`; the stream errors (never ends short) when tar fails. */
export async function streamOut(c: LinuxContainer, spec: StreamOutSpec): Promise<Readable> {
  let user: ResolvedUser;
  try {
    user = c.resolveUser(spec.user || 'root');
  } catch (e) {
    throw streamError('out', (e as Error).message, e);
  }
  const full = containerPath(spec.path, user.home);
  if (resolveInRoot(c.rootfs, full) === undefined)
    throw streamError('out', `${spec.path}: no such file or directory`);
  const cmd = streamOutCommand(spec.path, user.home);
  let h: Helper;
  try {
    h = await startHelper(c, {
      ...tarSpec(c, user),
      args: cmd.args,
      cwd: cmd.cwd,
      ringCapacity: STREAM_OUT_RING,
    });
  } catch (e) {
    throw startError(c, 'out', e);
  }
  const out = new PassThrough();
  h.proc.stdout.pipe(out, { end: false });
  const stderr = text(h.proc.stderr);
  void Promise.all([h.proc.wait(), stderr, new Promise((r) => h.proc.stdout.once('end', r))])
    .then(([exit, err]) => {
      if (exit.exitStatus !== 0 || h.proc.lostBytes[0] > 0n) {
        out.destroy(streamError('out', err.trim() || `tar exited with ${exit.exitStatus}`));
      } else {
        out.end();
      }
    })
    .catch((e: Error) => out.destroy(streamError('out', e.message, e)))
    .finally(() => rmSync(h.dir, { recursive: true, force: true }));
  return out;
}
