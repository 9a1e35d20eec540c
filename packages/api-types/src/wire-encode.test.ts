/**
 * The compiled encoders against the schema walker they replace on the hot path: for arbitrary
 * values of every schema (valid and invalid, sparse arrays, odd keys and strings) the compiled
 * object encoder returns the walker's wire object, the compiled text encoder returns exactly
 * `encodeGoJson` of it, and both reject exactly the values the walker rejects. The public codecs
 * are checked the same way, including the error they throw.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeGoJson } from './go-json.js';
import * as S from './schemas.js';
import { encodeBody, Wire, type WireCodec } from './wire.js';
import { compileEncoder, compileTextEncoder } from './wire-encode.js';
import { encodeWith } from './wire-walk.js';

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

function run<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * The wire object as a nested list of [key, value] pairs in key order, with the array holes and
 * value types made explicit: equal descriptions mean identical wire objects. (toStrictEqual
 * compares `constructor` members as types, which a map key `constructor` defeats.)
 */
function describeWire(v: unknown): unknown {
  if (Array.isArray(v)) return ['array', Array.from(v.keys(), (i) => (i in v ? describeWire(v[i]) : 'hole'))];
  if (typeof v === 'object' && v !== null) {
    return [
      'object',
      Object.getPrototypeOf(v) === Object.prototype,
      Object.keys(v).map((k) => [k, describeWire((v as Record<string, unknown>)[k])]),
    ];
  }
  return [typeof v, v];
}

/** Values of the wrong type for any field. */
const junk = fc.constantFrom<unknown>(
  null,
  undefined,
  1.5,
  -1,
  'x',
  '',
  true,
  [],
  {},
  [1n],
  2n ** 70n,
  -1n,
  () => 1,
);

const goString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('', 'a', '<&>', '\u2028', '\ud800', '\u{1F600}', 'q"\\', '\u0000\u001f'),
);

const ipText = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.constantFrom('::FFFF:10.0.0.1', '2001:0DB8:0:0:1:0:0:1', '1.2.3', '01.2.3.4', '::', 'nonsense'),
);

const mapKey = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.constantFrom('__proto__', 'constructor', '0', '10', '\uffff', '\u{1F600}', 'a b'),
);

/** Arbitrary values for `schema`: mostly of the right shape, sometimes not. */
function arb(schema: TSchema, depth = 0): fc.Arbitrary<unknown> {
  const valid = validArb(schema, depth);
  return fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: junk, weight: 1 });
}

function validArb(schema: TSchema, depth: number): fc.Arbitrary<unknown> {
  switch (schema[Kind]) {
    case 'Object': {
      const props = schema.properties as Record<string, TSchema>;
      const shape: Record<string, fc.Arbitrary<unknown>> = {};
      for (const s of Object.values(props)) shape[String(s['x-ts'])] = arb(s, depth + 1);
      return fc.record(shape, { requiredKeys: [] });
    }
    case 'Record': {
      const item = Object.values(schema.patternProperties as Record<string, TSchema>)[0]!;
      return fc.array(fc.tuple(mapKey, arb(item, depth + 1)), { maxLength: 4 }).map((entries) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of entries)
          Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
        return out;
      });
    }
    case 'Array': {
      const item = arb(schema.items as TSchema, depth + 1);
      return fc.oneof(fc.array(item, { maxLength: 3 }), fc.sparseArray(item, { maxLength: 3 }));
    }
    case 'Union':
      return fc.oneof(fc.constant(null), validArb((schema.anyOf as TSchema[])[0]!, depth));
    case 'String':
      return schema['x-go-ip'] === true ? ipText : goString;
    case 'Boolean':
      return fc.boolean();
    case 'BigInt': {
      const min = schema.minimum as bigint;
      const max = schema.maximum as bigint;
      // Around the largest exact double, where the text encoder switches formatting.
      const edges = [-1n, 0n, 1n]
        .flatMap((d) => [2n ** 53n + d, -(2n ** 53n) + d])
        .filter((n) => n >= min && n <= max);
      return fc.oneof(
        fc.bigInt({ min, max }),
        fc.constantFrom(min, max, min - 1n, max + 1n, 0n, ...edges),
        fc.integer({ min: -5, max: 300 }),
      );
    }
    default:
      throw new TypeError(`no arbitrary for ${String(schema[Kind])}`);
  }
}

const schemas = (Object.entries(S) as [string, unknown][]).filter(
  (entry): entry is [string, TSchema] =>
    entry[0].endsWith('Schema') && typeof entry[1] === 'object' && entry[1] !== null && Kind in entry[1],
);

describe('compiled encoders agree with the schema walker', () => {
  it('covers every schema', () => {
    expect(schemas.length).toBeGreaterThan(40);
  });
  for (const [name, schema] of schemas) {
    it(name, () => {
      const objectEncoder = compileEncoder(schema);
      const textEncoder = compileTextEncoder(schema);
      fc.assert(
        fc.property(arb(schema), (value) => {
          const oracle = run(() => encodeWith(schema, value));
          const object = run(() => objectEncoder(value));
          const text = run(() => textEncoder(value));
          expect(object.ok).toBe(oracle.ok);
          expect(text.ok).toBe(oracle.ok);
          if (oracle.ok && object.ok && text.ok) {
            expect(describeWire(object.value)).toStrictEqual(describeWire(oracle.value));
            const bytes = encodeGoJson(oracle.value);
            expect(encodeGoJson(object.value)).toBe(bytes);
            expect(text.value).toBe(bytes);
          }
        }),
        { numRuns: 300 },
      );
    });
  }
});

const field = (schema: TSchema, wire: string) => (schema.properties as Record<string, TSchema>)[wire]!;

/** Per codec: the schema of the value it takes and how it hands that value to the walker. */
const codecCases: Record<string, { value: TSchema; wrap: (v: unknown) => unknown }> = {
  stopRequest: { value: field(S.StopRequestSchema, 'kill'), wrap: (v) => ({ kill: v }) },
  propertyValue: { value: field(S.PropertyValueSchema, 'value'), wrap: (v) => ({ value: v }) },
  createResponse: { value: field(S.CreateResponseSchema, 'Handle'), wrap: (v) => ({ handle: v }) },
  listResponse: { value: field(S.ListResponseSchema, 'Handles'), wrap: (v) => ({ handles: v ?? [] }) },
  properties: { value: S.PropertiesSchema, wrap: (v) => v ?? {} },
};
// Bulk maps, the error envelope and `{}` do not go through the schema encoders (wire.test.ts covers them).
const skipped = new Set(['bulkInfo', 'bulkMetrics', 'errorEnvelope', 'empty']);

describe('codecs: encode and encodeBody give the walker’s object, bytes and errors', () => {
  for (const [name, codec] of Object.entries(Wire)) {
    if (skipped.has(name)) continue;
    const { value: valueSchema, wrap } = codecCases[name] ?? { value: codec.schema, wrap: (v: unknown) => v };
    const encode = (v: unknown) => (codec.encode as (v: unknown) => unknown)(v);
    it(name, () => {
      fc.assert(
        fc.property(arb(valueSchema), (value) => {
          const oracle = run(() => encodeWith(codec.schema, wrap(value)));
          const object = run(() => encode(value));
          const body = run(() => encodeBody(codec as WireCodec<unknown, unknown, unknown>, value));
          if (oracle.ok) {
            expect(object.ok).toBe(true);
            expect(describeWire((object as { value: unknown }).value)).toStrictEqual(
              describeWire(oracle.value),
            );
            expect(body).toStrictEqual({ ok: true, value: `${encodeGoJson(oracle.value)}\n` });
          } else {
            // Same error class, field and message, from both entry points.
            expect(object).toStrictEqual(oracle);
            expect(body).toStrictEqual(oracle);
            expect((object as { error: Error }).error.message).toBe((oracle.error as Error).message);
            expect((body as { error: Error }).error.message).toBe((oracle.error as Error).message);
            expect((body as { error: { field?: unknown } }).error.field).toBe(
              (oracle.error as { field?: unknown }).field,
            );
          }
        }),
        { numRuns: 200 },
      );
    });
  }
});

describe('encodeGoJson fast paths', () => {
  it('quotes strings exactly as the escaping path does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), (s) => {
        // JSON.stringify agrees with Go except for the escapes Go adds; both decode to the same text.
        const text = encodeGoJson(s);
        expect(JSON.parse(text)).toBe(s.replace(/[\ud800-\udfff]/gu, '\ufffd'));
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the characters Go escapes.
        if (!/[\u0000-\u001f"\\<>&\u2028\u2029]|[\ud800-\udfff]/u.test(s)) expect(text).toBe(`"${s}"`);
      }),
    );
  });
});
