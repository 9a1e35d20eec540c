// A backend-linux in this process on a fresh depot and cgroup parent, for cases that time the
// backend itself (no server or wire in between), and its cleanup: containers destroyed, backend
// stopped (the disk store unmounted with no container left), leftover mounts and cgroups removed,
// the temp dir deleted.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRootfs, loadPackage, removeCgroupTree, stats, unmountUnder } from './common.mjs';

let seq = 0;

/**
 * @typedef {object} InProcessBackend
 * @property {import('@garden-ts/backend-linux').LinuxBackend} backend
 * @property {string} work
 * @property {string} cgroupParent
 */

/**
 * @param {string} tag short name in temp paths and the cgroup parent
 * @param {Partial<import('@garden-ts/backend-linux').LinuxBackendOptions>} [options]
 * @returns {Promise<InProcessBackend>}
 */
export async function startBackend(tag, options = {}) {
  if (process.getuid?.() !== 0) throw new Error('linux benches need root');
  const { createLinuxBackend } = await loadPackage('@garden-ts/backend-linux');
  const work = mkdtempSync(join(tmpdir(), `garden-bench-${tag}-`));
  chmodSync(work, 0o755); // the container's mapped root opens bind-mount sources in the depot
  const cgroupParent = `garden-bench-${process.pid}-${tag}-${seq++}`;
  const backend = createLinuxBackend({
    depot: join(work, 'depot'),
    defaultRootfs: busyboxRootfs(),
    cgroupParent,
    // GARDEN_BENCH_QUOTAS=full|simple: the disk store's quotas (default auto: simple on this kernel).
    ...(process.env.GARDEN_BENCH_QUOTAS ? { diskStore: { quotas: process.env.GARDEN_BENCH_QUOTAS } } : {}),
    ...options,
  });
  try {
    await backend.start();
  } catch (err) {
    await stopBackend({ backend, work, cgroupParent }).catch(() => undefined);
    throw err;
  }
  return { backend, work, cgroupParent };
}

/** @param {InProcessBackend} env */
export async function stopBackend(env) {
  try {
    for (const h of env.backend.handles()) await env.backend.destroy(h).catch(() => undefined);
    await env.backend.stop();
  } finally {
    unmountUnder(env.work);
    await removeCgroupTree(env.cgroupParent).catch(() => undefined);
    rmSync(env.work, { recursive: true, force: true });
  }
}

/**
 * @typedef {object} CreateSide
 * @property {InProcessBackend} env
 * @property {import('@garden-ts/api-types').ContainerSpec} spec
 */

/**
 * `n` pairs of sequential creates, one of side `a` and one of side `b` in each (alternating which
 * goes first, so drift hits both alike); then every container is destroyed and the background
 * removals awaited (not timed). Returns the median of the per-pair differences a − b and each
 * side's p50, in ms.
 * @param {number} n
 * @param {CreateSide} a
 * @param {CreateSide} b
 */
export async function pairedCreates(n, a, b) {
  /** @type {number[]} */
  const ta = [];
  /** @type {number[]} */
  const tb = [];
  /** @type {[InProcessBackend, string][]} */
  const made = [];
  const one = async (/** @type {CreateSide} */ side, /** @type {number[]} */ into) => {
    const t0 = performance.now();
    const c = await side.env.backend.create(side.spec);
    into.push(performance.now() - t0);
    made.push([side.env, c.handle]);
  };
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      await one(a, ta);
      await one(b, tb);
    } else {
      await one(b, tb);
      await one(a, ta);
    }
  }
  for (const [env, h] of made) await env.backend.destroy(h);
  await a.env.backend.settled();
  await b.env.backend.settled();
  const diffs = ta.map((t, i) => t - /** @type {number} */ (tb[i]));
  return { difference: stats(diffs).p50, a: stats(ta).p50, b: stats(tb).p50 };
}
