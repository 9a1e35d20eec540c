import { posix } from 'node:path';
import { type FileTree, FS_ERROR_TEXT, FsError } from './file-tree.js';
import type { ProcessStdin } from './process-stdin.js';
import { expandWord, parseScript, type Redirect, ShellSyntaxError } from './shell-parser.js';
import type { ResolvedUser } from './users.js';

/** A sink for one output stream; resolves when the consumer can take more (backpressure). */
export type OutputSink = (chunk: Buffer) => Promise<void> | undefined;

/** What a simulated command sees. */
export interface CommandContext {
  args: string[];
  /** Effective environment, `K=V`, duplicates already merged. */
  env: string[];
  dir: string;
  user: ResolvedUser;
  tree: FileTree;
  stdin: ProcessStdin;
  stdout: OutputSink;
  stderr: OutputSink;
  /** Aborted when the process is signalled or killed; long-running commands must stop. */
  signal: AbortSignal;
  /** The terminal's current size, or undefined without a TTY. */
  window: () => { columns: number; rows: number } | undefined;
}

/** A simulated executable: returns its exit status. */
export type Command = (ctx: CommandContext) => Promise<number> | number;

const text = (s: string): Buffer => Buffer.from(s, 'utf8');

/**
 * Resolves after `ms`, or never once `signal` aborts (the process is gone; its timer is cleared).
 * The timer is not unref'd: like a real child process, a sleeping process keeps Node alive.
 */
function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return;
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => clearTimeout(timer);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function readFileAs(ctx: CommandContext, file: string): Buffer {
  const path = posix.resolve(ctx.dir, file);
  const who = { uid: ctx.user.uid, gid: ctx.user.gid };
  const node = ctx.tree.lookup(path, true, who);
  if (node.kind === 'dir') throw new FsError('EISDIR', path);
  if (node.kind !== 'file') throw new FsError('ENOENT', path);
  if (!ctx.tree.can(node, 'r', who)) throw new FsError('EACCES', path);
  return node.data;
}

const echo: Command = async (ctx) => {
  let args = ctx.args;
  let newline = true;
  if (args[0] === '-n') {
    newline = false;
    args = args.slice(1);
  }
  await ctx.stdout(text(args.join(' ') + (newline ? '\n' : '')));
  return 0;
};

const cat: Command = async (ctx) => {
  const files = ctx.args.length === 0 ? ['-'] : ctx.args;
  let status = 0;
  for (const file of files) {
    if (file === '-') {
      for (let chunk = await ctx.stdin.read(); chunk !== null; chunk = await ctx.stdin.read()) {
        await ctx.stdout(chunk);
      }
      continue;
    }
    try {
      await ctx.stdout(readFileAs(ctx, file));
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      await ctx.stderr(text(`cat: ${file}: ${FS_ERROR_TEXT[err.code]}\n`));
      status = 1;
    }
  }
  return status;
};

const sleep: Command = async (ctx) => {
  const arg = ctx.args[0];
  if (arg === undefined) {
    await ctx.stderr(text('sleep: missing operand\n'));
    return 1;
  }
  const seconds = /^\d+(\.\d*)?$|^\.\d+$/.test(arg) ? Number(arg) : Number.NaN;
  if (!Number.isFinite(seconds)) {
    await ctx.stderr(text(`sleep: invalid time interval '${arg}'\n`));
    return 1;
  }
  await sleepFor(seconds * 1000, ctx.signal);
  return 0;
};

/** Only `stty size`: the rows and columns of the process's terminal. */
const stty: Command = async (ctx) => {
  if (ctx.args.length !== 1 || ctx.args[0] !== 'size') {
    await ctx.stderr(text(`stty: unsupported arguments: ${ctx.args.join(' ')}\n`));
    return 1;
  }
  const size = ctx.window();
  if (!size) {
    await ctx.stderr(text('stty: standard input: Not a tty\n'));
    return 1;
  }
  await ctx.stdout(text(`${size.rows} ${size.columns}\n`));
  return 0;
};

const pwd: Command = async (ctx) => {
  await ctx.stdout(text(`${ctx.dir}\n`));
  return 0;
};

const env: Command = async (ctx) => {
  await ctx.stdout(text(ctx.env.map((entry) => `${entry}\n`).join('')));
  return 0;
};

function envLookup(envList: string[], name: string): string {
  for (let i = envList.length - 1; i >= 0; i--) {
    const entry = envList[i]!;
    if (entry.startsWith(`${name}=`)) return entry.slice(name.length + 1);
  }
  return '';
}

/** Appends or truncates a redirection target as the process user. */
function redirectToFile(ctx: CommandContext, path: string, append: boolean): OutputSink {
  const abs = posix.resolve(ctx.dir, path);
  const who = { uid: ctx.user.uid, gid: ctx.user.gid };
  const existing = ctx.tree.tryLookup(abs);
  if (existing?.kind === 'dir') throw new FsError('EISDIR', path);
  if (existing?.kind === 'file') {
    if (!ctx.tree.can(existing, 'w', who)) throw new FsError('EACCES', path);
  } else {
    const { dir } = ctx.tree.parentOf(abs, who);
    if (!ctx.tree.can(dir, 'w', who)) throw new FsError('EACCES', path);
  }
  const file =
    existing?.kind === 'file' && append ? existing : ctx.tree.writeFile(abs, Buffer.alloc(0), 0o644, who);
  if (existing?.kind === 'file' && !append) file.data = Buffer.alloc(0);
  return (chunk) => {
    file.data = Buffer.concat([file.data, chunk]);
    return undefined;
  };
}

/** The simulated `sh`: `sh -c SCRIPT`, `sh FILE`, or a script read from stdin. */
const sh: Command = async (ctx) => {
  let script: string;
  if (ctx.args[0] === '-c') {
    if (ctx.args[1] === undefined) {
      await ctx.stderr(text('sh: -c requires an argument\n'));
      return 2;
    }
    script = ctx.args[1];
  } else if (ctx.args[0] !== undefined) {
    try {
      script = readFileAs(ctx, ctx.args[0]).toString('utf8');
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      await ctx.stderr(text(`sh: can't open '${ctx.args[0]}': ${FS_ERROR_TEXT[err.code]}\n`));
      return 2;
    }
  } else {
    script = (await ctx.stdin.readAll()).toString('utf8');
  }
  let statements: ReturnType<typeof parseScript>;
  try {
    statements = parseScript(script);
  } catch (err) {
    if (!(err instanceof ShellSyntaxError)) throw err;
    await ctx.stderr(text(`sh: ${err.message}\n`));
    return 2;
  }
  let status = 0;
  const lookup = (name: string): string => (name === '?' ? String(status) : envLookup(ctx.env, name));
  for (const { connector, command } of statements) {
    if (ctx.signal.aborted) break;
    if ((connector === '&&' && status !== 0) || (connector === '||' && status === 0)) continue;
    const words = command.words.map((word) => expandWord(word, lookup));
    const [name, ...args] = words;
    const sinks = { stdout: ctx.stdout, stderr: ctx.stderr };
    const route = (redirect: Redirect | undefined, own: OutputSink): OutputSink => {
      if (!redirect) return own;
      if (redirect.kind === 'null') return () => undefined;
      if (redirect.kind === 'fd') return redirect.fd === 1 ? ctx.stdout : ctx.stderr;
      return redirectToFile(ctx, expandWord(redirect.path, lookup), redirect.append);
    };
    let stdout: OutputSink;
    let stderr: OutputSink;
    try {
      // Simplification: both redirections resolve against the original streams, whatever their order.
      stdout = route(command.stdout, sinks.stdout);
      stderr = route(command.stderr, sinks.stderr);
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      await ctx.stderr(text(`sh: can't create ${err.path}: ${FS_ERROR_TEXT[err.code]}\n`));
      status = 1;
      continue;
    }
    if (name === undefined) {
      status = 0;
      continue;
    }
    if (name === 'exit') {
      const code = args[0] === undefined ? status : /^\d+$/.test(args[0]) ? Number(args[0]) & 255 : -1;
      if (code < 0) {
        await ctx.stderr(text(`sh: exit: Illegal number: ${args[0]}\n`));
        return 2;
      }
      return code;
    }
    if (name === 'cd') {
      const target = posix.resolve(ctx.dir, args[0] ?? ctx.user.home);
      const node = ctx.tree.tryLookup(target);
      if (node?.kind !== 'dir') {
        await stderr(text(`sh: cd: can't cd to ${args[0] ?? ctx.user.home}: No such file or directory\n`));
        status = 2;
        continue;
      }
      ctx.dir = target;
      status = 0;
      continue;
    }
    const builtin = resolveCommand(name);
    if (!builtin || name === 'sh' || name.endsWith('/sh')) {
      // Nested shells are out of scope for the subset; report them like a missing command.
      await stderr(text(`sh: ${name}: not found\n`));
      status = 127;
      continue;
    }
    status = await builtin({ ...ctx, args, stdout, stderr });
  }
  return status;
};

/** The simulated executables, by name. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map<string, Command>([
  ['echo', echo],
  ['cat', cat],
  ['true', () => 0],
  ['false', () => 1],
  ['sh', sh],
  ['sleep', sleep],
  ['pwd', pwd],
  ['env', env],
  ['stty', stty],
]);

const SEARCH_DIRS = ['/bin', '/usr/bin'];

/**
 * Resolves a process path to a simulated command: a bare name, `/bin/NAME` or `/usr/bin/NAME`.
 * Returns undefined for anything else.
 */
export function resolveCommand(path: string): Command | undefined {
  if (!path.includes('/')) return COMMANDS.get(path);
  const dir = posix.dirname(path);
  return SEARCH_DIRS.includes(dir) ? COMMANDS.get(posix.basename(path)) : undefined;
}
