/** run, exec, attach and shell: processes in containers, attached to this terminal or not. */
import { type Container, type Process, type ProcessIO, type ProcessSpec, Signal } from '@garden-ts/client';
import type { CommandContext } from '../context.js';
import { CliError, ExitCode, exitCodeOfStatus, isCannotRun, UsageError } from '../errors.js';
import { holdTerminal, windowSize } from '../terminal.js';
import { splitCommandLine } from '../values.js';

interface AttachOptions {
  /** Forward our stdin to the process. */
  stdin: boolean;
  /** The process has a terminal: raw mode, window size, resizes. */
  tty: boolean;
}

/** Starts a process; a failure to start is told apart as not found (127) or cannot run (126). */
async function start(container: Container, spec: ProcessSpec, io: ProcessIO): Promise<Process> {
  try {
    return await container.run(spec, io);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 'GARDEN_EXECUTABLE_NOT_FOUND' && isCannotRun(err)) {
      throw new CliError((err as Error).message, ExitCode.CannotRun, { cause: err });
    }
    throw err;
  }
}

/**
 * Runs (or attaches to) a process with this terminal's streams and resolves with its exit code.
 * SIGINT/SIGTERM/SIGHUP reaching gaol terminate the process (a second one kills it), like
 * docker's signal proxy; in raw mode Ctrl-C is a key for the process instead.
 */
async function attached(
  ctx: CommandContext,
  open: (io: ProcessIO, tty: ProcessSpec['tty']) => Promise<Process>,
  options: AttachOptions,
): Promise<number> {
  const { io } = ctx;
  let proc: Process | undefined;
  let pendingSize = options.tty ? windowSize(io) : undefined;
  const session = options.tty
    ? holdTerminal(io, options.stdin, (size) => {
        pendingSize = size;
        proc?.setTTY({ windowSize: size }).catch(() => undefined);
      })
    : undefined;
  let signals = 0;
  const forward = () => {
    signals++;
    proc?.signal(signals === 1 ? Signal.Terminate : Signal.Kill).catch(() => undefined);
  };
  const names = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const name of names) io.signals.on(name, forward);
  try {
    const streams: ProcessIO = {
      stdout: io.stdout,
      stderr: io.stderr,
      ...(options.stdin ? { stdin: io.stdin } : {}),
    };
    proc = await open(streams, options.tty ? (pendingSize ? { windowSize: pendingSize } : {}) : undefined);
    // A signal that arrived while starting; a resize that raced the start.
    if (signals > 0) forward();
    const status = await proc.wait();
    return exitCodeOfStatus(status);
  } finally {
    for (const name of names) io.signals.off(name, forward);
    session?.restore();
    if (options.stdin) io.stdin.pause();
  }
}

function envList(ctx: CommandContext): string[] | undefined {
  const env = ctx.list('env');
  for (const e of env) {
    if (!e.includes('=') || e.startsWith('=')) {
      throw new UsageError(`gaol ${ctx.command.name}: --env: expected NAME=VALUE, got "${e}"`);
    }
  }
  return env.length > 0 ? env : undefined;
}

/** Drops undefined fields (the wire encoder is strict about them). */
function compact<T extends object>(spec: T): T {
  return Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined)) as T;
}

function requireTerminal(ctx: CommandContext, what: string): void {
  if (!ctx.io.stdin.isTTY) {
    throw new CliError(`the input device is not a TTY: ${what}`);
  }
}

/** Starts a process without attaching to it and prints its id (it keeps running). */
async function detached(
  ctx: CommandContext,
  container: Container,
  spec: ProcessSpec,
  tty: boolean,
): Promise<number> {
  const proc = await start(container, tty ? { ...spec, tty: {} } : spec, {});
  ctx.print(proc.id);
  // Detach: the server keeps the process (and queues its output for a later attach).
  (proc as Process & { close?: () => void }).close?.();
  return ExitCode.Ok;
}

/** `gaol run HANDLE -c CMD | -- CMD ARGS... [-a] [--tty]` (gaol's): prints the id unless attached. */
export async function run(ctx: CommandContext): Promise<number> {
  const handle = ctx.positional(0, 'HANDLE');
  const line = ctx.string('command');
  const trailing = ctx.args.positionals.slice(1);
  if (line !== undefined && trailing.length > 0) {
    throw new UsageError('gaol run: give the command either with -c or after --, not both');
  }
  const words = line !== undefined ? splitCommandLine(line) : trailing;
  if (words.length === 0) {
    throw new UsageError('gaol run: missing the command: -c "COMMAND ARGS" or -- COMMAND ARGS');
  }
  const [path, ...args] = words as [string, ...string[]];
  const tty = ctx.flag('tty');
  const spec: ProcessSpec = compact({
    id: ctx.string('id'),
    path,
    args,
    dir: ctx.string('dir'),
    user: ctx.string('user'),
    env: envList(ctx),
  });
  const container = await ctx.container(handle);
  if (!ctx.flag('attach')) return detached(ctx, container, spec, tty);
  return attached(ctx, (io, ttySpec) => start(container, ttySpec ? { ...spec, tty: ttySpec } : spec, io), {
    stdin: true,
    tty,
  });
}

/** `gaol exec [-i] [-t] [-d] HANDLE CMD ARGS...` (docker's): exits with the command's code. */
export async function exec(ctx: CommandContext): Promise<number> {
  const handle = ctx.positional(0, 'HANDLE');
  const [path, ...args] = ctx.args.rest as [string, ...string[]];
  const interactive = ctx.flag('interactive');
  const tty = ctx.flag('tty');
  if (interactive && tty) requireTerminal(ctx, 'drop -t, or run gaol from a terminal');
  const spec: ProcessSpec = compact({
    path,
    args,
    dir: ctx.string('workdir'),
    user: ctx.string('user'),
    env: envList(ctx),
  });
  const container = await ctx.container(handle);
  if (ctx.flag('detach')) return detached(ctx, container, spec, tty);
  return attached(ctx, (io, ttySpec) => start(container, ttySpec ? { ...spec, tty: ttySpec } : spec, io), {
    stdin: interactive,
    tty,
  });
}

/** `gaol attach HANDLE -p PID` (or `attach HANDLE PID`): exits with the process's code. */
export async function attach(ctx: CommandContext): Promise<number> {
  const handle = ctx.positional(0, 'HANDLE');
  const fromFlag = ctx.string('pid');
  const fromArg = ctx.args.positionals[1];
  if (fromFlag !== undefined && fromArg !== undefined && fromFlag !== fromArg) {
    throw new UsageError('gaol attach: give the process id either with -p or as an argument, not both');
  }
  const pid = fromFlag ?? fromArg;
  if (!pid) throw new UsageError('gaol attach: missing the process id (-p PID)');
  const container = await ctx.container(handle);
  return attached(ctx, (io) => container.attach(pid, io), { stdin: true, tty: ctx.flag('tty') });
}

/** `gaol shell HANDLE`: an interactive login shell in a terminal; exits with the shell's code. */
export async function shell(ctx: CommandContext): Promise<number> {
  const handle = ctx.positional(0, 'HANDLE');
  requireTerminal(ctx, `gaol shell needs a terminal (for a shell without one: gaol exec -i ${handle} sh)`);
  const container = await ctx.container(handle);
  const spec: ProcessSpec = compact({
    path: '/bin/sh',
    args: ['-l'],
    user: ctx.string('user'),
    env: [`TERM=${ctx.io.env.TERM || 'xterm'}`],
  });
  return attached(ctx, (io, tty) => start(container, { ...spec, tty: tty ?? {} }, io), {
    stdin: true,
    tty: true,
  });
}
