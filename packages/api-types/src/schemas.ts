/**
 * TypeBox (JSON Schema) descriptions of every Garden wire shape (protocol §5), with Go's key names.
 *
 * These schemas are the single source of truth for the wire: the codecs in `wire.ts` walk them to
 * encode and decode (key order, omitempty rule, TS field name, integer range and Go type name all
 * come from here), and the server may generate documentation from them.
 *
 * Integer fields are `bigint` schemas (the JSON parser yields bigints for integer literals) whose
 * `minimum`/`maximum` is the accepted range: the Go type's range, narrowed to the known members for
 * enums. Annotations (ignored by JSON Schema validators):
 * - `x-go-type`: the Go type, for Go-style error messages (`garden.ContainerSpec`, `uint64`);
 * - `x-go-int`: the Go integer kind (`uint8` … `uint64`, `int64`, `int`), which also decides the
 *   TS representation (`number` up to 32 bits and for `int`, `bigint` for 64-bit kinds);
 * - `x-ts`: the TS (camelCase) property name of a struct field;
 * - `x-omit`: `zero` (omitempty), `nil` (omitempty pointer: present iff set) or `always`;
 * - `x-empty`: `null` when an empty slice/map is written as `null` (Go nil in untagged structs);
 * - `x-complete`: the struct's TS type has every field required (responses), so decoding fills
 *   zero values instead of leaving them out;
 * - `x-enum`: names of an enum's members, indexed by value;
 * - `x-well-formed`: a string, or a map's keys, that must not hold lone surrogates (handles,
 *   property keys): refused at decode instead of becoming U+FFFD.
 *
 * A JSON `null` is accepted wherever Go accepts it (every field; it means the zero value).
 */
import { CloneType, type TSchema, Type } from '@sinclair/typebox';

/** Go integer kinds that appear on the wire. */
export type GoIntKind = 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int64' | 'int';

/** How a struct field is omitted when encoding (Go `omitempty` semantics). */
export type OmitRule = 'zero' | 'nil' | 'always';

const U64_MAX = 2n ** 64n - 1n;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** The value range of each Go integer kind. */
export const GO_INT_RANGE: Record<GoIntKind, readonly [bigint, bigint]> = {
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 4294967295n],
  uint64: [0n, U64_MAX],
  int64: [I64_MIN, I64_MAX],
  int: [I64_MIN, I64_MAX],
};

function int(kind: GoIntKind, goType: string = kind, description?: string) {
  const [minimum, maximum] = GO_INT_RANGE[kind];
  return Type.BigInt({ minimum, maximum, 'x-go-int': kind, 'x-go-type': goType, description });
}

/** A uint8 enum; only its known members are accepted. */
function enumU8(goType: string, members: Record<string, number>) {
  const names: string[] = [];
  for (const [name, value] of Object.entries(members)) names[value] = name;
  return Type.BigInt({
    minimum: 0n,
    maximum: BigInt(names.length - 1),
    'x-go-int': 'uint8',
    'x-go-type': goType,
    'x-enum': names,
    description: names.map((n, i) => `${i} = ${n}`).join(', '),
  });
}

const u16 = (goType?: string) => int('uint16', goType);
const u32 = () => int('uint32');
const u64 = (description?: string) => int('uint64', 'uint64', description);
const duration = (description: string) => int('int64', 'time.Duration', description);
const str = (description?: string) => Type.String({ 'x-go-type': 'string', description });
const bool = () => Type.Boolean({ 'x-go-type': 'bool' });
const ip = () => Type.String({ 'x-go-type': 'net.IP', 'x-go-ip': true, description: 'IPv4 or IPv6 address' });
const strings = () => Type.Array(str(), { 'x-go-type': '[]string' });
const stringMap = (goType: string) => Type.Record(Type.String(), str(), { 'x-go-type': goType });
const slice = <T extends TSchema>(item: T) => Type.Array(item, { 'x-go-type': `[]${item['x-go-type']}` });
const nullable = <T extends TSchema>(schema: T) =>
  Type.Union([schema, Type.Null()], { 'x-go-type': `*${schema['x-go-type']}`, 'x-nullable': true });

/**
 * Marks a string (or a map's keys) that names something — a handle, a property key — and so must
 * be well-formed UTF-16: a lone surrogate would silently become U+FFFD and name another object.
 * Decoding refuses it (`x-well-formed`); other strings get Go's U+FFFD replacement.
 */
const wellFormed = <T extends TSchema>(schema: T) => CloneType(schema, { 'x-well-formed': true });

/** A struct field: `[wire key, TS key, omit rule, schema]`. */
type FieldDef = readonly [string, string, OmitRule, TSchema];

function struct(goType: string, fields: readonly FieldDef[], options: { complete?: boolean } = {}) {
  const properties: Record<string, TSchema> = {};
  for (const [wire, ts, omit, schema] of fields) {
    properties[wire] = Type.Optional(CloneType(schema, { 'x-ts': ts, 'x-omit': omit }));
  }
  return Type.Object(properties, {
    'x-go-type': goType,
    'x-complete': options.complete === true,
    additionalProperties: true,
  });
}

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const lowerFirst = (goName: string) => goName.charAt(0).toLowerCase() + goName.slice(1);

// ---- Enumerations (§5.1) -------------------------------------------------------------------------

/** `garden.BindMountMode`: 0 = RO, 1 = RW. */
export const BindMountModeSchema = enumU8('garden.BindMountMode', { RO: 0, RW: 1 });
/** `garden.BindMountOrigin`: 0 = Host, 1 = Container. */
export const BindMountOriginSchema = enumU8('garden.BindMountOrigin', { Host: 0, Container: 1 });
/** `garden.Protocol`: 0 = all, 1 = tcp, 2 = udp, 3 = icmp, 4 = icmpv6. */
export const ProtocolSchema = enumU8('garden.Protocol', { All: 0, TCP: 1, UDP: 2, ICMP: 3, ICMPv6: 4 });
/** `garden.DiskLimitScope`: 0 = total, 1 = exclusive. */
export const DiskLimitScopeSchema = enumU8('garden.DiskLimitScope', { Total: 0, Exclusive: 1 });

// ---- ContainerSpec family (§5.2–5.4) -------------------------------------------------------------

export const ImageRefSchema = struct('garden.ImageRef', [
  ['uri', 'uri', 'zero', str()],
  ['username', 'username', 'zero', str()],
  ['password', 'password', 'zero', str()],
]);

export const BindMountSchema = struct('garden.BindMount', [
  ['src_path', 'srcPath', 'zero', str()],
  ['dst_path', 'dstPath', 'zero', str()],
  ['mode', 'mode', 'zero', BindMountModeSchema],
  ['origin', 'origin', 'zero', BindMountOriginSchema],
]);

export const BandwidthLimitsSchema = struct('garden.BandwidthLimits', [
  ['rate', 'rateInBytesPerSecond', 'zero', u64('bytes per second')],
  ['burst', 'burstRateInBytesPerSecond', 'zero', u64('bytes per second')],
]);

export const CPULimitsSchema = struct('garden.CPULimits', [
  ['weight', 'weight', 'zero', u64()],
  ['limit_in_shares', 'limitInShares', 'zero', u64('deprecated: use weight')],
]);

export const DiskLimitsSchema = struct('garden.DiskLimits', [
  ['inode_soft', 'inodeSoft', 'zero', u64()],
  ['inode_hard', 'inodeHard', 'zero', u64()],
  ['byte_soft', 'byteSoft', 'zero', u64()],
  ['byte_hard', 'byteHard', 'zero', u64()],
  ['scope', 'scope', 'zero', DiskLimitScopeSchema],
]);

export const MemoryLimitsSchema = struct('garden.MemoryLimits', [
  ['limit_in_bytes', 'limitInBytes', 'zero', u64()],
]);

export const PidLimitsSchema = struct('garden.PidLimits', [['max', 'max', 'zero', u64('0 = unlimited')]]);

export const LimitsSchema = struct('garden.Limits', [
  ['bandwidth_limits', 'bandwidth', 'always', BandwidthLimitsSchema],
  ['cpu_limits', 'cpu', 'always', CPULimitsSchema],
  ['disk_limits', 'disk', 'always', DiskLimitsSchema],
  ['memory_limits', 'memory', 'always', MemoryLimitsSchema],
  ['pid_limits', 'pid', 'always', PidLimitsSchema],
]);

export const IPRangeSchema = struct('garden.IPRange', [
  ['start', 'start', 'zero', ip()],
  ['end', 'end', 'zero', ip()],
]);

export const PortRangeSchema = struct('garden.PortRange', [
  ['start', 'start', 'zero', u16()],
  ['end', 'end', 'zero', u16()],
]);

export const ICMPControlSchema = struct('garden.ICMPControl', [
  ['type', 'type', 'zero', int('uint8', 'garden.ICMPType')],
  ['code', 'code', 'nil', int('uint8', 'garden.ICMPCode')],
]);

/** Body of NetOut; element of BulkNetOut and of `netout_rules`. */
export const NetOutRuleSchema = struct('garden.NetOutRule', [
  ['protocol', 'protocol', 'zero', ProtocolSchema],
  ['networks', 'networks', 'zero', slice(IPRangeSchema)],
  ['ports', 'ports', 'zero', slice(PortRangeSchema)],
  ['icmps', 'icmps', 'nil', ICMPControlSchema],
  ['log', 'log', 'zero', bool()],
]);

/** Body of BulkNetOut: a list of rules, or `null` (the Go client's nil list). */
export const NetOutRulesSchema = nullable(slice(NetOutRuleSchema));

/** Element of `netin`: both ports always present. */
export const NetInSchema = struct(
  'garden.NetIn',
  [
    ['host_port', 'hostPort', 'always', u32()],
    ['container_port', 'containerPort', 'always', u32()],
  ],
  { complete: true },
);

/** Body of Create. */
export const ContainerSpecSchema = struct('garden.ContainerSpec', [
  ['handle', 'handle', 'zero', wellFormed(str('requested handle; generated when empty'))],
  ['grace_time', 'graceTime', 'zero', duration('nanoseconds; 0 = server default')],
  ['rootfs', 'rootfsPath', 'zero', str()],
  ['image', 'image', 'always', ImageRefSchema],
  ['bind_mounts', 'bindMounts', 'zero', slice(BindMountSchema)],
  ['network', 'network', 'zero', str('CIDR or IP/CIDR')],
  ['properties', 'properties', 'zero', wellFormed(stringMap('garden.Properties'))],
  ['env', 'env', 'zero', strings()],
  ['privileged', 'privileged', 'zero', bool()],
  ['limits', 'limits', 'always', LimitsSchema],
  ['netout_rules', 'netOut', 'zero', slice(NetOutRuleSchema)],
  ['netin', 'netIn', 'zero', slice(NetInSchema)],
]);

// ---- ProcessSpec (§5.5) --------------------------------------------------------------------------

const RLIMITS = [
  'as',
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'sigpending',
  'stack',
] as const;

export const ResourceLimitsSchema = struct(
  'garden.ResourceLimits',
  RLIMITS.map((name): FieldDef => [name, name, 'nil', u64()]),
);

export const ProcessLimitsSchema = struct('garden.ProcessLimits', [
  ['cpu_limits', 'cpu', 'always', CPULimitsSchema],
  ['memory_limits', 'memory', 'always', MemoryLimitsSchema],
]);

export const WindowSizeSchema = struct('garden.WindowSize', [
  ['columns', 'columns', 'zero', u16()],
  ['rows', 'rows', 'zero', u16()],
]);

export const TTYSpecSchema = struct('garden.TTYSpec', [
  ['window_size', 'windowSize', 'nil', WindowSizeSchema],
]);

/** Body of Run. */
export const ProcessSpecSchema = struct('garden.ProcessSpec', [
  ['id', 'id', 'zero', str('process id; generated when empty')],
  ['path', 'path', 'zero', str()],
  ['args', 'args', 'zero', strings()],
  ['env', 'env', 'zero', strings()],
  ['dir', 'dir', 'zero', str()],
  ['user', 'user', 'zero', str('user name or uid:gid')],
  ['rlimits', 'rlimits', 'always', ResourceLimitsSchema],
  ['limits', 'overrideContainerLimits', 'nil', ProcessLimitsSchema],
  ['tty', 'tty', 'nil', TTYSpecSchema],
  ['image', 'image', 'always', ImageRefSchema],
  ['bind_mounts', 'bindMounts', 'zero', slice(BindMountSchema)],
]);

// ---- Responses (§5.6–5.10) -----------------------------------------------------------------------

export const CapacitySchema = struct(
  'garden.Capacity',
  ['memory_in_bytes', 'disk_in_bytes', 'schedulable_disk_in_bytes', 'max_containers'].map(
    (k): FieldDef => [k, camel(k), 'zero', u64()],
  ),
  { complete: true },
);

export const PortMappingSchema = struct(
  'garden.PortMapping',
  [
    ['HostPort', 'hostPort', 'always', u32()],
    ['ContainerPort', 'containerPort', 'always', u32()],
  ],
  { complete: true },
);

/** A slice or map of an untagged struct: Go writes nil as `null`, and we write empty ones that way. */
const nilSlice = <T extends TSchema>(schema: T) =>
  Type.Union([schema, Type.Null()], { 'x-go-type': schema['x-go-type'], 'x-empty': 'null' });

export const ContainerInfoSchema = struct(
  'garden.ContainerInfo',
  [
    ['State', 'state', 'always', str('active or stopped')],
    ['Events', 'events', 'always', nilSlice(strings())],
    ['HostIP', 'hostIP', 'always', str()],
    ['ContainerIP', 'containerIP', 'always', str()],
    ['ContainerIPv6', 'containerIPv6', 'always', str()],
    ['ExternalIP', 'externalIP', 'always', str()],
    ['ContainerPath', 'containerPath', 'always', str()],
    ['ProcessIDs', 'processIDs', 'always', nilSlice(strings())],
    ['Properties', 'properties', 'always', nilSlice(stringMap('garden.Properties'))],
    ['MappedPorts', 'mappedPorts', 'always', nilSlice(slice(PortMappingSchema))],
  ],
  { complete: true },
);

const MEMORY_STAT_KEYS = [
  'active_anon',
  'active_file',
  'cache',
  'hierarchical_memory_limit',
  'inactive_anon',
  'inactive_file',
  'mapped_file',
  'pgfault',
  'pgmajfault',
  'pgpgin',
  'pgpgout',
  'rss',
  'total_active_anon',
  'total_active_file',
  'total_cache',
  'total_inactive_anon',
  'total_inactive_file',
  'total_mapped_file',
  'total_pgfault',
  'total_pgmajfault',
  'total_pgpgin',
  'total_pgpgout',
  'total_rss',
  'total_unevictable',
  'unevictable',
  'swap',
  'hierarchical_memsw_limit',
  'total_swap',
  'TotalUsageTowardLimit',
  'anon',
  'file',
  'swapcached',
];

const goNamed = (goType: string, names: string[]) =>
  struct(
    goType,
    names.map((n): FieldDef => [n, lowerFirst(n), 'always', u64()]),
    { complete: true },
  );

export const ContainerMemoryStatSchema = struct(
  'garden.ContainerMemoryStat',
  MEMORY_STAT_KEYS.map((k): FieldDef => [k, k.includes('_') ? camel(k) : lowerFirst(k), 'always', u64()]),
  { complete: true },
);
export const ContainerCPUStatSchema = goNamed('garden.ContainerCPUStat', ['Usage', 'User', 'System']);
export const ContainerDiskStatSchema = goNamed('garden.ContainerDiskStat', [
  'TotalBytesUsed',
  'TotalInodesUsed',
  'ExclusiveBytesUsed',
  'ExclusiveInodesUsed',
]);
export const ContainerNetworkStatSchema = goNamed('garden.ContainerNetworkStat', ['RxBytes', 'TxBytes']);
export const ContainerPidStatSchema = goNamed('garden.ContainerPidStat', ['Current', 'Max']);

export const MetricsSchema = struct(
  'garden.Metrics',
  [
    ['MemoryStat', 'memoryStat', 'always', ContainerMemoryStatSchema],
    ['CPUStat', 'cpuStat', 'always', ContainerCPUStatSchema],
    ['DiskStat', 'diskStat', 'always', ContainerDiskStatSchema],
    ['NetworkStat', 'networkStat', 'always', nullable(ContainerNetworkStatSchema)],
    ['PidStat', 'pidStat', 'always', ContainerPidStatSchema],
    ['Age', 'age', 'always', duration('container age in nanoseconds')],
    ['CPUEntitlement', 'cpuEntitlement', 'always', u64()],
  ],
  { complete: true },
);

/** The error envelope (§4.1): five strings, always present. */
export const ErrorEnvelopeSchema = struct(
  'garden.Error',
  ['Type', 'Message', 'Handle', 'ProcessID', 'Binary'].map((k): FieldDef => [k, k, 'always', str()]),
  { complete: true },
);

/** A BulkInfo map value. */
export const ContainerInfoEntrySchema = struct(
  'garden.ContainerInfoEntry',
  [
    ['Info', 'info', 'always', ContainerInfoSchema],
    ['Err', 'err', 'always', nullable(ErrorEnvelopeSchema)],
  ],
  { complete: true },
);

/** A BulkMetrics map value. */
export const ContainerMetricsEntrySchema = struct(
  'garden.ContainerMetricsEntry',
  [
    ['Metrics', 'metrics', 'always', MetricsSchema],
    ['Err', 'err', 'always', nullable(ErrorEnvelopeSchema)],
  ],
  { complete: true },
);

export const BulkInfoSchema = Type.Record(Type.String(), ContainerInfoEntrySchema, {
  'x-go-type': 'map[string]garden.ContainerInfoEntry',
});
export const BulkMetricsSchema = Type.Record(Type.String(), ContainerMetricsEntrySchema, {
  'x-go-type': 'map[string]garden.ContainerMetricsEntry',
});

/** Bare Properties response: keys sorted; `null` for a nil map. */
export const PropertiesSchema = stringMap('garden.Properties');

/** Create response. */
export const CreateResponseSchema = struct(
  'struct { Handle string }',
  [['Handle', 'handle', 'always', str()]],
  {
    complete: true,
  },
);

/** List response; `Handles` is `[]` (never `null`) from the Go server. */
export const ListResponseSchema = struct(
  'struct { Handles []string }',
  [['Handles', 'handles', 'always', strings()]],
  {
    complete: true,
  },
);

/** The empty object `{}`: the answer of every route that returns nothing else (Ping, Destroy, …). */
export const EmptyObjectSchema = struct('struct {}', [], { complete: true });

/** Stop request: `kill` always present. */
export const StopRequestSchema = struct('struct { Kill bool }', [['kill', 'kill', 'always', bool()]], {
  complete: true,
});

/** SetProperty request and Property response: `value` always present. */
export const PropertyValueSchema = struct('struct { Value string }', [['value', 'value', 'always', str()]], {
  complete: true,
});

/** SetGraceTime request: a bare integer of nanoseconds. */
export const GraceTimeSchema = duration('grace time in nanoseconds');

/** NetIn request (`handle` is ignored by the server). */
export const NetInRequestSchema = struct(
  'transport.NetInRequest',
  [
    ['handle', 'handle', 'zero', str('ignored by the server')],
    ['host_port', 'hostPort', 'zero', u32()],
    ['container_port', 'containerPort', 'zero', u32()],
  ],
  { complete: true },
);

/** NetIn response. */
export const NetInResponseSchema = struct(
  'transport.NetInResponse',
  [
    ['host_port', 'hostPort', 'zero', u32()],
    ['container_port', 'containerPort', 'zero', u32()],
  ],
  { complete: true },
);

/** A message on a Run/Attach control connection (§5.11). */
export const ProcessPayloadSchema = struct('transport.ProcessPayload', [
  ['process_id', 'processId', 'zero', str()],
  ['stream_id', 'streamId', 'zero', str('decimal string')],
  ['source', 'source', 'nil', int('int', 'transport.ProcessStreamSource', '0 = stdin')],
  ['data', 'data', 'nil', str('stdin bytes; absent with source present = EOF')],
  ['exit_status', 'exitStatus', 'nil', int('int')],
  ['error', 'error', 'nil', str()],
  ['tty', 'tty', 'nil', TTYSpecSchema],
  ['signal', 'signal', 'nil', int('int', 'garden.Signal', '0 = terminate, 1 = kill')],
]);

// ---- garden-ts extensions (not part of Garden's API) ---------------------------------------------

/** The kinds of lifecycle event (see `events.ts`). */
export const GARDEN_EVENT_TYPES = [
  'container.created',
  'container.destroyed',
  'container.reaped',
  'container.oom',
  'process.exited',
  'image.progress',
  'events.dropped',
] as const;

/** One line of the `GET /events` NDJSON stream (a garden-ts extension; see `events.ts`). */
export const GardenEventSchema = struct('events.Event', [
  [
    'type',
    'type',
    'always',
    str(`one of ${GARDEN_EVENT_TYPES.join(', ')}; consumers ignore types they do not know`),
  ],
  ['time', 'time', 'always', str('RFC 3339 UTC timestamp with milliseconds')],
  ['handle', 'handle', 'zero', str('the container (every type but events.dropped)')],
  ['process_id', 'processId', 'zero', str('process.exited: the process')],
  [
    'exit_status',
    'exitStatus',
    'nil',
    int('int', 'int', 'process.exited: the exit status (128+N when killed by signal N)'),
  ],
  ['count', 'count', 'nil', int('int', 'int', 'events.dropped: how many events this subscriber lost')],
  ['image', 'image', 'zero', str('image.progress: the image URI as the create named it')],
  ['phase', 'phase', 'zero', str('image.progress: resolving, downloading, layer-done or done')],
  [
    'layer',
    'layer',
    'zero',
    str('image.progress: the layer (blob digest) of a downloading or layer-done event'),
  ],
  ['layer_bytes', 'layerBytes', 'nil', int('int', 'int', 'image.progress: bytes of that layer read so far')],
  ['layer_size', 'layerSize', 'nil', int('int', 'int', "image.progress: that layer's size")],
  ['layers_done', 'layersDone', 'nil', int('int', 'int', 'image.progress: layers in the store so far')],
  ['layers_total', 'layersTotal', 'nil', int('int', 'int', 'image.progress: layers of the image')],
  ['bytes', 'bytes', 'nil', int('int', 'int', 'image.progress: bytes read for the whole pull so far')],
  [
    'total_bytes',
    'totalBytes',
    'nil',
    int('int', 'int', 'image.progress: sum of the sizes of the layers to fetch'),
  ],
]);
