// Unit tests of the shim's building blocks (ring, spec parser, frames). Run under valgrind or
// LeakSanitizer by scripts/leakcheck.sh; also exercises garden-shim end to end on the host.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include <cstdio>
#include <cstring>
#include <string>

#include <linux/sched.h>
#include <sys/syscall.h>

#include "check.h"
#include "create.h"
#include "fdpass.h"
#include "protocol.h"
#include "ring.h"
#include "spec.h"
#include "tree.h"

using namespace garden;


static void Rec(std::string& s, uint16_t tag, const std::string& v) {
  char h[6];
  memcpy(h, &tag, 2);
  uint32_t n = static_cast<uint32_t>(v.size());
  memcpy(h + 2, &n, 4);
  s.append(h, 6);
  s += v;
}

static void TestRing(int dirfd) {
  Ring r;
  CHECK(r.Create(dirfd, "t.ring", 10));
  CHECK(r.Append("abcdef", 6));
  char buf[32];
  uint64_t from = 0;
  size_t n = r.Read(from, buf, sizeof buf);
  CHECK(n == 6 && memcmp(buf, "abcdef", 6) == 0);
  CHECK(r.Append("ghijklmn", 8));  // 14 bytes total, 10 kept: "efghijklmn"
  from = 0;
  n = r.Read(from, buf, sizeof buf);
  CHECK(from == 4);
  CHECK(n == 6 && memcmp(buf, "efghij", 6) == 0);  // up to the wrap point
  from += n;
  n = r.Read(from, buf, sizeof buf);
  CHECK(n == 4 && memcmp(buf, "klmn", 4) == 0);
  CHECK(r.Append(std::string(25, 'x').data(), 25));
  CHECK(r.head() == 39 && r.oldest() == 29);
  CHECK(r.Delivered() == 0);
  CHECK(r.MarkDelivered(30) && r.MarkDelivered(20));  // never moves back
  Ring again;
  CHECK(again.Open(dirfd, "t.ring"));
  CHECK(again.head() == 39 && again.Delivered() == 30 && again.capacity() == 10);
  unlinkat(dirfd, "t.ring", 0);
}

static void TestSpec() {
  std::string s;
  Rec(s, kTagPath, "/bin/true");
  Rec(s, kTagArg, "true");
  Rec(s, kTagEnv, "A=1");
  Rec(s, kTagDir, "/tmp/x");
  uint32_t uid = 1000;
  Rec(s, kTagUid, std::string(reinterpret_cast<char*>(&uid), 4));
  Spec spec;
  std::string err;
  CHECK(ParseSpec(s.data(), s.size(), spec, err));
  CHECK(spec.path == "/bin/true" && spec.args.size() == 1 && spec.hasUid && spec.uid == 1000);
  Spec bad;
  CHECK(!ParseSpec(s.data(), s.size() - 1, bad, err));  // truncated
  std::string unknown = s;
  Rec(unknown, 999, "x");
  Spec bad2;
  CHECK(!ParseSpec(unknown.data(), unknown.size(), bad2, err));
  std::string noPath;
  Rec(noPath, kTagArg, "x");
  Spec bad3;
  CHECK(!ParseSpec(noPath.data(), noPath.size(), bad3, err) && err == "missing path");
  std::string badSeccomp = s;
  Rec(badSeccomp, kTagSeccomp, "1234567");
  Spec bad4;
  CHECK(!ParseSpec(badSeccomp.data(), badSeccomp.size(), bad4, err));
}

static void TestFrames() {
  std::string f;
  AppendFrame(f, kOutput, 1, 42, "hi", 2);
  CHECK(f.size() == kFrameHeader + 2);
  CHECK(static_cast<uint8_t>(f[0]) == kOutput && f[1] == 1 && GetU32(f.data() + 2) == 2 && GetU64(f.data() + 6) == 42);
}

static bool WriteFull(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

static bool ReadN(int fd, char* p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Starts garden-shim (optionally under a wrapper such as valgrind, from $SHIM_WRAPPER) on the
// host with fd 3 = its end of a socketpair; returns our end and sets the pid.
static int StartShim(const char* shim, pid_t& pidOut) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    dup2(sv[1], 3);
    std::vector<std::string> words;
    if (const char* w = getenv("SHIM_WRAPPER")) {
      std::string all(w), cur;
      for (char c : all) {
        if (c == ' ') {
          if (!cur.empty()) words.push_back(cur);
          cur.clear();
        } else {
          cur += c;
        }
      }
      if (!cur.empty()) words.push_back(cur);
    }
    words.push_back(shim);
    std::vector<char*> argv;
    for (auto& x : words) argv.push_back(x.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(126);
  }
  close(sv[1]);
  pidOut = pid;
  return sv[0];
}

struct ShimRun {
  bool started = false;
  bool eof[2] = {false, false};
  int64_t status = -1;
  std::string out[2];
};

// Reads frames until the shim closes the socket, sleeping `pauseUs` after each OUTPUT frame.
static ShimRun ReadShim(int fd, useconds_t pauseUs) {
  ShimRun r;
  char h[kFrameHeader];
  while (ReadN(fd, h, sizeof h)) {
    uint32_t len = GetU32(h + 2);
    std::string payload(len, '\0');
    if (len && !ReadN(fd, payload.data(), len)) break;
    uint8_t type = static_cast<uint8_t>(h[0]);
    uint8_t stream = static_cast<uint8_t>(h[1]);
    if (type == kStarted) r.started = true;
    if (type == kOutput && (stream == 1 || stream == 2)) {
      CHECK(GetU64(h + 6) == r.out[stream - 1].size());  // no gap: nothing was overwritten
      r.out[stream - 1] += payload;
      if (pauseUs) usleep(pauseUs);
    }
    if (type == kEof && (stream == 1 || stream == 2)) r.eof[stream - 1] = true;
    if (type == kExit) r.status = static_cast<int64_t>(GetU64(h + 6));
    if (type == kError) fprintf(stderr, "shim error: %s errno %llu\n", payload.c_str(), static_cast<unsigned long long>(GetU64(h + 6)));
  }
  return r;
}

// spec, STARTED, output on both streams, stdin, EOFs, EXIT, the exit file, the shim's own status.
static void TestShimEndToEnd(const char* shim, const char* dir) {
  pid_t pid;
  int sock = StartShim(shim, pid);
  std::string spec;
  Rec(spec, kTagPath, "/bin/sh");
  Rec(spec, kTagArg, "sh");
  Rec(spec, kTagArg, "-c");
  Rec(spec, kTagArg, "echo out; read x; echo \"$x\" >&2; exit 3");
  Rec(spec, kTagEnv, "PATH=/usr/bin:/bin");
  Rec(spec, kTagDir, dir);
  std::string f;
  AppendFrame(f, kSpec, 0, 0, spec.data(), static_cast<uint32_t>(spec.size()));
  AppendFrame(f, kStdin, 0, 0, "piped\n", 6);
  AppendFrame(f, kStdinEof, 0, 0, nullptr, 0);
  CHECK(write(sock, f.data(), f.size()) == static_cast<ssize_t>(f.size()));
  ShimRun r = ReadShim(sock, 0);
  close(sock);
  int ws = 0;
  waitpid(pid, &ws, 0);
  CHECK(r.started);
  CHECK(r.out[0] == "out\n");
  CHECK(r.out[1] == "piped\n");
  CHECK(r.eof[0] && r.eof[1]);
  CHECK(r.status == 3);
  CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);  // under valgrind: non-zero on leaks/errors
  if (!(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) fprintf(stderr, "shim exit status %d\n", ws);
  int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char exitText[128] = {0};
  int efd = openat(dirfd, "exit", O_RDONLY | O_CLOEXEC);
  CHECK(efd >= 0);
  if (efd >= 0) {
    CHECK(read(efd, exitText, sizeof exitText - 1) > 0);
    close(efd);
  }
  CHECK(strcmp(exitText, "{\"exitStatus\":3,\"code\":3,\"signal\":null}\n") == 0);
  Ring ring;
  CHECK(ring.Open(dirfd, "stdout.ring"));
  CHECK(ring.head() == 4 && ring.Delivered() == 0);  // consumers mark delivery, not the shim
  close(dirfd);
}

// Backpressure both ways with a 4 KiB ring: 3 MiB of stdin for a process that reads late (the
// shim stops reading our socket instead of dropping us), then 300,000 bytes of output to a client
// that reads slowly (the shim stops reading the pipe instead of overwriting unsent bytes).
static void TestShimBackpressure(const char* shim, const char* dir) {
  pid_t pid;
  int sock = StartShim(shim, pid);
  std::string spec;
  Rec(spec, kTagPath, "/bin/sh");
  Rec(spec, kTagArg, "sh");
  Rec(spec, kTagArg, "-c");
  Rec(spec, kTagArg, "sleep 0.2; wc -c; head -c 300000 /dev/zero | tr '\\0' x");
  Rec(spec, kTagEnv, "PATH=/usr/bin:/bin");
  Rec(spec, kTagDir, dir);
  uint64_t cap = 4096;
  Rec(spec, kTagRingCapacity, std::string(reinterpret_cast<char*>(&cap), 8));
  std::string f;
  AppendFrame(f, kSpec, 0, 0, spec.data(), static_cast<uint32_t>(spec.size()));
  std::string chunk(kMaxOutputChunk, 'i');
  for (int i = 0; i < 48; i++) AppendFrame(f, kStdin, 0, 0, chunk.data(), static_cast<uint32_t>(chunk.size()));
  AppendFrame(f, kStdinEof, 0, 0, nullptr, 0);
  CHECK(WriteFull(sock, f.data(), f.size()));  // blocks while the shim holds its stdin bound
  ShimRun r = ReadShim(sock, 200);
  close(sock);
  int ws = 0;
  waitpid(pid, &ws, 0);
  CHECK(r.started);
  CHECK(r.out[0] == "3145728\n" + std::string(300000, 'x'));
  CHECK(r.eof[0] && r.eof[1]);
  CHECK(r.status == 0);
  CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

// The CREATE options codec: a full round trip, and every truncation refused.
static void TestCreateCodec() {
  CreateOptions o;
  o.rootfs = "/depot/c/rootfs";
  o.hostname = "h";
  o.privileged = true;
  o.uidMap = "0 4294967294 1\n";
  o.gidMap = "0 4294967294 1\n";
  o.cgroupV1 = {"/sys/fs/cgroup/memory/g/c", "/sys/fs/cgroup/pids/g/c"};
  o.cgroupV2 = "/sys/fs/cgroup/unified/g/c";
  o.netns = "";
  o.binds = {{"/run/x/hosts", "/etc/hosts", false}, {"/src", "/dst", true}};
  o.masked = {"/proc/kcore"};
  o.readOnly = {"/proc/sys"};
  o.initPath = "/opt/garden-init";
  o.env = {"A=1", "B="};
  o.mqueue = false;
  o.loopbackByCaller = true;
  o.initCaps = 0xa80425fbull;
  o.cgroupMounts = {{"cpu,cpuacct", "cgroup", "cpu,cpuacct", {"cpu", "cpuacct"}}, {"unified", "cgroup2", "", {}}};
  o.nodes = {{"fuse", 10, 229, 0666}};
  std::string enc = EncodeCreateOptions(o);
  CreateOptions d;
  CHECK(DecodeCreateOptions(enc.data(), enc.size(), d));
  CHECK(d.rootfs == o.rootfs && d.hostname == o.hostname && d.privileged && d.uidMap == o.uidMap);
  CHECK(d.cgroupV1 == o.cgroupV1 && d.cgroupV2 == o.cgroupV2 && d.netns.empty());
  CHECK(d.binds.size() == 2 && d.binds[1].src == "/src" && d.binds[1].dst == "/dst" && d.binds[1].readOnly);
  CHECK(d.masked == o.masked && d.readOnly == o.readOnly && d.initPath == o.initPath && d.env == o.env);
  CHECK(!d.mqueue && d.loopbackByCaller && d.initCaps == 0xa80425fbull);
  CHECK(d.cgroupMounts.size() == 2 && d.cgroupMounts[0].target == "cpu,cpuacct" && d.cgroupMounts[0].data == "cpu,cpuacct");
  CHECK(d.cgroupMounts[0].links == o.cgroupMounts[0].links && d.cgroupMounts[1].fstype == "cgroup2");
  CHECK(d.nodes.size() == 1 && d.nodes[0].name == "fuse" && d.nodes[0].major == 10 && d.nodes[0].minor == 229 &&
        d.nodes[0].mode == 0666);
  for (size_t n = 0; n < enc.size(); n++) {
    CreateOptions t;
    CHECK(!DecodeCreateOptions(enc.data(), n, t));
  }
  std::string longer = enc + "x";
  CreateOptions t;
  CHECK(!DecodeCreateOptions(longer.data(), longer.size(), t));
  // Paths the child would build from a cgroup mount's names must stay below /sys/fs/cgroup.
  for (auto bad : {std::string("../etc"), std::string("a/b")}) {
    CreateOptions b = o;
    b.cgroupMounts[1].target = bad;
    std::string e2 = EncodeCreateOptions(b);
    CHECK(!DecodeCreateOptions(e2.data(), e2.size(), t));
    b = o;
    b.cgroupMounts[0].links = {bad};
    e2 = EncodeCreateOptions(b);
    CHECK(!DecodeCreateOptions(e2.data(), e2.size(), t));
  }
  // Device nodes: a name below /dev, permission bits only, privileged containers only.
  for (auto bad : {std::string("../sda"), std::string("a/b"), std::string("")}) {
    CreateOptions b = o;
    b.nodes[0].name = bad;
    std::string e2 = EncodeCreateOptions(b);
    CHECK(!DecodeCreateOptions(e2.data(), e2.size(), t));
  }
  {
    CreateOptions b = o;
    b.nodes[0].mode = 010666;
    std::string e2 = EncodeCreateOptions(b);
    CHECK(!DecodeCreateOptions(e2.data(), e2.size(), t));
    b = o;
    b.privileged = false;
    e2 = EncodeCreateOptions(b);
    CHECK(!DecodeCreateOptions(e2.data(), e2.size(), t));
  }
  o.rootfs = "relative";
  std::string rel = EncodeCreateOptions(o);
  CHECK(!DecodeCreateOptions(rel.data(), rel.size(), t));
}

// Reads one reply frame; `fd` gets a passed descriptor, if any.
static bool ReadReply(int sock, char* hdr, std::string& payload, int& fd) {
  fd = -1;
  if (!RecvAllFd(sock, hdr, kFrameHeader, fd)) return false;
  payload.assign(GetU32(hdr + 2), '\0');
  return payload.empty() || RecvAllFd(sock, payload.data(), payload.size(), fd);
}

// garden-shim's CREATE (as root, privileged: no user namespace): a container whose init is our
// child (CLONE_PARENT), a failing create that leaves the shim usable, a malformed frame that ends
// it, and the shim's exit status (non-zero under LeakSanitizer on a leak).
static void TestShimCreate(const char* shim, const char* init, const char* rootfs) {
  pid_t pid;
  int sock = StartShim(shim, pid);
  int initFd = open(init, O_RDONLY | O_CLOEXEC);
  CHECK(initFd >= 0);
  CreateOptions o;
  o.rootfs = rootfs;
  o.hostname = "leakcheck";
  o.privileged = true;
  o.initPath = init;
  std::string payload = EncodeCreateOptions(o), f;
  AppendFrame(f, kCreate, 0, 0, payload.data(), static_cast<uint32_t>(payload.size()));
  CHECK(SendAllFd(sock, f.data(), f.size(), initFd));
  char h[kFrameHeader];
  std::string body;
  int pidfd = -1;
  // First CLONED (the child set going, its pidfd for work on its namespaces), then CREATED.
  CHECK(ReadReply(sock, h, body, pidfd));
  CHECK(h[0] == static_cast<char>(kCloned) && pidfd >= 0 && GetU64(h + 6) > 0);
  uint64_t clonedPid = GetU64(h + 6);
  if (pidfd >= 0) close(pidfd);
  CHECK(ReadReply(sock, h, body, pidfd));
  CHECK(h[0] == static_cast<char>(kCreated) && pidfd >= 0 && GetU64(h + 6) == clonedPid);
  if (h[0] == static_cast<char>(kError)) fprintf(stderr, "create error: %s errno %llu\n", body.c_str(), static_cast<unsigned long long>(GetU64(h + 6)));
  if (pidfd >= 0) {
    char comm[32] = {0};
    std::string path = "/proc/" + std::to_string(GetU64(h + 6)) + "/comm";
    int cfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    CHECK(cfd >= 0 && read(cfd, comm, sizeof comm - 1) > 0);
    if (cfd >= 0) close(cfd);
    CHECK(strcmp(comm, "garden-init\n") == 0);
    CHECK(syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK(waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED) == 0);  // ours
    close(pidfd);
  }
  // A rootfs that does not exist: an error reply, and the shim stays for the next frame.
  o.rootfs = "/nonexistent-garden-rootfs";
  payload = EncodeCreateOptions(o);
  f.clear();
  AppendFrame(f, kCreate, 0, 0, payload.data(), static_cast<uint32_t>(payload.size()));
  CHECK(SendAllFd(sock, f.data(), f.size(), initFd));
  CHECK(ReadReply(sock, h, body, pidfd));
  CHECK(h[0] == static_cast<char>(kError) && body.rfind("old-root", 0) == 0);
  if (pidfd >= 0) close(pidfd);
  // Malformed options: refused, and the shim exits.
  f.clear();
  AppendFrame(f, kCreate, 0, 0, "junk", 4);
  CHECK(SendAllFd(sock, f.data(), f.size(), initFd));
  CHECK(ReadReply(sock, h, body, pidfd));
  CHECK(h[0] == static_cast<char>(kError) && body.rfind("spec", 0) == 0);
  close(initFd);
  close(sock);
  int ws = 0;
  waitpid(pid, &ws, 0);
  CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 2);
  if (!(WIFEXITED(ws) && WEXITSTATUS(ws) == 2)) fprintf(stderr, "shim exit status %d\n", ws);
}

// RemoveTree on a tree deeper than any path can name (built fd-relative, as a container process
// would), with a symlink out of it that must not be followed; a symlink and a missing path.
static void TestRemoveTree(const char* dir) {
  std::string root = std::string(dir) + "/tree";
  std::string outside = std::string(dir) + "/outside";
  int ofd = open(outside.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  CHECK(ofd >= 0);
  if (ofd >= 0) close(ofd);
  CHECK(mkdir(root.c_str(), 0755) == 0);
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (int i = 0; fd >= 0 && i < 3000; i++) {
    CHECK(mkdirat(fd, "d", 0755) == 0);
    int f = openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (f >= 0) close(f);
    if (i % 500 == 0) CHECK(symlinkat(outside.c_str(), fd, "link") == 0);
    int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(fd);
    fd = next;
  }
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
  TreeError err;
  CHECK(RemoveTree(root, err));
  if (err.err) fprintf(stderr, "remove-tree: %s %s: %s\n", err.syscall, err.path.substr(0, 80).c_str(), strerror(err.err));
  struct stat st;
  CHECK(lstat(root.c_str(), &st) != 0 && errno == ENOENT);
  CHECK(stat(outside.c_str(), &st) == 0);
  CHECK(RemoveTree(root, err));  // missing: fine
  // Wide: many getdents batches, and a walk that goes down into hundreds of subdirectories of one
  // directory and resumes its listing after each.
  CHECK(mkdir(root.c_str(), 0755) == 0);
  fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (int i = 0; fd >= 0 && i < 1500; i++) {
    std::string name = "entry-with-a-longish-name-" + std::to_string(i);
    if (i % 3 == 0) {
      CHECK(mkdirat(fd, name.c_str(), 0755) == 0);
      int sub = openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      for (int j = 0; sub >= 0 && j < 3; j++) {
        int f = openat(sub, std::to_string(j).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (f >= 0) close(f);
      }
      if (sub >= 0) close(sub);
    } else {
      int f = openat(fd, name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (f >= 0) close(f);
    }
  }
  if (fd >= 0) close(fd);
  CHECK(RemoveTree(root, err));
  CHECK(lstat(root.c_str(), &st) != 0 && errno == ENOENT);
  std::string link = std::string(dir) + "/link";
  CHECK(symlink(outside.c_str(), link.c_str()) == 0);
  CHECK(RemoveTree(link, err));  // the link goes, not what it points at
  CHECK(lstat(link.c_str(), &st) != 0 && stat(outside.c_str(), &st) == 0);
  unlink(outside.c_str());
}

int main(int argc, char** argv) {
  // A tmpfs when there is one: the tree tests make thousands of directories, which a busy disk
  // turns into seconds of journal writes.
  char tmpl[] = "/dev/shm/native-tests-XXXXXX";
  if (!mkdtemp(tmpl)) {
    memcpy(tmpl, "/tmp/native-tests-XXXXXX", sizeof "/tmp/native-tests-XXXXXX");
    if (!mkdtemp(tmpl)) return 2;
  }
  int dirfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TestRing(dirfd);
  TestSpec();
  TestFrames();
  TestCreateCodec();
  TestRemoveTree(tmpl);
  if (argc > 3) TestShimCreate(argv[1], argv[2], argv[3]);
  if (argc > 1) {
    TestShimEndToEnd(argv[1], tmpl);
    for (const char* f : {"stdout.ring", "stderr.ring", "exit", "pid", "shim.log", "valgrind.log"}) unlinkat(dirfd, f, 0);
    TestShimBackpressure(argv[1], tmpl);
    for (const char* f : {"stdout.ring", "stderr.ring", "exit", "pid", "shim.log", "valgrind.log"}) unlinkat(dirfd, f, 0);
  }
  close(dirfd);
  rmdir(tmpl);
  if (failures) {
    fprintf(stderr, "native-tests: %d failure(s)\n", failures);
    return 1;
  }
  printf("native-tests: ok\n");
  return 0;
}
