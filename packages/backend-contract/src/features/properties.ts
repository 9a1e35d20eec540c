import { ContainerNotFoundError, GardenError } from '@garden-ts/api-types';
import { expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { rejectionOf } from '../support/errors.js';

/** Container properties: create-time, set/get/remove and their error texts. */
export function properties(h: Harness): void {
  it('properties given at create are returned by properties()', async () => {
    const container = await h.create({ properties: { owner: 'contract', 'contract.size': 'small' } });
    expect(await container.properties()).toMatchObject({ owner: 'contract', 'contract.size': 'small' });
  });

  it('a property given at create is returned by property()', async () => {
    const container = await h.create({ properties: { owner: 'contract' } });
    expect(await container.property('owner')).toBe('contract');
  });

  it('setProperty then property returns the value', async () => {
    const container = await h.create();
    await container.setProperty('colour', 'green');
    expect(await container.property('colour')).toBe('green');
  });

  it('setProperty overwrites an existing value', async () => {
    const container = await h.create({ properties: { colour: 'red' } });
    await container.setProperty('colour', 'blue');
    expect(await container.property('colour')).toBe('blue');
    expect((await container.properties()).colour).toBe('blue');
  });

  it('setProperty adds to properties() without dropping the others', async () => {
    const container = await h.create({ properties: { first: '1' } });
    await container.setProperty('second', '2');
    expect(await container.properties()).toMatchObject({ first: '1', second: '2' });
  });

  it('an empty value is stored as the empty string', async () => {
    const container = await h.create();
    await container.setProperty('blank', '');
    expect(await container.property('blank')).toBe('');
    expect(await container.properties()).toHaveProperty('blank', '');
  });

  it('keys and values with punctuation, spaces and unicode round-trip', async () => {
    const container = await h.create();
    const entries: Array<[string, string]> = [
      ['executor:owner', 'diego & friends'],
      ['network.app-id', 'a=b;c?d#e'],
      ['log_config', '{"guid":"x","index":1}'],
      ['unicode', 'grüße ✓ <tag> "quoted"'],
    ];
    for (const [key, value] of entries) await container.setProperty(key, value);
    for (const [key, value] of entries) expect(await container.property(key)).toBe(value);
    expect(await container.properties()).toMatchObject(Object.fromEntries(entries));
  });

  it('a missing property fails with `property does not exist: <key>`', async () => {
    const container = await h.create();
    const err = await rejectionOf(container.property('missing-key'));
    expect(err).toBeInstanceOf(GardenError);
    expect(err).not.toBeInstanceOf(ContainerNotFoundError);
    expect((err as Error).message).toContain('property does not exist: missing-key');
  });

  it('removeProperty makes property() fail', async () => {
    const container = await h.create({ properties: { doomed: 'soon' } });
    await container.removeProperty('doomed');
    const err = await rejectionOf(container.property('doomed'));
    expect((err as Error).message).toContain('property does not exist: doomed');
  });

  it('removeProperty drops the key from properties() and keeps the rest', async () => {
    const container = await h.create({ properties: { keep: 'me', drop: 'me' } });
    await container.removeProperty('drop');
    const props = await container.properties();
    expect(props).not.toHaveProperty('drop');
    expect(props).toHaveProperty('keep', 'me');
  });

  it('a removed property can be set again', async () => {
    const container = await h.create({ properties: { phoenix: 'old' } });
    await container.removeProperty('phoenix');
    await container.setProperty('phoenix', 'new');
    expect(await container.property('phoenix')).toBe('new');
  });

  it('properties are per container', async () => {
    const a = await h.create({ properties: { who: 'a' } });
    const b = await h.create({ properties: { who: 'b' } });
    await a.setProperty('only-a', 'yes');
    expect(await a.property('who')).toBe('a');
    expect(await b.property('who')).toBe('b');
    expect(await b.properties()).not.toHaveProperty('only-a');
  });

  it('properties are visible through a container obtained by lookup', async () => {
    const created = await h.create();
    await created.setProperty('via', 'lookup');
    const found = await h.client.lookup(created.handle);
    expect(await found.property('via')).toBe('lookup');
  });
}
