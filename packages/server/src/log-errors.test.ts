import { GardenError } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { serializeError } from './log-errors.js';

const errno = (code: string, syscall: string) =>
  Object.assign(new Error(`${syscall} ${code}`), { code, syscall });

describe('serializeError', () => {
  it('keeps the cause chain with each level’s code and fields, and collects the codes', () => {
    const native = Object.assign(errno('ENOSPC', 'write'), { errno: -28, stage: 'extract', size: 10n });
    const err = new GardenError('error streaming in: no space left', { cause: native });
    const out = serializeError(err);
    expect(out).toMatchObject({
      type: 'GardenError',
      message: 'error streaming in: no space left',
      code: 'GARDEN_ERROR',
      statusCode: 500,
      codes: ['GARDEN_ERROR', 'ENOSPC'],
      cause: {
        type: 'Error',
        message: 'write ENOSPC',
        code: 'ENOSPC',
        errno: -28,
        syscall: 'write',
        stage: 'extract',
        size: '10',
      },
    });
    expect(out.stack).toContain('GardenError');
    expect(out.cause?.cause).toBeUndefined();
  });

  it('tells EACCES from ENOSPC behind the same Garden error', () => {
    const a = serializeError(new GardenError('failed', { cause: errno('EACCES', 'open') }));
    const b = serializeError(new GardenError('failed', { cause: errno('ENOSPC', 'write') }));
    expect(a.codes).toEqual(['GARDEN_ERROR', 'EACCES']);
    expect(b.codes).toEqual(['GARDEN_ERROR', 'ENOSPC']);
  });

  it('survives non-Error causes, cycles and values that are not errors', () => {
    expect(serializeError(new Error('x', { cause: 'text' })).cause).toEqual({
      type: 'string',
      message: 'text',
    });
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    let depth = 0;
    for (let e = serializeError(a); e.cause; e = e.cause) depth++;
    expect(depth).toBe(8);
    expect(serializeError('boom')).toEqual({ type: 'string', message: 'boom' });
    expect(serializeError(new Error('plain')).codes).toBeUndefined();
  });
});
