/**
 * The option schema: every gardend option once, with its type, default, help and the backends it
 * applies to. The command-line parser, the `GARDEND_*` environment variables, the config file,
 * `--help` and the options tables of the READMEs all come from here.
 *
 * Naming is derived, never written twice: the key `maxIdleConnections` is the flag
 * `--max-idle-connections`, the config-file key `max-idle-connections` and the environment
 * variable `GARDEND_MAX_IDLE_CONNECTIONS`.
 *
 * Adding an option: add an entry below (`backends` names the backends it applies to; none = the
 * server's own options), use `config.<key>` where the backend is opened (`src/backends/*.ts`),
 * then run `pnpm --filter @garden-ts/gardend run options-tables` to regenerate the options tables (a test fails
 * while they differ).
 */
import { SECOND } from '@garden-ts/api-types';
import { DEFAULT_MAX_IDLE_CONNECTIONS, DEFAULT_READ_HEADER_TIMEOUT } from '@garden-ts/server';
import {
  boolean,
  byteSize,
  choice,
  cidr,
  duration,
  integer,
  ip,
  ipv4,
  jsonObject,
  list,
  moduleSpecifier,
  path,
  pathOrNone,
  text,
  textual,
  ValueError,
  type ValueType,
} from './value-types.js';

/** The backends gardend can serve. */
export const BACKEND_NAMES = ['fake', 'linux', 'module'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** gdn's debug server port. */
export const DEFAULT_DEBUG_PORT = 17013;

/** Where `--backend linux` keeps its containers when `--depot` is not given. */
export const DEFAULT_DEPOT = '/var/lib/garden-ts/depot';
export const DEFAULT_SOCKET = '/tmp/garden.sock';

export interface OptionSpec<T> {
  readonly type: ValueType<T>;
  /** The value when no source sets it; absent = unset (the backend decides, see `defaultText`). */
  readonly default?: T;
  /** The default as documented when it is not a fixed value (computed by the backend). */
  readonly defaultText?: string;
  /** gardend refuses to start without it. */
  readonly required?: true;
  /** The backends this option applies to; absent = every backend (the server's own options). */
  readonly backends?: readonly BackendName[];
  /** One sentence; help and the README tables show it. */
  readonly help: string;
}

// Keeps each entry's literal shape (whether it has a default), which GardendConfig reads.
// biome-ignore lint/suspicious/noExplicitAny: any value type.
function option<const S extends OptionSpec<any>>(spec: S): S {
  return spec;
}

/** The image URI schemes backend-linux serves (besides plain paths). */
const IMAGE_SCHEMES = ['docker', 'oci', 'preloaded', 'preloaded+layer'];

/**
 * `--default-rootfs`: any image a create may name — a directory or rootfs tarball (relative paths
 * resolved), `raw://DIR`, or an image URI (`docker://…`, `oci:///…`, `preloaded:NAME`), which the
 * backend checks in full.
 */
function rootfs(): ValueType<string> {
  const file = path('PATH|URI');
  return textual('PATH|URI', (value, ctx) => {
    const raw = value.startsWith('raw://');
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase();
    if (!raw && scheme !== undefined) {
      if (!IMAGE_SCHEMES.includes(scheme))
        throw new ValueError(
          `must be a directory, a rootfs tarball, raw://DIR or an image URI (docker://, oci://, preloaded:), got ${JSON.stringify(value)}`,
        );
      return value;
    }
    const rest = raw ? value.slice('raw://'.length) : value;
    if (rest === '') throw new ValueError(`must name a directory, got ${JSON.stringify(value)}`);
    const absolute = file.parse(rest, ctx);
    return raw ? `raw://${absolute}` : absolute;
  });
}

/** An http(s) URL (a registry mirror). */
function url(): ValueType<string> {
  return textual('URL', (value) => {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new ValueError(
        `must be an http(s) URL such as https://mirror.example, got ${JSON.stringify(value)}`,
      );
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new ValueError(
        `must be an http(s) URL such as https://mirror.example, got ${JSON.stringify(value)}`,
      );
    return value;
  });
}

/** `NAME:PATH` (a preloaded rootfs: a directory or tarball on this host). */
function namedPath(): ValueType<{ name: string; path: string }> {
  const file = path('PATH');
  return textual(
    'NAME:PATH',
    (value, ctx) => {
      const colon = value.indexOf(':');
      const name = colon < 0 ? '' : value.slice(0, colon);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || colon === value.length - 1)
        throw new ValueError(
          `must be NAME:PATH such as cflinuxfs4:/var/vcap/rootfs.tar, got ${JSON.stringify(value)}`,
        );
      return { name, path: file.parse(value.slice(colon + 1), ctx) };
    },
    (v) => `${v.name}:${v.path}`,
  );
}

const cgroupPath = (value: string) =>
  value.startsWith('/') || value.split('/').some((part) => part === '' || part === '.' || part === '..')
    ? 'must be a relative cgroup path such as garden or ci/garden-1'
    : undefined;

/** Every gardend option. */
export const OPTIONS = {
  backend: option({
    type: choice(BACKEND_NAMES),
    required: true,
    help: 'the backend to serve: fake (in memory, for tests and development), linux (real containers; root only) or module (a third-party backend: --backend-module)',
  }),
  bindSocket: option({
    type: path('PATH'),
    default: DEFAULT_SOCKET,
    help: 'unix socket to listen on (not with --bind-ip/--bind-port)',
  }),
  bindIp: option({ type: text('IP'), help: 'TCP address to listen on (with --bind-port)' }),
  bindPort: option({
    type: integer(0, 65535, 'a port number (0-65535)', 'PORT'),
    help: 'TCP port to listen on (with --bind-ip)',
  }),
  defaultGraceTime: option({
    type: duration(),
    default: 0n,
    help: 'grace time of containers created without one, e.g. 5m (0 = never reaped)',
  }),
  readHeaderTimeout: option({
    type: duration(),
    default: DEFAULT_READ_HEADER_TIMEOUT,
    help: 'close a connection whose request head takes longer than this, without answering (0 = no limit)',
  }),
  maxIdleConnections: option({
    type: integer(1, 1_000_000, 'a whole number of connections (at least 1)'),
    default: DEFAULT_MAX_IDLE_CONNECTIONS,
    help: 'connections that may wait idle for a request; beyond it the longest-idle ones (idle at least 1 s) are closed',
  }),
  logLevel: option({
    type: choice(LOG_LEVELS),
    default: 'info',
    help: 'log level (JSON lines on stderr); SIGHUP re-reads it from the config file',
  }),
  shutdownTimeout: option({
    type: duration(3600n * SECOND),
    default: 10n * SECOND,
    help: 'on SIGTERM/SIGINT, exit with status 1 when the graceful stop takes longer than this (a second signal exits at once)',
  }),
  debugBindIp: option({
    type: text('IP'),
    help: 'serve the debug server (GET /debug/vars, GET /metrics) on this address; off when unset',
  }),
  debugBindPort: option({
    type: integer(0, 65535, 'a port number (0-65535)', 'PORT'),
    default: DEFAULT_DEBUG_PORT,
    help: 'port of the debug server (with --debug-bind-ip)',
  }),
  debugContainerMetrics: option({
    type: boolean(),
    default: false,
    help: 'add per-container CPU and memory gauges (labelled by handle) to GET /metrics',
  }),
  debugContainerMetricsLimit: option({
    type: integer(0, 100_000, 'a whole number of containers'),
    default: 100,
    help: 'at most this many containers (the first by handle) get per-container gauges, bounding the series count',
  }),

  maxContainers: option({
    type: integer(0, 999_999_999, 'a whole number of containers (0 = unlimited)'),
    default: 0,
    backends: ['fake', 'linux'],
    help: 'refuse creates beyond this many containers (0 = unlimited)',
  }),

  portPoolStart: option({
    type: integer(1, 65535, 'a port number (1-65535)', 'PORT'),
    default: 61001,
    backends: ['fake', 'linux'],
    help: 'first host port NetIn hands out',
  }),
  portPoolSize: option({
    type: integer(1, 65535, 'a number of ports (1-65535)'),
    default: 4534,
    backends: ['fake', 'linux'],
    help: 'number of host ports NetIn may hand out',
  }),

  depot: option({
    type: path('DIR'),
    default: DEFAULT_DEPOT,
    backends: ['linux'],
    help: 'container records and overlay layers; created if missing; every directory above it must be searchable by others (o+x)',
  }),
  runDir: option({
    type: path('DIR'),
    defaultText:
      '/run/garden-ts/<hash of the depot>, on a tmpfs gardend mounts at /run/garden-ts when /run is not one',
    backends: ['linux'],
    help: 'volatile per-process state (output rings, sockets, exit files); should be a tmpfs',
  }),
  defaultRootfs: option({
    type: rootfs(),
    defaultText:
      '<repo>/.rootfs/busybox when gardend runs from a garden-ts checkout (scripts/build-rootfs.sh); required otherwise',
    backends: ['linux'],
    help: 'rootfs of containers created without one: a directory, a rootfs tarball, raw://DIR or an image URI (docker://, oci://, preloaded:)',
  }),
  destroyContainersOnStartup: option({
    type: boolean(),
    default: false,
    backends: ['linux'],
    help: 'destroy every container left in the depot at startup (Diego-style) instead of recovering them',
  }),
  cgroupParent: option({
    type: text('NAME', cgroupPath),
    default: 'garden',
    backends: ['linux'],
    help: 'cgroup directory holding the containers; at startup gardend removes cgroups there that its depot does not know, so give every gardend on a host its own',
  }),
  stopTimeout: option({
    type: duration(3600n * SECOND),
    default: 10n * SECOND,
    backends: ['linux'],
    help: "how long Stop (kill=false) sends SIGTERM before SIGKILL to a container's processes (Guardian: 10s)",
  }),
  diskStore: option({
    type: pathOrNone('DIR'),
    defaultText: '<depot>/store',
    backends: ['linux'],
    help: "the disk store that enforces disk limits (a btrfs filesystem, one quota'd subvolume per container): a directory on btrfs is used as is, otherwise a sparse image DIR.img (--disk-store-size) is made and loop-mounted here; none = no store (disk limits reported, not enforced)",
  }),
  diskStoreSize: option({
    type: byteSize(256n << 20n),
    defaultText: "the depot filesystem's size minus 15G, at least 1G",
    backends: ['linux'],
    help: 'size of the disk store image made when --disk-store is not on btrfs, e.g. 100G (sparse; an image made before keeps its size); Capacity reports it as schedulable disk',
  }),
  diskStoreQuotas: option({
    type: choice(['auto', 'simple', 'full'] as const),
    default: 'auto',
    backends: ['linux'],
    help: 'btrfs quotas the disk store turns on when it has none: simple (kernel 6.7+; always enforced), full (qgroups; no limit holds while their accounting is inconsistent, e.g. until the rescan after turning them on), auto = simple for an image of its own when the kernel has them, else full',
  }),
  networkPool: option({
    type: cidr(),
    default: '10.254.0.0/22',
    backends: ['linux'],
    help: 'containers without a network spec get a /30 of this range (capacity: its size / 4)',
  }),
  mtu: option({
    type: integer(0, 65535, 'an MTU (68-65535, or 0 = automatic)'),
    default: 0,
    backends: ['linux'],
    help: "MTU of the containers' interfaces (0 = the MTU of the external IP's interface, at most 1500)",
  }),
  denyNetwork: option({
    type: list(cidr()),
    default: [],
    backends: ['linux'],
    help: 'network containers may not reach unless a NetOut rule allows it (repeatable; Cloud Foundry: 0.0.0.0/0)',
  }),
  allowHostAccess: option({
    type: boolean(),
    default: false,
    backends: ['linux'],
    help: 'let containers reach the host itself (otherwise rejected, except its DNS servers)',
  }),
  dnsServer: option({
    type: list(ip()),
    default: [],
    backends: ['linux'],
    help: "nameserver for containers' resolv.conf instead of the host's (repeatable)",
  }),
  additionalDnsServer: option({
    type: list(ip()),
    default: [],
    backends: ['linux'],
    help: "nameserver added after the others in containers' resolv.conf (repeatable)",
  }),
  externalIp: option({
    type: ipv4(),
    defaultText: 'the source address of the default route',
    backends: ['linux'],
    help: 'the address NetIn ports are published on (also on 127.0.0.1 and --bind-ip)',
  }),
  networkPlugin: option({
    type: path('PATH'),
    backends: ['linux'],
    help: 'network plugin executable (Cloud Foundry style): containers are networked by it instead of the built-in bridge and firewall',
  }),
  networkNamespace: option({
    type: path('PATH'),
    defaultText: "gardend's own",
    backends: ['linux'],
    help: "network namespace (a namespace file such as /run/netns/NAME) holding the containers' bridges, host veths, nft tables and NetIn ports; gardend itself, its socket and image pulls stay in its own",
  }),
  networkPluginExtraArg: option({
    type: list(text('ARG'), { wholeFlags: true }),
    default: [],
    backends: ['linux'],
    help: 'argument passed to the network plugin before --action (repeatable, one argument per flag, commas kept; comma-separated in the environment)',
  }),
  registryMirror: option({
    type: list(url()),
    default: [],
    backends: ['linux'],
    help: 'Docker Hub mirror, tried before Docker Hub for docker:///REPO images; repeat for several, tried in order',
  }),
  insecureDockerRegistry: option({
    type: list(
      text('HOST[:PORT]', (v) => (/^[A-Za-z0-9.[\]:-]+$/.test(v) ? undefined : 'must be HOST or HOST:PORT')),
    ),
    default: [],
    backends: ['linux'],
    help: 'registry allowed plain HTTP or a TLS certificate this host cannot verify (that host only); repeatable',
  }),
  preloadedRootfs: option({
    type: list(namedPath()),
    default: [],
    backends: ['linux'],
    help: 'rootfs installed on this host for preloaded:NAME images (Diego), a directory or tarball; repeatable',
  }),
  imageStore: option({
    type: path('DIR'),
    defaultText: '<depot>/image-store',
    backends: ['linux'],
    help: 'the layer store shared by all containers (pulled and unpacked images)',
  }),
  imageGcKeepBytes: option({
    type: integer(0, Number.MAX_SAFE_INTEGER, 'a whole number of bytes'),
    default: 0,
    backends: ['linux'],
    help: 'image layers no container uses that are kept for later creates, least recently used deleted first (0 = deleted with their last container)',
  }),
  imageTagTtl: option({
    type: duration(),
    default: 0n,
    backends: ['linux'],
    help: "how long a tag's resolution is trusted before the registry is asked again (0 = every create asks, as Guardian does; digests never ask)",
  }),
  backendModule: option({
    type: moduleSpecifier(),
    backends: ['module'],
    help: 'the backend module: a file (./my-backend.js, /opt/b/index.js) or an installed package name; it exports createBackend(options, context) (docs/writing-a-backend.md)',
  }),
  backendOptions: option({
    type: jsonObject(),
    default: {},
    backends: ['module'],
    help: 'a JSON object handed to createBackend as its options (in the config file: the object itself)',
  }),
  helperExecutable: option({
    type: pathOrNone('PATH'),
    defaultText: '/bin/busybox when it exists and is statically linked, else none',
    backends: ['linux'],
    help: "statically linked tar and sh for StreamIn/StreamOut inside containers (none = the image's own tools)",
  }),
} as const satisfies Record<string, OptionSpec<unknown>>;

export type OptionKey = keyof typeof OPTIONS;

type ValueOf<S> = S extends { type: ValueType<infer T> } ? T : never;

/** The resolved configuration: every option's value (unset options without a default are undefined). */
export type GardendConfig = {
  -readonly [K in OptionKey]: (typeof OPTIONS)[K] extends { required: true } | { default: unknown }
    ? ValueOf<(typeof OPTIONS)[K]>
    : ValueOf<(typeof OPTIONS)[K]> | undefined;
};

/** `maxIdleConnections` → `max-idle-connections` (the flag without `--`, and the config-file key). */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `maxIdleConnections` → `GARDEND_MAX_IDLE_CONNECTIONS`. */
export function envName(key: string): string {
  return `GARDEND_${flagName(key).toUpperCase().replaceAll('-', '_')}`;
}

/** The options as a list, in schema order. */
export function optionList(): Array<{ key: OptionKey; spec: OptionSpec<unknown> }> {
  return (Object.keys(OPTIONS) as OptionKey[]).map((key) => ({
    key,
    spec: OPTIONS[key] as OptionSpec<unknown>,
  }));
}
