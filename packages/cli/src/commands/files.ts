/** stream-in / stream-out (tar on stdin/stdout, gaol's) and cp (host ↔ container paths, docker's). */
import { lstat, stat } from 'node:fs/promises';
import { basename, dirname, posix, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Container } from '@garden-ts/client';
import type { CommandContext, OutputStream } from '../context.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { extractToHost, firstHeader, hostSize, packHostPath } from '../host-archive.js';
import { startProgress } from '../progress.js';

/** Copies a stream to stdout with backpressure, without ending stdout. */
async function toStdout(input: Readable, stdout: OutputStream): Promise<void> {
  for await (const chunk of input) {
    if (!stdout.write(chunk)) await new Promise((r) => stdout.once('drain', r));
  }
}

function refuseTerminalOutput(ctx: CommandContext, hint: string): void {
  if (ctx.io.stdout.isTTY) {
    throw new CliError(`refusing to write a tar archive to a terminal: ${hint}`);
  }
}

function refuseTerminalInput(ctx: CommandContext, hint: string): void {
  if (ctx.io.stdin.isTTY) throw new CliError(`expected a tar archive on stdin, not a terminal: ${hint}`);
}

/** gaol's `stream-in HANDLE -d DIR`: the tar archive on stdin is extracted into DIR. */
export async function streamIn(ctx: CommandContext): Promise<number> {
  const handle = ctx.positional(0, 'HANDLE');
  const destination = ctx.string('destination');
  if (!destination) throw new UsageError('gaol stream-in: missing --destination (-d DIR)');
  refuseTerminalInput(ctx, `tar c FILES | gaol stream-in ${handle} -d ${destination}`);
  const container = await ctx.container(handle);
  const user = ctx.string('user');
  await container.streamIn({ path: destination, tarStream: ctx.io.stdin, ...(user ? { user } : {}) });
  return ExitCode.Ok;
}

/** gaol's `stream-out HANDLE -s PATH`: a tar archive of PATH on stdout. */
export async function streamOut(ctx: CommandContext): Promise<number> {
  const handle = ctx.positional(0, 'HANDLE');
  const source = ctx.string('source');
  if (!source) throw new UsageError('gaol stream-out: missing --source (-s PATH)');
  refuseTerminalOutput(ctx, `redirect it (gaol stream-out ${handle} -s ${source} | tar x)`);
  const container = await ctx.container(handle);
  const user = ctx.string('user');
  await toStdout(await container.streamOut({ path: source, ...(user ? { user } : {}) }), ctx.io.stdout);
  return ExitCode.Ok;
}

/** One side of `cp`: a container path, a host path, or `-` (a tar archive on stdin/stdout). */
export type CopyEnd =
  | { kind: 'container'; handle: string; path: string }
  | { kind: 'host'; path: string }
  | { kind: 'stdio' };

/**
 * `HANDLE:PATH` is a container path; `-` is stdin/stdout; anything else (and anything starting
 * with `/` or `.`, so a host path may contain a colon) is a host path.
 */
export function parseCopyEnd(arg: string): CopyEnd {
  if (arg === '-') return { kind: 'stdio' };
  const colon = arg.indexOf(':');
  if (colon <= 0 || arg.startsWith('/') || arg.startsWith('.')) return { kind: 'host', path: arg };
  const path = arg.slice(colon + 1);
  if (path === '')
    throw new UsageError(`gaol cp: "${arg}": missing the path after "${arg.slice(0, colon)}:"`);
  return { kind: 'container', handle: arg.slice(0, colon), path };
}

/** Whether `path` names a directory in the container (a missing path is not one). */
async function isContainerDirectory(container: Container, path: string): Promise<boolean> {
  let archive: Readable;
  try {
    archive = await container.streamOut({ path });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'GARDEN_CONTAINER_NOT_FOUND') throw err;
    return false;
  }
  try {
    return (await firstHeader(archive))?.type === 'directory';
  } catch {
    return false;
  }
}

const endsWithSlash = (p: string) => p.endsWith('/') || p.endsWith('/.') || p === '.';

/** `gaol cp SRC DST`: one side is `HANDLE:PATH`. Progress and a summary go to stderr on a terminal. */
export async function cp(ctx: CommandContext): Promise<number> {
  const [srcArg = '', dstArg = ''] = ctx.args.positionals;
  const src = parseCopyEnd(srcArg);
  const dst = parseCopyEnd(dstArg);
  if (src.kind === 'container' && dst.kind === 'container') {
    throw new UsageError(
      'gaol cp: copying between containers is not supported: gaol stream-out A -s PATH | gaol stream-in B -d DIR',
    );
  }
  if (src.kind === 'container' && dst.kind !== 'container') return copyOut(ctx, src, dst);
  if (dst.kind === 'container' && src.kind !== 'container') return copyIn(ctx, src, dst);
  throw new UsageError('gaol cp: one of SRC and DST must be a container path (HANDLE:PATH)');
}

/** stderr for the progress line, unless -q. */
function progressStream(ctx: CommandContext): {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
} {
  return ctx.flag('quiet') ? { isTTY: false, write: () => true } : ctx.io.stderr;
}

function summary(ctx: CommandContext, bytes: number, where: string): void {
  if (ctx.io.stderr.isTTY && !ctx.flag('quiet')) {
    ctx.io.stderr.write(`Successfully copied ${formatBytes(bytes)} to ${where}\n`);
  }
}

async function copyIn(
  ctx: CommandContext,
  src: Extract<CopyEnd, { kind: 'host' | 'stdio' }>,
  dst: Extract<CopyEnd, { kind: 'container' }>,
): Promise<number> {
  const container = await ctx.container(dst.handle);
  const where = `${dst.handle}:${dst.path}`;
  if (src.kind === 'stdio') {
    refuseTerminalInput(ctx, `tar c FILES | gaol cp - ${where}`);
    await container.streamIn({ path: dst.path, tarStream: ctx.io.stdin });
    return ExitCode.Ok;
  }
  const hostPath = resolve(ctx.io.cwd, src.path);
  const follow = ctx.flag('follow-link');
  const st = await (follow ? stat(hostPath) : lstat(hostPath)).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(
      `cannot copy ${src.path}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`,
    );
  });
  const contentsOnly = st.isDirectory() && (src.path.endsWith('/.') || src.path === '.');
  // Into the directory DST when it is one (or says so with a trailing /); else as the new name DST.
  let destDir: string;
  let name: string;
  if (contentsOnly) {
    destDir = dst.path;
    name = '';
  } else if (endsWithSlash(dst.path) || (await isContainerDirectory(container, dst.path))) {
    destDir = dst.path;
    name = basename(hostPath);
  } else {
    destDir = posix.dirname(dst.path);
    name = posix.basename(dst.path);
  }
  const progress = startProgress(progressStream(ctx), {
    label: `Copying to ${where}`,
    total: await hostSize(hostPath, follow),
  });
  try {
    const tarStream = await packHostPath(hostPath, {
      name,
      followTop: follow,
      onData: (n) => progress.add(n),
      onSkip: (p, why) => ctx.warn(`skipped ${p}: ${why}`),
    });
    await container.streamIn({ path: destDir, tarStream });
  } finally {
    progress.done();
  }
  summary(ctx, progress.bytes, where);
  return ExitCode.Ok;
}

async function copyOut(
  ctx: CommandContext,
  src: Extract<CopyEnd, { kind: 'container' }>,
  dst: Extract<CopyEnd, { kind: 'host' | 'stdio' }>,
): Promise<number> {
  const container = await ctx.container(src.handle);
  if (dst.kind === 'stdio') {
    refuseTerminalOutput(ctx, `redirect it (gaol cp ${src.handle}:${src.path} - | tar x)`);
    await toStdout(await container.streamOut({ path: src.path }), ctx.io.stdout);
    return ExitCode.Ok;
  }
  const hostPath = resolve(ctx.io.cwd, dst.path);
  const existing = await stat(hostPath).catch(() => undefined);
  const contentsOnly = endsWithSlash(src.path) || posix.normalize(src.path) === '/';
  let root: string;
  let rename: { from: string; to: string } | undefined;
  if (existing?.isDirectory()) {
    root = hostPath;
  } else if (contentsOnly || endsWithSlash(dst.path)) {
    if (existing) throw new CliError(`cannot copy a directory's contents to ${dst.path}: not a directory`);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(hostPath, { recursive: true });
    root = hostPath;
  } else {
    root = dirname(hostPath);
    const parent = await stat(root).catch(() => undefined);
    if (!parent?.isDirectory())
      throw new CliError(`cannot copy to ${dst.path}: no such directory ${dirname(dst.path)}`);
    rename = { from: posix.basename(posix.normalize(src.path)), to: basename(hostPath) };
  }
  const progress = startProgress(progressStream(ctx), { label: `Copying from ${src.handle}:${src.path}` });
  try {
    const archive = await container.streamOut({ path: src.path });
    await extractToHost(archive, root, {
      ...(rename ? { rename } : {}),
      onData: (n) => progress.add(n),
      onSkip: (p, why) => ctx.warn(`skipped ${p}: ${why}`),
    });
  } finally {
    progress.done();
  }
  summary(ctx, progress.bytes, dst.path);
  return ExitCode.Ok;
}
