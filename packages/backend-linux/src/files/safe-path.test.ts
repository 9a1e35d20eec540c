import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readInRoot, resolveInRoot } from './safe-path.js';

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
});
