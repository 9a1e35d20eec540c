/**
 * Precompiled encoders: the schema walk of `encodeWith` (wire-walk.ts) done once per schema, leaving
 * a tree of closures that build the wire object in Go key order with no per-field schema lookups,
 * path strings or allocations beyond the output itself.
 *
 * A compiled encoder accepts and rejects exactly the values `encodeWith` does and returns the same
 * wire object. It does not describe failures: it throws an opaque marker, and
 * {@link schemaEncoder} then re-runs `encodeWith`, which builds the field path and message. So the
 * price of error paths is paid only when an error is actually thrown.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { encodeGoJson, type GoJsonValue, goMap, quoteGoString, quoteKey } from './go-json.js';
import { canonicalIP } from './ip-address.js';
import type { OmitRule } from './schemas.js';
import { compareCodePoints, encodeWith } from './wire-walk.js';

/** Turns a TS value into its wire form; throws (an opaque marker) on values `encodeWith` rejects. */
export type CompiledEncoder = (v: unknown) => GoJsonValue;

/** Thrown by compiled encoders; never escapes {@link schemaEncoder}. */
const REJECT: unique symbol = Symbol('wire-encode reject');

function reject(): never {
  throw REJECT;
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/** `isPlainObject(v) && Object.keys(v).length === 0` without allocating the key array. */
function isEmptyPlainObject(v: object): boolean {
  if (Array.isArray(v)) return false;
  for (const key in v) if (Object.hasOwn(v, key)) return false;
  return true;
}

/** wire-walk's `isZeroTS(v) || isEmptyObject(v)`: the values omitempty leaves out. */
function isEmptyTS(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === false || v === 0 || v === 0n) return true;
  if (typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.length === 0;
  return isEmptyPlainObject(v);
}

// Canonical IP text per input text: IP fields are re-encoded with the same few addresses.
const IP_CACHE_MAX = 1024;
const ipCache = new Map<string, string | undefined>();

function cachedCanonicalIP(s: string): string | undefined {
  let ip = ipCache.get(s);
  if (ip === undefined && !ipCache.has(s)) {
    ip = canonicalIP(s);
    if (ipCache.size >= IP_CACHE_MAX) ipCache.clear();
    ipCache.set(s, ip);
  }
  return ip;
}

const FIELD_ALWAYS = 0;
const FIELD_NIL = 1;
const FIELD_ZERO = 2;
const FIELD_EMPTY_NULL = 3;

interface CompiledField {
  wire: string;
  ts: string;
  mode: number;
  enc: CompiledEncoder;
}

function fieldMode(schema: TSchema): number {
  const omit = schema['x-omit'] as OmitRule;
  if (omit === 'nil') return FIELD_NIL;
  if (omit === 'zero') return FIELD_ZERO;
  return schema['x-empty'] === 'null' ? FIELD_EMPTY_NULL : FIELD_ALWAYS;
}

function compileStruct(schema: TSchema): CompiledEncoder {
  const fields: CompiledField[] = [];
  const props = schema.properties as Record<string, TSchema>;
  for (const wire of Object.keys(props)) {
    const s = props[wire]!;
    fields.push({ wire, ts: String(s['x-ts']), mode: fieldMode(s), enc: compileEncoder(s) });
  }
  const n = fields.length;
  return (v) => {
    let src: Record<string, unknown>;
    if (v === undefined || v === null) src = EMPTY;
    else if (typeof v !== 'object' || Array.isArray(v)) return reject();
    else src = v as Record<string, unknown>;
    const out: Record<string, GoJsonValue> = {};
    for (let i = 0; i < n; i++) {
      const f = fields[i]!;
      const value = src[f.ts];
      switch (f.mode) {
        case FIELD_NIL:
          if (value !== undefined && value !== null) out[f.wire] = f.enc(value);
          break;
        case FIELD_ZERO:
          if (!isEmptyTS(value)) out[f.wire] = f.enc(value);
          break;
        case FIELD_EMPTY_NULL:
          out[f.wire] = isEmptyTS(value) ? null : f.enc(value);
          break;
        default:
          out[f.wire] = f.enc(value);
      }
    }
    return out;
  };
}

function compileRecord(schema: TSchema): CompiledEncoder {
  const item = compileEncoder(Object.values(schema.patternProperties as Record<string, TSchema>)[0]!);
  return (v) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) return reject();
    const src = v as Record<string, unknown>;
    const keys = Object.keys(src);
    if (keys.length > 1) keys.sort(compareCodePoints);
    const out = goMap<GoJsonValue>();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const value = item(src[key]);
      // A plain assignment to `__proto__` would set the prototype instead of adding a key.
      if (key === '__proto__') {
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      } else {
        out[key] = value;
      }
    }
    return out;
  };
}

function compileArray(schema: TSchema): CompiledEncoder {
  const item = compileEncoder(schema.items as TSchema);
  return (v) => {
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v)) return reject();
    // map (not a loop) so that holes of a sparse array stay holes, as in encodeWith.
    return v.map((x) => item(x));
  };
}

function compileBigInt(schema: TSchema): CompiledEncoder {
  // The schema's bounds lie within the Go kind's range, so one check covers both of walk's checks.
  const min = schema.minimum as bigint;
  const max = schema.maximum as bigint;
  return (v) => {
    let n: bigint;
    if (typeof v === 'bigint') n = v;
    else if (v === undefined || v === null) n = 0n;
    else if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
    else return reject();
    if (n < min || n > max) return reject();
    return n;
  };
}

function compileString(schema: TSchema): CompiledEncoder {
  if (schema['x-go-ip'] === true) {
    return (v) => {
      const s = v ?? '';
      if (typeof s !== 'string') return reject();
      if (s === '') return s;
      return cachedCanonicalIP(s) ?? reject();
    };
  }
  return (v) => {
    if (typeof v === 'string') return v;
    if (v === undefined || v === null) return '';
    return reject();
  };
}

function compileBoolean(): CompiledEncoder {
  return (v) => {
    if (typeof v === 'boolean') return v;
    if (v === undefined || v === null) return false;
    return reject();
  };
}

const compiled = new WeakMap<TSchema, CompiledEncoder>();

/**
 * The compiled encoder of `schema` (cached per schema object). It throws an opaque value on input
 * `encodeWith` rejects; use {@link schemaEncoder} for the public behaviour with described errors.
 */
export function compileEncoder(schema: TSchema): CompiledEncoder {
  const hit = compiled.get(schema);
  if (hit) return hit;
  let enc: CompiledEncoder;
  switch (schema[Kind]) {
    case 'Object':
      enc = compileStruct(schema);
      break;
    case 'Record':
      enc = compileRecord(schema);
      break;
    case 'Array':
      enc = compileArray(schema);
      break;
    case 'Union': {
      const inner = compileEncoder((schema.anyOf as TSchema[])[0]!);
      enc = (v) => (v === undefined || v === null ? null : inner(v));
      break;
    }
    case 'String':
      enc = compileString(schema);
      break;
    case 'Boolean':
      enc = compileBoolean();
      break;
    case 'BigInt':
      enc = compileBigInt(schema);
      break;
    default:
      throw new TypeError(`unsupported schema kind ${String(schema[Kind])}`);
  }
  compiled.set(schema, enc);
  return enc;
}

/**
 * The public encoder of `schema`: the compiled fast path, falling back to `encodeWith` (which
 * throws the InvalidRequestError naming the field, under `path`) when the fast path rejects.
 */
export function schemaEncoder(schema: TSchema, path = ''): (v: unknown) => GoJsonValue {
  const fast = compileEncoder(schema);
  return (v) => {
    try {
      return fast(v);
    } catch (e) {
      if (e !== REJECT) throw e;
      return encodeWith(schema, v, path);
    }
  };
}

/**
 * Like {@link schemaEncoder} for a value nested under a computed path (bulk map entries:
 * `<handle>.Info`); `path` is called only when the value is rejected.
 */
export function encodeAt(schema: TSchema, v: unknown, path: () => string): GoJsonValue {
  try {
    return compileEncoder(schema)(v);
  } catch (e) {
    if (e !== REJECT) throw e;
    return encodeWith(schema, v, path());
  }
}

// ---- Straight to Go JSON text ----------------------------------------------------------------------

/**
 * Turns a TS value straight into the Go JSON text of its wire form, the same bytes as
 * `encodeGoJson(compileEncoder(schema)(v))` without building the wire object; throws (the opaque
 * marker) on the same values.
 */
export type CompiledTextEncoder = (v: unknown) => string;

function compileStructText(schema: TSchema): CompiledTextEncoder {
  const props = schema.properties as Record<string, TSchema>;
  const wires = Object.keys(props);
  const n = wires.length;
  const ts: string[] = [];
  const modes: number[] = [];
  const encs: CompiledTextEncoder[] = [];
  // `"key":` with the separating comma in front for all but the first member written.
  const firstKeys: string[] = [];
  const nextKeys: string[] = [];
  for (const wire of wires) {
    const s = props[wire]!;
    ts.push(String(s['x-ts']));
    modes.push(fieldMode(s));
    encs.push(compileTextEncoder(s));
    firstKeys.push(`${quoteGoString(wire)}:`);
    nextKeys.push(`,${quoteGoString(wire)}:`);
  }
  return (v) => {
    let src: Record<string, unknown>;
    if (v === undefined || v === null) src = EMPTY;
    else if (typeof v !== 'object' || Array.isArray(v)) return reject();
    else src = v as Record<string, unknown>;
    let out = '{';
    let first = true;
    for (let i = 0; i < n; i++) {
      const value = src[ts[i]!];
      let text: string;
      switch (modes[i]) {
        case FIELD_NIL:
          if (value === undefined || value === null) continue;
          text = encs[i]!(value);
          break;
        case FIELD_ZERO:
          if (isEmptyTS(value)) continue;
          text = encs[i]!(value);
          break;
        case FIELD_EMPTY_NULL:
          text = isEmptyTS(value) ? 'null' : encs[i]!(value);
          break;
        default:
          text = encs[i]!(value);
      }
      if (first) {
        out += firstKeys[i]! + text;
        first = false;
      } else {
        out += nextKeys[i]! + text;
      }
    }
    return `${out}}`;
  };
}

function compileRecordText(schema: TSchema): CompiledTextEncoder {
  const item = compileTextEncoder(Object.values(schema.patternProperties as Record<string, TSchema>)[0]!);
  return (v) => {
    if (v === undefined || v === null) return 'null';
    if (typeof v !== 'object' || Array.isArray(v)) return reject();
    const src = v as Record<string, unknown>;
    const keys = Object.keys(src);
    if (keys.length === 0) return '{}';
    if (keys.length > 1) keys.sort(compareCodePoints);
    let out = `{${quoteKey(keys[0]!)}${item(src[keys[0]!])}`;
    for (let i = 1; i < keys.length; i++) out += `,${quoteKey(keys[i]!)}${item(src[keys[i]!])}`;
    return `${out}}`;
  };
}

function compileArrayText(schema: TSchema): CompiledTextEncoder {
  const item = compileTextEncoder(schema.items as TSchema);
  // A hole of a sparse array stays a hole in the wire array, which encodeGoJson writes as null.
  const element = (v: unknown[], i: number) => {
    const x = v[i];
    return x === undefined && !(i in v) ? 'null' : item(x);
  };
  return (v) => {
    if (v === undefined || v === null) return 'null';
    if (!Array.isArray(v)) return reject();
    const n = v.length;
    if (n === 0) return '[]';
    let out = `[${element(v, 0)}`;
    for (let i = 1; i < n; i++) out += `,${element(v, i)}`;
    return `${out}]`;
  };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** `n.toString()`, by way of a number when that is exact (measurably faster in V8). */
function decimal(n: bigint): string {
  if (n === 0n) return '0';
  return n <= MAX_SAFE && n >= -MAX_SAFE ? String(Number(n)) : n.toString();
}

const compiledText = new WeakMap<TSchema, CompiledTextEncoder>();

/** The compiled text encoder of `schema` (cached per schema object). */
export function compileTextEncoder(schema: TSchema): CompiledTextEncoder {
  const hit = compiledText.get(schema);
  if (hit) return hit;
  let enc: CompiledTextEncoder;
  switch (schema[Kind]) {
    case 'Object':
      enc = compileStructText(schema);
      break;
    case 'Record':
      enc = compileRecordText(schema);
      break;
    case 'Array':
      enc = compileArrayText(schema);
      break;
    case 'Union': {
      const inner = compileTextEncoder((schema.anyOf as TSchema[])[0]!);
      enc = (v) => (v === undefined || v === null ? 'null' : inner(v));
      break;
    }
    case 'String': {
      const value = compileString(schema);
      enc = (v) => quoteGoString(value(v) as string);
      break;
    }
    case 'Boolean':
      enc = (v) => {
        if (v === true) return 'true';
        if (v === false || v === undefined || v === null) return 'false';
        return reject();
      };
      break;
    case 'BigInt': {
      const value = compileBigInt(schema);
      enc = (v) => decimal(value(v) as bigint);
      break;
    }
    default:
      throw new TypeError(`unsupported schema kind ${String(schema[Kind])}`);
  }
  compiledText.set(schema, enc);
  return enc;
}

/**
 * The public text encoder of `schema`: `encodeGoJson(schemaEncoder(schema, path)(v))` by the
 * compiled fast path, falling back to `encodeWith` for the described error.
 */
export function schemaTextEncoder(schema: TSchema, path = ''): (v: unknown) => string {
  const fast = compileTextEncoder(schema);
  return (v) => {
    try {
      return fast(v);
    } catch (e) {
      if (e !== REJECT) throw e;
      return encodeGoJson(encodeWith(schema, v, path));
    }
  };
}
