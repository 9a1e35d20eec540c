/**
 * IP address text handling with the semantics of Go's `net.ParseIP` and `net.IP.String`, which
 * decide what the Go server accepts in `IPRange` fields and how it writes them back (§3.1.8).
 */

function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    // Go rejects empty parts, more than three digits and leading zeros (since Go 1.17).
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part.startsWith('0'))) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes.push(n);
  }
  return bytes;
}

function parseIPv6(s: string): number[] | undefined {
  let head = s;
  let tail = '';
  const gap = s.indexOf('::');
  if (gap >= 0) {
    head = s.slice(0, gap);
    tail = s.slice(gap + 2);
    if (tail.includes('::')) return undefined;
  }
  const groups = (text: string, allowV4: boolean): number[] | undefined => {
    if (text === '') return [];
    const out: number[] = [];
    const parts = text.split(':');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (allowV4 && i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIPv4(part);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
      out.push(Number.parseInt(part, 16));
    }
    return out;
  };
  const h = groups(head, gap < 0);
  const t = groups(tail, true);
  if (!h || !t) return undefined;
  let words: number[];
  if (gap >= 0) {
    const missing = 8 - h.length - t.length;
    // "::" stands for at least one zero group.
    if (missing < 1) return undefined;
    words = [...h, ...new Array<number>(missing).fill(0), ...t];
  } else {
    words = h;
  }
  if (words.length !== 8) return undefined;
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/**
 * The 16-byte form of an address (IPv4 as `::ffff:a.b.c.d`), or undefined if Go rejects it.
 * Exported: backend-kit validates NetOut ranges with it, so backends accept what the wire accepts.
 */
export function parseIP(text: string): Uint8Array | undefined {
  if (text.includes(':')) {
    const bytes = parseIPv6(text);
    return bytes ? Uint8Array.from(bytes) : undefined;
  }
  const v4 = parseIPv4(text);
  return v4 ? Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]) : undefined;
}

/** Go's `net.IP.String` for a 16-byte address: dotted quad for IPv4(-mapped), RFC 5952 otherwise. */
function formatIP(ip: Uint8Array): string {
  const mapped = ip.slice(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
  if (mapped) return `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((ip[i]! << 8) | ip[i + 1]!);
  // The longest run of two or more zero groups (the first on a tie) becomes "::".
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** The text Go writes back for an address it accepts, or undefined if `net.ParseIP` rejects it. */
export function canonicalIP(text: string): string | undefined {
  const bytes = parseIP(text);
  return bytes ? formatIP(bytes) : undefined;
}
