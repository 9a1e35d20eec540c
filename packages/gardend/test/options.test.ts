/**
 * The option schema and what comes from it: the flag parser, GARDEND_* variables, the config file,
 * their precedence, cross-option checks, --help and the README tables.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SECOND } from '@garden-ts/api-types';
import { DEFAULT_MAX_IDLE_CONNECTIONS, DEFAULT_READ_HEADER_TIMEOUT } from '@garden-ts/server';
import { describe, expect, it } from 'vitest';
import {
  renderHelp,
  renderOptionsTable,
  TABLE_BEGIN,
  TABLE_END,
  withOptionsTable,
} from '../src/options/docs.js';
import { type LoadInput, loadOptions, UsageError } from '../src/options/load.js';
import {
  DEFAULT_DEPOT,
  envName,
  flagName,
  type GardendConfig,
  OPTIONS,
  optionList,
} from '../src/options/schema.js';

const CWD = '/work/here';

function load(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const input: LoadInput = {
    argv,
    env,
    cwd: CWD,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined)
        throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
      return text;
    },
  };
  return loadOptions(input);
}

function config(
  argv: string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): GardendConfig {
  const loaded = load(argv, env, files);
  if (loaded.kind !== 'run') throw new Error(`not a run: ${loaded.kind}`);
  return loaded.config;
}

const usageError = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('no UsageError');
};

describe('names come from the schema key', () => {
  it('flag, config key and environment variable', () => {
    expect(flagName('maxIdleConnections')).toBe('max-idle-connections');
    expect(envName('maxIdleConnections')).toBe('GARDEND_MAX_IDLE_CONNECTIONS');
    expect(envName('backend')).toBe('GARDEND_BACKEND');
    const flags = optionList().map((o) => flagName(o.key));
    expect(new Set(flags).size).toBe(flags.length);
    for (const flag of flags) expect(flag).toMatch(/^[a-z]+(-[a-z]+)*$/);
  });

  it('every default is a value of its type (it reads back from its own text)', () => {
    for (const { key, spec } of optionList()) {
      if (spec.default === undefined) continue;
      expect(spec.type.parse(spec.type.show(spec.default), { baseDir: '/' }), key).toEqual(spec.default);
    }
  });
});

describe('daemon and module options', () => {
  it('the debug options need --debug-bind-ip', () => {
    expect(config(['--backend', 'fake', '--debug-bind-ip', '127.0.0.1']).debugBindPort).toBe(17013);
    for (const extra of [['--debug-bind-port', '1'], ['--debug-container-metrics']]) {
      expect(usageError(() => load(['--backend', 'fake', ...extra]))).toMatch(/needs --debug-bind-ip/);
    }
  });

  it('--backend module needs --backend-module, a path or a package name', () => {
    expect(usageError(() => load(['--backend', 'module']))).toBe(
      '--backend module needs --backend-module PATH|PKG',
    );
    expect(config(['--backend', 'module', '--backend-module', './b.js']).backendModule).toBe(
      resolve(CWD, 'b.js'),
    );
    expect(config(['--backend', 'module', '--backend-module', '@acme/garden-backend']).backendModule).toBe(
      '@acme/garden-backend',
    );
    expect(usageError(() => load(['--backend', 'module', '--backend-module', 'a b']))).toMatch(
      /^--backend-module must be a file path/,
    );
    expect(usageError(() => load(['--backend', 'fake', '--backend-module', 'x']))).toMatch(
      /only applies to --backend module/,
    );
  });

  it('--backend-options is a JSON object (text on the command line, the object in the file)', () => {
    const m = ['--backend', 'module', '--backend-module', 'x'];
    expect(config([...m, '--backend-options', '{"a":1}']).backendOptions).toEqual({ a: 1 });
    expect(usageError(() => load([...m, '--backend-options', '[1]']))).toMatch(/must be a JSON object/);
    expect(usageError(() => load([...m, '--backend-options', '{']))).toMatch(/must be a JSON object/);
    const file = {
      '/work/here/g.json': '{"backend":"module","backend-module":"x","backend-options":{"b":true}}',
    };
    expect(config(['--config', 'g.json'], {}, file).backendOptions).toEqual({ b: true });
  });
});

describe('defaults', () => {
  it('fill in what no source sets', () => {
    const c = config(['--backend', 'linux']);
    expect(c).toEqual({
      backend: 'linux',
      bindSocket: '/tmp/garden.sock',
      bindIp: undefined,
      bindPort: undefined,
      defaultGraceTime: 0n,
      readHeaderTimeout: DEFAULT_READ_HEADER_TIMEOUT,
      maxIdleConnections: DEFAULT_MAX_IDLE_CONNECTIONS,
      logLevel: 'info',
      shutdownTimeout: 10n * SECOND,
      debugBindIp: undefined,
      debugBindPort: 17013,
      debugContainerMetrics: false,
      debugContainerMetricsLimit: 100,
      maxContainers: 0,
      portPoolStart: 61001,
      portPoolSize: 4534,
      depot: DEFAULT_DEPOT,
      runDir: undefined,
      defaultRootfs: undefined,
      destroyContainersOnStartup: false,
      cgroupParent: 'garden',
      stopTimeout: 10n * SECOND,
      diskStore: undefined,
      diskStoreSize: undefined,
      diskStoreQuotas: 'auto',
      networkPool: '10.254.0.0/22',
      mtu: 0,
      denyNetwork: [],
      allowHostAccess: false,
      dnsServer: [],
      additionalDnsServer: [],
      externalIp: undefined,
      networkNamespace: undefined,
      networkPlugin: undefined,
      networkPluginExtraArg: [],
      registryMirror: [],
      insecureDockerRegistry: [],
      preloadedRootfs: [],
      imageStore: undefined,
      imageGcKeepBytes: 0,
      imageTagTtl: 0n,
      backendModule: undefined,
      backendOptions: {},
      helperExecutable: undefined,
    } satisfies GardendConfig);
    expect(load(['--backend', 'fake'])).toMatchObject({
      kind: 'run',
      listen: { socketPath: '/tmp/garden.sock' },
    });
  });

  it('--backend has none', () => {
    expect(usageError(() => load([]))).toBe('--backend is required (fake, linux or module)');
  });
});

describe('flags', () => {
  it('take every option, resolving relative paths against the cwd', () => {
    const c = config([
      '--backend=linux',
      '--depot',
      'rel/depot',
      '--default-rootfs',
      'raw://rel/rootfs',
      '--max-containers',
      '250',
      '--destroy-containers-on-startup',
      '--cgroup-parent',
      'ci/garden-1',
      '--run-dir',
      'rel/run',
      '--stop-timeout',
      '2500ms',
      '--helper-executable',
      'none',
      '--read-header-timeout',
      '5s',
      '--max-idle-connections',
      '64',
      '--default-grace-time=5m',
      '--log-level',
      'debug',
    ]);
    expect(c).toMatchObject({
      depot: resolve(CWD, 'rel/depot'),
      runDir: resolve(CWD, 'rel/run'),
      defaultRootfs: `raw://${resolve(CWD, 'rel/rootfs')}`,
      maxContainers: 250,
      destroyContainersOnStartup: true,
      cgroupParent: 'ci/garden-1',
      stopTimeout: 2500n * 1_000_000n,
      helperExecutable: false,
      readHeaderTimeout: 5n * SECOND,
      maxIdleConnections: 64,
      defaultGraceTime: 300n * SECOND,
      logLevel: 'debug',
    });
    expect(config(['--backend', 'linux', '--helper-executable', '/opt/busybox']).helperExecutable).toBe(
      '/opt/busybox',
    );
  });

  it('take disk store sizes with binary units, or bytes', () => {
    const size = (v: string) => config(['--backend', 'linux', '--disk-store-size', v]).diskStoreSize;
    expect(size('100G')).toBe(100n << 30n);
    expect(size('512MiB')).toBe(512n << 20n);
    expect(size('1t')).toBe(1n << 40n);
    expect(size(String(300 * 1024 * 1024))).toBe(300n << 20n);
    expect(usageError(() => load(['--backend', 'linux', '--disk-store-size', '10M']))).toBe(
      '--disk-store-size must be at least 256M and below 8 EiB, got "10M"',
    );
    expect(usageError(() => load(['--backend', 'linux', '--disk-store-size', 'lots']))).toMatch(
      /^--disk-store-size must be a size such as 100G/,
    );
    expect(config(['--backend', 'linux', '--disk-store', 'none']).diskStore).toBe(false);
    expect(config(['--backend', 'linux', '--disk-store-quotas', 'full']).diskStoreQuotas).toBe('full');
    expect(usageError(() => load(['--backend', 'linux', '--disk-store-quotas', 'maybe']))).toMatch(
      /^--disk-store-quotas must be one of auto, simple, full/,
    );
  });

  it('lists: repeated flags add up; the variable holds them comma-separated, the file an array', () => {
    const c = config([
      '--backend',
      'linux',
      '--registry-mirror',
      'https://mirror-a.example',
      '--registry-mirror=http://127.0.0.1:5000',
      '--insecure-docker-registry',
      '127.0.0.1:5000',
      '--insecure-docker-registry',
      'registry.internal',
      '--preloaded-rootfs',
      'cflinuxfs4:rel/cflinuxfs4.tar',
      '--preloaded-rootfs',
      'busybox:/var/busybox',
      '--default-rootfs',
      'docker:///busybox#1.36',
      '--image-store',
      'rel/images',
      '--image-gc-keep-bytes',
      '1073741824',
      '--image-tag-ttl',
      '5m',
    ]);
    expect(c).toMatchObject({
      registryMirror: ['https://mirror-a.example', 'http://127.0.0.1:5000'],
      insecureDockerRegistry: ['127.0.0.1:5000', 'registry.internal'],
      preloadedRootfs: [
        { name: 'cflinuxfs4', path: resolve(CWD, 'rel/cflinuxfs4.tar') },
        { name: 'busybox', path: '/var/busybox' },
      ],
      defaultRootfs: 'docker:///busybox#1.36',
      imageStore: resolve(CWD, 'rel/images'),
      imageGcKeepBytes: 1073741824,
      imageTagTtl: 300n * SECOND,
    });
    const fromEnv = config(['--backend', 'linux'], {
      GARDEND_REGISTRY_MIRROR: 'https://a.example, https://b.example',
      GARDEND_PRELOADED_ROOTFS: 'x:/x.tar',
    });
    expect(fromEnv.registryMirror).toEqual(['https://a.example', 'https://b.example']);
    expect(fromEnv.preloadedRootfs).toEqual([{ name: 'x', path: '/x.tar' }]);
    // Flags replace the variable's list (a source wins as a whole), as for any option.
    expect(
      config(['--backend', 'linux', '--registry-mirror', 'https://c.example'], {
        GARDEND_REGISTRY_MIRROR: 'https://a.example',
      }).registryMirror,
    ).toEqual(['https://c.example']);
    const fromFile = config(
      ['--backend', 'linux', '--config', '/etc/gardend.json'],
      {},
      {
        '/etc/gardend.json': JSON.stringify({
          'insecure-docker-registry': ['10.0.0.5:5000', 'localhost:5000'],
          'preloaded-rootfs': ['cflinuxfs4:rootfs.tar'],
        }),
      },
    );
    expect(fromFile.insecureDockerRegistry).toEqual(['10.0.0.5:5000', 'localhost:5000']);
    expect(fromFile.preloadedRootfs).toEqual([{ name: 'cflinuxfs4', path: '/etc/rootfs.tar' }]);
    expect(
      usageError(() =>
        load(['--backend', 'linux', '--config', '/f.json'], {}, { '/f.json': '{"registry-mirror": [42]}' }),
      ),
    ).toMatch(/^\/f.json: registry-mirror \[0\] must be a JSON string/);
  });

  it('booleans: bare, =true/=false, --no-…; the last one wins', () => {
    const d = (argv: string[]) => config(['--backend', 'linux', ...argv]).destroyContainersOnStartup;
    expect(d(['--destroy-containers-on-startup'])).toBe(true);
    expect(d(['--destroy-containers-on-startup=false'])).toBe(false);
    expect(d(['--destroy-containers-on-startup', '--no-destroy-containers-on-startup'])).toBe(false);
    expect(d(['--no-destroy-containers-on-startup', '--destroy-containers-on-startup=yes'])).toBe(true);
  });

  it('listen on TCP with --bind-ip and --bind-port together, never with --bind-socket', () => {
    expect(load(['--backend', 'fake', '--bind-ip', '127.0.0.1', '--bind-port', '7777'])).toMatchObject({
      listen: { host: '127.0.0.1', port: 7777 },
    });
    expect(usageError(() => load(['--backend', 'fake', '--bind-ip', '127.0.0.1']))).toBe(
      '--bind-ip and --bind-port go together',
    );
    expect(
      usageError(() =>
        load(['--backend', 'fake', '--bind-port', '1', '--bind-ip', 'h', '--bind-socket', 's']),
      ),
    ).toBe('--bind-socket cannot be combined with --bind-ip/--bind-port');
  });

  it('help and version', () => {
    expect(load(['--help'])).toEqual({ kind: 'help' });
    expect(load(['--backend', 'fake', '-h'])).toEqual({ kind: 'help' });
    expect(load(['--version'])).toEqual({ kind: 'version' });
  });

  it('name the flag of every bad value', () => {
    const bad: [string[], string | RegExp][] = [
      [
        ['--max-containers', '1.5'],
        '--max-containers must be a whole number of containers (0 = unlimited), got "1.5"',
      ],
      [['--max-containers', ''], /^--max-containers must be a whole number/],
      [['--max-containers', '9999999999'], /^--max-containers/],
      [['--max-containers=-1'], /^--max-containers must be a whole number/],
      [['--default-rootfs', ''], /^--default-rootfs must name a directory/],
      [['--default-rootfs', 'raw://'], /^--default-rootfs/],
      [
        ['--default-rootfs', 's3://bucket/rootfs.tar'],
        /^--default-rootfs must be a directory, a rootfs tarball, raw:\/\/DIR or an image URI/,
      ],
      [['--registry-mirror', 'ftp://mirror'], /^--registry-mirror must be an http\(s\) URL/],
      [['--registry-mirror', 'not a url'], /^--registry-mirror must be an http\(s\) URL/],
      [['--insecure-docker-registry', 'bad host/x'], /^--insecure-docker-registry must be HOST or HOST:PORT/],
      [['--preloaded-rootfs', '/no/name'], /^--preloaded-rootfs must be NAME:PATH/],
      [['--preloaded-rootfs', 'name:'], /^--preloaded-rootfs must be NAME:PATH/],
      [['--image-gc-keep-bytes', '-1'], /^--image-gc-keep-bytes must be a whole number of bytes/],
      [['--image-tag-ttl', 'forever'], /^--image-tag-ttl must be a duration/],
      [['--depot', ''], '--depot must not be empty'],
      [['--cgroup-parent', '/abs'], /^--cgroup-parent must be a relative cgroup path/],
      [['--cgroup-parent', 'a//b'], /^--cgroup-parent/],
      [['--cgroup-parent', '../escape'], /^--cgroup-parent/],
      [['--cgroup-parent', ''], /^--cgroup-parent/],
      [['--run-dir', ''], '--run-dir must not be empty'],
      [['--stop-timeout', '10'], '--stop-timeout must be a duration such as 30s, 5m or 1h30m, got "10"'],
      [['--stop-timeout', '-1s'], /^--stop-timeout must not be negative/],
      [['--stop-timeout', '2h'], /^--stop-timeout must be at most 1h/],
      [['--read-header-timeout', 'soon'], /^--read-header-timeout must be a duration/],
      [['--max-idle-connections', '0'], /^--max-idle-connections must be a whole number of connections/],
      [
        ['--log-level', 'loud'],
        '--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      ],
      [['--bind-port', '65536'], /^--bind-port must be a port number \(0-65535\)/],
      [
        ['--destroy-containers-on-startup=maybe'],
        '--destroy-containers-on-startup must be true or false, got "maybe"',
      ],
      [['--frobnicate'], 'unknown option --frobnicate (see --help)'],
      [['--depot'], '--depot needs a value'],
      [['--depot', '--max-containers', '1'], '--depot needs a value'],
      [['stray'], 'unexpected argument "stray" (options start with --)'],
    ];
    for (const [args, message] of bad) {
      const got = usageError(() => load(['--backend', 'linux', ...args]));
      if (typeof message === 'string') expect(got).toBe(message);
      else expect(got).toMatch(message);
    }
  });

  it('network options: repeated list flags add up; addresses and networks are checked', () => {
    const c = config([
      '--backend',
      'linux',
      '--network-pool',
      '10.80.0.0/16',
      '--mtu',
      '1400',
      '--deny-network',
      '0.0.0.0/0',
      '--deny-network=10.0.0.0/8',
      '--allow-host-access',
      '--dns-server',
      '10.0.0.53',
      '--dns-server',
      'fd00::53',
      '--additional-dns-server',
      '1.1.1.1',
      '--external-ip',
      '192.0.2.1',
      '--network-namespace',
      '/run/netns/test',
      '--network-plugin',
      'rel/plugin',
      // A value starting with -- goes inline, as with Guardian's flag.
      '--network-plugin-extra-arg=--config=/x,y.json',
      '--network-plugin-extra-arg',
      'two',
    ]);
    expect(c).toMatchObject({
      networkPool: '10.80.0.0/16',
      mtu: 1400,
      denyNetwork: ['0.0.0.0/0', '10.0.0.0/8'],
      allowHostAccess: true,
      dnsServer: ['10.0.0.53', 'fd00::53'],
      additionalDnsServer: ['1.1.1.1'],
      externalIp: '192.0.2.1',
      networkNamespace: '/run/netns/test',
      networkPlugin: resolve(CWD, 'rel/plugin'),
      // One flag, one item: a comma inside a flag's value is kept.
      networkPluginExtraArg: ['--config=/x,y.json', 'two'],
    });
    // The environment takes comma-separated lists, a config file JSON arrays; flags replace both.
    expect(
      config(['--backend', 'linux'], { GARDEND_DENY_NETWORK: '10.0.0.0/8, 192.168.0.0/16' }).denyNetwork,
    ).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
    const file = {
      '/etc/g.json': '{"backend":"linux","dns-server":["10.1.1.1","10.2.2.2"],"deny-network":"0.0.0.0/0"}',
    };
    expect(config(['--config', '/etc/g.json'], {}, file)).toMatchObject({
      dnsServer: ['10.1.1.1', '10.2.2.2'],
      denyNetwork: ['0.0.0.0/0'],
    });
    expect(
      config(['--config', '/etc/g.json', '--dns-server', '9.9.9.9'], { GARDEND_DNS_SERVER: '8.8.8.8' }, file)
        .dnsServer,
    ).toEqual(['9.9.9.9']);
    const bad: [string[], string][] = [
      [
        ['--deny-network', '10.0.0.0'],
        '--deny-network must be an IPv4 network such as 10.254.0.0/22, got "10.0.0.0"',
      ],
      [
        ['--network-pool', '10.0.0.0/33'],
        '--network-pool must be an IPv4 network such as 10.254.0.0/22, got "10.0.0.0/33"',
      ],
      [
        ['--dns-server', 'dns.example'],
        '--dns-server must be an IP address such as 10.0.0.1, got "dns.example"',
      ],
      [
        ['--external-ip', '010.0.0.1'],
        '--external-ip must be an IPv4 address such as 10.0.0.1, got "010.0.0.1"',
      ],
      [['--mtu', '70000'], '--mtu must be an MTU (68-65535, or 0 = automatic), got "70000"'],
    ];
    for (const [args, message] of bad)
      expect(usageError(() => load(['--backend', 'linux', ...args]))).toBe(message);
    expect(
      usageError(() =>
        config(['--config', '/f.json'], {}, { '/f.json': '{"backend":"linux","dns-server":{"a":1}}' }),
      ),
    ).toBe('/f.json: dns-server must be a JSON array, got object');
  });

  it('options of another backend are refused, not ignored', () => {
    expect(usageError(() => load(['--backend', 'fake', '--depot', '/tmp/x']))).toBe(
      '--depot only applies to --backend linux (serving fake)',
    );
    expect(usageError(() => load(['--backend', 'fake', '--destroy-containers-on-startup']))).toMatch(
      /^--destroy-containers-on-startup only applies to --backend linux/,
    );
    expect(usageError(() => load(['--backend', 'fake', '--deny-network', '10.0.0.0/8']))).toBe(
      '--deny-network only applies to --backend linux (serving fake)',
    );
    expect(config(['--backend', 'linux', '--port-pool-size', '10']).portPoolSize).toBe(10);
    // Shared backend options are fine on each.
    expect(config(['--backend', 'fake', '--max-containers', '3']).maxContainers).toBe(3);
  });
});

describe('environment variables', () => {
  it('set any option; flags win', () => {
    const env = {
      GARDEND_BACKEND: 'linux',
      GARDEND_DEPOT: 'rel',
      GARDEND_MAX_CONTAINERS: '9',
      GARDEND_STOP_TIMEOUT: '1m',
    };
    expect(config([], env)).toMatchObject({
      backend: 'linux',
      depot: resolve(CWD, 'rel'),
      maxContainers: 9,
      stopTimeout: 60n * SECOND,
    });
    expect(config(['--max-containers', '1'], env).maxContainers).toBe(1);
    expect(
      config([], { ...env, GARDEND_DESTROY_CONTAINERS_ON_STARTUP: 'true' }).destroyContainersOnStartup,
    ).toBe(true);
  });

  it('an empty one is unset; an unknown or bad one is refused by name', () => {
    expect(config(['--backend', 'linux'], { GARDEND_DEPOT: '' }).depot).toBe(DEFAULT_DEPOT);
    expect(usageError(() => load(['--backend', 'linux'], { GARDEND_DEPO: '/x' }))).toBe(
      'GARDEND_DEPO is not a gardend option (see gardend --help)',
    );
    expect(usageError(() => load(['--backend', 'linux'], { GARDEND_MAX_CONTAINERS: 'lots' }))).toMatch(
      /^GARDEND_MAX_CONTAINERS must be a whole number of containers/,
    );
    expect(usageError(() => load([], { GARDEND_BACKEND: 'fake', GARDEND_DEPOT: '/x' }))).toMatch(
      /^GARDEND_DEPOT only applies to --backend linux/,
    );
    // Unrelated variables (the test harness's GARDEND command line) are not options.
    expect(config(['--backend', 'fake'], { GARDEND: 'node gardend.js', PATH: '/bin' }).backend).toBe('fake');
  });
});

describe('the config file', () => {
  const file = '/etc/garden/gardend.json';
  const files = {
    [file]: JSON.stringify({
      backend: 'linux',
      depot: 'depot',
      'max-containers': 250,
      'destroy-containers-on-startup': true,
      'stop-timeout': '30s',
      'helper-executable': 'none',
    }),
  };

  it('takes the flag names as keys, JSON types, and paths relative to itself', () => {
    expect(config(['--config', file], {}, files)).toMatchObject({
      backend: 'linux',
      depot: '/etc/garden/depot',
      maxContainers: 250,
      destroyContainersOnStartup: true,
      stopTimeout: 30n * SECOND,
      helperExecutable: false,
    });
    expect(config([], { GARDEND_CONFIG: file }, files).maxContainers).toBe(250);
  });

  it('precedence: flags > environment > file > defaults', () => {
    const c = config(
      ['--config', file, '--max-containers', '1'],
      { GARDEND_MAX_CONTAINERS: '2', GARDEND_STOP_TIMEOUT: '5s' },
      files,
    );
    expect(c.maxContainers).toBe(1);
    expect(c.stopTimeout).toBe(5n * SECOND);
    expect(c.depot).toBe('/etc/garden/depot');
    expect(c.cgroupParent).toBe('garden');
  });

  it('refuses unknown keys, wrong JSON types, bad JSON and missing files, naming them', () => {
    const bad = (content: string) => usageError(() => load(['--config', file], {}, { [file]: content }));
    expect(bad('{"backend":"fake","bind_socket":"/x"}')).toBe(
      `${file}: unknown option "bind_socket" (keys are the flag names without --, e.g. "bind-socket")`,
    );
    expect(bad('{"backend":"linux","max-containers":"ten"}')).toMatch(
      new RegExp(`^${file}: max-containers must be a whole number of containers`),
    );
    expect(bad('{"backend":"linux","max-containers":2.5}')).toMatch(/max-containers must be a whole number/);
    expect(bad('{"backend":"linux","stop-timeout":10}')).toBe(
      `${file}: stop-timeout must be a JSON string, got number`,
    );
    expect(bad('{"backend":"linux","destroy-containers-on-startup":"yes"}')).toBe(
      `${file}: destroy-containers-on-startup must be true or false, got string`,
    );
    expect(bad('{"backend":')).toMatch(new RegExp(`^--config ${file}: not valid JSON`));
    expect(bad('["backend"]')).toMatch(/must hold a JSON object of options/);
    expect(usageError(() => load(['--config', '/nope.json']))).toMatch(
      /^--config \/nope\.json: cannot read it: ENOENT/,
    );
    expect(usageError(() => load(['--config', file], {}, { [file]: '{"config":"other.json"}' }))).toMatch(
      /unknown option "config"/,
    );
  });
});

describe('--help and the README tables come from the schema', () => {
  it('help lists every option with its placeholder, default and backend group', () => {
    const help = renderHelp();
    for (const { key, spec } of optionList()) {
      expect(help).toContain(`--${flagName(key)}${spec.type.metavar ? ` ${spec.type.metavar}` : ''}`);
    }
    expect(help).toContain('--backend fake|linux');
    expect(help).toContain('--config FILE');
    expect(help).toContain('--version');
    const flat = help.replace(/\s+/g, ' ');
    expect(flat).toContain(`(default ${DEFAULT_DEPOT})`);
    expect(flat).toContain('(default 10s)');
    expect(help).toContain('Linux backend (--backend linux; root only):');
    expect(help).toContain('GARDEND_BIND_SOCKET');
    for (const line of help.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
  });

  it('the options table has a row per option with its variable', () => {
    const table = renderOptionsTable();
    for (const key of Object.keys(OPTIONS)) expect(table).toContain(`\`${envName(key)}\``);
    expect(table).toContain('`--helper-executable PATH\\|none`');
    expect(table.startsWith(TABLE_BEGIN) && table.endsWith(TABLE_END)).toBe(true);
  });

  for (const readme of ['../../../README.md', '../README.md']) {
    it(`${readme.slice(3)} carries the current table (regenerate: pnpm --filter @garden-ts/gardend run options-tables)`, () => {
      const text = readFileSync(join(import.meta.dirname, readme), 'utf8');
      expect(withOptionsTable(text)).toBe(text);
    });
  }
});
