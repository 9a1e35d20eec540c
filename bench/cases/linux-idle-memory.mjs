// Server + supervision memory per idle container: a garden-ts server with backend-linux (a child
// process) holds N = 50 containers, each running one `sleep 3600` started through the TS client
// over the unix socket. value = (RSS of the server process + RSS of every garden-init and
// garden-shim process of those containers) / N, in MiB. The sleeps themselves are not counted
// (they are the workload). RSS counts shared pages (the static init/shim text, node's code) once
// per process, so PSS is given too. No peer: crun keeps no daemon and no per-container
// supervisor process (conmon/containerd-shim would be the comparable parts of other stacks).
import { readdirSync, readFileSync } from 'node:fs';
import {
  commOf,
  eachLimited,
  MEMORY_LIMIT,
  procKib,
  startLinuxServer,
  stopLinuxServer,
} from './linux-support/common.mjs';

const N = 50;
const KIB_PER_MIB = 1024;

/**
 * garden-init and garden-shim processes of this server: named so, and children of the server or
 * living in its cgroup parent (a process whose parent died would be reparented).
 * @param {import('./linux-support/common.mjs').LinuxServer} env
 */
function supervisionPids(env) {
  /** @type {{ init: number[], shim: number[] }} */
  const out = { init: [], shim: [] };
  for (const p of listPids()) {
    const comm = commOf(p);
    if (comm !== 'garden-init' && comm !== 'garden-shim') continue;
    let ours = false;
    try {
      // Field 4 of /proc/<pid>/stat is the parent PID; `comm` (field 2) has no spaces here.
      const ppid = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(' ')[3]);
      ours = ppid === env.pid || readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/${env.cgroupParent}/`);
    } catch {
      continue; // exited meanwhile
    }
    if (ours) out[comm === 'garden-init' ? 'init' : 'shim'].push(p);
  }
  return out;
}

/** PIDs of every process on the host. */
function listPids() {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number);
}

/** @param {number[]} pids @param {'status' | 'smaps_rollup'} file @param {string} field */
const sumKib = (pids, file, field) => pids.reduce((a, p) => a + procKib(p, file, field), 0);

export default {
  name: 'linux-idle-memory',
  description:
    'memory per idle container: (RSS of the garden-ts server process + RSS of every garden-init/garden-shim of N=50 containers each running one `sleep 3600`) / N, in MiB; details: PSS of the same per container (pssMiB), server RSS total and growth over its empty state (serverMiB, serverDeltaMiB), mean init and shim RSS (initKiB, shimKiB). No peer',
  unit: 'MiB',
  better: 'lower',
  pairs: 3,
  requires: ['root', 'linux'],
  async setup() {
    const env = await startLinuxServer('idle');
    try {
      const client = /** @type {import('@garden-ts/api-types').Client} */ (env.client);
      // The empty server's RSS, after a first request has loaded the lazily used code paths.
      await client.ping();
      const emptyServerKib = procKib(env.pid, 'status', 'VmRSS');
      const handles = Array.from({ length: N }, (_, i) => `bench-idle-${process.pid}-${i}`);
      await eachLimited(handles, 10, async (handle) => {
        env.handles.add(handle);
        const c = await client.create({
          handle,
          limits: { memory: { limitInBytes: BigInt(MEMORY_LIMIT) } },
        });
        await c.run({ path: 'sleep', args: ['3600'] }, {});
      });
      return { env, emptyServerKib };
    } catch (err) {
      await stopLinuxServer(env);
      throw err;
    }
  },
  /** @param {{ env: import('./linux-support/common.mjs').LinuxServer, emptyServerKib: number }} ctx */
  async measure(ctx) {
    const { init, shim } = supervisionPids(ctx.env);
    if (init.length !== N || shim.length < N) {
      throw new Error(
        `expected ${N} garden-init and ≥ ${N} garden-shim processes, found ${init.length} and ${shim.length}`,
      );
    }
    const serverKib = procKib(ctx.env.pid, 'status', 'VmRSS');
    const initKib = sumKib(init, 'status', 'VmRSS');
    const shimKib = sumKib(shim, 'status', 'VmRSS');
    const pssKib =
      procKib(ctx.env.pid, 'smaps_rollup', 'Pss') +
      sumKib(init, 'smaps_rollup', 'Pss') +
      sumKib(shim, 'smaps_rollup', 'Pss');
    return {
      value: (serverKib + initKib + shimKib) / KIB_PER_MIB / N,
      pssMiB: pssKib / KIB_PER_MIB / N,
      serverMiB: serverKib / KIB_PER_MIB,
      serverDeltaMiB: (serverKib - ctx.emptyServerKib) / KIB_PER_MIB,
      initKiB: initKib / init.length,
      shimKiB: shimKib / shim.length,
      shims: shim.length,
    };
  },
  /** @param {{ env: import('./linux-support/common.mjs').LinuxServer }} ctx */
  async teardown(ctx) {
    await stopLinuxServer(ctx.env);
  },
};
