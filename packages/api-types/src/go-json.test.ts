import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from './errors.js';
import {
  encodeGoJson,
  GoJsonStreamDecoder,
  GoJsonSyntaxError,
  type GoJsonValue,
  goJsonLine,
  parseGoJson,
  parseGoJsonPrefix,
  quoteGoString,
} from './go-json.js';

/** The reference emitter of protocol §3.1.7: JSON.stringify plus the HTML-safe replacements. */
const reference = (v: unknown) =>
  JSON.stringify(v).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

/** JSON values without -0 (Go writes "-0", JSON.stringify "0"). */
const jsonValue = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as GoJsonValue);

describe('encodeGoJson', () => {
  it.each([
    ['<>&', '"\\u003c\\u003e\\u0026"'],
    ['\u2028\u2029', '"\\u2028\\u2029"'],
    ['\n\r\t"\\', '"\\n\\r\\t\\"\\\\"'],
    ['\b\f', '"\\b\\f"'],
    ['\u0000\u0001\u001f', '"\\u0000\\u0001\\u001f"'],
    ['\u007f', '"\u007f"'],
    ['é😀/', '"é😀/"'],
    ['a\ud800b\udc00', '"a\\ufffdb\\ufffd"'],
  ])('escapes %j like Go', (input, expected) => {
    expect(quoteGoString(input)).toBe(expected);
    expect(encodeGoJson(input)).toBe(expected);
  });

  it('writes bigints and safe integers as plain decimals, objects in insertion order', () => {
    expect(
      encodeGoJson({ z: 18446744073709551615n, a: -9223372036854775808n, m: 42, n: null, t: true }),
    ).toBe('{"z":18446744073709551615,"a":-9223372036854775808,"m":42,"n":null,"t":true}');
    expect(encodeGoJson([[], {}, [1n, 'x']])).toBe('[[],{},[1,"x"]]');
    expect(encodeGoJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(goJsonLine({ value: 'v<&>' })).toBe('{"value":"v\\u003c\\u0026\\u003e"}\n');
    expect(encodeGoJson(-0)).toBe('-0');
  });

  it('refuses values JSON cannot represent', () => {
    expect(() => encodeGoJson(Number.NaN)).toThrow(TypeError);
    expect(() => encodeGoJson(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => encodeGoJson({ f: (() => 1) as unknown as GoJsonValue })).toThrow(TypeError);
  });

  it('matches the reference emitter for arbitrary JSON values', () => {
    fc.assert(fc.property(jsonValue, (v) => encodeGoJson(v) === reference(v)));
  });

  it('never emits raw newlines, HTML-sensitive characters or line separators', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const out = quoteGoString(s);
        expect(out).not.toMatch(/[\n\r<>&\u2028\u2029]/);
        expect(parseGoJson(out)).toBe(s);
        expect(JSON.parse(out)).toBe(s);
      }),
    );
  });
});

describe('parseGoJson', () => {
  it('keeps integer literals exact as bigint and other numbers as number', () => {
    expect(parseGoJson('18446744073709551615')).toBe(18446744073709551615n);
    expect(parseGoJson('9223372036854771712')).toBe(9223372036854771712n);
    expect(parseGoJson('-12')).toBe(-12n);
    expect(parseGoJson('-0')).toBe(0n);
    expect(parseGoJson('1.5')).toBe(1.5);
    expect(parseGoJson('1e9')).toBe(1e9);
    expect(parseGoJson('2E-3')).toBe(0.002);
    expect(parseGoJson('[1,1.0]')).toEqual([1n, 1]);
  });

  it('reads only the first value and ignores what follows, like Go’s Decoder', () => {
    expect(parseGoJson('{"a":1}\n{"b":2}')).toEqual({ a: 1n });
    expect(parseGoJson('{}garbage')).toEqual({});
    expect(parseGoJson('123abc')).toBe(123n);
    expect(parseGoJson('01')).toBe(0n);
    expect(parseGoJson(' \t\r\n true x')).toBe(true);
    expect(parseGoJsonPrefix('[1] [2]')).toEqual({ value: [1n], end: 3 });
    expect(parseGoJsonPrefix('[1] [2]', 3)).toEqual({ value: [2n], end: 7 });
  });

  it('applies duplicate keys in order (the last wins) and keeps __proto__ as a plain key', () => {
    const obj = parseGoJson('{"a":1,"A":2,"a":3}') as Record<string, unknown>;
    expect(obj).toEqual({ A: 2n, a: 3n });
    expect(Object.keys(obj)).toEqual(['A', 'a']);
    const proto = parseGoJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decodes escapes; lone surrogates become U+FFFD as in Go', () => {
    expect(parseGoJson('"\\u003c\\/\\b\\f\\n\\r\\t\\"\\\\"')).toBe('</\b\f\n\r\t"\\');
    expect(parseGoJson('"\\ud83d\\ude00"')).toBe('😀');
    expect(parseGoJson('"\\ud83dx"')).toBe('\ufffdx');
    expect(parseGoJson('"\\ud83d\\u0041"')).toBe('\ufffdA');
    expect(parseGoJson('"\\ude00"')).toBe('\ufffd');
    expect(parseGoJson('"a\ud800b"')).toBe('a\ufffdb');
    expect(parseGoJson('"é😀"')).toBe('é😀');
  });

  it.each([
    ['', 'EOF'],
    [' \n\t ', 'EOF'],
    ['{oops}', "invalid character 'o' looking for beginning of object key string"],
    ['{"a":1', 'unexpected EOF'],
    ['{"a"', 'unexpected EOF'],
    ['"abc', 'unexpected EOF'],
    ['[1,', 'unexpected EOF'],
    ['tru', 'unexpected EOF'],
    ['-', 'unexpected EOF'],
    ['1.', 'unexpected EOF'],
    ['[1,]', "invalid character ']' looking for beginning of value"],
    ['{"a":1,}', "invalid character '}' looking for beginning of object key string"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b":2}', `invalid character '"' after object key:value pair`],
    ['[1 2]', "invalid character '2' after array element"],
    ['-x', "invalid character 'x' in numeric literal"],
    ['1.x', "invalid character 'x' after decimal point in numeric literal"],
    ['1ex', "invalid character 'x' in exponent of numeric literal"],
    ['trUe', "invalid character 'U' in literal true (expecting 'u')"],
    ['nul!', "invalid character '!' in literal null (expecting 'l')"],
    ['fals', 'unexpected EOF'],
    ['"a\\x"', "invalid character 'x' in string escape code"],
    ['"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"],
    ['"a\nb"', "invalid character '\\n' in string literal"],
    ['"a\u0001b"', "invalid character '\\x01' in string literal"],
    ["'a'", "invalid character '\\'' looking for beginning of value"],
    ['\u00e9', "invalid character 'Ã' looking for beginning of value"],
    ['\ufeff{}', "invalid character 'ï' looking for beginning of value"],
    ['\u00a0', "invalid character 'Â' looking for beginning of value"],
    ['\u0085', "invalid character 'Â' looking for beginning of value"],
    ['+1', "invalid character '+' looking for beginning of value"],
    ['}', "invalid character '}' looking for beginning of value"],
  ])('%j fails with Go’s message %j', (text, message) => {
    let caught: unknown;
    try {
      parseGoJson(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GoJsonSyntaxError);
    expect(caught).toBeInstanceOf(InvalidRequestError);
    expect((caught as GoJsonSyntaxError).message).toBe(message);
    expect((caught as GoJsonSyntaxError).field).toBe('');
    expect((caught as GoJsonSyntaxError).statusCode).toBe(400);
  });

  it('enforces Go’s nesting limit of 10000 without exhausting the stack', () => {
    expect(parseGoJson(`${'['.repeat(10000)}${']'.repeat(10000)}`)).toBeInstanceOf(Array);
    expect(() => parseGoJson('['.repeat(10001))).toThrow("invalid character '[' exceeded max depth");
    expect(() => parseGoJson(`${'{"a":'.repeat(10000)}{}`)).toThrow(
      "invalid character '{' exceeded max depth",
    );
  });

  it('agrees with JSON.parse on arbitrary JSON text (integers as bigint)', () => {
    const toNumbers = (v: unknown): unknown => {
      if (typeof v === 'bigint') return Number(v);
      if (Array.isArray(v)) return v.map(toNumbers);
      if (v && typeof v === 'object')
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toNumbers(x)]));
      return v;
    };
    fc.assert(
      fc.property(jsonValue, (v) => {
        const text = JSON.stringify(v, null, 1);
        expect(toNumbers(parseGoJson(text))).toEqual(JSON.parse(text));
      }),
    );
  });

  it('throws nothing but GoJsonSyntaxError on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.uint8Array().map((b) => Buffer.from(b).toString('latin1')),
        ),
        (text) => {
          try {
            parseGoJson(text);
          } catch (err) {
            expect(err).toBeInstanceOf(GoJsonSyntaxError);
          }
        },
      ),
    );
  });

  it('reports truncation of any valid text as unexpected EOF', () => {
    fc.assert(
      fc.property(
        jsonValue.filter((v) => typeof v === 'object' && v !== null),
        fc.nat(),
        (v, cut) => {
          const text = JSON.stringify(v);
          const prefix = text.slice(0, cut % text.length);
          if (prefix.trim() === '') return;
          expect(() => parseGoJson(prefix)).toThrow('unexpected EOF');
        },
      ),
    );
  });
});

describe('GoJsonStreamDecoder', () => {
  const messages = [
    '{"process_id":"proc-1","source":0,"data":"input\\n"}\n',
    '{"process_id":"proc-1","source":0}\n',
    '{"process_id":"p","data":"héllo 😀"}\n',
    '42\n',
  ];
  const expected = [
    { process_id: 'proc-1', source: 0n, data: 'input\n' },
    { process_id: 'proc-1', source: 0n },
    { process_id: 'p', data: 'héllo 😀' },
    42n,
  ];

  it('yields every value however the byte stream is chunked', () => {
    const bytes = Buffer.from(messages.join(''));
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        (cuts) => {
          const decoder = new GoJsonStreamDecoder();
          const out: unknown[] = [];
          let prev = 0;
          for (const cut of [...cuts.sort((a, b) => a - b), bytes.length]) {
            out.push(...decoder.push(bytes.subarray(prev, cut)));
            prev = cut;
          }
          out.push(...decoder.end());
          expect(out).toEqual(expected);
          expect(decoder.idle).toBe(true);
        },
      ),
    );
  });

  it('accepts concatenated values and blank lines', () => {
    const decoder = new GoJsonStreamDecoder();
    expect(decoder.push('{"a":1}{"b":2}\n\n  [3]')).toEqual([{ a: 1n }, { b: 2n }, [3n]]);
    expect(decoder.push('12')).toEqual([]);
    expect(decoder.push('3 ')).toEqual([123n]);
    expect(decoder.end()).toEqual([]);
  });

  it('waits for a value split across chunks and fails on malformed or truncated input', () => {
    const decoder = new GoJsonStreamDecoder();
    expect(decoder.push('{"a":')).toEqual([]);
    expect(decoder.idle).toBe(false);
    expect(decoder.push('1}\n{"b"')).toEqual([{ a: 1n }]);
    expect(() => decoder.end()).toThrow('unexpected EOF');
    const bad = new GoJsonStreamDecoder();
    expect(() => bad.push('{"a":1}\n{oops}\n')).toThrow(GoJsonSyntaxError);
  });
});
