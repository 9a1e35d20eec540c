/**
 * Wire codecs: one per Garden JSON shape (protocol §5), converting between the camelCase TS values
 * of `types.ts` and the exact objects Go's encoding/json writes and reads.
 *
 * - `encode(tsValue)` returns a wire object with Go's key names, in Go struct order, following Go's
 *   omitempty rules; pass it to `encodeGoJson` (or use {@link encodeBody}) for the exact bytes.
 * - `decode(parsed)` takes the output of `parseGoJson` and returns the TS value. Keys match
 *   case-insensitively, unknown keys are ignored, missing keys and `null` give zero values. Errors
 *   are `InvalidRequestError`s whose `field` is the dotted wire path
 *   (`limits.memory_limits.limit_in_bytes`, `bind_mounts[1].mode`).
 *
 * Decoded request values leave out fields that hold their zero value (`{}` decodes to `{}`), except
 * pointer fields (`tty`, `icmps.code`, rlimits, ProcessPayload members), which are present iff the
 * key was present and not `null`. Decoded responses (`x-complete` structs) have every field.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import {
  errorFromEnvelope,
  errorToEnvelope,
  type GardenError,
  InvalidRequestError,
  type WireErrorEnvelope,
} from './errors.js';
import type { GardenEvent } from './events.js';
import { encodeGoJson, type GoJsonValue, goMap, parseGoJson } from './go-json.js';
import * as S from './schemas.js';
import type {
  BandwidthLimits,
  Capacity,
  ContainerInfo,
  ContainerInfoEntry,
  ContainerMetricsEntry,
  ContainerSpec,
  CPULimits,
  DiskLimits,
  Duration,
  MemoryLimits,
  Metrics,
  NetInRule,
  NetOutRule,
  ProcessPayload,
  ProcessSpec,
  Properties,
} from './types.js';
import { encodeAt, schemaEncoder, schemaTextEncoder } from './wire-encode.js';
import {
  compareCodePoints,
  decodeWithSchema,
  findIllFormed,
  hasWellFormedParts,
  setOwn,
  zeroValue,
} from './wire-walk.js';

/**
 * Converts one wire shape. `TIn` is what `encode` accepts, `TOut` what `decode` returns (they differ
 * only for the error envelope: any thrown value in, a typed GardenError out).
 */
export interface WireCodec<TIn, W = unknown, TOut = TIn> {
  /** The wire shape's schema (see `schemas.ts`). */
  readonly schema: TSchema;
  /**
   * The wire object (Go key names and order, omitempty applied).
   * @throws InvalidRequestError when the value does not fit the wire type (wrong type, out of
   * range, unknown enum member, invalid IP address).
   */
  encode(value: TIn): W;
  /**
   * The TS value of a parsed JSON value.
   * @throws InvalidRequestError naming the offending field.
   */
  decode(parsed: unknown): TOut;
}

// ---- Wire shapes (Go key names), derived from the schemas ---------------------------------------

export type WireImageRef = Static<typeof S.ImageRefSchema>;
export type WireBindMount = Static<typeof S.BindMountSchema>;
export type WireBandwidthLimits = Static<typeof S.BandwidthLimitsSchema>;
export type WireCPULimits = Static<typeof S.CPULimitsSchema>;
export type WireDiskLimits = Static<typeof S.DiskLimitsSchema>;
export type WireMemoryLimits = Static<typeof S.MemoryLimitsSchema>;
export type WirePidLimits = Static<typeof S.PidLimitsSchema>;
export type WireLimits = Static<typeof S.LimitsSchema>;
export type WireIPRange = Static<typeof S.IPRangeSchema>;
export type WirePortRange = Static<typeof S.PortRangeSchema>;
export type WireICMPControl = Static<typeof S.ICMPControlSchema>;
export type WireNetOutRule = Static<typeof S.NetOutRuleSchema>;
export type WireNetIn = Static<typeof S.NetInSchema>;
export type WireContainerSpec = Static<typeof S.ContainerSpecSchema>;
export type WireResourceLimits = Static<typeof S.ResourceLimitsSchema>;
export type WireProcessLimits = Static<typeof S.ProcessLimitsSchema>;
export type WireWindowSize = Static<typeof S.WindowSizeSchema>;
export type WireTTYSpec = Static<typeof S.TTYSpecSchema>;
export type WireProcessSpec = Static<typeof S.ProcessSpecSchema>;
export type WireCapacity = Static<typeof S.CapacitySchema>;
export type WirePortMapping = Static<typeof S.PortMappingSchema>;
export type WireContainerInfo = Static<typeof S.ContainerInfoSchema>;
export type WireContainerMemoryStat = Static<typeof S.ContainerMemoryStatSchema>;
export type WireContainerCPUStat = Static<typeof S.ContainerCPUStatSchema>;
export type WireContainerDiskStat = Static<typeof S.ContainerDiskStatSchema>;
export type WireContainerNetworkStat = Static<typeof S.ContainerNetworkStatSchema>;
export type WireContainerPidStat = Static<typeof S.ContainerPidStatSchema>;
export type WireMetrics = Static<typeof S.MetricsSchema>;
export type WireContainerInfoEntry = Static<typeof S.ContainerInfoEntrySchema>;
export type WireContainerMetricsEntry = Static<typeof S.ContainerMetricsEntrySchema>;
export type WireBulkInfo = Static<typeof S.BulkInfoSchema>;
export type WireBulkMetrics = Static<typeof S.BulkMetricsSchema>;
export type WireProperties = Static<typeof S.PropertiesSchema> | null;
export type WireCreateResponse = Static<typeof S.CreateResponseSchema>;
export type WireListResponse = Static<typeof S.ListResponseSchema>;
export type WireStopRequest = Static<typeof S.StopRequestSchema>;
export type WirePropertyValue = Static<typeof S.PropertyValueSchema>;
export type WireNetInRequest = Static<typeof S.NetInRequestSchema>;
export type WireNetInResponse = Static<typeof S.NetInResponseSchema>;
export type WireProcessPayload = Static<typeof S.ProcessPayloadSchema>;
export type WireGardenEvent = Static<typeof S.GardenEventSchema>;

/** The TS value of a NetIn request body. */
export interface NetInRequest extends NetInRule {
  /** Sent by the Go client, ignored by the server. */
  handle?: string;
}

// ---- Codec constructors --------------------------------------------------------------------------

/**
 * encodeBody's shortcut per codec: TS value straight to Go JSON text, the same bytes as
 * `encodeGoJson(codec.encode(value))` without building the wire object in between.
 */
const textEncoders = new WeakMap<object, (value: never) => string>();

function withText<C extends object, T>(codec: C, text: (value: T) => string): C {
  textEncoders.set(codec, text);
  return codec;
}

function schemaCodec<T, W>(schema: TSchema): WireCodec<T, W> {
  const encode = schemaEncoder(schema);
  return withText(
    {
      schema,
      encode: (value: T) => encode(value) as W,
      decode: (parsed: unknown) => decodeWithSchema(schema, parsed) as T,
    },
    schemaTextEncoder(schema),
  );
}

/** A codec for a one-field wrapper object (`{"value":…}`), exposing just the field's value. */
function unwrapCodec<T, W>(schema: TSchema, tsKey: string): WireCodec<T, W> {
  const encode = schemaEncoder(schema);
  const text = schemaTextEncoder(schema);
  return withText(
    {
      schema,
      encode: (value: T) => encode({ [tsKey]: value }) as W,
      decode: (parsed: unknown) => (decodeWithSchema(schema, parsed) as Record<string, T>)[tsKey] as T,
    },
    (value: T) => text({ [tsKey]: value }),
  );
}

function entryError(err: unknown): GardenError | undefined {
  if (err === null || err === undefined) return undefined;
  return errorFromEnvelope(err);
}

/** Builds a bulk map codec whose values are `{<member>: value, Err: envelope|null}`. */
function bulkCodec<E extends { error?: unknown }>(
  mapSchema: TSchema,
  valueSchema: TSchema,
  wireMember: string,
  tsMember: string,
): WireCodec<Record<string, E>, Record<string, GoJsonValue>> {
  return {
    schema: mapSchema,
    encode(value) {
      const out = goMap<GoJsonValue>();
      for (const key of Object.keys(value).sort(compareCodePoints)) {
        const entry = value[key] as Record<string, unknown> | undefined;
        if (typeof entry !== 'object' || entry === null) {
          throw new InvalidRequestError(key, `${key}: expected an entry object, got ${typeof entry}`);
        }
        const failed = entry.error !== undefined && entry.error !== null;
        // §5.9: with Err set, the member is still fully serialised as a zero value.
        const member = failed ? zeroValue(valueSchema) : entry[tsMember];
        setOwn(out, key, {
          [wireMember]: encodeAt(valueSchema, member, () => `${key}.${wireMember}`),
          Err: failed ? (errorToEnvelope(entry.error) as unknown as GoJsonValue) : null,
        });
      }
      return out;
    },
    decode(parsed) {
      const raw = decodeWithSchema(mapSchema, parsed) as Record<string, Record<string, unknown>>;
      const out: Record<string, E> = {};
      for (const [key, entry] of Object.entries(raw)) {
        const error = entryError(entry.err);
        const value = (error ? { error } : { [tsMember]: entry[tsMember] }) as E;
        setOwn(out, key, value);
      }
      return out;
    },
  };
}

// ---- The codecs ----------------------------------------------------------------------------------

const encodeNetOutRules = schemaEncoder(S.NetOutRulesSchema);
const encodeListResponse = schemaEncoder(S.ListResponseSchema);
const encodeProperties = schemaEncoder(S.PropertiesSchema);
const textNetOutRules = schemaTextEncoder(S.NetOutRulesSchema);
const textListResponse = schemaTextEncoder(S.ListResponseSchema);
const textProperties = schemaTextEncoder(S.PropertiesSchema);

/**
 * One codec per Garden wire shape. Request bodies: `containerSpec` (Create), `processSpec` (Run),
 * `netOutRule` (NetOut), `netOutRules` (BulkNetOut), `netInRequest`, `stopRequest` (`kill` as a
 * boolean), `propertyValue` (the `value` string), `graceTime` (bare integer). Responses:
 * `capacity`, `containerInfo`, `metrics`, `bulkInfo`, `bulkMetrics`, `createResponse` (the handle
 * string), `listResponse` (the handles), `properties`, the four `*Limits`, `netInResponse`.
 * `empty` (`{}`). Control stream: `processPayload`. Errors: `errorEnvelope`.
 */
export const Wire = {
  containerSpec: schemaCodec<ContainerSpec, WireContainerSpec>(S.ContainerSpecSchema),
  processSpec: schemaCodec<ProcessSpec, WireProcessSpec>(S.ProcessSpecSchema),
  netOutRule: schemaCodec<NetOutRule, WireNetOutRule>(S.NetOutRuleSchema),
  /** `null` (the Go client's nil list) decodes to `[]`; `undefined`/`null` encode to `null`. */
  netOutRules: withText(
    {
      schema: S.NetOutRulesSchema,
      encode: (value: NetOutRule[] | null | undefined) => encodeNetOutRules(value) as WireNetOutRule[] | null,
      decode: (parsed: unknown) =>
        (decodeWithSchema(S.NetOutRulesSchema, parsed) as NetOutRule[] | null) ?? [],
    } satisfies WireCodec<NetOutRule[] | null | undefined, WireNetOutRule[] | null, NetOutRule[]>,
    textNetOutRules,
  ),
  netInRequest: schemaCodec<NetInRequest, WireNetInRequest>(S.NetInRequestSchema),
  netInResponse: schemaCodec<NetInRule, WireNetInResponse>(S.NetInResponseSchema),
  stopRequest: unwrapCodec<boolean, WireStopRequest>(S.StopRequestSchema, 'kill'),
  propertyValue: unwrapCodec<string, WirePropertyValue>(S.PropertyValueSchema, 'value'),
  graceTime: schemaCodec<Duration, bigint>(S.GraceTimeSchema),
  capacity: schemaCodec<Capacity, WireCapacity>(S.CapacitySchema),
  containerInfo: schemaCodec<ContainerInfo, WireContainerInfo>(S.ContainerInfoSchema),
  metrics: schemaCodec<Metrics, WireMetrics>(S.MetricsSchema),
  bulkInfo: bulkCodec<ContainerInfoEntry>(
    S.BulkInfoSchema,
    S.ContainerInfoSchema,
    'Info',
    'info',
  ) as WireCodec<Record<string, ContainerInfoEntry>, WireBulkInfo>,
  bulkMetrics: bulkCodec<ContainerMetricsEntry>(
    S.BulkMetricsSchema,
    S.MetricsSchema,
    'Metrics',
    'metrics',
  ) as WireCodec<Record<string, ContainerMetricsEntry>, WireBulkMetrics>,
  createResponse: unwrapCodec<string, WireCreateResponse>(S.CreateResponseSchema, 'handle'),
  listResponse: withText(
    {
      schema: S.ListResponseSchema,
      // The Go server never sends `null` here, so a missing list is written as `[]`.
      encode: (handles: string[]) => encodeListResponse({ handles: handles ?? [] }) as WireListResponse,
      decode: (parsed: unknown) =>
        (decodeWithSchema(S.ListResponseSchema, parsed) as { handles: string[] }).handles,
    } satisfies WireCodec<string[], WireListResponse>,
    (handles: string[]) => textListResponse({ handles: handles ?? [] }),
  ),
  /** A bare map; `null` decodes to `{}`. */
  properties: withText(
    {
      schema: S.PropertiesSchema,
      encode: (value: Properties) => encodeProperties(value ?? {}) as WireProperties,
      decode: (parsed: unknown) => decodeWithSchema(S.PropertiesSchema, parsed) as Properties,
    } satisfies WireCodec<Properties, WireProperties>,
    (value: Properties) => textProperties(value ?? {}),
  ),
  bandwidthLimits: schemaCodec<BandwidthLimits, WireBandwidthLimits>(S.BandwidthLimitsSchema),
  cpuLimits: schemaCodec<CPULimits, WireCPULimits>(S.CPULimitsSchema),
  diskLimits: schemaCodec<DiskLimits, WireDiskLimits>(S.DiskLimitsSchema),
  memoryLimits: schemaCodec<MemoryLimits, WireMemoryLimits>(S.MemoryLimitsSchema),
  processPayload: schemaCodec<ProcessPayload, WireProcessPayload>(S.ProcessPayloadSchema),
  /** One line of `GET /events` (a garden-ts extension). */
  event: schemaCodec<GardenEvent, WireGardenEvent>(S.GardenEventSchema),
  /**
   * `{}`: the body of every route that answers nothing else. Encodes from nothing; decoding accepts
   * any JSON value (the Go client only needs one to be there: an empty body is `EOF`).
   */
  empty: withText(
    {
      schema: S.EmptyObjectSchema,
      // biome-ignore lint/suspicious/noConfusingVoidType: handlers of these routes return Promise<void>.
      encode: (_value: void) => ({}) as Record<string, never>,
      decode: (_parsed: unknown) => undefined,
    } satisfies WireCodec<void, Record<string, never>, undefined>,
    () => '{}',
  ),
  /** Any thrown value in (§4.2 Type rules), a typed GardenError out (§4.3). */
  errorEnvelope: {
    schema: S.ErrorEnvelopeSchema,
    encode: (err: unknown) => errorToEnvelope(err),
    decode: (parsed: unknown) => errorFromEnvelope(decodeWithSchema(S.ErrorEnvelopeSchema, parsed)),
  } satisfies WireCodec<unknown, WireErrorEnvelope, GardenError>,
} as const;

/** The wire codec names (`containerSpec`, `processPayload`, …). */
export type WireCodecName = keyof typeof Wire;

/**
 * The exact body Go would send: the Go JSON text of `codec.encode(value)` plus the trailing LF.
 * @throws InvalidRequestError when `value` does not fit the wire type.
 */
export function encodeBody<TIn>(codec: WireCodec<TIn, unknown, unknown>, value: TIn): string {
  const text = textEncoders.get(codec) as ((value: TIn) => string) | undefined;
  if (text) return `${text(value)}\n`;
  return `${encodeGoJson(codec.encode(value) as GoJsonValue)}\n`;
}

// A raw surrogate, or a \u escape of one: the only texts that can hold a lone surrogate.
const MAY_HOLD_SURROGATE = /[\ud800-\udfff]|\\u[dD][89a-fA-F]/;
const utf8 = new TextDecoder('utf-8');

/**
 * Decodes a body or message the way Go does: the first JSON value of `text` (a string or UTF-8
 * bytes; trailing bytes are ignored), then `codec.decode`. One deviation from Go: a lone surrogate
 * in a string that names something (`x-well-formed`: the Create handle, property keys) is refused
 * instead of becoming U+FFFD, which would silently name another object.
 * @throws InvalidRequestError (a GoJsonSyntaxError for malformed JSON, `EOF` for an empty body).
 */
export function decodeBody<TOut>(codec: WireCodec<never, unknown, TOut>, text: string | Uint8Array): TOut {
  const json = typeof text === 'string' ? text : utf8.decode(text);
  if (hasWellFormedParts(codec.schema) && MAY_HOLD_SURROGATE.test(json)) refuseIllFormed(codec.schema, json);
  return codec.decode(parseGoJson(json));
}

/** Throws the InvalidRequestError of the first ill-formed name in `json`, if any. */
function refuseIllFormed(schema: TSchema, json: string): void {
  let strict: unknown;
  try {
    strict = decodeWithSchema(schema, parseGoJson(json, { keepLoneSurrogates: true }));
  } catch {
    return; // not decodable at all: the ordinary decode reports it
  }
  const found = findIllFormed(schema, strict);
  if (found) throw found;
}
