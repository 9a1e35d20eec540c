/**
 * The unprivileged view of a directory image: a copy in `<depot>/images/` whose root-owned files
 * belong to the mapped root (as grootfs's unprivileged store), so container root owns its /etc,
 * /root, … `raw://` images and privileged containers use the image itself.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MAPPED_ROOT } from '../runtime/users.js';
import type { ImageChoice } from './image-uri.js';

const run = promisify(execFile);
const building = new Map<string, Promise<string>>();

/**
 * The read-only lower directory for an image. The copy is keyed by path and modification time
 * and built once (concurrent creates share the build; a crash leaves only a temp dir that
 * {@link removeUnfinishedCopies} deletes at startup).
 */
export function lowerDirFor(depot: string, image: ImageChoice, privileged: boolean): Promise<string> {
  if (privileged || image.raw) return Promise.resolve(image.path);
  const st = statSync(image.path);
  const key = createHash('sha256')
    .update(`${image.path}\0${st.mtimeMs}\0${st.ctimeMs}`)
    .digest('hex')
    .slice(0, 24);
  const target = join(depot, 'images', `${key}-unprivileged`);
  if (existsSync(target)) return Promise.resolve(target);
  let p = building.get(target);
  if (!p) {
    p = (async () => {
      const tmp = join(depot, 'images', `.tmp-${key}-${process.pid}-${Date.now()}`);
      mkdirSync(join(depot, 'images'), { recursive: true, mode: 0o711 });
      try {
        await run('cp', ['-a', '--', image.path, tmp]);
        await run('chown', ['-R', '-h', `--from=0`, String(MAPPED_ROOT), '--', tmp]);
        await run('chown', ['-R', '-h', `--from=:0`, `:${MAPPED_ROOT}`, '--', tmp]);
        try {
          renameSync(tmp, target);
        } catch (e) {
          if (!existsSync(target)) throw e;
        }
      } finally {
        rmSync(tmp, { recursive: true, force: true });
        building.delete(target);
      }
      return target;
    })();
    building.set(target, p);
  }
  return p;
}

/** Deletes copies a crash left half-built. */
export function removeUnfinishedCopies(depot: string): void {
  const images = join(depot, 'images');
  if (!existsSync(images)) return;
  for (const e of readdirSync(images))
    if (e.startsWith('.tmp-')) rmSync(join(images, e), { recursive: true, force: true });
}
