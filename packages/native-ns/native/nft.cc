// libnftables through dlopen; see nft.h.
#include "nft.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstdint>
#include <mutex>

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

}  // namespace

int NftRun(int nsfd, const std::string& script, bool json, std::string& output, std::string& error) {
  std::lock_guard<std::mutex> lock(mu);
  Lib& lib = Load();
  if (!lib.run) {
    error = lib.loadError;
    return ENOSYS;
  }
  Error e;
  NetnsSwitch sw;
  if (!sw.Enter(nsfd, e)) {
    error = e.op;
    return e.err;
  }
  nft_ctx* ctx = lib.ctxNew(0);
  if (!ctx) {
    error = "nft_ctx_new failed";
    return ENOMEM;
  }
  lib.bufferOutput(ctx);
  lib.bufferError(ctx);
  if (json) lib.setOutputFlags(ctx, kOutputJson);
  int r = lib.run(ctx, script.c_str());
  const char* out = lib.getOutput(ctx);
  const char* err = lib.getError(ctx);
  output = out ? out : "";
  error = err ? err : "";
  lib.ctxFree(ctx);
  return r == 0 ? 0 : EINVAL;
}

}  // namespace garden::net
