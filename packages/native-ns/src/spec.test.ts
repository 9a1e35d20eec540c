import { describe, expect, it } from 'vitest';
import { NativeArgumentError } from './errors.js';
import { encodeFrame, FrameDecoder } from './protocol.js';
import { encodeSpec } from './spec.js';

/** Decodes the TLV records back for inspection. */
function records(b: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let off = 0; off < b.length; ) {
    const tag = b.readUInt16LE(off);
    const len = b.readUInt32LE(off + 2);
    out.push([tag, b.subarray(off + 6, off + 6 + len)]);
    off += 6 + len;
  }
  return out;
}

describe('encodeSpec', () => {
  it('encodes every field as tagged records', () => {
    const r = records(
      encodeSpec(
        {
          path: 'ls',
          args: ['ls', '-l'],
          env: ['A=1'],
          cwd: '/tmp',
          user: { uid: 1, gid: 2, groups: [3, 4] },
          rlimits: { nofile: 10, core: { soft: 0, hard: Number.POSITIVE_INFINITY } },
          noNewPrivileges: true,
          capabilities: { bounding: ['CAP_KILL'], effective: 0n, permitted: 0n, inheritable: 0n },
          tty: { columns: 100 },
          cgroups: ['/sys/fs/cgroup/x'],
          ringCapacity: 8192,
        },
        { joinUserNs: true },
        '/depot/p1',
      ),
    );
    const tags = r.map(([t]) => t);
    expect(tags).toEqual([1, 2, 2, 3, 4, 5, 6, 7, 8, 8, 9, 10, 12, 13, 14, 15, 16]);
    const rl = r
      .filter(([t]) => t === 8)
      .map(([, b]) => [b.readUInt32LE(0), b.readBigUInt64LE(4), b.readBigUInt64LE(12)]);
    expect(rl).toEqual([
      [7, 10n, 10n],
      [4, 0n, 0xffffffffffffffffn],
    ]);
    const caps = r.find(([t]) => t === 10)?.[1] as Buffer;
    expect(caps.readBigUInt64LE(0)).toBe(1n << 5n);
    const tty = r.find(([t]) => t === 12)?.[1] as Buffer;
    expect([tty.readUInt16LE(0), tty.readUInt16LE(2)]).toEqual([100, 24]);
  });

  it('carries the host owner of the stdio pipes when given', () => {
    const r = records(
      encodeSpec({ path: '/bin/true' }, { joinUserNs: true }, '/d', { uid: 4294967294, gid: 1001 }),
    );
    const owner = r.find(([t]) => t === 18)?.[1] as Buffer;
    expect([owner.readUInt32LE(0), owner.readUInt32LE(4)]).toEqual([4294967294, 1001]);
    expect(() => encodeSpec({ path: '/bin/true' }, null, '/d', { uid: -1, gid: 0 })).toThrow(
      /stdioOwner\.uid/,
    );
  });

  it('defaults to uid 0, gid 0 and no groups', () => {
    const r = records(encodeSpec({ path: '/bin/true' }, null, '/d'));
    expect(r.map(([t]) => t)).toEqual([1, 2, 5, 6, 7, 16]);
    expect(r[4]?.[1].length).toBe(0);
  });

  it.each([
    ['path', { path: '' }],
    ['args[0]', { path: 'x', args: ['a\0b'] }],
    ['env[0]', { path: 'x', env: ['NOPE'] }],
    ['user.uid', { path: 'x', user: { uid: 2 ** 31, gid: 0 } }],
    ['rlimits.bogus', { path: 'x', rlimits: { bogus: 1 } }],
    ['rlimits.nofile', { path: 'x', rlimits: { nofile: { soft: 2, hard: 1 } } }],
    ['seccomp', { path: 'x', seccomp: Buffer.alloc(7) }],
    ['cgroups[0]', { path: 'x', cgroups: ['relative'] }],
    ['ringCapacity', { path: 'x', ringCapacity: 10 }],
    [
      'capabilities.bounding',
      { path: 'x', capabilities: { bounding: ['CAP_NOPE'], effective: 0n, permitted: 0n, inheritable: 0n } },
    ],
  ] as [string, unknown][])('rejects a bad %s, naming it', (field, spec) => {
    let err: unknown;
    try {
      encodeSpec(spec as never, null, '/d');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NativeArgumentError);
    expect((err as NativeArgumentError).field).toBe(field);
  });
});

describe('frames', () => {
  it('round-trip through the incremental decoder, split anywhere', () => {
    const a = encodeFrame(103, 1, 42n, Buffer.from('hello'));
    const b = encodeFrame(105, 0, 7n);
    const all = Buffer.concat([a, b]);
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new FrameDecoder();
      const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      expect(frames.map((f) => [f.type, f.stream, f.value, f.payload.toString()])).toEqual([
        [103, 1, 42n, 'hello'],
        [105, 0, 7n, ''],
      ]);
    }
  });

  it('rejects oversized frames', () => {
    const h = Buffer.alloc(14);
    h.writeUInt32LE(10 << 20, 2);
    expect(() => new FrameDecoder().push(h)).toThrow(/too large/);
  });
});
