/**
 * A TCP proxy on 127.0.0.1 in front of a test registry: counts the requests it forwards (blob
 * downloads in particular), and can throttle answers, cut a blob download after some bytes, or
 * refuse every connection (the registry "going down").
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class FaultProxy {
  /** Request lines seen (`GET /v2/…/blobs/sha256:… HTTP/1.1`). */
  readonly requests: string[] = [];
  /** Throttle answers to this many bytes per second (0 = no limit). */
  bytesPerSecond = 0;
  /** Cut a connection once this many bytes of a blob answer went through (then refuse all). */
  cutBlobAfter = 0;
  /** Refuse (reset) every new connection. */
  down = false;
  /** Answer this many requests with 503 Service Unavailable instead of forwarding them. */
  failNext = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Blob GETs forwarded. */
  blobGets(): string[] {
    return this.requests.filter((r) => /^GET \S+\/blobs\/sha256:/.test(r));
  }

  static async start(targetPort: number): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => {
      const p = proxy as FaultProxy;
      if (p.down) {
        client.resetAndDestroy();
        return;
      }
      p.sockets.add(client);
      const upstream = connect(targetPort, '127.0.0.1');
      p.sockets.add(upstream);
      let blobBytes = -1; // ≥ 0 while the answer to a blob GET flows
      const close = () => {
        client.destroy();
        upstream.destroy();
        p.sockets.delete(client);
        p.sockets.delete(upstream);
      };
      client.on('data', (d: Buffer) => {
        if (p.failNext > 0 && /^(GET|HEAD) /.test(d.toString('latin1', 0, 5))) {
          p.failNext--;
          p.requests.push(`503 ${d.toString('latin1').split('\r\n')[0]}`);
          client.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          upstream.destroy();
          return;
        }
        for (const m of d
          .toString('latin1')
          .matchAll(/^(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/1\.1\r$/gm)) {
          p.requests.push(`${m[1]} ${m[2]} HTTP/1.1`);
          blobBytes = m[1] === 'GET' && /\/blobs\/sha256:/.test(m[2] as string) ? 0 : -1;
        }
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => {
        if (blobBytes >= 0) {
          blobBytes += d.length;
          if (p.cutBlobAfter > 0 && blobBytes > p.cutBlobAfter) {
            client.write(d.subarray(0, Math.max(0, d.length - (blobBytes - p.cutBlobAfter))));
            p.down = true;
            close();
            return;
          }
        }
        client.write(d);
        if (p.bytesPerSecond > 0) {
          upstream.pause();
          setTimeout(() => upstream.resume(), (d.length / p.bytesPerSecond) * 1000);
        }
      });
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      upstream.on('close', close);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    proxy = new FaultProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  /** The registry "goes down": open connections are cut, new ones refused. */
  goDown(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
