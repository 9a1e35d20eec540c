// libnftables through dlopen; see nft.h.
#include "nft.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

#include "netlink.h"

namespace garden::net {

namespace {

// The few libnftables entry points we use (its ABI, libnftables.so.1).
struct nft_ctx;
constexpr unsigned kOutputJson = 1u << 4;  // NFT_CTX_OUTPUT_JSON

struct Lib {
  nft_ctx* (*ctxNew)(uint32_t) = nullptr;
  void (*ctxFree)(nft_ctx*) = nullptr;
  int (*bufferOutput)(nft_ctx*) = nullptr;
  int (*bufferError)(nft_ctx*) = nullptr;
  const char* (*getOutput)(nft_ctx*) = nullptr;
  const char* (*getError)(nft_ctx*) = nullptr;
  void (*setOutputFlags)(nft_ctx*, unsigned) = nullptr;
  int (*run)(nft_ctx*, const char*) = nullptr;
  std::string loadError;
};

std::mutex mu;

Lib& Load() {
  static Lib lib;
  static bool tried = false;
  if (tried) return lib;
  tried = true;
  void* h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* err = dlerror();
    lib.loadError = std::string("cannot load libnftables.so.1 (install nftables): ") + (err ? err : "");
    return lib;
  }
  auto sym = [&](const char* name) { return dlsym(h, name); };
  lib.ctxNew = reinterpret_cast<nft_ctx* (*)(uint32_t)>(sym("nft_ctx_new"));
  lib.ctxFree = reinterpret_cast<void (*)(nft_ctx*)>(sym("nft_ctx_free"));
  lib.bufferOutput = reinterpret_cast<int (*)(nft_ctx*)>(sym("nft_ctx_buffer_output"));
  lib.bufferError = reinterpret_cast<int (*)(nft_ctx*)>(sym("nft_ctx_buffer_error"));
  lib.getOutput = reinterpret_cast<const char* (*)(nft_ctx*)>(sym("nft_ctx_get_output_buffer"));
  lib.getError = reinterpret_cast<const char* (*)(nft_ctx*)>(sym("nft_ctx_get_error_buffer"));
  lib.setOutputFlags = reinterpret_cast<void (*)(nft_ctx*, unsigned)>(sym("nft_ctx_output_set_flags"));
  auto* run = reinterpret_cast<int (*)(nft_ctx*, const char*)>(sym("nft_run_cmd_from_buffer"));
  if (!lib.ctxNew || !lib.ctxFree || !lib.bufferOutput || !lib.bufferError || !lib.getOutput || !lib.getError ||
      !lib.setOutputFlags || !run) {
    lib.loadError = "libnftables.so.1 lacks an expected symbol";
    return lib;
  }
  lib.run = run;
  return lib;
}

// One open context per network namespace, reused by the transactions there. Closing an
// nfnetlink socket is not free: the kernel (nft_rcv_nl_event) then takes the namespace's nftables
// commit mutex and waits for the destroy work of the last commit, an RCU grace period (~10 ms on
// this VM). With a context per call that wait follows every transaction, and anything making a
// network device in the namespace meanwhile (nf_tables' netdev notifier takes that mutex, under
// RTNL) stalls behind it: a container's veth, and every RTNL user behind that.
struct Cached {
  nft_ctx* ctx;
  dev_t dev;
  ino_t ino;
  std::chrono::steady_clock::time_point used;
};
std::vector<Cached> cache;  // under mu

// Contexts idle this long are closed (by the next call): a namespace is not kept alive long by a
// socket of ours after its last transaction.
constexpr std::chrono::seconds kIdle{5};

// The namespace identity of `nsfd` (< 0: the calling thread's own).
bool NsId(int nsfd, dev_t& dev, ino_t& ino) {
  struct stat st;
  int r = nsfd >= 0 ? fstat(nsfd, &st) : stat("/proc/thread-self/ns/net", &st);
  if (r != 0) return false;
  dev = st.st_dev;
  ino = st.st_ino;
  return true;
}

void CloseIdle(Lib& lib, std::chrono::steady_clock::time_point now) {
  for (size_t i = 0; i < cache.size();) {
    if (now - cache[i].used >= kIdle) {
      lib.ctxFree(cache[i].ctx);
      cache[i] = cache.back();
      cache.pop_back();
    } else {
      i++;
    }
  }
}

}  // namespace

int NftRun(int nsfd, const std::string& script, bool json, std::string& output, std::string& error) {
  std::lock_guard<std::mutex> lock(mu);
  Lib& lib = Load();
  if (!lib.run) {
    error = lib.loadError;
    return ENOSYS;
  }
  auto now = std::chrono::steady_clock::now();
  CloseIdle(lib, now);
  dev_t dev = 0;
  ino_t ino = 0;
  if (!NsId(nsfd, dev, ino)) {
    error = "stat the network namespace";
    return errno;
  }
  Error e;
  // In the namespace for the whole run: libnftables (re)opens its socket where the thread is.
  NetnsSwitch sw;
  if (!sw.Enter(nsfd, e)) {
    error = e.op;
    return e.err;
  }
  Cached* c = nullptr;
  for (auto& x : cache) {
    if (x.dev == dev && x.ino == ino) c = &x;
  }
  if (!c) {
    nft_ctx* ctx = lib.ctxNew(0);
    if (!ctx) {
      error = "nft_ctx_new failed";
      return ENOMEM;
    }
    lib.bufferOutput(ctx);
    lib.bufferError(ctx);
    cache.push_back({ctx, dev, ino, now});
    c = &cache.back();
  }
  c->used = now;
  lib.setOutputFlags(c->ctx, json ? kOutputJson : 0);
  int r = lib.run(c->ctx, script.c_str());
  // Each read rewinds the buffer for the next run.
  const char* out = lib.getOutput(c->ctx);
  const char* err = lib.getError(c->ctx);
  output = out ? out : "";
  error = err ? err : "";
  return r == 0 ? 0 : EINVAL;
}

void NftRelease(int nsfd) {
  std::lock_guard<std::mutex> lock(mu);
  dev_t dev = 0;
  ino_t ino = 0;
  if (!NsId(nsfd, dev, ino)) return;
  Lib& lib = Load();
  for (size_t i = 0; i < cache.size(); i++) {
    if (cache[i].dev == dev && cache[i].ino == ino) {
      lib.ctxFree(cache[i].ctx);
      cache[i] = cache.back();
      cache.pop_back();
      return;
    }
  }
}

}  // namespace garden::net
