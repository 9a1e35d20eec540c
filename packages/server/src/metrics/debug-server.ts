/**
 * The debug server (gdn's `--debug-bind-ip`/`--debug-bind-port`; off unless asked for): a plain
 * `node:http` listener of its own, separate from the Garden socket, serving
 *
 * - `GET /debug/vars`: Go expvar's JSON (`expvar.ts`);
 * - `GET /metrics`: the Prometheus text exposition of the server's metrics (`server-metrics.ts`).
 *
 * Anything else is 404 (405 for another method on those paths). It is meant for operators on
 * loopback or a management network: it has no authentication, like gdn's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expvars, GcObserver } from './expvar.js';
import type { ServerMetrics } from './server-metrics.js';

export interface DebugServerOptions {
  host: string;
  /** 0 = any free port (see `address`). */
  port: number;
  metrics: ServerMetrics;
  /** Extra expvar variables (e.g. `depotDirs`), computed per request. */
  vars?: () => Promise<Record<string, unknown>> | Record<string, unknown>;
}

export interface DebugServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

const PATHS = new Set(['/debug/vars', '/metrics']);

export async function startDebugServer(o: DebugServerOptions): Promise<DebugServer> {
  const gc = new GcObserver();
  gc.start();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const answer = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (!PATHS.has(path)) return answer(404, 'text/plain; charset=utf-8', '404 page not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return answer(405, 'text/plain; charset=utf-8', 'Method Not Allowed\n');
    }
    const work =
      path === '/metrics'
        ? o.metrics.render().then((text) => answer(200, o.metrics.contentType, text))
        : Promise.resolve(o.vars?.() ?? {}).then((extra) =>
            answer(
              200,
              'application/json; charset=utf-8',
              `${JSON.stringify(expvars(gc, extra), null, 1)}\n`,
            ),
          );
    work.catch((err: unknown) => {
      if (!res.headersSent) answer(500, 'text/plain; charset=utf-8', `${(err as Error).message}\n`);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: o.host, port: o.port }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err) => {
    gc.stop();
    throw err;
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        gc.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
