/** The plugin protocol with a real executable written by the test. */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GardenError } from '@garden-ts/api-types';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNetInResult, parseUpResult, runPlugin } from './plugin.js';

const dir = mkdtempSync(join(tmpdir(), 'net-plugin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A plugin that logs argv and stdin, then prints `out` and exits with `code`. */
function plugin(name: string, out: string, code = 0): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/${name}.args\ncat > ${dir}/${name}.stdin\nprintf '%s' '${out}'\necho oops >&2\nexit ${code}\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe('runPlugin', () => {
  it('passes extra args, action and handle, and JSON on stdin', async () => {
    const path = plugin('ok', '{"properties":{"garden.network.container-ip":"10.9.0.2"}}');
    const out = await runPlugin({ path, extraArgs: ['--config', '/x.json'] }, 'up', 'h1', { Pid: 42 });
    expect(readFileSync(`${path}.args`, 'utf8')).toBe('--config\n/x.json\n--action\nup\n--handle\nh1\n');
    expect(JSON.parse(readFileSync(`${path}.stdin`, 'utf8'))).toEqual({ Pid: 42 });
    expect(parseUpResult(out).properties).toEqual({ 'garden.network.container-ip': '10.9.0.2' });
  });

  it('fails typed with the exit status and stderr', async () => {
    const path = plugin('bad', '', 3);
    const e = await runPlugin({ path, extraArgs: [] }, 'down', 'h', {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(GardenError);
    expect((e as Error).message).toBe('network plugin down failed: exit status 3: oops');
    const missing = await runPlugin({ path: join(dir, 'nope'), extraArgs: [] }, 'up', 'h', {}).catch(
      (x) => x,
    );
    expect((missing as Error).message).toMatch(/^network plugin up failed: spawn .*ENOENT/);
  });

  it('is killed after its timeout', async () => {
    const path = join(dir, 'slow');
    writeFileSync(path, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(path, 0o755);
    await expect(runPlugin({ path, extraArgs: [], timeoutMs: 200 }, 'up', 'h', {})).rejects.toThrow(
      /killed by SIGKILL/,
    );
  });
});

describe('plugin output', () => {
  it('up: properties, DNS servers and search domains, names matched as Go does', () => {
    expect(parseUpResult('')).toEqual({ properties: {}, dnsServers: [], searchDomains: [] });
    expect(
      parseUpResult('{"Properties":{"a":"b"},"DNSServers":["1.1.1.1"],"search_domains":["x.example"]}'),
    ).toEqual({ properties: { a: 'b' }, dnsServers: ['1.1.1.1'], searchDomains: ['x.example'] });
    expect(() => parseUpResult('not json')).toThrow(/output is not JSON/);
    expect(() => parseUpResult('[1]')).toThrow(/not a JSON object/);
    expect(() => parseUpResult('{"properties":{"a":1}}')).toThrow(/property a is not a string/);
    expect(() => parseUpResult('{"dns_servers":"1.1.1.1"}')).toThrow(/dns_servers must be a list/);
  });

  it('net-in: an optional mapping', () => {
    expect(parseNetInResult('')).toEqual({});
    expect(parseNetInResult('{"host_port":61010,"container_port":8080}')).toEqual({
      hostPort: 61010,
      containerPort: 8080,
    });
    expect(() => parseNetInResult('{"host_port":70000}')).toThrow(/host_port must be a port/);
  });
});
