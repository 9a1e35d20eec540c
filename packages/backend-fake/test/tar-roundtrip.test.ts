import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createFakeBackend } from '../src/index.js';
import { bufferStream, listTar, makeTar, type TarEntrySpec } from './helpers.js';

const segment = fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,7}$/).filter((s) => s !== '.' && s !== '..');
const fileSpec = fc.record({
  path: fc.array(segment, { minLength: 1, maxLength: 3 }),
  content: fc.string({ maxLength: 40 }),
  mode: fc.constantFrom(0o644, 0o600, 0o755, 0o700),
});

describe('tar round trip (property)', () => {
  it('streamOut(dir/) returns exactly what streamIn extracted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fileSpec, { minLength: 1, maxLength: 8 }), async (files) => {
        // Keep a consistent tree: no file may also be a directory prefix of another path.
        const byPath = new Map<string, (typeof files)[number]>();
        for (const f of files) byPath.set(f.path.join('/'), f);
        const paths = [...byPath.keys()];
        const consistent = [...byPath.entries()].filter(([p]) => !paths.some((q) => q.startsWith(`${p}/`)));
        fc.pre(consistent.length > 0);
        const entries: TarEntrySpec[] = consistent.map(([name, f]) => ({
          name,
          content: f.content,
          mode: f.mode,
        }));
        const backend = createFakeBackend();
        const container = await backend.create({});
        await container.streamIn({ path: '/data', tarStream: bufferStream(await makeTar(entries)) });
        const listed = await listTar(await container.streamOut({ path: '/data/' }));
        const files_ = listed.filter((e) => e.type === 'file');
        expect(Object.fromEntries(files_.map((e) => [e.name, [e.content, e.mode]]))).toEqual(
          Object.fromEntries(consistent.map(([name, f]) => [`./${name}`, [f.content, f.mode]])),
        );
        // Every parent directory precedes its children and names end with '/'.
        const seen = new Set<string>();
        for (const e of listed) {
          const parent = e.name.replace(/\/$/, '').replace(/\/[^/]+$/, '/');
          if (e.name !== './') expect(seen.has(parent), e.name).toBe(true);
          if (e.type === 'directory') {
            expect(e.name.endsWith('/')).toBe(true);
            seen.add(e.name);
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});
