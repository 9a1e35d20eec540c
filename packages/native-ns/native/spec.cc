#include "spec.h"

#include "protocol.h"

namespace garden {

bool ParseSpec(const char* data, size_t len, Spec& s, std::string& error) {
  size_t off = 0;
  bool sawPath = false;
  while (off < len) {
    if (len - off < 6) {
      error = "truncated record header";
      return false;
    }
    uint16_t tag = GetU16(data + off);
    uint32_t n = GetU32(data + off + 2);
    off += 6;
    if (n > len - off) {
      error = "record length exceeds spec";
      return false;
    }
    const char* p = data + off;
    std::string str(p, n);
    auto need = [&](uint32_t want) {
      if (n != want) error = "bad length for tag " + std::to_string(tag);
      return n == want;
    };
    switch (tag) {
      case kTagPath: s.path = str; sawPath = true; break;
      case kTagArg: s.args.push_back(str); break;
      case kTagEnv: s.env.push_back(str); break;
      case kTagCwd: s.cwd = str; break;
      case kTagUid: if (!need(4)) return false; s.uid = GetU32(p); s.hasUid = true; break;
      case kTagGid: if (!need(4)) return false; s.gid = GetU32(p); s.hasGid = true; break;
      case kTagGroups:
        if (n % 4) { error = "bad groups length"; return false; }
        s.hasGroups = true;
        for (uint32_t i = 0; i < n; i += 4) s.groups.push_back(GetU32(p + i));
        break;
      case kTagRlimit:
        if (!need(20)) return false;
        s.rlimits.push_back({GetU32(p), GetU64(p + 4), GetU64(p + 12)});
        break;
      case kTagNoNewPrivs: s.noNewPrivs = true; break;
      case kTagCaps:
        if (!need(40)) return false;
        s.hasCaps = true;
        s.capBounding = GetU64(p);
        s.capEffective = GetU64(p + 8);
        s.capPermitted = GetU64(p + 16);
        s.capInheritable = GetU64(p + 24);
        s.capAmbient = GetU64(p + 32);
        break;
      case kTagSeccomp:
        if (n == 0 || n % 8 || n / 8 > 4096) { error = "bad seccomp program length"; return false; }
        s.seccomp = str;
        break;
      case kTagTty:
        if (!need(4)) return false;
        s.tty = true;
        s.cols = GetU16(p);
        s.rows = GetU16(p + 2);
        break;
      case kTagCgroup: s.cgroups.push_back(str); break;
      case kTagRingCapacity:
        if (!need(8)) return false;
        s.ringCapacity = GetU64(p);
        if (s.ringCapacity == 0 || s.ringCapacity > (1ull << 32)) { error = "bad ring capacity"; return false; }
        break;
      case kTagContainer:
        if (!need(4)) return false;
        s.inContainer = true;
        s.joinUserNs = (GetU32(p) & 1) != 0;
        break;
      case kTagDir: s.dir = str; break;
      case kTagHostExec: s.hostExec = str; break;
      case kTagStdioOwner:
        if (!need(8)) return false;
        s.hasStdioOwner = true;
        s.stdioUid = GetU32(p);
        s.stdioGid = GetU32(p + 4);
        break;
      default:
        error = "unknown tag " + std::to_string(tag);
        return false;
    }
    off += n;
  }
  if (!sawPath || s.path.empty()) {
    error = "missing path";
    return false;
  }
  for (const auto& a : s.args) if (a.find('\0') != std::string::npos) { error = "NUL in argument"; return false; }
  for (const auto& e : s.env) if (e.find('\0') != std::string::npos) { error = "NUL in env"; return false; }
  if (s.dir.empty() || s.dir[0] != '/') {
    error = "missing or relative dir";
    return false;
  }
  if (s.path.find('\0') != std::string::npos || s.cwd.find('\0') != std::string::npos ||
      s.dir.find('\0') != std::string::npos) {
    error = "NUL in path";
    return false;
  }
  return true;
}

}  // namespace garden
