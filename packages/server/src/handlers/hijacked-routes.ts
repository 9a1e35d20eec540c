/**
 * The four hijacked routes (Run, Attach, Stdout, Stderr; protocol §7), served on the raw socket.
 * Errors before the hijack are complete JSON responses without `Connection: close` (the Go client
 * loses the typed error otherwise); the connection then continues as an ordinary keep-alive HTTP
 * connection, as with Go's server.
 */
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import {
  type Container,
  decodeBody,
  type HijackedRouteName,
  type ProcessSpec,
  ROUTES,
} from '@garden-ts/api-types';
import type { Logger } from 'pino';
import { errorLine, errorStatus, hijackedHead, rawJsonResponse } from '../http/responses.js';
import { logRequestFailure } from '../log-errors.js';
import { firstMessage, runControlSession } from '../process/control-session.js';
import type { ServerContext } from '../server-context.js';
import { illFormedCapture } from './plain-routes.js';

export interface HijackedRequest {
  /** `performance.now()` when the request was taken (for the latency metric; 0 without metrics). */
  started: number;
  route: HijackedRouteName;
  params: Record<string, string>;
  /** A capture whose bytes are not valid UTF-8: refused with a 400. */
  illFormed?: string | undefined;
  socket: Socket;
  /** The request body (Run only; empty otherwise). */
  body: Buffer;
  /** Bytes received after the request (control messages for Run/Attach). */
  rest: Buffer;
  log: Logger;
  /** Continue serving the connection as plain HTTP (after an error response). */
  continuePlain(rest: Buffer): void;
}

/** Serves one hijacked request; resolves when the socket is no longer ours. Never rejects. */
export async function serveHijacked(ctx: ServerContext, r: HijackedRequest): Promise<void> {
  try {
    if (r.route === 'Stdout' || r.route === 'Stderr') {
      serveOutput(ctx, r);
      return;
    }
    await serveProcess(ctx, r);
  } catch (err) {
    r.log.error({ err }, 'hijacked handler failed');
    r.socket.destroy();
  }
}

/** Counts the request for the metrics: status and time to the response head. */
function measured(ctx: ServerContext, r: HijackedRequest, status: number): void {
  ctx.metrics?.request(r.route, 'hijacked', status, (performance.now() - r.started) / 1000);
}

function serveOutput(ctx: ServerContext, r: HijackedRequest): void {
  const { socket } = r;
  socket.on('error', () => {});
  const head = hijackedHead(200, false);
  socket.write(head);
  measured(ctx, r, 200);
  if (ctx.metrics) {
    const metrics = ctx.metrics;
    const stream = r.route === 'Stdout' ? 'stdout' : 'stderr';
    socket.once('close', () => metrics.output(stream, socket.bytesWritten - Buffer.byteLength(head)));
  }
  // Unknown or expired id (or a second reader): the 200 head and an empty stream. Otherwise the
  // socket is attached to the backend process, which writes its output straight to it.
  ctx.streams.openReader(r.params.streamid ?? '', r.route === 'Stdout' ? 'stdout' : 'stderr', socket, r.log);
}

async function serveProcess(ctx: ServerContext, r: HijackedRequest): Promise<void> {
  const { socket, log } = r;
  const fail = (err: unknown) => {
    const status = errorStatus(err);
    logRequestFailure(log, r.route, err, status);
    measured(ctx, r, status);
    if (r.route === 'Run') ctx.metrics?.ran(false);
    socket.write(rawJsonResponse(status, errorLine(err)));
    r.continuePlain(r.rest);
  };

  if (r.illFormed !== undefined) return fail(illFormedCapture(r.illFormed));
  let spec: ProcessSpec | undefined;
  if (r.route === 'Run') {
    try {
      spec = decodeBody(ROUTES.Run.request.codec, r.body.toString('utf8'));
    } catch (err) {
      return fail(err);
    }
  }

  let container: Container;
  try {
    container = await ctx.backend.lookup(r.params.handle ?? '');
  } catch (err) {
    return fail(err);
  }

  const handle = container.handle;
  ctx.bomberman.pause(handle);
  const stdin = new PassThrough();
  // The backend may never listen for errors on stdin; a destroyed stdin must not crash the server.
  stdin.on('error', () => {});
  // Output goes to startup buffers only until the Stdout/Stderr connections arrive; they then
  // attach to the backend process directly (stream-registry.ts), so output nobody reads stays
  // in the backend (or is handed back) for a later Attach instead of being swallowed here.
  const startup = ctx.streams.newStartupBuffers();
  const io = { stdin, stdout: startup.stdout, stderr: startup.stderr };
  let process: Awaited<ReturnType<Container['run']>>;
  try {
    process = spec ? await container.run(spec, io) : await container.attach(r.params.pid ?? '', io);
  } catch (err) {
    stdin.destroy();
    startup.stdout.take();
    startup.stderr.take();
    ctx.bomberman.unpause(handle);
    return fail(err);
  }

  const streamId = ctx.streams.register(container, process.id, startup);
  let exited = false;
  try {
    if (socket.destroyed) {
      // The client left while the backend was starting the process.
      stdin.destroy(new Error('control connection closed'));
      return;
    }
    socket.write(hijackedHead(r.route === 'Run' ? 201 : 200, true) + firstMessage(process.id, streamId));
    measured(ctx, r, r.route === 'Run' ? 201 : 200);
    if (r.route === 'Run') ctx.metrics?.ran(true);
    const reason = await runControlSession({
      socket,
      process,
      stdin,
      streamId,
      initial: r.rest,
      log,
      stopping: ctx.stopping,
    });
    exited = reason === 'exited';
    // Per process, so debug: the default info level stays quiet under load.
    log.debug({ route: r.route, processId: process.id, streamId, reason }, 'process stream finished');
  } finally {
    ctx.streams.markDone(streamId, exited);
    ctx.bomberman.unpause(handle);
  }
}
