import { ContainerNotFoundError, Signal } from '@garden-ts/api-types';
import { expect, it } from 'vitest';
import type { Harness } from '../harness.js';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Info and BulkInfo: state, properties, process ids, mapped ports and per-handle errors. */
export function info(h: Harness): void {
  it('info of a new container is active with its properties', async () => {
    const container = await h.create({ properties: { 'contract.info': 'yes' } });
    const info = await container.info();
    expect(info.state).toBe('active');
    expect(info.properties).toMatchObject({ 'contract.info': 'yes' });
  });

  it('info reflects properties set later', async () => {
    const container = await h.create();
    await container.setProperty('contract.later', 'set');
    expect((await container.info()).properties).toMatchObject({ 'contract.later': 'set' });
  });

  it('info lists the ids of running processes', async () => {
    const container = await h.create();
    const a = await container.run({ id: h.handle('running-a'), path: 'sleep', args: ['100'] }, {});
    const b = await container.run({ path: 'sleep', args: ['100'] }, {});
    expect((await container.info()).processIDs).toEqual(expect.arrayContaining([a.id, b.id]));
    await Promise.all([a.signal(Signal.Kill), b.signal(Signal.Kill)]);
    expect(await Promise.all([a.wait(), b.wait()])).toEqual([137, 137]);
  });

  it('info of a container that never ran anything lists no process ids', async () => {
    const container = await h.create();
    expect((await container.info()).processIDs).toEqual([]);
  });

  it.skipIf(!h.caps.networking)('info reports IPv4 addresses (caps.networking)', async () => {
    const info = await (await h.create()).info();
    expect(info.containerIP).toMatch(IPV4);
    expect(info.hostIP).toMatch(IPV4);
    expect(info.externalIP).toMatch(IPV4);
    expect(info.containerIP).not.toBe(info.hostIP);
  });

  it.skipIf(!h.caps.networking)('two containers get different container IPs (caps.networking)', async () => {
    const [a, b] = await Promise.all([h.create(), h.create()]);
    const [ia, ib] = await Promise.all([a.info(), b.info()]);
    expect(ia.containerIP).not.toBe(ib.containerIP);
  });

  it.skipIf(!h.caps.networking)('info lists port mappings made by netIn (caps.networking)', async () => {
    const container = await h.create();
    const first = await container.netIn(0, 8080);
    const second = await container.netIn(0, 9090);
    expect((await container.info()).mappedPorts).toEqual(
      expect.arrayContaining([
        { hostPort: first.hostPort, containerPort: 8080 },
        { hostPort: second.hostPort, containerPort: 9090 },
      ]),
    );
  });

  it('a new container without netIn has no mapped ports', async () => {
    expect((await (await h.create()).info()).mappedPorts).toEqual([]);
  });

  it('bulkInfo returns info for every known handle', async () => {
    const a = await h.create({ properties: { who: 'a' } });
    const b = await h.create({ properties: { who: 'b' } });
    const entries = await h.client.bulkInfo([a.handle, b.handle]);
    expect(Object.keys(entries).sort()).toEqual([a.handle, b.handle].sort());
    expect(entries[a.handle]?.error).toBeUndefined();
    expect(entries[a.handle]?.info?.properties).toMatchObject({ who: 'a' });
    expect(entries[b.handle]?.info?.properties).toMatchObject({ who: 'b' });
    expect(entries[b.handle]?.info?.state).toBe('active');
  });

  it('bulkInfo reports an unknown handle as a per-handle ContainerNotFoundError', async () => {
    const known = await h.create();
    const unknown = h.handle('no-such-container');
    const entries = await h.client.bulkInfo([known.handle, unknown]);
    expect(entries[known.handle]?.info?.state).toBe('active');
    const err = entries[unknown]?.error;
    expect(err).toBeInstanceOf(ContainerNotFoundError);
    expect((err as ContainerNotFoundError).handle).toBe(unknown);
    expect(entries[unknown]?.info).toBeUndefined();
  });

  it('bulkInfo of no handles is empty', async () => {
    expect(await h.client.bulkInfo([])).toEqual({});
  });

  it('bulkInfo shows a stopped container as stopped', async () => {
    const container = await h.create();
    await container.stop(true);
    expect((await h.client.bulkInfo([container.handle]))[container.handle]?.info?.state).toBe('stopped');
  });
}
