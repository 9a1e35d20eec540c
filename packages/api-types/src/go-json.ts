/**
 * A JSON codec that reproduces Go's `encoding/json` Encoder and Decoder byte for byte where the
 * Garden wire protocol depends on it (protocol §3):
 *
 * - encoding uses Go's string escaping (HTML-safe `<`/`>`/`&`, U+2028/U+2029, `\u00xx` control
 *   characters) and writes bigints as plain decimal integers;
 * - decoding keeps every integer literal exact as a `bigint` (uint64 stats exceed 2^53), reads only
 *   the first value of a text like Go's Decoder, and fails with Go's error messages.
 */
import { InvalidRequestError } from './errors.js';

/** Values {@link encodeGoJson} can write: the output of the wire codecs. */
export type GoJsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | readonly GoJsonValue[]
  | { readonly [key: string]: GoJsonValue | undefined };

/**
 * A body or message that is not valid JSON. `message` is the text Go's decoder reports
 * (`EOF`, `unexpected EOF`, `invalid character 'o' looking for beginning of object key string`).
 */
export class GoJsonSyntaxError extends InvalidRequestError {
  constructor(message: string) {
    super('', message);
  }
}

// Characters Go escapes inside strings: controls, quote, backslash, the HTML-sensitive three,
// the JavaScript line terminators and lone surrogates (Go writes invalid UTF-8 as \ufffd).
// biome-ignore lint/suspicious/noControlCharactersInRegex: Go escapes exactly these control characters.
const NEEDS_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above.
const ESCAPES = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/gu;
// The common case, a string with nothing to escape, is found with one test of this pattern. Unlike
// NEEDS_ESCAPE it also matches well-formed surrogate pairs, which then take the exact slow path.
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above.
const MAYBE_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/;

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function escapeChar(c: string): string {
  const short = SHORT_ESCAPES[c];
  if (short !== undefined) return short;
  const code = c.charCodeAt(0);
  if (code >= 0xd800 && code <= 0xdfff) return '\\ufffd';
  return `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A JSON string literal exactly as Go's encoder writes it (HTML-safe escaping on). */
export function quoteGoString(s: string): string {
  if (!MAYBE_ESCAPE.test(s) || !NEEDS_ESCAPE.test(s)) return `"${s}"`;
  return `"${s.replace(ESCAPES, escapeChar)}"`;
}

function encodeNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`json: unsupported value: ${n}`);
  // Go writes negative zero as "-0"; JavaScript's String() drops the sign.
  if (Object.is(n, -0)) return '-0';
  // For integers and for the float range Go writes without an exponent, String() agrees with Go;
  // both switch to exponent form below 1e-6 and from 1e21.
  return String(n);
}

// Object keys repeat (struct field names, the same property names), so their quoted form is kept.
const KEY_CACHE_MAX = 4096;
const keyCache = new Map<string, string>();

/** `"key":` with Go's escaping, cached (keys repeat: struct field names, property names). */
export function quoteKey(key: string): string {
  let quoted = keyCache.get(key);
  if (quoted === undefined) {
    quoted = `${quoteGoString(key)}:`;
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
    keyCache.set(key, quoted);
  }
  return quoted;
}

function encodeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quoteGoString(value);
    case 'bigint':
      return value.toString();
    case 'number':
      return encodeNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return 'null';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        const n = value.length;
        if (n === 0) return '[]';
        let out = `[${encodeValue(value[0])}`;
        for (let i = 1; i < n; i++) out += `,${encodeValue(value[i])}`;
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      let out = '{';
      let first = true;
      // Object.keys + indexing, not Object.entries: no [key, value] pair per member.
      const keys = Object.keys(obj);
      if ((obj as Record<symbol, unknown>)[GO_MAP] === true && keys.length > 1) keys.sort(compareCodePoints);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const item = obj[key];
        if (item === undefined) continue;
        if (first) first = false;
        else out += ',';
        out += quoteKey(key) + encodeValue(item);
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`json: unsupported type: ${typeof value}`);
  }
}

/** Compares strings by Unicode code point, which is the UTF-8 byte order Go sorts map keys in. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

const GO_MAP = Symbol.for('@garden-ts/api-types.goMap');

/**
 * A wire object that stands for a Go map: `encodeGoJson` writes its keys sorted by byte order, as
 * Go does. (A plain object would list integer-like keys such as "10" first, whatever the order
 * they were added in.) Struct-shaped wire objects keep their insertion order.
 */
export function goMap<T>(): Record<string, T> {
  const map: Record<string, T> = {};
  Object.defineProperty(map, GO_MAP, { value: true, enumerable: false });
  return map;
}

/**
 * The JSON text of a wire value, as Go's `json.Marshal` writes it: object keys in insertion order
 * (the wire codecs build objects in Go struct order and sort map keys), bigints as plain decimal
 * integers, strings with Go's escaping. `undefined` object members are skipped.
 * @throws TypeError for values JSON cannot represent (NaN, Infinity, functions, symbols).
 */
export function encodeGoJson(value: GoJsonValue): string {
  return encodeValue(value);
}

/** `encodeGoJson(value) + "\n"`: one value as Go's `json.Encoder.Encode` frames it. */
export function goJsonLine(value: GoJsonValue): string {
  return `${encodeGoJson(value)}\n`;
}

/** The result of {@link parseGoJsonPrefix}: a value and the offset just after it. */
export interface GoJsonPrefix {
  value: unknown;
  end: number;
}

/**
 * Go quotes the offending *byte* in syntax errors (`quoteChar` in encoding/json): the first UTF-8
 * byte of a non-ASCII character, shown as the Latin-1 character of that value.
 */
function quoteChar(text: string, i: number): string {
  const cp = text.codePointAt(i) ?? 0;
  let byte: number;
  if (cp < 0x80) byte = cp;
  else if (cp < 0x800) byte = 0xc0 | (cp >> 6);
  else if (cp < 0x10000) byte = 0xe0 | (cp >> 12);
  else byte = 0xf0 | (cp >> 18);
  if (byte === 0x27) return "'\\''";
  if (byte === 0x22) return `'"'`;
  return `'${goQuoteRune(byte)}'`;
}

/** strconv.Quote of a single rune <= 0xff, without the surrounding quotes. */
function goQuoteRune(r: number): string {
  const named: Record<number, string> = {
    7: '\\a',
    8: '\\b',
    12: '\\f',
    10: '\\n',
    13: '\\r',
    9: '\\t',
    11: '\\v',
    92: '\\\\',
  };
  const short = named[r];
  if (short !== undefined) return short;
  if (r < 0x20 || r === 0x7f) return `\\x${r.toString(16).padStart(2, '0')}`;
  // Go's IsPrint rejects the C1 controls, NO-BREAK SPACE and SOFT HYPHEN in this range.
  if ((r >= 0x80 && r <= 0xa0) || r === 0xad) return `\\u${r.toString(16).padStart(4, '0')}`;
  return String.fromCharCode(r);
}

const MAX_DEPTH = 10000;

interface Frame {
  obj?: Record<string, unknown>;
  key?: string;
  arr?: unknown[];
}

/**
 * Sets an object member. A duplicate key is deleted first so that iteration order follows the order
 * in which Go's decoder applies keys: the last one wins, also across case variants of a field name.
 * defineProperty keeps `__proto__` an ordinary key.
 */
function setMember(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (Object.hasOwn(obj, key)) delete obj[key];
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A parser with Go's scanner states and error messages. with Go's scanner states and error messages. */
class Parser {
  i: number;
  constructor(
    readonly text: string,
    start: number,
    /** Keep lone surrogates (raw or escaped) instead of Go's U+FFFD, so callers can refuse them. */
    readonly keepLoneSurrogates = false,
  ) {
    this.i = start;
  }

  fail(context: string): never {
    if (this.i >= this.text.length) throw new GoJsonSyntaxError('unexpected EOF');
    throw new GoJsonSyntaxError(`invalid character ${quoteChar(this.text, this.i)} ${context}`);
  }

  skipSpace(): void {
    const t = this.text;
    let i = this.i;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.i = i;
  }

  /**
   * Parses one value. Containers are tracked on an explicit stack, not by recursion, so Go's
   * nesting limit (10000) is reached without exhausting the JavaScript call stack.
   */
  value(): unknown {
    const t = this.text;
    const stack: Frame[] = [];
    for (;;) {
      this.skipSpace();
      const c = t[this.i];
      let v: unknown;
      if (c === '{' || c === '[') {
        if (stack.length + 1 > MAX_DEPTH) this.fail('exceeded max depth');
        this.i++;
        this.skipSpace();
        if (c === '{' && t[this.i] === '}') {
          this.i++;
          v = {};
        } else if (c === '[' && t[this.i] === ']') {
          this.i++;
          v = [];
        } else if (c === '{') {
          stack.push({ obj: {}, key: this.key() });
          continue;
        } else {
          stack.push({ arr: [] });
          continue;
        }
      } else if (c === '"') v = this.string();
      else if (c === 't') v = this.literal('true', true);
      else if (c === 'f') v = this.literal('false', false);
      else if (c === 'n') v = this.literal('null', null);
      else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) v = this.number();
      else this.fail('looking for beginning of value');

      // Attach the finished value to its container; close every container that ends here.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) return v;
        this.skipSpace();
        const d = t[this.i];
        if (top.arr) {
          top.arr.push(v);
          if (d === ',') {
            this.i++;
            break;
          }
          if (d !== ']') this.fail('after array element');
          this.i++;
          v = top.arr;
        } else {
          setMember(top.obj!, top.key!, v);
          if (d === ',') {
            this.i++;
            this.skipSpace();
            top.key = this.key();
            break;
          }
          if (d !== '}') this.fail('after object key:value pair');
          this.i++;
          v = top.obj;
        }
        stack.pop();
      }
    }
  }

  /** Reads `"key"` and the colon after it. */
  key(): string {
    if (this.text[this.i] !== '"') this.fail('looking for beginning of object key string');
    const key = this.string();
    this.skipSpace();
    if (this.text[this.i] !== ':') this.fail('after object key');
    this.i++;
    return key;
  }

  literal(word: string, result: boolean | null): boolean | null {
    for (let k = 1; k < word.length; k++) {
      this.i++;
      if (this.text[this.i] !== word[k]) this.fail(`in literal ${word} (expecting '${word[k]}')`);
    }
    this.i++;
    return result;
  }

  number(): bigint | number {
    const t = this.text;
    const start = this.i;
    const digit = () => {
      const c = t.charCodeAt(this.i);
      return c >= 0x30 && c <= 0x39;
    };
    if (t[this.i] === '-') {
      this.i++;
      if (!digit()) this.fail('in numeric literal');
    }
    if (t[this.i] === '0') this.i++;
    else while (digit()) this.i++;
    let integer = true;
    if (t[this.i] === '.') {
      integer = false;
      this.i++;
      if (!digit()) this.fail('after decimal point in numeric literal');
      while (digit()) this.i++;
    }
    if (t[this.i] === 'e' || t[this.i] === 'E') {
      integer = false;
      this.i++;
      if (t[this.i] === '+' || t[this.i] === '-') this.i++;
      if (!digit()) this.fail('in exponent of numeric literal');
      while (digit()) this.i++;
    }
    const lit = t.slice(start, this.i);
    return integer ? BigInt(lit) : Number(lit);
  }

  string(): string {
    const t = this.text;
    this.i++;
    let out = '';
    let runStart = this.i;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (Number.isNaN(c)) this.fail('in string literal');
      if (c === 0x22) {
        out += t.slice(runStart, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail('in string literal');
      if (c === 0x5c) {
        out += t.slice(runStart, this.i);
        out += this.escape();
        runStart = this.i;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        // A well-formed surrogate pair is one character; a lone surrogate is invalid UTF-16,
        // which Go (reading invalid UTF-8) replaces with U+FFFD.
        const next = t.charCodeAt(this.i + 1);
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          this.i += 2;
          continue;
        }
        if (this.keepLoneSurrogates) {
          this.i++;
          continue;
        }
        out += `${t.slice(runStart, this.i)}\ufffd`;
        this.i++;
        runStart = this.i;
        continue;
      }
      this.i++;
    }
  }

  escape(): string {
    this.i++;
    const c = this.text[this.i];
    this.i++;
    switch (c) {
      case '"':
        return '"';
      case '\\':
        return '\\';
      case '/':
        return '/';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'u': {
        const unit = this.hex4();
        if (unit >= 0xd800 && unit <= 0xdbff) {
          // Go combines a following \uDC00-\uDFFF escape; otherwise the lone half is U+FFFD and the
          // next escape is read on its own.
          const save = this.i;
          if (this.text[this.i] === '\\' && this.text[this.i + 1] === 'u') {
            this.i += 2;
            const low = this.hex4();
            if (low >= 0xdc00 && low <= 0xdfff) return String.fromCharCode(unit, low);
          }
          this.i = save;
          return this.keepLoneSurrogates ? String.fromCharCode(unit) : '\ufffd';
        }
        if (unit >= 0xdc00 && unit <= 0xdfff)
          return this.keepLoneSurrogates ? String.fromCharCode(unit) : '\ufffd';
        return String.fromCharCode(unit);
      }
      default:
        this.i--;
        return this.fail('in string escape code');
    }
  }

  hex4(): number {
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.text.charCodeAt(this.i);
      let d: number;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
      else return this.fail('in \\u hexadecimal character escape');
      n = n * 16 + d;
      this.i++;
    }
    return n;
  }
}

/**
 * Parses the JSON value that starts at `start` (after optional whitespace), like one call of
 * Go's `Decoder.Decode`. Integer literals become `bigint`, other numbers `number`.
 * @throws GoJsonSyntaxError `EOF` when only whitespace remains, Go's messages otherwise.
 */
export function parseGoJsonPrefix(text: string, start = 0, keepLoneSurrogates = false): GoJsonPrefix {
  const p = new Parser(text, start, keepLoneSurrogates);
  p.skipSpace();
  if (p.i >= text.length) throw new GoJsonSyntaxError('EOF');
  const value = p.value();
  return { value, end: p.i };
}

/**
 * Parses the first JSON value in `text` (a string, or UTF-8 bytes such as a request body Buffer) and
 * ignores whatever follows, as the Go server and client do with HTTP bodies. Every integer literal
 * becomes a `bigint`, other numbers a `number`; of duplicate keys the last wins. Lone surrogates
 * become U+FFFD as in Go, unless `keepLoneSurrogates` (used to refuse them where they matter).
 * @throws GoJsonSyntaxError with Go's message: `EOF` for empty input, `unexpected EOF` for a
 * truncated value, `invalid character … looking for …` for malformed input.
 */
export function parseGoJson(text: string | Uint8Array, options?: { keepLoneSurrogates?: boolean }): unknown {
  return parseGoJsonPrefix(
    typeof text === 'string' ? text : utf8.decode(text),
    0,
    options?.keepLoneSurrogates,
  ).value;
}

// Invalid UTF-8 becomes U+FFFD, as Go does inside strings.
const utf8 = new TextDecoder('utf-8');

function isBlank(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return true;
}

/**
 * Splits a byte stream of JSON values (the process control connection, §7) into parsed values,
 * like a Go `json.Decoder` reading the socket. Values may be separated by newlines (what Go
 * writes) or simply concatenated, and may span chunks; a multi-byte character split across
 * chunks is reassembled.
 *
 * ```ts
 * const decoder = new GoJsonStreamDecoder();
 * socket.on('data', (chunk) => { for (const msg of decoder.push(chunk)) handle(msg); });
 * socket.on('end', () => decoder.end());
 * ```
 */
export class GoJsonStreamDecoder {
  #text = '';
  readonly #utf8 = new TextDecoder('utf-8');

  /**
   * Adds bytes (or text) and returns every value completed by them.
   * @throws GoJsonSyntaxError when the stream holds malformed JSON.
   */
  push(chunk: Uint8Array | string): unknown[] {
    this.#text += typeof chunk === 'string' ? chunk : this.#utf8.decode(chunk, { stream: true });
    return this.#drain(false);
  }

  /**
   * Ends the stream and returns any last value.
   * @throws GoJsonSyntaxError `unexpected EOF` when the stream ends inside a value.
   */
  end(): unknown[] {
    this.#text += this.#utf8.decode();
    return this.#drain(true);
  }

  /** Whether only whitespace is buffered (the stream ended at a value boundary so far). */
  get idle(): boolean {
    return isBlank(this.#text, 0);
  }

  #drain(final: boolean): unknown[] {
    const values: unknown[] = [];
    let pos = 0;
    const text = this.#text;
    while (!isBlank(text, pos)) {
      let parsed: GoJsonPrefix;
      try {
        parsed = parseGoJsonPrefix(text, pos);
      } catch (err) {
        if (!final && err instanceof GoJsonSyntaxError && err.message === 'unexpected EOF') break;
        this.#text = '';
        throw err;
      }
      // A number at the very end of the buffer may continue in the next chunk.
      if (!final && parsed.end === text.length && typeof parsed.value !== 'object') {
        const last = text.charCodeAt(text.length - 1);
        if (last >= 0x30 && last <= 0x39) break;
      }
      values.push(parsed.value);
      pos = parsed.end;
    }
    this.#text = text.slice(pos);
    return values;
  }
}
