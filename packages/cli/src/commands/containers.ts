/** Container lifecycle and inspection: create, destroy, rm, list, ps, info, metrics, stop, set-grace. */
import { isAbsolute, resolve } from 'node:path';
import {
  type BindMount,
  BindMountMode,
  BindMountOrigin,
  type ContainerSpec,
  type Limits,
  type NetInRule,
  parseDuration,
} from '@garden-ts/client';
import type { CommandContext } from '../context.js';
import { CliError, describeError, ExitCode, UsageError } from '../errors.js';
import { flatten, keyValues, table } from '../format.js';
import { mayPull, withPullProgress } from '../pull-progress.js';
import { parseCount, parseKeyValue, parsePort, parseProperties, parseSize } from '../values.js';

/** Parses a Go-style duration for an option (`5m`, `1h30m`, `0`). */
export function durationOption(text: string, option: string): bigint {
  try {
    const d = parseDuration(text);
    if (d < 0n) throw new RangeError('negative');
    return d;
  } catch {
    throw new UsageError(`${option}: invalid duration "${text}" (e.g. 30s, 5m, 1h30m; 0 = none)`);
  }
}

/** `-m HOST:CONTAINER[:ro|rw]` → a host bind mount (read-write by default, as gaol's). */
export function parseBindMount(text: string, cwd: string): BindMount {
  const parts = text.split(':');
  let mode: BindMountMode = BindMountMode.RW;
  if (parts.length === 3 && (parts[2] === 'ro' || parts[2] === 'rw')) {
    mode = parts[2] === 'ro' ? BindMountMode.RO : BindMountMode.RW;
    parts.pop();
  }
  const [src, dst] = parts;
  if (parts.length !== 2 || !src || !dst) {
    throw new UsageError(`--bind-mount: expected HOST:CONTAINER[:ro|rw], got "${text}"`);
  }
  if (!dst.startsWith('/'))
    throw new UsageError(`--bind-mount: the container path must be absolute: "${dst}"`);
  return {
    srcPath: isAbsolute(src) ? src : resolve(cwd, src),
    dstPath: dst,
    mode,
    origin: BindMountOrigin.Host,
  };
}

function limitsOf(ctx: CommandContext): Limits | undefined {
  const limits: Limits = {};
  const memory = ctx.string('limit-memory');
  if (memory !== undefined) limits.memory = { limitInBytes: parseSize(memory, '--limit-memory') };
  const cpu = ctx.string('limit-cpu');
  if (cpu !== undefined) limits.cpu = { weight: parseCount(cpu, '--limit-cpu') };
  const disk = ctx.string('limit-disk');
  const inodes = ctx.string('limit-inodes');
  if (disk !== undefined || inodes !== undefined) {
    limits.disk = {
      ...(disk !== undefined ? { byteHard: parseSize(disk, '--limit-disk') } : {}),
      ...(inodes !== undefined ? { inodeHard: parseCount(inodes, '--limit-inodes') } : {}),
    };
  }
  const pids = ctx.string('limit-pids');
  if (pids !== undefined) limits.pid = { max: parseCount(pids, '--limit-pids') };
  const rate = ctx.string('limit-bandwidth');
  const burst = ctx.string('limit-burst');
  if (rate !== undefined || burst !== undefined) {
    if (rate === undefined) throw new UsageError('--limit-burst needs --limit-bandwidth');
    const r = parseSize(rate, '--limit-bandwidth');
    limits.bandwidth = {
      rateInBytesPerSecond: r,
      burstRateInBytesPerSecond: burst !== undefined ? parseSize(burst, '--limit-burst') : r,
    };
  }
  return Object.keys(limits).length > 0 ? limits : undefined;
}

/** The ContainerSpec that `gaol create`'s options describe. */
export function createSpec(ctx: CommandContext): ContainerSpec {
  const spec: ContainerSpec = {};
  const handle = ctx.string('handle');
  if (handle !== undefined) spec.handle = handle;
  const rootfs = ctx.string('rootfs');
  if (rootfs !== undefined) spec.rootfsPath = rootfs;
  const image = ctx.string('image');
  if (image !== undefined) spec.image = { uri: image };
  const env = ctx.list('env');
  for (const e of env) parseKeyValue(e, '--env');
  if (env.length > 0) spec.env = env;
  const grace = ctx.string('grace');
  if (grace !== undefined) spec.graceTime = durationOption(grace, '--grace');
  if (ctx.flag('privileged')) spec.privileged = true;
  const mounts = ctx.list('bind-mount').map((m) => parseBindMount(m, ctx.io.cwd));
  if (mounts.length > 0) spec.bindMounts = mounts;
  const network = ctx.string('network');
  if (network !== undefined) spec.network = network;
  const props = parseProperties(ctx.list('property'), '--property');
  if (Object.keys(props).length > 0) spec.properties = props;
  const limits = limitsOf(ctx);
  if (limits) spec.limits = limits;
  const netIn: NetInRule[] = ctx.list('net-in').map((m) => {
    const [host, container, extra] = m.split(':');
    if (host === undefined || container === undefined || extra !== undefined) {
      throw new UsageError(`--net-in: expected HOSTPORT:CONTAINERPORT, got "${m}"`);
    }
    return { hostPort: parsePort(host, '--net-in'), containerPort: parsePort(container, '--net-in') };
  });
  if (netIn.length > 0) spec.netIn = netIn;
  return spec;
}

export async function create(ctx: CommandContext): Promise<number> {
  const spec = createSpec(ctx);
  const client = await ctx.client();
  const image = spec.image?.uri ?? spec.rootfsPath;
  const container =
    ctx.io.stderr.isTTY && mayPull(image)
      ? await withPullProgress(client, ctx.io.stderr, { image, handle: spec.handle }, () =>
          client.create(spec),
        )
      : await client.create(spec);
  ctx.print(container.handle);
  return ExitCode.Ok;
}

/**
 * Applies `action` to every handle, reporting each failure on its own line and going on; 125 when
 * any failed.
 */
async function eachHandle(
  ctx: CommandContext,
  handles: readonly string[],
  action: (handle: string) => Promise<void>,
): Promise<number> {
  let failed = false;
  for (const handle of handles) {
    try {
      await action(handle);
    } catch (err) {
      failed = true;
      ctx.warn(describeError(err, ctx.target.display).message);
    }
  }
  return failed ? ExitCode.Failure : ExitCode.Ok;
}

/** gaol's `destroy HANDLE...`: silent on success. */
export async function destroy(ctx: CommandContext): Promise<number> {
  const client = await ctx.client();
  return eachHandle(ctx, ctx.args.positionals, (h) => client.destroy(h));
}

/**
 * docker's `rm [-f] HANDLE...`: prints each destroyed handle. Without -f a container with running
 * processes is refused; with -f unknown handles are not an error.
 */
export async function rm(ctx: CommandContext): Promise<number> {
  const client = await ctx.client();
  const force = ctx.flag('force');
  return eachHandle(ctx, ctx.args.positionals, async (handle) => {
    try {
      if (!force) {
        const info = await (await client.lookup(handle)).info();
        if (info.processIDs.length > 0) {
          throw new CliError(
            `container ${handle} has ${info.processIDs.length} running process(es): stop it first (gaol stop ${handle}) or use rm -f`,
          );
        }
      }
      await client.destroy(handle);
    } catch (err) {
      if (force && (err as { code?: unknown }).code === 'GARDEN_CONTAINER_NOT_FOUND') return;
      throw err;
    }
    ctx.print(handle);
  });
}

/** gaol's `list [-p NAME=VALUE]... [-v]`: one handle per line. */
export async function list(ctx: CommandContext): Promise<number> {
  const filter = parseProperties(ctx.list('properties'), '--properties');
  const containers = await (await ctx.client()).containers(filter);
  const verbose = ctx.flag('verbose') && !ctx.flag('quiet');
  if (!verbose) {
    if (ctx.json) await ctx.printJson(containers.map((c) => c.handle));
    else for (const c of containers) ctx.print(c.handle);
    return ExitCode.Ok;
  }
  const withProps = [];
  for (const c of containers) withProps.push({ handle: c.handle, properties: await c.properties() });
  if (ctx.json) {
    await ctx.printJson(withProps);
    return ExitCode.Ok;
  }
  const separator = ctx.string('separator') ?? '\n';
  for (const { handle, properties } of withProps) {
    let text = `${handle}\n`;
    for (const [k, v] of Object.entries(properties)) text += `  ${k}=${v}\n`;
    ctx.io.stdout.write(text + separator);
  }
  return ExitCode.Ok;
}

/** docker's `ps`: a table of every container (or -q handles, or --json). */
export async function ps(ctx: CommandContext): Promise<number> {
  const client = await ctx.client();
  const filter = parseProperties(ctx.list('filter'), '--filter');
  const handles = (await client.containers(filter)).map((c) => c.handle);
  if (ctx.flag('quiet')) {
    if (ctx.json) await ctx.printJson(handles);
    else for (const h of handles) ctx.print(h);
    return ExitCode.Ok;
  }
  const infos = handles.length > 0 ? await client.bulkInfo(handles) : {};
  const entries = handles.map((handle) => ({ handle, entry: infos[handle] }));
  if (ctx.json) {
    await ctx.printJson(
      entries.map(({ handle, entry }) =>
        entry?.info ? { handle, ...entry.info } : { handle, error: entry?.error?.message ?? 'no info' },
      ),
    );
    return ExitCode.Ok;
  }
  const rows = entries.map(({ handle, entry }) => {
    const info = entry?.info;
    if (!info) return [handle, `error: ${entry?.error?.message ?? 'no info'}`, '', '', ''];
    const props = Object.entries(info.properties)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return [handle, info.state, info.containerIP, String(info.processIDs.length), props];
  });
  ctx.print(table(['HANDLE', 'STATE', 'IP', 'PROCESSES', 'PROPERTIES'], rows));
  return ExitCode.Ok;
}

/** `info HANDLE...`: key/value listing, or JSON (an object for one handle, an array for several). */
export async function info(ctx: CommandContext): Promise<number> {
  const handles = ctx.args.positionals;
  const client = await ctx.client();
  const results: Record<string, unknown>[] = [];
  const code = await eachHandle(ctx, handles, async (handle) => {
    const i = await (await client.lookup(handle)).info();
    results.push({ handle, ...i });
  });
  if (ctx.json) {
    if (handles.length > 1) await ctx.printJson(results);
    else if (results[0]) await ctx.printJson(results[0]);
  } else if (results.length > 0) {
    ctx.io.stdout.write(results.map((r) => `${keyValues(flatten(r))}\n`).join('\n'));
  }
  return code;
}

/** `metrics HANDLE`: memory, CPU, disk, network, pids and age. */
export async function metrics(ctx: CommandContext): Promise<number> {
  const container = await ctx.container(ctx.positional(0, 'HANDLE'));
  const m = await container.metrics();
  if (ctx.json) await ctx.printJson(m);
  else ctx.print(keyValues(flatten(m)));
  return ExitCode.Ok;
}

/** `stop [-k] HANDLE...`: stops every process of each container (the container stays). */
export async function stop(ctx: CommandContext): Promise<number> {
  const client = await ctx.client();
  const kill = ctx.flag('kill');
  return eachHandle(ctx, ctx.args.positionals, async (h) => (await client.lookup(h)).stop(kill));
}

/** gaol's `set-grace HANDLE -g DURATION` (or `set-grace HANDLE DURATION`). */
export async function setGrace(ctx: CommandContext): Promise<number> {
  const handle = ctx.positional(0, 'HANDLE');
  const fromFlag = ctx.string('grace');
  const fromArg = ctx.args.positionals[1];
  if (fromFlag !== undefined && fromArg !== undefined) {
    throw new UsageError('gaol set-grace: give the duration either with -g or as an argument, not both');
  }
  const text = fromFlag ?? fromArg;
  if (text === undefined) throw new UsageError('gaol set-grace: missing the duration (-g 5m)');
  const grace = durationOption(text, '--grace');
  await (await ctx.container(handle)).setGraceTime(grace);
  return ExitCode.Ok;
}
