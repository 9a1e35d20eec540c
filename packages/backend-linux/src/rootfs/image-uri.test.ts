import { GardenError, InvalidRequestError } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { type ImageSource, parseImage } from './image-uri.js';

describe('image choice', () => {
  it('takes every form Guardian accepts, refuses both fields and a missing default', () => {
    for (const uri of [
      'raw:///tmp',
      '/srv/rootfs',
      '/srv/rootfs.tar',
      'docker:///busybox#1.36',
      'docker://127.0.0.1:5000/app',
      'oci:///images/layout#v1',
      'preloaded:cflinuxfs4',
      `preloaded+layer:cflinuxfs4?layer=http%3A%2F%2Fx%2Fd.tgz&layer_path=/home/vcap&layer_digest=${'a'.repeat(64)}`,
    ])
      expect(parseImage(undefined, uri, undefined)).toEqual({ kind: 'image', uri });
    expect(parseImage(undefined, undefined, '/tmp')).toEqual({ kind: 'image', uri: '/tmp' });
    expect(parseImage(undefined, '/srv', '/tmp')).toEqual({ kind: 'image', uri: '/srv' });
    expect(() => parseImage('/a', '/b', undefined)).toThrow(
      new GardenError('Cannot provide both Image.URI and RootFSPath'),
    );
    expect(() => parseImage('', undefined, undefined)).toThrow(/no default rootfs/);
  });

  it('refuses bad URIs and unknown schemes with a 400 naming the field', () => {
    const refused = (rootfs: string | undefined, uri: string | undefined, field: string, text: RegExp) => {
      let err: unknown;
      try {
        parseImage(rootfs, uri, undefined);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err).toMatchObject({ field, statusCode: 400 });
      expect((err as Error).message).toMatch(text);
      expect((err as Error).cause).toBeDefined();
    };
    refused(undefined, 's3://bucket/rootfs.tar', 'image.uri', /unsupported image URI scheme "s3"/);
    refused('relative/dir', undefined, 'rootfs', /absolute path/);
    refused(undefined, 'docker:///Bad', 'image.uri', /invalid repository/);
    expect(() => parseImage('/a,b', undefined, undefined)).toThrow(/must not contain/);
  });

  it('hands a scheme of a registered source to that source', () => {
    const source: ImageSource = {
      schemes: ['test', 'docker'],
      async resolve() {
        return { path: '/images/x', raw: false };
      },
    };
    expect(parseImage(undefined, 'Test:///thing', undefined, [source])).toMatchObject({
      kind: 'source',
      scheme: 'test',
    });
    // A source may take over a built-in scheme too.
    expect(parseImage(undefined, 'docker:///busybox', undefined, [source])).toMatchObject({ kind: 'source' });
    expect(parseImage(undefined, 'oci:///x', undefined, [source])).toMatchObject({ kind: 'image' });
  });
});
