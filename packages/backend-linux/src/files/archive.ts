/**
 * StreamIn / StreamOut. The archive is checked in the server (tar-stream) and re-packed; the
 * extraction and the archiving run *inside* the container as the requested user (its `tar`), so
 * every path resolves in the container's mount namespace and nothing outside the container root
 * can be reached, whatever symlinks the container holds. Files written belong to the user.
 *
 * Formats read (tar-stream): ustar, GNU and old GNU (long names and link names), PAX (path,
 * linkpath, size, and every other record passed on). Entry types written: regular and contiguous
 * files, directories, symlinks, hard links to an earlier file of the same archive, FIFOs, and
 * character/block devices in privileged containers.
 *
 * Refused, with an error naming the entry and the reason, before the entry reaches tar — the
 * re-packed archive ends cleanly just before it, so the entries before it are written and
 * nothing after it: `..`
 * components; hard links with an absolute target or one that is not an earlier entry of the
 * archive; entries passing through a symlink of the same archive; device nodes in unprivileged
 * containers; sparse files (GNU `S` entries, PAX `GNU.sparse.*` formats 0.0, 0.1 and 1.0: tar-stream
 * would hand on the stored map or chunks as the file's content) and any other type tar-stream does
 * not know (GNU multi-volume, dump directories, volume labels). A corrupt header or an archive
 * ending inside an entry is an error naming where it happened (the re-packed stream errors: tar
 * is stopped). A leading `/` of a name is stripped (GNU tar's behaviour).
 */
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { GardenError } from '@garden-ts/api-types';
import tar from 'tar-stream';

/** Why an archive entry was refused; the message names the entry. */
export class UnsafeArchiveError extends GardenError {}

function refuse(entry: string, reason: string): UnsafeArchiveError {
  return new UnsafeArchiveError(`error streaming in: archive entry ${JSON.stringify(entry)}: ${reason}`);
}

/** Normalises an entry name relative to the destination; throws for escapes. */
export function safeEntryName(name: string): string {
  const stripped = name.replace(/^\/+/, '');
  const parts = stripped.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw refuse(name, 'escapes the destination (..)');
  return parts.join('/');
}

/** Entry types the extraction writes (tar-stream's names); anything else is refused. */
const WRITABLE = new Set(['file', 'contiguous-file', 'directory', 'symlink', 'link', 'fifo']);
const DEVICES = new Set(['character-device', 'block-device']);

/** Why an entry cannot be written as it stands, or undefined when it can. */
function unsupported(type: string | null, pax: Record<string, string>): string | undefined {
  const sparse = Object.keys(pax).filter((k) => k.startsWith('GNU.sparse.'));
  if (sparse.length > 0) {
    const version =
      pax['GNU.sparse.major'] !== undefined
        ? `${pax['GNU.sparse.major']}.${pax['GNU.sparse.minor'] ?? '0'}`
        : pax['GNU.sparse.map'] !== undefined
          ? '0.1'
          : '0.0';
    return `sparse files are not supported (PAX GNU.sparse format ${version}); archive it without --sparse`;
  }
  if (type === null || type === undefined)
    return 'entry type not supported (a GNU sparse file, multi-volume part, dump directory or volume label?); only files, directories, links, FIFOs and devices are extracted';
  return undefined;
}

/** A checked, re-packed archive: the stream for tar, and why it ended early, if it did. */
export interface CheckedArchive {
  /**
   * The re-packed archive. It ends cleanly just before a refused entry, and errors when the input
   * is corrupt, truncated or fails (what was passed on may end inside an entry).
   */
  stream: Readable;
  /** The refused entry's or the broken input's error, once there is one. */
  problem(): GardenError | undefined;
}

/** Validates `input` entry by entry and re-packs it (see the file comment for what is refused). */
export function checkedArchive(input: Readable, options: { allowDevices: boolean }): CheckedArchive {
  const extract = tar.extract();
  const pack = tar.pack();
  const out = new PassThrough();
  const symlinks = new Set<string>();
  /** Files (and hard links to them) written so far: valid hard link targets. */
  const files = new Set<string>();
  /** The last entry seen, to say where a corrupt or truncated archive went wrong. */
  let last: string | undefined;
  let inEntry = false;
  let problem: GardenError | undefined;
  const stopReading = (): void => {
    extract.destroy();
    input.destroy();
  };
  /** A refused entry: everything before it is packed already; end the archive there. */
  const refused = (e: GardenError): void => {
    if (problem) return;
    problem = e;
    stopReading();
    pack.finalize();
  };
  /** Broken input: the archive passed on may end inside an entry; tar must not treat it as whole. */
  const fail = (e: GardenError): void => {
    if (problem) return;
    problem = e;
    stopReading();
    out.destroy(e);
  };
  const broken = (what: string): GardenError =>
    new GardenError(
      last === undefined
        ? `error streaming in: not a tar archive (${what})`
        : inEntry
          ? `error streaming in: the archive ends inside entry ${JSON.stringify(last)} (${what})`
          : `error streaming in: corrupt archive after entry ${JSON.stringify(last)} (${what})`,
    );
  extract.on('entry', (header, stream, next) => {
    // tar-stream reports a type it does not know as null, and PAX records as a plain object.
    const type = header.type as string | null;
    const pax = (header.pax ?? {}) as Record<string, string>;
    last = pax['GNU.sparse.name'] ?? header.name;
    inEntry = true;
    try {
      const reason = unsupported(type, pax);
      if (reason) throw refuse(last, reason);
      if (DEVICES.has(type as string) && !options.allowDevices)
        throw refuse(header.name, 'device nodes are not allowed in unprivileged containers');
      if (!WRITABLE.has(type as string) && !DEVICES.has(type as string))
        throw refuse(header.name, `entry type ${type} not supported`);
      const name = safeEntryName(header.name);
      const parts = name.split('/');
      for (let i = 1; i < parts.length; i++) {
        if (symlinks.has(parts.slice(0, i).join('/')))
          throw refuse(header.name, 'passes through a symlink of the same archive');
      }
      if (type === 'link') {
        const target = header.linkname ?? '';
        if (target.startsWith('/')) throw refuse(header.name, `hard link to an absolute path (${target})`);
        const normalised = safeEntryName(target);
        if (!files.has(normalised))
          throw refuse(
            header.name,
            `hard link to ${JSON.stringify(target)}, which is not an earlier file of the archive`,
          );
        header.linkname = normalised;
      }
      if (type === 'symlink') symlinks.add(name);
      else symlinks.delete(name);
      if (type === 'file' || type === 'contiguous-file' || type === 'link') files.add(name);
      else files.delete(name);
      const done = (): void => {
        inEntry = false;
        next();
      };
      if (name === '') {
        stream.resume();
        stream.on('end', done);
        return;
      }
      header.name = type === 'directory' ? `${name}/` : name;
      const entry = pack.entry(header, (err) => (err ? fail(broken(err.message)) : done()));
      // A truncated archive errors the entry stream; fail() reports it once.
      stream.on('error', (e) => fail(broken(e.message)));
      entry.on('error', () => undefined);
      stream.pipe(entry);
    } catch (e) {
      stream.resume();
      if (e instanceof GardenError) refused(e);
      else fail(broken((e as Error).message));
    }
  });
  extract.on('finish', () => {
    if (!problem) pack.finalize();
  });
  extract.on('error', (e) => fail(broken(e.message)));
  input.on('error', (e) =>
    fail(new GardenError(`error streaming in: the upload failed: ${e.message}`, { cause: e })),
  );
  pack.on('error', (e) => fail(broken(e.message)));
  pack.pipe(out);
  input.pipe(extract);
  return { stream: out, problem: () => problem };
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
