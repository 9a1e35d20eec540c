// Container creation: clone3 into new namespaces, user-ns map handshake, mounts, pivot_root,
// exec of garden-init. Everything is prepared in CreatePlan before clone; the child makes only
// raw syscalls on that memory (its own copy-on-write copy).
#pragma once
#include <string>
#include <vector>

#include "stages.h"

namespace garden {

struct BindSpec {
  std::string src;  // host path
  std::string dst;  // container path (absolute)
  bool readOnly = false;
};

struct CreateOptions {
  std::string rootfs;
  std::string hostname;
  bool privileged = false;
  std::string uidMap, gidMap;             // /proc/<pid>/{uid,gid}_map text (unprivileged only)
  std::vector<std::string> cgroupV1;      // directories, joined by the parent writing cgroup.procs
  std::string cgroupV2;                   // one cgroup2 directory, joined with CLONE_INTO_CGROUP
  std::string netns;                      // empty: new network namespace
  std::vector<BindSpec> binds;
  std::vector<std::string> masked, readOnly;
  std::string initPath;
  std::vector<std::string> env;
  bool mqueue = true;
};

struct CreateResult {
  int pid = -1;
  int pidfd = -1;
  // failure
  Stage stage = Stage::kUnknown;
  int err = 0;
  const char* syscall = "";
};

/** Creates a container; runs on any thread (signals are blocked on the calling thread around
 *  clone). Fills `result` with pid + pidfd, or stage + errno. */
void CreateContainer(const CreateOptions& opts, CreateResult& result);

/** Returns an fd (cached per path for the process lifetime) of a sealed memfd copy of `path`. */
int SealedCopy(const std::string& path, int& err);

}  // namespace garden
