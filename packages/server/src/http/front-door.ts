/**
 * The front `net.Server`: reads the head of each new connection's first request. Requests for the
 * four hijacked routes are served on the raw socket (Node's HTTP parser would take the control
 * messages that follow a Run/Attach request for a malformed pipelined request); every other
 * connection is handed, bytes and all, to the fastify-owned `http.Server`.
 */
import type { Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { hasValidEscapes, splitTarget } from '../routing/form-decoding.js';
import { matchRoute } from '../routing/router.js';
import type { RouteDef } from '../routing/routes.js';
import { MAX_JSON_BODY_BYTES } from './read-body.js';
import {
  findHeadEnd,
  headerCount,
  headerValue,
  MAX_HEAD_BYTES,
  parseRequestHead,
  type RequestHead,
} from './request-head.js';

/** A hijacked request whose head (and, for Run, body) has been read. */
export interface RawRequest {
  socket: Socket;
  head: RequestHead;
  route: RouteDef;
  params: Record<string, string>;
  body: Buffer;
  rest: Buffer;
}

export interface FrontDoorOptions {
  httpServer: HttpServer;
  /** Takes ownership of a socket carrying a hijacked request. */
  onHijack(request: RawRequest): void;
  /** Called once per accepted connection. */
  onConnection?(socket: Socket): void;
  /** Close a connection whose first request head takes longer than this (0 = no limit). */
  readHeaderTimeoutMs?: number;
}

/**
 * Hands a socket to Node's HTTP server, replaying the bytes already read from it. Also used to
 * continue a connection as plain keep-alive HTTP after an error answer on a hijacked route.
 */
export function handToHttp(httpServer: HttpServer, socket: Socket, bytes: Buffer): void {
  if (socket.destroyed) return;
  if (bytes.length > 0) socket.unshift(bytes);
  httpServer.emit('connection', socket);
  socket.resume();
}

export function createFrontDoor(o: FrontDoorOptions): Server {
  return createServer({ noDelay: true }, (socket) => {
    o.onConnection?.(socket);
    let chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;

    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      if (timer) clearTimeout(timer);
    };
    const handOff = (bytes: Buffer) => {
      cleanup();
      handToHttp(o.httpServer, socket, bytes);
    };
    const onError = () => {
      cleanup();
      socket.destroy();
    };
    const onEnd = () => {
      // The peer closed before sending a complete request: nothing to answer.
      cleanup();
      socket.destroy();
    };

    // Run needs its body too; `need` is the byte count to wait for once the head is known.
    let pending:
      | { head: RequestHead; route: RouteDef; params: Record<string, string>; need: number }
      | undefined;

    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (pending) {
        if (size >= pending.need) dispatch();
        return;
      }
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      chunks = [buf];
      const end = findHeadEnd(buf);
      if (end === -1) {
        if (size > MAX_HEAD_BYTES) handOff(buf);
        return;
      }
      if (timer) clearTimeout(timer);
      timer = undefined;
      const decision = classify(buf, end);
      if (!decision) return handOff(buf);
      pending = { ...decision, need: end + decision.bodyLength };
      if (decision.bodyLength > MAX_JSON_BODY_BYTES) return handOff(buf);
      // A client that waits for "100 Continue" before sending the Run body gets it, as from Go.
      if (decision.bodyLength > 0 && /^100-continue$/i.test(headerValue(decision.head, 'expect') ?? '')) {
        socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      }
      if (size >= pending.need) dispatch();
    };

    const dispatch = () => {
      const p = pending!;
      cleanup();
      socket.pause();
      const buf = Buffer.concat(chunks, size);
      chunks = [];
      o.onHijack({
        socket,
        head: p.head,
        route: p.route,
        params: p.params,
        body: p.route.name === 'Run' ? buf.subarray(p.head.length, p.need) : Buffer.alloc(0),
        rest: buf.subarray(p.need),
      });
    };

    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
    if (o.readHeaderTimeoutMs && o.readHeaderTimeoutMs > 0) {
      // Like Go's ReadHeaderTimeout: a slow head gets no response, just a close.
      timer = setTimeout(() => {
        cleanup();
        socket.destroy();
      }, o.readHeaderTimeoutMs);
      timer.unref();
    }
  });
}

/**
 * Decides whether a head is a hijacked request the raw path can serve. Anything unusual (HTTP/1.0,
 * bad escapes, no Host, chunked bodies, …) goes to the HTTP server, which answers it properly.
 */
function classify(
  buf: Buffer,
  end: number,
): { head: RequestHead; route: RouteDef; params: Record<string, string>; bodyLength: number } | undefined {
  const head = parseRequestHead(buf, end);
  if (head?.version !== 'HTTP/1.1') return undefined;
  const { path } = splitTarget(head.target);
  if (!path.startsWith('/') || !hasValidEscapes(path)) return undefined;
  if (headerCount(head, 'host') !== 1 || headerValue(head, 'transfer-encoding') !== undefined)
    return undefined;
  const match = matchRoute(head.method, path);
  if (match.kind !== 'route' || !match.route.hijacked) return undefined;
  const lengths = head.headers.filter(([k]) => k.toLowerCase() === 'content-length').map(([, v]) => v);
  if (lengths.length > 1 || (lengths[0] !== undefined && !/^\d{1,15}$/.test(lengths[0]))) return undefined;
  return { head, route: match.route, params: match.params, bodyLength: Number(lengths[0] ?? 0) };
}
