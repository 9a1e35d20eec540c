import { afterEach, expect, it } from 'vitest';
import { nativeArtifacts } from './native.js';

const saved = process.env.GARDEN_NATIVE_NS_BUILD;
afterEach(() => {
  if (saved === undefined) delete process.env.GARDEN_NATIVE_NS_BUILD;
  else process.env.GARDEN_NATIVE_NS_BUILD = saved;
});

it('nativeArtifacts follows GARDEN_NATIVE_NS_BUILD whenever it changes', () => {
  process.env.GARDEN_NATIVE_NS_BUILD = '/opt/a';
  expect(nativeArtifacts()).toEqual({
    addon: '/opt/a/garden_ns.node',
    init: '/opt/a/garden-init',
    shim: '/opt/a/garden-shim',
  });
  process.env.GARDEN_NATIVE_NS_BUILD = '/opt/b';
  expect(nativeArtifacts().shim).toBe('/opt/b/garden-shim');
  delete process.env.GARDEN_NATIVE_NS_BUILD;
  expect(nativeArtifacts().shim).toMatch(/\/build\/Release\/garden-shim$/);
  // a caller changing what it got changes nothing for the next one
  const a = nativeArtifacts();
  a.shim = '/elsewhere';
  expect(nativeArtifacts().shim).toMatch(/\/build\/Release\/garden-shim$/);
});
