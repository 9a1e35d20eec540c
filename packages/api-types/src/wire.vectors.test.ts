/**
 * The JSON bodies of the protocol's test vectors (garden-wire-protocol.md §13): encoding the TS value
 * gives exactly the recorded bytes (and Content-Length), decoding those bytes gives the TS value.
 */
import { describe, expect, it } from 'vitest';
import {
  ContainerNotFoundError,
  ExecutableNotFoundError,
  GardenError,
  ProcessNotFoundError,
  ServiceUnavailableError,
  UnrecoverableError,
} from './errors.js';
import type {
  ContainerInfo,
  ContainerMemoryStat,
  ContainerSpec,
  Metrics,
  ProcessPayload,
  ProcessSpec,
} from './types.js';
import { MEMORY_STAT_KEYS } from './types.js';
import { decodeBody, encodeBody, Wire, type WireCodec } from './wire.js';

/** Asserts both directions for one body, plus its byte length when the vector gives one. */
function roundTrip<T>(codec: WireCodec<T, unknown, T>, value: T, body: string, contentLength?: number): void {
  expect(encodeBody(codec, value)).toBe(body);
  expect(decodeBody(codec, body)).toEqual(value);
  if (contentLength !== undefined) expect(Buffer.byteLength(body)).toBe(contentLength);
}

const envelope = (type: string, message: string, handle = '', processId = '') =>
  `{"Type":"${type}","Message":${JSON.stringify(message).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')},"Handle":"${handle}","ProcessID":"${processId}","Binary":""}\n`;

describe('error envelopes (TV-02, TV-06, TV-08, TV-13, TV-18, TV-19, TV-21)', () => {
  const cases: Array<[string, unknown, string, number | undefined, new (...a: never[]) => GardenError]> = [
    [
      'TV-02 UnrecoverableError',
      new UnrecoverableError('ermahgahd!'),
      '{"Type":"UnrecoverableError","Message":"ermahgahd!","Handle":"","ProcessID":"","Binary":""}\n',
      92,
      UnrecoverableError,
    ],
    [
      'TV-02 variant: generic error with HTML-sensitive text',
      new Error('plain <error> & stuff'),
      '{"Type":"","Message":"plain \\u003cerror\\u003e \\u0026 stuff","Handle":"","ProcessID":"","Binary":""}\n',
      100,
      GardenError,
    ],
    [
      'TV-06 ServiceUnavailableError',
      new ServiceUnavailableError('special error'),
      '{"Type":"ServiceUnavailableError","Message":"special error","Handle":"","ProcessID":"","Binary":""}\n',
      100,
      ServiceUnavailableError,
    ],
    [
      'TV-08 ContainerNotFoundError',
      new ContainerNotFoundError('nope'),
      '{"Type":"ContainerNotFoundError","Message":"unknown handle: nope","Handle":"nope","ProcessID":"","Binary":""}\n',
      110,
      ContainerNotFoundError,
    ],
    [
      'TV-13 raw Stop with empty body',
      new GardenError('EOF'),
      '{"Type":"","Message":"EOF","Handle":"","ProcessID":"","Binary":""}\n',
      67,
      GardenError,
    ],
    [
      'TV-18 ProcessNotFoundError',
      new ProcessNotFoundError('nope'),
      '{"Type":"ProcessNotFoundError","Message":"unknown process: nope","Handle":"","ProcessID":"nope","Binary":""}\n',
      109,
      ProcessNotFoundError,
    ],
    [
      'TV-19 ExecutableNotFoundError',
      new ExecutableNotFoundError('exec: "/no/such/binary": stat /no/such/binary: no such file or directory'),
      '{"Type":"ExecutableNotFoundError","Message":"exec: \\"/no/such/binary\\": stat /no/such/binary: no such file or directory","Handle":"","ProcessID":"","Binary":""}\n',
      161,
      ExecutableNotFoundError,
    ],
    [
      'TV-21 server-generated decode error',
      new GardenError("invalid character 'o' looking for beginning of object key string"),
      envelope('', "invalid character 'o' looking for beginning of object key string"),
      undefined,
      GardenError,
    ],
    [
      'TV-21 unknown handle with a space and a plus',
      new ContainerNotFoundError('a b+c'),
      '{"Type":"ContainerNotFoundError","Message":"unknown handle: a b+c","Handle":"a b+c","ProcessID":"","Binary":""}\n',
      undefined,
      ContainerNotFoundError,
    ],
  ];

  it.each(cases)('%s', (_name, err, body, length, cls) => {
    expect(encodeBody(Wire.errorEnvelope, err)).toBe(body);
    if (length !== undefined) expect(Buffer.byteLength(body)).toBe(length);
    const decoded = decodeBody(Wire.errorEnvelope, body);
    expect(decoded).toBeInstanceOf(cls);
    expect(decoded.constructor).toBe(cls);
    expect(decoded.message).toBe((err as Error).message);
    expect(decoded.type).toBe(JSON.parse(body).Type);
  });

  it('rebuilds NotFound errors from Handle / ProcessID only, with the 404 status', () => {
    const cnf = decodeBody(
      Wire.errorEnvelope,
      '{"Type":"ContainerNotFoundError","Message":"ignored","Handle":"h"}',
    );
    expect(cnf).toBeInstanceOf(ContainerNotFoundError);
    expect(cnf.message).toBe('unknown handle: h');
    expect((cnf as ContainerNotFoundError).handle).toBe('h');
    expect(cnf.statusCode).toBe(404);
    const pnf = decodeBody(Wire.errorEnvelope, '{"Type":"ProcessNotFoundError","ProcessID":"p"}');
    expect(pnf).toBeInstanceOf(ProcessNotFoundError);
    expect((pnf as ProcessNotFoundError).processId).toBe('p');
    expect(pnf.message).toBe('unknown process: p');
  });

  it('matches envelope keys case-insensitively (exact key preferred, last duplicate wins)', () => {
    const err = decodeBody(Wire.errorEnvelope, '{"type":"ServiceUnavailableError","MESSAGE":"busy"}');
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect(err.message).toBe('busy');
    expect(decodeBody(Wire.errorEnvelope, '{"message":"a","Message":"b"}').message).toBe('b');
    expect(decodeBody(Wire.errorEnvelope, '{"Message":"a","message":"b"}').message).toBe('b');
  });

  it('treats missing keys as empty and unknown or lower-cased Type values as generic', () => {
    const empty = decodeBody(Wire.errorEnvelope, '{}');
    expect(empty.constructor).toBe(GardenError);
    expect(empty.message).toBe('');
    const unknown = decodeBody(Wire.errorEnvelope, '{"Type":"FutureError","Message":"m"}');
    expect(unknown.constructor).toBe(GardenError);
    expect(unknown.message).toBe('m');
    // The Type value itself is compared case-sensitively (§4.2).
    const lower = decodeBody(
      Wire.errorEnvelope,
      '{"Type":"containernotfounderror","Message":"m","Handle":"h"}',
    );
    expect(lower.constructor).toBe(GardenError);
  });

  it('rejects an envelope that is not an object, naming the Go type', () => {
    expect(() => decodeBody(Wire.errorEnvelope, '"oops"')).toThrow(
      'json: cannot unmarshal string into Go value of type garden.Error',
    );
    expect(() => decodeBody(Wire.errorEnvelope, '')).toThrow('EOF');
  });
});

describe('Create (TV-04, TV-05, TV-06, TV-21)', () => {
  it('TV-04 empty spec', () => {
    roundTrip(
      Wire.containerSpec,
      {},
      '{"image":{},"limits":{"bandwidth_limits":{},"cpu_limits":{},"disk_limits":{},"memory_limits":{},"pid_limits":{}}}\n',
      114,
    );
    roundTrip(Wire.createResponse, 'generated-1', '{"Handle":"generated-1"}\n', 25);
  });

  it('TV-05 full spec', () => {
    const spec: ContainerSpec = {
      handle: 'my-handle',
      graceTime: 10_000_000_000n,
      rootfsPath: '/var/rootfs',
      image: { uri: 'docker:///busybox#1.36', username: 'u', password: 'p' },
      bindMounts: [
        { srcPath: '/src', dstPath: '/dst', mode: 1, origin: 1 },
        { srcPath: '/a', dstPath: '/b' },
      ],
      network: '10.0.0.0/30',
      properties: { env: 'test', owner: 'me' },
      env: ['A=1'],
      privileged: true,
      limits: {
        bandwidth: { rateInBytesPerSecond: 100n, burstRateInBytesPerSecond: 200n },
        cpu: { weight: 512n },
        disk: { byteHard: 1024n, scope: 1 },
        memory: { limitInBytes: 67108864n },
        pid: { max: 100n },
      },
      netOut: [
        { protocol: 1, networks: [{ start: '8.8.8.8', end: '8.8.8.8' }], ports: [{ start: 53, end: 53 }] },
      ],
      netIn: [{ hostPort: 0, containerPort: 8080 }],
    };
    const body =
      '{"handle":"my-handle","grace_time":10000000000,"rootfs":"/var/rootfs","image":{"uri":"docker:///busybox#1.36","username":"u","password":"p"},"bind_mounts":[{"src_path":"/src","dst_path":"/dst","mode":1,"origin":1},{"src_path":"/a","dst_path":"/b"}],"network":"10.0.0.0/30","properties":{"env":"test","owner":"me"},"env":["A=1"],"privileged":true,"limits":{"bandwidth_limits":{"rate":100,"burst":200},"cpu_limits":{"weight":512},"disk_limits":{"byte_hard":1024,"scope":1},"memory_limits":{"limit_in_bytes":67108864},"pid_limits":{"max":100}},"netout_rules":[{"protocol":1,"networks":[{"start":"8.8.8.8","end":"8.8.8.8"}],"ports":[{"start":53,"end":53}]}],"netin":[{"host_port":0,"container_port":8080}]}\n';
    roundTrip(Wire.containerSpec, spec, body, 703);
    // Properties given in any order are written sorted.
    expect(encodeBody(Wire.containerSpec, { ...spec, properties: { owner: 'me', env: 'test' } })).toBe(body);
    roundTrip(Wire.createResponse, 'my-handle', '{"Handle":"my-handle"}\n', 23);
  });

  it('TV-06 spec with a handle only', () => {
    roundTrip(
      Wire.containerSpec,
      { handle: 'fail-create' },
      '{"handle":"fail-create","image":{},"limits":{"bandwidth_limits":{},"cpu_limits":{},"disk_limits":{},"memory_limits":{},"pid_limits":{}}}\n',
      137,
    );
  });

  it('TV-21 case-insensitive key, unknown key ignored', () => {
    expect(decodeBody(Wire.containerSpec, '{"HANDLE":"upper","bogus":1}')).toEqual({ handle: 'upper' });
    roundTrip(Wire.createResponse, 'upper', '{"Handle":"upper"}\n');
    // The Go client decodes the response with tag `handle`.
    expect(decodeBody(Wire.createResponse, '{"handle":"x"}')).toBe('x');
  });

  it("TV-21 decode errors carry Go's messages", () => {
    expect(() => decodeBody(Wire.containerSpec, '{oops}\n')).toThrow(
      "invalid character 'o' looking for beginning of object key string",
    );
    expect(() => decodeBody(Wire.containerSpec, '{"grace_time":"10s"}\n')).toThrow(
      expect.objectContaining({
        field: 'grace_time',
        message:
          'json: cannot unmarshal string into Go struct field ContainerSpec.grace_time of type time.Duration',
      }),
    );
  });
});

describe('Capacity and List (TV-03, TV-07)', () => {
  it('TV-03 omits zero fields', () => {
    roundTrip(
      Wire.capacity,
      { memoryInBytes: 1111n, diskInBytes: 2222n, schedulableDiskInBytes: 0n, maxContainers: 42n },
      '{"memory_in_bytes":1111,"disk_in_bytes":2222,"max_containers":42}\n',
      66,
    );
  });

  it('TV-07 handles list, never null', () => {
    roundTrip(Wire.listResponse, [], '{"Handles":[]}\n', 15);
    roundTrip(Wire.listResponse, ['generated-1', 'my-handle'], '{"Handles":["generated-1","my-handle"]}\n');
    expect(decodeBody(Wire.listResponse, '{"handles":["a"]}')).toEqual(['a']);
    expect(decodeBody(Wire.listResponse, '{"Handles":null}')).toEqual([]);
  });
});

const emptyInfo: ContainerInfo = {
  state: '',
  events: [],
  hostIP: '',
  containerIP: '',
  containerIPv6: '',
  externalIP: '',
  containerPath: '',
  processIDs: [],
  properties: {},
  mappedPorts: [],
};

describe('Info and BulkInfo (TV-08, TV-09)', () => {
  it('TV-08 companion: full info', () => {
    roundTrip(
      Wire.containerInfo,
      {
        state: 'active',
        events: ['oom'],
        hostIP: '10.254.0.1',
        containerIP: '10.254.0.2',
        containerIPv6: '',
        externalIP: '192.0.2.10',
        containerPath: '/var/vcap/data/garden/depot/info-full',
        processIDs: ['p1'],
        properties: { owner: 'me' },
        mappedPorts: [{ hostPort: 61001, containerPort: 8080 }],
      },
      '{"State":"active","Events":["oom"],"HostIP":"10.254.0.1","ContainerIP":"10.254.0.2","ContainerIPv6":"","ExternalIP":"192.0.2.10","ContainerPath":"/var/vcap/data/garden/depot/info-full","ProcessIDs":["p1"],"Properties":{"owner":"me"},"MappedPorts":[{"HostPort":61001,"ContainerPort":8080}]}\n',
      290,
    );
  });

  it('TV-09 one found, one missing', () => {
    const body =
      '{"my-handle":{"Info":{"State":"active","Events":null,"HostIP":"","ContainerIP":"","ContainerIPv6":"","ExternalIP":"","ContainerPath":"","ProcessIDs":null,"Properties":null,"MappedPorts":null},"Err":null},"nope":{"Info":{"State":"","Events":null,"HostIP":"","ContainerIP":"","ContainerIPv6":"","ExternalIP":"","ContainerPath":"","ProcessIDs":null,"Properties":null,"MappedPorts":null},"Err":{"Type":"ContainerNotFoundError","Message":"unknown handle: nope","Handle":"nope","ProcessID":"","Binary":""}}}\n';
    expect(Buffer.byteLength(body)).toBe(502);
    // Entries given in any order come out sorted; the failed entry still carries a zero Info.
    const encoded = encodeBody(Wire.bulkInfo, {
      nope: { error: new ContainerNotFoundError('nope') },
      'my-handle': { info: { ...emptyInfo, state: 'active' } },
    });
    expect(encoded).toBe(body);
    const decoded = decodeBody(Wire.bulkInfo, body);
    expect(Object.keys(decoded)).toEqual(['my-handle', 'nope']);
    expect(decoded['my-handle']).toEqual({ info: { ...emptyInfo, state: 'active' } });
    const err = decoded.nope?.error;
    expect(err).toBeInstanceOf(ContainerNotFoundError);
    expect((err as ContainerNotFoundError).handle).toBe('nope');
    expect(decoded.nope?.info).toBeUndefined();
    roundTrip(Wire.bulkInfo, {}, '{}\n');
  });

  it('accepts [] and {} as well as null for ContainerInfo slices and maps', () => {
    const info = decodeBody(
      Wire.containerInfo,
      '{"State":"stopped","Events":[],"Properties":{},"mappedports":null}',
    );
    expect(info).toEqual({ ...emptyInfo, state: 'stopped' });
  });
});

const zeroMemoryStat = Object.fromEntries(
  [...MEMORY_STAT_KEYS].map((k) => [k, 0n]),
) as unknown as ContainerMemoryStat;

const tv10Metrics: Metrics = {
  memoryStat: { ...zeroMemoryStat, cache: 1n, rss: 2n, totalUsageTowardLimit: 7n, swapcached: 3n },
  cpuStat: { usage: 1n, user: 2n, system: 3n },
  diskStat: { totalBytesUsed: 11n, totalInodesUsed: 12n, exclusiveBytesUsed: 0n, exclusiveInodesUsed: 0n },
  networkStat: null,
  pidStat: { current: 4n, max: 1024n },
  age: 90_000_000_000n,
  cpuEntitlement: 100n,
};
const tv10Body =
  '{"MemoryStat":{"active_anon":0,"active_file":0,"cache":1,"hierarchical_memory_limit":0,"inactive_anon":0,"inactive_file":0,"mapped_file":0,"pgfault":0,"pgmajfault":0,"pgpgin":0,"pgpgout":0,"rss":2,"total_active_anon":0,"total_active_file":0,"total_cache":0,"total_inactive_anon":0,"total_inactive_file":0,"total_mapped_file":0,"total_pgfault":0,"total_pgmajfault":0,"total_pgpgin":0,"total_pgpgout":0,"total_rss":0,"total_unevictable":0,"unevictable":0,"swap":0,"hierarchical_memsw_limit":0,"total_swap":0,"TotalUsageTowardLimit":7,"anon":0,"file":0,"swapcached":3},"CPUStat":{"Usage":1,"User":2,"System":3},"DiskStat":{"TotalBytesUsed":11,"TotalInodesUsed":12,"ExclusiveBytesUsed":0,"ExclusiveInodesUsed":0},"NetworkStat":null,"PidStat":{"Current":4,"Max":1024},"Age":90000000000,"CPUEntitlement":100}\n';

describe('Metrics and BulkMetrics (TV-10)', () => {
  it('TV-10 metrics', () => {
    roundTrip(Wire.metrics, tv10Metrics, tv10Body, 803);
  });

  it('round-trips uint64 values above 2^53 exactly (memory stats, Age)', () => {
    const big: Metrics = {
      ...tv10Metrics,
      memoryStat: {
        ...tv10Metrics.memoryStat,
        hierarchicalMemoryLimit: 9223372036854771712n,
        hierarchicalMemswLimit: 18446744073709551615n,
      },
      networkStat: { rxBytes: 18446744073709551615n, txBytes: 1n },
      age: 9223372036854775807n,
      cpuEntitlement: 18446744073709551615n,
    };
    const body = encodeBody(Wire.metrics, big);
    expect(body).toContain('"hierarchical_memory_limit":9223372036854771712,');
    expect(body).toContain('"hierarchical_memsw_limit":18446744073709551615,');
    expect(body).toContain('"NetworkStat":{"RxBytes":18446744073709551615,"TxBytes":1}');
    expect(body).toContain('"Age":9223372036854775807,"CPUEntitlement":18446744073709551615}');
    expect(decodeBody(Wire.metrics, body)).toEqual(big);
    const constructed = tv10Body.replace(
      '"hierarchical_memory_limit":0',
      '"hierarchical_memory_limit":9223372036854771712',
    );
    expect(decodeBody(Wire.metrics, constructed).memoryStat.hierarchicalMemoryLimit).toBe(
      9223372036854771712n,
    );
    expect(() =>
      decodeBody(Wire.metrics, tv10Body.replace('"Usage":1', '"Usage":18446744073709551616')),
    ).toThrow(expect.objectContaining({ field: 'CPUStat.Usage' }));
  });

  it('bulk metrics entries with and without errors', () => {
    const zero: Metrics = {
      memoryStat: zeroMemoryStat,
      cpuStat: { usage: 0n, user: 0n, system: 0n },
      diskStat: { totalBytesUsed: 0n, totalInodesUsed: 0n, exclusiveBytesUsed: 0n, exclusiveInodesUsed: 0n },
      networkStat: null,
      pidStat: { current: 0n, max: 0n },
      age: 0n,
      cpuEntitlement: 0n,
    };
    const body = encodeBody(Wire.bulkMetrics, {
      b: { error: new Error('boom') },
      a: { metrics: tv10Metrics },
    });
    const zeroBody = encodeBody(Wire.metrics, zero).trimEnd();
    expect(body).toBe(
      `{"a":{"Metrics":${tv10Body.trimEnd()},"Err":null},"b":{"Metrics":${zeroBody},"Err":{"Type":"","Message":"boom","Handle":"","ProcessID":"","Binary":""}}}\n`,
    );
    const decoded = decodeBody(Wire.bulkMetrics, body);
    expect(decoded.a).toEqual({ metrics: tv10Metrics });
    expect(decoded.b?.error).toBeInstanceOf(GardenError);
    expect(decoded.b?.error?.message).toBe('boom');
  });
});

describe('Properties (TV-11)', () => {
  it('TV-11 SetProperty body is HTML-safe', () => {
    roundTrip(Wire.propertyValue, 'v<&>', '{"value":"v\\u003c\\u0026\\u003e"}\n', 32);
    roundTrip(Wire.propertyValue, '', '{"value":""}\n');
  });

  it('properties map: keys sorted by byte order, null accepted', () => {
    expect(encodeBody(Wire.properties, { b: '1', a: '2', é: '3', Z: '4' })).toBe(
      '{"Z":"4","a":"2","b":"1","é":"3"}\n',
    );
    expect(encodeBody(Wire.properties, {})).toBe('{}\n');
    expect(decodeBody(Wire.properties, 'null')).toEqual({});
    expect(decodeBody(Wire.properties, '{"k":"v","__proto__":"x"}')).toEqual(
      Object.defineProperty({ k: 'v' }, '__proto__', { value: 'x', enumerable: true }),
    );
  });
});

describe('NetIn / NetOut / BulkNetOut (TV-12)', () => {
  it('NetIn request and response', () => {
    roundTrip(
      Wire.netInRequest,
      { handle: 'my-handle', hostPort: 0, containerPort: 8080 },
      '{"handle":"my-handle","container_port":8080}\n',
      45,
    );
    roundTrip(
      Wire.netInResponse,
      { hostPort: 61001, containerPort: 8080 },
      '{"host_port":61001,"container_port":8080}\n',
    );
    roundTrip(Wire.netInResponse, { hostPort: 0, containerPort: 0 }, '{}\n');
  });

  it('NetOut keeps a zero ICMP code and writes IPs canonically', () => {
    roundTrip(
      Wire.netOutRule,
      {
        protocol: 3,
        networks: [{ start: '10.0.0.1', end: '10.0.0.255' }, { start: '2001:db8::1' }],
        icmps: { type: 8, code: 0 },
        log: true,
      },
      '{"protocol":3,"networks":[{"start":"10.0.0.1","end":"10.0.0.255"},{"start":"2001:db8::1"}],"icmps":{"type":8,"code":0},"log":true}\n',
      131,
    );
    roundTrip(Wire.netOutRule, {}, '{}\n', 3);
    expect(
      decodeBody(Wire.netOutRule, '{"networks":[{"start":"::FFFF:1.2.3.4","end":"2001:DB8:0:0:0:0:0:1"}]}'),
    ).toEqual({
      networks: [{ start: '1.2.3.4', end: '2001:db8::1' }],
    });
  });

  it('BulkNetOut list and nil list', () => {
    roundTrip(
      Wire.netOutRules,
      [{ protocol: 1, ports: [{ start: 80, end: 443 }] }, { protocol: 2 }],
      '[{"protocol":1,"ports":[{"start":80,"end":443}]},{"protocol":2}]\n',
    );
    expect(encodeBody(Wire.netOutRules, null)).toBe('null\n');
    expect(Buffer.byteLength(encodeBody(Wire.netOutRules, null))).toBe(5);
    expect(decodeBody(Wire.netOutRules, 'null\n')).toEqual([]);
  });
});

describe('SetGraceTime and Stop (TV-13)', () => {
  it('grace time is a bare integer', () => {
    roundTrip(Wire.graceTime, 90_000_000_000n, '90000000000\n', 12);
    roundTrip(Wire.graceTime, 0n, '0\n');
    roundTrip(Wire.graceTime, -5n, '-5\n');
    expect(() => decodeBody(Wire.graceTime, '"5s"')).toThrow(
      expect.objectContaining({
        field: '',
        message: 'json: cannot unmarshal string into Go value of type time.Duration',
      }),
    );
    expect(() => decodeBody(Wire.graceTime, '1e9')).toThrow(
      'json: cannot unmarshal number 1000000000 into Go value of type time.Duration',
    );
    expect(() => decodeBody(Wire.graceTime, '9223372036854775808')).toThrow(
      'json: cannot unmarshal number 9223372036854775808 into Go value of type time.Duration',
    );
  });

  it('stop request', () => {
    roundTrip(Wire.stopRequest, false, '{"kill":false}\n', 15);
    roundTrip(Wire.stopRequest, true, '{"kill":true}\n');
    expect(decodeBody(Wire.stopRequest, '{}')).toBe(false);
    expect(() => decodeBody(Wire.stopRequest, '')).toThrow(
      expect.objectContaining({ message: 'EOF', field: '' }),
    );
    expect(() => decodeBody(Wire.stopRequest, '{"kill":"yes"}')).toThrow(
      'json: cannot unmarshal string into Go struct field .kill of type bool',
    );
  });
});

describe('Run / Attach bodies and control messages (TV-16, TV-17, TV-19, TV-20)', () => {
  it('TV-16 process spec with rlimits and tty', () => {
    const spec: ProcessSpec = {
      id: 'proc-1',
      path: 'echo-stdin',
      args: ['a'],
      env: ['X=1'],
      dir: '/root',
      user: 'root',
      rlimits: { nofile: 1024n },
      tty: { windowSize: { columns: 80, rows: 24 } },
    };
    roundTrip(
      Wire.processSpec,
      spec,
      '{"id":"proc-1","path":"echo-stdin","args":["a"],"env":["X=1"],"dir":"/root","user":"root","rlimits":{"nofile":1024},"tty":{"window_size":{"columns":80,"rows":24}},"image":{}}\n',
      175,
    );
  });

  it('TV-17 process spec with a limits override', () => {
    roundTrip(
      Wire.processSpec,
      { path: 'wait-signal', overrideContainerLimits: { cpu: { weight: 10n } } },
      '{"path":"wait-signal","rlimits":{},"limits":{"cpu_limits":{"weight":10},"memory_limits":{}},"image":{}}\n',
      104,
    );
  });

  it('TV-19 minimal process spec; zero rlimits are kept', () => {
    roundTrip(
      Wire.processSpec,
      { path: '/no/such/binary' },
      '{"path":"/no/such/binary","rlimits":{},"image":{}}\n',
      51,
    );
    roundTrip(Wire.processSpec, {}, '{"rlimits":{},"image":{}}\n');
    roundTrip(Wire.processSpec, { rlimits: { stack: 0n } }, '{"rlimits":{"stack":0},"image":{}}\n');
    roundTrip(Wire.processSpec, { tty: {} }, '{"rlimits":{},"tty":{},"image":{}}\n');
  });

  const payloads: Array<[string, ProcessPayload, string]> = [
    [
      'first server message',
      { processId: 'proc-1', streamId: '1' },
      '{"process_id":"proc-1","stream_id":"1"}\n',
    ],
    [
      'stdin data',
      { processId: 'proc-1', source: 0, data: 'input\n' },
      '{"process_id":"proc-1","source":0,"data":"input\\n"}\n',
    ],
    ['stdin EOF', { processId: 'proc-1', source: 0 }, '{"process_id":"proc-1","source":0}\n'],
    ['exit status', { processId: 'proc-1', exitStatus: 3 }, '{"process_id":"proc-1","exit_status":3}\n'],
    ['exit status 0', { processId: 'long-1', exitStatus: 0 }, '{"process_id":"long-1","exit_status":0}\n'],
    [
      'tty resize',
      { processId: 'generated-process-id', tty: { windowSize: { columns: 100, rows: 50 } } },
      '{"process_id":"generated-process-id","tty":{"window_size":{"columns":100,"rows":50}}}\n',
    ],
    [
      'signal terminate',
      { processId: 'generated-process-id', signal: 0 },
      '{"process_id":"generated-process-id","signal":0}\n',
    ],
    ['signal kill', { processId: 'p', signal: 1 }, '{"process_id":"p","signal":1}\n'],
    ['wait error', { processId: 'p', error: 'boom' }, '{"process_id":"p","error":"boom"}\n'],
    ['stream id 4', { processId: 'long-1', streamId: '4' }, '{"process_id":"long-1","stream_id":"4"}\n'],
  ];
  it.each(payloads)('payload: %s', (_name, payload, line) => roundTrip(Wire.processPayload, payload, line));

  it('payload decoding: data null means EOF, unknown signals pass, types are checked', () => {
    expect(decodeBody(Wire.processPayload, '{"process_id":"p","source":0,"data":null}')).toEqual({
      processId: 'p',
      source: 0,
    });
    expect(decodeBody(Wire.processPayload, '{"signal":7}')).toEqual({ signal: 7 });
    expect(decodeBody(Wire.processPayload, '{"Source":2,"DATA":"x"}')).toEqual({ source: 2, data: 'x' });
    expect(() => decodeBody(Wire.processPayload, '{"signal":"kill"}')).toThrow(
      'json: cannot unmarshal string into Go struct field ProcessPayload.signal of type garden.Signal',
    );
    expect(() => decodeBody(Wire.processPayload, '{"tty":{"window_size":{"rows":65536}}}')).toThrow(
      expect.objectContaining({
        field: 'tty.window_size.rows',
        message:
          'json: cannot unmarshal number 65536 into Go struct field WindowSize.tty.window_size.rows of type uint16',
      }),
    );
  });
});

describe('Go map key order (encoding/json sorts map keys by bytes)', () => {
  // A JS object lists integer-like keys ("2", "10") first; Go sorts every map key by byte order.
  const props = { a: '1', '10': 'x', '': 'e', '2': 'y', B: 'z' };
  const sorted = '{"":"e","10":"x","2":"y","B":"z","a":"1"}\n';

  it('sorts a Properties map by bytes, integer-like keys included', () => {
    expect(encodeBody(Wire.properties, props)).toBe(sorted);
  });

  it('sorts maps nested in structs (ContainerSpec.properties) and bulk maps', () => {
    expect(encodeBody(Wire.containerSpec, { properties: props })).toContain(
      `"properties":${sorted.trimEnd()}`,
    );
    const entry = { error: new ContainerNotFoundError('x') };
    const text = encodeBody(Wire.bulkInfo, { b: entry, '10': entry, '9': entry });
    expect(text.indexOf('"10":')).toBeLessThan(text.indexOf('"9":'));
    expect(text.indexOf('"9":')).toBeLessThan(text.indexOf('"b":'));
  });
});
