/**
 * Test helpers speaking raw bytes to the server over a unix socket: no HTTP client library, so
 * the exact response bytes can be compared.
 */
import { connect, type Socket } from 'node:net';

export interface ParsedResponse {
  statusLine: string;
  status: number;
  /** Header lines in order, names as sent. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** Bytes of the head (status line + headers + blank line). */
  head: string;
}

/** Reads one HTTP response off `buf` (Content-Length, chunked or until-close framing). */
export function parseResponse(
  buf: Buffer,
  untilClose = true,
): { response: ParsedResponse; rest: Buffer } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = buf.toString('latin1', 0, end + 4);
  const lines = head.slice(0, -4).split('\r\n');
  const statusLine = lines[0]!;
  const status = Number(statusLine.split(' ')[1]);
  const headers = lines.slice(1).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string];
  });
  const get = (n: string) => headers.find(([k]) => k.toLowerCase() === n)?.[1];
  let offset = end + 4;
  const cl = get('content-length');
  if (cl !== undefined) {
    const len = Number(cl);
    if (buf.length < offset + len) return undefined;
    return {
      response: { statusLine, status, headers, head, body: buf.subarray(offset, offset + len) },
      rest: buf.subarray(offset + len),
    };
  }
  if (get('transfer-encoding') === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const nl = buf.indexOf('\r\n', offset);
      if (nl === -1) return undefined;
      const size = Number.parseInt(buf.toString('latin1', offset, nl), 16);
      if (buf.length < nl + 2 + size + 2) return undefined;
      if (size === 0) {
        return {
          response: { statusLine, status, headers, head, body: Buffer.concat(parts) },
          rest: buf.subarray(nl + 4),
        };
      }
      parts.push(buf.subarray(nl + 2, nl + 2 + size));
      offset = nl + 2 + size + 2;
    }
  }
  if (!untilClose) return undefined;
  return {
    response: { statusLine, status, headers, head, body: buf.subarray(offset) },
    rest: Buffer.alloc(0),
  };
}

/** A raw connection with buffered reads. */
export class RawConnection {
  readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;
  private waiters: Array<() => void> = [];

  constructor(socketPath: string) {
    this.socket = connect(socketPath);
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => {});
  }

  static async open(socketPath: string): Promise<RawConnection> {
    const c = new RawConnection(socketPath);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', resolve);
      c.socket.once('error', reject);
    });
    return c;
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async waitFor<T>(check: () => T | undefined, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (this.closed) {
        const again = check();
        if (again !== undefined) return again;
        throw new Error(`connection closed; buffered: ${JSON.stringify(this.buf.toString('latin1'))}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout; buffered: ${JSON.stringify(this.buf.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Reads one complete framed response (Content-Length or chunked). */
  async readResponse(timeoutMs?: number): Promise<ParsedResponse> {
    return this.waitFor(() => {
      const r = parseResponse(this.buf, this.closed);
      if (!r) return undefined;
      this.buf = r.rest;
      return r.response;
    }, timeoutMs);
  }

  /** Reads a response head only (hijacked responses: raw bytes follow). */
  async readHead(
    timeoutMs?: number,
  ): Promise<{ statusLine: string; status: number; headers: Array<[string, string]> }> {
    return this.waitFor(() => {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end === -1) return undefined;
      const lines = this.buf.toString('latin1', 0, end).split('\r\n');
      this.buf = this.buf.subarray(end + 4);
      const statusLine = lines[0]!;
      return {
        statusLine,
        status: Number(statusLine.split(' ')[1]),
        headers: lines.slice(1).map((l) => {
          const i = l.indexOf(':');
          return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string];
        }),
      };
    }, timeoutMs);
  }

  /** Reads one LF-terminated line (control messages). */
  async readLine(timeoutMs?: number): Promise<string> {
    return this.waitFor(() => {
      const nl = this.buf.indexOf(10);
      if (nl === -1) return undefined;
      const line = this.buf.toString('utf8', 0, nl + 1);
      this.buf = this.buf.subarray(nl + 1);
      return line;
    }, timeoutMs);
  }

  /** Reads everything until the server closes the connection. */
  async readToEnd(timeoutMs?: number): Promise<Buffer> {
    return this.waitFor(() => {
      if (!this.closed) return undefined;
      const all = this.buf;
      this.buf = Buffer.alloc(0);
      return all;
    }, timeoutMs);
  }

  /** Resolves true once the server closed the connection within `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    try {
      await this.waitFor(() => (this.closed ? true : undefined), timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends one request on a fresh connection and reads one response. */
export async function exchange(socketPath: string, request: string | Buffer): Promise<ParsedResponse> {
  const c = await RawConnection.open(socketPath);
  try {
    c.write(request);
    return await c.readResponse();
  } finally {
    c.destroy();
  }
}

/** A Go-client style plain request head + body. */
export function goRequest(method: string, target: string, body?: string, extra: string[] = []): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: api', 'User-Agent: Go-http-client/1.1'];
  if (body !== undefined) {
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, 'Content-Type: application/json');
  }
  lines.push(...extra, 'Accept-Encoding: gzip', 'Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

/** Header lines of a response with the Date value blanked, for exact comparison. */
export function normalizedHead(r: { statusLine: string; headers: Array<[string, string]> }): string[] {
  return [r.statusLine, ...r.headers.map(([k, v]) => `${k}: ${k === 'Date' ? '*' : v}`)];
}
