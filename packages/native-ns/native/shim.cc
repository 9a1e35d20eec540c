// garden-shim: the per-process supervisor (see ARCHITECTURE.md). Started by the addon with
// fd 3 = one end of a socketpair whose other end the server holds. It waits (idle, possibly
// pre-started in a pool) for the SPEC frame, which names the process's directory and may
// carry the container init's pidfd as SCM_RIGHTS; EOF before a spec means the server is gone
// and the shim exits. It then starts the process, drains its output into ring files, records
// its exit status and serves any number of attachers on <dir>/sock. It is single-threaded, so it
// may do anything after fork; the child still only makes plain syscalls. CREATE frames may come
// before the SPEC: the shim then creates a container for the server (CreateMain) and waits again.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "create.h"
#include "fdpass.h"
#include "protocol.h"
#include "ring.h"
#include "spec.h"
#include "sigreset.h"
#include "stages.h"

using namespace garden;

namespace {

int Sys_pidfd_send_signal(int pidfd, int sig) { return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

bool ReadFull(int fd, char* buf, size_t len) {
  while (len) {
    ssize_t n = read(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool WriteFull(int fd, const char* buf, size_t len) {
  while (len) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// ---- the child: everything between clone and exec --------------------------------------------

struct ChildPlan {
  const Spec* spec;
  int containerPidfd;
  // Fds the child writes "0" to: `tasks` of each v1 cgroup (moving the calling — only — thread
  // skips the kernel's global threadgroup lock, whose first use after a quiet spell waits for an
  // RCU grace period), and cgroup.procs of a v2 cgroup only when clone3 (CLONE_INTO_CGROUP) is
  // unavailable.
  std::vector<int> cgroupProcs;
  int cgroupV2Dir = -1;    // CLONE_INTO_CGROUP target
  int cgroupV2Procs = -1;  // fallback for fork()
  int stdinR = -1, stdoutW = -1, stderrW = -1;
  int ptySock = -1;  // child end of the socketpair that carries the pty master back
  int errW = -1;
  std::vector<std::string> candidates;
  std::vector<char*> argv, envp;
  int lastCap = 40;
  int execFd = -1;  // sealed copy of spec.hostExec: exec'd instead of the PATH candidates
};

[[noreturn]] void ChildFail(int errW, Stage stage, int err) {
  int32_t rec[2] = {static_cast<int32_t>(stage), err};
  (void)!write(errW, rec, sizeof rec);
  _exit(127);
}

int InstallSeccomp(const std::string& prog) {
  struct sock_fprog fprog;
  fprog.len = static_cast<unsigned short>(prog.size() / sizeof(struct sock_filter));
  fprog.filter = reinterpret_cast<struct sock_filter*>(const_cast<char*>(prog.data()));
  return static_cast<int>(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog));
}

[[noreturn]] void ChildMain(ChildPlan& p) {
  const Spec& s = *p.spec;
  const int errW = p.errW;
  // Dispositions back to default and an empty mask: the exec'd program must not inherit ours.
  ResetSignals(kShimSignals);

  for (int fd : p.cgroupProcs) {
    if (write(fd, "0", 1) != 1) ChildFail(errW, Stage::kCgroup, errno);
  }
  if (p.cgroupV2Procs >= 0 && write(p.cgroupV2Procs, "0", 1) != 1) ChildFail(errW, Stage::kCgroup, errno);
  for (const auto& r : s.rlimits) {
    struct rlimit rl = {static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard)};
    if (setrlimit(static_cast<__rlimit_resource>(r.resource), &rl) != 0) ChildFail(errW, Stage::kRlimit, errno);
  }
  if (s.inContainer) {
    int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
    if (s.joinUserNs) flags |= CLONE_NEWUSER;
    if (setns(p.containerPidfd, flags) != 0) ChildFail(errW, Stage::kSetns, errno);
  }
  if (setsid() < 0) ChildFail(errW, Stage::kSetsid, errno);
  if (s.tty) {
    // The slave is created owned by our fsuid (its group is devpts' gid=5): make that the
    // process's user, in the namespace we are in now, so the process can reopen its terminal
    // (/dev/stdout, /dev/tty) like any terminal's owner. setresuid below sets fsuid again.
    // set*fsid cannot report failure; asking with an invalid id (-1) returns the current one.
    if (s.hasGid) {
      syscall(SYS_setfsgid, s.gid);
      if (syscall(SYS_setfsgid, -1) != static_cast<long>(s.gid)) ChildFail(errW, Stage::kPty, EPERM);
    }
    if (s.hasUid) {
      syscall(SYS_setfsuid, s.uid);
      if (syscall(SYS_setfsuid, -1) != static_cast<long>(s.uid)) ChildFail(errW, Stage::kPty, EPERM);
    }
    // Open the pty in the container's own devpts instance so /dev/pts/N exists inside.
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) ChildFail(errW, Stage::kPty, errno);
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) != 0) ChildFail(errW, Stage::kPty, errno);
    struct winsize ws = {s.rows, s.cols, 0, 0};
    if (ioctl(master, TIOCSWINSZ, &ws) != 0) ChildFail(errW, Stage::kPty, errno);
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0) ChildFail(errW, Stage::kPty, errno);
    char dummy = 'm';
    if (SendMsgFd(p.ptySock, &dummy, 1, master) != 1) ChildFail(errW, Stage::kPty, errno);
    close(master);
    if (ioctl(slave, TIOCSCTTY, 0) != 0) ChildFail(errW, Stage::kPty, errno);
    for (int fd = 0; fd < 3; fd++) {
      if (dup2(slave, fd) < 0) ChildFail(errW, Stage::kStdio, errno);
    }
  } else {
    if (dup2(p.stdinR, 0) < 0 || dup2(p.stdoutW, 1) < 0 || dup2(p.stderrW, 2) < 0) {
      ChildFail(errW, Stage::kStdio, errno);
    }
  }
  if (s.hasCaps) {
    for (int cap = 0; cap <= p.lastCap; cap++) {
      if (!(s.capBounding & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        ChildFail(errW, Stage::kCapabilities, errno);
      }
    }
  }
  // Without no_new_privs only a CAP_SYS_ADMIN holder may install a filter: do it while we still
  // are one (runc does the same); with no_new_privs it goes last, just before exec.
  if (!s.seccomp.empty() && !s.noNewPrivs && InstallSeccomp(s.seccomp) != 0) ChildFail(errW, Stage::kSeccomp, errno);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) ChildFail(errW, Stage::kCapabilities, errno);
  if (s.hasGroups || s.hasGid) {
    if (setgroups(s.groups.size(), reinterpret_cast<const gid_t*>(s.groups.data())) != 0) {
      ChildFail(errW, Stage::kSetgroups, errno);
    }
  }
  if (s.hasGid && setresgid(s.gid, s.gid, s.gid) != 0) ChildFail(errW, Stage::kSetgid, errno);
  if (s.hasUid && setresuid(s.uid, s.uid, s.uid) != 0) ChildFail(errW, Stage::kSetuid, errno);
  if (s.hasCaps) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    data[0].effective = static_cast<uint32_t>(s.capEffective);
    data[1].effective = static_cast<uint32_t>(s.capEffective >> 32);
    data[0].permitted = static_cast<uint32_t>(s.capPermitted);
    data[1].permitted = static_cast<uint32_t>(s.capPermitted >> 32);
    data[0].inheritable = static_cast<uint32_t>(s.capInheritable);
    data[1].inheritable = static_cast<uint32_t>(s.capInheritable >> 32);
    if (syscall(SYS_capset, &hdr, data) != 0) ChildFail(errW, Stage::kCapabilities, errno);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) ChildFail(errW, Stage::kCapabilities, errno);
    for (int cap = 0; cap <= p.lastCap; cap++) {
      if ((s.capAmbient & (1ull << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
        ChildFail(errW, Stage::kCapabilities, errno);
      }
    }
  }
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) ChildFail(errW, Stage::kCapabilities, errno);
  if (!s.cwd.empty() && chdir(s.cwd.c_str()) != 0) ChildFail(errW, Stage::kChdir, errno);
  if (s.noNewPrivs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ChildFail(errW, Stage::kNoNewPrivs, errno);
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) ChildFail(errW, Stage::kCloseFds, errno);
  if (!s.seccomp.empty() && s.noNewPrivs && InstallSeccomp(s.seccomp) != 0) ChildFail(errW, Stage::kSeccomp, errno);
  if (p.execFd >= 0) {
    syscall(SYS_execveat, p.execFd, "", p.argv.data(), p.envp.data(), AT_EMPTY_PATH);
    ChildFail(errW, Stage::kExec, errno);
  }
  int firstErr = ENOENT;
  for (const auto& c : p.candidates) {
    execve(c.c_str(), p.argv.data(), p.envp.data());
    if (errno == EACCES) {
      firstErr = EACCES;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      firstErr = errno;
      break;
    }
  }
  ChildFail(errW, Stage::kExec, firstErr);
}

std::vector<std::string> ExecCandidates(const Spec& s) {
  if (s.path.find('/') != std::string::npos) return {s.path};
  std::string path;
  for (const auto& e : s.env) {
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);  // the later entry wins, as for env
  }
  if (path.empty()) {
    path = (s.hasUid && s.uid != 0) ? "/usr/local/bin:/usr/bin:/bin"
                                    : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  }
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    out.push_back(dir + "/" + s.path);
    start = end + 1;
  }
  return out;
}

// ---- the supervisor --------------------------------------------------------------------------

int g_dirfd_for_log = -1;

// Diagnostics go to <dir>/shim.log, opened on first use (keeps an inode creation off the hot path).
void Diag(const char* what, int err) {
  static int fd = -1;
  if (fd < 0 && g_dirfd_for_log >= 0) {
    fd = openat(g_dirfd_for_log, "shim.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (fd < 0) return;
  char line[256];
  int n = snprintf(line, sizeof line, "garden-shim: %s: %s\n", what, err ? strerror(err) : "error");
  if (n > 0) (void)!write(fd, line, static_cast<size_t>(std::min<int>(n, sizeof line - 1)));
}

struct Client {
  int fd;
  bool attached = false;
  bool statusOnly = false;  // wants EXIT only: never reads the rings, never marks them delivered
  uint64_t cursor[2] = {0, 0};
  bool eofSent[2] = {false, false};
  bool exitSent = false;
  std::string in;
  std::string out;
  size_t outOff = 0;
  bool pollingOut = false;
  bool inPaused = false;  // not reading its socket while the stdin queue is over the bound
  int nextStream = 0;     // Fill alternates streams so a busy stdout cannot starve stderr
};

// Stdin queued in the shim beyond which clients' sockets are not read until the process catches
// up (a client's frames then wait in its socket: the sender sees backpressure, as with a pipe).
constexpr size_t kStdinQueueBound = 1u << 20;

struct Shim {
  int epfd = -1;
  int dirfd = -1;
  int listenFd = -1;
  int childPidfd = -1;
  pid_t childPid = -1;
  int out[2] = {-1, -1};     // read ends (pty: out[0] is the master, out[1] unused)
  bool outEof[2] = {false, false};
  bool outPolling[2] = {false, false};  // out[s] is in epoll (not paused for a slow attacher)
  int stdinFd = -1;          // write end (pty: a dup of the master)
  bool stdinEofRequested = false;
  bool stdinPolling = false;
  std::string stdinQueue;
  int ptyMaster = -1;
  Ring ring[2];
  bool exited = false;
  int exitStatus = 0;
  bool finishing = false;
  std::vector<std::unique_ptr<Client>> clients;
  std::string pending;  // scratch
};

Shim g;

// epoll data: small integers name the fixed fds; clients are tagged with their pointer.
enum : uint64_t { kEvListen = 1, kEvPidfd = 2, kEvOut0 = 3, kEvOut1 = 4, kEvStdin = 5 };

void EpAdd(int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = data;
  epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &ev);
}
void EpMod(int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = data;
  epoll_ctl(g.epfd, EPOLL_CTL_MOD, fd, &ev);
}

// The events a client is polled for: input unless paused for stdin, output while it has some queued.
void ClientInterest(Client* c) {
  uint32_t ev = (c->inPaused ? 0u : static_cast<uint32_t>(EPOLLIN)) | (c->pollingOut ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  EpMod(c->fd, ev, reinterpret_cast<uint64_t>(c));
}

void CloseClient(Client* c) {
  epoll_ctl(g.epfd, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  c->fd = -1;
}

bool Done(int s) { return g.outEof[s]; }

// Fills c->out with the next frame to send; returns false when there is nothing to send.
bool Fill(Client* c) {
  c->out.clear();
  c->outOff = 0;
  if (!c->attached) return false;
  if (c->statusOnly) {
    if (!g.finishing || c->exitSent) return false;
    AppendFrame(c->out, kExit, 0, static_cast<uint64_t>(g.exitStatus), nullptr, 0);
    c->exitSent = true;
    return true;
  }
  static char buf[kMaxOutputChunk];
  for (int k = 0; k < 2; k++) {
    int s = (c->nextStream + k) % 2;
    uint64_t from = c->cursor[s];
    size_t n = g.ring[s].Read(from, buf, sizeof buf);
    if (n > 0) {
      AppendFrame(c->out, kOutput, static_cast<uint8_t>(s + 1), from, buf, static_cast<uint32_t>(n));
      c->cursor[s] = from + n;
      c->nextStream = 1 - s;
      return true;
    }
    c->cursor[s] = from;
  }
  for (int s = 0; s < 2; s++) {
    if (Done(s) && !c->eofSent[s] && c->cursor[s] >= g.ring[s].head()) {
      AppendFrame(c->out, kEof, static_cast<uint8_t>(s + 1), g.ring[s].head(), nullptr, 0);
      c->eofSent[s] = true;
      return true;
    }
  }
  if (g.finishing && c->eofSent[0] && c->eofSent[1] && !c->exitSent) {
    AppendFrame(c->out, kExit, 0, static_cast<uint64_t>(g.exitStatus), nullptr, 0);
    c->exitSent = true;
    return true;
  }
  return false;
}

void Flush(Client* c) {
  if (c->fd < 0) return;
  for (;;) {
    if (c->outOff >= c->out.size() && !Fill(c)) break;
    ssize_t n = send(c->fd, c->out.data() + c->outOff, c->out.size() - c->outOff, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!c->pollingOut) {
          c->pollingOut = true;
          ClientInterest(c);
        }
        return;
      }
      CloseClient(c);
      return;
    }
    c->outOff += static_cast<size_t>(n);
  }
  if (c->pollingOut) {
    c->pollingOut = false;
    ClientInterest(c);
  }
}

void FlushAll() {
  for (auto& c : g.clients) Flush(c.get());
}

void StdinFlush() {
  while (!g.stdinQueue.empty() && g.stdinFd >= 0) {
    ssize_t n = write(g.stdinFd, g.stdinQueue.data(), g.stdinQueue.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!g.stdinPolling) {
          g.stdinPolling = true;
          EpAdd(g.stdinFd, EPOLLOUT, kEvStdin);
        }
        return;
      }
      g.stdinQueue.clear();  // EPIPE: the reader is gone
      break;
    }
    g.stdinQueue.erase(0, static_cast<size_t>(n));
  }
  if (g.stdinPolling) {
    g.stdinPolling = false;
    epoll_ctl(g.epfd, EPOLL_CTL_DEL, g.stdinFd, nullptr);
  }
  if (g.stdinEofRequested && g.stdinQueue.empty() && g.stdinFd >= 0) {
    if (g.ptyMaster >= 0) {
      // A pty has no half-close: send the terminal's EOF character instead.
      (void)!write(g.stdinFd, "\x04", 1);
    }
    close(g.stdinFd);
    g.stdinFd = -1;
  }
}

// Handles one complete frame from a client; returns false to drop the client.
bool HandleFrame(Client* c, uint8_t type, uint64_t value, const char* payload, uint32_t len) {
  switch (type) {
    case kAttach: {
      if (len != 16 || (value & ~kAttachStatusOnly) != 0) return false;
      c->attached = true;
      c->statusOnly = (value & kAttachStatusOnly) != 0;
      for (int s = 0; s < 2; s++) {
        uint64_t from = GetU64(payload + 8 * s);
        // 'Undelivered' is what the consumers have marked delivered in the ring file (after
        // handing the bytes on), not what we sent: bytes in flight to a server that died count
        // as undelivered.
        c->cursor[s] = from == kFromUndelivered ? std::min(g.ring[s].Delivered(), g.ring[s].head()) : from;
      }
      return true;
    }
    case kStdin:
      if (g.stdinFd < 0 || g.stdinEofRequested) return true;
      g.stdinQueue.append(payload, len);
      StdinFlush();
      return true;
    case kStdinEof:
      g.stdinEofRequested = true;
      StdinFlush();
      return true;
    case kSignal:
      if (value < 1 || value > 64) return false;
      if (!g.exited) Sys_pidfd_send_signal(g.childPidfd, static_cast<int>(value));
      return true;
    case kResize: {
      if (g.ptyMaster < 0) return true;
      struct winsize ws = {static_cast<unsigned short>(value & 0xffff), static_cast<unsigned short>((value >> 16) & 0xffff), 0, 0};
      ioctl(g.ptyMaster, TIOCSWINSZ, &ws);
      return true;
    }
    default:
      return false;
  }
}

bool StdinFull() { return g.stdinQueue.size() >= kStdinQueueBound; }

// Handles the complete frames buffered from a client, stopping (and pausing the client) at a
// STDIN frame while the stdin queue is over its bound; returns false when the client was dropped.
// Other frames are never held back by the queue, but a paused client's later frames wait in its
// socket: the TypeScript client sends signals on a connection of their own (process.ts).
bool ProcessInput(Client* c) {
  size_t off = 0;
  while (c->in.size() - off >= kFrameHeader) {
    const char* h = c->in.data() + off;
    if (static_cast<uint8_t>(h[0]) == kStdin && StdinFull()) {
      if (!c->inPaused) {
        c->inPaused = true;
        ClientInterest(c);
      }
      break;
    }
    uint32_t len = GetU32(h + 2);
    if (len > kMaxClientPayload) {
      CloseClient(c);
      return false;
    }
    if (c->in.size() - off < kFrameHeader + len) break;
    if (!HandleFrame(c, static_cast<uint8_t>(h[0]), GetU64(h + 6), h + kFrameHeader, len)) {
      CloseClient(c);
      return false;
    }
    off += kFrameHeader + len;
  }
  c->in.erase(0, off);
  return true;
}

void ClientReadable(Client* c, uint32_t events) {
  if (c->inPaused) {
    // Only a hang-up or error reaches a paused client: its peer is gone, so drop it at once
    // (its unread stdin with it) rather than let a dead client hold a cursor.
    if (events & (EPOLLHUP | EPOLLERR)) CloseClient(c);
    return;
  }
  char buf[65536];
  while (!c->inPaused) {
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      CloseClient(c);
      return;
    }
    c->in.append(buf, static_cast<size_t>(n));
    if (!ProcessInput(c)) return;
  }
  Flush(c);
}

// Resumes clients paused for stdin once the queue is below its bound again; their already
// buffered frames are handled first (no epoll event would report them).
void ResumeInput() {
  for (auto& up : g.clients) {
    Client* c = up.get();
    if (StdinFull()) return;
    if (c->fd < 0 || !c->inPaused) continue;
    c->inPaused = false;
    ClientInterest(c);
    if (ProcessInput(c)) Flush(c);
  }
}

// The first byte of stream s that some attached (output-receiving) client has not been sent yet,
// or head when there is no such client. Bytes from there on must not be overwritten.
uint64_t SlowestCursor(int s) {
  uint64_t slowest = g.ring[s].head();
  for (auto& c : g.clients) {
    if (c->fd < 0 || !c->attached || c->statusOnly || c->eofSent[s]) continue;
    slowest = std::min(slowest, std::max(c->cursor[s], g.ring[s].oldest()));
  }
  return slowest;
}

// Free ring space for stream s: everything when nobody is attached (the oldest bytes are
// overwritten, so the process never blocks on a missing reader), else the room before the
// slowest attached client's cursor.
uint64_t RingRoom(int s) {
  return g.ring[s].capacity() - (g.ring[s].head() - SlowestCursor(s));
}

// Polls a process pipe only while its ring has room; otherwise the pipe fills and the process
// blocks in write() until the slowest attached client catches up (backpressure).
void UpdateOutputPolling() {
  for (int s = 0; s < 2; s++) {
    if (g.out[s] < 0) continue;
    bool want = RingRoom(s) > 0;
    if (want == g.outPolling[s]) continue;
    if (want) {
      EpAdd(g.out[s], EPOLLIN, s == 0 ? kEvOut0 : kEvOut1);
    } else {
      epoll_ctl(g.epfd, EPOLL_CTL_DEL, g.out[s], nullptr);
    }
    g.outPolling[s] = want;
  }
}

void AddClient(int fd, bool attachedFromStart) {
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  auto c = std::make_unique<Client>();
  c->fd = fd;
  c->attached = attachedFromStart;
  EpAdd(fd, EPOLLIN, reinterpret_cast<uint64_t>(c.get()));
  g.clients.push_back(std::move(c));
}

void OutputReadable(int s) {
  static char buf[65536];
  for (int i = 0; i < 16; i++) {  // bounded, so one busy stream cannot starve the rest
    uint64_t room = RingRoom(s);
    if (room == 0) break;  // UpdateOutputPolling stops polling until clients catch up
    ssize_t n = read(g.out[s], buf, static_cast<size_t>(std::min<uint64_t>(room, sizeof buf)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {  // EOF, or EIO on a pty master once every slave is closed
      if (g.outPolling[s]) epoll_ctl(g.epfd, EPOLL_CTL_DEL, g.out[s], nullptr);
      g.outPolling[s] = false;
      if (g.out[s] != g.ptyMaster) close(g.out[s]);
      g.out[s] = -1;
      g.outEof[s] = true;
      break;
    }
    g.ring[s].Append(buf, static_cast<size_t>(n));
  }
  FlushAll();
}

bool WriteExitFile() {
  char text[128];
  int code = g.exitStatus >= 128 ? -1 : g.exitStatus;
  int sig = g.exitStatus >= 128 ? g.exitStatus - 128 : 0;
  int len = code >= 0 ? snprintf(text, sizeof text, "{\"exitStatus\":%d,\"code\":%d,\"signal\":null}\n", g.exitStatus, code)
                      : snprintf(text, sizeof text, "{\"exitStatus\":%d,\"code\":null,\"signal\":%d}\n", g.exitStatus, sig);
  int fd = openat(g.dirfd, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return false;
  bool ok = write(fd, text, static_cast<size_t>(len)) == len;
  close(fd);
  return ok && renameat(g.dirfd, "exit.tmp", g.dirfd, "exit") == 0;
}

void MaybeFinish() {
  if (g.finishing || !g.exited || !g.outEof[0] || !g.outEof[1]) return;
  if (!WriteExitFile()) Diag("exit file", errno);
  // New attachers read the rings and the exit file from disk from now on.
  unlinkat(g.dirfd, "sock", 0);
  epoll_ctl(g.epfd, EPOLL_CTL_DEL, g.listenFd, nullptr);
  close(g.listenFd);
  g.listenFd = -1;
  g.finishing = true;
  FlushAll();
}

void ChildExited() {
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(g.childPidfd), &si, WEXITED | WNOHANG) != 0 || si.si_pid == 0) return;
  g.exited = true;
  g.exitStatus = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
  epoll_ctl(g.epfd, EPOLL_CTL_DEL, g.childPidfd, nullptr);
  if (g.stdinFd >= 0 && g.ptyMaster < 0) {
    // Nobody will read the queued stdin any more: drop it, which also un-pauses its senders.
    if (g.stdinPolling) epoll_ctl(g.epfd, EPOLL_CTL_DEL, g.stdinFd, nullptr);
    g.stdinPolling = false;
    g.stdinQueue.clear();
    close(g.stdinFd);
    g.stdinFd = -1;
  }
  MaybeFinish();
}

bool AllFlushed() {
  for (auto& c : g.clients) {
    if (c->fd >= 0 && c->attached && (!c->exitSent || c->outOff < c->out.size())) return false;
  }
  return true;
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void SendSpawnError(int fd, Stage stage, int err) {
  std::string f;
  const char* name = StageName(stage);
  AppendFrame(f, kError, 0, static_cast<uint64_t>(err), name, static_cast<uint32_t>(strlen(name)));
  WriteFull(fd, f.data(), f.size());
}

// Reads the SPEC frame's header with recvmsg, picking up the container pidfd if one came along.
bool ReadSpecHeader(int fd, char* hdr, int& passedFd) {
  passedFd = -1;
  size_t got = 0;
  while (got < kFrameHeader) {
    ssize_t n = RecvMsgFd(fd, hdr + got, kFrameHeader - got, passedFd);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

// CREATE: a container whose init is created from this small process (cheap to clone, unlike a
// server with a large heap, whose page tables clone would copy) and handed to the server, whose
// child it is (CLONE_PARENT). Nothing of it stays with us: the shim then waits for its next frame
// (the server returns it to its pool). Returns 2 when the channel is unusable.
int CreateMain(int ctl, const std::string& raw, int initFd) {
  CreateOptions opts;
  std::string reply;
  if (initFd < 0 || !DecodeCreateOptions(raw.data(), raw.size(), opts)) {
    std::string payload = std::string(StageName(Stage::kSpec)) + '\0';
    AppendFrame(reply, kError, 0, EINVAL, payload.data(), static_cast<uint32_t>(payload.size()));
    WriteFull(ctl, reply.data(), reply.size());
    return 2;  // a peer that sends malformed frames gets no second chance
  }
  opts.initFd = initFd;
  opts.cloneParent = true;
  opts.shimSignals = true;
  opts.onCloned = [ctl](long pid, int pidfd) {
    std::string f;
    AppendFrame(f, kCloned, 0, static_cast<uint64_t>(pid), nullptr, 0);
    // A failed send fails the answer's send too (CreateMain's caller then drops the channel).
    SendAllFd(ctl, f.data(), f.size(), pidfd);
  };
  CreateResult res;
  CreateContainer(opts, res);
  if (res.pid >= 0) {
    AppendFrame(reply, kCreated, 0, static_cast<uint64_t>(res.pid), nullptr, 0);
  } else {
    std::string payload = std::string(StageName(res.stage)) + '\0' + res.syscall;
    AppendFrame(reply, kError, 0, static_cast<uint64_t>(res.err), payload.data(), static_cast<uint32_t>(payload.size()));
  }
  bool sent = SendAllFd(ctl, reply.data(), reply.size(), res.pidfd);
  if (!sent && res.pidfd >= 0) Sys_pidfd_send_signal(res.pidfd, SIGKILL);  // nobody will own it
  if (res.pidfd >= 0) close(res.pidfd);
  return sent ? (res.pid >= 0 ? 0 : 1) : 2;
}

}  // namespace

int main() {
  // Dispositions inherited from the server (Node ignores SIGPIPE; an embedder may ignore more)
  // go once here, so that our children only undo what we change (kShimSignals).
  ResetSignals();
  signal(SIGPIPE, SIG_IGN);
  const int ctl = 3;
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  // 1. The spec frame (an idle pooled shim waits here; EOF: the server went away). CREATE
  // frames may come first, any number of them: the shim stays generic (and pooled) after each.
  char hdr[kFrameHeader];
  int containerPidfd = -1;
  for (;;) {
    if (!ReadSpecHeader(ctl, hdr, containerPidfd)) return 0;
    if (hdr[0] != kCreate || GetU32(hdr + 2) > kMaxSpecPayload) break;
    std::string raw(GetU32(hdr + 2), '\0');
    if (!ReadFull(ctl, raw.data(), raw.size())) return 2;
    if (CreateMain(ctl, raw, containerPidfd) == 2) return 2;
    if (containerPidfd >= 0) close(containerPidfd);
  }
  if (hdr[0] != kSpec || GetU32(hdr + 2) > kMaxSpecPayload) {
    SendSpawnError(ctl, Stage::kSpec, EINVAL);
    return 2;
  }
  std::string raw(GetU32(hdr + 2), '\0');
  if (!ReadFull(ctl, raw.data(), raw.size())) return 2;
  Spec spec;
  std::string perr;
  if (!ParseSpec(raw.data(), raw.size(), spec, perr) || (spec.inContainer && containerPidfd < 0)) {
    SendSpawnError(ctl, Stage::kSpec, EINVAL);
    return 2;
  }
  g.dirfd = open(spec.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (g.dirfd < 0) {
    SendSpawnError(ctl, Stage::kDepot, errno);
    return 2;
  }
  g_dirfd_for_log = g.dirfd;

  // 2. Everything the child needs, prepared before the fork.
  ChildPlan plan;
  plan.spec = &spec;
  plan.containerPidfd = containerPidfd;
  plan.lastCap = spec.hasCaps ? LastCap() : 40;
  if (spec.hasCaps) {
    // A capability outside our own bounding set (inherited from the server) can be neither
    // kept nor raised: capset would fail with EPERM. Requests are clipped to what we have.
    uint64_t own = 0;
    for (int cap = 0; cap <= plan.lastCap; cap++) {
      if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) own |= 1ull << cap;
    }
    spec.capBounding &= own;
    spec.capPermitted &= own;
    spec.capEffective &= own;
    spec.capInheritable &= own;
    spec.capAmbient &= own;
  }
  plan.candidates = ExecCandidates(spec);
  if (!spec.hostExec.empty()) {
    // A sealed in-memory copy: a process in the container must not reach the host's file (not
    // even for writing through /proc/<pid>/exe, the runc CVE-2019-5736 class).
    int src = open(spec.hostExec.c_str(), O_RDONLY | O_CLOEXEC);
    int mfd = src < 0 ? -1 : static_cast<int>(syscall(SYS_memfd_create, "garden-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    struct stat st;
    bool ok = mfd >= 0 && fstat(src, &st) == 0 && S_ISREG(st.st_mode);
    off_t off = 0;
    while (ok && off < st.st_size) {
      ssize_t n = sendfile(mfd, src, &off, static_cast<size_t>(st.st_size - off));
      if (n <= 0) ok = false;
    }
    ok = ok && fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0;
    int err = src < 0 ? errno : (ok ? 0 : (errno ? errno : EINVAL));
    if (src >= 0) close(src);
    if (!ok) {
      if (mfd >= 0) close(mfd);
      SendSpawnError(ctl, Stage::kExec, err);
      return 2;
    }
    plan.execFd = mfd;
  }
  std::vector<std::string> argvStore = spec.args;
  if (argvStore.empty()) argvStore.push_back(spec.path);
  for (auto& a : argvStore) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (auto& e : spec.env) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  for (const auto& dir : spec.cgroups) {
    struct statfs sfs;
    bool v2 = statfs(dir.c_str(), &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
    int fd;
    if (v2 && plan.cgroupV2Dir < 0) {
      fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd >= 0) plan.cgroupV2Dir = fd;
    } else {
      fd = open((dir + (v2 ? "/cgroup.procs" : "/tasks")).c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) plan.cgroupProcs.push_back(fd);
    }
    if (fd < 0) {
      SendSpawnError(ctl, Stage::kCgroup, errno);
      return 2;
    }
  }
  int errPipe[2];
  if (pipe2(errPipe, O_CLOEXEC) != 0) return 2;
  plan.errW = errPipe[1];
  int inP[2] = {-1, -1}, outP[2] = {-1, -1}, errP[2] = {-1, -1}, ptyPair[2] = {-1, -1};
  if (spec.tty) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ptyPair) != 0) return 2;
    plan.ptySock = ptyPair[1];
  } else {
    if (pipe2(inP, O_CLOEXEC) != 0 || pipe2(outP, O_CLOEXEC) != 0 || pipe2(errP, O_CLOEXEC) != 0) return 2;
    // Pipes are created owned by us (host root, unmapped in a user namespace, mode 0600): give
    // them to the process's user, as runc does, or reopening /dev/stdout fails even for the
    // container's root. Before the fork: the process may open them as soon as it runs.
    if (spec.hasStdioOwner) {
      for (int fd : {inP[0], outP[0], errP[0]}) {
        if (fchown(fd, spec.stdioUid, spec.stdioGid) != 0) {
          SendSpawnError(ctl, Stage::kStdio, errno);
          return 2;
        }
      }
    }
    plan.stdinR = inP[0];
    plan.stdoutW = outP[1];
    plan.stderrW = errP[1];
  }
  // Our own children land in the container's pid namespace; our own namespaces are unchanged.
  if (spec.inContainer && setns(containerPidfd, CLONE_NEWPID) != 0) {
    SendSpawnError(ctl, Stage::kSetns, errno);
    return 2;
  }

  // 3. clone3 with a pidfd: signal and wait race-free with pid reuse.
  struct clone_args ca;
  std::memset(&ca, 0, sizeof ca);
  int pidfd = -1;
  ca.flags = CLONE_PIDFD;
  ca.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  ca.exit_signal = SIGCHLD;
  if (plan.cgroupV2Dir >= 0) {
    ca.flags |= CLONE_INTO_CGROUP;
    ca.cgroup = static_cast<uint64_t>(plan.cgroupV2Dir);
  }
  long pid = syscall(SYS_clone3, &ca, sizeof ca);
  if (pid < 0 && errno == ENOSYS) {
    // No clone3 (old kernels, valgrind): fork + pidfd_open. Race-free too, since an unreaped
    // child's pid cannot be reused. The child joins the v2 cgroup by writing cgroup.procs.
    if (plan.cgroupV2Dir >= 0) {
      plan.cgroupV2Procs = openat(plan.cgroupV2Dir, "cgroup.procs", O_WRONLY | O_CLOEXEC);
      if (plan.cgroupV2Procs < 0) {
        SendSpawnError(ctl, Stage::kCgroup, errno);
        return 2;
      }
    }
    pid = fork();
    if (pid > 0) {
      pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
      if (pidfd < 0) {
        SendSpawnError(ctl, Stage::kClone, errno);
        return 2;
      }
      fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    }
  }
  if (pid < 0) {
    SendSpawnError(ctl, Stage::kClone, errno);
    return 2;
  }
  if (pid == 0) ChildMain(plan);
  g.childPid = static_cast<pid_t>(pid);
  g.childPidfd = pidfd;
  // Depot files are made while the child is joining namespaces and exec'ing (on another CPU).
  bool depotOk = g.ring[0].Create(g.dirfd, "stdout.ring", spec.ringCapacity) &&
                 g.ring[1].Create(g.dirfd, "stderr.ring", spec.ringCapacity);
  int depotErr = depotOk ? 0 : errno;
  {
    char pidText[32];
    int n = snprintf(pidText, sizeof pidText, "%ld\n", pid);
    int fd = openat(g.dirfd, "pid.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
      (void)!write(fd, pidText, static_cast<size_t>(n));
      close(fd);
      renameat(g.dirfd, "pid.tmp", g.dirfd, "pid");
    }
  }
  g.listenFd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fchdir(g.dirfd) == 0) {
    unlink("sock");
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, "sock");  // relative: the depot path may exceed sun_path
    if (bind(g.listenFd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0 || listen(g.listenFd, 64) != 0) {
      Diag("listen", errno);
    }
    if (chdir("/") != 0) Diag("chdir", errno);
  }
  close(errPipe[1]);
  for (int fd : plan.cgroupProcs) close(fd);
  for (int fd : {plan.cgroupV2Dir, plan.cgroupV2Procs, plan.execFd}) {
    if (fd >= 0) close(fd);
  }
  if (containerPidfd >= 0) close(containerPidfd);
  if (spec.tty) {
    close(ptyPair[1]);
    char dummy;
    int master = -1;
    if (RecvMsgFd(ptyPair[0], &dummy, 1, master) == 1) g.ptyMaster = master;
    else if (master >= 0) close(master);
    close(ptyPair[0]);
  } else {
    close(inP[0]);
    close(outP[1]);
    close(errP[1]);
  }
  int32_t rec[2];
  ssize_t got;
  do {
    got = read(errPipe[0], rec, sizeof rec);
  } while (got < 0 && errno == EINTR);
  close(errPipe[0]);
  if (got == static_cast<ssize_t>(sizeof rec) || !depotOk) {
    if (got != static_cast<ssize_t>(sizeof rec)) Sys_pidfd_send_signal(pidfd, SIGKILL);
    siginfo_t si;
    waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
    for (const char* f : {"stdout.ring", "stderr.ring", "pid", "sock"}) unlinkat(g.dirfd, f, 0);
    if (got == static_cast<ssize_t>(sizeof rec)) {
      SendSpawnError(ctl, static_cast<Stage>(rec[0]), rec[1]);
    } else {
      SendSpawnError(ctl, Stage::kDepot, depotErr);
    }
    return 1;
  }
  if (spec.tty && g.ptyMaster < 0) {
    // exec succeeded but the master never arrived: cannot happen unless the kernel lied.
    SendSpawnError(ctl, Stage::kPty, EIO);
    Sys_pidfd_send_signal(pidfd, SIGKILL);
    return 1;
  }

  // 4. The supervisor loop.
  g.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (spec.tty) {
    fcntl(g.ptyMaster, F_SETFL, fcntl(g.ptyMaster, F_GETFL) | O_NONBLOCK);
    g.out[0] = g.ptyMaster;
    g.outEof[1] = true;  // a pty merges stderr into stdout
    g.stdinFd = fcntl(g.ptyMaster, F_DUPFD_CLOEXEC, 3);
  } else {
    g.out[0] = outP[0];
    g.out[1] = errP[0];
    g.stdinFd = inP[1];
    for (int fd : {outP[0], errP[0], inP[1]}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  {
    std::string f;
    AppendFrame(f, kStarted, 0, static_cast<uint64_t>(pid), nullptr, 0);
    WriteFull(ctl, f.data(), f.size());
  }
  EpAdd(g.listenFd, EPOLLIN, kEvListen);
  EpAdd(g.childPidfd, EPOLLIN, kEvPidfd);
  AddClient(ctl, true);
  UpdateOutputPolling();

  int64_t deadline = -1;
  for (;;) {
    if (g.finishing) {
      if (AllFlushed()) break;
      if (deadline < 0) deadline = NowMs() + 2000;  // a stuck attacher cannot keep us alive
      if (NowMs() >= deadline) break;
    }
    struct epoll_event evs[32];
    int timeout = deadline < 0 ? -1 : static_cast<int>(std::max<int64_t>(0, deadline - NowMs()));
    int n = epoll_wait(g.epfd, evs, 32, timeout);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      uint64_t d = evs[i].data.u64;
      if (d == kEvListen) {
        for (;;) {
          int fd = accept4(g.listenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (fd < 0) break;
          AddClient(fd, false);
        }
      } else if (d == kEvPidfd) {
        ChildExited();
      } else if (d == kEvOut0 || d == kEvOut1) {
        OutputReadable(d == kEvOut0 ? 0 : 1);
        MaybeFinish();
      } else if (d == kEvStdin) {
        StdinFlush();
      } else {
        Client* c = reinterpret_cast<Client*>(d);
        if (c->fd < 0) continue;
        if (evs[i].events & EPOLLOUT) Flush(c);
        if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) ClientReadable(c, evs[i].events);
      }
    }
    // Drop closed clients (after the event batch: pointers in evs stay valid until here).
    for (size_t i = 0; i < g.clients.size();) {
      if (g.clients[i]->fd < 0) {
        g.clients.erase(g.clients.begin() + static_cast<long>(i));
      } else {
        i++;
      }
    }
    // Backpressure both ways, re-evaluated after every batch: stdin frames resume when the
    // queue drained; a pipe is polled again once clients made room in its ring (or left).
    ResumeInput();
    UpdateOutputPolling();
  }
  for (auto& c : g.clients) {
    if (c->fd >= 0) close(c->fd);
  }
  g.clients.clear();
  return 0;
}
