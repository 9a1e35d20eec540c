// The N-API addon: container creation (on a worker thread), the fast shim launcher, exits of
// pidfds polled on the event loop (uv_poll), pidfd signals.
// The raw interface it exposes is described exactly by src/native.d.ts.
#include <fcntl.h>
#include <napi.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <cerrno>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "btrfs_binding.h"
#include "create.h"
#include "fdpass.h"
#include "net_addon.h"
#include "fsops.h"
#include "protocol.h"
#include "stages.h"
#include "tree.h"

using garden::Stage;
using garden::StageName;

namespace {

Napi::Error MakeError(Napi::Env env, int err, const char* syscall, const char* stage) {
  const char* code = strerrorname_np(err);
  std::string msg = std::string(stage) + ": " + (syscall && *syscall ? std::string(syscall) + ": " : "") + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, code ? code : "UNKNOWN"));
  e.Set("syscall", Napi::String::New(env, syscall ? syscall : ""));
  e.Set("stage", Napi::String::New(env, stage));
  return e;
}

// ---- exits: pidfds polled on the event loop ---------------------------------------------------
//
// Each watched pidfd is a uv_poll_t on this environment's own loop: the exit wakes the event
// loop directly, which reaps (waitid on the pidfd, never waitpid(-1)) and settles the promise.
// (An epoll thread handing exits over through a thread-safe function cost a wakeup of that thread
// and one of the loop per exit.)

// libuv's uv.h is not among the Node-API headers this build uses (nothing is downloaded): the few
// libuv 1.x functions used here are declared here (libuv keeps its ABI within 1.x; Node exports
// them to addons), and a poll handle is allocated with libuv's own size for it.
extern "C" {
typedef struct uv_handle_s uv_handle_t;
typedef struct uv_poll_s uv_poll_t;
size_t uv_handle_size(int type);
int uv_poll_init(uv_loop_s* loop, uv_poll_t* handle, int fd);
int uv_poll_start(uv_poll_t* handle, int events, void (*cb)(uv_poll_t*, int, int));
void uv_close(uv_handle_t* handle, void (*cb)(uv_handle_t*));
void uv_unref(uv_handle_t* handle);
void* uv_handle_get_data(const uv_handle_t* handle);
void uv_handle_set_data(uv_handle_t* handle, void* data);
}
constexpr int kUvPoll = 8;      // UV_POLL of libuv 1.x's uv_handle_type
constexpr int kUvReadable = 1;  // UV_READABLE
constexpr int kUvEinval = -EINVAL;

struct State;

struct ExitWatch {
  uv_handle_t* handle;  // a uv_poll_t: uv_handle_size(UV_POLL) bytes of malloc
  State* st;
  napi_deferred deferred;
  int fd;
  ~ExitWatch() { free(handle); }
  uv_poll_t* poll() { return reinterpret_cast<uv_poll_t*>(handle); }
};

ExitWatch* WatchOf(uv_handle_t* h) { return static_cast<ExitWatch*>(uv_handle_get_data(h)); }

struct State {
  napi_env env = nullptr;
  napi_ref resource = nullptr;         // the async resource of the callback scopes
  napi_async_context context = nullptr;
  std::unordered_set<ExitWatch*> watches;
  napi_async_cleanup_hook_handle cleanup = nullptr;
  size_t closing = 0;                  // handles still closing at teardown
};

void FreeWatch(uv_handle_t* h) { delete WatchOf(h); }

void OnExitReadable(uv_poll_t* h, int, int) {
  ExitWatch* w = WatchOf(reinterpret_cast<uv_handle_t*>(h));
  State* st = w->st;
  int code = -1, signal = 0;
  bool known = false;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(w->fd), &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0) {
    known = true;
    if (si.si_code == CLD_EXITED) {
      code = si.si_status;
    } else {
      signal = si.si_status;
    }
  }
  // Out of the loop's epoll set now (uv_close does that at once): the caller may close the fd as
  // soon as the promise settles.
  st->watches.erase(w);
  uv_close(w->handle, FreeWatch);
  napi_env env = st->env;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  napi_value resource;
  napi_callback_scope cs = nullptr;
  // Settled inside a callback scope: the continuations run when it closes, not at some later tick.
  if (napi_get_reference_value(env, st->resource, &resource) == napi_ok) napi_open_callback_scope(env, resource, st->context, &cs);
  {
    Napi::Env e(env);
    Napi::Object r = Napi::Object::New(e);
    r.Set("code", code >= 0 ? Napi::Value(Napi::Number::New(e, code)) : e.Null());
    r.Set("signal", signal ? Napi::Value(Napi::Number::New(e, signal)) : e.Null());
    r.Set("known", Napi::Boolean::New(e, known));
    napi_resolve_deferred(env, w->deferred, r);
  }
  if (cs) napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
}

// At environment teardown (a worker thread's end): the polls still open are closed, and the
// environment waits until libuv has let go of them.
void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* st = static_cast<State*>(arg);
  napi_async_destroy(st->env, st->context);
  napi_delete_reference(st->env, st->resource);
  st->cleanup = handle;
  st->closing = st->watches.size();
  if (st->closing == 0) {
    napi_remove_async_cleanup_hook(handle);
    return;
  }
  for (ExitWatch* w : st->watches) {
    uv_close(w->handle, [](uv_handle_t* h) {
      ExitWatch* w = WatchOf(h);
      State* st = w->st;
      delete w;
      if (--st->closing == 0) napi_remove_async_cleanup_hook(st->cleanup);
    });
  }
  st->watches.clear();
}

Napi::Value WatchExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* st = env.GetInstanceData<State>();
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool keepAlive = info.Length() > 1 && info[1].ToBoolean();
  // Settled exactly once: rejected here, or resolved by OnExitReadable (or never, at teardown).
  napi_deferred deferred = nullptr;
  napi_value promise = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &deferred, &promise), Napi::Value());
  auto fail = [&](int err, const char* call) {
    napi_reject_deferred(env, deferred, MakeError(env, -err, call, "watch-exit").Value());
    return Napi::Value(env, promise);
  };
  uv_loop_s* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* w = new ExitWatch{};
  w->st = st;
  w->fd = fd;
  w->deferred = deferred;
  w->handle = static_cast<uv_handle_t*>(calloc(1, uv_handle_size(kUvPoll)));
  // uv_poll_init makes the fd non-blocking (a flag of the open file, shared with the shims it is
  // sent to): every use of a watched pidfd signals or waits with WNOHANG, so that changes nothing.
  int err = loop && w->handle ? uv_poll_init(loop, w->poll(), fd) : kUvEinval;
  if (err != 0) {
    delete w;
    return fail(err, "uv_poll_init");
  }
  uv_handle_set_data(w->handle, w);
  err = uv_poll_start(w->poll(), kUvReadable, OnExitReadable);
  if (err != 0) {
    uv_close(w->handle, FreeWatch);
    return fail(err, "uv_poll_start");
  }
  if (!keepAlive) uv_unref(w->handle);
  st->watches.insert(w);
  return Napi::Value(env, promise);
}

// ---- pidfds and fds --------------------------------------------------------------------------

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  int pid = info[0].As<Napi::Number>().Int32Value();
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) throw MakeError(info.Env(), errno, "pidfd_open", "signal");
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int sig = info[1].As<Napi::Number>().Int32Value();
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) != 0) throw MakeError(info.Env(), errno, "pidfd_send_signal", "signal");
  return info.Env().Undefined();
}

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw MakeError(info.Env(), errno, "socketpair", "spawn");
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, sv[0]);
  a.Set(1u, sv[1]);
  return a;
}

// Sends a whole buffer on a blocking stream socket, the first byte carrying `passFd` (>= 0) as
// SCM_RIGHTS. Used for the SPEC frame, which hands a container's init pidfd to its shim.
Napi::Value SendFrame(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<char> buf = info[1].As<Napi::Buffer<char>>();
  int passFd = info[2].As<Napi::Number>().Int32Value();
  if (!garden::SendAllFd(fd, buf.Data(), buf.Length(), passFd)) throw MakeError(info.Env(), errno, "sendmsg", "spawn");
  return info.Env().Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// ---- shim launcher: CLONE_VM|CLONE_VFORK, the posix_spawn technique ----------------------------

struct LaunchPlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  const int* fds;  // target i gets fds[i] (-1: /dev/null)
  int nfds;
  int devnull;
  int scratch;  // first fd number above every source and target
  volatile int err;
  volatile int stage;
};

int LaunchChild(void* arg) {
  LaunchPlan* p = static_cast<LaunchPlan*>(arg);
  // Handlers to default now; the mask stays full until just before exec (CLONE_VM: a handler
  // running here would run on the parent's memory).
  struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    unsigned long mask;
  } dfl = {nullptr, 0, nullptr, 0};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(unsigned long));
  }
  if (setsid() < 0) {
    p->err = errno;
    p->stage = 1;
    _exit(127);
  }
  // Move every source above all targets first so dup2 into 0..n-1 never clobbers a source.
  for (int i = 0; i < p->nfds; i++) {
    int src = p->fds[i] >= 0 ? p->fds[i] : p->devnull;
    if (fcntl(src, F_DUPFD, p->scratch + i) != p->scratch + i && dup2(src, p->scratch + i) < 0) {
      p->err = errno;
      p->stage = 2;
      _exit(127);
    }
  }
  for (int i = 0; i < p->nfds; i++) {
    if (dup2(p->scratch + i, i) < 0) {
      p->err = errno;
      p->stage = 2;
      _exit(127);
    }
  }
  syscall(SYS_close_range, static_cast<unsigned>(p->nfds), ~0u, 0u);
  unsigned long none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
  execve(p->path, p->argv, p->envp);
  p->err = errno;
  p->stage = 3;
  _exit(127);
}

std::vector<std::string> StringArray(const Napi::Value& v) {
  std::vector<std::string> out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

struct LaunchResult {
  int pid = -1;
  int pidfd = -1;
  int err = 0;
  const char* sys = "";
};

// vfork-style launch (CLONE_VM | CLONE_VFORK: no page-table copy of this big process); only
// the calling thread waits until the child exec'd. Safe on any thread.
LaunchResult Launch(const std::string& path, std::vector<std::string> argvS, std::vector<std::string> envS, const std::vector<int>& fds) {
  LaunchResult r;
  std::vector<char*> argv, envp;
  for (auto& a : argvS) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envS) envp.push_back(e.data());
  envp.push_back(nullptr);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    r.err = errno;
    r.sys = "open";
    return r;
  }
  int scratch = devnull + 1;
  for (int fd : fds) scratch = std::max(scratch, fd + 1);
  scratch = std::max(scratch, static_cast<int>(fds.size()) + 1);
  LaunchPlan plan{path.c_str(), argv.data(), envp.data(), fds.data(), static_cast<int>(fds.size()), devnull, scratch, 0, 0};
  constexpr size_t kStack = 64 * 1024;
  std::vector<char> stack(kStack);
  int pidfd = -1;
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  int pid = clone(LaunchChild, stack.data() + kStack, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &plan, &pidfd);
  int cloneErr = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  close(devnull);
  if (pid < 0) {
    r.err = cloneErr;
    r.sys = "clone";
    return r;
  }
  if (plan.stage != 0) {
    siginfo_t si;
    waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
    close(pidfd);
    r.err = plan.err;
    r.sys = plan.stage == 1 ? "setsid" : plan.stage == 2 ? "dup2" : "execve";
    return r;
  }
  r.pid = pid;
  r.pidfd = pidfd;
  return r;
}

std::vector<int> IntArray(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int> out;
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  return out;
}

Napi::Object LaunchObject(Napi::Env env, const LaunchResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", r.pid);
  o.Set("pidfd", r.pidfd);
  return o;
}

Napi::Value SpawnHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LaunchResult r = Launch(info[0].As<Napi::String>().Utf8Value(), StringArray(info[1]), StringArray(info[2]), IntArray(info[3]));
  if (r.pid < 0) throw MakeError(env, r.err, r.sys, "spawn-helper");
  return LaunchObject(env, r);
}

class LaunchWorker : public Napi::AsyncWorker {
 public:
  LaunchWorker(Napi::Env env, std::string path, std::vector<std::string> argv, std::vector<std::string> envp, std::vector<int> fds)
      : Napi::AsyncWorker(env, "garden-launch"),
        path_(std::move(path)),
        argv_(std::move(argv)),
        envp_(std::move(envp)),
        fds_(std::move(fds)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { r_ = Launch(path_, argv_, envp_, fds_); }
  void OnOK() override {
    if (r_.pid < 0) {
      deferred_.Reject(MakeError(Env(), r_.err, r_.sys, "spawn-helper").Value());
    } else {
      deferred_.Resolve(LaunchObject(Env(), r_));
    }
  }

 private:
  std::string path_;
  std::vector<std::string> argv_, envp_;
  std::vector<int> fds_;
  LaunchResult r_;
  Napi::Promise::Deferred deferred_;
};

// SpawnHelper on the thread pool: the event loop does not wait for the helper's exec.
Napi::Value SpawnHelperAsync(const Napi::CallbackInfo& info) {
  auto* w = new LaunchWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(), StringArray(info[1]), StringArray(info[2]), IntArray(info[3]));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ---- container creation ------------------------------------------------------------------------

garden::Stage StageFromName(const std::string& name) {
  for (int i = 0; i < static_cast<int>(garden::Stage::kCount); i++) {
    if (name == StageName(static_cast<garden::Stage>(i))) return static_cast<garden::Stage>(i);
  }
  return garden::Stage::kUnknown;
}

class CreateWorker : public Napi::AsyncWorker {
 public:
  CreateWorker(Napi::Env env, garden::CreateOptions opts, int shimFd, std::unique_ptr<garden::ContainerLink> link)
      : Napi::AsyncWorker(env, "garden-create"),
        opts_(std::move(opts)),
        shimFd_(shimFd),
        link_(std::move(link)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    // The link's call brings `lo` up too: off the child's path (it would wait for RTNL while the
    // link holds it).
    if (link_) opts_.loopbackByCaller = link_->spec.loopbackUp = true;
    // The caller keeps the shim's fd: a shim that answered goes back to its pool.
    viaShim_ = shimFd_ >= 0 && opts_.joinPidfd < 0 && ViaShim();
    if (!viaShim_) {
      if (link_) opts_.onCloned = [this](long, int pidfd) { MakeLink(pidfd); };
      garden::CreateContainer(opts_, res_);
    }
    // Never a container without the network asked for (a shim that sent no CLONED frame).
    if (res_.pid >= 0 && link_ && !linkTried_) MakeLink(res_.pidfd);
    if (res_.pid >= 0 && netFailed_) {
      // The container exists but its network does not: it goes (the pair went with the failure;
      // the namespace, with anything left in it, goes with init).
      siginfo_t si;
      syscall(SYS_pidfd_send_signal, res_.pidfd, SIGKILL, nullptr, 0);
      waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(res_.pidfd), &si, WEXITED);
      close(res_.pidfd);
      res_.pid = -1;
      res_.pidfd = -1;
    }
  }
  // The container's network devices, made while its init builds its root (CreateOptions'
  // onCloned): it needs only the namespace, and this thread would otherwise just wait.
  void MakeLink(int pidfd) {
    linkTried_ = true;
    garden::net::ContainerNetResult out;
    netFailed_ = !garden::SetupContainerLink(*link_, pidfd, out, netErr_);
  }
  // The clone happens in an idle garden-shim: cloning this process would copy the page tables
  // of the whole server (create time grows with its heap: ~3.5 ms at 50 MB RSS, ~12 ms at
  // 350 MB), and its exec would tear that copy down again. False (nothing sent) when the shim
  // is gone: the caller then creates from here.
  bool ViaShim() {
    using namespace garden;
    int err = 0;
    int initFd = SealedCopy(opts_.initPath, err);
    if (initFd < 0) {
      res_.stage = Stage::kInitBinary;
      res_.err = err;
      res_.syscall = "open";
      return true;
    }
    std::string frame;
    std::string payload = EncodeCreateOptions(opts_);
    AppendFrame(frame, kCreate, 0, 0, payload.data(), static_cast<uint32_t>(payload.size()));
    if (!SendAllFd(shimFd_, frame.data(), frame.size(), initFd)) return false;
    char hdr[kFrameHeader];
    int fd = -1;
    std::string body;
    bool ok;
    for (;;) {
      fd = -1;
      ok = RecvAllFd(shimFd_, hdr, sizeof hdr, fd);
      uint32_t len = ok ? GetU32(hdr + 2) : 0;
      if (ok && len > 4096) {
        ok = false;
        errno = EPROTO;
      }
      if (ok) {
        body.resize(len);
        ok = RecvAllFd(shimFd_, body.data(), len, fd);
      }
      if (!ok || hdr[0] != static_cast<char>(kCloned)) break;
      // The child is cloned and set going: its network now, while it mounts its root.
      if (fd >= 0) {
        if (link_) MakeLink(fd);
        close(fd);
      }
    }
    if (!ok) {
      res_.stage = Stage::kClone;
      res_.err = errno;
      res_.syscall = "recvmsg";
    } else if (hdr[0] == static_cast<char>(kCreated) && fd >= 0) {
      res_.pid = static_cast<int>(GetU64(hdr + 6));
      res_.pidfd = fd;
      return true;
    } else if (hdr[0] == static_cast<char>(kError)) {
      size_t nul = body.find('\0');
      res_.stage = StageFromName(body.substr(0, nul));
      res_.syscall = nul == std::string::npos ? "" : body.substr(nul + 1);
      res_.err = static_cast<int>(GetU64(hdr + 6));
    } else {
      res_.stage = Stage::kClone;
      res_.err = EPROTO;
      res_.syscall = "recvmsg";
    }
    if (fd >= 0) {
      // A child the shim killed after clone: ours to reap (CLONE_PARENT).
      siginfo_t si;
      syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
      waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &si, WEXITED);
      close(fd);
    }
    return true;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (res_.pid < 0) {
      // The child's own failure says more than a network step it made fail (its namespace gone).
      if (netFailed_ && res_.err == 0) {
        deferred_.Reject(garden::NetError(env, netErr_, "network").Value());
        return;
      }
      deferred_.Reject(MakeError(env, res_.err, res_.syscall.c_str(), StageName(res_.stage)).Value());
      return;
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("pid", res_.pid);
    r.Set("pidfd", res_.pidfd);
    r.Set("viaShim", viaShim_);
    deferred_.Resolve(r);
  }

 private:
  garden::CreateOptions opts_;
  int shimFd_;
  std::unique_ptr<garden::ContainerLink> link_;
  bool linkTried_ = false;
  bool netFailed_ = false;
  garden::net::Error netErr_;
  bool viaShim_ = false;
  garden::CreateResult res_;
  Napi::Promise::Deferred deferred_;
};

std::string Str(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

Napi::Value CreateContainerJs(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  garden::CreateOptions opts;
  opts.rootfs = Str(o, "rootfs");
  opts.hostname = Str(o, "hostname");
  opts.privileged = o.Get("privileged").ToBoolean();
  opts.uidMap = Str(o, "uidMap");
  opts.gidMap = Str(o, "gidMap");
  opts.cgroupV1 = StringArray(o.Get("cgroupV1"));
  opts.cgroupV2 = Str(o, "cgroupV2");
  opts.netns = Str(o, "netns");
  Napi::Array binds = o.Get("binds").As<Napi::Array>();
  for (uint32_t i = 0; i < binds.Length(); i++) {
    Napi::Object b = binds.Get(i).As<Napi::Object>();
    opts.binds.push_back({Str(b, "src"), Str(b, "dst"), b.Get("readOnly").ToBoolean()});
  }
  opts.masked = StringArray(o.Get("maskedPaths"));
  opts.readOnly = StringArray(o.Get("readOnlyPaths"));
  opts.initPath = Str(o, "initPath");
  opts.env = StringArray(o.Get("env"));
  opts.mqueue = o.Get("mqueue").ToBoolean();
  bool lossless = false;
  opts.initCaps = o.Get("initCapabilities").As<Napi::BigInt>().Uint64Value(&lossless);
  Napi::Array cgroupMounts = o.Get("cgroupMounts").As<Napi::Array>();
  for (uint32_t i = 0; i < cgroupMounts.Length(); i++) {
    Napi::Object c = cgroupMounts.Get(i).As<Napi::Object>();
    opts.cgroupMounts.push_back({Str(c, "target"), Str(c, "fstype"), Str(c, "data"), StringArray(c.Get("links"))});
  }
  Napi::Value join = o.Get("joinPidfd");
  opts.joinPidfd = join.IsNumber() ? join.As<Napi::Number>().Int32Value() : -1;
  Napi::Array nodes = o.Get("deviceNodes").As<Napi::Array>();
  for (uint32_t i = 0; i < nodes.Length(); i++) {
    Napi::Object n = nodes.Get(i).As<Napi::Object>();
    auto u32 = [&](const char* k) { return n.Get(k).As<Napi::Number>().Uint32Value(); };
    opts.nodes.push_back({Str(n, "name"), u32("major"), u32("minor"), u32("mode")});
  }
  Napi::Value shim = o.Get("shimFd");
  int shimFd = shim.IsNumber() ? shim.As<Napi::Number>().Int32Value() : -1;
  std::unique_ptr<garden::ContainerLink> link;
  Napi::Value network = o.Get("network");
  if (network.IsObject()) {
    link = std::make_unique<garden::ContainerLink>();
    garden::ParseContainerLink(network.As<Napi::Object>(), *link);
  }
  auto* w = new CreateWorker(info.Env(), std::move(opts), shimFd, std::move(link));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ---- host mounts (the only mount(2) calls outside a container's own setup) -------------------

// A container's overlay, on the thread pool: `<volume>/upper`, `<volume>/work` (volume = dir
// unless given: e.g. a quota'd subvolume) and the mount point `<dir>/rootfs` are made (0755;
// upper and rootfs then owned by uid:gid when uid >= 0, so that container root owns "/"), then
// `lower` (read-only) + upper/work are mounted at rootfs. Paths may not contain ',' ':' or '\\'
// (checked in TS): the kernel parses them out of one string.
class OverlayWorker : public Napi::AsyncWorker {
 public:
  OverlayWorker(Napi::Env env, std::string lower, std::string dir, std::string volume, long uid, long gid)
      : Napi::AsyncWorker(env, "garden-overlay"),
        lower_(std::move(lower)),
        dir_(std::move(dir)),
        volume_(volume.empty() ? dir_ : std::move(volume)),
        uid_(uid),
        gid_(gid),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    std::string upper = volume_ + "/upper", work = volume_ + "/work", target = dir_ + "/rootfs";
    for (const std::string* d : {&upper, &work, &target}) {
      if (mkdir(d->c_str(), 0755) != 0) return Fail("mkdir");
    }
    if (uid_ >= 0) {
      for (const std::string* d : {&upper, &target}) {
        if (lchown(d->c_str(), static_cast<uid_t>(uid_), static_cast<gid_t>(gid_)) != 0) return Fail("chown");
      }
    }
    std::string data = "lowerdir=" + lower_ + ",upperdir=" + upper + ",workdir=" + work;
    if (mount("overlay", target.c_str(), "overlay", 0, data.c_str()) != 0) return Fail("mount");
  }
  void OnOK() override {
    if (err_) {
      deferred_.Reject(MakeError(Env(), err_, sys_, "overlay").Value());
    } else {
      deferred_.Resolve(Napi::String::New(Env(), dir_ + "/rootfs"));
    }
  }

 private:
  void Fail(const char* sys) {
    err_ = errno;
    sys_ = sys;
  }
  std::string lower_, dir_, volume_;
  long uid_, gid_;
  int err_ = 0;
  const char* sys_ = "";
  Napi::Promise::Deferred deferred_;
};

Napi::Value CreateOverlay(const Napi::CallbackInfo& info) {
  auto* w = new OverlayWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                              info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : std::string(),
                              static_cast<long>(info[2].As<Napi::Number>().Int64Value()),
                              static_cast<long>(info[3].As<Napi::Number>().Int64Value()));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// A private tmpfs at `target` (the volatile run directory); `data` like "mode=0711,size=10%".
Napi::Value MountTmpfs(const Napi::CallbackInfo& info) {
  std::string target = info[0].As<Napi::String>().Utf8Value();
  std::string data = info[1].As<Napi::String>().Utf8Value();
  if (mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data.c_str()) != 0) {
    throw MakeError(info.Env(), errno, "mount", "tmpfs");
  }
  return info.Env().Undefined();
}

// umount2(target, MNT_DETACH when `detach`); EINVAL (not a mount point) and ENOENT are not errors:
// returns whether something was unmounted.
Napi::Value Unmount(const Napi::CallbackInfo& info) {
  std::string target = info[0].As<Napi::String>().Utf8Value();
  bool detach = info[1].ToBoolean();
  if (umount2(target.c_str(), (detach ? MNT_DETACH : 0) | UMOUNT_NOFOLLOW) != 0) {
    if (errno == EINVAL || errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
    throw MakeError(info.Env(), errno, "umount2", "unmount");
  }
  return Napi::Boolean::New(info.Env(), true);
}

class UnmountWorker : public Napi::AsyncWorker {
 public:
  UnmountWorker(Napi::Env env, std::string target, bool detach, bool all)
      : Napi::AsyncWorker(env, "garden-unmount"),
        target_(std::move(target)),
        detach_(detach),
        all_(all),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    // `all`: every mount stacked there (at most 16), in one trip to the thread pool.
    for (int i = 0; i < (all_ ? 16 : 1); i++) {
      if (umount2(target_.c_str(), (detach_ ? MNT_DETACH : 0) | UMOUNT_NOFOLLOW) == 0) {
        unmounted_ = true;
        continue;
      }
      if (errno != EINVAL && errno != ENOENT) err_ = errno;
      break;
    }
  }
  void OnOK() override {
    if (err_) {
      deferred_.Reject(MakeError(Env(), err_, "umount2", "unmount").Value());
    } else {
      deferred_.Resolve(Napi::Boolean::New(Env(), unmounted_));
    }
  }

 private:
  std::string target_;
  bool detach_;
  bool all_;
  bool unmounted_ = false;
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

// As Unmount, on the thread pool: tearing down an overlay superblock takes about a millisecond.
Napi::Value UnmountAsync(const Napi::CallbackInfo& info) {
  auto* w = new UnmountWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(), info[1].ToBoolean(), info[2].ToBoolean());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// Recursive removal on the thread pool (native/tree.cc): any depth, never follows symlinks and
// never crosses into another mount (a mount left below is an error, not something to empty).
class RemoveTreeWorker : public Napi::AsyncWorker {
 public:
  RemoveTreeWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env, "garden-remove-tree"), path_(std::move(path)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { ok_ = garden::RemoveTree(path_, err_); }
  void OnOK() override {
    if (ok_) {
      deferred_.Resolve(Env().Undefined());
      return;
    }
    Napi::Error e = MakeError(Env(), err_.err, err_.syscall, "remove-tree");
    e.Set("path", Napi::String::New(Env(), err_.path));
    deferred_.Reject(e.Value());
  }

 private:
  std::string path_;
  bool ok_ = false;
  garden::TreeError err_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value RemoveTree(const Napi::CallbackInfo& info) {
  auto* w = new RemoveTreeWorker(info.Env(), info[0].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value StageNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env());
  for (int i = 0; i < static_cast<int>(Stage::kCount); i++) a.Set(static_cast<uint32_t>(i), StageName(static_cast<Stage>(i)));
  return a;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* st = new State();
  st->env = env;
  Napi::Object resource = Napi::Object::New(env);
  napi_create_reference(env, resource, 1, &st->resource);
  napi_async_init(env, resource, Napi::String::New(env, "garden-exit"), &st->context);
  env.SetInstanceData<State>(st);  // deleted by node-addon-api at env teardown (after the hook)
  napi_add_async_cleanup_hook(env, OnTeardown, st, nullptr);
  exports.Set("createContainer", Napi::Function::New(env, CreateContainerJs));
  exports.Set("spawnHelper", Napi::Function::New(env, SpawnHelper));
  exports.Set("spawnHelperAsync", Napi::Function::New(env, SpawnHelperAsync));
  exports.Set("watchExit", Napi::Function::New(env, WatchExit));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("sendFrame", Napi::Function::New(env, SendFrame));
  exports.Set("stageNames", Napi::Function::New(env, StageNames));
  exports.Set("createOverlay", Napi::Function::New(env, CreateOverlay));
  exports.Set("mountTmpfs", Napi::Function::New(env, MountTmpfs));
  exports.Set("unmount", Napi::Function::New(env, Unmount));
  exports.Set("unmountAsync", Napi::Function::New(env, UnmountAsync));
  exports.Set("removeTree", Napi::Function::New(env, RemoveTree));
  garden::RegisterBtrfs(env, exports);
  garden::RegisterNet(env, exports);
  garden::RegisterFsOps(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(garden_ns, Init)
