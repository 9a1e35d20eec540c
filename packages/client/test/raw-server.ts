/**
 * A raw `net.Server` on a temp unix socket for protocol-vector tests: it sees the exact request
 * bytes the client sends and answers with exact response bytes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One parsed request: its head text (request line + header lines) and body bytes. */
export interface RawRequest {
  head: string;
  /** The request line, e.g. `GET /ping HTTP/1.1`. */
  line: string;
  /** Header lines in order, as sent. */
  headerLines: string[];
  body: Buffer;
  /** The body's raw bytes as framed on the wire (chunked framing included). */
  rawBody: Buffer;
}

/** One accepted connection with buffered, awaitable reads. */
export class RawConn {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  ended = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.waiter?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.waiter?.();
        resolve();
      }),
    );
    socket.once('end', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  /** Waits until `find(buffer)` returns an end offset, consumes and returns those bytes. */
  async take(find: (buf: Buffer) => number | undefined): Promise<Buffer> {
    for (;;) {
      const end = find(this.buf);
      if (end !== undefined) {
        const out = this.buf.subarray(0, end);
        this.buf = this.buf.subarray(end);
        return out;
      }
      if (this.ended) throw new Error(`connection ended; buffered: ${JSON.stringify(this.buf.toString())}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
  }

  /** Reads one request (head and Content-Length or chunked body). */
  async readRequest(): Promise<RawRequest> {
    const headBytes = await this.take((b) => {
      const i = b.indexOf('\r\n\r\n');
      return i === -1 ? undefined : i + 4;
    });
    const head = headBytes.subarray(0, headBytes.length - 4).toString('latin1');
    const [line = '', ...headerLines] = head.split('\r\n');
    const header = (name: string) =>
      headerLines
        .find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
        ?.slice(name.length + 1)
        .trim();
    let body = Buffer.alloc(0);
    let rawBody = Buffer.alloc(0);
    const length = header('content-length');
    if (length !== undefined) {
      body = Buffer.from(await this.take((b) => (b.length >= Number(length) ? Number(length) : undefined)));
      rawBody = body;
    } else if (header('transfer-encoding') === 'chunked') {
      const parts: Buffer[] = [];
      const raws: Buffer[] = [];
      for (;;) {
        const sizeLine = await this.take((b) => {
          const i = b.indexOf('\r\n');
          return i === -1 ? undefined : i + 2;
        });
        raws.push(sizeLine);
        const size = Number.parseInt(sizeLine.toString('latin1'), 16);
        const data = await this.take((b) => (b.length >= size + 2 ? size + 2 : undefined));
        raws.push(data);
        if (size === 0) break;
        parts.push(data.subarray(0, size));
      }
      body = Buffer.concat(parts);
      rawBody = Buffer.concat(raws);
    }
    return { head, line, headerLines, body, rawBody };
  }

  /** Reads one LF-terminated line (without the LF). */
  async readLine(): Promise<string> {
    const line = await this.take((b) => {
      const i = b.indexOf('\n');
      return i === -1 ? undefined : i + 1;
    });
    return line.subarray(0, line.length - 1).toString('utf8');
  }

  /** Waits for the peer to close; returns whatever it sent meanwhile. */
  async readToEnd(): Promise<Buffer> {
    await this.take(() => (this.ended ? this.buf.length : undefined));
    return this.buf;
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(data, (err) => (err ? reject(err) : resolve())),
    );
  }

  end(data?: string | Buffer): void {
    if (data === undefined) this.socket.end();
    else this.socket.end(data);
  }
}

/** A started raw server. */
export interface RawServer {
  socketPath: string;
  /**
   * Connections in the order their first bytes arrived. A connection that closes without sending
   * anything is not one: the client dials each next connection ahead (its spare, dial.ts), so
   * accept order is not request order, and an unused spare is closed after a while.
   */
  connections: RawConn[];
  /** Every accepted socket, open or closed, with or without bytes, in accept order. */
  accepted: Socket[];
  /** Resolves with the n-th connection (0-based) once it was accepted. */
  connection(n: number): Promise<RawConn>;
  close(): Promise<void>;
}

/** Starts a raw server; `onConnection` runs for each accepted connection. */
export async function startRawServer(
  onConnection: (conn: RawConn, index: number) => unknown,
): Promise<RawServer> {
  const dir = mkdtempSync(join(tmpdir(), 'garden-client-raw-'));
  const socketPath = join(dir, 'garden.sock');
  const connections: RawConn[] = [];
  const accepted = new Set<Socket>();
  const acceptedAll: Socket[] = [];
  const waiters: Array<() => void> = [];
  const server: Server = createServer((socket) => {
    const conn = new RawConn(socket);
    accepted.add(socket);
    acceptedAll.push(socket);
    socket.once('close', () => accepted.delete(socket));
    // Registered once it carries something (its RawConn buffers what arrives meanwhile).
    socket.once('data', () => {
      const index = connections.push(conn) - 1;
      for (const w of waiters.splice(0)) w();
      Promise.resolve(onConnection(conn, index)).catch((err) => {
        // Surface handler failures in the test output, then drop the connection.
        console.error('raw server handler failed:', err);
        socket.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    connections,
    accepted: acceptedAll,
    async connection(n) {
      while (connections.length <= n) await new Promise<void>((resolve) => waiters.push(resolve));
      return connections[n]!;
    },
    async close() {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A JSON response head + body as the Go server writes it for plain routes. */
export function plainResponse(status: string, body: string, extraHeaders: string[] = []): string {
  const bytes = Buffer.byteLength(body);
  return [
    `HTTP/1.1 ${status}`,
    'Content-Type: application/json',
    'Date: Mon, 02 Jan 2006 15:04:05 GMT',
    `Content-Length: ${bytes}`,
    ...extraHeaders,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/** A chunked response whose body is split into the given chunks. */
export function chunkedResponse(status: string, chunks: string[]): string {
  const framed = chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join('');
  return [
    `HTTP/1.1 ${status}`,
    'Content-Type: application/json',
    'Date: Mon, 02 Jan 2006 15:04:05 GMT',
    'Transfer-Encoding: chunked',
    'Connection: close',
    '',
    `${framed}0\r\n\r\n`,
  ].join('\r\n');
}

/** The hijacked success head of Run (201) / Attach (200): chunked lie, raw data follows. */
export function hijackHead(status: '201 Created' | '200 OK', contentType = true): string {
  return [
    `HTTP/1.1 ${status}`,
    ...(contentType ? ['Content-Type: application/json'] : []),
    'Date: Mon, 02 Jan 2006 15:04:05 GMT',
    'Transfer-Encoding: chunked',
    '',
    '',
  ].join('\r\n');
}

/** The request head lines the Go client sends for a plain request, minus `Accept-Encoding`. */
export function plainHead(line: string, body?: { length: number; type: string } | 'chunked-tar'): string {
  const lines = [line, 'Host: api', 'User-Agent: Go-http-client/1.1'];
  if (body === 'chunked-tar') lines.push('Transfer-Encoding: chunked', 'Content-Type: application/x-tar');
  else if (body) lines.push(`Content-Length: ${body.length}`, `Content-Type: ${body.type}`);
  lines.push('Connection: close');
  return lines.join('\r\n');
}
