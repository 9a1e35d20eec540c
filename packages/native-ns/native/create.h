// Container creation: clone3 into new namespaces, user-ns map handshake, mounts, pivot_root,
// exec of garden-init. Everything is prepared in CreatePlan before clone; the child makes only
// raw syscalls on that memory (its own copy-on-write copy).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "stages.h"

namespace garden {

struct BindSpec {
  std::string src;  // host path
  std::string dst;  // container path (absolute)
  bool readOnly = false;
};

// One cgroup filesystem mounted read-only below /sys/fs/cgroup (the container's cgroup namespace
// roots it at the container's own cgroup).
struct CgroupMount {
  std::string target;              // name below /sys/fs/cgroup; "" = /sys/fs/cgroup itself (pure v2)
  std::string fstype;              // "cgroup" (a v1 hierarchy) or "cgroup2"
  std::string data;                // mount data: the hierarchy's controllers and/or name=...
  std::vector<std::string> links;  // symlinks to `target` (each co-mounted controller's name)
};

// A character device node made with mknod in the container's /dev (privileged only: a user
// namespace may not make nodes).
struct DeviceNode {
  std::string name;  // below /dev, no '/'
  uint32_t major = 0, minor = 0;
  uint32_t mode = 0;  // permission bits, set exactly (umask does not apply)
};

struct CreateOptions {
  std::string rootfs;
  std::string hostname;
  bool privileged = false;
  std::string uidMap, gidMap;             // /proc/<pid>/{uid,gid}_map text (unprivileged only)
  std::vector<std::string> cgroupV1;      // directories, joined by the child writing its `tasks`
  std::string cgroupV2;                   // one cgroup2 directory, joined with CLONE_INTO_CGROUP
  std::string netns;                      // empty: new network namespace
  std::vector<BindSpec> binds;
  std::vector<std::string> masked, readOnly;
  std::string initPath;
  std::vector<std::string> env;
  bool mqueue = true;
  // The caller brings the new network namespace's `lo` up (with the devices it makes there while
  // the child mounts its root), so the child does not.
  bool loopbackByCaller = false;
  // garden-init's capabilities (bounding = inheritable = permitted = effective after exec, as for
  // any root process); clipped to our own bounding set.
  uint64_t initCaps = 0;
  // Read-only views of the container's own cgroups; empty: /sys/fs/cgroup stays empty.
  std::vector<CgroupMount> cgroupMounts;
  std::vector<DeviceNode> nodes;
  // Not encoded: set by whoever runs CreateContainer.
  int initFd = -1;           // sealed garden-init to exec (else a cached sealed copy of initPath)
  bool cloneParent = false;  // CLONE_PARENT: init becomes our parent's child (garden-shim's case)
  bool shimSignals = false;  // the caller is garden-shim: only kShimSignals to reset in the child
  // A pidfd of another container's init: join its pid, net, ipc, uts, cgroup (and, unprivileged,
  // user) namespaces instead of making new ones; only the mount namespace is new (a "pea": its
  // own rootfs beside the container). Cloned from the calling thread, never through a shim.
  int joinPidfd = -1;
  // Called once the child exists and has its go-ahead (its namespaces made, its id maps written),
  // on the creating thread while the child builds its root: work that needs only the namespaces
  // (the container's network devices) overlaps the child's mounts. `pidfd` stays ours.
  std::function<void(long pid, int pidfd)> onCloned;
};

struct CreateResult {
  int pid = -1;
  // On success; with cloneParent also on a failure after clone (the SIGKILLed child is our
  // parent's to reap).
  int pidfd = -1;
  // failure
  Stage stage = Stage::kUnknown;
  int err = 0;
  std::string syscall;
};

/** Creates a container; runs on any thread (signals are blocked on the calling thread around
 *  clone). Fills `result` with pid + pidfd, or stage + errno. */
void CreateContainer(const CreateOptions& opts, CreateResult& result);

/** Serialises the options for garden-shim (everything but initFd / cloneParent / shimSignals). */
std::string EncodeCreateOptions(const CreateOptions& o);
/** Parses EncodeCreateOptions' output; false when malformed. */
bool DecodeCreateOptions(const char* data, size_t len, CreateOptions& o);

/** The highest capability number of this kernel (/proc/sys/kernel/cap_last_cap; 40 if unknown). */
int LastCap();

/** Returns an fd (cached per path for the process lifetime) of a sealed memfd copy of `path`. */
int SealedCopy(const std::string& path, int& err);

}  // namespace garden
