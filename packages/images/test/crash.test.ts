/**
 * kill -9 of a process in the middle of a pull: the store stays consistent (no partial layer,
 * the temp dir emptied at the next open, the stale lock taken over) and the pull then succeeds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { closeServices, openService } from './helpers/fixtures.js';
import { buildImage, Pusher } from './helpers/images.js';
import { FaultProxy } from './helpers/proxy.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { makeTar } from './helpers/tar-writer.js';

let registry: TestRegistry;
const work = mkdtempSync(join(tmpdir(), 'images-crash-'));
const big = Buffer.alloc(8 << 20);
for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
const image = buildImage({
  layers: [
    { tar: makeTar([{ name: 'small', data: 'first layer' }]) },
    { tar: makeTar([{ name: 'big', data: big }]), compression: 'zstd' },
  ],
});

beforeAll(async () => {
  registry = await startRegistry();
  const pusher = new Pusher(registry.url);
  await pusher.push('garden/crash', 'v1', image);
  await pusher.close();
});
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});
afterEach(closeServices);

const CHILD = `
import { ImageService } from ${JSON.stringify(inject('bundle'))};
const [root, uri, host] = process.argv.slice(2);
const svc = await ImageService.open({ root, registry: { insecureRegistries: [host] } });
await svc.prepare({ uri, owner: 'child', mapping: null, onProgress: (p) => {
  if (p.phase === 'downloading' && p.layerBytes > 1 << 20) process.stdout.write('midway\\n');
}});
process.stdout.write('finished\\n');
`;

describe('kill -9 during a pull', () => {
  it('leaves a consistent store that the next process repairs and completes', async () => {
    const proxy = await FaultProxy.start(Number(registry.host.split(':')[1]));
    const script = join(work, 'child.mjs');
    writeFileSync(script, CHILD);
    const root = join(work, 'store');
    const uri = `docker://${proxy.host}/garden/crash#v1`;
    let child: ChildProcess | undefined;
    try {
      proxy.bytesPerSecond = 2 << 20; // the big layer takes seconds
      child = spawn(process.execPath, [script, root, uri, proxy.host], {
        env: { ...process.env, GARDEN_NATIVE_NS_BUILD: inject('nativeBuild') },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const c = child;
      await new Promise<void>((resolve, reject) => {
        let out = '';
        c.stdout?.on('data', (d) => {
          out += d;
          if (out.includes('midway')) resolve();
          if (out.includes('finished')) reject(new Error('the pull finished before the kill'));
        });
        c.once('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)));
      });
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
      // What the kill left: a half-unpacked layer in tmp/, a lock naming a dead pid.
      expect(readdirSync(join(root, 'tmp')).length).toBeGreaterThan(0);
      expect(readFileSync(join(root, 'lock'), 'utf8').trim()).toBe(String(c.pid));
      const layerIds = image.layers.map((l) => l.diffId.slice(7));
      expect(existsSync(join(root, 'layers', layerIds[1] as string))).toBe(false);

      proxy.bytesPerSecond = 0;
      const svc = await openService({ root, registry: { insecureRegistries: [proxy.host] } });
      expect(readdirSync(join(root, 'tmp'))).toEqual([]);
      for (const id of readdirSync(join(root, 'layers'))) expect(layerIds).toContain(id); // complete ones only
      proxy.requests.length = 0;
      const p = await svc.prepare({ uri, owner: 'again', mapping: null });
      expect(readFileSync(join(p.lowerDirs[0] as string, 'big')).equals(big)).toBe(true);
      expect(readFileSync(join(p.lowerDirs[1] as string, 'small'), 'utf8')).toBe('first layer');
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await proxy.stop();
    }
  });
});
