// Tests of btrfs.cc on a real filesystem, for the leak checkers (scripts/leakcheck.sh runs this
// under valgrind and AddressSanitizer): a sparse image in a temp dir, mkfs.btrfs, then every
// primitive once. Root only (loop devices, mounts); fails rather than skips without root or
// without mkfs.btrfs.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "btrfs.h"
#include "check.h"

using namespace garden;


static bool Mkfs(const std::string& image) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execlp("mkfs.btrfs", "mkfs.btrfs", "-q", "-f", "-K", "-m", "single", image.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main() {
  if (geteuid() != 0) {
    fprintf(stderr, "btrfs-tests: must run as root\n");
    return 2;
  }
  char tmpl[] = "/tmp/btrfs-tests-XXXXXX";
  if (!mkdtemp(tmpl)) return 2;
  std::string dir = tmpl, image = dir + "/store.img", mnt = dir + "/mnt";
  int fd = open(image.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  CHECK(fd >= 0 && ftruncate(fd, 512LL << 20) == 0);
  if (fd >= 0) close(fd);
  if (!Mkfs(image)) {
    fprintf(stderr, "btrfs-tests: mkfs.btrfs failed or is missing (apt-get install btrfs-progs)\n");
    unlink(image.c_str());
    rmdir(tmpl);
    return 2;
  }
  mkdir(mnt.c_str(), 0700);
  btrfs::Error e;
  std::string device;
  CHECK(btrfs::LoopMount(image, mnt, "btrfs", MS_NOATIME, "", device, e));
  CHECK(device.rfind("/dev/loop", 0) == 0);
  std::string fsid;
  CHECK(btrfs::Fsid(mnt, fsid, e) && fsid.size() == 36);
  CHECK(btrfs::QuotaEnable(mnt, false, e));
  CHECK(btrfs::QuotaRescan(mnt, true, e));  // the rescan enabling started: limits hold after it
  uint64_t id = 0, again = 0;
  CHECK(btrfs::SubvolumeCreate(mnt, "vol", 1 << 20, id, e) && id >= 256);
  CHECK(btrfs::SubvolumeId(mnt + "/vol", again, e) && again == id);
  CHECK(!btrfs::SubvolumeCreate(mnt, "vol", 0, again, e) && e.err == EEXIST);
  CHECK(!btrfs::SubvolumeCreate(mnt, "a/b", 0, again, e) && e.err == EINVAL);
  for (int i = 0; i < 300; i++) {
    std::string f = mnt + "/vol/f" + std::to_string(i);
    int ffd = open(f.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHECK(ffd >= 0);
    if (ffd >= 0) close(ffd);
  }
  uint64_t inodes = 0;
  CHECK(btrfs::CountInodes(mnt, id, inodes, e) && inodes == 300);
  // Over the 1 MiB limit: EDQUOT.
  int big = open((mnt + "/vol/big").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  static char chunk[1 << 16];
  memset(chunk, 'x', sizeof chunk);
  int err = 0;
  for (int i = 0; i < 64 && err == 0; i++)
    if (write(big, chunk, sizeof chunk) < 0) err = errno;
  if (fsync(big) != 0 && err == 0) err = errno;
  close(big);
  CHECK(err == EDQUOT);  // the limit given at creation
  CHECK(btrfs::QgroupLimit(mnt, id, 0, e));
  CHECK(!btrfs::QgroupDestroy(mnt, id, e) && e.err == EBUSY);
  CHECK(btrfs::SubvolumeDelete(mnt, "vol", e));
  CHECK(btrfs::SubvolumeDelete(mnt, "vol", e));  // gone already: fine
  bool gone = false;
  for (int i = 0; i < 500 && !gone; i++) {
    gone = btrfs::QgroupDestroy(mnt, id, e);
    if (!gone) usleep(10000);
  }
  CHECK(gone);
  CHECK(!btrfs::CountInodes(mnt, id, inodes, e) && e.err == ENOENT);
  CHECK(umount2(mnt.c_str(), 0) == 0);
  CHECK(!btrfs::LoopMount(dir + "/missing.img", mnt, "btrfs", 0, "", device, e) && e.err == ENOENT);
  rmdir(mnt.c_str());
  unlink(image.c_str());
  rmdir(tmpl);
  if (failures) {
    fprintf(stderr, "btrfs-tests: %d failure(s)\n", failures);
    return 1;
  }
  printf("btrfs-tests: ok\n");
  return 0;
}
