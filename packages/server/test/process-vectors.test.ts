/**
 * Protocol §13 vectors TV-16 to TV-20 (Run, Attach, Stdout, Stderr) replayed as raw bytes over a
 * unix socket, with a fresh server so stream ids are deterministic.
 */
import type { ProcessSpec } from '@garden-ts/api-types';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { normalizedHead, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

let f: Fixture;

const hijackHead = (status: '201 Created' | '200 OK') => [
  `HTTP/1.1 ${status}`,
  'Content-Type: application/json',
  'Date: *',
  'Transfer-Encoding: chunked',
];
const outputHead = ['HTTP/1.1 200 OK', 'Date: *', 'Transfer-Encoding: chunked'];

function runRequest(handle: string, body: string): string {
  return `POST /containers/${handle}/processes HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\n\r\n${body}`;
}
function outputRequest(handle: string, pid: string, stream: string, which: 'stdout' | 'stderr'): string {
  return `GET /containers/${handle}/processes/${pid}/attaches/${stream}/${which} HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Type: application/json\r\n\r\n`;
}

beforeAll(async () => {
  f = await startServer();
  await f.fake.create({ handle: 'h1' });
  // The vectors' programs, mapped onto backend-fake's simulated commands.
  f.inject.containers.set('h1', {
    run: async function (this: unknown, spec: ProcessSpec, io) {
      const real = await f.fake.lookup('h1');
      const mapped: Record<string, ProcessSpec> = {
        'echo-stdin': {
          ...spec,
          path: 'sh',
          args: ['-c', 'echo hello; echo -n got:; cat; echo warn >&2; exit 3'],
          tty: undefined,
        },
        'wait-signal': { ...spec, path: 'sleep', args: ['30'] },
      };
      return real.run(mapped[spec.path ?? ''] ?? spec, io);
    },
  });
});
afterAll(async () => {
  await f.close();
});

it('TV-16 run with stdin, stdout and stderr', async () => {
  const body =
    '{"id":"proc-1","path":"echo-stdin","args":["a"],"env":["X=1"],"dir":"/root","user":"root","rlimits":{"nofile":1024},"tty":{"window_size":{"columns":80,"rows":24}},"image":{}}\n';
  expect(Buffer.byteLength(body)).toBe(175);
  const control = await RawConnection.open(f.socketPath);
  control.write(runRequest('h1', body));
  expect(normalizedHead(await control.readHead())).toEqual(hijackHead('201 Created'));
  expect(await control.readLine()).toBe('{"process_id":"proc-1","stream_id":"1"}\n');
  const stdout = await RawConnection.open(f.socketPath);
  stdout.write(outputRequest('h1', 'proc-1', '1', 'stdout'));
  expect(normalizedHead(await stdout.readHead())).toEqual(outputHead);
  const stderr = await RawConnection.open(f.socketPath);
  stderr.write(outputRequest('h1', 'proc-1', '1', 'stderr'));
  expect(normalizedHead(await stderr.readHead())).toEqual(outputHead);
  control.write('{"process_id":"proc-1","source":0,"data":"input\\n"}\n{"process_id":"proc-1","source":0}\n');
  expect(await control.readLine()).toBe('{"process_id":"proc-1","exit_status":3}\n');
  expect((await control.readToEnd()).length).toBe(0);
  expect((await stdout.readToEnd()).toString()).toBe('hello\ngot:input\n');
  expect((await stderr.readToEnd()).toString()).toBe('warn\n');
});

it('TV-17 tty resize and signal; signals after stdin EOF are ignored', async () => {
  const body =
    '{"path":"wait-signal","rlimits":{},"limits":{"cpu_limits":{"weight":10},"memory_limits":{}},"image":{}}\n';
  expect(Buffer.byteLength(body)).toBe(104);
  const control = await RawConnection.open(f.socketPath);
  control.write(runRequest('h1', body));
  expect(normalizedHead(await control.readHead())).toEqual(hijackHead('201 Created'));
  const first = JSON.parse(await control.readLine()) as { process_id: string; stream_id: string };
  expect(first.stream_id).toBe('2');
  const pid = first.process_id;
  control.write(`{"process_id":"${pid}","tty":{"window_size":{"columns":100,"rows":50}}}\n`);
  await expect.poll(() => f.fake.processTTY('h1', pid)?.windowSize).toEqual({ columns: 100, rows: 50 });
  control.write(`{"process_id":"${pid}","signal":0}\n`);
  expect(await control.readLine()).toBe(`{"process_id":"${pid}","exit_status":143}\n`);

  // Negative companion: after stdin EOF the server stops reading, so the kill never arrives.
  const quick = await RawConnection.open(f.socketPath);
  quick.write(runRequest('h1', '{"path":"sleep","args":["0.3"],"rlimits":{},"image":{}}\n'));
  await quick.readHead();
  const q = JSON.parse(await quick.readLine()) as { process_id: string };
  quick.write(
    `{"process_id":"${q.process_id}","source":0,"data":"x"}\n{"process_id":"${q.process_id}","source":0}\n{"process_id":"${q.process_id}","signal":1}\n`,
  );
  expect(await quick.readLine()).toBe(`{"process_id":"${q.process_id}","exit_status":0}\n`);
});

it('TV-18 attach to an unknown process: 404 without Connection: close, connection stays usable', async () => {
  const c = await RawConnection.open(f.socketPath);
  c.write(
    'GET /containers/h1/processes/nope HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\n\r\n',
  );
  const r = await c.readResponse();
  expect(normalizedHead(r)).toEqual([
    'HTTP/1.1 404 Not Found',
    'Content-Type: application/json',
    'Date: *',
    'Content-Length: 109',
  ]);
  expect(r.body.toString()).toBe(
    '{"Type":"ProcessNotFoundError","Message":"unknown process: nope","Handle":"","ProcessID":"nope","Binary":""}\n',
  );
  expect(await c.closedWithin(100)).toBe(false);
  // Like Go, the connection continues as an ordinary keep-alive connection.
  c.write('GET /ping HTTP/1.1\r\nHost: api\r\n\r\n');
  expect((await c.readResponse()).body.toString()).toBe('{}\n');
  c.destroy();
});

it('TV-19 run with ExecutableNotFoundError', async () => {
  const body = '{"path":"/no/such/binary","rlimits":{},"image":{}}\n';
  expect(Buffer.byteLength(body)).toBe(51);
  const c = await RawConnection.open(f.socketPath);
  c.write(runRequest('h1', body));
  const r = await c.readResponse();
  expect(normalizedHead(r)).toEqual([
    'HTTP/1.1 500 Internal Server Error',
    'Content-Type: application/json',
    'Date: *',
    'Content-Length: 161',
  ]);
  expect(r.body.toString()).toBe(
    '{"Type":"ExecutableNotFoundError","Message":"exec: \\"/no/such/binary\\": stat /no/such/binary: no such file or directory","Handle":"","ProcessID":"","Binary":""}\n',
  );
  c.destroy();
});

it('TV-20 attach to a running process; unknown stream id', async () => {
  const run = await RawConnection.open(f.socketPath);
  run.write(
    runRequest(
      'h1',
      '{"id":"long-1","path":"sh","args":["-c","sleep 0.2; echo done"],"rlimits":{},"image":{}}\n',
    ),
  );
  await run.readHead();
  // Stream ids count across Run and Attach: one Run in TV-16, two in TV-17.
  expect(await run.readLine()).toBe('{"process_id":"long-1","stream_id":"4"}\n');

  const attach = await RawConnection.open(f.socketPath);
  attach.write(
    'GET /containers/h1/processes/long-1 HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\n\r\n',
  );
  expect(normalizedHead(await attach.readHead())).toEqual(hijackHead('200 OK'));
  expect(await attach.readLine()).toBe('{"process_id":"long-1","stream_id":"5"}\n');
  const out = await RawConnection.open(f.socketPath);
  out.write(outputRequest('h1', 'long-1', '5', 'stdout'));
  await out.readHead();
  expect(await attach.readLine()).toBe('{"process_id":"long-1","exit_status":0}\n');
  expect(await run.readLine()).toBe('{"process_id":"long-1","exit_status":0}\n');
  expect((await out.readToEnd()).toString()).toBe('done\n');

  const unknown = await RawConnection.open(f.socketPath);
  unknown.write(outputRequest('upper', 'p', '999', 'stdout'));
  expect(normalizedHead(await unknown.readHead())).toEqual(outputHead);
  expect((await unknown.readToEnd()).length).toBe(0);
});
