// See btrfs.h. Each function opens what it needs, makes one to a few ioctls and closes again:
// nothing is cached, so a function can never act on a stale fd of an unmounted store.
#include "btrfs.h"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/loop.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

namespace garden {
namespace btrfs {
namespace {

// Newer than the installed uapi headers: simple quotas (6.7).
constexpr uint64_t kQuotaCtlEnableSimple = 4;

bool Fail(Error& e, const char* syscall) {
  e.err = errno;
  e.syscall = syscall;
  return false;
}

// An O_RDONLY|O_DIRECTORY fd closed on scope exit.
struct Dir {
  int fd;
  explicit Dir(const std::string& path) : fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
  ~Dir() {
    if (fd >= 0) close(fd);
  }
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
};

bool NameFits(const std::string& name, Error& e) {
  if (name.empty() || name.size() >= BTRFS_SUBVOL_NAME_MAX || name.find('/') != std::string::npos) {
    e.err = EINVAL;
    e.syscall = "subvolume name";
    return false;
  }
  return true;
}

// The id of the subvolume holding the open directory `fd`.
bool LookupId(int fd, uint64_t& id, Error& e) {
  struct btrfs_ioctl_ino_lookup_args l;
  memset(&l, 0, sizeof l);
  l.objectid = BTRFS_FIRST_FREE_OBJECTID;
  if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &l) != 0) return Fail(e, "ioctl(BTRFS_IOC_INO_LOOKUP)");
  id = l.treeid;
  return true;
}

}  // namespace

bool Fsid(const std::string& path, std::string& fsid, Error& e) {
  Dir d(path);
  if (d.fd < 0) return Fail(e, "open");
  struct btrfs_ioctl_fs_info_args info;
  memset(&info, 0, sizeof info);
  if (ioctl(d.fd, BTRFS_IOC_FS_INFO, &info) != 0) return Fail(e, "ioctl(BTRFS_IOC_FS_INFO)");
  char out[37];
  const unsigned char* u = info.fsid;
  snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4],
           u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  fsid = out;
  return true;
}

bool QuotaEnable(const std::string& path, bool simple, Error& e) {
  Dir d(path);
  if (d.fd < 0) return Fail(e, "open");
  struct btrfs_ioctl_quota_ctl_args q;
  memset(&q, 0, sizeof q);
  q.cmd = simple ? kQuotaCtlEnableSimple : BTRFS_QUOTA_CTL_ENABLE;
  if (ioctl(d.fd, BTRFS_IOC_QUOTA_CTL, &q) != 0) return Fail(e, "ioctl(BTRFS_IOC_QUOTA_CTL)");
  return true;
}


bool QuotaRescan(const std::string& path, bool wait, Error& e) {
  Dir d(path);
  if (d.fd < 0) return Fail(e, "open");
  struct btrfs_ioctl_quota_rescan_args r;
  memset(&r, 0, sizeof r);
  if (ioctl(d.fd, BTRFS_IOC_QUOTA_RESCAN, &r) != 0 && errno != EINPROGRESS) return Fail(e, "ioctl(BTRFS_IOC_QUOTA_RESCAN)");
  if (wait && ioctl(d.fd, BTRFS_IOC_QUOTA_RESCAN_WAIT) != 0) return Fail(e, "ioctl(BTRFS_IOC_QUOTA_RESCAN_WAIT)");
  return true;
}

bool SubvolumeId(const std::string& path, uint64_t& id, Error& e) {
  Dir d(path);
  if (d.fd < 0) return Fail(e, "open");
  return LookupId(d.fd, id, e);
}

bool SubvolumeCreate(const std::string& parent, const std::string& name, uint64_t maxReferenced, uint64_t& id, Error& e) {
  if (!NameFits(name, e)) return false;
  Dir d(parent);
  if (d.fd < 0) return Fail(e, "open");
  struct btrfs_ioctl_vol_args_v2 v;
  memset(&v, 0, sizeof v);
  memcpy(v.name, name.data(), name.size());
  struct btrfs_qgroup_inherit inherit;
  memset(&inherit, 0, sizeof inherit);
  if (maxReferenced > 0) {
    // The new qgroup gets its limit atomically with the subvolume: no second ioctl, no window.
    inherit.flags = BTRFS_QGROUP_INHERIT_SET_LIMITS;
    inherit.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
    inherit.lim.max_rfer = maxReferenced;
    v.flags = BTRFS_SUBVOL_QGROUP_INHERIT;
    v.size = sizeof inherit;
    v.qgroup_inherit = &inherit;
  }
  if (ioctl(d.fd, BTRFS_IOC_SUBVOL_CREATE_V2, &v) != 0) return Fail(e, "ioctl(BTRFS_IOC_SUBVOL_CREATE_V2)");
  int sub = openat(d.fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sub < 0) return Fail(e, "openat");
  bool ok = LookupId(sub, id, e);
  close(sub);
  return ok;
}

bool SubvolumeDelete(const std::string& parent, const std::string& name, Error& e) {
  if (!NameFits(name, e)) return false;
  Dir d(parent);
  if (d.fd < 0) return Fail(e, "open");
  struct btrfs_ioctl_vol_args v;
  memset(&v, 0, sizeof v);
  memcpy(v.name, name.data(), name.size());
  if (ioctl(d.fd, BTRFS_IOC_SNAP_DESTROY, &v) != 0) {
    if (errno == ENOENT) return true;
    return Fail(e, "ioctl(BTRFS_IOC_SNAP_DESTROY)");
  }
  // The cleaner thread drops a deleted subvolume after a transaction commit: start one now
  // instead of waiting for the periodic one (30 s by default).
  return StartCommit(parent, e);
}

bool StartCommit(const std::string& path, Error& e) {
  Dir d(path);
  if (d.fd < 0) return Fail(e, "open");
  uint64_t transid = 0;
  if (ioctl(d.fd, BTRFS_IOC_START_SYNC, &transid) != 0) return Fail(e, "ioctl(BTRFS_IOC_START_SYNC)");
  return true;
}

bool QgroupLimit(const std::string& path, uint64_t id, uint64_t maxReferenced, Error& e) {
  Dir d(path);
  if (d.fd < 0) return Fail(e, "open");
  struct btrfs_ioctl_qgroup_limit_args l;
  memset(&l, 0, sizeof l);
  l.qgroupid = id;
  l.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
  // The kernel's "no limit" is the flag with the value all ones (it clears the limit).
  l.lim.max_rfer = maxReferenced == 0 ? ~0ULL : maxReferenced;
  if (ioctl(d.fd, BTRFS_IOC_QGROUP_LIMIT, &l) != 0) return Fail(e, "ioctl(BTRFS_IOC_QGROUP_LIMIT)");
  return true;
}

bool QgroupDestroy(const std::string& path, uint64_t id, Error& e) {
  Dir d(path);
  if (d.fd < 0) return Fail(e, "open");
  struct btrfs_ioctl_qgroup_create_args c;
  memset(&c, 0, sizeof c);
  c.create = 0;
  c.qgroupid = id;
  if (ioctl(d.fd, BTRFS_IOC_QGROUP_CREATE, &c) != 0 && errno != ENOENT) return Fail(e, "ioctl(BTRFS_IOC_QGROUP_CREATE)");
  return true;
}

bool CountInodes(const std::string& path, uint64_t id, uint64_t& count, Error& e) {
  Dir d(path);
  if (d.fd < 0) return Fail(e, "open");
  // The search key is one 136-bit range (objectid, type, offset): every item of every inode in
  // it comes back, so only the INODE_ITEMs are counted. 64 KiB holds a few hundred inodes' items.
  constexpr size_t kBuf = 64 * 1024;
  std::vector<uint64_t> mem((sizeof(struct btrfs_ioctl_search_args_v2) + kBuf) / sizeof(uint64_t) + 1);
  auto* a = reinterpret_cast<struct btrfs_ioctl_search_args_v2*>(mem.data());
  uint64_t objectid = BTRFS_FIRST_FREE_OBJECTID + 1, type = 0, offset = 0;
  count = 0;
  for (;;) {
    memset(&a->key, 0, sizeof a->key);
    a->key.tree_id = id;
    a->key.min_objectid = objectid;
    a->key.min_type = static_cast<uint32_t>(type);
    a->key.min_offset = offset;
    a->key.max_objectid = BTRFS_LAST_FREE_OBJECTID;
    a->key.max_type = 0xff;
    a->key.max_offset = ~0ULL;
    a->key.max_transid = ~0ULL;
    a->key.nr_items = ~0U;
    a->buf_size = kBuf;
    if (ioctl(d.fd, BTRFS_IOC_TREE_SEARCH_V2, a) != 0) return Fail(e, "ioctl(BTRFS_IOC_TREE_SEARCH_V2)");
    if (a->key.nr_items == 0) return true;
    size_t pos = 0;
    struct btrfs_ioctl_search_header h;
    for (uint32_t i = 0; i < a->key.nr_items; i++) {
      memcpy(&h, a->buf + pos, sizeof h);
      pos += sizeof h + h.len;
      if (h.type == BTRFS_INODE_ITEM_KEY) count++;
    }
    // Continue after the last key returned.
    objectid = h.objectid;
    type = h.type;
    offset = h.offset;
    if (++offset == 0 && ++type > 0xff) {
      type = 0;
      if (++objectid > BTRFS_LAST_FREE_OBJECTID || objectid == 0) return true;
    }
  }
}

bool LoopMount(const std::string& image, const std::string& target, const std::string& fstype, unsigned long flags,
               const std::string& data, std::string& device, Error& e) {
  int file = open(image.c_str(), O_RDWR | O_CLOEXEC);
  if (file < 0) return Fail(e, "open");
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) {
    Fail(e, "open(/dev/loop-control)");
    close(file);
    return false;
  }
  int loop = -1;
  // Another process may take the free device between GET_FREE and CONFIGURE (EBUSY): ask again.
  for (int attempt = 0; attempt < 64 && loop < 0; attempt++) {
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (n < 0) {
      Fail(e, "ioctl(LOOP_CTL_GET_FREE)");
      break;
    }
    char path[32];
    snprintf(path, sizeof path, "/dev/loop%d", n);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENXIO) continue;  // removed meanwhile
      Fail(e, "open(/dev/loopN)");
      break;
    }
    struct loop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.fd = static_cast<uint32_t>(file);
    cfg.block_size = 4096;
    // Autoclear: the device detaches itself at its last close, i.e. when the mount goes (or at
    // once, should this process die before mounting). Direct I/O: no second page cache copy.
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
    int r = ioctl(fd, LOOP_CONFIGURE, &cfg);
    if (r != 0 && errno == EINVAL) {
      cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;  // the backing filesystem has no O_DIRECT
      cfg.block_size = 0;
      r = ioctl(fd, LOOP_CONFIGURE, &cfg);
    }
    if (r == 0) {
      loop = fd;
      device = path;
      break;
    }
    int err = errno;
    close(fd);
    if (err != EBUSY) {
      errno = err;
      Fail(e, "ioctl(LOOP_CONFIGURE)");
      break;
    }
  }
  close(ctl);
  close(file);
  if (loop < 0) {
    if (e.err == 0) {
      e.err = EBUSY;
      e.syscall = "ioctl(LOOP_CONFIGURE)";
    }
    return false;
  }
  bool ok = mount(device.c_str(), target.c_str(), fstype.c_str(), flags, data.c_str()) == 0;
  if (!ok) Fail(e, "mount");
  close(loop);  // the mount holds the device now; without one this detaches it
  return ok;
}

}  // namespace btrfs
}  // namespace garden
