import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAPPED_ROOT } from '../runtime/users.js';
import { guardDir, makeGuardedDir } from './permissions.js';

const base = mkdtempSync(join(tmpdir(), 'guard-dir-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('guardDir', () => {
  it('makes a traverse dir root:<mapped root> 0710 and a root-only dir root:root 0700, parents as mkdir -p', () => {
    guardDir(join(base, 'a', 'b'), 'traverse');
    const b = statSync(join(base, 'a', 'b'));
    expect([b.uid, b.gid, b.mode & 0o7777]).toEqual([0, MAPPED_ROOT, 0o710]);
    // A parent the container's root may have to pass is not restricted.
    expect(statSync(join(base, 'a')).mode & 0o011).toBe(0o011);
    guardDir(join(base, 'c'), 'root-only');
    const c = statSync(join(base, 'c'));
    expect([c.uid, c.gid, c.mode & 0o7777]).toEqual([0, 0, 0o700]);
  });

  it('repairs a directory an older version made reachable for every host user (0711)', () => {
    const d = join(base, 'old');
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o711);
    guardDir(d, 'traverse');
    expect(statSync(d).mode & 0o7777).toBe(0o710);
    expect(statSync(d).gid).toBe(MAPPED_ROOT);
  });

  it('makeGuardedDir: the same owner and mode for a new directory, whatever the umask; refuses an existing one', () => {
    const old = process.umask(0o077);
    try {
      makeGuardedDir(join(base, 'new-t'), 'traverse');
      makeGuardedDir(join(base, 'new-r'), 'root-only');
    } finally {
      process.umask(old);
    }
    const t = statSync(join(base, 'new-t'));
    expect([t.uid, t.gid, t.mode & 0o7777]).toEqual([0, MAPPED_ROOT, 0o710]);
    const r = statSync(join(base, 'new-r'));
    expect([r.uid, r.gid, r.mode & 0o7777]).toEqual([0, 0, 0o700]);
    expect(() => makeGuardedDir(join(base, 'new-t'), 'traverse')).toThrow(/EEXIST/);
  });
});
