#include "create.h"
#include "sigreset.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace garden {

namespace {

struct BindPlan {
  std::vector<char> src;  // old-root prefixed, NUL terminated
  std::vector<char> dst;  // mutable: mkdir -p walks it in place
  bool readOnly;
  bool isDir;
};

struct Plan {
  const CreateOptions* o;
  int syncR, errW, initFd, readyW;
  // Where pivot_root puts the old root: the image's own /proc directory (procfs goes there once
  // the old root is detached), or a fresh "/.garden-old-XXXXXXXXXXXXXXXX" we make on the host and
  // remove again (ownOldRoot) when /proc is not a plain directory or a bind destination could
  // reach it (CreateContainer).
  std::vector<char> oldRoot;        // inside the new root
  std::vector<char> oldRootOnHost;  // rootfs + oldRoot
  bool ownOldRoot = false;
  std::vector<BindPlan> binds;
  std::vector<std::vector<char>> devSrc;  // old-root prefixed /dev/null ... /dev/tty
  std::vector<std::vector<char>> devDst;  // /dev/null ... /dev/tty
  std::vector<std::vector<char>> maskedBuf, readOnlyBuf;
  std::vector<char*> argv, envp;
  std::vector<std::string> envStore;
  std::vector<char> sysSrc;
  struct CgroupPlan {
    std::vector<char> path, fstype, data;
    std::vector<std::vector<char>> links;  // link paths; their content is `relTarget`
    std::vector<char> relTarget;
  };
  std::vector<CgroupPlan> cgroups;
  struct NodePlan {
    std::vector<char> path;  // /dev/<name>
    unsigned mode;
    dev_t dev;
  };
  std::vector<NodePlan> nodes;
  bool cgroupTmpfs = false;  // the mounts go into a tmpfs at /sys/fs/cgroup (not pure v2)
  std::vector<int> cgroupTasks;  // <v1 dir>/tasks, opened for writing before clone
  bool loopbackUp = false;  // a new network namespace: its `lo` starts down
  struct ifreq lo;          // name "lo", filled before clone
  uint64_t initCaps = 0;    // o.initCaps clipped to our bounding set
  int lastCap = 40;
};

const char* const kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

std::vector<char> Buf(const std::string& s) {
  std::vector<char> v(s.begin(), s.end());
  v.push_back('\0');
  return v;
}

struct Fail {
  Stage stage;
  int err;
};

[[noreturn]] void Die(const Plan& p, Stage stage) {
  int32_t rec[2] = {static_cast<int32_t>(stage), errno};
  (void)!write(p.errW, rec, sizeof rec);
  _exit(127);
}

// mkdir -p on a mutable NUL-terminated buffer; async-signal-safe.
int MkdirP(char* path, mode_t mode) {
  for (char* c = path + 1; *c; c++) {
    if (*c != '/') continue;
    *c = '\0';
    int r = mkdir(path, mode);
    *c = '/';
    if (r != 0 && errno != EEXIST) return -1;
  }
  if (mkdir(path, mode) != 0 && errno != EEXIST) return -1;
  return 0;
}

int MkParentAndFile(char* path) {
  // An existing target is mounted over as it is. Opening it for writing would copy it up into an
  // overlay's upper dir (a file creation per bind, hidden by the mount anyway) and fails when the
  // image's file is not writable by the container's root (a raw:// image owned by host root).
  struct stat st;
  if (lstat(path, &st) == 0) return 0;
  char* slash = strrchr(path, '/');
  if (slash && slash != path) {
    *slash = '\0';
    int r = MkdirP(path, 0755);
    *slash = '/';
    if (r != 0) return -1;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 && errno != EEXIST) return -1;
  if (fd >= 0) close(fd);
  return 0;
}

// Flags a bind remount must keep inside a user namespace (the kernel locks them).
unsigned long LockedFlags(const char* path) {
  struct statvfs st;  // glibc's statvfs is statfs plus a flag translation: no allocation
  if (statvfs(path, &st) != 0) return 0;
  unsigned long f = 0;
  if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) f |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

int RemountRo(const char* path) {
  return mount(nullptr, path, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | LockedFlags(path), nullptr);
}

// Reads the parent's next go-ahead byte; anything else (EOF: the parent gave up) is fatal.
void WaitFor(const Plan& p, char want) {
  char go = 0;
  ssize_t n;
  do {
    n = read(p.syncR, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1 || go != want) {
    errno = n == 0 || n == 1 ? EPIPE : errno;
    Die(p, Stage::kSync);
  }
}

// Where procfs waits while the old root is on /proc (in the container's fresh /dev tmpfs).
constexpr const char* kProcAside = "/dev/.garden-proc";

void MountProc(const Plan& p, const char* at) {
  mkdir(at, 0555);
  if (mount("proc", at, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) Die(p, Stage::kMountProc);
}

[[noreturn]] void Child(Plan& p) {
  const CreateOptions& o = *p.o;
  ResetSignals(o.shimSignals ? kShimSignals : ~0ull);
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) Die(p, Stage::kCloseFds);

  // Wait until the parent has written our id maps.
  WaitFor(p, 'g');
  // Join the v1 cgroups by moving ourselves: "0" written to `tasks` migrates only the calling
  // thread (we have no other), which the kernel does without the global threadgroup lock. A
  // parent writing our pid to cgroup.procs takes it, and the first such write after a quiet
  // spell waits for an RCU grace period (~8 ms on a HZ=250 VM). Permission is checked against
  // the opener of the fd (host root, before clone).
  for (int fd : p.cgroupTasks) {
    if (write(fd, "0", 1) != 1) Die(p, Stage::kCgroup);
  }
  if (o.joinPidfd >= 0) {
    // A pea: the container's namespaces (our parent put us in its pid namespace), user first, so
    // the mount namespace made next belongs to the container's user namespace (whose root the
    // processes spawned into it are). As its root from here (host root is unmapped there).
    int ns = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | (o.privileged ? 0 : CLONE_NEWUSER);
    if (setns(o.joinPidfd, ns) != 0) Die(p, Stage::kJoinNamespaces);
    if (!o.privileged && (syscall(SYS_setresgid, 0, 0, 0) != 0 || syscall(SYS_setgroups, 0, nullptr) != 0 ||
                          syscall(SYS_setresuid, 0, 0, 0) != 0)) {
      Die(p, Stage::kJoinNamespaces);
    }
    if (unshare(CLONE_NEWNS) != 0) Die(p, Stage::kJoinNamespaces);
  } else if (unshare(CLONE_NEWCGROUP) != 0) {
    // The cgroup namespace is rooted where we are when it is created: only now (v2 alone was
    // atomic with CLONE_INTO_CGROUP).
    Die(p, Stage::kCgroup);
  }
  if (setsid() < 0) Die(p, Stage::kSetsid);
  // We hold CAP_NET_ADMIN over the new netns (its owner is our user namespace, or we are host
  // root): bring `lo` up here so callers need no nsenter + ip after create.
  if (p.loopbackUp) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) Die(p, Stage::kLoopback);
    if (ioctl(sock, SIOCGIFFLAGS, &p.lo) != 0) Die(p, Stage::kLoopback);
    p.lo.ifr_flags = static_cast<short>(p.lo.ifr_flags | IFF_UP);
    if (ioctl(sock, SIOCSIFFLAGS, &p.lo) != 0) Die(p, Stage::kLoopback);
    close(sock);
  }
  if (!o.hostname.empty() && sethostname(o.hostname.data(), o.hostname.size()) != 0) Die(p, Stage::kSethostname);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) Die(p, Stage::kMountPrivate);
  if (mount(o.rootfs.c_str(), o.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) Die(p, Stage::kBindRootfs);
  if (syscall(SYS_pivot_root, o.rootfs.c_str(), p.oldRootOnHost.data()) != 0) Die(p, Stage::kPivotRoot);
  if (chdir("/") != 0) Die(p, Stage::kPivotRoot);
  if (!o.privileged) {
    // Until here we kept host uid 0 so the path to the rootfs (host-root-owned, maybe 0700)
    // resolved. That id is unmapped in the container: become the container's root now, or files
    // we create (device nodes, mount points) would fail with EOVERFLOW.
    if (syscall(SYS_setresgid, 0, 0, 0) != 0) Die(p, Stage::kSetgid);
    if (syscall(SYS_setgroups, 0, nullptr) != 0) Die(p, Stage::kSetgroups);
    if (syscall(SYS_setresuid, 0, 0, 0) != 0) Die(p, Stage::kSetuid);
  }
  // From here every target resolves inside the new root; sources come from the old root.

  if (p.ownOldRoot) MountProc(p, "/proc");
  mkdir("/sys", 0555);
  if (mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    // A network namespace we do not own (a given netns) forbids a fresh sysfs: bind the host's.
    if (errno != EPERM) Die(p, Stage::kMountSys);
    if (mount(p.sysSrc.data(), "/sys", nullptr, MS_BIND | MS_REC, nullptr) != 0 || RemountRo("/sys") != 0) {
      Die(p, Stage::kMountSys);
    }
    // The host's /sys came with its cgroup mounts (every sibling, release_agent): hide them. The
    // read-only views below go on top of this tmpfs when asked for.
    if (p.cgroups.empty() && (mount("tmpfs", "/sys/fs/cgroup", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") != 0)) {
      Die(p, Stage::kMountCgroup);
    }
  }
  // The container's own cgroups, read-only: each hierarchy mounted from inside our cgroup
  // namespace is rooted at our cgroup, so neither siblings nor the root's release_agent show.
  const unsigned long cgFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (p.cgroupTmpfs && mount("tmpfs", "/sys/fs/cgroup", "tmpfs", cgFlags, "mode=755,size=64k") != 0) Die(p, Stage::kMountCgroup);
  for (auto& c : p.cgroups) {
    if (p.cgroupTmpfs && mkdir(c.path.data(), 0555) != 0) Die(p, Stage::kMountCgroup);
    if (mount(c.fstype.data(), c.path.data(), c.fstype.data(), cgFlags, c.data.data()) != 0 || RemountRo(c.path.data()) != 0) {
      Die(p, Stage::kMountCgroup);
    }
    for (auto& l : c.links) {
      if (symlink(c.relTarget.data(), l.data()) != 0) Die(p, Stage::kMountCgroup);
    }
  }
  if (p.cgroupTmpfs && RemountRo("/sys/fs/cgroup") != 0) Die(p, Stage::kMountCgroup);
  mkdir("/dev", 0755);
  if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") != 0) Die(p, Stage::kMountDev);
  for (size_t i = 0; i < p.devSrc.size(); i++) {
    // mknod is not allowed in a user namespace: bind the host's nodes instead (as rootless runc).
    const char* devPath = p.devDst[i].data();
    int fd = open(devPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) Die(p, Stage::kMountDevices);
    close(fd);
    if (mount(p.devSrc[i].data(), devPath, nullptr, MS_BIND, nullptr) != 0) Die(p, Stage::kMountDevices);
  }
  for (auto& n : p.nodes) {
    // chmod after mknod: the node's mode must be exact, whatever our umask.
    if (mknod(n.path.data(), S_IFCHR | n.mode, n.dev) != 0 || chmod(n.path.data(), n.mode) != 0) {
      Die(p, Stage::kMountDevices);
    }
  }
  if (mkdir("/dev/pts", 0755) != 0) Die(p, Stage::kMountPts);
  if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") != 0 &&
      mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") != 0) {
    Die(p, Stage::kMountPts);
  }
  if (symlink("pts/ptmx", "/dev/ptmx") != 0 || symlink("/proc/self/fd", "/dev/fd") != 0 ||
      symlink("/proc/self/fd/0", "/dev/stdin") != 0 || symlink("/proc/self/fd/1", "/dev/stdout") != 0 ||
      symlink("/proc/self/fd/2", "/dev/stderr") != 0) {
    Die(p, Stage::kMountDevices);
  }
  if (mkdir("/dev/shm", 01777) != 0 ||
      mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777") != 0) {
    Die(p, Stage::kMountShm);
  }
  if (o.mqueue) {
    if (mkdir("/dev/mqueue", 0755) != 0 || mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      Die(p, Stage::kMountMqueue);
    }
  }
  if (!p.ownOldRoot) {
    // The old root is on /proc: procfs goes to a directory of our fresh /dev for now (mounting it
    // in a user namespace needs the host's procfs still visible, which goes with the old root),
    // and is moved to /proc once the old root is gone.
    MountProc(p, kProcAside);
  }
  for (auto& b : p.binds) {
    int r = b.isDir ? MkdirP(b.dst.data(), 0755) : MkParentAndFile(b.dst.data());
    if (r != 0) Die(p, Stage::kBindMount);
    if (mount(b.src.data(), b.dst.data(), nullptr, MS_BIND | MS_REC, nullptr) != 0) Die(p, Stage::kBindMount);
    if (b.readOnly && RemountRo(b.dst.data()) != 0) Die(p, Stage::kBindMount);
  }
  if (umount2(p.oldRoot.data(), MNT_DETACH) != 0) Die(p, Stage::kUmountOldRoot);
  if (p.ownOldRoot) {
    rmdir(p.oldRoot.data());  // fails harmlessly when the root is not ours to write; the parent retries
  } else if (mount(kProcAside, "/proc", nullptr, MS_MOVE, nullptr) != 0 || rmdir(kProcAside) != 0) {
    Die(p, Stage::kMountProc);
  }
  for (auto& m : p.maskedBuf) {
    struct stat st;
    if (lstat(m.data(), &st) != 0) {
      if (errno == ENOENT) continue;
      Die(p, Stage::kMaskPath);
    }
    int r = S_ISDIR(st.st_mode) ? mount("tmpfs", m.data(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
                                : mount("/dev/null", m.data(), nullptr, MS_BIND, nullptr);
    if (r != 0) Die(p, Stage::kMaskPath);
  }
  for (auto& r : p.readOnlyBuf) {
    struct stat st;
    if (lstat(r.data(), &st) != 0) {
      if (errno == ENOENT) continue;
      Die(p, Stage::kReadonlyPath);
    }
    if (mount(r.data(), r.data(), nullptr, MS_BIND | MS_REC, nullptr) != 0 || RemountRo(r.data()) != 0) {
      Die(p, Stage::kReadonlyPath);
    }
  }
  if (chdir("/") != 0) Die(p, Stage::kExecInit);
  // init gets the container's capability set, not everything we hold: drop the rest from the
  // bounding set and make the set inheritable. exec then gives init (root in its namespace)
  // permitted = effective = bounding = the set. Reaping and blocking signals need none of them.
  for (int cap = 0; cap <= p.lastCap; cap++) {
    if (!(p.initCaps & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) Die(p, Stage::kInitCapabilities);
  }
  {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) != 0) Die(p, Stage::kInitCapabilities);
    for (int i = 0; i < 2; i++) {
      uint32_t mask = static_cast<uint32_t>(p.initCaps >> (32 * i));
      data[i].inheritable = mask;
      data[i].permitted &= mask;
      data[i].effective &= mask;
    }
    if (syscall(SYS_capset, &hdr, data) != 0) Die(p, Stage::kInitCapabilities);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) Die(p, Stage::kInitCapabilities);
  }
  // init must not hold the server's stdio (a terminal or a supervisor's pipe) for its lifetime.
  int devnull = open("/dev/null", O_RDWR);
  if (devnull < 0) Die(p, Stage::kExecInit);
  for (int fd = 0; fd < 3; fd++) {
    if (dup2(devnull, fd) < 0) Die(p, Stage::kExecInit);
  }
  if (devnull > 2) close(devnull);
  // init reports on fd 3 once it has named itself: move whatever we still need off fd 3 first.
  if (p.initFd == 3 && (p.initFd = fcntl(3, F_DUPFD_CLOEXEC, 4)) < 0) Die(p, Stage::kExecInit);
  if (p.errW == 3 && (p.errW = fcntl(3, F_DUPFD_CLOEXEC, 4)) < 0) Die(p, Stage::kExecInit);
  if (p.readyW != 3) {
    if (dup2(p.readyW, 3) < 0) Die(p, Stage::kExecInit);  // dup2 leaves fd 3 without CLOEXEC
  } else if (fcntl(3, F_SETFD, 0) != 0) {
    Die(p, Stage::kExecInit);
  }
  syscall(SYS_execveat, p.initFd, "", p.argv.data(), p.envp.data(), AT_EMPTY_PATH);
  Die(p, Stage::kExecInit);
}

bool WriteFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = write(fd, text.data(), text.size());
  int e = errno;
  close(fd);
  errno = e;
  return n == static_cast<ssize_t>(text.size());
}

}  // namespace

namespace {

void PutStr(std::string& out, const std::string& s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), 4);
  out.append(s);
}
void PutList(std::string& out, const std::vector<std::string>& v) {
  uint32_t n = static_cast<uint32_t>(v.size());
  out.append(reinterpret_cast<const char*>(&n), 4);
  for (const auto& s : v) PutStr(out, s);
}

struct Reader {
  const char* p;
  size_t left;
  bool ok = true;
  template <typename T>
  T Num() {
    if (left < sizeof(T)) {
      ok = false;
      return 0;
    }
    T v;
    memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    left -= sizeof(T);
    return v;
  }
  uint32_t U32() { return Num<uint32_t>(); }
  uint64_t U64() { return Num<uint64_t>(); }
  bool Bool() {
    if (left < 1) {
      ok = false;
      return false;
    }
    left--;
    return *p++ != 0;
  }
  std::string Str() {
    uint32_t n = U32();
    if (!ok || n > left) {
      ok = false;
      return {};
    }
    std::string s(p, n);
    p += n;
    left -= n;
    return s;
  }
  std::vector<std::string> List() {
    uint32_t n = U32();
    std::vector<std::string> v;
    if (n > left) ok = false;  // every entry takes at least 4 bytes: a cheap bound
    for (uint32_t i = 0; ok && i < n; i++) v.push_back(Str());
    return v;
  }
};

}  // namespace

std::string EncodeCreateOptions(const CreateOptions& o) {
  std::string out;
  PutStr(out, o.rootfs);
  PutStr(out, o.hostname);
  out.push_back(o.privileged ? 1 : 0);
  PutStr(out, o.uidMap);
  PutStr(out, o.gidMap);
  PutList(out, o.cgroupV1);
  PutStr(out, o.cgroupV2);
  PutStr(out, o.netns);
  uint32_t n = static_cast<uint32_t>(o.binds.size());
  out.append(reinterpret_cast<const char*>(&n), 4);
  for (const auto& b : o.binds) {
    PutStr(out, b.src);
    PutStr(out, b.dst);
    out.push_back(b.readOnly ? 1 : 0);
  }
  PutList(out, o.masked);
  PutList(out, o.readOnly);
  PutStr(out, o.initPath);
  PutList(out, o.env);
  out.push_back(o.mqueue ? 1 : 0);
  out.push_back(o.loopbackByCaller ? 1 : 0);
  out.append(reinterpret_cast<const char*>(&o.initCaps), 8);
  uint32_t m = static_cast<uint32_t>(o.cgroupMounts.size());
  out.append(reinterpret_cast<const char*>(&m), 4);
  for (const auto& c : o.cgroupMounts) {
    PutStr(out, c.target);
    PutStr(out, c.fstype);
    PutStr(out, c.data);
    PutList(out, c.links);
  }
  uint32_t d = static_cast<uint32_t>(o.nodes.size());
  out.append(reinterpret_cast<const char*>(&d), 4);
  for (const auto& n : o.nodes) {
    PutStr(out, n.name);
    for (uint32_t v : {n.major, n.minor, n.mode}) out.append(reinterpret_cast<const char*>(&v), 4);
  }
  return out;
}

bool DecodeCreateOptions(const char* data, size_t len, CreateOptions& o) {
  Reader r{data, len};
  o.rootfs = r.Str();
  o.hostname = r.Str();
  o.privileged = r.Bool();
  o.uidMap = r.Str();
  o.gidMap = r.Str();
  o.cgroupV1 = r.List();
  o.cgroupV2 = r.Str();
  o.netns = r.Str();
  uint32_t n = r.U32();
  if (n > r.left) return false;
  for (uint32_t i = 0; r.ok && i < n; i++) {
    BindSpec b;
    b.src = r.Str();
    b.dst = r.Str();
    b.readOnly = r.Bool();
    o.binds.push_back(std::move(b));
  }
  o.masked = r.List();
  o.readOnly = r.List();
  o.initPath = r.Str();
  o.env = r.List();
  o.mqueue = r.Bool();
  o.loopbackByCaller = r.Bool();
  o.initCaps = r.U64();
  uint32_t m = r.U32();
  if (m > r.left) return false;
  for (uint32_t i = 0; r.ok && i < m; i++) {
    CgroupMount c;
    c.target = r.Str();
    c.fstype = r.Str();
    c.data = r.Str();
    c.links = r.List();
    o.cgroupMounts.push_back(std::move(c));
  }
  uint32_t d = r.U32();
  if (d > r.left) return false;
  for (uint32_t i = 0; r.ok && i < d; i++) {
    DeviceNode n;
    n.name = r.Str();
    n.major = r.U32();
    n.minor = r.U32();
    n.mode = r.U32();
    o.nodes.push_back(std::move(n));
  }
  // Absolute paths only, as the TypeScript side checks: the shim trusts nothing it is sent.
  auto abs = [](const std::string& s) { return !s.empty() && s[0] == '/' && s.find('\0') == std::string::npos; };
  if (!r.ok || r.left != 0 || !abs(o.rootfs)) return false;
  for (const auto& b : o.binds) {
    if (!abs(b.src) || !abs(b.dst)) return false;
  }
  // Names directly below /sys/fs/cgroup or /dev, nothing else: the child builds paths from them.
  auto name = [](const std::string& s) {
    return s.find('/') == std::string::npos && s.find('\0') == std::string::npos && s != "." && s != "..";
  };
  for (const auto& n : o.nodes) {
    if (n.name.empty() || !name(n.name) || n.mode > 07777 || !o.privileged) return false;
  }
  for (const auto& c : o.cgroupMounts) {
    if (c.target.empty() && o.cgroupMounts.size() > 1) return false;  // /sys/fs/cgroup itself: alone
    if (!name(c.target) || (c.fstype != "cgroup" && c.fstype != "cgroup2")) return false;
    for (const auto& l : c.links) {
      if (l.empty() || !name(l)) return false;
    }
  }
  return true;
}

int LastCap() {
  static const int last = [] {  // a kernel constant: read once per process
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 40;
    char buf[16] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    int v = n > 0 ? atoi(buf) : 40;
    return v > 0 && v < 64 ? v : 40;
  }();
  return last;
}

int SealedCopy(const std::string& path, int& err) {
  static std::mutex mu;
  static std::map<std::string, int> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(path);
  if (it != cache.end()) return it->second;
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) {
    err = errno;
    return -1;
  }
  struct stat st;
  int mfd = static_cast<int>(syscall(SYS_memfd_create, "garden-init", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  bool ok = mfd >= 0 && fstat(src, &st) == 0;
  off_t off = 0;
  while (ok && off < st.st_size) {
    ssize_t n = sendfile(mfd, src, &off, static_cast<size_t>(st.st_size - off));
    if (n <= 0) ok = false;
  }
  ok = ok && fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0;
  err = errno;
  close(src);
  if (!ok) {
    if (mfd >= 0) close(mfd);
    return -1;
  }
  cache[path] = mfd;
  return mfd;
}

// Whether absolute `dst` names a place in `root` without going through a symlink, `.` or `..`
// (as far as its components exist; missing ones are made as directories in the new root). A bind
// whose destination passes through a symlink could otherwise reach a fixed old-root place such as
// /proc (the old root, i.e. the host, while the binds are made) and create its mount point there;
// with such a destination the old root goes on a fresh, unguessable directory instead.
bool PlainPathIn(const std::string& root, const std::string& dst) {
  std::string cur = root;
  size_t i = 1;
  while (i <= dst.size()) {
    size_t j = dst.find('/', i);
    if (j == std::string::npos) j = dst.size();
    std::string part = dst.substr(i, j - i);
    if (part.empty() || part == "." || part == "..") return false;
    cur += "/" + part;
    struct stat st;
    if (lstat(cur.c_str(), &st) != 0) return errno == ENOENT;
    if (S_ISLNK(st.st_mode)) return false;
    i = j + 1;
  }
  return true;
}

void CreateContainer(const CreateOptions& o, CreateResult& res) {
  auto fail = [&](Stage stage, const char* sys) {
    res.stage = stage;
    res.err = errno;
    res.syscall = sys;
  };
  Plan p;
  p.o = &o;
  int err = 0;
  p.initFd = o.initFd >= 0 ? o.initFd : SealedCopy(o.initPath, err);
  if (p.initFd < 0) {
    errno = err;
    return fail(Stage::kInitBinary, "open");
  }
  // The old root goes on the image's /proc when that is a real directory and no bind mount goes
  // under it (procfs is mounted only after the old root is detached, so a bind there would go
  // with it): nothing to make on (or remove from) the rootfs then, which on an overlay is a
  // write to its upper dir, and a removal inside the container and again on the host.
  bool procFree = true;
  for (const auto& b : o.binds) {
    if (b.dst == "/proc" || b.dst.rfind("/proc/", 0) == 0 || !PlainPathIn(o.rootfs, b.dst)) procFree = false;
  }
  struct stat procSt;
  std::string name = "/proc";
  if (!procFree || lstat((o.rootfs + name).c_str(), &procSt) != 0 || !S_ISDIR(procSt.st_mode)) {
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd) return fail(Stage::kOldRoot, "getrandom");
    char buf[64];
    snprintf(buf, sizeof buf, "/.garden-old-%016llx", static_cast<unsigned long long>(rnd));
    name = buf;
    p.ownOldRoot = true;
  }
  p.oldRoot = Buf(name);
  p.oldRootOnHost = Buf(o.rootfs + name);
  const std::string& old = name;
  for (const char* d : kDevices) {
    p.devSrc.push_back(Buf(old + "/dev/" + d));
    p.devDst.push_back(Buf(std::string("/dev/") + d));
  }
  p.sysSrc = Buf(old + "/sys");
  for (const auto& n : o.nodes) p.nodes.push_back({Buf("/dev/" + n.name), n.mode & 07777, makedev(n.major, n.minor)});
  for (const auto& c : o.cgroupMounts) {
    Plan::CgroupPlan cp;
    std::string path = c.target.empty() ? "/sys/fs/cgroup" : "/sys/fs/cgroup/" + c.target;
    cp.path = Buf(path);
    cp.fstype = Buf(c.fstype);
    cp.data = Buf(c.data);
    cp.relTarget = Buf(c.target);
    for (const auto& l : c.links) cp.links.push_back(Buf("/sys/fs/cgroup/" + l));
    if (!c.target.empty()) p.cgroupTmpfs = true;
    p.cgroups.push_back(std::move(cp));
  }
  p.lastCap = LastCap();
  // Our bounding set (we never drop from it ourselves: read once per process).
  static const uint64_t ownBounding = [] {
    uint64_t m = 0;
    for (int cap = 0; cap <= LastCap(); cap++) {
      if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) m |= 1ull << cap;
    }
    return m;
  }();
  p.initCaps = o.initCaps & ownBounding;
  p.loopbackUp = o.netns.empty() && o.joinPidfd < 0 && !o.loopbackByCaller;
  memset(&p.lo, 0, sizeof p.lo);
  memcpy(p.lo.ifr_name, "lo", 3);
  for (const auto& b : o.binds) {
    struct stat st;
    if (stat(b.src.c_str(), &st) != 0) return fail(Stage::kBindMount, "stat");
    p.binds.push_back({Buf(old + b.src), Buf(b.dst), b.readOnly, S_ISDIR(st.st_mode)});
  }
  for (const auto& m : o.masked) p.maskedBuf.push_back(Buf(m));
  for (const auto& r : o.readOnly) p.readOnlyBuf.push_back(Buf(r));
  static char argv0[] = "garden-init";
  p.argv = {argv0, nullptr};
  p.envStore = o.env;
  for (auto& e : p.envStore) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);

  int v2fd = -1, netfd = -1, selfNet = -1;
  if (!o.cgroupV2.empty()) {
    v2fd = open(o.cgroupV2.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (v2fd < 0) return fail(Stage::kCgroup, "open");
  }
  auto closeAll = [&]() {
    for (int fd : p.cgroupTasks) close(fd);
    p.cgroupTasks.clear();
    if (v2fd >= 0) close(v2fd);
    if (netfd >= 0) close(netfd);
    if (selfNet >= 0) close(selfNet);
  };
  for (const auto& dir : o.cgroupV1) {
    int fd = open((dir + "/tasks").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      fail(Stage::kCgroup, "open");
      return closeAll();
    }
    p.cgroupTasks.push_back(fd);
  }
  if (!o.netns.empty()) {
    netfd = open(o.netns.c_str(), O_RDONLY | O_CLOEXEC);
    selfNet = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (netfd < 0 || selfNet < 0) {
      fail(Stage::kSetnsNet, "open");
      return closeAll();
    }
  }
  // The old-root directory is made by us (host root) because the rootfs top is usually not
  // writable by the container's root; a fresh random name cannot already be a planted symlink.
  if (p.ownOldRoot && mkdir(p.oldRootOnHost.data(), 0700) != 0) {
    fail(Stage::kOldRoot, "mkdir");
    return closeAll();
  }
  // sync: a socketpair, so that our go-ahead to a child that already died is an EPIPE error
  // (MSG_NOSIGNAL), never a SIGPIPE to the embedding process.
  int syncP[2], errP[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, syncP) != 0) {
    fail(Stage::kClone, "socketpair");
    if (p.ownOldRoot) rmdir(p.oldRootOnHost.data());
    return closeAll();
  }
  if (pipe2(errP, O_CLOEXEC) != 0) {
    fail(Stage::kClone, "pipe2");
    close(syncP[0]);
    close(syncP[1]);
    if (p.ownOldRoot) rmdir(p.oldRootOnHost.data());
    return closeAll();
  }
  int readyP[2];
  if (pipe2(readyP, O_CLOEXEC) != 0) {
    fail(Stage::kClone, "pipe2");
    for (int fd : {syncP[0], syncP[1], errP[0], errP[1]}) close(fd);
    if (p.ownOldRoot) rmdir(p.oldRootOnHost.data());
    return closeAll();
  }
  p.syncR = syncP[0];
  p.errW = errP[1];
  p.readyW = readyP[1];

  uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD;
  if (!o.privileged) flags |= CLONE_NEWUSER;
  if (o.netns.empty()) flags |= CLONE_NEWNET;
  // A pea makes its namespaces itself (above); its pid namespace is the container's: ours for
  // the children of this thread, around the clone.
  if (o.joinPidfd >= 0) flags = CLONE_PIDFD;
  int selfPid = -1;
  if (o.joinPidfd >= 0 && (selfPid = open("/proc/thread-self/ns/pid_for_children", O_RDONLY | O_CLOEXEC)) < 0) {
    fail(Stage::kJoinNamespaces, "open");
    for (int fd : {syncP[0], syncP[1], errP[0], errP[1], readyP[0], readyP[1]}) close(fd);
    if (p.ownOldRoot) rmdir(p.oldRootOnHost.data());
    return closeAll();
  }
  if (o.cloneParent) flags |= CLONE_PARENT;
  if (v2fd >= 0) flags |= CLONE_INTO_CGROUP;
  int pidfd = -1;
  struct clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = flags;
  ca.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  // With CLONE_PARENT clone3 takes the exit signal from the caller's own (SIGCHLD: the server
  // launched the shim) and refuses any other.
  ca.exit_signal = o.cloneParent ? 0 : SIGCHLD;
  ca.cgroup = static_cast<uint64_t>(v2fd >= 0 ? v2fd : 0);

  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  bool netSwitched = false;
  long pid = -1;
  if (netfd >= 0) {
    // Only network namespaces are per-thread safe to switch; this worker thread goes back below.
    if (setns(netfd, CLONE_NEWNET) != 0) {
      fail(Stage::kSetnsNet, "setns");
    } else {
      netSwitched = true;
    }
  }
  bool pidSwitched = false;
  if (selfPid >= 0) {
    if (setns(o.joinPidfd, CLONE_NEWPID) != 0) {
      fail(Stage::kJoinNamespaces, "setns");
    } else {
      pidSwitched = true;
    }
  }
  if ((netfd < 0 || netSwitched) && (selfPid < 0 || pidSwitched)) {
    pid = syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0) Child(p);
    if (pid < 0) fail(Stage::kClone, "clone3");
  }
  if (netSwitched && setns(selfNet, CLONE_NEWNET) != 0) {
    // Leaving a libuv worker in the container's netns would be worse than crashing loudly.
    perror("native-ns: cannot restore the worker thread's network namespace");
    abort();
  }
  if (pidSwitched && setns(selfPid, CLONE_NEWPID) != 0) {
    perror("native-ns: cannot restore the worker thread's pid namespace for children");
    abort();
  }
  if (selfPid >= 0) close(selfPid);
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  close(syncP[0]);
  close(errP[1]);
  close(readyP[1]);
  closeAll();
  if (pid < 0) {
    close(syncP[1]);
    close(errP[0]);
    close(readyP[0]);
    if (p.ownOldRoot) rmdir(p.oldRootOnHost.data());
    return;
  }

  auto killChild = [&]() {
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    if (o.cloneParent) {
      // Not our child: our parent reaps it through this pidfd. Exited before we return, so the
      // old-root directory below is no longer in use.
      struct pollfd pfd = {pidfd, POLLIN, 0};
      while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
      }
      res.pidfd = pidfd;
    } else {
      siginfo_t si;
      waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
      close(pidfd);
    }
    if (p.ownOldRoot) rmdir(p.oldRootOnHost.data());
  };
  std::string procDir = "/proc/" + std::to_string(pid);
  bool ok = true;
  if (!o.privileged && o.joinPidfd < 0) {
    if (!WriteFile(procDir + "/uid_map", o.uidMap)) {
      fail(Stage::kUidMap, "write");
      ok = false;
    } else if (!WriteFile(procDir + "/gid_map", o.gidMap)) {
      fail(Stage::kGidMap, "write");
      ok = false;
    }
  }
  if (!ok) {
    close(syncP[1]);
    close(errP[0]);
    close(readyP[0]);
    return killChild();
  }
  (void)!send(syncP[1], "g", 1, MSG_NOSIGNAL);
  close(syncP[1]);
  // A child that failed before the go-ahead reports that below, whatever this does.
  if (o.onCloned) o.onCloned(pid, pidfd);
  int32_t rec[2];
  ssize_t got;
  do {
    got = read(errP[0], rec, sizeof rec);
  } while (got < 0 && errno == EINTR);
  close(errP[0]);
  if (got != static_cast<ssize_t>(sizeof rec)) {
    // exec'd: wait until init has named itself (so /proc/1/comm is garden-init for every caller)
    char r = 0;
    ssize_t n;
    do {
      n = read(readyP[0], &r, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
      rec[0] = static_cast<int32_t>(Stage::kExecInit);
      rec[1] = n < 0 ? errno : ECHILD;
      got = sizeof rec;
    }
  }
  close(readyP[0]);
  if (got == static_cast<ssize_t>(sizeof rec)) {
    errno = rec[1];
    res.stage = static_cast<Stage>(rec[0]);
    res.err = rec[1];
    res.syscall = "";
    killChild();
    return;
  }
  if (p.ownOldRoot) rmdir(p.oldRootOnHost.data());  // detached in the container; empty on the host
  res.pid = static_cast<int>(pid);
  res.pidfd = pidfd;
}

}  // namespace garden
