/**
 * The gardend executable, built with tsup the way `pnpm build` builds it and run as a child
 * process: --help, --version, bad flags, serving on a unix socket, clean SIGTERM shutdown, the
 * checks of `--backend linux` that need no container (real containers:
 * test-e2e/linux/gardend-linux.test.ts, root only); and the startup helpers directly. The option
 * loader itself: options.test.ts.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkgJson from '../package.json' with { type: 'json' };
import { findRepoRoot, resolveDefaultRootfs, unsearchableAncestor } from '../src/backends/linux.js';
import { StartupError } from '../src/backends/types.js';
import { DEFAULT_DEPOT } from '../src/options/schema.js';
import { buildGardend } from './helpers/build.js';
import { call, ping } from './helpers/http.js';

const pkg = join(import.meta.dirname, '..');
let bin: string;
let dir: string;

beforeAll(async () => {
  bin = await buildGardend('gardend-test');
  dir = mkdtempSync(join(tmpdir(), 'gardend-'));
}, 60_000);
// A failing assertion must not leave a server running: every child still alive is killed.
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function run(
  args: string[],
  options: SpawnOptions & { script?: string } = {},
): {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, [options.script ?? bin, ...args], {
    ...options,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

describe('gardend', () => {
  it('prints help', async () => {
    const { code, stdout } = await run(['--help']).done;
    expect(code).toBe(0);
    expect(stdout).toContain('--backend fake|linux');
    expect(stdout).toContain('--default-grace-time');
  });

  it('prints its version', async () => {
    const { code, stdout } = await run(['--version']).done;
    expect(code).toBe(0);
    expect(stdout).toBe(`gardend ${pkgJson.version}\n`);
  });

  it('takes its options from flags over GARDEND_* variables over the config file', async () => {
    const file = join(dir, 'gardend.json');
    const [fromFile, fromEnv, fromFlag] = ['file.sock', 'env.sock', 'flag.sock'].map((n) => join(dir, n)) as [
      string,
      string,
      string,
    ];
    writeFileSync(file, JSON.stringify({ backend: 'fake', 'bind-socket': fromFile, 'log-level': 'silent' }));
    const serves = async (args: string[], env: Record<string, string>, socketPath: string) => {
      const { child, done } = run(args, { env: { ...process.env, ...env } });
      await expect
        .poll(() => ping(socketPath).catch(() => ''), { timeout: 10_000, interval: 50 })
        .toBe('{}\n');
      child.kill('SIGTERM');
      expect((await done).code).toBe(0);
    };
    await serves(['--config', file], {}, fromFile);
    await serves([], { GARDEND_CONFIG: file, GARDEND_BIND_SOCKET: fromEnv }, fromEnv);
    await serves(['--config', file, '--bind-socket', fromFlag], { GARDEND_BIND_SOCKET: fromEnv }, fromFlag);
    // A bad value names its source.
    const bad = await run(['--config', file], { env: { ...process.env, GARDEND_MAX_CONTAINERS: 'many' } })
      .done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('gardend: GARDEND_MAX_CONTAINERS must be a whole number of containers');
  }, 40_000);

  it('hands its fake-backend options to backend-fake', async () => {
    const socketPath = join(dir, 'fake-options.sock');
    const env = { ...process.env, GARDEND_PORT_POOL_START: '62000' };
    const { child, done } = run(
      ['--backend', 'fake', '--bind-socket', socketPath, '--port-pool-size', '10', '--max-containers', '1'],
      { env },
    );
    await expect.poll(() => ping(socketPath).catch(() => ''), { timeout: 10_000, interval: 50 }).toBe('{}\n');
    expect((await call(socketPath, 'POST', '/containers', '{"handle":"a"}')).status).toBe(200);
    expect(JSON.parse((await call(socketPath, 'POST', '/containers/a/net/in', '{}')).body)).toMatchObject({
      host_port: 62000,
    });
    const second = await call(socketPath, 'POST', '/containers', '{"handle":"b"}');
    expect(second.status).toBe(500);
    expect(JSON.parse(second.body).Message).toMatch(/max containers/);
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
    // A pool beyond the last port: refused at startup, naming the options.
    const bad = await run([
      '--backend',
      'fake',
      '--bind-socket',
      join(dir, 'bad-pool.sock'),
      '--port-pool-start',
      '65530',
    ]).done;
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('gardend: --port-pool-start/--port-pool-size: invalid port pool 65530+4534');
  }, 30_000);

  it('rejects bad flags with a message naming them and exit code 2', async () => {
    const unknown = await run(['--backend', 'fake', '--frobnicate']).done;
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--frobnicate');
    const badDuration = await run(['--backend', 'fake', '--default-grace-time', 'soon']).done;
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toContain('--default-grace-time');
    const missing = await run([]).done;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--backend is required');
  });

  it('documents the linux backend flags', async () => {
    const { stdout } = await run(['--help']).done;
    for (const flag of [
      '--depot DIR',
      '--default-rootfs PATH',
      '--max-containers N',
      '--destroy-containers-on-startup',
      '--cgroup-parent NAME',
      '--run-dir DIR',
    ]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toContain(DEFAULT_DEPOT);
  });

  it('rejects bad linux flag values with exit code 2, naming the flag', async () => {
    for (const [args, flag] of [
      [['--max-containers=-1'], '--max-containers'],
      [['--default-rootfs', 's3://bucket/rootfs.tar'], '--default-rootfs'],
      [['--depot', ''], '--depot'],
      [['--cgroup-parent', '../escape'], '--cgroup-parent'],
    ] as const) {
      const { code, stderr } = await run(['--backend', 'linux', ...args]).done;
      expect(code).toBe(2);
      expect(stderr).toContain(`gardend: ${flag}`);
    }
    const onFake = await run(['--backend', 'fake', '--depot', '/tmp/x']).done;
    expect(onFake.code).toBe(2);
    expect(onFake.stderr).toContain('--depot only applies to --backend linux');
  });

  it('needs root for --backend linux', async () => {
    // As root, drop to nobody; otherwise we are not root already.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const { code, stderr } = await run(['--backend', 'linux', '--bind-socket', join(dir, 'x.sock')], {
      ...asNobody,
      cwd: '/',
    }).done;
    expect(code).toBe(1);
    expect(stderr).toContain('gardend: --backend linux must run as root');
  });

  it.runIf(process.getuid?.() === 0)(
    'says so when the optional backend-linux package is not installed',
    async () => {
      // gardend installed without its optional dependency (as off Linux): every other package
      // of the server's node_modules, but no @garden-ts/backend-linux.
      const install = join(dir, 'install');
      mkdirSync(join(install, 'node_modules'), { recursive: true });
      const deps = join(pkg, 'node_modules');
      for (const name of readdirSync(deps)) {
        if (name === '@garden-ts' || name === '.cache' || name === '.bin') continue;
        symlinkSync(join(deps, name), join(install, 'node_modules', name));
      }
      copyFileSync(bin, join(install, 'gardend.js'));
      const { code, stderr } = await run(
        ['--backend', 'linux', '--bind-socket', join(dir, 'y.sock'), '--depot', join(dir, 'depot')],
        { script: join(install, 'gardend.js') },
      ).done;
      expect(code).toBe(1);
      expect(stderr).toContain(
        'gardend: --backend linux needs the package @garden-ts/backend-linux, which is not installed',
      );
      expect(existsSync(join(dir, 'depot'))).toBe(false);
    },
  );

  it('refuses to take over a socket another server listens on', async () => {
    const socketPath = join(dir, 'taken.sock');
    const first = run(['--backend', 'fake', '--bind-socket', socketPath]);
    await expect
      .poll(async () => await ping(socketPath).catch(() => undefined), { timeout: 10_000, interval: 50 })
      .toBe('{}\n');
    const second = await run(['--backend', 'fake', '--bind-socket', socketPath]).done;
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`--bind-socket ${socketPath}: another server is already listening there`);
    // The first one still owns the socket.
    expect(await ping(socketPath)).toBe('{}\n');
    first.child.kill('SIGTERM');
    expect((await first.done).code).toBe(0);
  }, 20_000);

  it('serves on a unix socket and shuts down cleanly on SIGTERM', async () => {
    const socketPath = join(dir, 'garden.sock');
    const { child, done } = run([
      '--backend',
      'fake',
      '--bind-socket',
      socketPath,
      '--default-grace-time',
      '5m',
      // Per-request lines are debug level (info stays cheap under load).
      '--log-level',
      'debug',
    ]);
    await expect.poll(() => existsSync(socketPath), { timeout: 10_000, interval: 50 }).toBe(true);
    // Listening happens right after the socket file appears; retry the first ping briefly.
    let body = '';
    await expect
      .poll(
        async () => {
          try {
            body = await ping(socketPath);
          } catch {
            body = '';
          }
          return body;
        },
        { timeout: 5000, interval: 50 },
      )
      .toBe('{}\n');
    child.kill('SIGTERM');
    const { code, stderr } = await done;
    expect(code).toBe(0);
    const lines = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; reqId?: string });
    expect(lines.some((l) => l.msg === 'garden server listening')).toBe(true);
    expect(lines.some((l) => l.msg === 'request completed' && l.reqId !== undefined)).toBe(true);
    expect(lines.at(-1)?.msg).toBe('stopped');
    expect(existsSync(socketPath)).toBe(false);
  }, 20_000);
});

describe('linux backend startup helpers', () => {
  const repo = join(pkg, '..', '..');

  it('finds the checkout gardend runs from, and nothing outside it', () => {
    expect(findRepoRoot(join(pkg, 'dist', 'bin'))).toBe(repo);
    expect(findRepoRoot(dirname(bin))).toBe(repo);
    expect(findRepoRoot(tmpdir())).toBeUndefined();
  });

  it('defaults the rootfs to the checkout, else requires --default-rootfs', () => {
    const fakeRepo = mkdtempSync(join(tmpdir(), 'gardend-repo-'));
    try {
      expect(() => resolveDefaultRootfs(undefined, undefined)).toThrow(/^--default-rootfs is required/);
      expect(() => resolveDefaultRootfs(undefined, fakeRepo)).toThrow(
        `no default rootfs: ${join(fakeRepo, '.rootfs', 'busybox')} does not exist; build it with \`bash ${join(fakeRepo, 'scripts', 'build-rootfs.sh')}\``,
      );
      mkdirSync(join(fakeRepo, '.rootfs', 'busybox'), { recursive: true });
      expect(resolveDefaultRootfs(undefined, fakeRepo)).toBe(join(fakeRepo, '.rootfs', 'busybox'));
      // The flag wins, as a directory or raw://DIR, and must exist.
      expect(resolveDefaultRootfs(fakeRepo, undefined)).toBe(fakeRepo);
      expect(resolveDefaultRootfs(`raw://${fakeRepo}`, undefined)).toBe(`raw://${fakeRepo}`);
      expect(() => resolveDefaultRootfs(join(fakeRepo, 'none'), fakeRepo)).toThrow(StartupError);
      expect(() => resolveDefaultRootfs(`raw://${join(fakeRepo, 'none')}`, fakeRepo)).toThrow(
        `--default-rootfs raw://${join(fakeRepo, 'none')}: no such directory`,
      );
    } finally {
      rmSync(fakeRepo, { recursive: true, force: true });
    }
  });

  it('finds a depot ancestor containers cannot pass through', () => {
    const top = mkdtempSync(join(tmpdir(), 'gardend-depot-')); // mode 0700
    try {
      expect(unsearchableAncestor(join(top, 'a', 'depot'))).toBe(top);
      chmodSync(top, 0o755);
      // Searchable all the way down, and missing ancestors (created 0755 by gardend) do not count.
      expect(unsearchableAncestor(join(top, 'missing', 'depot'))).toBeUndefined();
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });
});
