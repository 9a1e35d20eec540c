// Shared fixtures of the bench/cases/native-*.mjs cases: a shifted busybox rootfs, cgroups, OCI
// bundles for crun/runc, percentile maths. Needs root, `pnpm --filter @garden-ts/native-ns
// build:native && pnpm --filter @garden-ts/native-ns build`, and the rootfs from
// scripts/build-rootfs.sh (built on demand).
import { execFileSync, spawn as spawnChild } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The built package (loaded lazily so that "not built" is a clear setup error). */
export let ns;
export async function loadNs() {
  ns ??= await import(join(repo, 'packages', 'native-ns', 'dist', 'index.js'));
  return ns;
}

/** p50 / p99 / mean of samples in ms. */
export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return {
    value: q(0.5),
    p50: q(0.5),
    p99: q(0.99),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    n: s.length,
  };
}

/** Times `fn` `n` times sequentially. */
export async function timeMany(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

/** Runs a command, resolving on exit (rejecting on a non-zero status). */
export function runCmd(cmd, args) {
  return new Promise((resolve, reject) => {
    const c = spawnChild(cmd, args, { stdio: 'ignore' });
    c.once('error', reject);
    c.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`)),
    );
  });
}

/** A work dir with an unprivileged (shifted) and a plain copy of the busybox rootfs. */
export async function prepareRootfs() {
  await loadNs();
  if (process.getuid() !== 0) throw new Error('native benches need root');
  const base = join(repo, '.rootfs', 'busybox');
  if (!existsSync(join(base, 'bin', 'busybox')))
    execFileSync('bash', [join(repo, 'scripts', 'build-rootfs.sh'), base], { stdio: 'inherit' });
  const work = mkdtempSync(join(tmpdir(), 'native-bench-'));
  execFileSync('chmod', ['0755', work]);
  const shifted = join(work, 'rootfs');
  execFileSync('cp', ['-a', base, shifted]);
  execFileSync('chown', ['-R', '-h', '--from=0:0', '4294967294:4294967294', shifted]);
  return { work, shifted, plain: base };
}

let cgroupSeq = 0;

/** Creates a fresh bench cgroup everywhere (unique per call: A and peer may both make one). */
export function benchCgroup(name) {
  const layout = ns.detectCgroupLayout();
  return ns.createCgroup(layout, `garden-bench-${process.pid}/${name}-${cgroupSeq++}`);
}

export async function removeBenchCgroup(set) {
  await ns.removeCgroup(set);
  const layout = ns.detectCgroupLayout();
  for (const mnt of new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) {
    try {
      execFileSync('rmdir', [join(mnt, `garden-bench-${process.pid}`)], { stdio: 'ignore' });
    } catch {}
  }
}

/** An OCI bundle running `args` on `rootfs` with all namespaces incl. user (maps as Guardian). */
export function ociBundle(dir, rootfs, args, { terminal = false } = {}) {
  mkdirSync(dir, { recursive: true });
  const config = {
    ociVersion: '1.0.2',
    process: {
      terminal,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      noNewPrivileges: false,
    },
    root: { path: rootfs, readonly: false },
    hostname: 'bench',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777'],
      },
      {
        destination: '/sys',
        type: 'none',
        source: '/sys',
        options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
      },
    ],
    linux: {
      uidMappings: [
        { containerID: 0, hostID: 4294967294, size: 1 },
        { containerID: 1, hostID: 1, size: 65535 },
      ],
      gidMappings: [
        { containerID: 0, hostID: 4294967294, size: 1 },
        { containerID: 1, hostID: 1, size: 65535 },
      ],
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'user', 'cgroup'].map((type) => ({ type })),
      maskedPaths: ns.DEFAULT_MASKED_PATHS,
      readonlyPaths: ns.DEFAULT_READONLY_PATHS,
    },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** crun 1.8 refuses hybrid cgroups: run it in a private mount ns with an empty tmpfs over unified. */
export function crunArgs(args) {
  const layout = ns.detectCgroupLayout();
  if (layout.kind !== 'hybrid' || !layout.v2) return ['crun', args];
  const script = `mount --make-rprivate / && mount -t tmpfs none ${layout.v2} && exec crun "$@"`;
  return ['unshare', ['--mount', '--', 'sh', '-c', script, 'crun', ...args]];
}

export function which(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function cleanupDir(d) {
  rmSync(d, { recursive: true, force: true });
}
