/**
 * Client-side protocol vectors (wire protocol §13): a raw server checks the exact bytes the
 * client sends and answers with the recorded Go server bytes.
 */
import { Readable, Writable } from 'node:stream';
import {
  ContainerNotFoundError,
  ExecutableNotFoundError,
  GardenError,
  ProcessNotFoundError,
  ServiceUnavailableError,
  Signal,
  seconds,
  UnrecoverableError,
} from '@garden-ts/api-types';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientContainer } from '../src/container.js';
import { GardenConnection } from '../src/garden-connection.js';
import { createClient, type GardenClient, GardenConnectionError } from '../src/index.js';
import {
  chunkedResponse,
  hijackHead,
  plainHead,
  plainResponse,
  type RawConn,
  type RawRequest,
  type RawServer,
  startRawServer,
} from './raw-server.js';

let server: RawServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Serves every connection with `respond(request)` and returns a client plus the requests seen. */
async function serve(respond: (req: RawRequest, conn: RawConn) => string | Buffer | Promise<void>) {
  const requests: RawRequest[] = [];
  server = await startRawServer(async (conn) => {
    const req = await conn.readRequest();
    requests.push(req);
    const out = await respond(req, conn);
    if (out !== undefined) conn.end(out);
  });
  return { client: createClient({ socketPath: server.socketPath }), requests };
}

const ok = (body: string) => () => plainResponse('200 OK', body);
const sink = () => {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
};

describe('TV-01/02 ping', () => {
  it('sends the Go plain GET head and accepts {}', async () => {
    const { client, requests } = await serve(ok('{}\n'));
    await client.ping();
    expect(requests[0]!.head).toBe(plainHead('GET /ping HTTP/1.1'));
    expect(requests[0]!.body.length).toBe(0);
  });

  it('rebuilds UnrecoverableError from the envelope', async () => {
    const { client } = await serve(() =>
      plainResponse(
        '500 Internal Server Error',
        '{"Type":"UnrecoverableError","Message":"ermahgahd!","Handle":"","ProcessID":"","Binary":""}\n',
      ),
    );
    const err = await client.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as UnrecoverableError).message).toBe('ermahgahd!');
    expect((err as UnrecoverableError).statusCode).toBe(500);
  });

  it('unescapes a generic error message', async () => {
    const { client } = await serve(() =>
      plainResponse(
        '500 Internal Server Error',
        '{"Type":"","Message":"plain \\u003cerror\\u003e \\u0026 stuff","Handle":"","ProcessID":"","Binary":""}\n',
      ),
    );
    const err = await client.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenError);
    expect(err).not.toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toBe('plain <error> & stuff');
  });
});

describe('TV-03 capacity', () => {
  it('decodes omitted u64 fields as 0n', async () => {
    const { client, requests } = await serve(
      ok('{"memory_in_bytes":1111,"disk_in_bytes":2222,"max_containers":42}\n'),
    );
    expect(await client.capacity()).toEqual({
      memoryInBytes: 1111n,
      diskInBytes: 2222n,
      schedulableDiskInBytes: 0n,
      maxContainers: 42n,
    });
    expect(requests[0]!.head).toBe(plainHead('GET /capacity HTTP/1.1'));
  });
});

describe('TV-04/05/06 create', () => {
  it('sends the empty spec with Content-Length and one LF', async () => {
    const { client, requests } = await serve(ok('{"Handle":"generated-1"}\n'));
    const c = await client.create({});
    expect(c.handle).toBe('generated-1');
    const body =
      '{"image":{},"limits":{"bandwidth_limits":{},"cpu_limits":{},"disk_limits":{},"memory_limits":{},"pid_limits":{}}}\n';
    expect(requests[0]!.head).toBe(
      plainHead('POST /containers HTTP/1.1', { length: 114, type: 'application/json' }),
    );
    expect(requests[0]!.body.toString()).toBe(body);
  });

  it('sends the full spec byte for byte', async () => {
    const { client, requests } = await serve(ok('{"Handle":"my-handle"}\n'));
    const c = await client.create({
      handle: 'my-handle',
      graceTime: seconds(10),
      rootfsPath: '/var/rootfs',
      image: { uri: 'docker:///busybox#1.36', username: 'u', password: 'p' },
      bindMounts: [
        { srcPath: '/src', dstPath: '/dst', mode: 1, origin: 1 },
        { srcPath: '/a', dstPath: '/b' },
      ],
      network: '10.0.0.0/30',
      properties: { owner: 'me', env: 'test' },
      env: ['A=1'],
      privileged: true,
      limits: {
        bandwidth: { rateInBytesPerSecond: 100n, burstRateInBytesPerSecond: 200n },
        cpu: { weight: 512n },
        disk: { byteHard: 1024n, scope: 1 },
        memory: { limitInBytes: 67108864n },
        pid: { max: 100n },
      },
      netOut: [
        { protocol: 1, networks: [{ start: '8.8.8.8', end: '8.8.8.8' }], ports: [{ start: 53, end: 53 }] },
      ],
      netIn: [{ hostPort: 0, containerPort: 8080 }],
    });
    expect(c.handle).toBe('my-handle');
    const body =
      '{"handle":"my-handle","grace_time":10000000000,"rootfs":"/var/rootfs","image":{"uri":"docker:///busybox#1.36","username":"u","password":"p"},"bind_mounts":[{"src_path":"/src","dst_path":"/dst","mode":1,"origin":1},{"src_path":"/a","dst_path":"/b"}],"network":"10.0.0.0/30","properties":{"env":"test","owner":"me"},"env":["A=1"],"privileged":true,"limits":{"bandwidth_limits":{"rate":100,"burst":200},"cpu_limits":{"weight":512},"disk_limits":{"byte_hard":1024,"scope":1},"memory_limits":{"limit_in_bytes":67108864},"pid_limits":{"max":100}},"netout_rules":[{"protocol":1,"networks":[{"start":"8.8.8.8","end":"8.8.8.8"}],"ports":[{"start":53,"end":53}]}],"netin":[{"host_port":0,"container_port":8080}]}\n';
    expect(requests[0]!.body.toString()).toBe(body);
    expect(requests[0]!.head).toContain('Content-Length: 703\r\n');
  });

  it('rebuilds ServiceUnavailableError from a 500', async () => {
    const { client } = await serve(() =>
      plainResponse(
        '500 Internal Server Error',
        '{"Type":"ServiceUnavailableError","Message":"special error","Handle":"","ProcessID":"","Binary":""}\n',
      ),
    );
    const err = await client.create({ handle: 'fail-create' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect((err as GardenError).code).toBe('GARDEN_SERVICE_UNAVAILABLE');
    expect((err as Error).message).toBe('special error');
  });
});

describe('TV-07 list and lookup', () => {
  it('encodes the property filter like url.Values.Encode', async () => {
    const { client, requests } = await serve(ok('{"Handles":[]}\n'));
    expect(await client.containers({ owner: 'me', 'a b': 'c&d' })).toEqual([]);
    expect(requests[0]!.head).toBe(plainHead('GET /containers?a+b=c%26d&owner=me HTTP/1.1'));
  });

  it('sends no query without a filter and accepts lower-case "handles"', async () => {
    const { client, requests } = await serve(ok('{"handles":["generated-1","my-handle"]}\n'));
    const list = await client.containers();
    expect(list.map((c) => c.handle)).toEqual(['generated-1', 'my-handle']);
    expect(requests[0]!.line).toBe('GET /containers HTTP/1.1');
  });

  it('lookup lists and searches locally', async () => {
    const { client, requests } = await serve(ok('{"Handles":["a","my-handle"]}\n'));
    expect((await client.lookup('my-handle')).handle).toBe('my-handle');
    const err = await client.lookup('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerNotFoundError);
    expect((err as ContainerNotFoundError).handle).toBe('nope');
    expect(requests.map((r) => r.line)).toEqual(['GET /containers HTTP/1.1', 'GET /containers HTTP/1.1']);
  });
});

describe('TV-08 info', () => {
  const info =
    '{"State":"active","Events":["oom"],"HostIP":"10.254.0.1","ContainerIP":"10.254.0.2","ContainerIPv6":"","ExternalIP":"192.0.2.10","ContainerPath":"/var/vcap/data/garden/depot/info-full","ProcessIDs":["p1"],"Properties":{"owner":"me"},"MappedPorts":[{"HostPort":61001,"ContainerPort":8080}]}\n';

  it('decodes ContainerInfo', async () => {
    const { client, requests } = await serve((req) =>
      req.line.startsWith('GET /containers ')
        ? plainResponse('200 OK', '{"Handles":["info-full"]}\n')
        : plainResponse('200 OK', info),
    );
    const c = await client.lookup('info-full');
    expect(await c.info()).toEqual({
      state: 'active',
      events: ['oom'],
      hostIP: '10.254.0.1',
      containerIP: '10.254.0.2',
      containerIPv6: '',
      externalIP: '192.0.2.10',
      containerPath: '/var/vcap/data/garden/depot/info-full',
      processIDs: ['p1'],
      properties: { owner: 'me' },
      mappedPorts: [{ hostPort: 61001, containerPort: 8080 }],
    });
    expect(requests[1]!.head).toBe(plainHead('GET /containers/info-full/info HTTP/1.1'));
  });

  it('turns a 404 envelope into ContainerNotFoundError rebuilt from Handle', async () => {
    const { client } = await serve((req) =>
      req.line.startsWith('GET /containers ')
        ? plainResponse('200 OK', '{"Handles":["nope"]}\n')
        : plainResponse(
            '404 Not Found',
            '{"Type":"ContainerNotFoundError","Message":"ignored text","Handle":"nope","ProcessID":"","Binary":""}\n',
          ),
    );
    const c = await client.lookup('nope');
    const err = await c.info().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerNotFoundError);
    expect((err as Error).message).toBe('unknown handle: nope');
    expect((err as GardenError).statusCode).toBe(404);
    expect((err as GardenError).code).toBe('GARDEN_CONTAINER_NOT_FOUND');
  });

  it('percent-encodes path parameters (including + and /)', async () => {
    const { client, requests } = await serve((req) =>
      req.line.startsWith('GET /containers ')
        ? plainResponse('200 OK', '{"Handles":["a+b/c d?é"]}\n')
        : plainResponse('200 OK', info),
    );
    const c = await client.lookup('a+b/c d?é');
    await c.info();
    expect(requests[1]!.line).toBe('GET /containers/a%2Bb%2Fc%20d%3F%C3%A9/info HTTP/1.1');
  });
});

describe('TV-09 bulk info', () => {
  const body =
    '{"my-handle":{"Info":{"State":"active","Events":null,"HostIP":"","ContainerIP":"","ContainerIPv6":"","ExternalIP":"","ContainerPath":"","ProcessIDs":null,"Properties":null,"MappedPorts":null},"Err":null},"nope":{"Info":{"State":"","Events":null,"HostIP":"","ContainerIP":"","ContainerIPv6":"","ExternalIP":"","ContainerPath":"","ProcessIDs":null,"Properties":null,"MappedPorts":null},"Err":{"Type":"ContainerNotFoundError","Message":"unknown handle: nope","Handle":"nope","ProcessID":"","Binary":""}}}\n';

  it('joins handles with an encoded comma and types per-entry errors', async () => {
    const { client, requests } = await serve(ok(body));
    const result = await client.bulkInfo(['my-handle', 'nope']);
    expect(requests[0]!.line).toBe('GET /containers/bulk_info?handles=my-handle%2Cnope HTTP/1.1');
    expect(result['my-handle']?.error).toBeUndefined();
    expect(result['my-handle']?.info?.state).toBe('active');
    expect(result.nope?.error).toBeInstanceOf(ContainerNotFoundError);
    expect(result.nope?.error?.message).toBe('unknown handle: nope');
  });

  it('accepts a chunked answer split mid-value', async () => {
    const { client } = await serve(() =>
      chunkedResponse('200 OK', [body.slice(0, 100), body.slice(100, 401), body.slice(401)]),
    );
    const result = await client.bulkInfo(['my-handle', 'nope']);
    expect(Object.keys(result).sort()).toEqual(['my-handle', 'nope']);
  });

  it('always sends handles=, even for no handles', async () => {
    const { client, requests } = await serve(ok('{}\n'));
    expect(await client.bulkInfo([])).toEqual({});
    expect(requests[0]!.line).toBe('GET /containers/bulk_info?handles= HTTP/1.1');
  });

  it('bulk metrics uses its own route', async () => {
    const { client, requests } = await serve(ok('{}\n'));
    await client.bulkMetrics(['a', 'b']);
    expect(requests[0]!.line).toBe('GET /containers/bulk_metrics?handles=a%2Cb HTTP/1.1');
  });
});

const metricsBody =
  '{"MemoryStat":{"active_anon":0,"active_file":0,"cache":1,"hierarchical_memory_limit":9223372036854771712,"inactive_anon":0,"inactive_file":0,"mapped_file":0,"pgfault":0,"pgmajfault":0,"pgpgin":0,"pgpgout":0,"rss":2,"total_active_anon":0,"total_active_file":0,"total_cache":0,"total_inactive_anon":0,"total_inactive_file":0,"total_mapped_file":0,"total_pgfault":0,"total_pgmajfault":0,"total_pgpgin":0,"total_pgpgout":0,"total_rss":0,"total_unevictable":0,"unevictable":0,"swap":0,"hierarchical_memsw_limit":0,"total_swap":0,"TotalUsageTowardLimit":7,"anon":0,"file":0,"swapcached":3},"CPUStat":{"Usage":1,"User":2,"System":3},"DiskStat":{"TotalBytesUsed":11,"TotalInodesUsed":12,"ExclusiveBytesUsed":0,"ExclusiveInodesUsed":0},"NetworkStat":null,"PidStat":{"Current":4,"Max":1024},"Age":90000000000,"CPUEntitlement":100}\n';

/** Answers List with `handles`, everything else with `respond`. */
async function serveContainer(
  handle: string,
  respond: (req: RawRequest, conn: RawConn) => string | Buffer | Promise<void>,
) {
  const served = await serve((req, conn) =>
    req.line === 'GET /containers HTTP/1.1'
      ? plainResponse('200 OK', `{"Handles":["${handle}"]}\n`)
      : respond(req, conn),
  );
  const c = await served.client.lookup(handle);
  served.requests.shift();
  return { ...served, container: c };
}

describe('TV-10 metrics', () => {
  it('keeps u64 values above 2^53 exact', async () => {
    const { container, requests } = await serveContainer('my-handle', ok(metricsBody));
    const m = await container.metrics();
    expect(requests[0]!.line).toBe('GET /containers/my-handle/metrics HTTP/1.1');
    expect(m.memoryStat.hierarchicalMemoryLimit).toBe(9223372036854771712n);
    expect(m.memoryStat.totalUsageTowardLimit).toBe(7n);
    expect(m.cpuStat).toEqual({ usage: 1n, user: 2n, system: 3n });
    expect(m.networkStat).toBeNull();
    expect(m.pidStat).toEqual({ current: 4n, max: 1024n });
    expect(m.age).toBe(90000000000n);
    expect(m.cpuEntitlement).toBe(100n);
  });

  it('accepts the same body chunked in many small chunks', async () => {
    const chunks = metricsBody.match(/.{1,37}/gs) ?? [];
    const { container } = await serveContainer('my-handle', () => chunkedResponse('200 OK', chunks));
    expect((await container.metrics()).memoryStat.swapcached).toBe(3n);
  });
});

describe('TV-11 properties', () => {
  it('escapes the key in the path and the value HTML-safe', async () => {
    const { container, requests } = await serveContainer('my-handle', ok('{}\n'));
    await container.setProperty('k y', 'v<&>');
    expect(requests[0]!.head).toBe(
      plainHead('PUT /containers/my-handle/properties/k%20y HTTP/1.1', {
        length: 32,
        type: 'application/json',
      }),
    );
    expect(requests[0]!.body.toString()).toBe('{"value":"v\\u003c\\u0026\\u003e"}\n');
    await container.removeProperty('k y');
    expect(requests[1]!.head).toBe(plainHead('DELETE /containers/my-handle/properties/k%20y HTTP/1.1'));
  });

  it('reads a property and reports a missing one as a generic error', async () => {
    const { container } = await serveContainer('my-handle', (req) =>
      req.line.includes('/nokey ')
        ? plainResponse(
            '500 Internal Server Error',
            '{"Type":"","Message":"property does not exist: nokey","Handle":"","ProcessID":"","Binary":""}\n',
          )
        : plainResponse('200 OK', '{"value":"v<&>"}\n'),
    );
    expect(await container.property('k y')).toBe('v<&>');
    const err = await container.property('nokey').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenError);
    expect((err as GardenError).type).toBe('');
    expect((err as Error).message).toBe('property does not exist: nokey');
  });

  it('decodes a null property map as empty', async () => {
    const { container } = await serveContainer('my-handle', ok('null\n'));
    expect(await container.properties()).toEqual({});
  });
});

describe('TV-12 net', () => {
  it('NetIn omits host_port 0 and decodes the answer', async () => {
    const { container, requests } = await serveContainer(
      'my-handle',
      ok('{"host_port":61001,"container_port":8080}\n'),
    );
    expect(await container.netIn(0, 8080)).toEqual({ hostPort: 61001, containerPort: 8080 });
    expect(requests[0]!.head).toBe(
      plainHead('POST /containers/my-handle/net/in HTTP/1.1', { length: 45, type: 'application/json' }),
    );
    expect(requests[0]!.body.toString()).toBe('{"handle":"my-handle","container_port":8080}\n');
  });

  it('NetOut keeps icmps code 0 and omits the missing end', async () => {
    const { container, requests } = await serveContainer('my-handle', ok('{}\n'));
    await container.netOut({
      protocol: 3,
      networks: [{ start: '10.0.0.1', end: '10.0.0.255' }, { start: '2001:db8::1' }],
      icmps: { type: 8, code: 0 },
      log: true,
    });
    await container.netOut({});
    expect(requests[0]!.body.toString()).toBe(
      '{"protocol":3,"networks":[{"start":"10.0.0.1","end":"10.0.0.255"},{"start":"2001:db8::1"}],"icmps":{"type":8,"code":0},"log":true}\n',
    );
    expect(requests[0]!.head).toContain('Content-Length: 131\r\n');
    expect(requests[1]!.body.toString()).toBe('{}\n');
  });

  it('BulkNetOut sends an array', async () => {
    const { container, requests } = await serveContainer('my-handle', ok('{}\n'));
    await container.bulkNetOut([{ protocol: 1, ports: [{ start: 80, end: 443 }] }, { protocol: 2 }]);
    expect(requests[0]!.line).toBe('POST /containers/my-handle/net/out/bulk HTTP/1.1');
    expect(requests[0]!.body.toString()).toBe(
      '[{"protocol":1,"ports":[{"start":80,"end":443}]},{"protocol":2}]\n',
    );
  });
});

describe('TV-13 grace time and stop', () => {
  it('sends a bare integer and {"kill":…}', async () => {
    const { container, requests } = await serveContainer('my-handle', ok('{}\n'));
    await container.setGraceTime(seconds(90));
    await container.setGraceTime(0n);
    await container.stop(false);
    await container.stop(true);
    expect(requests[0]!.head).toBe(
      plainHead('PUT /containers/my-handle/grace_time HTTP/1.1', { length: 12, type: 'application/json' }),
    );
    expect(requests.map((r) => r.body.toString())).toEqual([
      '90000000000\n',
      '0\n',
      '{"kill":false}\n',
      '{"kill":true}\n',
    ]);
    expect(requests[2]!.line).toBe('PUT /containers/my-handle/stop HTTP/1.1');
  });
});

describe('TV-14 stream in', () => {
  it('streams the tar chunked with both query keys sorted', async () => {
    const { container, requests } = await serveContainer('my-handle', ok('{}\n'));
    await container.streamIn({
      path: '/tmp/dst',
      tarStream: Readable.from([Buffer.from('PART1'), Buffer.from('PART2')]),
    });
    expect(requests[0]!.head).toBe(
      plainHead('PUT /containers/my-handle/files?destination=%2Ftmp%2Fdst&user= HTTP/1.1', 'chunked-tar'),
    );
    expect(requests[0]!.body.toString()).toBe('PART1PART2');
    await container.streamIn({
      path: '/tmp/dst',
      user: 'vcap',
      tarStream: Readable.from([Buffer.from('TARBYTES')]),
    });
    expect(requests[1]!.line).toBe(
      'PUT /containers/my-handle/files?destination=%2Ftmp%2Fdst&user=vcap HTTP/1.1',
    );
    expect(requests[1]!.body.toString()).toBe('TARBYTES');
  });

  it('reports the typed error of a failed extraction', async () => {
    const { container } = await serveContainer('my-handle', () =>
      plainResponse(
        '404 Not Found',
        '{"Type":"ContainerNotFoundError","Message":"unknown handle: my-handle","Handle":"my-handle","ProcessID":"","Binary":""}\n',
      ),
    );
    const err = await container
      .streamIn({ path: '/x', tarStream: Readable.from([Buffer.from('x')]) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerNotFoundError);
  });
});

describe('TV-15 stream out', () => {
  const collect = async (r: Readable) => {
    const chunks: Buffer[] = [];
    for await (const c of r) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };

  it('returns the raw body (Content-Length framing)', async () => {
    const { container, requests } = await serveContainer('my-handle', () =>
      [
        'HTTP/1.1 200 OK',
        'Date: Mon, 02 Jan 2006 15:04:05 GMT',
        'Content-Length: 7',
        'Content-Type: text/plain; charset=utf-8',
        'Connection: close',
        '',
        'TARDATA',
      ].join('\r\n'),
    );
    const out = await container.streamOut({ path: '/etc/hosts', user: 'root' });
    expect((await collect(out)).toString()).toBe('TARDATA');
    expect(requests[0]!.head).toBe(
      plainHead('GET /containers/my-handle/files?source=%2Fetc%2Fhosts&user=root HTTP/1.1'),
    );
  });

  it('returns a chunked body', async () => {
    const data = Buffer.alloc(10000, 'x');
    const { container } = await serveContainer('my-handle', () =>
      chunkedResponse('200 OK', [data.subarray(0, 4096).toString(), data.subarray(4096).toString()]),
    );
    expect((await collect(await container.streamOut({ path: '/big' }))).equals(data)).toBe(true);
  });

  it('reports an error envelope', async () => {
    const { container } = await serveContainer('my-handle', () =>
      plainResponse(
        '500 Internal Server Error',
        '{"Type":"","Message":"stat /missing: no such file or directory","Handle":"","ProcessID":"","Binary":""}\n',
      ),
    );
    const err = await container.streamOut({ path: '/missing' }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('stat /missing: no such file or directory');
  });

  it('errors the stream when the server aborts mid-download', async () => {
    const { container } = await serveContainer('my-handle', async (_req, conn) => {
      await conn.write(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nTARDA\r\n',
      );
      conn.socket.destroy();
    });
    const out = await container.streamOut({ path: '/x' });
    await expect(collect(out)).rejects.toThrow();
  });
});

describe('response edge cases (§4.3)', () => {
  it('an empty 2xx body is the error EOF', async () => {
    const { client } = await serve(() => plainResponse('200 OK', ''));
    await expect(client.ping()).rejects.toThrow(/^EOF$/);
  });

  it('a text 404 is "bad response: json: cannot unmarshal number …"', async () => {
    const { client } = await serve(() =>
      [
        'HTTP/1.1 404 Not Found',
        'Content-Type: text/plain; charset=utf-8',
        'X-Content-Type-Options: nosniff',
        'Content-Length: 19',
        'Connection: close',
        '',
        '404 page not found\n',
      ].join('\r\n'),
    );
    const err = await client.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenError);
    expect((err as Error).message).toBe(
      'bad response: json: cannot unmarshal number into Go value of type garden.marshalledError',
    );
  });

  it('an empty error body is "bad response: EOF"', async () => {
    const { client } = await serve(() => plainResponse('502 Bad Gateway', ''));
    await expect(client.ping()).rejects.toThrow(/^bad response: EOF$/);
  });

  it('types errors by envelope regardless of status (504 ServiceUnavailable)', async () => {
    const { client } = await serve(() =>
      plainResponse('504 Gateway Timeout', '{"type":"ServiceUnavailableError","message":"later"}\n'),
    );
    const err = await client.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect((err as GardenError).statusCode).toBe(504);
  });

  it('ignores bytes after the first JSON value', async () => {
    const { client } = await serve(() => plainResponse('200 OK', '{"Handles":["a"]} trailing garbage'));
    expect((await client.containers()).map((c) => c.handle)).toEqual(['a']);
  });
});

/** Writes a hijack head and first message in one packet, as the tests below require. */
const firstPacket = (status: '201 Created' | '200 OK', pid: string, sid: string) =>
  `${hijackHead(status)}{"process_id":"${pid}","stream_id":"${sid}"}\n`;

describe('TV-16 run with stdin, stdout and stderr', () => {
  it('runs the full three-connection exchange', async () => {
    let releaseStderr!: () => void;
    const stderrMayClose = new Promise<void>((r) => {
      releaseStderr = r;
    });
    const seen: Record<string, RawRequest> = {};
    const controlLines: string[] = [];
    server = await startRawServer(async (conn) => {
      const req = await conn.readRequest();
      if (req.line.startsWith('POST')) {
        seen.control = req;
        await conn.write(firstPacket('201 Created', 'proc-1', '1'));
        controlLines.push(await conn.readLine(), await conn.readLine());
        await conn.write('{"process_id":"proc-1","exit_status":3}\n');
        conn.end();
      } else if (req.line.endsWith('/stdout HTTP/1.1')) {
        seen.stdout = req;
        // Head and the first raw bytes in one packet; the chunked header is a lie.
        await conn.write(`${hijackHead('200 OK', false)}hello\n`);
        await new Promise((r) => setTimeout(r, 20));
        conn.end('got:input\n');
      } else {
        seen.stderr = req;
        await conn.write(hijackHead('200 OK', false));
        await stderrMayClose;
        conn.end('warn\n');
      }
    });
    const client = createClient({ socketPath: server.socketPath });
    const c = await serveLookup(client, 'h1');
    const stdout = sink();
    const stderr = sink();
    const proc = await c.run(
      {
        id: 'proc-1',
        path: 'echo-stdin',
        args: ['a'],
        env: ['X=1'],
        dir: '/root',
        user: 'root',
        rlimits: { nofile: 1024n },
        tty: { windowSize: { columns: 80, rows: 24 } },
      },
      { stdin: Readable.from([Buffer.from('input\n')]), stdout: stdout.stream, stderr: stderr.stream },
    );
    expect(proc.id).toBe('proc-1');
    let waited = false;
    const exit = proc.wait().then((s) => {
      waited = true;
      return s;
    });
    await new Promise((r) => setTimeout(r, 60));
    // The exit status arrived, but stderr has not reached EOF yet.
    expect(waited).toBe(false);
    releaseStderr();
    expect(await exit).toBe(3);
    expect(await proc.wait()).toBe(3);
    expect(stdout.text()).toBe('hello\ngot:input\n');
    expect(stderr.text()).toBe('warn\n');
    expect(stdout.stream.writableEnded).toBe(false);

    const body =
      '{"id":"proc-1","path":"echo-stdin","args":["a"],"env":["X=1"],"dir":"/root","user":"root","rlimits":{"nofile":1024},"tty":{"window_size":{"columns":80,"rows":24}},"image":{}}\n';
    expect(seen.control!.head).toBe(
      [
        'POST /containers/h1/processes HTTP/1.1',
        'Host: api',
        'User-Agent: Go-http-client/1.1',
        'Content-Length: 175',
        'Content-Type: application/json',
      ].join('\r\n'),
    );
    expect(seen.control!.body.toString()).toBe(body);
    expect(controlLines).toEqual([
      '{"process_id":"proc-1","source":0,"data":"input\\n"}',
      '{"process_id":"proc-1","source":0}',
    ]);
    for (const name of ['stdout', 'stderr'] as const) {
      expect(seen[name]!.head).toBe(
        [
          `GET /containers/h1/processes/proc-1/attaches/1/${name} HTTP/1.1`,
          'Host: api',
          'User-Agent: Go-http-client/1.1',
          'Content-Type: application/json',
        ].join('\r\n'),
      );
    }
    // Every connection was closed by the client at the end.
    await Promise.all(server.connections.map((conn) => conn.closed));
  });
});

/**
 * A container handle without the List round trip of lookup(), so that the raw servers of the
 * process vectors only see process connections.
 */
async function serveLookup(client: GardenClient, handle: string) {
  return new ClientContainer(new GardenConnection(client.address, 2000), handle);
}

describe('TV-17 run: tty resize and signal without stdin', () => {
  it('writes one control message per call and nothing for absent stdin', async () => {
    const lines: string[] = [];
    let control!: RawRequest;
    server = await startRawServer(async (conn) => {
      control = await conn.readRequest();
      await conn.write(firstPacket('201 Created', 'generated-process-id', '2'));
      lines.push(await conn.readLine(), await conn.readLine());
      conn.end('{"process_id":"generated-process-id","exit_status":143}\n');
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    const proc = await c.run(
      { path: 'wait-signal', overrideContainerLimits: { cpu: { weight: 10n }, memory: {} } },
      {},
    );
    await proc.setTTY({ windowSize: { columns: 100, rows: 50 } });
    await proc.signal(Signal.Terminate);
    expect(await proc.wait()).toBe(143);
    expect(control.body.toString()).toBe(
      '{"path":"wait-signal","rlimits":{},"limits":{"cpu_limits":{"weight":10},"memory_limits":{}},"image":{}}\n',
    );
    expect(lines).toEqual([
      '{"process_id":"generated-process-id","tty":{"window_size":{"columns":100,"rows":50}}}',
      '{"process_id":"generated-process-id","signal":0}',
    ]);
    expect(server.connections).toHaveLength(1);
  });
});

describe('TV-18/19 hijacked errors', () => {
  it('attach to an unknown process is ProcessNotFoundError and the socket is closed', async () => {
    let req!: RawRequest;
    server = await startRawServer(async (conn) => {
      req = await conn.readRequest();
      await conn.write(
        [
          'HTTP/1.1 404 Not Found',
          'Content-Type: application/json',
          'Date: Mon, 02 Jan 2006 15:04:05 GMT',
          'Content-Length: 109',
          '',
          '{"Type":"ProcessNotFoundError","Message":"unknown process: nope","Handle":"","ProcessID":"nope","Binary":""}\n',
        ].join('\r\n'),
      );
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    const err = await c.attach('nope', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessNotFoundError);
    expect((err as ProcessNotFoundError).processId).toBe('nope');
    expect(req.head).toBe(
      ['GET /containers/h1/processes/nope HTTP/1.1', 'Host: api', 'User-Agent: Go-http-client/1.1'].join(
        '\r\n',
      ),
    );
    await server.connections[0]!.closed;
  });

  it('run of a missing binary is ExecutableNotFoundError with the unescaped message', async () => {
    let req!: RawRequest;
    server = await startRawServer(async (conn) => {
      req = await conn.readRequest();
      const body =
        '{"Type":"ExecutableNotFoundError","Message":"exec: \\"/no/such/binary\\": stat /no/such/binary: no such file or directory","Handle":"","ProcessID":"","Binary":""}\n';
      // Chunked framing of the error body: read per its framing.
      await conn.write(
        `HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${(40).toString(16)}\r\n${body.slice(0, 40)}\r\n${Buffer.byteLength(body.slice(40)).toString(16)}\r\n${body.slice(40)}\r\n0\r\n\r\n`,
      );
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    const err = await c.run({ path: '/no/such/binary' }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutableNotFoundError);
    expect((err as Error).message).toBe(
      'exec: "/no/such/binary": stat /no/such/binary: no such file or directory',
    );
    expect(req.head).toContain('Content-Length: 51\r\n');
    expect(req.body.toString()).toBe('{"path":"/no/such/binary","rlimits":{},"image":{}}\n');
  });

  it('a non-envelope error body is "Backend error: …"', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      await conn.write('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 4\r\n\r\noops');
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    const err = await c.run({ path: 'x' }, {}).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /^Backend error: Exit status: 502, Body: oops, error reading response body: invalid character 'o'/,
    );
  });
});

describe('TV-20 attach with stdout only', () => {
  it('opens only the stdout stream of the fresh stream id', async () => {
    const lines: string[] = [];
    const heads: string[] = [];
    server = await startRawServer(async (conn) => {
      const req = await conn.readRequest();
      heads.push(req.head);
      if (req.line.endsWith('/stdout HTTP/1.1')) {
        await conn.write(`${hijackHead('200 OK', false)}out`);
        setTimeout(() => conn.end('put'), 30);
        return;
      }
      await conn.write(
        `${firstPacket('200 OK', 'long-1', '4')}{"source":1,"data":"legacy in-band output is ignored"}\n`,
      );
      setTimeout(() => conn.end('{"process_id":"long-1","exit_status":0}\n'), 10);
      lines.push((await conn.readToEnd()).toString());
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    const out = sink();
    const proc = await c.attach('long-1', { stdout: out.stream });
    expect(proc.id).toBe('long-1');
    expect(await proc.wait()).toBe(0);
    expect(out.text()).toBe('output');
    expect(heads).toEqual([
      'GET /containers/h1/processes/long-1 HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1',
      'GET /containers/h1/processes/long-1/attaches/4/stdout HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Type: application/json',
    ]);
    expect(lines).toEqual(['']);
  });

  it('an empty output stream (unknown stream id) just ends', async () => {
    server = await startRawServer(async (conn) => {
      const req = await conn.readRequest();
      if (req.line.includes('/attaches/')) return conn.end(hijackHead('200 OK', false));
      await conn.write(firstPacket('200 OK', 'p', '999'));
      conn.end('{"process_id":"p","exit_status":0}\n');
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    const out = sink();
    const err = sink();
    const proc = await c.attach('p', { stdout: out.stream, stderr: err.stream });
    expect(await proc.wait()).toBe(0);
    expect(out.text() + err.text()).toBe('');
  });
});

describe('control stream outcomes (§7.5)', () => {
  const runWith = async (afterFirst: string, close = true) => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      await conn.write(firstPacket('201 Created', 'p', '1') + afterFirst);
      if (close) conn.end();
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    return c.run({ path: 'x' }, {});
  };

  it('an error message rejects wait() with "connection: process error: …"', async () => {
    const proc = await runWith('{"process_id":"p","error":"boom"}\n');
    await expect(proc.wait()).rejects.toThrow(/^connection: process error: boom$/);
  });

  it('EOF without a final message rejects with a connection error (transportCode EOF)', async () => {
    const proc = await runWith('');
    const err = await proc.wait().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenConnectionError);
    expect(err).toMatchObject({
      transportCode: 'EOF',
      message: expect.stringMatching(
        /^connection to the Garden server at unix:\S+ closed before the process exited: EOF$/,
      ),
    });
  });

  it('garbage rejects with "connection: decode failed: …"', async () => {
    const proc = await runWith('{oops}\n');
    await expect(proc.wait()).rejects.toThrow(
      /^connection: decode failed: invalid character 'o' looking for beginning of object key string$/,
    );
  });

  it('error wins over exit_status in one message; tolerates empty lines', async () => {
    const proc = await runWith('\n\n{"process_id":"p","exit_status":1,"error":"both"}\n');
    await expect(proc.wait()).rejects.toThrow('connection: process error: both');
  });

  it('a broken first message fails run() itself', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      conn.end(`${hijackHead('201 Created')}{"process_id":`);
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    await expect(c.run({ path: 'x' }, {})).rejects.toThrow('unexpected EOF');
  });
});

describe('stdin forwarding', () => {
  it('never splits a UTF-8 sequence across messages', async () => {
    const lines: string[] = [];
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      await conn.write(firstPacket('201 Created', 'p', '1'));
      for (;;) {
        const line = await conn.readLine();
        lines.push(line);
        if (!line.includes('"data"')) break;
      }
      conn.end('{"process_id":"p","exit_status":0}\n');
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    const e = Buffer.from('é€😀', 'utf8'); // 2 + 3 + 4 bytes
    const stdin = Readable.from([e.subarray(0, 1), e.subarray(1, 4), e.subarray(4, 8), e.subarray(8)]);
    const proc = await c.run({ path: 'cat' }, { stdin });
    expect(await proc.wait()).toBe(0);
    const data = lines.slice(0, -1).map((l) => JSON.parse(l).data as string);
    expect(data.join('')).toBe('é€😀');
    for (const d of data) expect(d).not.toContain('\ufffd');
    expect(lines.at(-1)).toBe('{"process_id":"p","source":0}');
  });

  it('a failing stdin sends no EOF message', async () => {
    let resolveRest!: (s: string) => void;
    const rest = new Promise<string>((r) => {
      resolveRest = r;
    });
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      await conn.write(firstPacket('201 Created', 'p', '1'));
      const first = await conn.readLine();
      setTimeout(() => conn.socket.end('{"process_id":"p","exit_status":0}\n'), 30);
      resolveRest(first + (await conn.readToEnd()).toString());
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    const stdin = new Readable({ read() {} });
    const proc = await c.run({ path: 'cat' }, { stdin });
    stdin.push('x');
    setTimeout(() => stdin.destroy(new Error('read failed')), 5);
    expect(await proc.wait()).toBe(0);
    expect(await rest).toBe('{"process_id":"p","source":0,"data":"x"}');
  });
});

describe('hijacked head framing', () => {
  it('parses a head that arrives in many small packets', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      const bytes = Buffer.from(
        `${firstPacket('201 Created', 'p', '1')}{"process_id":"p","exit_status":5}\n`,
      );
      for (let i = 0; i < bytes.length; i += 3) {
        await conn.write(bytes.subarray(i, i + 3));
        await new Promise((r) => setImmediate(r));
      }
      conn.end();
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    const proc = await c.run({ path: 'x' }, {});
    expect(proc.id).toBe('p');
    expect(await proc.wait()).toBe(5);
  });

  it('accepts a Content-Length: 0 success head (the data is still raw)', async () => {
    server = await startRawServer(async (conn) => {
      await conn.readRequest();
      conn.end(
        'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n{"process_id":"p","stream_id":"9"}\n{"process_id":"p","exit_status":0}\n',
      );
    });
    const c = await serveLookup(createClient({ socketPath: server.socketPath }), 'h1');
    expect(await (await c.attach('p', {})).wait()).toBe(0);
  });
});
