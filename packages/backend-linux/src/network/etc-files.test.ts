import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAPPED_ROOT } from '../runtime/users.js';
import { rewriteInPlace, writeEtcFiles } from './etc-files.js';

describe('hosts and resolv.conf files', () => {
  it('writes both files 0644, owned by container root, and rewrites them keeping the inode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etc-files-'));
    try {
      const { hosts, resolv } = writeEtcFiles(dir, { hosts: 'h\n', resolv: 'r\n' }, false);
      expect(readFileSync(hosts, 'utf8')).toBe('h\n');
      for (const f of [hosts, resolv]) {
        const st = statSync(f);
        expect(st.mode & 0o777).toBe(0o644);
        expect([st.uid, st.gid]).toEqual([MAPPED_ROOT, MAPPED_ROOT]);
      }
      const inode = statSync(resolv).ino;
      rewriteInPlace(resolv, 'nameserver 10.0.0.1\n');
      expect(readFileSync(resolv, 'utf8')).toBe('nameserver 10.0.0.1\n');
      expect(statSync(resolv).ino).toBe(inode);
      rmSync(hosts);
      expect(statSync(writeEtcFiles(dir, { hosts: '', resolv: '' }, true).hosts).uid).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
