/**
 * `gaol create`'s pull display, in-process against @garden-ts/server over a backend that reports
 * image.progress events while its create "pulls" (backend-fake with an event hub in front): the
 * line drawn on a terminal from this create's events only, erased before the handle is printed;
 * nothing on a pipe or for a directory rootfs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, type ContainerSpec, EventHub, type GardenEventInit } from '@garden-ts/api-types';
import { createFakeBackend } from '@garden-ts/backend-fake';
import { buildServer, type GardenServer } from '@garden-ts/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mayPull } from '../src/pull-progress.js';
import { gaol } from './harness.js';

let dir: string;
let sock: string;
let server: GardenServer;
const creates: ContainerSpec[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gaol-pull-'));
  sock = join(dir, 'garden.sock');
  const fake = createFakeBackend();
  const hub = new EventHub();
  const progress = (handle: string, image: string, layersDone: number, bytes: number): GardenEventInit => ({
    type: 'image.progress',
    handle,
    image,
    phase: layersDone === 2 ? 'done' : 'downloading',
    layersDone,
    layersTotal: 2,
    bytes,
    totalBytes: 4096,
  });
  const pause = () => new Promise((r) => setTimeout(r, 30));
  // backend-fake, with a create that reports a pull first (and another create's pull meanwhile).
  const backend = new Proxy(fake, {
    get(target, key) {
      if (key === 'events') return (opts?: Parameters<EventHub['events']>[0]) => hub.events(opts);
      if (key === 'create') {
        return async (spec: ContainerSpec) => {
          creates.push(spec);
          const image = spec.image?.uri ?? spec.rootfsPath ?? '';
          const handle = spec.handle ?? 'generated-1';
          if (mayPull(image)) {
            hub.publish(progress('someone-else', 'docker:///other', 0, 4000));
            for (const [done, bytes] of [
              [0, 1024],
              [1, 3072],
              [2, 4096],
            ] as const) {
              hub.publish(progress(handle, image, done, bytes));
              await pause();
            }
          }
          return target.create({ ...spec, image: undefined, handle });
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Backend;
  server = buildServer({ backend });
  await server.listen({ socketPath: sock });
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gaol create pulling an image', () => {
  it('draws the pull of this create on a terminal and erases it before printing the handle', async () => {
    const r = await gaol(sock, ['create', '-n', 'pull-1', '--image', 'docker:///busybox'], {
      tty: { stderr: true },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('pull-1\n');
    const frames = r.stderr.split('\r\x1b[2K').filter((f) => f !== '');
    expect(frames[0]).toMatch(
      /^Pulling docker:\/\/\/busybox \(0\/2 layers\) \[=+ +\] {2}25% {2}1\.0 KiB \/ 4\.0 KiB$/,
    );
    expect(frames.at(-1)).toMatch(
      /^Pulling docker:\/\/\/busybox \(2\/2 layers\) \[=+\] 100% {2}4\.0 KiB \/ 4\.0 KiB$/,
    );
    expect(r.stderr).not.toContain('other');
    expect(r.stderr.endsWith('\r\x1b[2K')).toBe(true);
  });

  it('follows the image URI when the server names the container, also for -r docker://', async () => {
    const r = await gaol(sock, ['create', '-r', 'docker:///busybox'], { tty: { stderr: true } });
    expect(r.stdout).toBe('generated-1\n');
    expect(r.stderr).toContain('Pulling docker:///busybox (2/2 layers)');
    expect(r.stderr).not.toContain('other');
  });

  it('creates without a display against a server with no GET /events (as the Go server)', async () => {
    // Answers the create as Garden does and 404 to everything else, like the canonical server.
    const goLike = createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/containers') {
        res.setHeader('Content-Type', 'application/json');
        res.end('{"handle":"go-1"}\n');
        return;
      }
      res.statusCode = 404;
      res.end('404 page not found\n');
    });
    const goSock = join(dir, 'go-like.sock');
    await new Promise<void>((r) => goLike.listen(goSock, r));
    try {
      const r = await gaol(goSock, ['create', '--image', 'docker:///busybox'], { tty: { stderr: true } });
      expect(r).toMatchObject({ code: 0, stdout: 'go-1\n', stderr: '' });
    } finally {
      await new Promise((r) => goLike.close(r));
    }
  });

  it('draws nothing on a pipe, or for a directory rootfs', async () => {
    const piped = await gaol(sock, ['create', '-n', 'pull-2', '--image', 'docker:///busybox']);
    expect(piped).toMatchObject({ code: 0, stdout: 'pull-2\n', stderr: '' });
    const local = await gaol(sock, ['create', '-n', 'pull-3', '-r', '/var/rootfs'], {
      tty: { stderr: true },
    });
    expect(local).toMatchObject({ code: 0, stdout: 'pull-3\n', stderr: '' });
    expect(mayPull('raw:///var/rootfs')).toBe(false);
    expect(mayPull('preloaded+layer:cflinuxfs4?layer=http://x')).toBe(true);
  });
});
