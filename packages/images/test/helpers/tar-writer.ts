/**
 * A small tar writer for test layers: ustar headers plus PAX records (binary-safe values for
 * xattrs, long names, large ids), so tests control exactly what a layer contains — whiteouts,
 * opaque markers, hard links, device nodes, setuid bits, capabilities — byte for byte.
 */

export interface TestEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  /** File content. */
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
}

const FLAGS = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

function octal(n: number, len: number): string {
  return `${n.toString(8).padStart(len - 1, '0')}\0`;
}

function header(name: string, flag: string, size: number, e: TestEntry): Buffer {
  const b = Buffer.alloc(512);
  b.write(name.slice(0, 100), 0, 'utf8');
  b.write(octal((e.mode ?? 0o644) & 0o7777, 8), 100, 'latin1');
  b.write(octal(Math.min(e.uid ?? 0, 0o7777777), 8), 108, 'latin1');
  b.write(octal(Math.min(e.gid ?? 0, 0o7777777), 8), 116, 'latin1');
  b.write(octal(size, 12), 124, 'latin1');
  b.write(octal(Math.floor(e.mtime ?? 1_700_000_000), 12), 136, 'latin1');
  b.write('        ', 148, 'latin1');
  b.write(flag, 156, 'latin1');
  b.write((e.linkname ?? '').slice(0, 100), 157, 'utf8');
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  b.write(octal(e.devmajor ?? 0, 8), 329, 'latin1');
  b.write(octal(e.devminor ?? 0, 8), 337, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(octal(sum, 7), 148, 'latin1');
  return b;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

/** A tar archive of `entries` (with the two-block end marker). */
export function makeTar(entries: TestEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const pax: Buffer[] = [];
    if (Buffer.byteLength(e.name) > 100) pax.push(paxRecord('path', Buffer.from(e.name)));
    if (e.linkname && Buffer.byteLength(e.linkname) > 100)
      pax.push(paxRecord('linkpath', Buffer.from(e.linkname)));
    if ((e.uid ?? 0) > 0o7777777) pax.push(paxRecord('uid', Buffer.from(String(e.uid))));
    if ((e.gid ?? 0) > 0o7777777) pax.push(paxRecord('gid', Buffer.from(String(e.gid))));
    for (const [k, v] of Object.entries(e.xattrs ?? {}))
      pax.push(paxRecord(`SCHILY.xattr.${k}`, typeof v === 'string' ? Buffer.from(v) : v));
    if (pax.length) {
      const body = Buffer.concat(pax);
      parts.push(header('PaxHeader', 'x', body.length, {} as TestEntry), body, pad(body.length));
    }
    const name = type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    parts.push(
      header(name, FLAGS[type], data.length, { mode: type === 'dir' ? 0o755 : 0o644, ...e }),
      data,
      pad(data.length),
    );
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
