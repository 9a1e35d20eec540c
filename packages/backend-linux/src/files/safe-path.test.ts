import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readInRoot, readInRootCached, resolveInRoot } from './safe-path.js';

describe('safe path resolution', () => {
  it('follows symlinks inside the root only', () => {
    const root = mkdtempSync(join(tmpdir(), 'safe-path-'));
    try {
      mkdirSync(join(root, 'etc'));
      writeFileSync(join(root, 'etc', 'passwd'), 'inside');
      symlinkSync('/', join(root, 'up'));
      symlinkSync('../../../../etc', join(root, 'rel'));
      expect(readInRoot(root, '/up/etc/passwd')).toBe('inside');
      expect(readInRoot(root, '/rel/passwd')).toBe('inside');
      expect(resolveInRoot(root, '/../../etc/passwd')).toBe(join(root, 'etc', 'passwd'));
      expect(resolveInRoot(root, '/missing/x')).toBeUndefined();
      symlinkSync('loop', join(root, 'loop'));
      expect(() => resolveInRoot(root, '/loop')).toThrow(/symbolic links/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads a file again only when it changed (readInRootCached)', () => {
    const root = mkdtempSync(join(tmpdir(), 'safe-path-'));
    try {
      mkdirSync(join(root, 'etc'));
      const file = join(root, 'etc', 'passwd');
      writeFileSync(file, 'root:x:0:0::/root:/bin/sh\n');
      const first = readInRootCached(root, '/etc/passwd', undefined);
      expect(first.text).toBe('root:x:0:0::/root:/bin/sh\n');
      // unchanged: the same read back, not a new one
      expect(readInRootCached(root, '/etc/passwd', first)).toBe(first);
      // rewritten in place (same inode), replaced by another file, or by a link inside the root
      writeFileSync(file, 'root:x:0:0::/home/root:/bin/sh\n');
      const second = readInRootCached(root, '/etc/passwd', first);
      expect(second.text).toBe('root:x:0:0::/home/root:/bin/sh\n');
      writeFileSync(join(root, 'new'), 'vcap:x:1000:1000::/home/vcap:/bin/sh\n');
      renameSync(join(root, 'new'), file);
      const third = readInRootCached(root, '/etc/passwd', second);
      expect(third.text).toBe('vcap:x:1000:1000::/home/vcap:/bin/sh\n');
      writeFileSync(join(root, 'etc', 'other'), 'other\n');
      unlinkSync(file);
      symlinkSync('other', file);
      expect(readInRootCached(root, '/etc/passwd', third).text).toBe('other\n');
      // gone: nothing, whatever was read before
      rmSync(join(root, 'etc'), { recursive: true });
      expect(readInRootCached(root, '/etc/passwd', third)).toEqual({ identity: '', text: undefined });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
