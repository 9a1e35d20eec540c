/**
 * The engine behind the wire codecs: it walks a schema from `schemas.ts` to turn a TS value into a
 * wire object (Go key order, omitempty rules, sorted map keys) and a parsed JSON value into a TS
 * value (Go's case-insensitive key matching, zero values, range checks and error messages).
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { InvalidRequestError } from './errors.js';
import { compareCodePoints, type GoJsonValue, goMap } from './go-json.js';

export { compareCodePoints };

import { canonicalIP } from './ip-address.js';
import { GO_INT_RANGE, type GoIntKind, type OmitRule } from './schemas.js';
import { illFormedReason } from './unicode.js';

interface FieldInfo {
  wire: string;
  ts: string;
  omit: OmitRule;
  schema: TSchema;
}

interface StructInfo {
  /** Go struct name used in error messages ("" for anonymous structs, as Go prints them). */
  goName: string;
  complete: boolean;
  fields: FieldInfo[];
  exact: Map<string, FieldInfo>;
  folded: Map<string, FieldInfo>;
}

const structCache = new WeakMap<TSchema, StructInfo>();

/**
 * Go's key folding (encoding/json `foldName`): ASCII case plus the two non-ASCII runes whose simple
 * case folding reaches an ASCII letter (U+017F LONG S, U+212A KELVIN SIGN).
 */
function fold(key: string): string {
  let out = '';
  for (const ch of key) {
    if (ch === '\u017f') out += 's';
    else if (ch === '\u212a') out += 'k';
    else if (ch <= '\x7f') out += ch.toLowerCase();
    else out += ch;
  }
  return out;
}

function structInfo(schema: TSchema): StructInfo {
  let info = structCache.get(schema);
  if (info) return info;
  const goType = String(schema['x-go-type'] ?? '');
  const fields: FieldInfo[] = Object.entries(schema.properties as Record<string, TSchema>).map(
    ([wire, s]) => ({ wire, ts: String(s['x-ts']), omit: s['x-omit'] as OmitRule, schema: s }),
  );
  info = {
    goName: goType.startsWith('struct') ? '' : goType.slice(goType.lastIndexOf('.') + 1),
    complete: schema['x-complete'] === true,
    fields,
    exact: new Map(fields.map((f) => [f.wire, f])),
    folded: new Map(fields.map((f) => [fold(f.wire), f])),
  };
  structCache.set(schema, info);
  return info;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const goIntKind = (schema: TSchema) => schema['x-go-int'] as GoIntKind;
const isBigIntKind = (schema: TSchema) => {
  const k = goIntKind(schema);
  return k === 'uint64' || k === 'int64';
};

/** Sets an own enumerable property; unlike `obj[key] = v` this keeps `__proto__` an ordinary map key. */
export function setOwn(obj: object, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Appends a struct key or map key to a dotted path (`limits.memory_limits`, `properties["a b"]`). */
function childPath(path: string, key: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

// ---- Encoding ------------------------------------------------------------------------------------

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function encodeError(path: string, message: string): InvalidRequestError {
  return new InvalidRequestError(path, path === '' ? message : `${path}: ${message}`);
}

function isZeroTS(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === false || v === 0 || v === 0n) return true;
  if (Array.isArray(v)) return v.length === 0;
  return false;
}

/** The accepted values of a narrowed integer field: enum members by name, otherwise the range. */
function allowedText(schema: TSchema): string {
  const names = schema['x-enum'] as string[] | undefined;
  if (!names) return `${schema.minimum}..${schema.maximum}`;
  return names.map((n, i) => `${i} (${n})`).join(', ');
}

function checkInt(
  schema: TSchema,
  n: bigint,
  path: string,
  onError: (e: InvalidRequestError) => void,
): boolean {
  const kind = goIntKind(schema);
  const [lo, hi] = GO_INT_RANGE[kind];
  if (n < lo || n > hi) return false;
  const min = schema.minimum as bigint;
  const max = schema.maximum as bigint;
  if (n < min || n > max) {
    const where = path === '' ? 'value' : path;
    onError(
      new InvalidRequestError(
        path,
        `invalid ${where}: unknown ${schema['x-go-type']} ${n} (allowed: ${allowedText(schema)})`,
      ),
    );
  }
  return true;
}

/** Encodes a TS value to its wire form following `schema`. */
export function encodeWith(schema: TSchema, v: unknown, path = ''): GoJsonValue {
  switch (schema[Kind]) {
    case 'Object': {
      if (v !== undefined && v !== null && !isPlainObject(v)) {
        throw encodeError(path, `expected an object, got ${describe(v)}`);
      }
      const src = (v ?? {}) as Record<string, unknown>;
      const out: Record<string, GoJsonValue> = {};
      for (const f of structInfo(schema).fields) {
        const value = src[f.ts];
        const p = childPath(path, f.wire);
        if (f.omit === 'nil') {
          if (value !== undefined && value !== null) out[f.wire] = encodeWith(f.schema, value, p);
        } else if (f.omit === 'zero') {
          if (!isZeroTS(value) && !isEmptyObject(value)) {
            out[f.wire] = encodeWith(f.schema, value, p);
          }
        } else if (f.schema['x-empty'] === 'null' && (isZeroTS(value) || isEmptyObject(value))) {
          out[f.wire] = null;
        } else {
          out[f.wire] = encodeWith(f.schema, value, p);
        }
      }
      return out;
    }
    case 'Record': {
      if (v === undefined || v === null) return null;
      if (!isPlainObject(v)) throw encodeError(path, `expected an object, got ${describe(v)}`);
      const item = Object.values(schema.patternProperties as Record<string, TSchema>)[0]!;
      const out = goMap<GoJsonValue>();
      for (const key of Object.keys(v).sort(compareCodePoints)) {
        setOwn(out, key, encodeWith(item, v[key], childPath(path, key)));
      }
      return out;
    }
    case 'Array': {
      if (v === undefined || v === null) return null;
      if (!Array.isArray(v)) throw encodeError(path, `expected an array, got ${describe(v)}`);
      const item = schema.items as TSchema;
      return v.map((x, i) => encodeWith(item, x, `${path}[${i}]`));
    }
    case 'Union': {
      if (v === undefined || v === null) return null;
      return encodeWith((schema.anyOf as TSchema[])[0]!, v, path);
    }
    case 'String': {
      const s = v ?? '';
      if (typeof s !== 'string') throw encodeError(path, `expected a string, got ${describe(v)}`);
      if (schema['x-go-ip'] === true && s !== '') {
        const ip = canonicalIP(s);
        if (ip === undefined) throw new InvalidRequestError(path, `invalid IP address: ${s}`);
        return ip;
      }
      return s;
    }
    case 'Boolean': {
      const b = v ?? false;
      if (typeof b !== 'boolean') throw encodeError(path, `expected a boolean, got ${describe(v)}`);
      return b;
    }
    case 'BigInt': {
      const n = v ?? 0n;
      let big: bigint;
      if (typeof n === 'bigint') big = n;
      else if (typeof n === 'number' && Number.isSafeInteger(n)) big = BigInt(n);
      else
        throw encodeError(
          path,
          `expected an integer (${schema['x-go-type']}), got ${describe(n)} ${String(n)}`,
        );
      const ok = checkInt(schema, big, path, (e) => {
        throw e;
      });
      if (!ok) throw encodeError(path, `${big} is out of range for ${schema['x-go-type']}`);
      return big;
    }
    default:
      throw new TypeError(`unsupported schema kind ${String(schema[Kind])}`);
  }
}

function isEmptyObject(v: unknown): boolean {
  return isPlainObject(v) && Object.keys(v).length === 0;
}

// ---- Decoding ------------------------------------------------------------------------------------

interface DecodeContext {
  /** Innermost Go struct being decoded (Go's errorContext.Struct), undefined at the top level. */
  goStruct: string | undefined;
  /** Wire names of the struct fields from the top (Go's errorContext.FieldStack). */
  goFields: string[];
  /** Dotted path with indices and map keys, for InvalidRequestError.field. */
  path: string;
  /** Go keeps decoding after a type error and reports the first one at the end. */
  errors: { first?: InvalidRequestError };
}

function jsonKind(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'number';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

/** The zero value's TS form for a schema. */
export function zeroValue(schema: TSchema): unknown {
  switch (schema[Kind]) {
    case 'Object': {
      const info = structInfo(schema);
      const out: Record<string, unknown> = {};
      if (info.complete) for (const f of info.fields) out[f.ts] = zeroValue(f.schema);
      return out;
    }
    case 'Record':
      return {};
    case 'Array':
      return [];
    case 'Union':
      // A pointer is nil; a nil slice or map of an untagged struct is empty in TS.
      return schema['x-empty'] === 'null' ? zeroValue((schema.anyOf as TSchema[])[0]!) : null;
    case 'String':
      return '';
    case 'Boolean':
      return false;
    case 'BigInt':
      return isBigIntKind(schema) ? 0n : 0;
    default:
      return undefined;
  }
}

function saveTypeError(ctx: DecodeContext, what: string, schema: TSchema): void {
  if (ctx.errors.first) return;
  const target =
    ctx.goStruct !== undefined || ctx.goFields.length > 0
      ? `Go struct field ${ctx.goStruct ?? ''}.${ctx.goFields.join('.')}`
      : 'Go value';
  ctx.errors.first = new InvalidRequestError(
    ctx.path,
    `json: cannot unmarshal ${what} into ${target} of type ${schema['x-go-type']}`,
  );
}

/**
 * Decodes a parsed JSON value (from `parseGoJson`) into its TS form following `schema`, the way Go's
 * decoder fills a struct. `into` is the value decoded so far for this field (Go merges a repeated
 * struct or map key into the existing value).
 */
function decodeWith(schema: TSchema, v: unknown, ctx: DecodeContext, into?: unknown): unknown {
  const kind = schema[Kind];
  if (kind === 'Union') {
    const inner = (schema.anyOf as TSchema[])[0]!;
    if (v === null) return zeroValue(schema);
    return decodeWith(inner, v, ctx, into ?? undefined);
  }
  if (v === null) {
    // Go: null sets slices, maps and pointers to nil and leaves other kinds unchanged.
    if (kind === 'Array' || kind === 'Record') return zeroValue(schema);
    return into ?? zeroValue(schema);
  }
  switch (kind) {
    case 'Object': {
      if (!isPlainObject(v)) {
        saveTypeError(ctx, jsonKind(v), schema);
        return into ?? zeroValue(schema);
      }
      const info = structInfo(schema);
      const got = new Map<FieldInfo, unknown>();
      if (isPlainObject(into)) {
        for (const f of info.fields) if (into[f.ts] !== undefined) got.set(f, into[f.ts]);
      }
      for (const key of Object.keys(v)) {
        const f = info.exact.get(key) ?? info.folded.get(fold(key));
        if (!f) continue;
        const item = v[key];
        if (item === null && f.omit === 'nil') {
          got.delete(f);
          continue;
        }
        const child: DecodeContext = {
          goStruct: info.goName,
          goFields: [...ctx.goFields, f.wire],
          path: childPath(ctx.path, f.wire),
          errors: ctx.errors,
        };
        got.set(f, decodeWith(f.schema, item, child, got.get(f)));
      }
      const out: Record<string, unknown> = {};
      for (const f of info.fields) {
        const has = got.has(f);
        const value = got.get(f);
        if (info.complete) out[f.ts] = has ? value : zeroValue(f.schema);
        else if (f.omit === 'nil') {
          if (has) out[f.ts] = value;
        } else if (has && !isZeroTS(value) && !isEmptyObject(value)) out[f.ts] = value;
      }
      return out;
    }
    case 'Record': {
      if (!isPlainObject(v)) {
        saveTypeError(ctx, jsonKind(v), schema);
        return zeroValue(schema);
      }
      const item = Object.values(schema.patternProperties as Record<string, TSchema>)[0]!;
      const out: Record<string, unknown> = {};
      if (isPlainObject(into)) for (const key of Object.keys(into)) setOwn(out, key, into[key]);
      for (const key of Object.keys(v)) {
        const child = { ...ctx, path: childPath(ctx.path, key) };
        const value = decodeWith(item, v[key], child, Object.hasOwn(out, key) ? out[key] : undefined);
        setOwn(out, key, value);
      }
      return out;
    }
    case 'Array': {
      if (!Array.isArray(v)) {
        saveTypeError(ctx, jsonKind(v), schema);
        return zeroValue(schema);
      }
      const item = schema.items as TSchema;
      return v.map((x, i) => decodeWith(item, x, { ...ctx, path: `${ctx.path}[${i}]` }));
    }
    case 'String': {
      if (typeof v !== 'string') {
        saveTypeError(ctx, jsonKind(v), schema);
        return into ?? '';
      }
      if (schema['x-go-ip'] === true && v !== '') {
        const ip = canonicalIP(v);
        // Go returns UnmarshalText errors at once (they end decoding), unlike type errors.
        if (ip === undefined) throw new InvalidRequestError(ctx.path, `invalid IP address: ${v}`);
        return ip;
      }
      return v;
    }
    case 'Boolean': {
      if (typeof v !== 'boolean') {
        saveTypeError(ctx, jsonKind(v), schema);
        return into ?? false;
      }
      return v;
    }
    case 'BigInt': {
      const keep = into ?? zeroValue(schema);
      if (typeof v === 'number') {
        // A fraction or exponent: Go's strconv.ParseInt/ParseUint reject the literal.
        saveTypeError(ctx, `number ${String(v)}`, schema);
        return keep;
      }
      if (typeof v !== 'bigint') {
        saveTypeError(ctx, jsonKind(v), schema);
        return keep;
      }
      const inRange = checkInt(schema, v, ctx.path, (e) => {
        ctx.errors.first ??= e;
      });
      if (!inRange) {
        saveTypeError(ctx, `number ${v}`, schema);
        return keep;
      }
      return isBigIntKind(schema) ? v : Number(v);
    }
    default:
      throw new TypeError(`unsupported schema kind ${String(kind)}`);
  }
}

/**
 * Decodes a parsed JSON value into its TS form.
 * @throws InvalidRequestError naming the first offending field (Go's message where Go has one).
 */
export function decodeWithSchema(schema: TSchema, v: unknown): unknown {
  const ctx: DecodeContext = { goStruct: undefined, goFields: [], path: '', errors: {} };
  const out = decodeWith(schema, v, ctx);
  if (ctx.errors.first) throw ctx.errors.first;
  return out;
}

// ---- Well-formedness of names (`x-well-formed`) ------------------------------------------------------

const wellFormedCache = new WeakMap<TSchema, boolean>();

/** Whether `schema` has an `x-well-formed` part anywhere (cached). */
export function hasWellFormedParts(schema: TSchema): boolean {
  let has = wellFormedCache.get(schema);
  if (has === undefined) {
    has = schema['x-well-formed'] === true || childSchemas(schema).some(hasWellFormedParts);
    wellFormedCache.set(schema, has);
  }
  return has;
}

function childSchemas(schema: TSchema): TSchema[] {
  switch (schema[Kind]) {
    case 'Object':
      return Object.values(schema.properties as Record<string, TSchema>);
    case 'Array':
      return [schema.items as TSchema];
    case 'Union':
      return schema.anyOf as TSchema[];
    case 'Record':
      return Object.values(schema.patternProperties as Record<string, TSchema>);
    default:
      return [];
  }
}

/**
 * The first `x-well-formed` string (or map key) of the decoded TS value `v` that holds a lone
 * surrogate, as an InvalidRequestError naming its wire path; undefined when there is none.
 */
export function findIllFormed(schema: TSchema, v: unknown, path = ''): InvalidRequestError | undefined {
  if (v === undefined || v === null || !hasWellFormedParts(schema)) return undefined;
  const where = path === '' ? 'value' : path;
  if (schema['x-well-formed'] === true) {
    if (typeof v === 'string') {
      const reason = illFormedReason(v);
      if (reason !== undefined) return new InvalidRequestError(path, `${where}: ${reason}`);
    } else if (isPlainObject(v)) {
      for (const key of Object.keys(v)) {
        const reason = illFormedReason(key);
        if (reason !== undefined) {
          return new InvalidRequestError(path, `${where}: key ${JSON.stringify(key)} is ${reason}`);
        }
      }
    }
  }
  switch (schema[Kind]) {
    case 'Object': {
      if (!isPlainObject(v)) return undefined;
      for (const [wire, field] of Object.entries(schema.properties as Record<string, TSchema>)) {
        const found = findIllFormed(field, v[String(field['x-ts'])], childPath(path, wire));
        if (found) return found;
      }
      return undefined;
    }
    case 'Array': {
      if (!Array.isArray(v)) return undefined;
      for (let i = 0; i < v.length; i++) {
        const found = findIllFormed(schema.items as TSchema, v[i], `${path}[${i}]`);
        if (found) return found;
      }
      return undefined;
    }
    case 'Union':
      for (const member of schema.anyOf as TSchema[]) {
        const found = findIllFormed(member, v, path);
        if (found) return found;
      }
      return undefined;
    case 'Record': {
      if (!isPlainObject(v)) return undefined;
      const [valueSchema] = childSchemas(schema);
      for (const [key, value] of Object.entries(v)) {
        const found = valueSchema && findIllFormed(valueSchema, value, childPath(path, key));
        if (found) return found;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}
