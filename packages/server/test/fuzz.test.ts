/**
 * Property-based fuzzing: 10,000+ malformed or random requests across every route (bad JSON, wrong
 * types, huge numbers, truncated bodies, random bytes, abrupt disconnects, random control messages
 * on Run/Attach). The server must only ever answer with a well-formed response or close the
 * connection, stay up, and leak no sockets, timers or grace-timer pauses.
 */
import { connect } from 'node:net';
import { ROUTE_TABLE } from '@garden-ts/api-types';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exchange, goRequest } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture;
let baseline: Record<string, number>;

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

beforeAll(async () => {
  baseline = resources();
  f = await startServer({ streamRetentionMs: 200 });
});
afterAll(async () => {
  await f.close();
  await new Promise((r) => setTimeout(r, 50));
  const after = resources();
  for (const kind of ['PipeWrap', 'PipeServerWrap', 'TCPWrap', 'Timeout']) {
    expect(after[kind] ?? 0, kind).toBeLessThanOrEqual(baseline[kind] ?? 0);
  }
});

// ---- generators ----

const weirdText = fc.oneof(
  fc.constantFrom(
    'fz',
    'nope',
    '',
    'a+b',
    'a%2Fb',
    '%zz',
    '%',
    'é',
    'bulk_info',
    '..',
    '1',
    'proc',
    '%00',
    '+',
  ),
  fc.string({ maxLength: 12 }).map((s) => s.replace(/[\s?#]/g, '')),
);
const fill = (pattern: string) =>
  fc.tuple(weirdText, weirdText, weirdText, weirdText).map(([a, b, c, d]) =>
    pattern
      .replace(':handle', a)
      .replace(':pid', b)
      .replace(':streamid', /^\d*$/.test(c) ? c : String(c.length))
      .replace(':key', d),
  );
const path = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...ROUTE_TABLE.map((r) => r.path)).chain(fill) },
  { weight: 1, arbitrary: fc.webPath() },
  {
    weight: 1,
    arbitrary: fc.constantFrom('/', '*', '/containers/', '//ping', '/ping/', 'http://api/ping', '/%7'),
  },
);
const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    '?handles=fz,nope',
    '?handles=',
    '?source=%2Fetc&user=root',
    '?destination=%2Ftmp&user=',
    '?a=%zz&b',
  ),
  fc.webQueryParameters().map((q) => `?${q}`),
);
const method = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom('HEAD', 'PATCH', 'OPTIONS', 'TRACE', 'FOO', 'get') },
);
const hugeInt = fc.constantFrom(
  '18446744073709551616',
  '-1',
  '1e9',
  '1.5',
  '9223372036854775807',
  '-9223372036854775809',
);
const jsonish = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.constantFrom(
    '',
    '{oops}',
    '{"grace_time":"10s"}',
    '{"handle":"fz2","grace_time":-1}',
    '{"handle":"fz3","grace_time":1000000}',
    '{"path":"cat"}',
    '{"path":"sleep","args":["0.05"]}',
    '{"path":"echo","args":["hi"],"tty":{}}',
    '{"kill":true}',
    '{"value":"v"}',
    'null',
    '[]',
    '[{"protocol":9}]',
    '{"networks":[{"start":"not-an-ip"}]}',
    '0',
    '{"limits":{"memory_limits":{"limit_in_bytes":"x"}}}',
    '{"rlimits":{"nofile":-5}}',
    '{"image":{"uri":5}}',
    '{"HANDLE":"x","Handle":"y"}',
    '"\\ud800"',
  ),
  hugeInt.map((n) => `{"grace_time":${n},"limits":{"pid_limits":{"max":${n}}}}`),
  hugeInt,
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
);
const controlMessages = fc.array(
  fc.oneof(
    fc.constantFrom(
      '{"source":0,"data":"hello"}',
      '{"source":0}',
      '{"signal":0}',
      '{"signal":1}',
      '{"signal":7}',
      '{"tty":{"window_size":{"columns":10,"rows":5}}}',
      '{"process_id":"p"}',
      'null',
      '0',
      '{',
      '{"source":"x"}',
      '{"signal":1e3}',
      '',
    ),
    fc.json({ maxDepth: 2 }),
  ),
  { maxLength: 5 },
);

interface Case {
  method: string;
  target: string;
  body: string;
  host: boolean;
  close: boolean;
  /** Declared Content-Length minus actual (positive = truncated body). */
  lengthSkew: number;
  chunked: boolean;
  control: string[];
  /** Destroy the connection after this many ms (undefined = read the response). */
  abortAfter: number | undefined;
  random: Uint8Array | undefined;
}

const generalCase: fc.Arbitrary<Case> = fc.record({
  method,
  target: fc.tuple(path, query).map(([p, q]) => p + q),
  body: jsonish,
  host: fc.boolean().map((b) => b || Math.random() < 0.9),
  close: fc.boolean(),
  lengthSkew: fc.oneof(
    { weight: 6, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: -3, max: 40 }) },
  ),
  chunked: fc.boolean().map((b) => b && Math.random() < 0.2),
  control: controlMessages,
  abortAfter: fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) },
  ),
  random: fc.oneof(
    { weight: 14, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 200 }) },
  ),
});

/** Truncated bodies and garbage never complete a request: abandon those quickly (abrupt disconnects). */
function normalize(c: Case): Case {
  if ((c.random || (c.lengthSkew > 0 && !c.chunked)) && c.abortAfter === undefined)
    return { ...c, abortAfter: 5 };
  return c;
}

/** Successful Runs on an existing container followed by random control messages. */
const runCase: fc.Arbitrary<Case> = fc.record({
  method: fc.constant('POST'),
  target: fc.constant('/containers/fz/processes'),
  body: fc.constantFrom(
    '{"path":"cat"}',
    '{"path":"sleep","args":["0.02"]}',
    '{"path":"echo","args":["hi"],"tty":{}}',
    '{"path":"sh","args":["-c","echo out; echo err >&2; exit 3"]}',
  ),
  host: fc.constant(true),
  close: fc.boolean(),
  lengthSkew: fc.constant(0),
  chunked: fc.constant(false),
  control: controlMessages,
  abortAfter: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 30 })),
  random: fc.constant(undefined),
});

/** Well-formed requests the backend refuses (generic 500s), with the usual header variations. */
const backendErrorCase: fc.Arbitrary<Case> = fc
  .tuple(
    fc.constantFrom(
      ['GET', '/containers/fz/properties/no-such-key', ''],
      ['POST', '/containers', '{"handle":"fz"}'],
      ['POST', '/containers/fz/net/out', '{"protocol":1,"ports":[{"start":2,"end":1}]}'],
      ['POST', '/containers/fz/processes/x', ''],
    ),
    fc.boolean(),
  )
  .map(([[m, target, body], close]) => ({
    method: m!,
    target: target!,
    body: body!,
    host: true,
    close,
    lengthSkew: 0,
    chunked: false,
    control: [],
    abortAfter: undefined,
    random: undefined,
  }));

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  { weight: 18, arbitrary: generalCase },
  { weight: 2, arbitrary: runCase },
  { weight: 1, arbitrary: backendErrorCase },
);

function encode(c: Case): Buffer {
  if (c.random) return Buffer.from(c.random);
  const body = Buffer.from(c.body, 'utf8');
  const lines = [`${c.method} ${c.target} HTTP/1.1`];
  if (c.host) lines.push('Host: api');
  let payload = body;
  if (c.chunked) {
    lines.push('Transfer-Encoding: chunked');
    payload = Buffer.concat([
      Buffer.from(`${body.length.toString(16)}\r\n`),
      body,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
  } else if (body.length > 0 || c.lengthSkew !== 0) {
    lines.push(`Content-Length: ${Math.max(0, body.length + c.lengthSkew)}`);
  }
  if (c.close) lines.push('Connection: close');
  const control = c.control.map((m) => `${m}\n`).join('');
  return Buffer.concat([
    Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'),
    payload,
    Buffer.from(control),
  ]);
}

const STATUS_LINE = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n/;
const ALLOWED = new Set([200, 201, 400, 404, 405, 413, 431, 500]);

/** Sends one case; returns the bytes received before the connection was closed or abandoned. */
function send(socketPath: string, c: Case): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    const got: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(got));
    };
    // Long enough for any answer; hijacked successes stay open, so they end here.
    const timer = setTimeout(finish, c.abortAfter ?? 100);
    s.on('error', finish);
    s.on('close', finish);
    s.on('data', (d: Buffer) => {
      got.push(d);
      const all = Buffer.concat(got);
      const end = all.indexOf('\r\n\r\n');
      if (end === -1) return;
      const cl = /\r\ncontent-length: (\d+)\r\n/i.exec(all.toString('latin1', 0, end + 2));
      if (cl && all.length >= end + 4 + Number(cl[1])) finish();
    });
    s.on('connect', () => s.write(encode(c)));
  });
}

const seen = new Map<string, number>();

function checkResponse(bytes: Buffer): void {
  const key = bytes.length === 0 ? 'none' : (STATUS_LINE.exec(bytes.toString('latin1'))?.[1] ?? 'partial');
  seen.set(key, (seen.get(key) ?? 0) + 1);
  if (bytes.length === 0) return; // closed without an answer (abort, timeout, garbage)
  const text = bytes.toString('latin1');
  // Abandoned before the status line was complete: it must at least be a prefix of one.
  if (!text.includes('\r\n') && 'HTTP/1.1 '.startsWith(text.slice(0, 9))) return;
  const m = STATUS_LINE.exec(text);
  if (!m) throw new Error(`malformed response: ${JSON.stringify(text.slice(0, 200))}`);
  const status = Number(m[1]);
  if (!ALLOWED.has(status))
    throw new Error(`unexpected status ${status}: ${JSON.stringify(text.slice(0, 200))}`);
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return; // abandoned mid-head
  const head = text.slice(0, end);
  const cl = /\r\nContent-Length: (\d+)/i.exec(head);
  if (/\r\nContent-Type: application\/json/i.test(head) && cl) {
    const body = bytes.subarray(end + 4, end + 4 + Number(cl[1]));
    if (body.length === Number(cl[1])) {
      const s = body.toString('utf8');
      if (!s.endsWith('\n')) throw new Error(`JSON body without LF: ${JSON.stringify(s)}`);
      JSON.parse(s);
      if (status >= 400 && !/^\{"Type":"[A-Za-z]*","Message":/.test(s)) throw new Error(`bad envelope: ${s}`);
    }
  }
}

it('answers 10,000 random and malformed requests well-formed or by closing, and leaks nothing', async () => {
  // 400 batches of 25 concurrent requests = 10,000 requests.
  let requests = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(caseArb.map(normalize), { minLength: 25, maxLength: 25 }), async (batch) => {
      if (!(await f.fake.containers()).some((x) => x.handle === 'fz')) await f.fake.create({ handle: 'fz' });
      const answers = await Promise.all(batch.map((c) => send(f.socketPath, c)));
      requests += batch.length;
      answers.forEach(checkResponse);
      if (process.env.FUZZ_DEBUG) {
        batch.forEach((c, i) => {
          if (answers[i]!.length === 0 && c.abortAfter === undefined && !c.random && c.lengthSkew <= 0) {
            console.log('NONE', JSON.stringify(encode(c).toString('latin1').slice(0, 300)));
          }
        });
      }
    }),
    { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? 20261128), endOnFailure: true },
  );
  expect(requests).toBeGreaterThanOrEqual(10_000);
  console.log('fuzz outcomes by status:', Object.fromEntries([...seen].sort()));
  // The fuzzer must reach the handlers, not only the router.
  for (const status of ['200', '201', '400', '404', '405', '500'])
    expect(seen.get(status) ?? 0).toBeGreaterThan(50);
  // Still serving, and every connection and grace-timer pause was released.
  expect((await exchange(f.socketPath, goRequest('GET', '/ping'))).body.toString()).toBe('{}\n');
  await expect.poll(() => f.server.connectionCount, { timeout: 5000, interval: 20 }).toBe(0);
  for (const c of await f.fake.containers()) {
    // Processes started by fuzzed Runs may still be running; only count held pauses of idle ones.
    const info = await c.info();
    if (info.processIDs.length === 0) expect(f.server.bomberman.bomb(c.handle)?.pauseCount ?? 0).toBe(0);
  }
}, 60_000);
