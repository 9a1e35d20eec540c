import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ImageSource, parseImage, resolveImage } from './image-uri.js';

describe('image choice by scheme', () => {
  it('accepts directories and raw://, refuses both fields and a missing default', () => {
    expect(parseImage('raw:///tmp', undefined, undefined)).toEqual({
      kind: 'raw',
      uri: 'raw:///tmp',
      path: '/tmp',
    });
    expect(parseImage(undefined, undefined, '/tmp')).toEqual({ kind: 'dir', uri: '/tmp', path: '/tmp' });
    expect(parseImage(undefined, '/srv', '/tmp')).toMatchObject({ kind: 'dir', path: '/srv' });
    expect(() => parseImage('/a', '/b', undefined)).toThrow('Cannot provide both Image.URI and RootFSPath');
    expect(() => parseImage('', undefined, undefined)).toThrow(/no default rootfs/);
    expect(() => parseImage('relative/dir', undefined, undefined)).toThrow(/absolute/);
    expect(() => parseImage('/a,b', undefined, undefined)).toThrow(/must not contain/);
  });

  it('refuses a scheme no image source serves, naming it', () => {
    expect(() => parseImage('docker:///busybox', undefined, undefined)).toThrow(
      'no image plugin configured for docker:// images (docker:///busybox)',
    );
    expect(() => parseImage(undefined, 'preloaded:cflinuxfs4', undefined)).toThrow(
      /^no image plugin configured for preloaded:\/\/ images/,
    );
  });

  it('hands other schemes to the source registered for them', async () => {
    const asked: string[] = [];
    const source: ImageSource = {
      schemes: ['docker', 'oci'],
      async resolve(uri, credentials) {
        asked.push(`${uri} ${credentials.username ?? ''}`);
        return { path: '/images/x', raw: false };
      },
    };
    const request = parseImage(undefined, 'Docker:///busybox#1.37', undefined, [source]);
    expect(request).toMatchObject({ kind: 'source', scheme: 'docker' });
    expect(await resolveImage(request, { username: 'u' })).toEqual({ path: '/images/x', raw: false });
    expect(asked).toEqual(['Docker:///busybox#1.37 u']);
    expect(() => parseImage('tar:///x.tar', undefined, undefined, [source])).toThrow(/tar:\/\//);
  });

  it('resolves a directory to its real path; a missing one or a file fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'image-uri-'));
    try {
      writeFileSync(join(dir, 'image.tar'), '');
      expect(await resolveImage(parseImage(`raw://${dir}`, undefined, undefined))).toEqual({
        path: dir,
        raw: true,
      });
      await expect(resolveImage(parseImage(join(dir, 'nope'), undefined, undefined))).rejects.toThrow(
        /no such directory/,
      );
      await expect(resolveImage(parseImage(join(dir, 'image.tar'), undefined, undefined))).rejects.toThrow(
        /not a directory \(tarball images need an image plugin\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
