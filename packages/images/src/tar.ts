/**
 * A streaming tar reader (ustar, GNU long names and base-256 numbers, PAX extended headers).
 *
 * Hand-written rather than tar-stream because layer extraction needs what tar-stream drops:
 * tar-stream decodes PAX records as UTF-8 strings, which corrupts binary xattr values such as
 * `security.capability` (file capabilities), and ignores PAX `uid`, `gid` and `mtime` (ids above
 * 2097151 and sub-second times). It also costs a stream object per entry on the hot path.
 */
import { ImageError, ImageErrorCode } from './errors.js';

/** Entry kinds a layer may contain. */
export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarHeader {
  /** Path as stored (PAX / GNU long name applied), not normalised. */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Modification time in seconds (fractional from PAX). */
  mtime: number;
  /** Target of a hard link or symlink. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from `SCHILY.xattr.*` (raw bytes) and `LIBARCHIVE.xattr.*` (base64). */
  xattrs: Map<string, Buffer> | null;
}

/** Receives a tar stream's entries in order; each promise is awaited before reading on. */
export interface TarSink {
  /** A new entry; for `file` entries, `data` calls follow with exactly `size` bytes, then `end`. */
  entry(h: TarHeader): Promise<void> | void;
  data(chunk: Buffer): Promise<void> | void;
  end(): Promise<void> | void;
}

const BLOCK = 512;
const MAX_META = 16 << 20; // PAX / long-name records larger than this are refused

function corrupt(msg: string): ImageError {
  return new ImageError(ImageErrorCode.InvalidImage, `layer archive: ${msg}`);
}

function cstr(b: Buffer, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return b.toString('utf8', off, end);
}

function num(b: Buffer, off: number, len: number): number {
  if ((b[off] as number) & 0x80) {
    // GNU base-256: big-endian two's complement in the remaining bytes.
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + (b[i] as number);
    if ((b[off] as number) & 0x40) throw corrupt('negative base-256 number');
    return v;
  }
  let v = 0;
  let seen = false;
  for (let i = off; i < off + len; i++) {
    const c = b[i] as number;
    if (c === 0 || (c === 0x20 && seen)) break;
    if (c === 0x20) continue;
    if (c < 0x30 || c > 0x37) throw corrupt(`bad octal number in header at byte ${i - off}`);
    v = v * 8 + (c - 0x30);
    seen = true;
  }
  return v;
}

function checksumOk(b: Buffer): boolean {
  const stored = num(b, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (b[i] as number);
  return sum === stored;
}

interface Pax {
  [key: string]: Buffer;
}

/** PAX records: "<len> <key>=<value>\n", value bytes kept verbatim. */
function parsePax(buf: Buffer, into: Pax): void {
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break;
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) throw corrupt('bad PAX record');
    const len = Number(buf.toString('latin1', off, sp));
    if (!Number.isInteger(len) || len <= 0 || off + len > buf.length) throw corrupt('bad PAX record length');
    const rec = buf.subarray(sp + 1, off + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw corrupt('bad PAX record');
    into[rec.toString('utf8', 0, eq)] = Buffer.from(rec.subarray(eq + 1));
    off += len;
  }
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

/**
 * Push-style parser: feed it decompressed bytes with {@link write} (await each call: it waits for
 * the sink), then {@link finish}. Bytes after the end-of-archive marker are ignored (but must still
 * be fed, so a caller's digest covers them).
 */
export class TarParser {
  private buf: Buffer = Buffer.alloc(0);
  /** File bytes still to pass to the sink for the current entry. */
  private remaining = 0;
  /** Padding to skip after the current entry's data. */
  private padding = 0;
  private meta: {
    kind: 'pax' | 'paxGlobal' | 'longName' | 'longLink';
    need: number;
    parts: Buffer[];
    got: number;
  } | null = null;
  private pax: Pax = {};
  private globalPax: Pax = {};
  private longName: string | null = null;
  private longLink: string | null = null;
  private zeroBlocks = 0;
  private ended = false;
  private inFile = false;
  /** Number of entries passed to the sink. */
  entries = 0;

  constructor(private readonly sink: TarSink) {}

  /** Consumes `chunk`. */
  async write(chunk: Buffer): Promise<void> {
    if (this.ended) return;
    let data = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = Buffer.alloc(0);
    let off = 0;
    while (off < data.length && !this.ended) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, data.length - off);
        const piece = data.subarray(off, off + n);
        off += n;
        this.remaining -= n;
        if (this.meta) {
          this.meta.parts.push(Buffer.from(piece));
          this.meta.got += n;
          if (this.remaining === 0) this.finishMeta();
        } else {
          const w = this.sink.data(piece);
          if (w) await w;
          if (this.remaining === 0) {
            const e = this.endFile();
            if (e) await e;
          }
        }
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, data.length - off);
        off += n;
        this.padding -= n;
        continue;
      }
      if (data.length - off < BLOCK) break;
      const w = this.header(data.subarray(off, off + BLOCK));
      if (w) await w;
      off += BLOCK;
    }
    if (off < data.length && !this.ended) this.buf = Buffer.from(data.subarray(off));
    data = Buffer.alloc(0);
  }

  /** Checks that the archive ended cleanly (an end marker, or EOF at an entry boundary). */
  finish(): void {
    if (this.ended) return;
    if (this.remaining > 0 || this.padding > 0 || this.meta || this.inFile || this.buf.length > 0)
      throw corrupt('truncated archive');
    this.ended = true;
  }

  private endFile(): Promise<void> | void {
    this.inFile = false;
    return this.sink.end();
  }

  private finishMeta(): void {
    const m = this.meta!;
    this.meta = null;
    const body = Buffer.concat(m.parts, m.got);
    if (m.kind === 'pax') parsePax(body, this.pax);
    else if (m.kind === 'paxGlobal') parsePax(body, this.globalPax);
    else if (m.kind === 'longName') this.longName = cstr(body, 0, body.length);
    else this.longLink = cstr(body, 0, body.length);
  }

  private header(b: Buffer): Promise<void> | void {
    if (b.every((x) => x === 0)) {
      if (++this.zeroBlocks >= 2) this.ended = true;
      return;
    }
    if (this.zeroBlocks > 0) throw corrupt('data after an empty block');
    if (!checksumOk(b)) throw corrupt(`header checksum mismatch after ${this.entries} entries`);
    const flag = String.fromCharCode(b[156] as number);
    const size = num(b, 124, 12);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META) throw corrupt('extended header too large');
      const kind = flag === 'x' ? 'pax' : flag === 'g' ? 'paxGlobal' : flag === 'L' ? 'longName' : 'longLink';
      this.meta = { kind, need: size, parts: [], got: 0 };
      this.remaining = size;
      this.padding = pad;
      if (size === 0) this.finishMeta();
      return;
    }
    const pax: Pax = { ...this.globalPax, ...this.pax };
    this.pax = {};
    let type = TYPES[flag];
    if (type === undefined) {
      if (flag === 'V') {
        // A volume label: no data, nothing to create.
        this.padding = size + pad;
        return;
      }
      throw corrupt(`unsupported entry type '${flag}'${flag === 'S' ? ' (GNU sparse file)' : ''}`);
    }
    const magic = b.toString('latin1', 257, 263);
    let name = cstr(b, 0, 100);
    if (magic === 'ustar\0') {
      const prefix = cstr(b, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (this.longName !== null) name = this.longName;
    let linkname = this.longLink ?? cstr(b, 157, 100);
    this.longName = null;
    this.longLink = null;
    let mtime = num(b, 136, 12);
    let uid = num(b, 108, 8);
    let gid = num(b, 116, 8);
    let realSize = size;
    let xattrs: Map<string, Buffer> | null = null;
    for (const [k, v] of Object.entries(pax)) {
      if (k === 'path') name = v.toString('utf8');
      else if (k === 'linkpath') linkname = v.toString('utf8');
      else if (k === 'uid') uid = paxNumber(k, v);
      else if (k === 'gid') gid = paxNumber(k, v);
      else if (k === 'size') realSize = paxNumber(k, v);
      else if (k === 'mtime') mtime = Number(v.toString('latin1'));
      else if (k.startsWith('SCHILY.xattr.')) {
        xattrs ??= new Map();
        xattrs.set(k.slice(13), v);
      } else if (k.startsWith('LIBARCHIVE.xattr.')) {
        xattrs ??= new Map();
        xattrs.set(decodeURIComponent(k.slice(17)), Buffer.from(v.toString('latin1'), 'base64'));
      }
    }
    // A directory entry ending in '/' with type '0' (old tars).
    if (type === 'file' && name.endsWith('/')) type = 'directory';
    const hasData = type === 'file';
    const h: TarHeader = {
      name,
      type,
      mode: num(b, 100, 8) & 0o7777,
      uid,
      gid,
      size: hasData ? realSize : 0,
      mtime: Number.isFinite(mtime) ? mtime : 0,
      linkname,
      devmajor: type === 'char' || type === 'block' ? num(b, 329, 8) : 0,
      devminor: type === 'char' || type === 'block' ? num(b, 337, 8) : 0,
      xattrs,
    };
    this.entries++;
    const dataPad = (BLOCK - (realSize % BLOCK)) % BLOCK;
    const after = (): Promise<void> | void => {
      if (hasData && realSize > 0) {
        this.inFile = true;
        this.remaining = realSize;
        this.padding = dataPad;
        return;
      }
      if (hasData) return this.sink.end();
      // Hard links and others may still carry data blocks (size field): skip them.
      this.padding = realSize + dataPad;
    };
    const w = this.sink.entry(h);
    return w ? w.then(after) : after();
  }
}

function paxNumber(k: string, v: Buffer): number {
  const n = Number(v.toString('latin1'));
  if (!Number.isSafeInteger(n) || n < 0) throw corrupt(`bad PAX ${k}`);
  return n;
}
