import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GardenError } from '@garden-ts/api-types';
import { errorFields } from '@garden-ts/backend-kit';
import { describe, expect, it } from 'vitest';
import { type ContainerRecord, StateStore } from './state-store.js';

const record = (id: string): ContainerRecord => ({
  version: 1,
  handle: `h-${id}`,
  id,
  phase: 'created',
  createdAt: 1,
  privileged: false,
  hostname: id,
  lowerDir: '/l',
  env: [],
  properties: { a: 'b' },
  limits: {},
  graceTime: '0',
  stopped: false,
  events: [],
  oomKills: 0,
  cgroupPath: `garden/${id}`,
});

describe('state store', () => {
  it('round-trips records and refuses foreign ones', () => {
    const depot = mkdtempSync(join(tmpdir(), 'state-store-'));
    try {
      const store = new StateStore(depot);
      mkdirSync(store.dirOf('c1'));
      store.write(record('c1'));
      expect(store.read('c1')).toEqual(record('c1'));
      expect(store.read('missing')).toBeUndefined();
      mkdirSync(store.dirOf('c2'));
      store.write({ ...record('c1'), id: 'c2', handle: 'x' });
      expect(store.read('c2')?.handle).toBe('x');
      expect(store.entries().sort()).toEqual(['c1', 'c2']);
    } finally {
      rmSync(depot, { recursive: true, force: true });
    }
  });

  it('a failed write is a GardenError keeping the file system error as cause; the old record stays', () => {
    const depot = mkdtempSync(join(tmpdir(), 'state-store-'));
    try {
      const store = new StateStore(depot);
      mkdirSync(store.dirOf('c1'));
      store.write(record('c1'));
      // (Root ignores permissions: a missing directory makes the write fail.)
      const err = (() => {
        try {
          store.write(record('gone'));
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(GardenError);
      expect((err as Error).message).toMatch(/^saving the container record failed: ENOENT/);
      expect(errorFields(err)).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'open' });
      expect(store.read('c1')).toEqual(record('c1'));
    } finally {
      rmSync(depot, { recursive: true, force: true });
    }
  });
});
