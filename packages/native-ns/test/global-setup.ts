/**
 * Root-only suite: fails (never skips) without root, without the native build or without a
 * rootfs it cannot build. Prepares an unprivileged copy of the busybox rootfs (root-owned files
 * shifted to the mapped root, as grootfs does) and a bundle of src/ for child Node processes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(pkg, '..', '..');

declare module 'vitest' {
  export interface ProvidedContext {
    rootfs: string;
    rootfsUnprivileged: string;
    bundle: string;
  }
}

export default async function setup(project: TestProject) {
  if (process.getuid?.() !== 0)
    throw new Error('native-ns tests must run as root (they create namespaces and cgroups)');
  for (const f of ['garden_ns.node', 'garden-init', 'garden-shim']) {
    if (!existsSync(join(pkg, 'build', 'Release', f))) {
      throw new Error(
        `native-ns: build/Release/${f} missing: run pnpm --filter @garden-ts/native-ns build:native`,
      );
    }
  }
  const rootfs = process.env.GARDEN_TEST_ROOTFS ?? join(repo, '.rootfs', 'busybox');
  if (!existsSync(join(rootfs, 'bin', 'busybox'))) {
    execFileSync('bash', [join(repo, 'scripts', 'build-rootfs.sh'), rootfs], { stdio: 'inherit' });
  }
  if (!existsSync(join(rootfs, 'bin', 'busybox'))) throw new Error(`no rootfs at ${rootfs}`);

  const work = mkdtempSync(join(tmpdir(), 'native-ns-test-'));
  const unpriv = join(work, 'rootfs');
  execFileSync('cp', ['-a', rootfs, unpriv]);
  execFileSync('chown', ['-R', '-h', '--from=0:0', '4294967294:4294967294', unpriv]);
  execFileSync('chown', ['-h', '--from=0', '4294967294', unpriv]);

  // Child Node processes (crash-safety tests) cannot load TypeScript: bundle src/ for them.
  const { build } = await import('tsup');
  await build({
    entry: { index: join(pkg, 'src', 'index.ts') },
    format: ['esm'],
    outDir: join(work, 'bundle'),
    platform: 'node',
    target: 'node20',
    silent: true,
    config: false,
    dts: false,
  });

  project.provide('rootfs', rootfs);
  project.provide('rootfsUnprivileged', unpriv);
  project.provide('bundle', join(work, 'bundle', 'index.js'));
  return () => {
    rmSync(work, { recursive: true, force: true });
    // Leftovers fail the run: every test cleans up its cgroups, mounts and processes.
    const left: string[] = [];
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      const fstype = f[f.indexOf('-') + 1];
      if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
      const mnt = f[4] as string;
      for (const e of readdirSync(mnt)) {
        if (!e.startsWith('garden-native-test-')) continue;
        // Another test run on this machine (another checkout) owns the cgroups named after its
        // live worker pid; ours have exited by now, so a live pid is never one of our leftovers.
        const pid = e.slice('garden-native-test-'.length);
        if (/^\d+$/.test(pid) && Number(pid) !== process.pid && existsSync(`/proc/${pid}`)) continue;
        left.push(join(mnt, e));
      }
    }
    for (const e of readdirSync(rootfs)) if (e.startsWith('.garden-old-')) left.push(join(rootfs, e));
    if (left.length) throw new Error(`native-ns tests left behind: ${left.join(', ')}`);
  };
}
