// The disk store's kernel primitives: btrfs subvolumes and qgroups (per-container disk quotas)
// and a loop-backed mount of a filesystem image. Plain functions returning false with an errno
// and the failing syscall; no N-API here (btrfs_binding.cc wraps them), so native-tests can run
// them under valgrind and LeakSanitizer.
#pragma once

#include <cstdint>
#include <string>

namespace garden {
namespace btrfs {

struct Error {
  int err = 0;
  const char* syscall = "";
};

// The filesystem id (`/sys/fs/btrfs/<fsid>/`) of the btrfs holding `path`, as a lowercase UUID.
bool Fsid(const std::string& path, std::string& fsid, Error& e);

// Turns quotas on for the filesystem holding `path` (BTRFS_IOC_QUOTA_CTL); `simple` asks for
// simple quotas (kernel >= 6.7: owner-based accounting, no backref walks). Already on: no-op.
bool QuotaEnable(const std::string& path, bool simple, Error& e);

// Starts a rescan of the qgroup accounting (full qgroups; one already running is fine) and, with
// `wait`, blocks until it is done. Full qgroups enforce no limit while their accounting is
// inconsistent (after quotas are turned on, after dropping a deep subvolume) until a rescan ends.
bool QuotaRescan(const std::string& path, bool wait, Error& e);

// Creates subvolume `name` in directory `parent` and returns its id (= its level-0 qgroup);
// `maxReferenced` > 0 gives its qgroup that limit in the same ioctl (quotas must be on).
bool SubvolumeCreate(const std::string& parent, const std::string& name, uint64_t maxReferenced, uint64_t& id, Error& e);

// The subvolume id of the subvolume holding `path` (BTRFS_IOC_INO_LOOKUP).
bool SubvolumeId(const std::string& path, uint64_t& id, Error& e);

// Deletes subvolume `name` of `parent` with everything in it (the kernel's cleaner drops its
// tree in the background) and starts a commit so the cleaner runs now rather than at the next
// periodic one. A missing subvolume is not an error.
bool SubvolumeDelete(const std::string& parent, const std::string& name, Error& e);

// Starts a transaction commit of the filesystem holding `path` without waiting for it (the
// cleaner drops deleted subvolumes after a commit).
bool StartCommit(const std::string& path, Error& e);

// Sets qgroup 0/`id`'s limit on referenced bytes (the subvolume's whole content); 0 = none.
bool QgroupLimit(const std::string& path, uint64_t id, uint64_t maxReferenced, Error& e);

// Removes qgroup 0/`id`; a missing one is not an error (EBUSY: its subvolume still exists).
bool QgroupDestroy(const std::string& path, uint64_t id, Error& e);

// Number of inodes in subvolume `id` (its INODE_ITEMs, found with BTRFS_IOC_TREE_SEARCH_V2),
// the subvolume's own root directory not counted.
bool CountInodes(const std::string& path, uint64_t id, uint64_t& count, Error& e);

// Attaches `image` to a free loop device (LOOP_CTL_GET_FREE + LOOP_CONFIGURE, autoclear, direct
// I/O when the backing filesystem allows it) and mounts it at `target` as `fstype` with `data`;
// the loop device detaches itself when that mount goes. `flags`: MS_* mount flags. Returns the
// device path.
bool LoopMount(const std::string& image, const std::string& target, const std::string& fstype, unsigned long flags,
               const std::string& data, std::string& device, Error& e);

}  // namespace btrfs
}  // namespace garden
