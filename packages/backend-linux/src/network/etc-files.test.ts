import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAPPED_ROOT } from '../runtime/users.js';
import { hostsFile, resolvConf, writeEtcFiles } from './etc-files.js';

describe('hosts and resolv.conf', () => {
  it('maps localhost and the hostname to loopback', () => {
    expect(hostsFile('box')).toBe('127.0.0.1 localhost\n::1 localhost\n127.0.0.1 box\n');
  });
  it('drops loopback nameservers and keeps the rest', () => {
    expect(resolvConf('search x\nnameserver 127.0.0.53\nnameserver 1.1.1.1\n')).toBe(
      'search x\nnameserver 1.1.1.1\n',
    );
  });
  it('writes both files 0644, owned by container root', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etc-files-'));
    try {
      const { hosts, resolv } = writeEtcFiles(dir, 'box', false);
      expect(readFileSync(hosts, 'utf8')).toBe(hostsFile('box'));
      for (const f of [hosts, resolv]) {
        const st = statSync(f);
        expect(st.mode & 0o777).toBe(0o644);
        expect([st.uid, st.gid]).toEqual([MAPPED_ROOT, MAPPED_ROOT]);
      }
      rmSync(hosts);
      expect(statSync(writeEtcFiles(dir, 'box', true).hosts).uid).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
