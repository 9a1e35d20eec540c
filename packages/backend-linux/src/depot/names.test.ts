import { describe, expect, it } from 'vitest';
import { storageId } from './names.js';

describe('storage ids', () => {
  it('keeps short plain names and hashes the rest, without collisions between the two forms', () => {
    expect(storageId('abc-1.2')).toBe('abc-1.2');
    expect(storageId('has space')).toMatch(/^_[0-9a-f]{40}$/);
    expect(storageId('x'.repeat(200))).toMatch(/^_/);
    expect(storageId('_x')).not.toBe('_x');
    expect(storageId('a/b')).toMatch(/^_/);
  });
});
