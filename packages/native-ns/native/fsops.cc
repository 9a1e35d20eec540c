// See fsops.h. Every function is synchronous and cheap (one to four syscalls), except
// openUserNamespace, which clones a short-lived child once per id map.
#include "fsops.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

namespace garden {
namespace {

// Same shape as the addon's errors (NativeError.from on the TypeScript side).
Napi::Error FsError(Napi::Env env, int err, const char* syscall, const char* stage) {
  const char* code = strerrorname_np(err);
  std::string msg = std::string(stage) + ": " + syscall + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, code ? code : "UNKNOWN"));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.Set("stage", Napi::String::New(env, stage));
  return e;
}

std::string Arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::String>().Utf8Value(); }

// mknod(path, mode, makedev(major, minor)): `mode` carries the file type (S_IFCHR, S_IFBLK,
// S_IFIFO) and permission bits. The process umask applies, as for every other create.
Napi::Value Mknod(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0);
  auto mode = static_cast<mode_t>(info[1].As<Napi::Number>().Uint32Value());
  auto major = info[2].As<Napi::Number>().Uint32Value();
  auto minor = info[3].As<Napi::Number>().Uint32Value();
  if (mknod(path.c_str(), mode, makedev(major, minor)) != 0) throw FsError(info.Env(), errno, "mknod", "mknod");
  return info.Env().Undefined();
}

Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0), name = Arg(info, 1);
  auto value = info[2].As<Napi::Buffer<char>>();
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) != 0)
    throw FsError(info.Env(), errno, "lsetxattr", "xattr");
  return info.Env().Undefined();
}

// The value, or null when the attribute is absent (ENODATA).
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0), name = Arg(info, 1);
  for (;;) {
    ssize_t n = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENODATA) return info.Env().Null();
      throw FsError(info.Env(), errno, "lgetxattr", "xattr");
    }
    std::vector<char> buf(static_cast<size_t>(n) + 1);
    ssize_t m = lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (m < 0) {
      if (errno == ERANGE) continue;  // grew in between
      if (errno == ENODATA) return info.Env().Null();
      throw FsError(info.Env(), errno, "lgetxattr", "xattr");
    }
    return Napi::Buffer<char>::Copy(info.Env(), buf.data(), static_cast<size_t>(m));
  }
}

Napi::Value Llistxattr(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0);
  std::vector<char> buf;
  for (;;) {
    ssize_t n = llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) throw FsError(info.Env(), errno, "llistxattr", "xattr");
    buf.resize(static_cast<size_t>(n) + 1);
    ssize_t m = llistxattr(path.c_str(), buf.data(), buf.size());
    if (m < 0) {
      if (errno == ERANGE) continue;
      throw FsError(info.Env(), errno, "llistxattr", "xattr");
    }
    buf.resize(static_cast<size_t>(m));
    break;
  }
  Napi::Array names = Napi::Array::New(info.Env());
  uint32_t k = 0;
  for (size_t i = 0; i < buf.size();) {
    size_t len = strnlen(buf.data() + i, buf.size() - i);
    if (len > 0) names.Set(k++, Napi::String::New(info.Env(), buf.data() + i, len));
    i += len + 1;
  }
  return names;
}

// The child of openUserNamespace: it only exists so that its user namespace can be given maps
// and opened; it waits for the pipe to close and exits. Raw syscalls only (a fork of a
// multithreaded process).
int HoldNamespace(void* arg) {
  const int* p = static_cast<const int*>(arg);
  syscall(SYS_close, p[1]);  // its copy of the write end: the parent's close must mean EOF
  char c;
  while (syscall(SYS_read, p[0], &c, 1) < 0 && errno == EINTR) {
  }
  syscall(SYS_exit_group, 0);
  return 0;
}

bool WriteFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = write(fd, text.data(), text.size());
  int saved = errno;
  close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(text.size());
}

// A file descriptor of a new user namespace whose uid_map / gid_map are the given texts
// ("inside outside count" lines). No process stays in it: the fd keeps it alive, and an
// idmapped mount holds its own reference.
Napi::Value OpenUserNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string uidMap = Arg(info, 0), gidMap = Arg(info, 1);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw FsError(env, errno, "pipe2", "userns");
  constexpr size_t kStack = 64 * 1024;
  std::vector<char> stack(kStack);
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  // Exit signal 0: nobody gets a SIGCHLD for it; it is reaped below with __WALL.
  int pid = clone(HoldNamespace, stack.data() + kStack, CLONE_NEWUSER, p);
  int cloneErr = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  close(p[0]);
  if (pid < 0) {
    close(p[1]);
    throw FsError(env, cloneErr, "clone", "userns");
  }
  std::string proc = "/proc/" + std::to_string(pid);
  const char* failed = nullptr;
  int err = 0;
  int nsfd = -1;
  if (!WriteFile(proc + "/uid_map", uidMap)) {
    failed = "write uid_map";
  } else if (!WriteFile(proc + "/gid_map", gidMap)) {
    failed = "write gid_map";
  } else if ((nsfd = open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC)) < 0) {
    failed = "open ns/user";
  }
  if (failed) err = errno;
  close(p[1]);  // the child exits
  while (waitpid(pid, nullptr, __WALL) < 0 && errno == EINTR) {
  }
  if (failed) throw FsError(env, err, failed, "userns");
  return Napi::Number::New(env, nsfd);
}

// Clones the mount at `source` (its whole subtree when `recursive`), marks the clone idmapped
// through the user namespace `usernsFd`, and attaches it at `target`. On-disk id k then reads
// as the namespace's outside id for inside id k (e.g. with "0 4294967294 1": root-owned files
// appear owned by 4294967294), and writes through the mount map back.
Napi::Value IdmapMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string source = Arg(info, 0), target = Arg(info, 1);
  int userns = info[2].As<Napi::Number>().Int32Value();
  bool recursive = info[3].ToBoolean();
  unsigned rec = recursive ? AT_RECURSIVE : 0;
  int tree = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec));
  if (tree < 0) throw FsError(env, errno, "open_tree", "idmap-mount");
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns);
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | rec, &attr, sizeof attr) != 0) {
    int e = errno;
    close(tree);
    throw FsError(env, e, "mount_setattr", "idmap-mount");
  }
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    int e = errno;
    close(tree);
    throw FsError(env, e, "move_mount", "idmap-mount");
  }
  close(tree);
  return env.Undefined();
}

}  // namespace

void RegisterFsOps(Napi::Env env, Napi::Object exports) {
  exports.Set("mknod", Napi::Function::New(env, Mknod));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr));
  exports.Set("llistxattr", Napi::Function::New(env, Llistxattr));
  exports.Set("openUserNamespace", Napi::Function::New(env, OpenUserNamespace));
  exports.Set("idmapMount", Napi::Function::New(env, IdmapMount));
}

}  // namespace garden
