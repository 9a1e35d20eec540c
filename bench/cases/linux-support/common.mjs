// Shared fixtures of the bench/cases/linux-*.mjs cases: a garden-ts server over backend-linux in
// a child process (temp depot, own cgroup parent, unix socket), the TS client talking to it, and
// a cleanup that releases everything even after a failure (containers through the client, then
// a sweeping backend, leftover processes by PID, mounts, cgroups, the temp dir); plus crun
// bundles equivalent to a garden-ts container (same namespaces, user-ns maps, memory limit).
//
// Lives in a subdirectory so the harness does not load it as a case. Needs root and the built
// packages: `pnpm --filter @garden-ts/bench... build && pnpm --filter @garden-ts/native-ns build:native`.
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNs, ociBundle, repo } from '../../../packages/native-ns/bench/common.mjs';

export { crunArgs, runCmd, stats, which } from '../../../packages/native-ns/bench/common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SERVER_SCRIPT = join(here, 'server.mjs');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const DESTROY_ALL_TIMEOUT_MS = 120_000;

/** The memory limit every benchmarked container gets (garden-ts and peer alike). */
export const MEMORY_LIMIT = 64 * 1024 * 1024;

/**
 * A workspace package from its built dist, with "not built" turned into a clear error.
 * @param {string} name
 */
export async function loadPackage(name) {
  try {
    return await import(name);
  } catch (err) {
    if (/** @type {{ code?: string }} */ (err)?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(`${name} is not built: run \`pnpm --filter @garden-ts/bench... build\``, {
        cause: err,
      });
    }
    throw err;
  }
}

/** The busybox rootfs (scripts/build-rootfs.sh builds it when missing). */
export function busyboxRootfs() {
  const rootfs = join(repo, '.rootfs', 'busybox');
  if (!existsSync(join(rootfs, 'bin', 'busybox'))) {
    execFileSync('bash', [join(repo, 'scripts', 'build-rootfs.sh'), rootfs], { stdio: 'inherit' });
  }
  return rootfs;
}

let serverSeq = 0;

/**
 * @typedef {object} LinuxServer
 * @property {string} work      temp dir holding the depot and the socket
 * @property {string} depot
 * @property {string} socketPath
 * @property {string} cgroupParent
 * @property {string} rootfs
 * @property {import('node:child_process').ChildProcess | undefined} child
 * @property {number} pid       the server's PID (0 before it is up)
 * @property {import('@garden-ts/api-types').Client | undefined} client
 * @property {Set<string>} handles handles the case created and has not destroyed yet
 * @property {string} stderr    the server's last stderr bytes (diagnostics)
 * @property {TestNetwork | undefined} net the test-made namespaces the containers are networked in
 */

/**
 * @typedef {object} TestNetwork
 * @property {string} host     name of the "host" namespace (`ip netns`), file /run/netns/<host>
 * @property {string} outside  name of the "outside" namespace joined to it by a veth
 * @property {string} hostPath
 */

/** The host end's and the outside end's addresses of the veth between the test namespaces. */
export const HOST_IP = '192.0.2.1';
export const OUTSIDE_IP = '192.0.2.2';

/**
 * Network safety: benches that give containers a network do it in a test-made "host" namespace
 * (default route via an "outside" namespace on a veth, forwarding on), never in the machine's own.
 * @param {string} tag
 * @returns {TestNetwork}
 */
export function testNetwork(tag) {
  const base = `gtbench-${tag}-${process.pid}`.slice(0, 40);
  const host = `${base}-h`;
  const outside = `${base}-o`;
  const ip = (/** @type {string[]} */ ...args) => execFileSync('ip', args, { stdio: 'ignore' });
  ip('netns', 'add', host);
  try {
    ip('netns', 'add', outside);
    ip('-n', host, 'link', 'set', 'lo', 'up');
    ip('-n', outside, 'link', 'set', 'lo', 'up');
    ip('-n', host, 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside);
    ip('-n', host, 'addr', 'add', `${HOST_IP}/24`, 'dev', 'ext0');
    ip('-n', host, 'link', 'set', 'ext0', 'up');
    ip('-n', outside, 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0');
    ip('-n', outside, 'link', 'set', 'eth0', 'up');
    ip('-n', host, 'route', 'add', 'default', 'via', OUTSIDE_IP);
  } catch (err) {
    deleteTestNetwork({ host, outside, hostPath: `/run/netns/${host}` });
    throw err;
  }
  return { host, outside, hostPath: `/run/netns/${host}` };
}

/**
 * Kills what still runs in the test namespaces (all started by the bench) and deletes them.
 * @param {TestNetwork} net
 */
export function deleteTestNetwork(net) {
  for (const ns of [net.outside, net.host]) {
    let pids = '';
    try {
      pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
    } catch {
      continue; // not there
    }
    for (const pid of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

/**
 * Starts a garden-ts server with backend-linux on a fresh depot, cgroup parent and unix socket,
 * and a client for it. On failure everything already made is cleaned up before the throw.
 * @param {string} tag short name used in temp paths and the cgroup parent
 * @param {{ network?: boolean }} [options] network (default true): containers are networked, in
 *   a test-made host namespace; false: containers with only `lo`
 * @returns {Promise<LinuxServer>}
 */
export async function startLinuxServer(tag, options = {}) {
  if (process.getuid?.() !== 0) throw new Error('linux benches need root');
  const { createClient } = await loadPackage('@garden-ts/client');
  await loadPackage('@garden-ts/backend-linux');
  await loadPackage('@garden-ts/server');
  await loadNs();
  const rootfs = busyboxRootfs();
  const work = mkdtempSync(join(tmpdir(), `garden-bench-${tag}-`));
  // The container's mapped root opens bind-mount sources in the depot: it needs search permission.
  chmodSync(work, 0o755);
  /** @type {LinuxServer} */
  const env = {
    work,
    depot: join(work, 'depot'),
    socketPath: join(work, 'garden.sock'),
    cgroupParent: `garden-bench-${process.pid}-${tag}-${serverSeq++}`,
    rootfs,
    child: undefined,
    pid: 0,
    client: undefined,
    handles: new Set(),
    stderr: '',
    net: undefined,
  };
  try {
    if (options.network !== false) env.net = testNetwork(tag);
    const child = spawn(
      process.execPath,
      [SERVER_SCRIPT, env.depot, env.socketPath, rootfs, env.cgroupParent, env.net?.hostPath ?? 'off'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    env.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (/** @type {string} */ s) => {
      env.stderr = (env.stderr + s).slice(-4000);
    });
    env.pid = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`server not ready after ${READY_TIMEOUT_MS} ms: ${env.stderr}`)),
        READY_TIMEOUT_MS,
      );
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (/** @type {string} */ s) => {
        out += s;
        const m = /^ready (\d+)$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${code ?? signal}) before ready: ${env.stderr}`));
      });
    });
    env.client = createClient({ socketPath: env.socketPath });
    return env;
  } catch (err) {
    await stopLinuxServer(env).catch(() => undefined);
    throw err;
  }
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight.
 * @template T
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T) => Promise<unknown>} fn
 */
export async function eachLimited(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = /** @type {T} */ (items[next++]);
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * `fn()`, rejected after `ms` milliseconds if it has not settled by then.
 * @template T
 * @param {number} ms
 * @param {string} what named in the timeout error
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
export async function withTimeout(ms, what, fn) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
  });
  try {
    return /** @type {T} */ (await Promise.race([fn(), timeout]));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * PIDs of processes whose command line mentions `needle` (the depot: helpers the server runs
 * with depot paths in their arguments, e.g. mount or umount; garden-init and garden-shim carry
 * none and go with their containers' destroy or, for spare shims, when the server exits).
 * @param {string} needle
 * @returns {number[]}
 */
export function pidsMentioning(needle) {
  const out = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) out.push(Number(p));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Everything a case leaves behind goes: its containers (through the client while the server is
 * up), the server (SIGTERM, SIGKILL after 15 s), containers a crashed server left (a sweeping
 * backend with destroyContainersOnStartup), stray processes mentioning the depot (by PID),
 * mounts under the temp dir, the cgroup parent in every hierarchy, the temp dir. Every step runs
 * even when an earlier one failed; the first failure is rethrown at the end.
 * @param {LinuxServer} env
 */
export async function stopLinuxServer(env) {
  /** @type {unknown[]} */
  const errors = [];
  const step = async (/** @type {() => unknown} */ fn) => {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  };
  const child = env.child;
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  if (env.client && alive()) {
    const client = env.client;
    await step(() =>
      // A wedged server must not hang the bench: the sweep below still releases everything.
      withTimeout(DESTROY_ALL_TIMEOUT_MS, 'destroying the containers through the client', async () => {
        const listed = (await client.containers()).map((c) => c.handle);
        const all = [...new Set([...env.handles, ...listed])];
        await eachLimited(all, 16, (h) => client.destroy(h).catch(() => undefined));
        env.handles.clear();
      }),
    );
  }
  if (child && alive()) {
    await step(async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    });
  }
  child?.stdout?.destroy();
  child?.stderr?.destroy();
  if (existsSync(join(env.depot, 'containers')) && readdirSync(join(env.depot, 'containers')).length > 0) {
    await step(async () => {
      const { createLinuxBackend } = await loadPackage('@garden-ts/backend-linux');
      const sweeper = createLinuxBackend({
        depot: env.depot,
        defaultRootfs: env.rootfs,
        cgroupParent: env.cgroupParent,
        destroyContainersOnStartup: true,
        network: env.net ? { hostNetns: env.net.hostPath } : false,
      });
      await sweeper.start();
      await sweeper.stop();
    });
  }
  await step(() => {
    for (const pid of pidsMentioning(env.depot)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  const net = env.net;
  if (net) await step(() => deleteTestNetwork(net));
  await step(() => unmountUnder(env.work));
  await step(() => removeCgroupTree(env.cgroupParent));
  await step(() => rmSync(env.work, { recursive: true, force: true }));
  if (errors.length > 0) throw errors[0];
}

/**
 * Lazily unmounts every mount point under `dir`, deepest first.
 * @param {string} dir
 */
export function unmountUnder(dir) {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mp of points) execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
}

/**
 * Removes a cgroup directory (relative to each hierarchy root) and its children, in every
 * hierarchy of the host; its processes must be gone.
 * @param {string} relative
 */
export async function removeCgroupTree(relative) {
  const ns = await loadNs();
  const layout = ns.detectCgroupLayout();
  const roots = new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])]);
  for (const root of roots) {
    const dir = join(/** @type {string} */ (root), relative);
    if (existsSync(dir)) rmdirDeep(dir);
  }
}

/** @param {string} dir */
function rmdirDeep(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) rmdirDeep(join(dir, e.name));
  }
  rmdirSync(dir);
}

/**
 * Kibibytes of a `/proc/<pid>/…` field such as `VmRSS:` or `Pss:`; 0 when the process is gone.
 * @param {number} pid
 * @param {'status' | 'smaps_rollup'} file
 * @param {string} field
 */
export function procKib(pid, file, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * The command name of a process (`/proc/<pid>/comm`), or '' when it is gone.
 * @param {number} pid
 */
export function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * An OCI bundle equivalent to a garden-ts unprivileged container: the same namespaces (pid,
 * mount, uts, ipc, net, user, cgroup), user-ns maps, masked and read-only /proc paths, and a
 * memory limit with no swap escape (swap = memory), in its own cgroup `cgroupsPath`.
 * @param {string} dir bundle directory (created)
 * @param {string} rootfs a rootfs whose root-owned files belong to the mapped root
 * @param {string[]} args
 * @param {string} cgroupsPath
 */
export function crunBundle(dir, rootfs, args, cgroupsPath) {
  ociBundle(dir, rootfs, args);
  const file = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8'));
  config.linux.namespaces = ['pid', 'network', 'ipc', 'uts', 'mount', 'user', 'cgroup'].map((type) => ({
    type,
  }));
  config.linux.resources = { memory: { limit: MEMORY_LIMIT, swap: MEMORY_LIMIT } };
  config.linux.cgroupsPath = cgroupsPath;
  writeFileSync(file, JSON.stringify(config));
  return dir;
}

/**
 * Ids of the crun containers whose id starts with `prefix` (`crun list`, via `argsFor` so the
 * hybrid-cgroup workaround applies).
 * @param {(args: string[]) => unknown[]} argsFor `[cmd, args]` of a runtime command line
 * @param {string} prefix
 * @returns {string[]}
 */
export function runtimeContainers(argsFor, prefix) {
  const [cmd, args] = /** @type {[string, string[]]} */ (argsFor(['list', '--quiet']));
  const out = execFileSync(cmd, args, { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((id) => id.startsWith(prefix));
}

/**
 * Force-deletes the given crun/runc containers; errors are collected and the first rethrown.
 * @param {(args: string[]) => unknown[]} argsFor `[cmd, args]` of a runtime command line
 * @param {string[]} ids
 */
export function deleteRuntimeContainers(argsFor, ids) {
  let first;
  for (const id of ids) {
    const [cmd, args] = /** @type {[string, string[]]} */ (argsFor(['delete', '--force', id]));
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}
