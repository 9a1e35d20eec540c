// N-API bindings of btrfs.h for src/btrfs.ts. Everything that joins a btrfs transaction (and
// so may wait for a commit in progress) or walks a tree runs on the thread pool; only the
// filesystem id and a subvolume id lookup are synchronous. Arguments are validated in TypeScript.
#include "btrfs_binding.h"

#include <string.h>

#include <functional>
#include <string>

#include "btrfs.h"

namespace garden {
namespace {

Napi::Error BtrfsError(Napi::Env env, const btrfs::Error& e, const char* stage) {
  const char* code = strerrorname_np(e.err);
  std::string msg = std::string(stage) + ": " + e.syscall + ": " + strerror(e.err);
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("errno", Napi::Number::New(env, e.err));
  err.Set("code", Napi::String::New(env, code ? code : "UNKNOWN"));
  err.Set("syscall", Napi::String::New(env, e.syscall));
  err.Set("stage", Napi::String::New(env, stage));
  return err;
}

std::string Arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::String>().Utf8Value(); }

uint64_t U64(const Napi::CallbackInfo& info, size_t i) {
  bool lossless = false;
  return info[i].As<Napi::BigInt>().Uint64Value(&lossless);
}

// Runs `work` on the thread pool; resolves with `result()` (undefined when empty) or rejects
// with the btrfs::Error it left.
class Worker : public Napi::AsyncWorker {
 public:
  using Work = std::function<bool(btrfs::Error&)>;
  using Result = std::function<Napi::Value(Napi::Env)>;
  Worker(Napi::Env env, const char* stage, Work work, Result result)
      : Napi::AsyncWorker(env, "garden-btrfs"),
        stage_(stage),
        work_(std::move(work)),
        result_(std::move(result)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { ok_ = work_(err_); }
  void OnOK() override {
    if (!ok_) {
      deferred_.Reject(BtrfsError(Env(), err_, stage_).Value());
    } else {
      deferred_.Resolve(result_ ? result_(Env()) : Env().Undefined());
    }
  }

 private:
  const char* stage_;
  Work work_;
  Result result_;
  bool ok_ = false;
  btrfs::Error err_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value Queue(Napi::Env env, const char* stage, Worker::Work work, Worker::Result result = nullptr) {
  auto* w = new Worker(env, stage, std::move(work), std::move(result));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Fsid(const Napi::CallbackInfo& info) {
  std::string fsid;
  btrfs::Error e;
  if (!btrfs::Fsid(Arg(info, 0), fsid, e)) throw BtrfsError(info.Env(), e, "btrfs-fsid");
  return Napi::String::New(info.Env(), fsid);
}

Napi::Value SubvolumeId(const Napi::CallbackInfo& info) {
  uint64_t id = 0;
  btrfs::Error e;
  if (!btrfs::SubvolumeId(Arg(info, 0), id, e)) throw BtrfsError(info.Env(), e, "btrfs-subvolume");
  return Napi::BigInt::New(info.Env(), id);
}

Napi::Value QuotaEnable(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0);
  bool simple = info[1].ToBoolean();
  return Queue(info.Env(), "btrfs-quota", [path, simple](btrfs::Error& e) { return btrfs::QuotaEnable(path, simple, e); });
}

Napi::Value QuotaRescan(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0);
  bool wait = info[1].ToBoolean();
  return Queue(info.Env(), "btrfs-quota", [path, wait](btrfs::Error& e) { return btrfs::QuotaRescan(path, wait, e); });
}

Napi::Value SubvolumeCreate(const Napi::CallbackInfo& info) {
  std::string parent = Arg(info, 0), name = Arg(info, 1);
  uint64_t max = U64(info, 2);
  auto id = std::make_shared<uint64_t>(0);
  return Queue(
      info.Env(), "btrfs-subvolume",
      [parent, name, max, id](btrfs::Error& e) { return btrfs::SubvolumeCreate(parent, name, max, *id, e); },
      [id](Napi::Env env) { return Napi::BigInt::New(env, *id); });
}

Napi::Value SubvolumeCreateSync(const Napi::CallbackInfo& info) {
  std::string parent = Arg(info, 0), name = Arg(info, 1);
  uint64_t id = 0;
  btrfs::Error e;
  if (!btrfs::SubvolumeCreate(parent, name, U64(info, 2), id, e)) throw BtrfsError(info.Env(), e, "btrfs-subvolume");
  return Napi::BigInt::New(info.Env(), id);
}

Napi::Value SubvolumeDelete(const Napi::CallbackInfo& info) {
  std::string parent = Arg(info, 0), name = Arg(info, 1);
  return Queue(info.Env(), "btrfs-subvolume", [parent, name](btrfs::Error& e) { return btrfs::SubvolumeDelete(parent, name, e); });
}

Napi::Value StartCommit(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0);
  return Queue(info.Env(), "btrfs-commit", [path](btrfs::Error& e) { return btrfs::StartCommit(path, e); });
}

Napi::Value QgroupLimit(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0);
  uint64_t id = U64(info, 1), max = U64(info, 2);
  return Queue(info.Env(), "btrfs-qgroup", [path, id, max](btrfs::Error& e) { return btrfs::QgroupLimit(path, id, max, e); });
}

Napi::Value QgroupDestroy(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0);
  uint64_t id = U64(info, 1);
  return Queue(info.Env(), "btrfs-qgroup", [path, id](btrfs::Error& e) { return btrfs::QgroupDestroy(path, id, e); });
}

Napi::Value CountInodes(const Napi::CallbackInfo& info) {
  std::string path = Arg(info, 0);
  uint64_t id = U64(info, 1);
  auto count = std::make_shared<uint64_t>(0);
  return Queue(
      info.Env(), "btrfs-inodes", [path, id, count](btrfs::Error& e) { return btrfs::CountInodes(path, id, *count, e); },
      [count](Napi::Env env) { return Napi::BigInt::New(env, *count); });
}

Napi::Value LoopMount(const Napi::CallbackInfo& info) {
  std::string image = Arg(info, 0), target = Arg(info, 1), fstype = Arg(info, 2), data = Arg(info, 4);
  unsigned long flags = static_cast<unsigned long>(info[3].As<Napi::Number>().Int64Value());
  auto device = std::make_shared<std::string>();
  return Queue(
      info.Env(), "loop-mount",
      [image, target, fstype, flags, data, device](btrfs::Error& e) {
        return btrfs::LoopMount(image, target, fstype, flags, data, *device, e);
      },
      [device](Napi::Env env) { return Napi::String::New(env, *device); });
}

}  // namespace

void RegisterBtrfs(Napi::Env env, Napi::Object exports) {
  exports.Set("btrfsFsid", Napi::Function::New(env, Fsid));
  exports.Set("btrfsSubvolumeId", Napi::Function::New(env, SubvolumeId));
  exports.Set("btrfsQuotaEnable", Napi::Function::New(env, QuotaEnable));
  exports.Set("btrfsQuotaRescan", Napi::Function::New(env, QuotaRescan));
  exports.Set("btrfsSubvolumeCreate", Napi::Function::New(env, SubvolumeCreate));
  exports.Set("btrfsSubvolumeCreateSync", Napi::Function::New(env, SubvolumeCreateSync));
  exports.Set("btrfsSubvolumeDelete", Napi::Function::New(env, SubvolumeDelete));
  exports.Set("btrfsStartCommit", Napi::Function::New(env, StartCommit));
  exports.Set("btrfsQgroupLimit", Napi::Function::New(env, QgroupLimit));
  exports.Set("btrfsQgroupDestroy", Napi::Function::New(env, QgroupDestroy));
  exports.Set("btrfsCountInodes", Napi::Function::New(env, CountInodes));
  exports.Set("loopMount", Napi::Function::New(env, LoopMount));
}

}  // namespace garden
