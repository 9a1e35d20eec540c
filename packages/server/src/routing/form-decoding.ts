/**
 * Go's URL decoding rules, as the canonical server applies them (protocol §2):
 * `url.QueryUnescape` for path captures and query pairs (`+` → space, `%XX` → byte) and the
 * request-target check that makes Go answer 400 for an invalid `%` escape in the path.
 */

const HEX = /^[0-9A-Fa-f]{2}$/;

/** True when every `%` in `path` starts a valid two-digit hex escape (Go's path unescape check). */
export function hasValidEscapes(path: string): boolean {
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i + 1)) {
    if (!HEX.test(path.slice(i + 1, i + 3))) return false;
  }
  return true;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `url.QueryUnescape`: `+` becomes a space and `%XX` a byte; the bytes are read as UTF-8 (invalid
 * sequences become U+FFFD, as when Go's string later reaches JSON). Returns undefined for an
 * invalid escape. `onIllFormed` is called when the bytes are not valid UTF-8.
 */
export function formDecode(s: string, onIllFormed?: () => void): string | undefined {
  if (s.indexOf('%') === -1) return s.indexOf('+') === -1 ? s : s.replaceAll('+', ' ');
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hex = s.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (c === 0x2b /* + */) {
      bytes.push(0x20);
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      // The target was read as latin1, so each char is one raw byte of the request line.
      bytes.push(c & 0xff);
    }
  }
  const buf = Buffer.from(bytes);
  const text = buf.toString('utf8');
  // U+FFFD in the result: either replaced garbage or a real U+FFFD (EF BF BD); tell them apart.
  if (onIllFormed !== undefined && text.includes('\ufffd')) {
    try {
      strictUtf8.decode(buf);
    } catch {
      onIllFormed();
    }
  }
  return text;
}

/**
 * `url.ParseQuery` followed by `Get`: pairs split on `&`, each split on the first `=`, both sides
 * form-decoded; pairs containing `;` or an invalid escape are dropped; the first value wins.
 * Keys whose bytes are not valid UTF-8 are also pushed to `illFormedKeys`.
 */
export function parseQuery(raw: string, illFormedKeys?: string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === '') return out;
  for (const pair of raw.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    let illFormed = false;
    const key = formDecode(eq === -1 ? pair : pair.slice(0, eq), () => {
      illFormed = true;
    });
    if (illFormed && key !== undefined) illFormedKeys?.push(key);
    const value = formDecode(eq === -1 ? '' : pair.slice(eq + 1));
    if (key === undefined || value === undefined) continue;
    if (!out.has(key)) out.set(key, value);
  }
  return out;
}

/** Splits a request-target into its raw path and raw query (without `?`). */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q === -1 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}
