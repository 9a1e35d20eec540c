// rtnetlink from C++: the host-side network plumbing of a container (bridge per subnet, veth
// pair whose container end is created directly inside the container's network namespace,
// addresses, default route), link dumps and counters, tc shaping (tbf + ifb), and per-namespace
// sysctls. No `ip`/`tc` process anywhere.
//
// Threads and namespaces: every operation takes the network namespace(s) it works in as file
// descriptors (a /run/netns/... file, /proc/<pid>/ns/net, or a pidfd). A netlink socket belongs to
// the namespace its creator was in at socket() time, so the calling thread switches its own
// network namespace with setns(CLONE_NEWNET) just around socket() (NetnsSwitch) and switches
// back at once; the requests then go through the sockets. Network namespaces are per thread, so
// this is safe on a worker thread of a multi-threaded process; a failed switch back aborts the
// process rather than leave a thread in the wrong namespace. The event loop thread never does it.
#pragma once
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace garden::net {

/** A failed step: errno, the operation (e.g. "create veth gtv-0afe0002"), the kernel's extack text. */
struct Error {
  int err = 0;
  std::string op;
  std::string detail;
  bool Set(int e, std::string o, std::string d = "") {
    err = e;
    op = std::move(o);
    detail = std::move(d);
    return false;
  }
};

/** Builds one netlink request: nlmsghdr, a fixed family header, then (nested) attributes. */
class Message {
 public:
  Message(uint16_t type, uint16_t flags, const void* family, size_t familyLen);
  void Put(uint16_t type, const void* data, size_t len);
  void PutU8(uint16_t type, uint8_t v) { Put(type, &v, 1); }
  void PutU16(uint16_t type, uint16_t v) { Put(type, &v, 2); }
  void PutU32(uint16_t type, uint32_t v) { Put(type, &v, 4); }
  void PutU64(uint16_t type, uint64_t v) { Put(type, &v, 8); }
  void PutStr(uint16_t type, const std::string& s) { Put(type, s.c_str(), s.size() + 1); }
  /** Opens a nested attribute; returns its offset for End. */
  size_t Begin(uint16_t type);
  void End(size_t offset);
  /** Appends raw bytes (e.g. the ifinfomsg of a veth peer) padded to 4. */
  void Raw(const void* data, size_t len);
  nlmsghdr* Header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  const std::string& Bytes();

 private:
  std::string buf_;
};

/** Attribute table of one message or nested attribute: index = type (NLA_F_NESTED stripped). */
class Attrs {
 public:
  Attrs(const void* data, size_t len, uint16_t max);
  const nlattr* Get(uint16_t type) const { return type < table_.size() ? table_[type] : nullptr; }
  uint32_t U32(uint16_t type, uint32_t dflt = 0) const;
  std::string Str(uint16_t type) const;
  static const void* Data(const nlattr* a) { return reinterpret_cast<const char*>(a) + NLA_HDRLEN; }
  static size_t Len(const nlattr* a) { return a->nla_len - NLA_HDRLEN; }

 private:
  std::vector<const nlattr*> table_;
};

/** A NETLINK_ROUTE socket in the namespace its creator was in (extended acks on). */
class Socket {
 public:
  Socket() = default;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();
  /** Opens the socket in the calling thread's current network namespace. */
  bool Open(Error& e);
  /** Sends a request (NLM_F_ACK is added) and waits for its ack; `reply` sees answers (NLM_F_ECHO, GET). */
  bool Do(Message& m, Error& e, const std::string& op, const std::function<void(const nlmsghdr*)>& reply = nullptr);
  /** Sends a dump request; `each` sees every message until NLMSG_DONE. */
  bool Dump(Message& m, Error& e, const std::string& op, const std::function<void(const nlmsghdr*)>& each);
  int fd() const { return fd_; }

 private:
  bool Receive(uint32_t seq, bool dump, Error& e, const std::string& op, const std::function<void(const nlmsghdr*)>& each);
  int fd_ = -1;
  uint32_t seq_ = 0;
  std::vector<char> rx_;
};

/**
 * Switches the calling thread into the network namespace of `fd` (a namespace file or a pidfd)
 * and back on destruction (abort() if that fails). fd < 0: stays where it is.
 */
class NetnsSwitch {
 public:
  NetnsSwitch() = default;
  NetnsSwitch(const NetnsSwitch&) = delete;
  NetnsSwitch& operator=(const NetnsSwitch&) = delete;
  ~NetnsSwitch() { Leave(); }
  bool Enter(int fd, Error& e);
  void Leave();

 private:
  int saved_ = -1;
};

/** Opens a rtnetlink socket in the namespace of `nsfd` (< 0: the thread's own). */
bool OpenIn(int nsfd, Socket& s, Error& e);

struct Ipv4Cidr {
  uint32_t addr = 0;  // host byte order
  uint8_t prefix = 0;
};

/** One container's devices. Addresses in host byte order. */
struct ContainerNetSpec {
  int hostNs = -1;          // namespace holding the bridge and the host end (-1: the thread's own)
  int containerNs = -1;     // the container's namespace: namespace fd or its init's pidfd
  std::string bridge;       // created when missing (then: gateway address, up, no multicast snooping)
  int bridgeIndex = 0;      // > 0: the bridge is ready (EnsureBridge): skip making sure
  Ipv4Cidr gateway;         // on the bridge
  uint8_t bridgeMac[6] = {};
  bool routeLocalnet = true;  // lets DNAT of 127.0.0.1 reach the bridge (NetIn from loopback)
  std::string hostVeth;       // enslaved to the bridge, up
  std::string containerVeth;  // created in the container namespace, address, up, default route
  bool loopbackUp = false;    // also bring the container namespace's `lo` up
  Ipv4Cidr address;
  uint32_t mtu = 1500;
  uint32_t txQueueLen = 0;  // host end; 0 = kernel default
};

struct ContainerNetResult {
  int bridgeIndex = 0;
  bool bridgeCreated = false;
  int hostIndex = 0;
  int containerIndex = 0;
};

/** Creates (or reuses) the bridge, the veth pair and the container side configuration. On failure
 *  everything this call created is removed again. */
bool SetupContainer(const ContainerNetSpec& spec, ContainerNetResult& out, Error& e);

/** Only the bridge part of SetupContainer (hostNs, bridge, gateway, bridgeMac, routeLocalnet, mtu):
 *  creates it or makes sure an existing one is configured. */
bool EnsureBridge(const ContainerNetSpec& spec, int& index, bool& created, Error& e);

/** Deletes links by name; missing ones are skipped. */
bool DeleteLinks(int nsfd, const std::vector<std::string>& names, Error& e);

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;  // IFLA_INFO_KIND ("" for plain devices)
  int master = 0;
  uint32_t mtu = 0;
  uint32_t flags = 0;
  uint64_t rxBytes = 0, txBytes = 0, rxPackets = 0, txPackets = 0, rxDropped = 0, txDropped = 0;
};
bool ListLinks(int nsfd, std::vector<LinkInfo>& out, Error& e);

struct AddrInfo {
  int index = 0;
  uint32_t addr = 0;  // host byte order
  uint8_t prefix = 0;
};
bool ListAddrs(int nsfd, std::vector<AddrInfo>& out, Error& e);

struct RouteInfo {
  uint32_t dst = 0;
  uint8_t dstLen = 0;
  uint32_t gateway = 0;
  uint32_t prefsrc = 0;
  int oif = 0;
  uint32_t table = 0;
};
/** IPv4 unicast routes of the main table. */
bool ListRoutes(int nsfd, std::vector<RouteInfo>& out, Error& e);

/**
 * Bandwidth limits of one container (bytes per second): a tbf on the host end's egress shapes what
 * the container receives; its ingress (what the container sends) is redirected (u32 match-all +
 * mirred) to `ifb`, whose tbf shapes it (the kernel has no act_police here). rate 0 removes all of it.
 */
struct BandwidthSpec {
  int hostNs = -1;
  std::string hostVeth;
  std::string ifb;
  uint64_t rate = 0;
  uint32_t burst = 0;
  uint32_t mtu = 1500;
};
bool SetBandwidth(const BandwidthSpec& spec, Error& e);

/** Writes `value` to /proc/sys/<key> (e.g. "net/ipv4/ip_forward") as seen from namespace `nsfd`. */
bool WriteSysctl(int nsfd, const std::string& key, const std::string& value, Error& e);
/** Reads /proc/sys/<key> as seen from namespace `nsfd` (at most 4 KiB). */
bool ReadSysctl(int nsfd, const std::string& key, std::string& value, Error& e);

/** Formats an IPv4 address (host byte order) as dotted quad. */
std::string FormatIpv4(uint32_t a);

}  // namespace garden::net
