import { ContainerNotFoundError, ErrorCode, GardenError } from '@garden-ts/api-types';
import { expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { rejectionOf } from '../support/errors.js';
import { runToExit } from '../support/streams.js';

/** Create, handles, destroy, lookup and listing with property filters. */
export function lifecycle(h: Harness): void {
  it('ping resolves on a healthy backend', async () => {
    await expect(h.client.ping()).resolves.toBeUndefined();
  });

  it('create with a handle returns a container with exactly that handle', async () => {
    const handle = h.handle('given');
    const container = await h.create({ handle });
    expect(container.handle).toBe(handle);
  });

  it('create without a handle generates a non-empty one', async () => {
    const container = await h.client.create({});
    h.track(container.handle);
    expect(typeof container.handle).toBe('string');
    expect(container.handle.length).toBeGreaterThan(0);
  });

  it('create with an empty handle generates one', async () => {
    const container = await h.client.create({ handle: '' });
    h.track(container.handle);
    expect(container.handle.length).toBeGreaterThan(0);
  });

  it('generated handles are unique', async () => {
    const created = await Promise.all([h.client.create({}), h.client.create({}), h.client.create({})]);
    for (const c of created) h.track(c.handle);
    expect(new Set(created.map((c) => c.handle)).size).toBe(3);
  });

  it("a duplicate handle fails with `Handle '<h>' already in use`", async () => {
    const container = await h.create();
    const err = await rejectionOf(h.client.create({ handle: container.handle }));
    expect(err).toBeInstanceOf(GardenError);
    expect(err).not.toBeInstanceOf(ContainerNotFoundError);
    expect((err as Error).message).toContain(`Handle '${container.handle}' already in use`);
  });

  it('a failed duplicate create leaves the original container intact', async () => {
    const container = await h.create({ properties: { original: 'yes' } });
    await rejectionOf(h.client.create({ handle: container.handle, properties: { original: 'no' } }));
    expect(await container.property('original')).toBe('yes');
  });

  it('a new container is active', async () => {
    const container = await h.create();
    expect((await container.info()).state).toBe('active');
  });

  it('lookup returns a usable container with the same handle', async () => {
    const created = await h.create({ properties: { 'contract.lookup': 'found' } });
    const found = await h.client.lookup(created.handle);
    expect(found.handle).toBe(created.handle);
    expect(await found.property('contract.lookup')).toBe('found');
  });

  it('lookup of an unknown handle fails with ContainerNotFoundError', async () => {
    const handle = h.handle('never-created');
    const err = await rejectionOf(h.client.lookup(handle));
    expect(err).toBeInstanceOf(ContainerNotFoundError);
    expect((err as ContainerNotFoundError).code).toBe(ErrorCode.ContainerNotFound);
    expect((err as ContainerNotFoundError).handle).toBe(handle);
  });

  it('destroy removes the container from lookup and listing', async () => {
    const container = await h.create();
    await h.client.destroy(container.handle);
    expect(await rejectionOf(h.client.lookup(container.handle))).toBeInstanceOf(ContainerNotFoundError);
    const handles = (await h.client.containers()).map((c) => c.handle);
    expect(handles).not.toContain(container.handle);
  });

  it('destroy of an unknown handle fails with ContainerNotFoundError naming it', async () => {
    const handle = h.handle('unknown');
    const err = await rejectionOf(h.client.destroy(handle));
    expect(err).toBeInstanceOf(ContainerNotFoundError);
    expect((err as ContainerNotFoundError).code).toBe(ErrorCode.ContainerNotFound);
    expect((err as ContainerNotFoundError).handle).toBe(handle);
    expect((err as Error).message).toBe(`unknown handle: ${handle}`);
  });

  it('a second destroy of the same handle fails with ContainerNotFoundError', async () => {
    const container = await h.create();
    await h.client.destroy(container.handle);
    const err = await rejectionOf(h.client.destroy(container.handle));
    expect(err).toBeInstanceOf(ContainerNotFoundError);
    expect((err as ContainerNotFoundError).handle).toBe(container.handle);
  });

  it('a handle can be reused after its container is destroyed', async () => {
    const handle = h.handle('reused');
    await h.create({ handle, properties: { generation: '1' } });
    await h.client.destroy(handle);
    const again = await h.create({ handle, properties: { generation: '2' } });
    expect(again.handle).toBe(handle);
    expect(await again.property('generation')).toBe('2');
  });

  it('containers() lists every created container', async () => {
    const a = await h.create();
    const b = await h.create();
    const handles = (await h.client.containers()).map((c) => c.handle);
    expect(handles).toEqual(expect.arrayContaining([a.handle, b.handle]));
  });

  it('containers() with a property filter returns only matching containers', async () => {
    const tag = h.handle('tag');
    const match = await h.create({ properties: { 'contract.tag': tag } });
    await h.create({ properties: { 'contract.tag': `${tag}-other` } });
    await h.create();
    const handles = (await h.client.containers({ 'contract.tag': tag })).map((c) => c.handle);
    expect(handles).toEqual([match.handle]);
  });

  it('containers() ANDs several property filters', async () => {
    const tag = h.handle('and');
    const both = await h.create({ properties: { 'contract.a': tag, 'contract.b': 'yes' } });
    await h.create({ properties: { 'contract.a': tag, 'contract.b': 'no' } });
    await h.create({ properties: { 'contract.a': tag } });
    await h.create({ properties: { 'contract.b': 'yes' } });
    const handles = (await h.client.containers({ 'contract.a': tag, 'contract.b': 'yes' })).map(
      (c) => c.handle,
    );
    expect(handles).toEqual([both.handle]);
  });

  it('containers() with a filter matching nothing returns an empty list', async () => {
    await h.create({ properties: { 'contract.present': 'x' } });
    expect(await h.client.containers({ 'contract.present': h.handle('absent-value') })).toEqual([]);
  });

  it('containers() filters on properties set after create', async () => {
    const tag = h.handle('later');
    const container = await h.create();
    expect(await h.client.containers({ 'contract.later': tag })).toEqual([]);
    await container.setProperty('contract.later', tag);
    const handles = (await h.client.containers({ 'contract.later': tag })).map((c) => c.handle);
    expect(handles).toEqual([container.handle]);
  });

  it('listed containers are usable handles', async () => {
    const tag = h.handle('usable');
    await h.create({ properties: { 'contract.usable': tag } });
    const [listed] = await h.client.containers({ 'contract.usable': tag });
    expect(listed).toBeDefined();
    expect(await listed!.property('contract.usable')).toBe(tag);
  });

  it('destroy ends the processes of the container', async () => {
    const container = await h.create();
    const process = await container.run({ path: 'sleep', args: ['100'] }, {});
    await h.client.destroy(container.handle);
    // The wait must settle (with a signal status, or a rejection when the record went away).
    const outcome = await Promise.race([
      process.wait().then(
        (code) => `exited ${code}`,
        () => 'rejected',
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('still running'), h.ms(3000))),
    ]);
    expect(outcome).not.toBe('still running');
  });

  it.skipIf(!h.caps.privileged)(
    'a privileged container can be created and runs processes (caps.privileged)',
    async () => {
      const container = await h.create({ privileged: true });
      expect((await container.info()).state).toBe('active');
      expect((await runToExit(container, { path: 'echo', args: ['privileged'] })).stdout).toBe(
        'privileged\n',
      );
    },
  );

  it('container env given at create is visible to processes', async () => {
    const container = await h.create({ env: ['FROM_CREATE=yes'] });
    expect((await runToExit(container, { path: 'env' })).stdout.split('\n')).toContain('FROM_CREATE=yes');
  });
}
