import { InvalidRequestError } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { checkName, generateName, hostnameOf } from './names.js';

describe('handle and process-id rules', () => {
  it('rejects empty, ., .., / and NUL, naming the field; keeps UUIDs and long strings', () => {
    for (const bad of ['', '.', '..', 'a/b', '../x', 'a\0b']) {
      expect(() => checkName('handle', bad)).toThrow(InvalidRequestError);
      expect(() => checkName('id', bad)).toThrow(/^id must not be/);
    }
    for (const good of ['x'.repeat(500), generateName(), '{GUID-1}', '...', 'a b'])
      expect(() => checkName('handle', good)).not.toThrow();
  });
  it('generates UUIDv4s', () => {
    expect(generateName()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
  it('the hostname is the last 49 characters, at most 64 bytes', () => {
    expect(hostnameOf('short')).toBe('short');
    expect(hostnameOf(`${'a'.repeat(10)}${'b'.repeat(49)}`)).toBe('b'.repeat(49));
    const wide = hostnameOf('é'.repeat(60));
    expect([...wide].length).toBeLessThanOrEqual(49);
    expect(Buffer.byteLength(wide)).toBeLessThanOrEqual(64);
  });
});
