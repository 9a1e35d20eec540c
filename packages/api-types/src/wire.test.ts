import { Kind, type TSchema } from '@sinclair/typebox';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from './errors.js';
import { encodeGoJson, type GoJsonValue } from './go-json.js';
import { canonicalIP } from './ip-address.js';
import type {
  Capacity,
  ContainerInfo,
  ContainerSpec,
  Metrics,
  NetOutRule,
  ProcessPayload,
  ProcessSpec,
} from './types.js';
import { MEMORY_STAT_KEYS } from './types.js';
import { decodeBody, encodeBody, Wire, type WireCodec } from './wire.js';

const U64_MAX = 2n ** 64n - 1n;

function thrown(fn: () => unknown): InvalidRequestError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    return err as InvalidRequestError;
  }
  throw new Error('expected an InvalidRequestError');
}

// ---- Arbitrary valid TS values, in the canonical form decode produces (zero values left out) ----

const str = fc.string({ unit: 'binary', minLength: 1, maxLength: 10 });
const anyStr = fc.string({ unit: 'binary', maxLength: 10 });
const u64 = fc.bigInt({ min: 1n, max: U64_MAX });
const u64OrZero = fc.bigInt({ min: 0n, max: U64_MAX });
const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((n) => n !== 0n);
const u16 = fc.integer({ min: 1, max: 65535 });
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const optional = <T>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(shape, { requiredKeys: [] });
const nonEmpty = <T>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }) =>
  optional(shape).filter((o) => Object.keys(o).length > 0);
const list = <T>(item: fc.Arbitrary<T>) => fc.array(item, { minLength: 1, maxLength: 3 });
const ip = fc.oneof(fc.ipV4(), fc.ipV6()).map((text) => canonicalIP(text) ?? 'unreachable');
const stringMap = fc.dictionary(anyStr, anyStr, { minKeys: 1, maxKeys: 4 });

const image = nonEmpty({ uri: str, username: str, password: str });
const bindMount = optional({
  srcPath: str,
  dstPath: str,
  mode: fc.constant(1 as const),
  origin: fc.constant(1 as const),
});
const cpu = nonEmpty({ weight: u64, limitInShares: u64 });
const memory = nonEmpty({ limitInBytes: u64 });

const netOutRule: fc.Arbitrary<NetOutRule> = optional({
  protocol: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const),
  networks: list(nonEmpty({ start: ip, end: ip })),
  ports: list(nonEmpty({ start: u16, end: u16 })),
  icmps: optional({ type: fc.integer({ min: 1, max: 255 }), code: fc.integer({ min: 0, max: 255 }) }),
  log: fc.constant(true),
});

const containerSpec: fc.Arbitrary<ContainerSpec> = optional({
  handle: str,
  graceTime: i64,
  rootfsPath: str,
  image,
  bindMounts: list(bindMount),
  network: str,
  properties: stringMap,
  env: list(anyStr),
  privileged: fc.constant(true),
  limits: nonEmpty({
    bandwidth: nonEmpty({ rateInBytesPerSecond: u64, burstRateInBytesPerSecond: u64 }),
    cpu,
    disk: nonEmpty({
      inodeSoft: u64,
      inodeHard: u64,
      byteSoft: u64,
      byteHard: u64,
      scope: fc.constant(1 as const),
    }),
    memory,
    pid: nonEmpty({ max: u64 }),
  }),
  netOut: list(netOutRule),
  netIn: list(fc.record({ hostPort: u32, containerPort: u32 })),
});

const tty = optional({ windowSize: optional({ columns: u16, rows: u16 }) });

const processSpec: fc.Arbitrary<ProcessSpec> = optional({
  id: str,
  path: str,
  args: list(anyStr),
  env: list(anyStr),
  dir: str,
  user: str,
  rlimits: nonEmpty({
    as: u64OrZero,
    core: u64OrZero,
    cpu: u64OrZero,
    data: u64OrZero,
    fsize: u64OrZero,
    locks: u64OrZero,
    memlock: u64OrZero,
    msgqueue: u64OrZero,
    nice: u64OrZero,
    nofile: u64OrZero,
    nproc: u64OrZero,
    rss: u64OrZero,
    rtprio: u64OrZero,
    sigpending: u64OrZero,
    stack: u64OrZero,
  }),
  overrideContainerLimits: optional({ cpu, memory }),
  tty,
  image,
  bindMounts: list(bindMount),
});

const goInt = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const processPayload: fc.Arbitrary<ProcessPayload> = optional({
  processId: str,
  streamId: str,
  source: goInt,
  data: anyStr,
  exitStatus: goInt,
  error: anyStr,
  tty,
  signal: goInt,
});

const capacity: fc.Arbitrary<Capacity> = fc.record({
  memoryInBytes: u64OrZero,
  diskInBytes: u64OrZero,
  schedulableDiskInBytes: u64OrZero,
  maxContainers: u64OrZero,
});

const containerInfo: fc.Arbitrary<ContainerInfo> = fc.record({
  state: anyStr,
  events: fc.array(anyStr, { maxLength: 2 }),
  hostIP: anyStr,
  containerIP: anyStr,
  containerIPv6: anyStr,
  externalIP: anyStr,
  containerPath: anyStr,
  processIDs: fc.array(anyStr, { maxLength: 2 }),
  properties: fc.dictionary(anyStr, anyStr, { maxKeys: 3 }),
  mappedPorts: fc.array(fc.record({ hostPort: u32, containerPort: u32 }), { maxLength: 2 }),
});

const stats = <K extends string>(keys: readonly K[]) =>
  fc.record(Object.fromEntries(keys.map((k) => [k, u64OrZero]))) as unknown as fc.Arbitrary<
    Record<K, bigint>
  >;

const metrics: fc.Arbitrary<Metrics> = fc.record({
  memoryStat: stats([...MEMORY_STAT_KEYS]),
  cpuStat: stats(['usage', 'user', 'system']),
  diskStat: stats(['totalBytesUsed', 'totalInodesUsed', 'exclusiveBytesUsed', 'exclusiveInodesUsed']),
  networkStat: fc.option(stats(['rxBytes', 'txBytes']), { nil: null }),
  pidStat: stats(['current', 'max']),
  age: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  cpuEntitlement: u64OrZero,
});

function roundTrips<T>(codec: WireCodec<T, unknown, T>, arb: fc.Arbitrary<T>): void {
  fc.assert(
    fc.property(arb, (value) => {
      const body = encodeBody(codec, value);
      expect(body.endsWith('\n')).toBe(true);
      expect(body.slice(0, -1)).not.toContain('\n');
      const decoded = decodeBody(codec, body);
      expect(decoded).toEqual(value);
      expect(encodeBody(codec, decoded)).toBe(body);
    }),
    { numRuns: 150 },
  );
}

describe('round trips: encode -> Go JSON text -> decode gives the value back', () => {
  it('ContainerSpec', () => roundTrips(Wire.containerSpec, containerSpec));
  it('ProcessSpec', () => roundTrips(Wire.processSpec, processSpec));
  it('NetOutRule', () => roundTrips(Wire.netOutRule, netOutRule));
  it('ProcessPayload', () => roundTrips(Wire.processPayload, processPayload));
  it('Capacity', () => roundTrips(Wire.capacity, capacity));
  it('ContainerInfo', () => roundTrips(Wire.containerInfo, containerInfo));
  it('Metrics', () => roundTrips(Wire.metrics, metrics));
  it('grace time', () => roundTrips(Wire.graceTime, fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })));
  it('properties', () => roundTrips(Wire.properties, fc.dictionary(anyStr, anyStr)));
  it('property value', () => roundTrips(Wire.propertyValue, anyStr));
});

// ---- Junk in any field ---------------------------------------------------------------------------

/** A place in a wire body: its dotted path, its schema, and a builder of a body holding a value there. */
interface Site {
  path: string;
  schema: TSchema;
  build: (value: GoJsonValue) => GoJsonValue;
}

function sitesOf(schema: TSchema, path = '', wrap: (v: GoJsonValue) => GoJsonValue = (v) => v): Site[] {
  const out: Site[] = [{ path, schema, build: wrap }];
  const join = (key: string) => (path === '' ? key : `${path}.${key}`);
  switch (schema[Kind]) {
    case 'Union':
      return sitesOf((schema.anyOf as TSchema[])[0]!, path, wrap);
    case 'Object':
      for (const [key, field] of Object.entries(schema.properties as Record<string, TSchema>)) {
        out.push(...sitesOf(field, join(key), (v) => wrap({ [key]: v })));
      }
      break;
    case 'Array':
      out.push(...sitesOf(schema.items as TSchema, `${path}[0]`, (v) => wrap([v])));
      break;
    case 'Record': {
      const item = Object.values(schema.patternProperties as Record<string, TSchema>)[0]!;
      out.push(...sitesOf(item, join('k'), (v) => wrap({ k: v })));
      break;
    }
  }
  return out;
}

const anyObject = fc.oneof(fc.constant({}), fc.constant({ x: 1n }));
const anyArray = fc.oneof(fc.constant([]), fc.constant([1n]));
const anyBool = fc.boolean();
const anyInt = fc.bigInt();
const anyText = fc.string({ maxLength: 5 });

/** JSON values of the wrong type (or out of range) for a schema. */
function junkFor(schema: TSchema): fc.Arbitrary<GoJsonValue> {
  switch (schema[Kind]) {
    case 'Object':
    case 'Record':
      return fc.oneof(anyText, anyInt, anyBool, anyArray);
    case 'Array':
      return fc.oneof(anyText, anyInt, anyBool, anyObject);
    case 'Boolean':
      return fc.oneof(anyText, anyInt, anyArray, anyObject);
    case 'String':
      if (schema['x-go-ip'] === true) {
        const badIP = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => canonicalIP(s) === undefined);
        return fc.oneof(badIP, anyInt, anyBool, anyArray, anyObject);
      }
      return fc.oneof(anyInt, anyBool, anyArray, anyObject);
    case 'BigInt': {
      const min = schema.minimum as bigint;
      const max = schema.maximum as bigint;
      return fc.oneof(
        fc.constantFrom('10s', '1', ''),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
        fc.constantFrom(1.5, -0.5, 1e-7),
        anyBool,
        anyArray,
        anyObject,
        fc.bigInt({ min: max + 1n, max: max + 2n ** 70n }),
        fc.bigInt({ min: min - 2n ** 70n, max: min - 1n }),
      );
    }
    default:
      throw new Error(`no junk for ${String(schema[Kind])}`);
  }
}

const requestCodecs = [
  'containerSpec',
  'processSpec',
  'netOutRule',
  'netOutRules',
  'netInRequest',
  'stopRequest',
  'propertyValue',
  'graceTime',
  'processPayload',
] as const;
const responseCodecs = [
  'capacity',
  'containerInfo',
  'metrics',
  'bulkInfo',
  'bulkMetrics',
  'createResponse',
  'listResponse',
  'properties',
  'bandwidthLimits',
  'cpuLimits',
  'diskLimits',
  'memoryLimits',
  'netInResponse',
  'errorEnvelope',
] as const;

describe('junk in any field is an InvalidRequestError naming that field', () => {
  for (const name of [...requestCodecs, ...responseCodecs]) {
    const codec = Wire[name] as WireCodec<unknown>;
    const sites = sitesOf(codec.schema);
    // The signal may be any integer (the server handles unknown signals), like Go's decoder.
    it(`${name} (${sites.length} sites)`, () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...sites).chain((site) => fc.tuple(fc.constant(site), junkFor(site.schema))),
          ([site, junk]) => {
            const body = encodeGoJson(site.build(junk));
            const err = thrown(() => decodeBody(codec, body));
            expect(err.field).toBe(site.path);
            expect(err.statusCode).toBe(400);
            if (site.schema['x-go-ip'] === true && typeof junk === 'string') {
              expect(err.message).toBe(`invalid IP address: ${junk}`);
            } else if (site.schema['x-enum'] && typeof junk === 'bigint' && junk >= 0n && junk <= 255n) {
              expect(err.message).toMatch(
                /^invalid .*: unknown garden\.\w+ \d+ \(allowed: 0 \(\w+\), 1 \(\w+\)/,
              );
            } else {
              expect(err.message).toMatch(/^json: cannot unmarshal (string|number|bool|array|object)/);
              expect(err.message).toContain(`of type ${site.schema['x-go-type']}`);
            }
          },
        ),
        { numRuns: 200 },
      );
    });
  }
});

describe('arbitrary input never throws anything but InvalidRequestError', () => {
  const all = [...requestCodecs, ...responseCodecs].map((name) => Wire[name] as WireCodec<unknown>);

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(...all), (bytes, codec) => {
        try {
          decodeBody(codec, new TextDecoder().decode(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidRequestError);
        }
      }),
    );
  });

  it('random JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(...all), (value, codec) => {
        try {
          decodeBody(codec, JSON.stringify(value));
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidRequestError);
        }
      }),
    );
  });

  it('mutated valid bodies', () => {
    fc.assert(
      fc.property(containerSpec, fc.nat(), fc.string({ minLength: 1, maxLength: 3 }), (spec, at, insert) => {
        const body = encodeBody(Wire.containerSpec, spec);
        const i = at % body.length;
        try {
          decodeBody(Wire.containerSpec, body.slice(0, i) + insert + body.slice(i + 1));
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidRequestError);
        }
      }),
    );
  });
});

describe('request decoding details', () => {
  const spec = (json: string) => decodeBody(Wire.containerSpec, json);

  it('grace_time: nanoseconds as int64; strings, fractions and exponents rejected', () => {
    expect(spec('{"grace_time":-1}')).toEqual({ graceTime: -1n });
    expect(spec('{"grace_time":9223372036854775807}')).toEqual({ graceTime: 9223372036854775807n });
    for (const [raw, what] of [
      ['"10s"', 'string'],
      ['1.5', 'number 1.5'],
      ['1e9', 'number 1000000000'],
      ['9223372036854775808', 'number 9223372036854775808'],
      ['18446744073709551616', 'number 18446744073709551616'],
      ['true', 'bool'],
      ['[]', 'array'],
      ['{}', 'object'],
    ]) {
      const err = thrown(() => spec(`{"grace_time":${raw}}`));
      expect(err.field).toBe('grace_time');
      expect(err.message).toBe(
        `json: cannot unmarshal ${what} into Go struct field ContainerSpec.grace_time of type time.Duration`,
      );
    }
  });

  it('uint64 limits: 0..2^64-1, nested paths in field and message', () => {
    expect(spec('{"limits":{"memory_limits":{"limit_in_bytes":18446744073709551615}}}')).toEqual({
      limits: { memory: { limitInBytes: U64_MAX } },
    });
    const err = thrown(() => spec('{"limits":{"memory_limits":{"limit_in_bytes":-1}}}'));
    expect(err.field).toBe('limits.memory_limits.limit_in_bytes');
    // Go names the innermost struct type, then the full field path from the top.
    expect(err.message).toBe(
      'json: cannot unmarshal number -1 into Go struct field MemoryLimits.limits.memory_limits.limit_in_bytes of type uint64',
    );
  });

  it('enums: unknown members rejected with the allowed values, out-of-u8 values as in Go', () => {
    const mode = thrown(() => spec('{"bind_mounts":[{},{"mode":2}]}'));
    expect(mode.field).toBe('bind_mounts[1].mode');
    expect(mode.message).toBe(
      'invalid bind_mounts[1].mode: unknown garden.BindMountMode 2 (allowed: 0 (RO), 1 (RW))',
    );
    const protocol = thrown(() => decodeBody(Wire.netOutRule, '{"protocol":5}'));
    expect(protocol.field).toBe('protocol');
    expect(protocol.message).toContain('(allowed: 0 (All), 1 (TCP), 2 (UDP), 3 (ICMP), 4 (ICMPv6))');
    const origin = thrown(() => spec('{"bind_mounts":[{"origin":256}]}'));
    expect(origin.message).toBe(
      'json: cannot unmarshal number 256 into Go struct field BindMount.bind_mounts.origin of type garden.BindMountOrigin',
    );
    expect(thrown(() => spec('{"limits":{"disk_limits":{"scope":2}}}')).field).toBe(
      'limits.disk_limits.scope',
    );
  });

  it('IP fields: Go’s parser, canonical output, and an immediate error that beats earlier type errors', () => {
    expect(thrown(() => decodeBody(Wire.netOutRule, '{"networks":[{"start":"not-an-ip"}]}')).message).toBe(
      'invalid IP address: not-an-ip',
    );
    expect(thrown(() => decodeBody(Wire.netOutRule, '{"networks":[{"end":"1.2.3.04"}]}')).field).toBe(
      'networks[0].end',
    );
    // Go returns UnmarshalText errors at once but reports type errors only at the end.
    const err = thrown(() => decodeBody(Wire.netOutRule, '{"protocol":"tcp","networks":[{"start":"bad"}]}'));
    expect(err.message).toBe('invalid IP address: bad');
    expect(decodeBody(Wire.netOutRule, '{"networks":[{"start":""}]}')).toEqual({ networks: [{}] });
  });

  it('keys: case-insensitive with Go’s folding, last duplicate wins, unknown ignored, null = zero', () => {
    expect(spec('{"Handle":"a","HANDLE":"b"}')).toEqual({ handle: 'b' });
    expect(spec('{"handle":"a","handle":"b","Handle":"c"}')).toEqual({ handle: 'c' });
    expect(spec('{"ROOTF\u017f":"/r","networ\u212a":"n"}')).toEqual({ rootfsPath: '/r', network: 'n' });
    expect(spec('{"handle":null,"env":null,"image":null,"limits":null,"extra":{"deep":[1,2]}}')).toEqual({});
    expect(spec('{"handle":"a","HANDLE":null}')).toEqual({ handle: 'a' });
    // A repeated struct or map key merges into the value decoded so far, like Go.
    expect(
      spec('{"image":{"uri":"u"},"IMAGE":{"username":"n"},"properties":{"a":"1"},"Properties":{"b":"2"}}'),
    ).toEqual({
      image: { uri: 'u', username: 'n' },
      properties: { a: '1', b: '2' },
    });
  });

  it('map keys are sorted by code point (UTF-8 byte order), not UTF-16 units', () => {
    expect(encodeBody(Wire.properties, { '\u{1F600}': 'b', '\uffff': 'a', B: 'c', a: 'd' })).toBe(
      '{"B":"c","a":"d","\uffff":"a","\u{1F600}":"b"}\n',
    );
  });

  it('bodies may be given as UTF-8 bytes', () => {
    expect(decodeBody(Wire.containerSpec, Buffer.from('{"handle":"h\u00e9"}\n'))).toEqual({ handle: 'hé' });
    expect(
      decodeBody(
        Wire.propertyValue,
        Uint8Array.from([0x7b, 0x22, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
      ),
    ).toBe('\ufffd');
  });

  it('refuses lone surrogates in names (Create handle, property keys), not in other strings', () => {
    const refused = (body: string) => {
      try {
        decodeBody(Wire.containerSpec, body);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    for (const [body, field, message] of [
      ['{"handle":"\\ud800"}', 'handle', 'handle: ill-formed UTF-16: lone surrogate \\ud800 at index 0'],
      ['{"HANDLE":"x\\udc00"}', 'handle', 'handle: ill-formed UTF-16: lone surrogate \\udc00 at index 1'],
      ['{"handle":"\ud800"}', 'handle', 'handle: ill-formed UTF-16: lone surrogate \\ud800 at index 0'],
      [
        '{"properties":{"a":"1","\\ud83d":"2"}}',
        'properties',
        'properties: key "\\ud83d" is ill-formed UTF-16: lone surrogate \\ud83d at index 0',
      ],
    ] as const) {
      const err = refused(body);
      expect(err, body).toBeInstanceOf(InvalidRequestError);
      expect((err as InvalidRequestError).field).toBe(field);
      expect((err as Error).message).toBe(message);
    }
    // Pairs are fine, escaped or raw; other strings keep Go's U+FFFD replacement.
    expect(
      decodeBody(Wire.containerSpec, '{"handle":"\\ud83d\\ude00","properties":{"k":"\\ud800"}}'),
    ).toEqual({
      handle: '\u{1F600}',
      properties: { k: '\ufffd' },
    });
    expect(decodeBody(Wire.containerSpec, '{"env":["\\ud800"],"rootfs":"\ud800"}')).toEqual({
      env: ['\ufffd'],
      rootfsPath: '\ufffd',
    });
    // Other codecs have no names to check.
    expect(decodeBody(Wire.processSpec, '{"path":"\\ud800"}')).toEqual({ path: '\ufffd' });
    // A body that does not decode still gets its ordinary error.
    expect(() => decodeBody(Wire.containerSpec, '{"handle":"\\ud800","grace_time":"x"}')).toThrow(
      /grace_time/,
    );
  });

  it('map keys are plain data, including __proto__', () => {
    const props = decodeBody(Wire.properties, '{"__proto__":"x","a":"1"}');
    expect(Object.getPrototypeOf(props)).toBe(Object.prototype);
    expect(Object.keys(props)).toEqual(['__proto__', 'a']);
    expect(encodeBody(Wire.properties, props)).toBe('{"__proto__":"x","a":"1"}\n');
    expect(decodeBody(Wire.properties, '{"__proto__":null}')).toEqual(JSON.parse('{"__proto__":""}'));
  });

  it('pointer fields: present iff non-null, zero values kept', () => {
    expect(decodeBody(Wire.processSpec, '{"rlimits":{"nofile":0,"core":null},"tty":{},"limits":{}}')).toEqual(
      {
        rlimits: { nofile: 0n },
        tty: {},
        overrideContainerLimits: {},
      },
    );
    expect(decodeBody(Wire.netOutRule, '{"icmps":{"code":0}}')).toEqual({ icmps: { code: 0 } });
    expect(decodeBody(Wire.netOutRule, '{"icmps":null}')).toEqual({});
  });

  it('top-level shape errors name the Go value type', () => {
    expect(thrown(() => spec('[]')).message).toBe(
      'json: cannot unmarshal array into Go value of type garden.ContainerSpec',
    );
    expect(thrown(() => decodeBody(Wire.netOutRules, '{}')).message).toBe(
      'json: cannot unmarshal object into Go value of type []garden.NetOutRule',
    );
    expect(thrown(() => decodeBody(Wire.netOutRules, '[{"log":1}]')).message).toBe(
      'json: cannot unmarshal number into Go struct field NetOutRule.log of type bool',
    );
    expect(thrown(() => decodeBody(Wire.properties, '{"a":1}')).message).toBe(
      'json: cannot unmarshal number into Go value of type string',
    );
    expect(thrown(() => spec('')).message).toBe('EOF');
  });
});

describe('encoding validates TS values and names the wire field', () => {
  const bad: Array<[string, () => unknown, string]> = [
    [
      'port out of range',
      () => Wire.containerSpec.encode({ netIn: [{ hostPort: 2 ** 32, containerPort: 1 }] }),
      'netin[0].host_port',
    ],
    [
      'fractional duration',
      () => Wire.containerSpec.encode({ graceTime: 1.5 as unknown as bigint }),
      'grace_time',
    ],
    [
      'unknown enum member',
      () => Wire.containerSpec.encode({ bindMounts: [{ mode: 2 as 1 }] }),
      'bind_mounts[0].mode',
    ],
    ['negative uint64', () => Wire.memoryLimits.encode({ limitInBytes: -1n }), 'limit_in_bytes'],
    [
      'uint64 overflow',
      () => Wire.capacity.encode({ memoryInBytes: 2n ** 64n } as Capacity),
      'memory_in_bytes',
    ],
    ['invalid IP', () => Wire.netOutRule.encode({ networks: [{ start: '1.2.3' }] }), 'networks[0].start'],
    [
      'non-string property',
      () => Wire.containerSpec.encode({ properties: { a: 1 as unknown as string } }),
      'properties.a',
    ],
    ['non-array env', () => Wire.processSpec.encode({ env: 'A=1' as unknown as string[] }), 'env'],
  ];
  it.each(bad)('%s', (_name, fn, field) => {
    expect(thrown(fn).field).toBe(field);
  });

  it('writes IPv4-mapped and uncompressed IPv6 addresses as Go does', () => {
    expect(
      encodeBody(Wire.netOutRule, { networks: [{ start: '::ffff:10.0.0.1', end: '2001:0DB8:0:0:1:0:0:1' }] }),
    ).toBe('{"networks":[{"start":"10.0.0.1","end":"2001:db8::1:0:0:1"}]}\n');
  });
});
