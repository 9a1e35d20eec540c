// Pre-exec stages reported as {stage, errno} through close-on-exec error pipes. The names are
// the `stage` of NativeError on the TypeScript side.
#pragma once

namespace garden {

enum class Stage : int {
  kUnknown = 0,
  // shim / spawn
  kSpec, kDepot, kCgroup, kRlimit, kSetns, kSetsid, kPty, kStdio, kCapabilities, kSeccomp,
  kSetgroups, kSetgid, kSetuid, kChdir, kNoNewPrivs, kCloseFds, kExec, kClone,
  // container create
  kSync, kUidMap, kGidMap, kSethostname, kMountPrivate, kBindRootfs, kOldRoot, kPivotRoot,
  kMountProc, kMountSys, kMountDev, kMountDevices, kMountPts, kMountShm, kMountMqueue,
  kBindMount, kMaskPath, kReadonlyPath, kUmountOldRoot, kExecInit, kSetnsNet, kInitBinary,
  kLoopback, kInitCapabilities, kMountCgroup, kJoinNamespaces,
  kCount
};

inline const char* StageName(Stage s) {
  static const char* const kNames[] = {
      "unknown", "spec", "depot", "cgroup", "rlimit", "setns", "setsid", "pty", "stdio",
      "capabilities", "seccomp", "setgroups", "setgid", "setuid", "chdir", "no-new-privs",
      "close-fds", "exec", "clone", "sync", "uid-map", "gid-map", "sethostname",
      "mount-private", "bind-rootfs", "old-root", "pivot-root", "mount-proc", "mount-sys",
      "mount-dev", "mount-devices", "mount-pts", "mount-shm", "mount-mqueue", "bind-mount",
      "mask-path", "readonly-path", "umount-old-root", "exec-init", "setns-net", "init-binary",
      "loopback", "init-capabilities", "mount-cgroup", "join-namespaces"};
  static_assert(sizeof kNames / sizeof kNames[0] == static_cast<int>(Stage::kCount), "stage names");
  int i = static_cast<int>(s);
  return i >= 0 && i < static_cast<int>(Stage::kCount) ? kNames[i] : "unknown";
}

}  // namespace garden
