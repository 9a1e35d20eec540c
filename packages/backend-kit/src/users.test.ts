import { describe, expect, it } from 'vitest';
import { parseGroup, parsePasswd, resolveStreamUser, resolveUser } from './users.js';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'alice:x:1001:1001::/home/alice:/bin/sh',
  'bad line',
  '2000:x:3000:3000::/home/numeric:/bin/sh',
  '',
].join('\n');
const group = 'root:x:0:\nwheel:x:10:root,alice\nstaff:x:50:\n77:x:88:\n';

describe('resolveUser (§3.3)', () => {
  it('resolves the default user to the passwd entry of uid 0 with its groups', () => {
    expect(resolveUser('', passwd, group)).toEqual({
      name: 'root',
      uid: 0,
      gid: 0,
      groups: [0, 10],
      home: '/root',
      known: true,
    });
    expect(resolveUser(undefined, undefined, undefined)).toEqual({
      name: 'root',
      uid: 0,
      gid: 0,
      groups: [],
      home: '/',
      known: false,
    });
  });

  it('resolves names and uids with an entry, with every group listing the name', () => {
    expect(resolveUser('alice', passwd, group)).toMatchObject({
      uid: 1001,
      gid: 1001,
      groups: [1001, 10],
      home: '/home/alice',
      known: true,
    });
    expect(resolveUser('1001', passwd, group)).toMatchObject({ name: 'alice', uid: 1001 });
    // a passwd name wins over the same digits as a uid
    expect(resolveUser('2000', passwd, group)).toMatchObject({ uid: 3000, home: '/home/numeric' });
  });

  it('gives an unknown uid gid 0, home / and no supplementary groups', () => {
    expect(resolveUser('4242', passwd, group)).toEqual({
      name: '4242',
      uid: 4242,
      gid: 0,
      groups: [],
      home: '/',
      known: false,
    });
    expect(resolveUser('1000000000:1000000000', passwd, group)).toMatchObject({
      uid: 1000000000,
      gid: 1000000000,
      groups: [],
    });
  });

  it('takes an explicit group by name first, then as a gid, and then no supplementary groups', () => {
    expect(resolveUser('alice:staff', passwd, group)).toMatchObject({ uid: 1001, gid: 50, groups: [] });
    expect(resolveUser('7:8', passwd, group)).toMatchObject({ uid: 7, gid: 8, groups: [] });
    expect(resolveUser('alice:77', passwd, group)).toMatchObject({ gid: 88 });
  });

  it('resolves root in an image without /etc/passwd only', () => {
    expect(resolveUser('root', undefined, undefined)).toMatchObject({ uid: 0, gid: 0, home: '/' });
    expect(() => resolveUser('root', 'alice:x:1001:1001::/home/alice:/bin/sh\n', group)).toThrow(
      'unable to find user root: no matching entries in passwd file',
    );
  });

  it("fails with Guardian's texts", () => {
    expect(() => resolveUser('carol', passwd, group)).toThrow(
      'unable to find user carol: no matching entries in passwd file',
    );
    expect(() => resolveUser('alice:nogroup', passwd, group)).toThrow(
      'unable to find group nogroup: no matching entries in group file',
    );
    expect(() => resolveUser('4294967295', passwd, group)).toThrow(
      'uids and gids must be in range 0-2147483647',
    );
    expect(() => resolveUser('alice:2147483648', passwd, group)).toThrow(/must be in range/);
  });
});

describe('resolveStreamUser (§4)', () => {
  it('takes passwd names only, root by default', () => {
    expect(resolveStreamUser('alice', passwd, group)).toMatchObject({ uid: 1001, home: '/home/alice' });
    expect(resolveStreamUser('', passwd, group)).toMatchObject({ uid: 0, home: '/root' });
    expect(resolveStreamUser(undefined, 'alice:x:1:1::/a:/bin/sh\n', undefined)).toMatchObject({
      uid: 0,
      home: '/',
    });
    expect(() => resolveStreamUser('1001', passwd, group)).toThrow(
      'unable to find user 1001: no matching entries in passwd file',
    );
  });
});

describe('passwd and group parsing', () => {
  it('skips comments and malformed lines; an empty home is /', () => {
    expect(parsePasswd('a:x:1:2:::/bin/sh\n#c:x:1:2::/:/bin/sh\nb:x:y:2::/:/bin/sh\n')).toEqual([
      { name: 'a', uid: 1, gid: 2, home: '/' },
      { name: '#c', uid: 1, gid: 2, home: '/' },
    ]);
    expect(parseGroup('g:x:5:a,,b\nbad:x:y:\n')).toEqual([{ name: 'g', gid: 5, members: ['a', 'b'] }]);
  });
});
