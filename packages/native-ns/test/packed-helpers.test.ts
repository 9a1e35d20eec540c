/**
 * An npm-installed native-ns may unpack its helpers with mode 0644 (pnpm pack writes every file
 * that is not a `bin` so): loading the binding makes them executable, and a missing build is one
 * clear message (run in a child process: the binding is loaded once per process).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { nativeArtifacts } from '../src/native.js';

const dir = mkdtempSync(join(tmpdir(), 'native-ns-packed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dist = join(import.meta.dirname, '..', 'dist', 'index.js');
function load(build: string): string {
  // unmount() of a directory that is no mount point: the first call that loads the binding.
  const script = `import(${JSON.stringify(dist)}).then((m) => { m.unmount(${JSON.stringify(dir)}); console.log('loaded'); }).catch((e) => console.log(e.message))`;
  return execFileSync(process.execPath, ['-e', script], {
    env: { ...process.env, GARDEN_NATIVE_NS_BUILD: build },
    encoding: 'utf8',
  }).trim();
}

it('makes helpers unpacked with mode 0644 executable when it loads', () => {
  const built = nativeArtifacts();
  for (const f of [built.addon, built.init, built.shim]) {
    const to = join(dir, f.split('/').at(-1) as string);
    copyFileSync(f, to);
    chmodSync(to, 0o644);
  }
  expect(load(dir)).toBe('loaded');
  for (const name of ['garden-init', 'garden-shim']) {
    expect(statSync(join(dir, name)).mode & 0o777).toBe(0o755);
  }
});

it('says what is missing and how to build it', () => {
  expect(load(join(dir, 'nowhere'))).toBe(
    `native-ns: ${join(dir, 'nowhere', 'garden_ns.node')} is missing: the package ships its linux-x64 build in build/Release; in a garden-ts checkout, build it with \`pnpm --filter @garden-ts/native-ns build:native\` (cmake, g++)`,
  );
});
