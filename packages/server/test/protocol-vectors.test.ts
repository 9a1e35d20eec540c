/**
 * Every §13 test vector of the protocol doc replayed as raw bytes over a real unix socket against
 * the server with backend-fake behind it. Status line, headers (in Go's order; Date's value
 * ignored) and body are compared exactly. Where a vector needs a backend error or particular
 * backend data, one call of the real backend is replaced (see helpers/injecting-backend.ts).
 */
import { Readable } from 'node:stream';
import {
  type ContainerSpec,
  GardenError,
  MEMORY_STAT_KEYS,
  SECOND,
  ServiceUnavailableError,
  UnrecoverableError,
} from '@garden-ts/api-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, goRequest, normalizedHead, RawConnection } from './helpers/raw-http.js';
import { type Fixture, startServer } from './helpers/server-fixture.js';

const jsonHead = (status: string, length: number, close = true) => [
  `HTTP/1.1 ${status}`,
  'Content-Type: application/json',
  'Date: *',
  `Content-Length: ${length}`,
  ...(close ? ['Connection: close'] : []),
];

function expectJson(r: Awaited<ReturnType<typeof exchange>>, status: string, body: string, close = true) {
  expect(r.body.toString('utf8')).toBe(body);
  expect(normalizedHead(r)).toEqual(jsonHead(status, Buffer.byteLength(body), close));
}

const EMPTY_SPEC =
  '{"image":{},"limits":{"bandwidth_limits":{},"cpu_limits":{},"disk_limits":{},"memory_limits":{},"pid_limits":{}}}\n';

let f: Fixture;
let handles = 0;

beforeAll(async () => {
  f = await startServer({
    fake: {
      capacity: { memoryInBytes: 1111n, diskInBytes: 2222n, schedulableDiskInBytes: 0n, maxContainers: 42n },
      generateHandle: () => `generated-${++handles}`,
      portPoolStart: 61000,
    },
    defaultGraceTime: 42n * SECOND,
  });
});
afterAll(async () => {
  await f.close();
});

describe('plain routes', () => {
  it('TV-01 ping', async () => {
    const r = await exchange(f.socketPath, goRequest('GET', '/ping'));
    expectJson(r, '200 OK', '{}\n');
  });

  it('TV-02 ping with UnrecoverableError and a generic error', async () => {
    f.inject.backend.ping = async () => {
      throw new UnrecoverableError('ermahgahd!');
    };
    try {
      const r = await exchange(f.socketPath, goRequest('GET', '/ping'));
      expectJson(
        r,
        '500 Internal Server Error',
        '{"Type":"UnrecoverableError","Message":"ermahgahd!","Handle":"","ProcessID":"","Binary":""}\n',
      );
      expect(r.body.length).toBe(92);
      f.inject.backend.ping = async () => {
        throw new Error('plain <error> & stuff');
      };
      const g = await exchange(f.socketPath, goRequest('GET', '/ping'));
      expectJson(
        g,
        '500 Internal Server Error',
        '{"Type":"","Message":"plain \\u003cerror\\u003e \\u0026 stuff","Handle":"","ProcessID":"","Binary":""}\n',
      );
      expect(g.body.length).toBe(100);
    } finally {
      delete f.inject.backend.ping;
    }
  });

  it('TV-03 capacity', async () => {
    const r = await exchange(f.socketPath, goRequest('GET', '/capacity'));
    expectJson(r, '200 OK', '{"memory_in_bytes":1111,"disk_in_bytes":2222,"max_containers":42}\n');
  });

  it('TV-04 create with an empty spec gets the default grace time and a bomb', async () => {
    const r = await exchange(f.socketPath, goRequest('POST', '/containers', EMPTY_SPEC));
    expectJson(r, '200 OK', '{"Handle":"generated-1"}\n');
    expect(await f.fake.graceTime(await f.fake.lookup('generated-1'))).toBe(42n * SECOND);
    expect(f.server.bomberman.bomb('generated-1')?.running).toBe(true);
  });

  it('TV-05 create with a full spec', async () => {
    const body =
      '{"handle":"my-handle","grace_time":10000000000,"rootfs":"/var/rootfs","image":{"uri":"docker:///busybox#1.36","username":"u","password":"p"},"bind_mounts":[{"src_path":"/src","dst_path":"/dst","mode":1,"origin":1},{"src_path":"/a","dst_path":"/b"}],"network":"10.0.0.0/30","properties":{"env":"test","owner":"me"},"env":["A=1"],"privileged":true,"limits":{"bandwidth_limits":{"rate":100,"burst":200},"cpu_limits":{"weight":512},"disk_limits":{"byte_hard":1024,"scope":1},"memory_limits":{"limit_in_bytes":67108864},"pid_limits":{"max":100}},"netout_rules":[{"protocol":1,"networks":[{"start":"8.8.8.8","end":"8.8.8.8"}],"ports":[{"start":53,"end":53}]}],"netin":[{"host_port":0,"container_port":8080}]}\n';
    expect(Buffer.byteLength(body)).toBe(703);
    let seen: ContainerSpec | undefined;
    f.inject.backend.create = async (spec) => {
      seen = spec;
      return f.fake.create(spec);
    };
    try {
      const r = await exchange(f.socketPath, goRequest('POST', '/containers', body));
      expectJson(r, '200 OK', '{"Handle":"my-handle"}\n');
    } finally {
      delete f.inject.backend.create;
    }
    expect(seen?.graceTime).toBe(10n * SECOND);
    expect(seen?.bindMounts?.[1]).toEqual({ srcPath: '/a', dstPath: '/b' });
    expect(seen?.properties).toEqual({ env: 'test', owner: 'me' });
    expect(await f.fake.graceTime(await f.fake.lookup('my-handle'))).toBe(10n * SECOND);
  });

  it('TV-06 create with a ServiceUnavailableError', async () => {
    f.inject.backend.create = async () => {
      throw new ServiceUnavailableError('special error');
    };
    try {
      const body =
        '{"handle":"fail-create","image":{},"limits":{"bandwidth_limits":{},"cpu_limits":{},"disk_limits":{},"memory_limits":{},"pid_limits":{}}}\n';
      expect(Buffer.byteLength(body)).toBe(137);
      const r = await exchange(f.socketPath, goRequest('POST', '/containers', body));
      expectJson(
        r,
        '500 Internal Server Error',
        '{"Type":"ServiceUnavailableError","Message":"special error","Handle":"","ProcessID":"","Binary":""}\n',
      );
    } finally {
      delete f.inject.backend.create;
    }
  });

  it('TV-07 list with a property filter, and without', async () => {
    let filter: Record<string, string> | undefined;
    f.inject.backend.containers = async (props) => {
      filter = props;
      return f.fake.containers(props);
    };
    try {
      const r = await exchange(f.socketPath, goRequest('GET', '/containers?a+b=c%26d&owner=me'));
      expectJson(r, '200 OK', '{"Handles":[]}\n');
      expect(filter).toEqual({ 'a b': 'c&d', owner: 'me' });
    } finally {
      delete f.inject.backend.containers;
    }
    const all = await exchange(f.socketPath, goRequest('GET', '/containers'));
    expectJson(all, '200 OK', '{"Handles":["generated-1","my-handle"]}\n');
  });

  it('TV-08 info of an unknown container, and a full info', async () => {
    const r = await exchange(f.socketPath, goRequest('GET', '/containers/nope/info'));
    expectJson(
      r,
      '404 Not Found',
      '{"Type":"ContainerNotFoundError","Message":"unknown handle: nope","Handle":"nope","ProcessID":"","Binary":""}\n',
    );
    expect(r.body.length).toBe(110);
    await f.fake.create({ handle: 'info-full' });
    f.inject.containers.set('info-full', {
      info: async () => ({
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
      }),
    });
    try {
      const ok = await exchange(f.socketPath, goRequest('GET', '/containers/info-full/info'));
      expectJson(
        ok,
        '200 OK',
        '{"State":"active","Events":["oom"],"HostIP":"10.254.0.1","ContainerIP":"10.254.0.2","ContainerIPv6":"","ExternalIP":"192.0.2.10","ContainerPath":"/var/vcap/data/garden/depot/info-full","ProcessIDs":["p1"],"Properties":{"owner":"me"},"MappedPorts":[{"HostPort":61001,"ContainerPort":8080}]}\n',
      );
      expect(ok.body.length).toBe(290);
    } finally {
      f.inject.containers.delete('info-full');
      await f.fake.destroy('info-full');
    }
  });

  it('TV-09 bulk info: one found, one missing; empty list', async () => {
    let asked: string[] | undefined;
    f.inject.backend.bulkInfo = async (hs) => {
      asked = hs;
      const real = await f.fake.bulkInfo(hs);
      // The vector's backend reports only the state and nil lists/maps.
      const mine = real['my-handle'];
      if (mine?.info) real['my-handle'] = { info: { state: 'active' } as never };
      return real;
    };
    try {
      const r = await exchange(
        f.socketPath,
        goRequest('GET', '/containers/bulk_info?handles=my-handle%2Cnope'),
      );
      expect(asked).toEqual(['my-handle', 'nope']);
      expectJson(
        r,
        '200 OK',
        '{"my-handle":{"Info":{"State":"active","Events":null,"HostIP":"","ContainerIP":"","ContainerIPv6":"","ExternalIP":"","ContainerPath":"","ProcessIDs":null,"Properties":null,"MappedPorts":null},"Err":null},"nope":{"Info":{"State":"","Events":null,"HostIP":"","ContainerIP":"","ContainerIPv6":"","ExternalIP":"","ContainerPath":"","ProcessIDs":null,"Properties":null,"MappedPorts":null},"Err":{"Type":"ContainerNotFoundError","Message":"unknown handle: nope","Handle":"nope","ProcessID":"","Binary":""}}}\n',
      );
      expect(r.body.length).toBe(502);
      const empty = await exchange(f.socketPath, goRequest('GET', '/containers/bulk_info?handles='));
      expect(asked).toEqual([]);
      expectJson(empty, '200 OK', '{}\n');
    } finally {
      delete f.inject.backend.bulkInfo;
    }
  });

  it('TV-10 metrics', async () => {
    const zeroMem = Object.fromEntries([...MEMORY_STAT_KEYS].map((k) => [k, 0n]));
    f.inject.containers.set('my-handle', {
      metrics: async () =>
        ({
          memoryStat: { ...zeroMem, cache: 1n, rss: 2n, totalUsageTowardLimit: 7n, swapcached: 3n },
          cpuStat: { usage: 1n, user: 2n, system: 3n },
          diskStat: {
            totalBytesUsed: 11n,
            totalInodesUsed: 12n,
            exclusiveBytesUsed: 0n,
            exclusiveInodesUsed: 0n,
          },
          networkStat: null,
          pidStat: { current: 4n, max: 1024n },
          age: 90n * SECOND,
          cpuEntitlement: 100n,
        }) as never,
    });
    try {
      const r = await exchange(f.socketPath, goRequest('GET', '/containers/my-handle/metrics'));
      expectJson(
        r,
        '200 OK',
        '{"MemoryStat":{"active_anon":0,"active_file":0,"cache":1,"hierarchical_memory_limit":0,"inactive_anon":0,"inactive_file":0,"mapped_file":0,"pgfault":0,"pgmajfault":0,"pgpgin":0,"pgpgout":0,"rss":2,"total_active_anon":0,"total_active_file":0,"total_cache":0,"total_inactive_anon":0,"total_inactive_file":0,"total_mapped_file":0,"total_pgfault":0,"total_pgmajfault":0,"total_pgpgin":0,"total_pgpgout":0,"total_rss":0,"total_unevictable":0,"unevictable":0,"swap":0,"hierarchical_memsw_limit":0,"total_swap":0,"TotalUsageTowardLimit":7,"anon":0,"file":0,"swapcached":3},"CPUStat":{"Usage":1,"User":2,"System":3},"DiskStat":{"TotalBytesUsed":11,"TotalInodesUsed":12,"ExclusiveBytesUsed":0,"ExclusiveInodesUsed":0},"NetworkStat":null,"PidStat":{"Current":4,"Max":1024},"Age":90000000000,"CPUEntitlement":100}\n',
      );
      expect(r.body.length).toBe(803);
    } finally {
      f.inject.containers.delete('my-handle');
    }
  });

  it('TV-11 set/remove property with path escaping and HTML-safe JSON; missing property', async () => {
    const body = '{"value":"v\\u003c\\u0026\\u003e"}\n';
    expect(Buffer.byteLength(body)).toBe(32);
    const r = await exchange(f.socketPath, goRequest('PUT', '/containers/my-handle/properties/k%20y', body));
    expectJson(r, '200 OK', '{}\n');
    expect(await (await f.fake.lookup('my-handle')).property('k y')).toBe('v<&>');
    const rm = await exchange(f.socketPath, goRequest('DELETE', '/containers/my-handle/properties/k%20y'));
    expectJson(rm, '200 OK', '{}\n');
    const missing = await exchange(f.socketPath, goRequest('GET', '/containers/my-handle/properties/nokey'));
    expectJson(
      missing,
      '500 Internal Server Error',
      '{"Type":"","Message":"property does not exist: nokey","Handle":"","ProcessID":"","Binary":""}\n',
    );
  });

  it('TV-12 net in, net out, bulk net out', async () => {
    const netIn = '{"handle":"my-handle","container_port":8080}\n';
    expect(Buffer.byteLength(netIn)).toBe(45);
    const r = await exchange(f.socketPath, goRequest('POST', '/containers/my-handle/net/in', netIn));
    expectJson(r, '200 OK', '{"host_port":61001,"container_port":8080}\n');
    const netOut =
      '{"protocol":3,"networks":[{"start":"10.0.0.1","end":"10.0.0.255"},{"start":"2001:db8::1"}],"icmps":{"type":8,"code":0},"log":true}\n';
    expect(Buffer.byteLength(netOut)).toBe(131);
    let rule: unknown;
    f.inject.containers.set('my-handle', {
      netOut: async (x) => {
        rule = x;
      },
    });
    try {
      expectJson(
        await exchange(f.socketPath, goRequest('POST', '/containers/my-handle/net/out', netOut)),
        '200 OK',
        '{}\n',
      );
      expect(rule).toEqual({
        protocol: 3,
        networks: [{ start: '10.0.0.1', end: '10.0.0.255' }, { start: '2001:db8::1' }],
        icmps: { type: 8, code: 0 },
        log: true,
      });
    } finally {
      f.inject.containers.delete('my-handle');
    }
    expectJson(
      await exchange(f.socketPath, goRequest('POST', '/containers/my-handle/net/out', '{}\n')),
      '200 OK',
      '{}\n',
    );
    const bulk = '[{"protocol":1,"ports":[{"start":80,"end":443}]},{"protocol":2}]\n';
    expectJson(
      await exchange(f.socketPath, goRequest('POST', '/containers/my-handle/net/out/bulk', bulk)),
      '200 OK',
      '{}\n',
    );
    expectJson(
      await exchange(f.socketPath, goRequest('POST', '/containers/my-handle/net/out/bulk', 'null\n')),
      '200 OK',
      '{}\n',
    );
  });

  it('TV-13 set grace time, grace time 0 reaps, stop, stop with an empty body', async () => {
    const r = await exchange(
      f.socketPath,
      goRequest('PUT', '/containers/my-handle/grace_time', '90000000000\n'),
    );
    expectJson(r, '200 OK', '{}\n');
    expect(await f.fake.graceTime(await f.fake.lookup('my-handle'))).toBe(90n * SECOND);
    await f.fake.create({ handle: 'gt0', graceTime: 60n * SECOND });
    f.server.bomberman.strap('gt0', 60n * SECOND);
    expectJson(
      await exchange(f.socketPath, goRequest('PUT', '/containers/gt0/grace_time', '0\n')),
      '200 OK',
      '{}\n',
    );
    await expect
      .poll(async () => (await f.fake.containers()).map((c) => c.handle), { timeout: 1000 })
      .not.toContain('gt0');
    const stop = '{"kill":false}\n';
    expect(Buffer.byteLength(stop)).toBe(15);
    expectJson(
      await exchange(f.socketPath, goRequest('PUT', '/containers/my-handle/stop', stop)),
      '200 OK',
      '{}\n',
    );
    // Deviation: Go answers 500; the envelope and message are Go's.
    const empty = await exchange(f.socketPath, goRequest('PUT', '/containers/my-handle/stop', ''));
    expectJson(
      empty,
      '400 Bad Request',
      '{"Type":"","Message":"EOF","Handle":"","ProcessID":"","Binary":""}\n',
    );
    expect(empty.body.length).toBe(67);
  });

  it('TV-14 stream in with Content-Length and chunked bodies', async () => {
    const seen: Array<{ path: string; user?: string; bytes: string }> = [];
    f.inject.containers.set('my-handle', {
      streamIn: async (spec) => {
        const chunks: Buffer[] = [];
        for await (const c of spec.tarStream) chunks.push(c as Buffer);
        seen.push({ path: spec.path, user: spec.user, bytes: Buffer.concat(chunks).toString() });
      },
    });
    try {
      const fixed =
        'PUT /containers/my-handle/files?destination=%2Ftmp%2Fdst&user=vcap HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 8\r\nContent-Type: application/x-tar\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\nTARBYTES';
      expectJson(await exchange(f.socketPath, fixed), '200 OK', '{}\n');
      const chunked =
        'PUT /containers/my-handle/files?destination=%2Ftmp%2Fdst&user= HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-tar\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n5\r\nPART1\r\n5\r\nPART2\r\n0\r\n\r\n';
      expectJson(await exchange(f.socketPath, chunked), '200 OK', '{}\n');
    } finally {
      f.inject.containers.delete('my-handle');
    }
    expect(seen).toEqual([
      { path: '/tmp/dst', user: 'vcap', bytes: 'TARBYTES' },
      { path: '/tmp/dst', user: '', bytes: 'PART1PART2' },
    ]);
  });

  it('TV-15 stream out: small, large and failing', async () => {
    let asked: unknown;
    let payload = Buffer.from('TARDATA');
    f.inject.containers.set('my-handle', {
      streamOut: async (spec) => {
        asked = spec;
        if (spec.path === '/missing') throw new GardenError('stat /missing: no such file or directory');
        return Readable.from([payload]);
      },
    });
    try {
      const r = await exchange(
        f.socketPath,
        goRequest('GET', '/containers/my-handle/files?source=%2Fetc%2Fhosts&user=root'),
      );
      expect(asked).toEqual({ path: '/etc/hosts', user: 'root' });
      expect(normalizedHead(r)).toEqual([
        'HTTP/1.1 200 OK',
        'Date: *',
        'Content-Length: 7',
        'Content-Type: text/plain; charset=utf-8',
        'Connection: close',
      ]);
      expect(r.body.toString()).toBe('TARDATA');

      payload = Buffer.alloc(10_000, 0);
      payload.write('file.txt');
      const big = await exchange(
        f.socketPath,
        goRequest('GET', '/containers/my-handle/files?source=%2Fbig&user='),
      );
      expect(normalizedHead(big)).toEqual([
        'HTTP/1.1 200 OK',
        'Date: *',
        'Content-Type: application/octet-stream',
        'Connection: close',
        'Transfer-Encoding: chunked',
      ]);
      expect(big.body.equals(payload)).toBe(true);

      const missing = await exchange(
        f.socketPath,
        goRequest('GET', '/containers/my-handle/files?source=%2Fmissing&user='),
      );
      expectJson(
        missing,
        '500 Internal Server Error',
        '{"Type":"","Message":"stat /missing: no such file or directory","Handle":"","ProcessID":"","Binary":""}\n',
      );
    } finally {
      f.inject.containers.delete('my-handle');
    }
  });
});

describe('TV-21 server-generated errors', () => {
  it('rejects undecodable bodies with 400 and Go decoder messages (deviation: Go uses 500)', async () => {
    const oops = await exchange(f.socketPath, goRequest('POST', '/containers', '{oops}\n'));
    expectJson(
      oops,
      '400 Bad Request',
      '{"Type":"","Message":"invalid character \'o\' looking for beginning of object key string","Handle":"","ProcessID":"","Binary":""}\n',
    );
    const gt = await exchange(f.socketPath, goRequest('POST', '/containers', '{"grace_time":"10s"}\n'));
    expectJson(
      gt,
      '400 Bad Request',
      '{"Type":"","Message":"json: cannot unmarshal string into Go struct field ContainerSpec.grace_time of type time.Duration","Handle":"","ProcessID":"","Binary":""}\n',
    );
  });

  it('matches keys case-insensitively and ignores unknown keys', async () => {
    const r = await exchange(f.socketPath, goRequest('POST', '/containers', '{"HANDLE":"upper","bogus":1}'));
    expectJson(r, '200 OK', '{"Handle":"upper"}\n');
  });

  it('form-decodes path captures', async () => {
    const r = await exchange(f.socketPath, goRequest('GET', '/containers/a+b%2Bc/info'));
    expectJson(
      r,
      '404 Not Found',
      '{"Type":"ContainerNotFoundError","Message":"unknown handle: a b+c","Handle":"a b+c","ProcessID":"","Binary":""}\n',
    );
  });

  it('accepts literal commas in bulk_info handles and a missing handles parameter', async () => {
    const r = await exchange(f.socketPath, goRequest('GET', '/containers/bulk_info?handles=a,b'));
    expect(r.status).toBe(200);
    expect(Object.keys(JSON.parse(r.body.toString()))).toEqual(['a', 'b']);
    // Deviation (protocol §11.3): Go drops the connection; we answer an empty result.
    expectJson(await exchange(f.socketPath, goRequest('GET', '/containers/bulk_info')), '200 OK', '{}\n');
    expectJson(await exchange(f.socketPath, goRequest('GET', '/containers/bulk_metrics')), '200 OK', '{}\n');
  });

  it('answers 405 with Allow for other methods and for HEAD', async () => {
    const post = await exchange(f.socketPath, goRequest('POST', '/ping'));
    expect(normalizedHead(post)).toEqual([
      'HTTP/1.1 405 Method Not Allowed',
      'Allow: GET',
      'Content-Type: text/plain; charset=utf-8',
      'X-Content-Type-Options: nosniff',
      'Date: *',
      'Content-Length: 19',
      'Connection: close',
    ]);
    expect(post.body.toString()).toBe('Method Not Allowed\n');
    const c = await RawConnection.open(f.socketPath);
    c.write('HEAD /ping HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
    const head = await c.readHead();
    expect(normalizedHead(head)).toEqual(normalizedHead(post));
    expect((await c.readToEnd()).length).toBe(0);
  });

  it('answers 404 text for unknown paths, including a trailing slash', async () => {
    for (const target of ['/nope', '/containers/']) {
      const r = await exchange(f.socketPath, goRequest('GET', target));
      expect(normalizedHead(r)).toEqual([
        'HTTP/1.1 404 Not Found',
        'Content-Type: text/plain; charset=utf-8',
        'X-Content-Type-Options: nosniff',
        'Date: *',
        'Content-Length: 19',
        'Connection: close',
      ]);
      expect(r.body.toString()).toBe('404 page not found\n');
    }
  });

  it('guards concurrent destroys of one handle', async () => {
    await f.fake.create({ handle: 'slow-destroy' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    f.inject.backend.destroy = async (h) => {
      await gate;
      return f.fake.destroy(h);
    };
    try {
      const first = exchange(f.socketPath, goRequest('DELETE', '/containers/slow-destroy'));
      await new Promise((r) => setTimeout(r, 50));
      const second = await exchange(f.socketPath, goRequest('DELETE', '/containers/slow-destroy'));
      expectJson(
        second,
        '500 Internal Server Error',
        '{"Type":"","Message":"container already being destroyed","Handle":"","ProcessID":"","Binary":""}\n',
      );
      release();
      expectJson(await first, '200 OK', '{}\n');
    } finally {
      delete f.inject.backend.destroy;
    }
  });

  it('answers Go-style 400s for a missing Host header and an invalid escape', async () => {
    const c = await RawConnection.open(f.socketPath);
    c.write('GET /ping HTTP/1.1\r\n\r\n');
    expect((await c.readToEnd()).toString()).toBe(
      'HTTP/1.1 400 Bad Request: missing required Host header\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: missing required Host header',
    );
    const d = await RawConnection.open(f.socketPath);
    d.write('GET /containers/%zz/info HTTP/1.1\r\nHost: api\r\n\r\n');
    expect((await d.readToEnd()).toString()).toBe(
      'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request',
    );
  });

  it('answers HTTP/1.0 requests with an HTTP/1.0 status line and closes, like Go', async () => {
    const c = await RawConnection.open(f.socketPath);
    c.write('GET /ping HTTP/1.0\r\nHost: api\r\n\r\n');
    const r = await c.readResponse();
    expect(normalizedHead(r)).toEqual([
      'HTTP/1.0 200 OK',
      'Content-Type: application/json',
      'Date: *',
      'Content-Length: 3',
    ]);
    expect(r.body.toString()).toBe('{}\n');
    expect(await c.closedWithin(1000)).toBe(true);
  });

  it('keeps connections alive without Connection: close, with no Connection header', async () => {
    const c = await RawConnection.open(f.socketPath);
    c.write('GET /ping HTTP/1.1\r\nHost: api\r\n\r\nGET /capacity HTTP/1.1\r\nHost: api\r\n\r\n');
    expectJson(await c.readResponse(), '200 OK', '{}\n', false);
    expectJson(
      await c.readResponse(),
      '200 OK',
      '{"memory_in_bytes":1111,"disk_in_bytes":2222,"max_containers":42}\n',
      false,
    );
    expect(c.isClosed).toBe(false);
    c.destroy();
  });
});
