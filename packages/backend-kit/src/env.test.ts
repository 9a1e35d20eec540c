import { describe, expect, it } from 'vitest';
import { defaultPath, mergeEnv, processEnv, ROOT_PATH, USER_PATH } from './env.js';

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

describe('processEnv', () => {
  it('appends PATH by uid, USER as given and HOME only when absent (§3.2)', () => {
    expect(processEnv(['A=1'], undefined, { spec: undefined, uid: 0, home: '/root' })).toEqual([
      'A=1',
      `PATH=${ROOT_PATH}`,
      'USER=root',
      'HOME=/root',
    ]);
    expect(processEnv(undefined, ['B=2'], { spec: '1001:1002', uid: 1001, home: '/' })).toEqual([
      'B=2',
      `PATH=${USER_PATH}`,
      'USER=1001:1002',
      'HOME=/',
    ]);
    expect(
      processEnv(['PATH=/bin', 'HOME=/x'], ['USER=me'], { spec: 'alice', uid: 1001, home: '/home/alice' }),
    ).toEqual(['PATH=/bin', 'HOME=/x', 'USER=me']);
  });
  it('the default PATH depends on the uid only', () => {
    expect(defaultPath(0)).toBe(ROOT_PATH);
    expect(defaultPath(1)).toBe(USER_PATH);
  });
});
