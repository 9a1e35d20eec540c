/**
 * The network part inside the backend when the host changes under it: an operator flushes our nft
 * tables. Operations fail typed (the lower layer's error as the cause) without leaking a port,
 * destroy still releases everything, and a restart puts the firewall back from the records.
 */

import { execFileSync } from 'node:child_process';
import { GardenError } from '@garden-ts/api-types';
import { NativeError, NftError, nft } from '@garden-ts/native-ns';
import { afterAll, describe, expect, it } from 'vitest';
import { leakCounts, networkLeaks, testEnv } from './helpers.js';

const env = testEnv('netpart');
afterAll(() => env.cleanup());

describe('network part', () => {
  it("fails a create typed when the container's devices cannot be made, leaving nothing", async () => {
    const backend = env.backend({ network: env.networkOptions() });
    await backend.start();
    // The first subnet's bridge name taken by a link that is not a bridge (an operator's veth).
    const ip = (...a: string[]) => execFileSync('ip', ['-n', env.net.host, ...a]);
    ip('link', 'add', 'gtb-0afe0000', 'type', 'veth', 'peer', 'name', 'gtx-peer');
    try {
      await backend.settled();
      const before = leakCounts(env);
      const err = await backend.create({ handle: 'no-bridge' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GardenError);
      expect((err as Error).message).toMatch(
        /^setting up the container's network failed: create bridge gtb-0afe0000: .*not a bridge/,
      );
      expect((err as Error).cause).toBeInstanceOf(NativeError);
      expect((err as Error & { cause: NativeError }).cause).toMatchObject({
        code: 'EEXIST',
        stage: 'network',
      });
      await backend.settled();
      expect(leakCounts(env)).toEqual(before);
      expect(backend.handles()).toEqual([]);
    } finally {
      ip('link', 'del', 'gtb-0afe0000');
    }
    // Nothing was kept of the failed one: the same handle and subnet work now.
    const c = await backend.create({ handle: 'no-bridge' });
    expect((await c.info()).containerIP).toBe('10.254.0.2');
    await backend.destroy('no-bridge');
    await backend.settled();
    await backend.stop();
    expect(await networkLeaks(env)).toEqual({ links: [], tables: '' });
  });

  it('fails NetIn typed when our tables vanished, keeps no port, and a restart rebuilds them', async () => {
    const backend = env.backend({ network: { ...env.networkOptions(), portPoolSize: 2 } });
    await backend.start();
    const c = await backend.create({ handle: 'flushed', netIn: [{ hostPort: 0, containerPort: 80 }] });
    await nft('delete table ip garden_ts\n', { netns: env.net.hostPath });
    const err = await c.netIn(0, 81).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenError);
    expect((err as Error).message).toMatch(/^NetIn failed: nft: /);
    expect((err as Error).cause).toBeInstanceOf(NftError);
    expect((await c.info()).mappedPorts).toEqual([{ hostPort: 61001, containerPort: 80 }]);
    // A restart replaces the tables from the records: the mapping is back and NetIn works again
    // with the port the failed one had taken and returned.
    await backend.stop();
    const again = env.backend({ network: { ...env.networkOptions(), portPoolSize: 2 } });
    await again.start();
    expect(await nft('list map ip garden_ts netin', { netns: env.net.hostPath })).toMatch(
      /61001 : 10\.254\.0\.2 \. 80/,
    );
    const c2 = await again.lookup('flushed');
    expect(await c2.netIn(0, 81)).toEqual({ hostPort: 61002, containerPort: 81 });
    await again.destroy('flushed');
    await again.settled();
    await again.stop();
    expect((await networkLeaks(env)).tables).toBe('');
  });
});
