/**
 * The front door's fast path (complete, ordinary requests answered on the raw socket) against the
 * HTTP-server path (Node's parser + fastify): for every plain route, in Go-client style
 * (`Connection: close`, one request per connection) and as keep-alive follow-ups, two servers
 * over identical fake backends receive the same request sequence, one through each path, and must
 * answer byte for byte the same (only the Date value may differ).
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ParsedResponse, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

/** One request of the sequence: method, target, optional JSON body. */
type Step = [method: string, target: string, body?: string];

const SEQUENCE: Step[] = [
  ['GET', '/ping'],
  ['GET', '/capacity'],
  ['POST', '/containers', '{"handle":"c1","properties":{"a":"b","html":"<&>"},"grace_time":0}'],
  ['POST', '/containers', '{"handle":"é x","env":["A=1"]}'],
  ['POST', '/containers', '{}'],
  ['POST', '/containers', '{"handle":"c1"}'],
  ['POST', '/containers', '{oops}'],
  ['POST', '/containers', ''],
  ['GET', '/containers?a=b'],
  ['GET', '/containers?a=nope&a=b'],
  ['GET', '/containers'],
  ['GET', '/containers/c1/info'],
  ['GET', '/containers/%C3%A9+x/info'],
  ['GET', '/containers/nope/info'],
  ['GET', '/containers/bulk_info?handles=c1,nope'],
  ['GET', '/containers/bulk_info'],
  ['GET', '/containers/bulk_metrics?handles=c1'],
  ['PUT', '/containers/c1/stop', '{"kill":true}'],
  ['PUT', '/containers/c1/stop', ''],
  ['GET', '/containers/c1/limits/bandwidth'],
  ['GET', '/containers/c1/limits/cpu'],
  ['GET', '/containers/c1/limits/disk'],
  ['GET', '/containers/c1/limits/memory'],
  ['POST', '/containers/c1/net/in', '{"host_port":0,"container_port":8080}'],
  ['POST', '/containers/nope/net/in', '{"host_port":0,"container_port":8080}'],
  ['POST', '/containers/c1/net/out', '{"protocol":1,"networks":[{"start":"10.0.0.1","end":"10.0.0.2"}]}'],
  ['POST', '/containers/c1/net/out', '{"protocol":"x"}'],
  ['POST', '/containers/c1/net/out/bulk', '[{"protocol":1}]'],
  ['PUT', '/containers/c1/grace_time', '1000000000000'],
  ['GET', '/containers/c1/properties'],
  ['PUT', '/containers/c1/properties/k%2F1', '{"value":"<v&>"}'],
  ['GET', '/containers/c1/properties/k%2F1'],
  ['DELETE', '/containers/c1/properties/k%2F1'],
  ['GET', '/containers/c1/properties/missing'],
  ['GET', '/containers/c1/metrics'],
  ['POST', '/ping'],
  ['DELETE', '/containers/c1/properties'],
  ['GET', '/nope'],
  ['GET', '/containers/'],
  ['DELETE', '/containers/c1'],
  ['DELETE', '/containers/c1'],
  ['GET', '/containers/c1/info'],
];

function request([method, target, body]: Step, close: boolean): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: api', 'User-Agent: Go-http-client/1.1'];
  if (body !== undefined) {
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, 'Content-Type: application/json');
  }
  lines.push('Accept-Encoding: gzip');
  if (close) lines.push('Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

// A request the fast path never takes (chunked framing): it hands the connection to Node's HTTP
// server, which then also parses whatever follows on that connection.
const TO_HTTP_SERVER = 'GET /ping HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';

/** A response's bytes with the Date value blanked. */
function bytesOf(r: ParsedResponse): string {
  return r.head.replace(/\r\nDate: [^\r]*\r\n/, '\r\nDate: *\r\n') + r.body.toString('latin1');
}

interface Side {
  f: Fixture;
  /** Requests Node's HTTP server parsed so far. */
  httpRequests: number;
  logLines: Array<Record<string, unknown>>;
}

async function startSide(): Promise<Side> {
  const logLines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line));
      cb();
    },
  });
  const f = await startServer({
    fake: { now: () => 1_700_000_000_000, portPoolStart: 61000 },
    logger: pino({ level: 'debug' }, sink),
  });
  const side: Side = { f, httpRequests: 0, logLines };
  f.server.fastify.server.on('request', () => side.httpRequests++);
  return side;
}

let fast: Side;
let viaHttp: Side;

beforeAll(async () => {
  [fast, viaHttp] = await Promise.all([startSide(), startSide()]);
});
afterAll(async () => {
  await Promise.all([fast.f.close(), viaHttp.f.close()]);
});

describe.each([
  { mode: 'Go client (Connection: close, one request per connection)', close: true },
  { mode: 'keep-alive follow-up requests', close: false },
])('fast path and HTTP-server path answer alike: $mode', ({ close }) => {
  it('for every plain route, its errors, 404 and 405', async () => {
    for (const step of SEQUENCE) {
      // Fast path: the request alone (close), or after a fast-path ping on the same connection.
      const a = await RawConnection.open(fast.f.socketPath);
      const b = await RawConnection.open(viaHttp.f.socketPath);
      try {
        const httpBefore = fast.httpRequests;
        const viaHttpBefore = viaHttp.httpRequests;
        a.write(close ? request(step, true) : request(['GET', '/ping'], false) + request(step, false));
        b.write(TO_HTTP_SERVER + request(step, close));
        if (!close) await a.readResponse();
        await b.readResponse();
        const got = await a.readResponse();
        const want = await b.readResponse();
        expect(bytesOf(got), `${step[0]} ${step[1]}`).toBe(bytesOf(want));
        expect(fast.httpRequests, 'served by the fast path').toBe(httpBefore);
        expect(viaHttp.httpRequests - viaHttpBefore, 'served by the HTTP server').toBe(2);
        if (close) {
          expect(await a.closedWithin(1000)).toBe(true);
          expect(await b.closedWithin(1000)).toBe(true);
        } else {
          expect(a.isClosed).toBe(false);
        }
      } finally {
        a.destroy();
        b.destroy();
      }
    }
  });
});

describe('fast path', () => {
  it('answers pipelined keep-alive requests in order, then hands an incomplete one to the HTTP server', async () => {
    const c = await RawConnection.open(fast.f.socketPath);
    try {
      const before = fast.httpRequests;
      c.write(
        request(['GET', '/ping'], false) +
          request(['GET', '/nope'], false) +
          request(['POST', '/containers', '{"handle":"pipelined"}'], false),
      );
      expect((await c.readResponse()).body.toString()).toBe('{}\n');
      expect((await c.readResponse()).status).toBe(404);
      expect((await c.readResponse()).body.toString()).toBe('{"Handle":"pipelined"}\n');
      expect(fast.httpRequests).toBe(before);
      // A request arriving in two pieces is parsed by Node (same answer).
      const split = request(['GET', '/containers/pipelined/properties'], true);
      c.write(split.slice(0, 20));
      await new Promise((r) => setTimeout(r, 20));
      c.write(split.slice(20));
      const r = await c.readResponse();
      expect(r.body.toString()).toBe('{}\n');
      expect(fast.httpRequests).toBe(before + 1);
      expect(await c.closedWithin(1000)).toBe(true);
    } finally {
      c.destroy();
    }
  });

  it('takes requests whose body arrives later through the HTTP server, with the same answer', async () => {
    const c = await RawConnection.open(fast.f.socketPath);
    try {
      const before = fast.httpRequests;
      const full = request(['PUT', '/containers/pipelined/properties/k', '{"value":"v"}'], true);
      const headEnd = full.indexOf('\r\n\r\n') + 4;
      c.write(full.slice(0, headEnd));
      await new Promise((r) => setTimeout(r, 20));
      c.write(full.slice(headEnd));
      expect((await c.readResponse()).body.toString()).toBe('{}\n');
      expect(fast.httpRequests).toBe(before + 1);
    } finally {
      c.destroy();
    }
  });

  it('logs every request at debug level with its id and the client session, on both paths', async () => {
    for (const side of [fast, viaHttp]) {
      side.logLines.length = 0;
      const c = await RawConnection.open(side.f.socketPath);
      const prefix = side === viaHttp ? TO_HTTP_SERVER : '';
      c.write(
        `${prefix}GET /capacity HTTP/1.1\r\nHost: api\r\nX-Vcap-Request-Id: s-1\r\nConnection: close\r\n\r\n`,
      );
      await c.readToEnd();
      await expect
        .poll(() => side.logLines.find((l) => l.msg === 'request completed' && l.url === '/capacity'))
        .toMatchObject({ level: 20, session: 's-1', method: 'GET', statusCode: 200 });
      const line = side.logLines.find((l) => l.msg === 'request completed' && l.url === '/capacity');
      expect(line?.reqId).toMatch(/^req-[0-9a-z]+$/);
    }
  });

  it('logs a request a backend rule refused (a missing property) at info, without a stack', async () => {
    fast.logLines.length = 0;
    const c = await RawConnection.open(fast.f.socketPath);
    c.write(request(['GET', '/containers/pipelined/properties/missing'], true));
    expect((await c.readResponse()).status).toBe(500);
    c.destroy();
    const failed = fast.logLines.find((l) => l.msg === 'request failed');
    expect(failed).toMatchObject({
      level: 30,
      route: 'Property',
      error: { code: 'GARDEN_ERROR', message: 'property does not exist: missing' },
    });
    expect(JSON.stringify(failed)).not.toContain('stack');
  });
});
