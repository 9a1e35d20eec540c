/** Command-line parsing for `gardend` (kept apart from the executable so it can be unit-tested). */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Duration, parseDuration } from '@garden-ts/api-types';
import type { ListenOptions } from './build-server.js';

export const DEFAULT_SOCKET = '/tmp/garden.sock';
/** Where `--backend linux` keeps its containers when `--depot` is not given. */
export const DEFAULT_DEPOT = '/var/lib/garden-ts/depot';
export const BACKENDS = ['fake', 'linux'] as const;
export type BackendName = (typeof BACKENDS)[number];
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const USAGE = `Usage: gardend [options]

Serves the Garden API over a unix socket (default) or TCP.

Options:
  --backend fake|linux       backend to serve (required)
  --bind-socket PATH         unix socket to listen on (default ${DEFAULT_SOCKET})
  --bind-ip IP               TCP address to listen on (with --bind-port)
  --bind-port PORT           TCP port to listen on (with --bind-ip)
  --default-grace-time DUR   grace time for containers created without one, e.g. 5m (default 0 = none)
  --read-header-timeout DUR  close connections whose request head is slower than this (default 0 = none)
  --log-level LEVEL          ${LEVELS.join('|')} (default info)
  -h, --help                 show this help

Linux backend (--backend linux; root only):
  --depot DIR                container records and overlay layers (default ${DEFAULT_DEPOT};
                             created if missing)
  --run-dir DIR              volatile per-process state (output rings, sockets, exit files);
                             should be a tmpfs (default /run/garden-ts/<hash of the depot>, on a
                             tmpfs gardend mounts at /run/garden-ts when /run is not one)
  --default-rootfs PATH      rootfs for containers created without one: a directory or raw://DIR
                             (default <repo>/.rootfs/busybox when gardend runs from a garden-ts
                             checkout, built by scripts/build-rootfs.sh; required otherwise)
  --max-containers N         refuse creates beyond N containers (default 0 = unlimited)
  --destroy-containers-on-startup
                             destroy every container left in the depot at startup (Diego-style)
                             instead of recovering them
  --cgroup-parent NAME       cgroup directory holding the containers (default garden). At startup
                             gardend removes cgroups there that its depot has no record of, so
                             give every gardend on a host its own
`;

/** Settings of `--backend linux` (absent for other backends). */
export interface LinuxBackendFlags {
  /** Absolute depot directory. */
  depot: string;
  /** `--default-rootfs` as given (relative directories made absolute); absent = the repo default. */
  defaultRootfs?: string;
  /** 0 = unlimited. */
  maxContainers: number;
  destroyContainersOnStartup: boolean;
  /** `--cgroup-parent`; absent = the backend's default (`garden`). */
  cgroupParent?: string;
  /** `--run-dir`, absolute; absent = the backend's default. */
  runDir?: string;
}

export interface GardendOptions {
  backend: BackendName;
  /** Present exactly when `backend` is `'linux'`. */
  linux?: LinuxBackendFlags;
  listen: ListenOptions;
  defaultGraceTime: Duration;
  readHeaderTimeout: Duration;
  logLevel: (typeof LEVELS)[number];
}

/** A command line that cannot be served; `message` says which flag is wrong. */
export class UsageError extends Error {}

/**
 * Parses gardend's arguments.
 * @returns the options, or `'help'` when help was asked for.
 * @throws UsageError naming the bad flag.
 */
export function parseGardendArgs(argv: string[]): GardendOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        backend: { type: 'string' },
        'bind-socket': { type: 'string' },
        'bind-ip': { type: 'string' },
        'bind-port': { type: 'string' },
        'default-grace-time': { type: 'string' },
        'read-header-timeout': { type: 'string' },
        'log-level': { type: 'string' },
        depot: { type: 'string' },
        'default-rootfs': { type: 'string' },
        'max-containers': { type: 'string' },
        'destroy-containers-on-startup': { type: 'boolean' },
        'cgroup-parent': { type: 'string' },
        'run-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const backend = values.backend as string | undefined;
  if (backend === undefined) throw new UsageError('--backend is required (fake or linux)');
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got "${backend}"`);
  }
  const socket = values['bind-socket'] as string | undefined;
  const ip = values['bind-ip'] as string | undefined;
  const portText = values['bind-port'] as string | undefined;
  let listen: ListenOptions;
  if (ip !== undefined || portText !== undefined) {
    if (socket !== undefined)
      throw new UsageError('--bind-socket cannot be combined with --bind-ip/--bind-port');
    if (ip === undefined || portText === undefined)
      throw new UsageError('--bind-ip and --bind-port go together');
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
      throw new UsageError(`--bind-port must be a port number (0-65535), got "${portText}"`);
    }
    listen = { host: ip, port: Number(portText) };
  } else {
    if (socket === '') throw new UsageError('--bind-socket must not be empty');
    listen = { socketPath: socket ?? DEFAULT_SOCKET };
  }
  const duration = (flag: string): Duration => {
    const text = values[flag] as string | undefined;
    if (text === undefined) return 0n;
    try {
      return parseDuration(text);
    } catch {
      throw new UsageError(`--${flag} must be a duration such as 30s, 5m or 1h30m, got "${text}"`);
    }
  };
  const logLevel = (values['log-level'] as string | undefined) ?? 'info';
  if (!(LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const options: GardendOptions = {
    backend: backend as BackendName,
    listen,
    defaultGraceTime: duration('default-grace-time'),
    readHeaderTimeout: duration('read-header-timeout'),
    logLevel: logLevel as GardendOptions['logLevel'],
  };
  if (backend === 'linux') options.linux = linuxFlags(values);
  else {
    for (const flag of LINUX_FLAGS) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} only applies to --backend linux`);
    }
  }
  return options;
}

const LINUX_FLAGS = [
  'depot',
  'default-rootfs',
  'max-containers',
  'destroy-containers-on-startup',
  'cgroup-parent',
  'run-dir',
] as const;

function linuxFlags(values: Record<string, string | boolean | undefined>): LinuxBackendFlags {
  const depot = values.depot as string | undefined;
  if (depot === '') throw new UsageError('--depot must not be empty');
  const rootfs = values['default-rootfs'] as string | undefined;
  let defaultRootfs: string | undefined;
  if (rootfs !== undefined) {
    const raw = rootfs.startsWith('raw://');
    const dir = raw ? rootfs.slice('raw://'.length) : rootfs;
    // Other schemes (docker://, preloaded:) need image plugins the backend does not have yet.
    if (dir === '' || (!raw && /^[a-z][a-z0-9+.-]*:/i.test(rootfs))) {
      throw new UsageError(`--default-rootfs must be a directory or raw://DIR, got "${rootfs}"`);
    }
    defaultRootfs = raw ? `raw://${resolve(dir)}` : resolve(dir);
  }
  const maxText = values['max-containers'] as string | undefined;
  let maxContainers = 0;
  if (maxText !== undefined) {
    maxContainers = Number(maxText);
    if (!/^\d{1,9}$/.test(maxText)) {
      throw new UsageError(
        `--max-containers must be a whole number of containers (0 = unlimited), got "${maxText}"`,
      );
    }
  }
  const cgroupParent = values['cgroup-parent'] as string | undefined;
  if (
    cgroupParent !== undefined &&
    (cgroupParent === '' ||
      cgroupParent.startsWith('/') ||
      cgroupParent.split('/').some((part) => part === '' || part === '.' || part === '..'))
  ) {
    throw new UsageError(
      `--cgroup-parent must be a relative cgroup path such as garden or ci/garden-1, got "${cgroupParent}"`,
    );
  }
  const runDir = values['run-dir'] as string | undefined;
  if (runDir === '') throw new UsageError('--run-dir must not be empty');
  return {
    depot: resolve(depot ?? DEFAULT_DEPOT),
    ...(runDir === undefined ? {} : { runDir: resolve(runDir) }),
    ...(defaultRootfs === undefined ? {} : { defaultRootfs }),
    maxContainers,
    destroyContainersOnStartup: values['destroy-containers-on-startup'] === true,
    ...(cgroupParent === undefined ? {} : { cgroupParent }),
  };
}
