// Filesystem syscalls Node has no binding for, used to unpack and present image layers: mknod,
// extended attributes (l*xattr: never following a final symlink), a user namespace carrying a
// given id map, and idmapped mounts (open_tree + mount_setattr(MOUNT_ATTR_IDMAP) + move_mount).
#pragma once

#include <napi.h>

namespace garden {

// Adds mknod, lsetxattr, lgetxattr, llistxattr, openUserNamespace and idmapMount to `exports`.
void RegisterFsOps(Napi::Env env, Napi::Object exports);

}  // namespace garden
