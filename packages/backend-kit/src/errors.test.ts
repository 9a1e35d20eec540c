import { GardenError } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { errorFields } from './errors.js';

/** Shaped like native-ns's NativeError (this package depends on no backend). */
class FakeNativeError extends Error {
  constructor(
    readonly stage: string,
    readonly errno: number,
    readonly syscall: string,
    readonly code: string,
  ) {
    super(`${stage}: ${syscall}: ${code} (errno ${errno})`);
  }
}

describe('errorFields', () => {
  it('keeps the outer message and takes the system error fields from the cause chain', () => {
    const native = new FakeNativeError('mount-overlay', 28, 'mount', 'ENOSPC');
    const wrapped = new GardenError('mounting the rootfs overlay failed', { cause: native });
    const outer = new GardenError('creating the container failed', { cause: wrapped });
    expect(errorFields(outer)).toEqual({
      err: outer,
      code: 'ENOSPC',
      errno: 28,
      syscall: 'mount',
      stage: 'mount-overlay',
    });
  });

  it("reads Node's errno exceptions (negative errno) and ignores Garden's own codes", () => {
    const node = Object.assign(new Error("EACCES: permission denied, open '/x'"), {
      code: 'EACCES',
      errno: -13,
      syscall: 'open',
    });
    const wrapped = new GardenError('writing hosts failed', { cause: node });
    expect(errorFields(wrapped)).toEqual({
      err: wrapped,
      code: 'EACCES',
      errno: 13,
      syscall: 'open',
    });
    const plain = new GardenError('plain');
    expect(errorFields(plain)).toEqual({ err: plain });
    expect(errorFields('text')).toEqual({ err: 'text' });
  });

  it('takes the deepest system error, not a mix of levels', () => {
    const inner = Object.assign(new Error('inner'), { code: 'ENOSPC' });
    const outer = Object.assign(new Error('outer', { cause: inner }), {
      code: 'EIO',
      errno: 5,
      stage: 'x',
    });
    expect(errorFields(outer)).toEqual({ err: outer, code: 'ENOSPC' });
  });

  it('stops on cause cycles', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    a.cause = a;
    expect(errorFields(a)).toEqual({ err: a });
  });
});
