import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodePathParam, encodeQuery, queryEscape, withQuery } from '../src/url-encoding.js';

describe('encodeQuery (Go url.Values.Encode)', () => {
  it('sorts keys, uses + for space and uppercase escapes', () => {
    expect(encodeQuery({ owner: 'me', 'a b': 'c&d' })).toBe('a+b=c%26d&owner=me');
    expect(encodeQuery({ handles: 'a,b' })).toBe('handles=a%2Cb');
    expect(encodeQuery({ destination: '/tmp/dst', user: '' })).toBe('destination=%2Ftmp%2Fdst&user=');
    expect(encodeQuery({})).toBe('');
  });

  it('escapes every byte outside A-Z a-z 0-9 - _ . ~ (UTF-8)', () => {
    expect(queryEscape("-_.~!*'()é+")).toBe('-_.~%21%2A%27%28%29%C3%A9%2B');
  });

  it('sorts by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF5E sorts before U+1F600 in UTF-16 code units (0xFF5E < 0xD83D is false) but the
    // byte order is what Go uses: EF BD 9E < F0 9F 98 80.
    expect(encodeQuery({ '😀': '1', '～': '2' })).toBe('%EF%BD%9E=2&%F0%9F%98%80=1');
  });

  it('round-trips through form decoding', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' })),
        (values) => {
          const query = encodeQuery(values);
          const parsed = Object.fromEntries(new URLSearchParams(query));
          expect(parsed).toEqual({ ...values });
        },
      ),
    );
  });

  it('withQuery omits an empty query', () => {
    expect(withQuery('/containers', {})).toBe('/containers');
    expect(withQuery('/containers', { a: '' })).toBe('/containers?a=');
  });
});

describe('encodePathParam', () => {
  it('escapes what the Go server would otherwise misread', () => {
    expect(encodePathParam('plain')).toBe('plain');
    expect(encodePathParam('a b')).toBe('a%20b');
    expect(encodePathParam('a+b')).toBe('a%2Bb');
    expect(encodePathParam('a/b?c#d%e')).toBe('a%2Fb%3Fc%23d%25e');
    expect(encodePathParam('é')).toBe('%C3%A9');
  });

  it('form-decodes back to the original (the Go server decodes captures that way)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (value) => {
        const formDecoded = decodeURIComponent(encodePathParam(value).replace(/\+/g, ' '));
        expect(formDecoded).toBe(value);
      }),
    );
  });

  it('refuses lone surrogates, naming the parameter (they would name another object)', () => {
    expect(() => encodePathParam('a\ud800b', 'handle')).toThrow(
      new TypeError('handle: ill-formed UTF-16: lone surrogate \\ud800 at index 1'),
    );
    expect(() => encodePathParam('\udc00', 'key')).toThrow('key: ill-formed UTF-16');
    expect(encodePathParam('\ud83d\ude00', 'handle')).toBe('%F0%9F%98%80');
  });
});
