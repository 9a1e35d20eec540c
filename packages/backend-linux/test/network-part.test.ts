/**
 * The network part inside the backend when the host changes under it: an operator flushes our nft
 * tables. Operations fail typed (the lower layer's error as the cause) without leaking a port,
 * destroy still releases everything, and a restart puts the firewall back from the records.
 */
import { GardenError } from '@garden-ts/api-types';
import { NftError, nft } from '@garden-ts/native-ns';
import { afterAll, describe, expect, it } from 'vitest';
import { networkLeaks, testEnv } from './helpers.js';

const env = testEnv('netpart');
afterAll(() => env.cleanup());

describe('network part', () => {
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
