/**
 * StreamIn / StreamOut. The archive is checked in the server (tar-stream) and re-packed; the
 * extraction and the archiving run *inside* the container as the requested user (its `tar`), so
 * every path resolves in the container's mount namespace and nothing outside the container root
 * can be reached, whatever symlinks the container holds. Files written belong to the user.
 *
 * Rejected before anything is written: `..` components, hard links whose target leaves the
 * destination, entries that pass through a symlink created earlier in the same archive, and
 * device nodes for unprivileged containers. Leading `/` is stripped (GNU tar's behaviour).
 */
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { GardenError } from '@garden-ts/api-types';
import tar from 'tar-stream';

/** Why an archive entry was refused; the message names the entry. */
export class UnsafeArchiveError extends GardenError {}

/** Normalises an entry name relative to the destination; throws for escapes. */
export function safeEntryName(name: string): string {
  const stripped = name.replace(/^\/+/, '');
  const parts = stripped.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new UnsafeArchiveError(
      `error streaming in: archive entry escapes the destination: ${JSON.stringify(name)}`,
    );
  return parts.join('/');
}

/**
 * Validates `input` entry by entry and re-packs it into the returned stream (which errors when the
 * input is corrupt, truncated or unsafe).
 */
export function checkedArchive(input: Readable, options: { allowDevices: boolean }): Readable {
  const extract = tar.extract();
  const pack = tar.pack();
  const out = new PassThrough();
  const symlinks = new Set<string>();
  let failed = false;
  const fail = (e: Error): void => {
    if (failed) return;
    failed = true;
    out.destroy(e);
    extract.destroy();
    input.destroy();
  };
  extract.on('entry', (header, stream, next) => {
    try {
      const name = safeEntryName(header.name);
      const parts = name.split('/');
      for (let i = 1; i <= parts.length - (header.type === 'symlink' ? 1 : 0); i++) {
        const prefix = parts.slice(0, i).join('/');
        if (symlinks.has(prefix) && i < parts.length) {
          throw new UnsafeArchiveError(
            `error streaming in: archive entry passes through a symlink of the same archive: ${JSON.stringify(header.name)}`,
          );
        }
      }
      if (header.type === 'link') {
        const target = safeEntryName(header.linkname ?? '');
        if (target === '')
          throw new UnsafeArchiveError(
            `error streaming in: hard link with an empty target: ${JSON.stringify(header.name)}`,
          );
        header.linkname = target;
      }
      if ((header.type === 'character-device' || header.type === 'block-device') && !options.allowDevices) {
        throw new UnsafeArchiveError(
          `error streaming in: device nodes are not allowed in unprivileged containers: ${JSON.stringify(header.name)}`,
        );
      }
      if (header.type === 'symlink') symlinks.add(name);
      else symlinks.delete(name);
      if (name === '') {
        stream.resume();
        stream.on('end', next);
        return;
      }
      header.name = header.type === 'directory' ? `${name}/` : name;
      const entry = pack.entry(header, (err) => (err ? fail(err) : next()));
      // A truncated archive errors the entry stream; fail() reports it once.
      stream.on('error', (e) => fail(new GardenError(`error streaming in: ${e.message}`)));
      entry.on('error', () => undefined);
      stream.pipe(entry);
    } catch (e) {
      stream.resume();
      fail(e as Error);
    }
  });
  extract.on('finish', () => {
    if (!failed) pack.finalize();
  });
  extract.on('error', (e) => fail(new GardenError(`error streaming in: ${e.message}`)));
  input.on('error', (e) => fail(new GardenError(`error streaming in: ${e.message}`)));
  pack.on('error', (e) => fail(e));
  pack.pipe(out);
  input.pipe(extract);
  return out;
}

/** Joins a Garden file path onto the user's home when relative. */
export function containerPath(path: string, home: string): string {
  const full = posix.normalize(path.startsWith('/') ? path : posix.join(home, path));
  return full.length > 1 && full.endsWith('/') ? full.slice(0, -1) : full;
}

/** The tar command line and cwd for StreamOut (Guardian's layout, reference §4). */
export function streamOutCommand(path: string, home: string): { cwd: string; args: string[] } {
  const trailing = path.endsWith('/') || path === '.' || path === '';
  const full = containerPath(path, home);
  if (trailing || full === '/') return { cwd: full, args: ['tar', '-cf', '-', '.'] };
  return { cwd: posix.dirname(full), args: ['tar', '-cf', '-', posix.basename(full)] };
}
