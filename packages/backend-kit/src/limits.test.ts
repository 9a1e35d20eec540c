import { InvalidRequestError } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { checkContainerLimits, checkProcessLimits } from './limits.js';

const refusal = (f: () => void): InvalidRequestError => {
  try {
    f();
  } catch (e) {
    if (e instanceof InvalidRequestError) return e;
    throw e;
  }
  throw new Error('not refused');
};

describe('limits the kernel can take', () => {
  it('accepts none, zeros and the bounds of every range', () => {
    checkContainerLimits(undefined);
    checkContainerLimits({ memory: { limitInBytes: 0n }, cpu: { weight: 0n }, pid: { max: 0n } });
    checkContainerLimits({
      memory: { limitInBytes: 1n << 20n },
      cpu: { weight: 2n, limitInShares: 262144n },
      pid: { max: 4194304n },
    });
    checkContainerLimits({ memory: { limitInBytes: 2n ** 64n - 1n }, pid: { max: 1n } });
    checkProcessLimits({ memory: { limitInBytes: 64n << 20n }, cpu: { limitInShares: 1024n } });
  });

  it('refuses a 1-byte memory limit, naming the field and the range', () => {
    const e = refusal(() => checkContainerLimits({ memory: { limitInBytes: 1n } }));
    expect(e.field).toBe('limits.memory_limits.limit_in_bytes');
    expect(e.statusCode).toBe(400);
    expect(e.message).toBe(
      'limits.memory_limits.limit_in_bytes must be 0 (no limit) or at least 1048576 (bytes; a container does not start below 1 MiB), got 1',
    );
  });

  it('refuses pids.max beyond the kernel maximum (2^64-1, 2^22+1)', () => {
    for (const max of [2n ** 64n - 1n, 4194305n]) {
      const e = refusal(() => checkContainerLimits({ pid: { max } }));
      expect(e.field).toBe('limits.pid_limits.max');
      expect(e.message).toBe(
        `limits.pid_limits.max must be 0 (no limit) or 1..4194304 (the kernel's largest pids.max), got ${max}`,
      );
    }
  });

  it('refuses CPU shares outside 2..262144, in either field, for containers and processes', () => {
    expect(refusal(() => checkContainerLimits({ cpu: { weight: 1n } })).field).toBe(
      'limits.cpu_limits.weight',
    );
    expect(refusal(() => checkContainerLimits({ cpu: { limitInShares: 262145n } })).message).toBe(
      'limits.cpu_limits.limit_in_shares must be 0 (no limit) or 2..262144 (cgroup CPU shares), got 262145',
    );
    expect(refusal(() => checkProcessLimits({ cpu: { weight: 300000n } })).field).toBe(
      'limits.cpu_limits.weight',
    );
    expect(refusal(() => checkProcessLimits({ memory: { limitInBytes: 4096n } })).field).toBe(
      'limits.memory_limits.limit_in_bytes',
    );
  });
});
