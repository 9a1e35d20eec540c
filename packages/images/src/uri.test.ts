import { describe, expect, it } from 'vitest';
import { ImageErrorCode, ImageUriError } from './errors.js';
import { formatDockerReference, parseImageUri } from './uri.js';

const docker = (uri: string) => {
  const s = parseImageUri(uri);
  if (s.kind !== 'docker') throw new Error(`not docker: ${s.kind}`);
  return formatDockerReference(s);
};

const fails = (uri: string, field: string, code: string = ImageErrorCode.InvalidUri) => {
  let err: unknown;
  try {
    parseImageUri(uri);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ImageUriError);
  expect(err).toMatchObject({ field, code });
  return (err as Error).message;
};

describe('parseImageUri', () => {
  it('takes plain absolute paths (directory or tarball, decided later) and raw://', () => {
    expect(parseImageUri('/var/vcap/rootfs.tar')).toEqual({ kind: 'path', path: '/var/vcap/rootfs.tar' });
    expect(parseImageUri('raw:///some/dir')).toEqual({ kind: 'raw', path: '/some/dir' });
    expect(parseImageUri('raw:///with%20space')).toEqual({ kind: 'raw', path: '/with space' });
    fails('raw://relative', 'path');
    fails('relative/path', 'uri');
    fails('', 'uri');
  });

  it('reads docker:// as Guardian does: # for the tag, empty host = Docker Hub with library/', () => {
    expect(docker('docker:///busybox')).toBe('docker.io/library/busybox:latest');
    expect(docker('docker:///busybox#1.36.1')).toBe('docker.io/library/busybox:1.36.1');
    expect(docker('docker:///onsi/grace-busybox')).toBe('docker.io/onsi/grace-busybox:latest');
    expect(docker('docker://index.docker.io/busybox')).toBe('docker.io/library/busybox:latest');
    expect(docker('docker://registry-1.docker.io/library/busybox#musl')).toBe(
      'docker.io/library/busybox:musl',
    );
    // A host part without '.', ':' or "localhost" is a Hub namespace (reference §2.2).
    expect(docker('docker://busybox')).toBe('docker.io/library/busybox:latest');
    expect(docker('docker://cloudfoundry/cflinuxfs4#latest')).toBe(
      'docker.io/cloudfoundry/cflinuxfs4:latest',
    );
    expect(docker('docker://127.0.0.1:5000/team/app#v2')).toBe('127.0.0.1:5000/team/app:v2');
    expect(docker('docker://localhost/app')).toBe('localhost/app:latest');
    expect(docker('docker://Registry.Example.com:443/a/b/c')).toBe('registry.example.com:443/a/b/c:latest');
    expect(docker('docker://[::1]:5000/app#t')).toBe('[::1]:5000/app:t');
    // Docker's own spellings work too; the fragment wins over ':tag'.
    expect(docker('docker:///busybox:1.35')).toBe('docker.io/library/busybox:1.35');
    expect(docker('docker:///busybox:1.35#1.36')).toBe('docker.io/library/busybox:1.36');
    const d = `sha256:${'a'.repeat(64)}`;
    expect(docker(`docker:///busybox@${d}`)).toBe(`docker.io/library/busybox@${d}`);
    expect(docker(`docker://127.0.0.1:5000/app#${d}`)).toBe(`127.0.0.1:5000/app@${d}`);
    // Query strings are ignored ("other parts of the URI are ignored").
    expect(docker('docker:///busybox?x=1#t')).toBe('docker.io/library/busybox:t');
  });

  it('refuses malformed docker references, naming the part', () => {
    fails('docker://', 'repository');
    fails('docker:///', 'repository');
    fails('docker:///UpperCase', 'repository');
    fails('docker:///a//b', 'repository');
    fails('docker:///busybox#bad tag', 'tag');
    fails('docker:///busybox#-dash', 'tag');
    fails('docker:///busybox@sha256:abc', 'digest');
    fails('docker:busybox', 'uri');
    fails('docker://bad_host.example:5000/app', 'host');
  });

  it('reads oci:///PATH[#TAG]', () => {
    expect(parseImageUri('oci:///images/layout')).toEqual({ kind: 'oci', path: '/images/layout' });
    expect(parseImageUri('oci:///images/layout#v1')).toEqual({
      kind: 'oci',
      path: '/images/layout',
      tag: 'v1',
    });
    fails('oci://host/layout', 'path');
    fails('oci:relative', 'uri');
  });

  it("reads Diego's preloaded: and preloaded+layer:", () => {
    expect(parseImageUri('preloaded:cflinuxfs4')).toEqual({ kind: 'preloaded', name: 'cflinuxfs4' });
    const hex = 'b'.repeat(64);
    const u = `preloaded+layer:cflinuxfs4?layer=${encodeURIComponent('https://blobs.example/droplet.tgz?sig=1')}&layer_path=/home/vcap&layer_digest=${hex}`;
    expect(parseImageUri(u)).toEqual({
      kind: 'preloaded+layer',
      name: 'cflinuxfs4',
      layer: { url: 'https://blobs.example/droplet.tgz?sig=1', path: '/home/vcap', digest: `sha256:${hex}` },
    });
    fails('preloaded:', 'name');
    fails('preloaded:../etc', 'name');
    fails('preloaded+layer:cflinuxfs4', 'layer');
    fails(`preloaded+layer:x?layer=ftp://a/b&layer_path=/p&layer_digest=${hex}`, 'layer');
    fails(`preloaded+layer:x?layer=http://a/b&layer_path=rel&layer_digest=${hex}`, 'layer_path');
    fails(`preloaded+layer:x?layer=http://a/b&layer_path=/a/../b&layer_digest=${hex}`, 'layer_path');
    fails('preloaded+layer:x?layer=http://a/b&layer_path=/p&layer_digest=abc', 'layer_digest');
  });

  it('names an unknown scheme in a clear error', () => {
    const msg = fails('s3://bucket/rootfs.tar', 'scheme', ImageErrorCode.UnsupportedScheme);
    expect(msg).toContain('unsupported image URI scheme "s3"');
    expect(msg).toContain('docker://');
    fails('https://example.com/x.tar', 'scheme', ImageErrorCode.UnsupportedScheme);
  });
});
