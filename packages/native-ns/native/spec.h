// The process spec the server sends to garden-shim in its first frame: a sequence of
// tag u16le | len u32le | bytes records (the TypeScript encoder is src/spec.ts).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace garden {

enum SpecTag : uint16_t {
  kTagPath = 1, kTagArg = 2, kTagEnv = 3, kTagCwd = 4, kTagUid = 5, kTagGid = 6,
  kTagGroups = 7, kTagRlimit = 8, kTagNoNewPrivs = 9, kTagCaps = 10, kTagSeccomp = 11,
  kTagTty = 12, kTagCgroup = 13, kTagRingCapacity = 14, kTagContainer = 15, kTagDir = 16,
  kTagHostExec = 17, kTagStdioOwner = 18,
};

struct Rlimit {
  uint32_t resource;
  uint64_t soft, hard;
};

struct Spec {
  std::string path;
  std::vector<std::string> args, env;
  std::string cwd;
  bool hasUid = false, hasGid = false;
  uint32_t uid = 0, gid = 0;
  bool hasGroups = false;
  std::vector<uint32_t> groups;
  std::vector<Rlimit> rlimits;
  bool noNewPrivs = false;
  bool hasCaps = false;
  uint64_t capBounding = 0, capEffective = 0, capPermitted = 0, capInheritable = 0, capAmbient = 0;
  std::string seccomp;  // raw struct sock_filter array
  bool tty = false;
  uint16_t cols = 80, rows = 24;
  std::vector<std::string> cgroups;  // host cgroup directories to join
  uint64_t ringCapacity = 1u << 20;
  bool inContainer = false;
  bool joinUserNs = false;
  std::string dir;  // the process's directory (rings, socket, exit file)
  std::string hostExec;  // a host executable to exec (sealed copy) instead of searching `path`
  // Host uid/gid that the stdio pipes are chowned to (the process's ids through the container's
  // user namespace map), so the process can reopen /dev/stdin, /dev/stdout and /dev/stderr.
  bool hasStdioOwner = false;
  uint32_t stdioUid = 0, stdioGid = 0;
};

/** Parses a spec; on failure returns false and names the problem in `error`. */
bool ParseSpec(const char* data, size_t len, Spec& out, std::string& error);

}  // namespace garden
