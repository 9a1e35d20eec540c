/**
 * The front `net.Server`: reads each connection's requests off the raw socket and decides who
 * serves them.
 *
 * - The first request of a connection on one of the four hijacked routes is served on the raw
 *   socket (Node's HTTP parser would take the control messages that follow a Run/Attach request
 *   for a malformed pipelined request).
 * - A complete, ordinary plain request (see `parseSimpleRequest`: HTTP/1.1, CRLF, one Host, a
 *   `Content-Length` body already received, not StreamIn/StreamOut) is answered here too, with
 *   one socket write: the fast path. Creating Node's per-connection HTTP parser and fastify's
 *   request/reply objects costs more than the whole Garden handler for the one-request
 *   connections the Go client opens. Keep-alive connections stay on this path while their
 *   requests are complete and ordinary.
 * - Anything else is handed, bytes and all, to the fastify-owned `http.Server` (which then keeps
 *   the connection), so every unusual request gets Node's and our HTTP-path answers unchanged.
 */
import type { Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { HijackedRouteName, RouteOf } from '@garden-ts/api-types';
import { hasValidEscapes, splitTarget } from '../routing/form-decoding.js';
import { matchRoute, type Route, type RouteMatch } from '../routing/router.js';
import { MAX_JSON_BODY_BYTES } from './read-body.js';
import {
  findHeadEnd,
  headerCount,
  headerValue,
  MAX_HEAD_BYTES,
  parseRequestHead,
  parseSimpleRequest,
  type RequestHead,
  type SimpleRequest,
} from './request-head.js';
import { answerText, type PlainAnswer } from './responses.js';

/** The table entry of Run, Attach, Stdout or Stderr. */
export type HijackedRoute = RouteOf<HijackedRouteName>;

/** A hijacked request whose head (and, for Run, body) has been read. */
export interface RawRequest {
  socket: Socket;
  head: RequestHead;
  route: HijackedRoute;
  params: Record<string, string>;
  /** A capture whose bytes are not valid UTF-8 (the handler refuses the request). */
  illFormed: string | undefined;
  body: Buffer;
  rest: Buffer;
}

/** A complete plain request taken by the fast path. */
export interface FastRequest {
  socket: Socket;
  request: SimpleRequest;
  /** The `pat` routing outcome: a plain route whose bodies are not streams, or a 404/405. */
  match: RouteMatch;
  body: Buffer;
  /**
   * Writes the answer in one write; after a `Connection: close` request the socket is then
   * closed. Does nothing when the socket is already gone. Call at most once.
   */
  respond(answer: PlainAnswer): void;
}

export interface FrontDoorOptions {
  httpServer: HttpServer;
  /** Takes ownership of a socket carrying a hijacked request. */
  onHijack(request: RawRequest): void;
  /**
   * Serves a fast-path request (see {@link FastRequest}); settles after `respond()` was called.
   * Without it every plain request goes to the HTTP server.
   */
  onFastRequest?(request: FastRequest): Promise<void>;
  /** Called once per accepted connection. */
  onConnection?(socket: Socket): void;
  /** Close a connection whose first request head takes longer than this (0 = no limit). */
  readHeaderTimeoutMs?: number;
}

/** Largest request body the fast path answers from memory (bigger bodies go to the HTTP server). */
export const FAST_BODY_MAX = 64 * 1024;

/**
 * Hands a socket to Node's HTTP server, replaying the bytes already read from it. Also used to
 * continue a connection as plain keep-alive HTTP after an error answer on a hijacked route.
 */
export function handToHttp(httpServer: HttpServer, socket: Socket, bytes: Buffer | undefined): void {
  if (socket.destroyed) return;
  if (bytes !== undefined && bytes.length > 0) socket.unshift(bytes);
  httpServer.emit('connection', socket);
  socket.resume();
}

export function createFrontDoor(o: FrontDoorOptions): Server {
  return createServer({ noDelay: true }, (socket) => {
    o.onConnection?.(socket);
    new FrontConnection(o, socket);
  });
}

/** A hijacked request waiting for its body (Run). */
interface PendingHijack {
  head: RequestHead;
  route: HijackedRoute;
  params: Record<string, string>;
  illFormed: string | undefined;
  /** Total bytes (head + body) to wait for. */
  need: number;
}

/** Per-connection state while the front door owns the socket. */
class FrontConnection {
  /** Bytes received and not yet consumed. */
  private buf: Buffer | undefined;
  /** No request has been taken yet (hijacked routes and the header timeout apply to it only). */
  private first = true;
  /** A fast-path answer is being prepared; input waits. */
  private serving = false;
  private pending: PendingHijack | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: FrontDoorOptions,
    private readonly socket: Socket,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('end', this.onEnd);
    if (o.readHeaderTimeoutMs && o.readHeaderTimeoutMs > 0) {
      // Like Go's ReadHeaderTimeout: a slow head gets no response, just a close.
      this.timer = setTimeout(this.onError, o.readHeaderTimeoutMs);
      this.timer.unref();
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.serving) {
      // Input behind a request being answered waits; a client that floods it is paused.
      if (this.buf.length > MAX_HEAD_BYTES + FAST_BODY_MAX) this.socket.pause();
      return;
    }
    if (this.pending) {
      if (this.buf.length >= this.pending.need) this.dispatchHijack();
      return;
    }
    this.take();
  };

  private readonly onError = (): void => {
    this.release();
    this.socket.destroy();
  };

  private readonly onEnd = (): void => {
    // While an answer is being prepared the response still goes out (the socket closes after it);
    // otherwise the peer closed between or inside request heads: nothing to answer.
    if (this.serving) return;
    this.release();
    this.socket.destroy();
  };

  /** Stops listening (keeping an error listener, so a late socket error is not unhandled). */
  private release(keepErrorListener = false): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    if (!keepErrorListener) this.socket.off('error', this.onError);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private handOff(): void {
    this.release();
    const bytes = this.buf;
    this.buf = undefined;
    handToHttp(this.o.httpServer, this.socket, bytes);
  }

  /** Takes the next request off the buffer, if one is complete. */
  private take(): void {
    const buf = this.buf;
    if (buf === undefined) return;
    const end = findHeadEnd(buf);
    if (end === -1) {
      // A first head may still be a hijacked request: wait for it. A later request that does not
      // arrive whole is Node's to parse (keep-alive clients are rare; this keeps the path simple).
      if (!this.first || buf.length > MAX_HEAD_BYTES) this.handOff();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;

    const simple = parseSimpleRequest(buf, end);
    if (simple === undefined || !hasValidEscapes(simple.path)) {
      if (this.first) this.classifyHijack(buf, end);
      else this.handOff();
      return;
    }
    const match = matchRoute(simple.head.method, simple.path);
    if (match.kind === 'route' && isHijacked(match.route)) {
      // Not as a later request: the HTTP path answers that with a 400.
      if (this.first)
        this.startHijack(simple.head, { ...match, route: match.route }, simple.contentLength, undefined);
      else this.handOff();
      return;
    }
    const need = end + simple.contentLength;
    if (
      // Stream and watch routes use Node's request/response streams.
      (match.kind === 'route' && match.route.kind !== 'plain') ||
      !this.o.onFastRequest ||
      simple.contentLength > FAST_BODY_MAX ||
      buf.length < need
    ) {
      this.handOff();
      return;
    }

    // The fast path.
    this.first = false;
    this.serving = true;
    const body = buf.subarray(end, need);
    this.buf = buf.length > need ? buf.subarray(need) : undefined;
    // Keep-alive: hold further input until this answer is out (responses stay in order).
    if (!simple.close) this.socket.pause();
    this.o
      .onFastRequest({
        socket: this.socket,
        request: simple,
        match,
        body,
        respond: (answer) => this.respond(answer, simple.close),
      })
      .then(this.afterFast, this.onError);
  }

  private respond(answer: PlainAnswer, close: boolean): void {
    const { socket } = this;
    if (!socket.writable) return;
    socket.write(answerText(answer, close), 'utf8');
    if (!close) return;
    // Close after a `Connection: close` response. When the write went straight into the kernel
    // (the usual case), closing now delivers answer and EOF together; half-closing first
    // (Node's `destroySoon`) would cost a shutdown(2) and another event-loop round trip before
    // the client sees EOF. Otherwise flush, then close.
    if (socket.writableLength === 0) socket.destroy();
    else socket.destroySoon();
  }

  private readonly afterFast = (): void => {
    this.serving = false;
    const { socket } = this;
    if (socket.destroyed) return; // closed after the answer (the usual Go-client case)
    if (!socket.writable || socket.readableEnded) {
      // Closing after the answer (server stopping, or a write still flushing), or the peer
      // half-closed meanwhile: nothing more is read; flush and close, as Node's HTTP server does.
      this.release(true);
      this.buf = undefined;
      socket.destroySoon();
      return;
    }
    socket.resume();
    if (this.buf !== undefined) this.take();
  };

  /** The first request did not parse as a simple request: is it a hijacked one Node cannot serve? */
  private classifyHijack(buf: Buffer, end: number): void {
    const decision = classify(buf, end);
    if (!decision) {
      this.handOff();
      return;
    }
    this.startHijack(decision.head, decision.match, decision.bodyLength, decision.head);
  }

  private startHijack(
    head: RequestHead,
    { route, params, illFormed }: HijackedMatch,
    bodyLength: number,
    expectFrom: RequestHead | undefined,
  ): void {
    const need = head.length + bodyLength;
    if (bodyLength > MAX_JSON_BODY_BYTES) {
      this.handOff();
      return;
    }
    this.pending = { head, route, params, illFormed, need };
    // A client that waits for "100 Continue" before sending the Run body gets it, as from Go.
    // (Simple requests carry no `Expect` header.)
    if (
      expectFrom !== undefined &&
      bodyLength > 0 &&
      /^100-continue$/i.test(headerValue(expectFrom, 'expect') ?? '')
    ) {
      this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    }
    if ((this.buf?.length ?? 0) >= need) this.dispatchHijack();
  }

  private dispatchHijack(): void {
    const p = this.pending!;
    const buf = this.buf!;
    this.pending = undefined;
    this.buf = undefined;
    this.release();
    this.socket.pause();
    this.o.onHijack({
      socket: this.socket,
      head: p.head,
      route: p.route,
      params: p.params,
      illFormed: p.illFormed,
      body: p.route.name === 'Run' ? buf.subarray(p.head.length, p.need) : Buffer.alloc(0),
      rest: buf.subarray(p.need),
    });
  }
}

/**
 * Decides whether a head that is not a simple request is still a hijacked request the raw path can
 * serve (bare-LF line ends, `Expect: 100-continue`, …). Anything unusual (HTTP/1.0, bad escapes,
 * no Host, chunked bodies, …) goes to the HTTP server, which answers it properly.
 */
function classify(
  buf: Buffer,
  end: number,
): { head: RequestHead; match: HijackedMatch; bodyLength: number } | undefined {
  const head = parseRequestHead(buf, end);
  if (head?.version !== 'HTTP/1.1') return undefined;
  const { path } = splitTarget(head.target);
  if (!path.startsWith('/') || !hasValidEscapes(path)) return undefined;
  if (headerCount(head, 'host') !== 1 || headerValue(head, 'transfer-encoding') !== undefined)
    return undefined;
  const match = matchRoute(head.method, path);
  if (match.kind !== 'route' || !isHijacked(match.route)) return undefined;
  const lengths = head.headers.filter(([k]) => k.toLowerCase() === 'content-length').map(([, v]) => v);
  if (lengths.length > 1 || (lengths[0] !== undefined && !/^\d{1,15}$/.test(lengths[0]))) return undefined;
  return { head, match: { ...match, route: match.route }, bodyLength: Number(lengths[0] ?? 0) };
}

/** A routing outcome on one of the hijacked routes. */
type HijackedMatch = Extract<RouteMatch, { kind: 'route' }> & { route: HijackedRoute };

function isHijacked(route: Route): route is HijackedRoute {
  return route.kind === 'hijacked';
}
