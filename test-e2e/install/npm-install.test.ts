/**
 * npm installs that work (issue 14): every package is packed (`pnpm pack`, as for publishing) and
 * the tarballs are installed with npm into a fresh directory, as a new user would. Then, from that
 * install only: a busybox rootfs from `garden-ts-build-rootfs`, the installed
 * `gardend --backend linux` on a temp socket, depot and cgroup parent, a container driven by the
 * installed client (tar-stream's pack() into streamIn, durations with units, stringifyJson) and by
 * the installed `gaol`, and gardend's logs at the default level.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultRunDir } from '@garden-ts/backend-linux';
import { detectCgroupLayout } from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestNetwork, testNetwork } from '../../packages/backend-linux/test/netns.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const cgroupParent = `garden-e2e-install-${process.pid}`;

let dir: string;
let app: string;
let npmOutput = '';
let gardend: ChildProcess | undefined;
let net: TestNetwork | undefined;
let gardendLog = '';
let socketPath: string;
let depot: string;

/** Runs an installed command in the app directory. */
function installed(bin: string, args: string[], options: { input?: string } = {}) {
  return run(join(app, 'node_modules', '.bin', bin), args, { cwd: app, ...options }).catch(
    (err: { code?: number; stdout?: string; stderr?: string }) => {
      throw new Error(
        `${bin} ${args.join(' ')} failed (${err.code}): ${err.stderr ?? ''}${err.stdout ?? ''}`,
      );
    },
  );
}

/** The installed `gardend --backend linux` on this test's depot, rootfs and cgroup parent. */
function installedGardend(extra: string[], stderr: 'pipe' | 'ignore'): ChildProcess {
  const args = ['--backend', 'linux', '--depot', depot, '--default-rootfs', join(dir, 'rootfs')];
  // Network safety: the containers' bridges and nft tables go into a test-made namespace.
  net ??= testNetwork('install');
  return spawn(
    join(app, 'node_modules', '.bin', 'gardend'),
    [...args, '--cgroup-parent', cgroupParent, '--network-namespace', net.hostPath, ...extra],
    {
      cwd: app,
      stdio: ['ignore', 'ignore', stderr],
    },
  );
}

async function waitForPing(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await installed('gaol', ['--target', `unix://${socketPath}`, 'ping']);
      return;
    } catch (err) {
      if (gardend?.exitCode !== null) throw new Error(`gardend exited: ${gardendLog}`);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'garden-install-'));
  // Containers' (unmapped) root must pass through to the depot's files.
  chmodSync(dir, 0o711);
  const tarballs = join(dir, 'tarballs');
  mkdirSync(tarballs);
  const packages = readdirSync(join(repo, 'packages')).filter((name) => {
    const pkg = JSON.parse(readFileSync(join(repo, 'packages', name, 'package.json'), 'utf8'));
    return !pkg.private;
  });
  for (const name of packages) {
    await run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(repo, 'packages', name) });
  }
  app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'garden-app', private: true, type: 'module' }),
  );
  const { stdout, stderr } = await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=warn',
      'tar-stream@^3',
      ...readdirSync(tarballs).map((t) => join(tarballs, t)),
    ],
    { cwd: app, maxBuffer: 16 << 20 },
  );
  npmOutput = stdout + stderr;
  depot = join(dir, 'depot');
  socketPath = join(dir, 'garden.sock');
}, 600_000);

afterAll(async () => {
  if (gardend?.pid && gardend.exitCode === null) {
    process.kill(gardend.pid, 'SIGKILL');
    await new Promise((r) => gardend?.once('close', r));
  }
  // A failed run may leave containers: a sweeper gardend (the installed one) destroys them.
  if (app && existsSync(join(depot, 'containers')) && readdirSync(join(depot, 'containers')).length > 0) {
    const sweep = installedGardend(
      ['--destroy-containers-on-startup', '--bind-socket', join(dir, 'sweep.sock')],
      'ignore',
    );
    await new Promise((r) => setTimeout(r, 5000));
    if (sweep.pid && sweep.exitCode === null) process.kill(sweep.pid, 'SIGTERM');
    await new Promise((r) => sweep.once('close', r));
  }
  const layout = detectCgroupLayout();
  for (const mnt of new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) {
    const d = join(mnt, cgroupParent);
    if (existsSync(d)) rmdirSync(d);
  }
  if (depot) rmSync(defaultRunDir(depot), { recursive: true, force: true });
  net?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm install of the packed packages', { timeout: 120_000 }, () => {
  it('installs on Node 20 without engine warnings, with every command linked', () => {
    expect(npmOutput).not.toContain('EBADENGINE');
    for (const bin of ['gardend', 'gaol', 'garden-ts-build-rootfs']) {
      expect(existsSync(join(app, 'node_modules', '.bin', bin)), bin).toBe(true);
    }
    // pnpm pack leaves the native helpers without their executable bit; native-ns fixes it at load.
    const helper = join(app, 'node_modules', '@garden-ts', 'native-ns', 'build', 'Release', 'garden-shim');
    expect(existsSync(helper)).toBe(true);
    // Every published package carries its license, changelog and readme, and says where it comes
    // from and that it is public.
    const installedPackages = readdirSync(join(app, 'node_modules', '@garden-ts'));
    expect(installedPackages.length).toBeGreaterThanOrEqual(10);
    for (const pkg of installedPackages) {
      const root = join(app, 'node_modules', '@garden-ts', pkg);
      for (const name of ['LICENSE', 'CHANGELOG.md', 'README.md']) {
        expect(existsSync(join(root, name)), `${pkg}/${name}`).toBe(true);
      }
      const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
      expect(manifest.repository?.url, `${pkg} repository`).toMatch(/garden-ts/);
      expect(manifest.publishConfig?.access, `${pkg} publishConfig.access`).toBe('public');
    }
  });

  it('runs a container with the installed gardend --backend linux, client and gaol', async () => {
    await installed('garden-ts-build-rootfs', [join(dir, 'rootfs')]);
    expect(existsSync(join(dir, 'rootfs', 'bin', 'busybox'))).toBe(true);

    gardend = installedGardend(['--bind-socket', socketPath], 'pipe');
    gardend.stderr?.on('data', (d) => {
      gardendLog += d;
    });
    await waitForPing();

    // The installed client, in a program of the app.
    writeFileSync(
      join(app, 'hello.mjs'),
      `import { createClient, stringifyJson } from '@garden-ts/client';
import tar from 'tar-stream';
import { Writable } from 'node:stream';
const client = createClient({ socketPath: process.argv[2] });
const container = await client.create({ graceTime: '5m', properties: { from: 'npm' } });
const pack = tar.pack();
pack.entry({ name: 'greeting.txt' }, 'hello from an npm install\\n');
pack.finalize();
await container.streamIn({ path: '/srv', tarStream: pack });
let out = '';
const stdout = new Writable({ write(chunk, _enc, cb) { out += chunk; cb(); } });
const proc = await container.run({ path: 'cat', args: ['/srv/greeting.txt'] }, { stdout });
const status = await proc.wait();
const refused = await client.create({ graceTime: 300 }).then(() => 'accepted', (e) => e.constructor.name);
const metrics = JSON.parse(stringifyJson(await container.metrics()));
console.log(JSON.stringify({ status, out, refused, age: typeof metrics.age, handle: container.handle }));
await client.destroy(container.handle);
`,
    );
    const { stdout } = await run(process.execPath, ['hello.mjs', socketPath], { cwd: app });
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({
      status: 0,
      out: 'hello from an npm install\n',
      refused: 'TypeError',
      age: 'number',
    });

    // The installed gaol.
    const target = ['--target', `unix://${socketPath}`];
    const { stdout: handle } = await installed('gaol', [...target, 'create', '-n', `install-${process.pid}`]);
    expect(handle.trim()).toBe(`install-${process.pid}`);
    writeFileSync(join(app, 'note.txt'), 'copied by gaol\n');
    await installed('gaol', [...target, 'cp', 'note.txt', `${handle.trim()}:/tmp/`]);
    const { stdout: catted } = await installed('gaol', [
      ...target,
      'exec',
      handle.trim(),
      'cat',
      '/tmp/note.txt',
    ]);
    expect(catted).toBe('copied by gaol\n');
    const failed = await installed('gaol', [...target, 'exec', handle.trim(), 'sh', '-c', 'exit 7']).catch(
      (e: Error) => e.message,
    );
    expect(failed).toContain('failed (7)');
    await installed('gaol', [...target, 'destroy', handle.trim()]);
    expect((await installed('gaol', [...target, 'list'])).stdout).toBe('');

    // The helpers were made executable when native-ns loaded.
    const shim = join(app, 'node_modules', '@garden-ts', 'native-ns', 'build', 'Release', 'garden-shim');
    expect(statSync(shim).mode & 0o111).toBe(0o111);

    // SIGTERM: a clean stop; at the default level nothing was logged per request or process.
    const pid = gardend.pid as number;
    const closed = new Promise((r) => gardend?.once('close', r));
    process.kill(pid, 'SIGTERM');
    await closed;
    expect(gardend.exitCode).toBe(0);
    const lines = gardendLog
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; level: number });
    const perRequest = lines.filter((l) => /request|process stream/.test(l.msg));
    expect(perRequest).toEqual([]);
    expect(gardendLog).not.toContain('"stack"');
  });
});
