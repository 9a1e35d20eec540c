// N-API bindings of the network operations (netlink.h, nft.h). Every call runs on the thread
// pool: the worker thread switches its own network namespace around socket creation; the event
// loop never does. The TypeScript side (src/network.ts) validates every argument first.
#include "net_addon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <functional>
#include <memory>

#include "netlink.h"
#include "nft.h"

namespace garden {

namespace {

using net::Error;


// Opens a network namespace file ("" = none: the worker's own namespace).
class NsFd {
 public:
  explicit NsFd(std::string path) : path_(std::move(path)) {}
  ~NsFd() {
    if (fd_ >= 0) close(fd_);
  }
  bool Open(Error& e) {
    if (path_.empty()) return true;
    fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return e.Set(errno, "open network namespace " + path_);
    return true;
  }
  int fd() const { return fd_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// One thread-pool job: `work` fills the worker's state, `done` turns it into the resolved value.
class NetWorker : public Napi::AsyncWorker {
 public:
  NetWorker(Napi::Env env, const char* stage, std::function<bool(Error&)> work, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env, "garden-net"),
        stage_(stage),
        work_(std::move(work)),
        done_(std::move(done)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { ok_ = work_(err_); }
  void OnOK() override {
    if (!ok_) {
      deferred_.Reject(NetError(Env(), err_, stage_).Value());
    } else {
      deferred_.Resolve(done_ ? done_(Env()) : Env().Undefined());
    }
  }

 private:
  const char* stage_;
  std::function<bool(Error&)> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  bool ok_ = false;
  Error err_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value Queue(Napi::Env env, const char* stage, std::function<bool(Error&)> work,
                  std::function<Napi::Value(Napi::Env)> done = nullptr) {
  auto* w = new NetWorker(env, stage, std::move(work), std::move(done));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

std::string Str(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

uint32_t U32(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : 0;
}

uint32_t ParseIpv4(const std::string& s) {
  in_addr a = {};
  inet_pton(AF_INET, s.c_str(), &a);
  return ntohl(a.s_addr);
}

Napi::BigInt Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

// The bridge's half of a spec: bridge, gateway/prefixLength, bridgeMac, routeLocalnet, mtu.
void BridgeFields(const Napi::Object& o, net::ContainerNetSpec& spec) {
  spec.bridge = Str(o, "bridge");
  spec.gateway = {ParseIpv4(Str(o, "gateway")), static_cast<uint8_t>(U32(o, "prefixLength"))};
  Napi::Buffer<uint8_t> mac = o.Get("bridgeMac").As<Napi::Buffer<uint8_t>>();
  memcpy(spec.bridgeMac, mac.Data(), std::min<size_t>(6, mac.Length()));
  spec.routeLocalnet = o.Get("routeLocalnet").ToBoolean();
  spec.mtu = U32(o, "mtu");
}

// netSetupContainer({ hostNetns, containerPidfd, bridge, gateway, prefixLength, bridgeMac,
// routeLocalnet, hostVeth, containerVeth, address, mtu, txQueueLength })
Napi::Value SetupContainer(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto link = std::make_shared<ContainerLink>();
  ParseContainerLink(o, *link);
  int containerNs = static_cast<int>(U32(o, "containerPidfd"));
  auto result = std::make_shared<net::ContainerNetResult>();
  return Queue(
      info.Env(), "network",
      [link, containerNs, result](Error& e) { return SetupContainerLink(*link, containerNs, *result, e); },
      [result](Napi::Env env) {
        Napi::Object r = Napi::Object::New(env);
        r.Set("bridgeIndex", result->bridgeIndex);
        r.Set("bridgeCreated", result->bridgeCreated);
        r.Set("containerIndex", result->containerIndex);
        return r;
      });
}

// netEnsureBridge({ hostNetns, bridge, gateway, prefixLength, bridgeMac, routeLocalnet, mtu })
Napi::Value EnsureBridge(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto spec = std::make_shared<net::ContainerNetSpec>();
  auto hostNs = std::make_shared<NsFd>(Str(o, "hostNetns"));
  BridgeFields(o, *spec);
  auto result = std::make_shared<net::ContainerNetResult>();
  return Queue(
      info.Env(), "network",
      [spec, hostNs, result](Error& e) {
        if (!hostNs->Open(e)) return false;
        spec->hostNs = hostNs->fd();
        return net::EnsureBridge(*spec, result->bridgeIndex, result->bridgeCreated, e);
      },
      [result](Napi::Env env) {
        Napi::Object r = Napi::Object::New(env);
        r.Set("index", result->bridgeIndex);
        r.Set("created", result->bridgeCreated);
        return r;
      });
}

std::vector<std::string> Strings(const Napi::Value& v) {
  std::vector<std::string> out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

// netDeleteLinks(netns, names)
Napi::Value DeleteLinks(const Napi::CallbackInfo& info) {
  auto ns = std::make_shared<NsFd>(info[0].As<Napi::String>().Utf8Value());
  auto names = std::make_shared<std::vector<std::string>>(Strings(info[1]));
  return Queue(info.Env(), "network", [ns, names](Error& e) { return ns->Open(e) && net::DeleteLinks(ns->fd(), *names, e); });
}

// A list read in the network namespace `info[0]` on the thread pool (`list(fd, items, e)`), each
// item made a JS object by `toJs` back on the JS thread: the shape of every netList* call.
template <typename T, typename List, typename ToJs>
Napi::Value QueueList(const Napi::CallbackInfo& info, List list, ToJs toJs) {
  auto ns = std::make_shared<NsFd>(info[0].As<Napi::String>().Utf8Value());
  auto items = std::make_shared<std::vector<T>>();
  return Queue(
      info.Env(), "network", [ns, items, list](Error& e) { return ns->Open(e) && list(ns->fd(), *items, e); },
      [items, toJs](Napi::Env env) {
        Napi::Array a = Napi::Array::New(env, items->size());
        uint32_t i = 0;
        for (const auto& item : *items) a.Set(i++, toJs(env, item));
        return a;
      });
}

// netListLinks(netns) → [{ index, name, kind, master, mtu, up, rxBytes, txBytes, … (bigint) }]
Napi::Value ListLinks(const Napi::CallbackInfo& info) {
  return QueueList<net::LinkInfo>(info, net::ListLinks, [](Napi::Env env, const net::LinkInfo& l) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", l.index);
    o.Set("name", l.name);
    o.Set("kind", l.kind);
    o.Set("master", l.master);
    o.Set("mtu", l.mtu);
    o.Set("up", (l.flags & 1u) != 0);  // IFF_UP
    o.Set("rxBytes", Big(env, l.rxBytes));
    o.Set("txBytes", Big(env, l.txBytes));
    o.Set("rxPackets", Big(env, l.rxPackets));
    o.Set("txPackets", Big(env, l.txPackets));
    o.Set("rxDropped", Big(env, l.rxDropped));
    o.Set("txDropped", Big(env, l.txDropped));
    return o;
  });
}

// netListAddrs(netns) → [{ index, address, prefixLength }] (IPv4)
Napi::Value ListAddrs(const Napi::CallbackInfo& info) {
  return QueueList<net::AddrInfo>(info, net::ListAddrs, [](Napi::Env env, const net::AddrInfo& x) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", x.index);
    o.Set("address", net::FormatIpv4(x.addr));
    o.Set("prefixLength", x.prefix);
    return o;
  });
}

// netListRoutes(netns) → [{ destination, prefixLength, gateway, source, oif }] (IPv4, main table)
Napi::Value ListRoutes(const Napi::CallbackInfo& info) {
  return QueueList<net::RouteInfo>(info, net::ListRoutes, [](Napi::Env env, const net::RouteInfo& r) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("destination", net::FormatIpv4(r.dst));
    o.Set("prefixLength", r.dstLen);
    o.Set("gateway", r.gateway ? Napi::Value(Napi::String::New(env, net::FormatIpv4(r.gateway))) : env.Null());
    o.Set("source", r.prefsrc ? Napi::Value(Napi::String::New(env, net::FormatIpv4(r.prefsrc))) : env.Null());
    o.Set("oif", r.oif);
    return o;
  });
}

// netSetBandwidth({ netns, hostVeth, ifb, rate (bigint), burst, mtu })
Napi::Value SetBandwidth(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto ns = std::make_shared<NsFd>(Str(o, "netns"));
  auto spec = std::make_shared<net::BandwidthSpec>();
  spec->hostVeth = Str(o, "hostVeth");
  spec->ifb = Str(o, "ifb");
  bool lossless = true;
  spec->rate = o.Get("rate").As<Napi::BigInt>().Uint64Value(&lossless);
  spec->burst = U32(o, "burst");
  spec->mtu = U32(o, "mtu");
  return Queue(info.Env(), "bandwidth", [ns, spec](Error& e) {
    if (!ns->Open(e)) return false;
    spec->hostNs = ns->fd();
    return net::SetBandwidth(*spec, e);
  });
}

// netWriteSysctl(netns, key, value)
Napi::Value WriteSysctl(const Napi::CallbackInfo& info) {
  auto ns = std::make_shared<NsFd>(info[0].As<Napi::String>().Utf8Value());
  std::string key = info[1].As<Napi::String>().Utf8Value();
  std::string value = info[2].As<Napi::String>().Utf8Value();
  return Queue(info.Env(), "sysctl", [ns, key, value](Error& e) { return ns->Open(e) && net::WriteSysctl(ns->fd(), key, value, e); });
}

// netReadSysctl(netns, key) → the file's text
Napi::Value ReadSysctl(const Napi::CallbackInfo& info) {
  auto ns = std::make_shared<NsFd>(info[0].As<Napi::String>().Utf8Value());
  std::string key = info[1].As<Napi::String>().Utf8Value();
  auto value = std::make_shared<std::string>();
  return Queue(
      info.Env(), "sysctl", [ns, key, value](Error& e) { return ns->Open(e) && net::ReadSysctl(ns->fd(), key, *value, e); },
      [value](Napi::Env env) { return Napi::String::New(env, *value); });
}

// nftRun(netns, script, json) → output text; rejects with `nftMessage` (nft's own error text).
class NftWorker : public Napi::AsyncWorker {
 public:
  NftWorker(Napi::Env env, std::string ns, std::string script, bool json)
      : Napi::AsyncWorker(env, "garden-nft"), ns_(std::move(ns)), script_(std::move(script)), json_(json), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    Error e;
    NsFd ns(ns_);
    if (!ns.Open(e)) {
      err_ = e.err;
      msg_ = e.op;
      return;
    }
    err_ = net::NftRun(ns.fd(), script_, json_, out_, msg_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ == 0) {
      deferred_.Resolve(Napi::String::New(env, out_));
      return;
    }
    Error e;
    e.Set(err_, "nft", msg_);
    Napi::Error error = NetError(env, e, "nft");
    error.Set("nftMessage", Napi::String::New(env, msg_));
    deferred_.Reject(error.Value());
  }

 private:
  std::string ns_, script_;
  bool json_;
  int err_ = 0;
  std::string out_, msg_;
  Napi::Promise::Deferred deferred_;
};

// nftRelease(netns): closes the context nftRun keeps open for that namespace.
Napi::Value NftRelease(const Napi::CallbackInfo& info) {
  auto ns = std::make_shared<NsFd>(info[0].As<Napi::String>().Utf8Value());
  return Queue(info.Env(), "nft", [ns](Error& e) {
    if (!ns->Open(e)) return false;
    net::NftRelease(ns->fd());
    return true;
  });
}

Napi::Value NftRun(const Napi::CallbackInfo& info) {
  auto* w = new NftWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                          info[2].ToBoolean());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

Napi::Error NetError(Napi::Env env, const net::Error& e, const char* stage) {
  const char* code = strerrorname_np(e.err);
  std::string msg = e.op + ": " + strerror(e.err);
  if (!e.detail.empty()) msg += " (" + e.detail + ")";
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("errno", Napi::Number::New(env, e.err));
  err.Set("code", Napi::String::New(env, code ? code : "UNKNOWN"));
  err.Set("syscall", Napi::String::New(env, e.op));
  err.Set("stage", Napi::String::New(env, stage));
  err.Set("detail", Napi::String::New(env, e.detail));
  return err;
}

void ParseContainerLink(const Napi::Object& o, ContainerLink& out) {
  net::ContainerNetSpec& spec = out.spec;
  out.hostNetns = Str(o, "hostNetns");
  BridgeFields(o, spec);
  spec.bridgeIndex = static_cast<int>(U32(o, "bridgeIndex"));
  spec.address = {ParseIpv4(Str(o, "address")), static_cast<uint8_t>(U32(o, "prefixLength"))};
  spec.hostVeth = Str(o, "hostVeth");
  spec.containerVeth = Str(o, "containerVeth");
  spec.txQueueLen = U32(o, "txQueueLength");
}

bool SetupContainerLink(const ContainerLink& link, int containerNs, net::ContainerNetResult& out, net::Error& e) {
  NsFd hostNs(link.hostNetns);
  if (!hostNs.Open(e)) return false;
  net::ContainerNetSpec spec = link.spec;
  spec.hostNs = hostNs.fd();
  spec.containerNs = containerNs;
  return net::SetupContainer(spec, out, e);
}

void RegisterNet(Napi::Env env, Napi::Object exports) {
  exports.Set("netSetupContainer", Napi::Function::New(env, SetupContainer));
  exports.Set("netEnsureBridge", Napi::Function::New(env, EnsureBridge));
  exports.Set("netDeleteLinks", Napi::Function::New(env, DeleteLinks));
  exports.Set("netListLinks", Napi::Function::New(env, ListLinks));
  exports.Set("netListAddrs", Napi::Function::New(env, ListAddrs));
  exports.Set("netListRoutes", Napi::Function::New(env, ListRoutes));
  exports.Set("netSetBandwidth", Napi::Function::New(env, SetBandwidth));
  exports.Set("netWriteSysctl", Napi::Function::New(env, WriteSysctl));
  exports.Set("netReadSysctl", Napi::Function::New(env, ReadSysctl));
  exports.Set("nftRun", Napi::Function::New(env, NftRun));
  exports.Set("nftRelease", Napi::Function::New(env, NftRelease));
}

}  // namespace garden
