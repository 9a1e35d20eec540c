import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseHostHelper, isStaticElf } from './host-helper.js';

describe('host helper', () => {
  it('recognises a static ELF executable, and only that', () => {
    const dir = mkdtempSync(join(tmpdir(), 'host-tools-'));
    try {
      writeFileSync(join(dir, 'script'), '#!/bin/sh\necho hi\n');
      expect(isStaticElf(join(dir, 'script'))).toBe(false);
      expect(isStaticElf(join(dir, 'missing'))).toBe(false);
      expect(isStaticElf(process.execPath)).toBe(false); // node: dynamically linked
      // busybox-static is what the test rootfs is built from
      expect(isStaticElf('/bin/busybox')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses a configured static helper, the default when static, or none', () => {
    expect(chooseHostHelper(false)).toBeUndefined();
    expect(chooseHostHelper(undefined)).toBe('/bin/busybox');
    expect(chooseHostHelper('/bin/busybox')).toBe('/bin/busybox');
    expect(() => chooseHostHelper(process.execPath)).toThrow(/statically linked/);
    expect(() => chooseHostHelper('busybox')).toThrow(/absolute path/);
  });
});
