import { describe, expect, it } from 'vitest';
import { mergeEnv } from './env.js';

describe('mergeEnv', () => {
  it('overrides earlier keys in place (Guardian §3.2 example)', () => {
    expect(mergeEnv(['CONTAINER_ENV=1', 'TEST=hi'], ['TEST=hello', 'FRUIT=banana'])).toEqual([
      'CONTAINER_ENV=1',
      'TEST=hello',
      'FRUIT=banana',
    ]);
  });
  it('keeps values containing = and entries without =', () => {
    expect(mergeEnv(['A=b=c', 'FLAG'], undefined, ['A=d'])).toEqual(['A=d', 'FLAG']);
  });
});
