#include "tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

namespace garden {

namespace {

// One directory on the way down. Only the names are kept for every level (the path of a deep
// tree exceeds PATH_MAX long before memory matters); fds only for the deepest kOpenLevels.
struct Level {
  std::string name;  // entry name in the parent ("" for the root)
  dev_t dev;
  ino_t ino;
  int fd;        // -1 once closed to bound the fds we hold; reopened through ".." on the way up
  off_t resume;  // getdents position to continue from (after the subdirectory we went into)
  bool seek;     // resume must be applied before the next getdents
  int passes;    // times this directory was restarted from its first entry (ENOTEMPTY)
  bool incomplete;  // something below could not be removed: keep this directory
};

constexpr size_t kOpenLevels = 64;
// Restarts of one directory from position 0 when its rmdir says ENOTEMPTY (entries a changing
// directory listed late); a tree that keeps growing under us fails instead of looping forever.
constexpr int kMaxPasses = 4;

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

bool Fail(TreeError& e, int err, const char* syscall, std::string path) {
  e.err = err;
  e.syscall = syscall;
  e.path = std::move(path);
  return false;
}

std::string PathOf(const std::string& root, const std::vector<Level>& stack, const char* leaf) {
  std::string p = root;
  for (size_t i = 1; i < stack.size(); i++) p += "/" + stack[i].name;
  if (leaf) p += std::string("/") + leaf;
  return p;
}

// Opens directory `name` of `dirfd` without following a symlink and without crossing a mount
// (EXDEV), bind mounts of the same filesystem included (openat2). Kernels before 5.6 fall back to
// openat plus a device comparison (which cannot see a bind mount of the same filesystem).
int OpenSubdir(int dirfd, const char* name, dev_t rootDev) {
  static std::atomic<bool> noOpenat2{false};  // ENOSYS once (an old kernel, valgrind): stop asking
  if (!noOpenat2.load(std::memory_order_relaxed)) {
    struct open_how how;
    std::memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
    int fd = static_cast<int>(syscall(SYS_openat2, dirfd, name, &how, sizeof how));
    if (fd >= 0 || errno != ENOSYS) return fd;
    noOpenat2.store(true, std::memory_order_relaxed);
  }
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_dev != rootDev)) {
    close(fd);
    errno = EXDEV;
    return -1;
  }
  return fd;
}

bool IsDir(int dirfd, const LinuxDirent64* d) {
  if (d->d_type != DT_UNKNOWN) return d->d_type == DT_DIR;
  struct stat st;
  return fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

void CloseAll(std::vector<Level>& stack) {
  for (auto& l : stack) {
    if (l.fd >= 0) close(l.fd);
    l.fd = -1;
  }
}

}  // namespace

bool RemoveTree(const std::string& path, TreeError& e) {
  e = TreeError{};
  int root = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0) {
    if (errno == ENOENT) return true;
    if (errno != ENOTDIR && errno != ELOOP) return Fail(e, errno, "open", path);
    // A file or a symlink: remove just that.
    if (unlink(path.c_str()) == 0 || errno == ENOENT) return true;
    return Fail(e, errno, "unlink", path);
  }
  struct stat st;
  if (fstat(root, &st) != 0) {
    int err = errno;
    close(root);
    return Fail(e, err, "fstat", path);
  }
  const dev_t rootDev = st.st_dev;
  std::vector<Level> stack;
  stack.push_back({"", st.st_dev, st.st_ino, root, 0, false, 0, false});
  std::vector<char> buf(16384);
  // An entry that cannot go (a mount point, EBUSY, EPERM, ...) is left with its ancestors; the
  // rest of the tree is still removed and the first such failure is reported.
  auto note = [&](int err, const char* sys, const char* leaf) {
    if (e.err == 0) Fail(e, err, sys, PathOf(path, stack, leaf));
    stack.back().incomplete = true;
  };
  // Failures that leave us unable to walk on (the listing itself, or the way back up).
  auto abort = [&](int err, const char* sys) {
    if (e.err == 0) Fail(e, err, sys, PathOf(path, stack, nullptr));
    CloseAll(stack);
    return false;
  };

  for (;;) {
    Level& cur = stack.back();
    if (cur.seek && lseek(cur.fd, cur.resume, SEEK_SET) < 0) return abort(errno, "lseek");
    cur.seek = false;
    long n = syscall(SYS_getdents64, cur.fd, buf.data(), buf.size());
    if (n < 0) return abort(errno, "getdents64");
    if (n == 0) {
      // Everything listed is gone (or could not go): remove the directory itself from its parent.
      if (stack.size() == 1) {
        close(cur.fd);
        cur.fd = -1;
        if (cur.incomplete) return false;
        if (rmdir(path.c_str()) == 0 || errno == ENOENT) return true;
        if (errno != ENOTEMPTY || cur.passes >= kMaxPasses) return Fail(e, errno, "rmdir", path);
        cur.fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cur.fd < 0) return Fail(e, errno, "open", path);
        cur.passes++;
        continue;  // from position 0 of the fresh fd
      }
      Level child = std::move(stack.back());
      stack.pop_back();
      Level& parent = stack.back();
      if (parent.fd < 0) {
        // Closed on the way down: back up through "..", which must still be the same directory.
        parent.fd = openat(child.fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat pst;
        if (parent.fd < 0) {
          int err = errno;
          close(child.fd);
          return abort(err, "openat");
        }
        if (fstat(parent.fd, &pst) != 0 || pst.st_dev != parent.dev || pst.st_ino != parent.ino) {
          close(child.fd);
          return abort(ESTALE, "openat");  // moved while we were below it
        }
      }
      close(child.fd);
      parent.seek = true;  // continue after the entry we went into
      if (child.incomplete) {
        parent.incomplete = true;
        continue;
      }
      if (unlinkat(parent.fd, child.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
        if (errno != ENOTEMPTY || child.passes >= kMaxPasses) {
          note(errno, "unlinkat", child.name.c_str());
          continue;
        }
        // Something appeared in it meanwhile, or its listing skipped entries: go through it again.
        int fd = OpenSubdir(parent.fd, child.name.c_str(), rootDev);
        if (fd < 0) {
          note(errno, "openat2", child.name.c_str());
          continue;
        }
        child.fd = fd;
        child.resume = 0;
        child.seek = false;
        child.passes++;
        stack.push_back(std::move(child));
      }
      continue;
    }
    // Unlink every non-directory of this batch; go into the first subdirectory.
    const char* sub = nullptr;
    off_t subOff = 0;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<LinuxDirent64*>(buf.data() + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      if (IsDir(cur.fd, d)) {
        if (!sub) {
          sub = name;
          subOff = static_cast<off_t>(d->d_off);
        }
        continue;
      }
      if (unlinkat(cur.fd, name, 0) == 0 || errno == ENOENT) continue;
      if (errno == EISDIR && !sub) {  // replaced by a directory since the listing
        sub = name;
        subOff = static_cast<off_t>(d->d_off);
        continue;
      }
      note(errno, "unlinkat", name);  // e.g. EBUSY: a file with something mounted on it
    }
    if (!sub) continue;  // the fd's position is already after this batch
    cur.resume = subOff;
    cur.seek = true;
    int fd = OpenSubdir(cur.fd, sub, rootDev);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      if (errno == ENOTDIR || errno == ELOOP) {  // replaced by a file or symlink meanwhile
        if (unlinkat(cur.fd, sub, 0) != 0 && errno != ENOENT) note(errno, "unlinkat", sub);
        continue;
      }
      note(errno, "openat2", sub);  // EXDEV: a mount point, never entered
      continue;
    }
    struct stat cst;
    if (fstat(fd, &cst) != 0) {
      note(errno, "fstat", sub);
      close(fd);
      continue;
    }
    std::string subName(sub);
    if (stack.size() >= kOpenLevels) {
      Level& far = stack[stack.size() - kOpenLevels];
      if (far.fd >= 0 && &far != &stack.front()) {
        close(far.fd);
        far.fd = -1;
      }
    }
    stack.push_back({std::move(subName), cst.st_dev, cst.st_ino, fd, 0, false, 0, false});
  }
}

}  // namespace garden
