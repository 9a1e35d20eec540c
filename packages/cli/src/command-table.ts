/**
 * Every gaol command in one table: its options, arguments and help text drive parsing, `--help`
 * and shell completion alike. Handlers live in `commands/*.ts` and are imported only when their
 * command runs.
 *
 * Adding a command (as `events` was added): one entry here (name, summary, args, options, `load`), a
 * handler exported from a module under `commands/`, and a test; help and completion follow.
 */
import type { Completion, OptionSpec } from './args.js';
import type { CommandContext } from './context.js';

/** Runs a command; resolves with the exit code (undefined = 0). */
export type Handler = (ctx: CommandContext) => Promise<number | undefined>;

export interface CommandSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** One line for the command list. */
  readonly summary: string;
  /** The positionals in the usage line (`HANDLE [HANDLE...]`). */
  readonly usage: string;
  readonly minArgs: number;
  /** Undefined = any number. */
  readonly maxArgs?: number;
  /** What each positional completes to (the last entry repeats). */
  readonly completeArgs?: readonly Completion[];
  /** Stop option parsing after this many positionals (the program to run follows). */
  readonly passThroughAfter?: number;
  readonly options: readonly OptionSpec[];
  /** A read command: gets `--json`. */
  readonly json?: boolean;
  /** Lines shown under "Examples" in help. */
  readonly examples?: readonly string[];
  /** Not listed in help (the completion helper). */
  readonly hidden?: boolean;
  readonly load: () => Promise<Handler>;
}

const HANDLE: readonly Completion[] = ['handle'];

/**
 * What `events --type` completes to: the event types (`GARDEN_EVENT_TYPES`, which a test compares
 * with this list: the table must not load the client) and their groups.
 */
export const EVENT_TYPES: readonly string[] = [
  'container',
  'container.created',
  'container.destroyed',
  'container.reaped',
  'container.oom',
  'process',
  'process.exited',
  'image',
  'image.progress',
  'events',
  'events.dropped',
];

const opt = (
  long: string,
  short: string | undefined,
  type: 'string' | 'boolean',
  help: string,
  extra: Partial<OptionSpec> = {},
): OptionSpec => ({ long, ...(short ? { short } : {}), type, help, ...extra });

const envOption = opt('env', 'e', 'string', 'set an environment variable (repeatable)', {
  multiple: true,
  arg: 'NAME=VALUE',
});
const userOption = (help: string) => opt('user', 'u', 'string', help, { arg: 'USER' });

export const JSON_OPTION = opt('json', undefined, 'boolean', 'print JSON (64-bit numbers exact)');
export const QUIET_OPTION = opt('quiet', 'q', 'boolean', 'print only the handles');

/** Options every command accepts (before or after the command name). */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  opt('target', 't', 'string', 'Garden server: unix:///path/to.sock or host:port (env GAOL_TARGET)', {
    arg: 'TARGET',
  }),
  opt('debug', undefined, 'boolean', 'print stack traces of failures (env GAOL_DEBUG=1)'),
  opt('help', 'h', 'boolean', 'show help'),
];

const containers = () => import('./commands/containers.js');
const processes = () => import('./commands/processes.js');
const files = () => import('./commands/files.js');
const properties = () => import('./commands/properties.js');
const network = () => import('./commands/network.js');
const server = () => import('./commands/server.js');
const events = () => import('./commands/events.js');
const completion = () => import('./completion.js');

export const COMMANDS: readonly CommandSpec[] = [
  // --- gaol's commands ---------------------------------------------------------------------
  {
    name: 'ping',
    summary: 'check that the server is up (exit 0) or not (exit 125)',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    options: [],
    load: () => server().then((m) => m.ping),
  },
  {
    name: 'capacity',
    summary: "show the server's memory, disk and container capacity",
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    options: [],
    json: true,
    load: () => server().then((m) => m.capacity),
  },
  {
    name: 'create',
    summary: 'create a container and print its handle',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    options: [
      opt('handle', 'n', 'string', 'name to give the container (default: generated)', { arg: 'HANDLE' }),
      opt('rootfs', 'r', 'string', 'rootfs: a directory, raw:///dir or docker:///image', {
        arg: 'ROOTFS',
        complete: 'file',
      }),
      opt('image', undefined, 'string', 'image URI (ContainerSpec.Image)', { arg: 'URI' }),
      envOption,
      opt('grace', 'g', 'string', 'destroy after this long without requests, e.g. 5m (default: server)', {
        arg: 'DURATION',
      }),
      opt('privileged', 'p', 'boolean', 'root in the container is root on the host'),
      opt('bind-mount', 'm', 'string', 'bind mount a host path (read-write unless :ro; repeatable)', {
        multiple: true,
        arg: 'HOST:CONTAINER[:ro|rw]',
        complete: 'file',
      }),
      opt('network', undefined, 'string', 'subnet or IP/subnet of the container', { arg: 'CIDR' }),
      opt('property', undefined, 'string', 'set a property (repeatable)', {
        multiple: true,
        arg: 'NAME=VALUE',
      }),
      opt('limit-memory', 'k', 'string', 'memory limit, e.g. 512M', { arg: 'SIZE' }),
      opt('limit-cpu', undefined, 'string', 'CPU weight (shares)', { arg: 'WEIGHT' }),
      opt('limit-disk', undefined, 'string', 'disk limit (bytes written), e.g. 1G', { arg: 'SIZE' }),
      opt('limit-inodes', undefined, 'string', 'inode limit', { arg: 'N' }),
      opt('limit-pids', undefined, 'string', 'maximum number of processes', { arg: 'N' }),
      opt('limit-bandwidth', undefined, 'string', 'network rate per second, e.g. 10M', { arg: 'SIZE' }),
      opt('limit-burst', undefined, 'string', 'network burst, e.g. 1M', { arg: 'SIZE' }),
      opt('net-in', undefined, 'string', 'map a host port to a container port (repeatable)', {
        multiple: true,
        arg: 'HOSTPORT:CONTAINERPORT',
      }),
    ],
    examples: ['gaol create -n web -e PORT=8080 --property team=a -k 256M', 'gaol shell $(gaol create)'],
    load: () => containers().then((m) => m.create),
  },
  {
    name: 'destroy',
    summary: 'destroy containers',
    usage: 'HANDLE [HANDLE...]',
    minArgs: 1,
    completeArgs: HANDLE,
    options: [],
    examples: ['gaol list | xargs gaol destroy'],
    load: () => containers().then((m) => m.destroy),
  },
  {
    name: 'list',
    summary: 'list container handles (filter by properties)',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    options: [
      opt('properties', 'p', 'string', 'only containers with this property (repeatable)', {
        multiple: true,
        arg: 'NAME=VALUE',
      }),
      opt('verbose', 'v', 'boolean', 'print the properties of each container'),
      opt('separator', undefined, 'string', 'printed after each container with --verbose (default newline)', {
        arg: 'TEXT',
      }),
      QUIET_OPTION,
    ],
    json: true,
    load: () => containers().then((m) => m.list),
  },
  {
    name: 'info',
    summary: "show containers' state, IPs, processes, ports and properties",
    usage: 'HANDLE [HANDLE...]',
    minArgs: 1,
    completeArgs: HANDLE,
    options: [],
    json: true,
    load: () => containers().then((m) => m.info),
  },
  {
    name: 'metrics',
    summary: "show a container's memory, CPU, disk and network usage",
    usage: 'HANDLE',
    minArgs: 1,
    maxArgs: 1,
    completeArgs: HANDLE,
    options: [],
    json: true,
    load: () => containers().then((m) => m.metrics),
  },
  {
    name: 'run',
    summary: 'run a command in a container: print its process id, or attach (-a) and exit with its code',
    usage: 'HANDLE [-- COMMAND [ARG...]]',
    minArgs: 1,
    completeArgs: HANDLE,
    options: [
      opt('attach', 'a', 'boolean', 'attach stdin/stdout/stderr and wait for the exit code'),
      opt('command', 'c', 'string', 'the command line to run (split like a shell would)', { arg: 'COMMAND' }),
      opt('dir', 'd', 'string', 'working directory', { arg: 'DIR' }),
      userOption('user to run as (name or uid:gid)'),
      envOption,
      opt('tty', undefined, 'boolean', 'allocate a terminal (raw mode when stdin is one)'),
      opt('id', undefined, 'string', 'process id to use (default: generated)', { arg: 'ID' }),
    ],
    examples: [
      'gaol run web -a -c "echo hello"',
      'gaol run web -c \'sh -c "while true; do date; sleep 1; done"\'',
    ],
    load: () => processes().then((m) => m.run),
  },
  {
    name: 'attach',
    summary: 'attach to a running process and exit with its code',
    usage: 'HANDLE [PID]',
    minArgs: 1,
    maxArgs: 2,
    completeArgs: HANDLE,
    options: [
      opt('pid', 'p', 'string', 'process id to attach to', { arg: 'PID' }),
      opt('tty', undefined, 'boolean', 'the process has a terminal: raw mode and window size'),
    ],
    load: () => processes().then((m) => m.attach),
  },
  {
    name: 'shell',
    summary: "open an interactive shell (/bin/sh -l) in a container, exit with the shell's code",
    usage: 'HANDLE',
    minArgs: 1,
    maxArgs: 1,
    completeArgs: HANDLE,
    options: [userOption('user to open the shell as')],
    load: () => processes().then((m) => m.shell),
  },
  {
    name: 'stream-in',
    summary: 'extract a tar archive from stdin into a container directory',
    usage: 'HANDLE',
    minArgs: 1,
    maxArgs: 1,
    completeArgs: HANDLE,
    options: [
      opt('destination', 'd', 'string', 'directory in the container', { arg: 'PATH' }),
      userOption('user who owns the extracted files'),
    ],
    examples: ['tar c file.txt | gaol stream-in web -d /tmp'],
    load: () => files().then((m) => m.streamIn),
  },
  {
    name: 'stream-out',
    summary: 'write a tar archive of a container path to stdout',
    usage: 'HANDLE',
    minArgs: 1,
    maxArgs: 1,
    completeArgs: HANDLE,
    options: [
      opt('source', 's', 'string', 'path in the container (a trailing / archives its contents)', {
        arg: 'PATH',
      }),
      userOption('user to read as'),
    ],
    examples: [
      'gaol stream-out web -s /etc/hosts | tar x',
      'gaol stream-out a -s /app | gaol stream-in b -d /',
    ],
    load: () => files().then((m) => m.streamOut),
  },
  {
    name: 'net-in',
    summary: 'map a host port to a container port and print the host address',
    usage: 'HANDLE',
    minArgs: 1,
    maxArgs: 1,
    completeArgs: HANDLE,
    options: [
      opt('port', 'p', 'string', 'container port (0 = same as the host port)', { arg: 'PORT' }),
      opt('host-port', 'H', 'string', 'host port (default: allocated)', { arg: 'PORT' }),
    ],
    json: true,
    load: () => network().then((m) => m.netIn),
  },
  {
    name: 'net-out',
    summary: 'allow outbound traffic from a container',
    usage: 'HANDLE',
    minArgs: 1,
    maxArgs: 1,
    completeArgs: HANDLE,
    options: [
      opt('protocol', 'p', 'string', 'all, tcp, udp, icmp or icmpv6 (default all)', {
        arg: 'PROTOCOL',
        complete: ['all', 'tcp', 'udp', 'icmp', 'icmpv6'],
      }),
      opt('network', undefined, 'string', 'destination network: CIDR, IP or START-END (repeatable)', {
        multiple: true,
        arg: 'NETWORK',
      }),
      opt('ip-start', undefined, 'string', 'first destination IP (with --ip-end)', { arg: 'IP' }),
      opt('ip-end', undefined, 'string', 'last destination IP', { arg: 'IP' }),
      opt('port', undefined, 'string', 'destination ports: PORT or START-END (repeatable)', {
        multiple: true,
        arg: 'PORTS',
      }),
      opt('port-start', undefined, 'string', 'first destination port (with --port-end)', { arg: 'PORT' }),
      opt('port-end', undefined, 'string', 'last destination port', { arg: 'PORT' }),
      opt('icmp-type', undefined, 'string', 'ICMP type (with -p icmp)', { arg: 'TYPE' }),
      opt('icmp-code', undefined, 'string', 'ICMP code (default any)', { arg: 'CODE' }),
      opt('log', undefined, 'boolean', 'log matching connections'),
    ],
    examples: ['gaol net-out web -p tcp --network 10.0.0.0/8 --port 443'],
    load: () => network().then((m) => m.netOut),
  },
  {
    name: 'properties',
    summary: "print a container's properties (NAME<TAB>VALUE)",
    usage: 'HANDLE',
    minArgs: 1,
    maxArgs: 1,
    completeArgs: HANDLE,
    options: [],
    json: true,
    load: () => properties().then((m) => m.properties),
  },
  {
    name: 'get-property',
    summary: 'print one property of a container',
    usage: 'HANDLE NAME',
    minArgs: 2,
    maxArgs: 2,
    completeArgs: HANDLE,
    options: [],
    json: true,
    load: () => properties().then((m) => m.getProperty),
  },
  {
    name: 'set-property',
    summary: 'set a property of a container',
    usage: 'HANDLE NAME VALUE',
    minArgs: 3,
    maxArgs: 3,
    completeArgs: HANDLE,
    options: [],
    load: () => properties().then((m) => m.setProperty),
  },
  {
    name: 'remove-property',
    summary: 'remove a property of a container',
    usage: 'HANDLE NAME',
    minArgs: 2,
    maxArgs: 2,
    completeArgs: HANDLE,
    options: [],
    load: () => properties().then((m) => m.removeProperty),
  },
  {
    name: 'set-grace',
    summary: "set a container's grace time (destroyed after this long without requests)",
    usage: 'HANDLE [DURATION]',
    minArgs: 1,
    maxArgs: 2,
    completeArgs: HANDLE,
    options: [
      opt('grace', 'g', 'string', 'the grace time, e.g. 5m or 1h30m (0 = never)', { arg: 'DURATION' }),
    ],
    load: () => containers().then((m) => m.setGrace),
  },
  {
    name: 'stop',
    summary: 'stop every process in containers (SIGTERM, then SIGKILL after 10 s)',
    usage: 'HANDLE [HANDLE...]',
    minArgs: 1,
    completeArgs: HANDLE,
    options: [opt('kill', 'k', 'boolean', 'SIGKILL at once')],
    load: () => containers().then((m) => m.stop),
  },
  // --- docker habits -----------------------------------------------------------------------
  {
    name: 'ps',
    summary: 'list containers as a table (state, IP, processes, properties)',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    options: [
      QUIET_OPTION,
      opt('filter', 'f', 'string', 'only containers with this property (repeatable)', {
        multiple: true,
        arg: 'NAME=VALUE',
      }),
    ],
    json: true,
    load: () => containers().then((m) => m.ps),
  },
  {
    name: 'rm',
    summary: 'destroy containers; without -f, refuses containers with running processes',
    usage: 'HANDLE [HANDLE...]',
    minArgs: 1,
    completeArgs: HANDLE,
    options: [opt('force', 'f', 'boolean', 'destroy even with running processes; ignore unknown handles')],
    load: () => containers().then((m) => m.rm),
  },
  {
    name: 'exec',
    summary: 'run a command in a container and exit with its code',
    usage: 'HANDLE COMMAND [ARG...]',
    minArgs: 2,
    passThroughAfter: 1,
    completeArgs: HANDLE,
    options: [
      opt('interactive', 'i', 'boolean', 'keep stdin attached'),
      opt('tty', 't', 'boolean', 'allocate a terminal'),
      opt('detach', 'd', 'boolean', 'start it in the background and print its process id'),
      userOption('user to run as (name or uid:gid)'),
      opt('workdir', 'w', 'string', 'working directory', { arg: 'DIR' }),
      envOption,
    ],
    examples: ['gaol exec -it web sh', 'gaol exec web ls -l /'],
    load: () => processes().then((m) => m.exec),
  },
  {
    name: 'cp',
    summary: 'copy files between the host and a container (HANDLE:PATH; - for a tar on stdin/stdout)',
    usage: 'SRC DST',
    minArgs: 2,
    maxArgs: 2,
    completeArgs: ['file'],
    options: [
      opt('follow-link', 'L', 'boolean', 'copy what a symlink given as SRC points to'),
      opt('quiet', 'q', 'boolean', 'no progress or summary on stderr'),
    ],
    examples: ['gaol cp ./app web:/srv/', 'gaol cp web:/var/log/app.log .', 'gaol cp web:/etc - | tar t'],
    load: () => files().then((m) => m.cp),
  },
  // --- garden-ts extensions ------------------------------------------------------------------
  {
    name: 'events',
    summary: 'stream lifecycle events (created, destroyed, reaped, OOM, process exits) until Ctrl-C',
    usage: '[HANDLE...]',
    minArgs: 0,
    completeArgs: HANDLE,
    options: [
      opt(
        'type',
        undefined,
        'string',
        'only events of this type or group, e.g. process.exited, container (repeatable)',
        {
          multiple: true,
          arg: 'TYPE',
          complete: EVENT_TYPES,
        },
      ),
    ],
    json: true,
    examples: ['gaol events', 'gaol events web --type process.exited --json'],
    load: () => events().then((m) => m.events),
  },
  // --- gaol itself ---------------------------------------------------------------------------
  {
    name: 'completion',
    summary: 'print a shell completion script (bash or zsh)',
    usage: 'bash|zsh',
    minArgs: 1,
    maxArgs: 1,
    completeArgs: [['bash', 'zsh']],
    options: [],
    examples: ['source <(gaol completion bash)', 'source <(gaol completion zsh)'],
    load: () => completion().then((m) => m.completionScript),
  },
  {
    name: '__complete',
    summary: 'print completion candidates (used by the completion scripts)',
    usage: 'WORD...',
    minArgs: 0,
    passThroughAfter: 0,
    hidden: true,
    options: [],
    load: () => completion().then((m) => m.complete),
  },
];

/** The command called `name` (or an alias of it). */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
}

/** A command's options including `--json` for read commands and the global options. */
export function commandOptions(cmd: CommandSpec): OptionSpec[] {
  const own = [...cmd.options, ...(cmd.json ? [JSON_OPTION] : [])];
  const taken = new Set(own.flatMap((o) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])]));
  // A command's own short option wins over a global one (`exec -t` is --tty; --target still works).
  const globals = GLOBAL_OPTIONS.filter((g) => !taken.has(`--${g.long}`)).map((g) =>
    g.short && taken.has(`-${g.short}`) ? { ...g, short: undefined } : g,
  );
  return [...own, ...globals];
}
