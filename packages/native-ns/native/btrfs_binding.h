// N-API bindings of the disk store's primitives (btrfs.h): subvolumes, qgroups, quota, inode
// counts and loop-backed mounts.
#pragma once

#include <napi.h>

namespace garden {

// Adds btrfsFsid, btrfsSubvolumeId, btrfsQuotaEnable, btrfsQuotaRescan, btrfsSubvolumeCreate, btrfsSubvolumeDelete,
// btrfsStartCommit, btrfsQgroupLimit, btrfsQgroupDestroy, btrfsCountInodes and loopMount to `exports`.
void RegisterBtrfs(Napi::Env env, Napi::Object exports);

}  // namespace garden
