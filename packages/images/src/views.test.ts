import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { IdMapping } from './shift.js';
import { mappingKey } from './views.js';

describe('mappingKey', () => {
  const map = (hostRoot: number): IdMapping => ({
    uidMap: [{ containerId: 0, hostId: hostRoot, size: 1 }],
    gidMap: [{ containerId: 0, hostId: hostRoot, size: 1 }],
  });

  it("is the first 8 hex digits of the map text's sha256, the same when asked again", () => {
    const text = `0 4294967294 1|0 4294967294 1`;
    const expected = createHash('sha256').update(text).digest('hex').slice(0, 8);
    expect(mappingKey(map(4294967294))).toBe(expected);
    expect(mappingKey(map(4294967294))).toBe(expected);
  });

  it('follows the content, also of a map object changed after a first use', () => {
    const m = map(1000);
    const before = mappingKey(m);
    (m.uidMap[0] as { hostId: number }).hostId = 2000;
    expect(mappingKey(m)).not.toBe(before);
    expect(mappingKey(m)).toBe(
      mappingKey({ uidMap: [{ containerId: 0, hostId: 2000, size: 1 }], gidMap: m.gidMap }),
    );
  });
});
