import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { userInRoot } from './users.js';

describe('users inside a container root', () => {
  it('reads passwd and group through the root, symlinks resolved inside it', () => {
    const root = mkdtempSync(join(tmpdir(), 'users-'));
    try {
      mkdirSync(join(root, 'data'));
      mkdirSync(join(root, 'etc'));
      writeFileSync(
        join(root, 'data', 'passwd'),
        'root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n',
      );
      writeFileSync(join(root, 'etc', 'group'), 'wheel:x:10:alice\n');
      // An absolute link inside an image points into the image, never at the host's /etc.
      symlinkSync('/data/passwd', join(root, 'etc', 'passwd'));
      expect(userInRoot(root, 'alice')).toMatchObject({ uid: 1001, groups: [1001, 10], home: '/home/alice' });
      expect(() => userInRoot(root, 'nobody')).toThrow(/unable to find user nobody/);
      rmSync(join(root, 'etc', 'passwd'));
      expect(userInRoot(root, 'root')).toMatchObject({ uid: 0, gid: 0, home: '/' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
