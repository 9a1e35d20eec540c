/**
 * The host side of `gaol cp`: packs a host path into a tar stream (tar-stream) and extracts a
 * container's tar stream onto the host without ever leaving the destination.
 *
 * Extraction refuses, before writing anything for that entry: absolute names are made relative,
 * `..` components, writing through a symlink (an existing one, or one the archive created), and
 * hard links whose target leaves the destination. Device nodes and FIFOs are skipped with a
 * warning. Files get their mode (without set-id bits) and mtime; ownership is the caller's, as
 * with `docker cp`.
 */
import { createReadStream } from 'node:fs';
import {
  chmod,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  stat,
  symlink,
  unlink,
  utimes,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Header, Pack } from 'tar-stream';

type Headers = Partial<Header> & Pick<Header, 'name'>;

import { CliError } from './errors.js';

type TarStream = typeof import('tar-stream');

let tarModule: Promise<TarStream> | undefined;
/** tar-stream, loaded on first use (only `cp` needs it). */
function loadTar(): Promise<TarStream> {
  tarModule ??= import('tar-stream').then((m) => ((m as { default?: TarStream }).default ?? m) as TarStream);
  return tarModule;
}

export interface PackOptions {
  /** Name of the top entry in the archive; '' = the directory's contents at the archive root. */
  name: string;
  /** Follow `src` itself when it is a symlink (`cp -L`); links inside are always kept as links. */
  followTop: boolean;
  /** Called with the bytes of file data as they are packed. */
  onData?: (bytes: number) => void;
  /** Called for entries that cannot be archived (sockets, devices). */
  onSkip?: (path: string, why: string) => void;
}

function waitForDrain(stream: { once(event: 'drain', fn: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => stream.once('drain', resolve));
}

/** Adds `abs` (and what is below it) to `pack` as `name`. */
async function addEntry(pack: Pack, abs: string, name: string, follow: boolean, options: PackOptions) {
  const st = follow ? await stat(abs) : await lstat(abs);
  const base: Headers = { name, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 };
  if (st.isDirectory()) {
    if (name !== '') await entryDone(pack, { ...base, name: `${name}/`, type: 'directory' });
    for (const child of (await readdir(abs)).sort()) {
      await addEntry(pack, join(abs, child), name === '' ? child : `${name}/${child}`, false, options);
    }
  } else if (st.isSymbolicLink()) {
    await entryDone(pack, { ...base, type: 'symlink', linkname: await readlink(abs) });
  } else if (st.isFile()) {
    let callback!: (err?: Error | null) => void;
    const done = new Promise<void>((resolve, reject) => {
      callback = (err) => (err ? reject(err) : resolve());
    });
    const entry = pack.entry({ ...base, type: 'file', size: st.size }, callback);
    for await (const chunk of createReadStream(abs)) {
      options.onData?.((chunk as Buffer).length);
      if (!entry.write(chunk)) await waitForDrain(entry);
    }
    // streamx's end(data) writes data unless it is null/undefined.
    entry.end(null);
    await done;
  } else {
    options.onSkip?.(abs, 'not a regular file, directory or symlink');
  }
}

function entryDone(pack: Pack, header: Headers): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}

/**
 * A tar stream of the host path `src` (a file, a directory with everything below it, or a
 * symlink). Errors (a vanished file, permissions) error the stream.
 */
export async function packHostPath(src: string, options: PackOptions): Promise<Pack> {
  const tar = await loadTar();
  const pack = tar.pack();
  addEntry(pack, src, options.name, options.followTop, options).then(
    () => pack.finalize(),
    (err: Error) => pack.destroy(err),
  );
  // tar-stream's streamx stream as it is: the client's streamIn takes any readable.
  return pack;
}

/** Total size of the regular files under `src` (for a progress bar). */
export async function hostSize(src: string, follow: boolean): Promise<number> {
  const st = follow ? await stat(src) : await lstat(src);
  if (st.isFile()) return st.size;
  if (!st.isDirectory()) return 0;
  let total = 0;
  for (const child of await readdir(src)) total += await hostSize(join(src, child), false);
  return total;
}

export interface ExtractOptions {
  /** Renames the archive's top-level entry `from` to `to` (copying to a new name). */
  rename?: { from: string; to: string };
  onData?: (bytes: number) => void;
  onSkip?: (name: string, why: string) => void;
}

/** An archive entry's path as components, with `.`/empty parts dropped; refuses `..`. */
export function entryParts(name: string): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new CliError(`refusing archive entry ${JSON.stringify(name)}: it leaves the destination`);
  return parts;
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Creates the parent directories of `parts` under `root`, refusing to pass through a symlink. */
async function ensureParents(root: string, parts: readonly string[]): Promise<void> {
  let dir = root;
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    const st = await lstatOrUndefined(dir);
    if (!st) await mkdir(dir, { mode: 0o755 });
    else if (st.isSymbolicLink()) throw new CliError(`refusing to write through the symlink ${dir}`);
    else if (!st.isDirectory()) throw new CliError(`cannot copy into ${dir}: not a directory`);
  }
}

/**
 * Extracts the tar stream `input` into the existing host directory `root`.
 * @throws CliError for an unsafe entry; the input's error when the download fails.
 */
export async function extractToHost(
  input: Readable,
  root: string,
  options: ExtractOptions = {},
): Promise<void> {
  const tar = await loadTar();
  const extract = tar.extract();
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  const dirModes: [string, number, Date | undefined][] = [];
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const parts = entryParts(header.name);
      if (options.rename && parts[0] === options.rename.from) parts[0] = options.rename.to;
      if (parts.length === 0) {
        entry.resume();
        continue;
      }
      await ensureParents(root, parts);
      const target = join(root, ...parts);
      const existing = await lstatOrUndefined(target);
      const mode = (header.mode ?? 0o644) & 0o1777;
      switch (header.type) {
        case 'directory': {
          if (existing?.isSymbolicLink())
            throw new CliError(`refusing to write through the symlink ${target}`);
          if (existing && !existing.isDirectory()) {
            throw new CliError(`cannot overwrite ${target} with a directory`);
          }
          // Writable by us until its children are in; its own mode is set at the end.
          if (!existing) await mkdir(target, { mode: mode | 0o700 });
          else await chmod(target, mode | 0o700);
          dirModes.push([target, mode, header.mtime]);
          entry.resume();
          break;
        }
        case 'file':
        case 'contiguous-file': {
          if (existing?.isDirectory())
            throw new CliError(`cannot overwrite the directory ${target} with a file`);
          // Never write through a symlink: replace it.
          if (existing?.isSymbolicLink()) await unlink(target);
          const fh = await open(target, 'w', mode);
          try {
            for await (const chunk of entry) {
              await fh.write(chunk as Buffer);
              options.onData?.((chunk as Buffer).length);
            }
          } finally {
            await fh.close();
          }
          await chmod(target, mode);
          if (header.mtime) await utimes(target, header.mtime, header.mtime);
          break;
        }
        case 'symlink': {
          if (existing?.isDirectory())
            throw new CliError(`cannot overwrite the directory ${target} with a symlink`);
          if (existing) await unlink(target);
          await symlink(header.linkname ?? '', target);
          entry.resume();
          break;
        }
        case 'link': {
          const linkParts = entryParts(header.linkname ?? '');
          if (options.rename && linkParts[0] === options.rename.from) linkParts[0] = options.rename.to;
          if (linkParts.length === 0)
            throw new CliError(`refusing hard link ${JSON.stringify(header.name)}: empty target`);
          await ensureParents(root, linkParts);
          const source = join(root, ...linkParts);
          if ((await lstatOrUndefined(source))?.isSymbolicLink()) {
            throw new CliError(`refusing hard link ${JSON.stringify(header.name)} to a symlink`);
          }
          if (existing?.isDirectory())
            throw new CliError(`cannot overwrite the directory ${target} with a link`);
          if (existing) await unlink(target);
          await link(source, target);
          entry.resume();
          break;
        }
        default:
          options.onSkip?.(parts.join('/'), `a ${header.type ?? 'special file'} (not copied)`);
          entry.resume();
      }
    }
  } catch (err) {
    input.destroy();
    extract.destroy();
    throw err;
  }
  // Directory modes and times last: writing their children needed write access and changed them.
  for (const [dir, mode, time] of dirModes.reverse()) {
    await chmod(dir, mode);
    if (time) await utimes(dir, time, time);
  }
}

/** The first header of a tar stream (then the stream is destroyed), or undefined if it has none. */
export async function firstHeader(input: Readable): Promise<Header | undefined> {
  const tar = await loadTar();
  const extract = tar.extract();
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) return entry.header;
    return undefined;
  } finally {
    input.destroy();
    extract.destroy();
  }
}
