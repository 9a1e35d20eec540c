import { FileTree } from './file-tree.js';

/** The users every fake container knows, as in a small busybox-style image. */
export const SEED_PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'operator:x:37:37:Operator:/var:/bin/sh',
  'vcap:x:2000:2000::/home/vcap:/bin/sh',
  'alice:x:1000:1000::/home/alice:/bin/sh',
  'bob:x:1001:1001::/home/bob:/bin/sh',
  'nobody:x:65534:65534:nobody:/home:/bin/false',
];

export const SEED_GROUP = [
  'root:x:0:',
  'wheel:x:10:root',
  'operator:x:37:',
  'alice:x:1000:',
  'bob:x:1001:',
  'vcap:x:2000:',
  'nogroup:x:65534:',
];

const ROOT = { uid: 0, gid: 0 };

/**
 * Builds the initial tree of a container: `/etc/{passwd,group,hostname,hosts,resolv.conf}`, user
 * homes owned by their users (0755), `/root` (0700), `/tmp` (1777), `/bin`, `/usr/bin`, `/var`.
 * There are no device nodes.
 */
export function seedRootfs(handle: string, now: () => Date): FileTree {
  const tree = new FileTree(now);
  for (const dir of ['/bin', '/etc', '/home', '/usr/bin', '/usr/local/bin', '/var', '/proc', '/dev']) {
    tree.mkdirp(dir, ROOT);
  }
  tree.mkdirp('/root', ROOT, 0o700);
  tree.mkdirp('/tmp', ROOT, 0o1777);
  for (const [name, id] of [
    ['alice', 1000],
    ['bob', 1001],
    ['vcap', 2000],
  ] as const) {
    tree.mkdirp(`/home/${name}`, { uid: id, gid: id });
  }
  tree.writeFile('/etc/passwd', Buffer.from(`${SEED_PASSWD.join('\n')}\n`), 0o644, ROOT);
  tree.writeFile('/etc/group', Buffer.from(`${SEED_GROUP.join('\n')}\n`), 0o644, ROOT);
  tree.writeFile('/etc/hostname', Buffer.from(`${handle.slice(0, 63)}\n`), 0o644, ROOT);
  tree.writeFile(
    '/etc/hosts',
    Buffer.from(`127.0.0.1 localhost\n127.0.0.1 ${handle.slice(0, 63)}\n`),
    0o644,
    ROOT,
  );
  tree.writeFile('/etc/resolv.conf', Buffer.from('nameserver 127.0.0.1\n'), 0o644, ROOT);
  return tree;
}
