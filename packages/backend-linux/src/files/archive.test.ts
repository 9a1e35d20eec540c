import { describe, expect, it } from 'vitest';
import { containerPath, safeEntryName, streamOutCommand } from './archive.js';

describe('archive entry names and StreamOut layout', () => {
  it('normalises entry names and refuses escapes', () => {
    expect(safeEntryName('/etc/x')).toBe('etc/x');
    expect(safeEntryName('./a//b/./c')).toBe('a/b/c');
    for (const bad of ['../x', 'a/../../x', 'a/..']) expect(() => safeEntryName(bad)).toThrow(/escapes/);
  });
  it('resolves relative paths against the home', () => {
    expect(containerPath('x/../y/', '/home/alice')).toBe('/home/alice/y');
    expect(containerPath('/', '/root')).toBe('/');
  });
  it("uses Guardian's tar layouts for StreamOut", () => {
    expect(streamOutCommand('/srv/dir', '/root')).toEqual({ cwd: '/srv', args: ['tar', '-cf', '-', 'dir'] });
    expect(streamOutCommand('/srv/dir/', '/root')).toEqual({
      cwd: '/srv/dir',
      args: ['tar', '-cf', '-', '.'],
    });
    expect(streamOutCommand('rel', '/home/alice')).toEqual({
      cwd: '/home/alice',
      args: ['tar', '-cf', '-', 'rel'],
    });
  });
});
