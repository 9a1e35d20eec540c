// rtnetlink operations for container networking; see netlink.h.
#include "netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace garden::net {

namespace {
constexpr size_t Align(size_t n) { return (n + 3) & ~size_t{3}; }
}  // namespace

// ---- Message -------------------------------------------------------------------------------------

Message::Message(uint16_t type, uint16_t flags, const void* family, size_t familyLen) {
  buf_.assign(NLMSG_HDRLEN, '\0');
  nlmsghdr* h = Header();
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  Raw(family, familyLen);
}

void Message::Raw(const void* data, size_t len) {
  buf_.append(static_cast<const char*>(data), len);
  buf_.append(Align(len) - len, '\0');
}

void Message::Put(uint16_t type, const void* data, size_t len) {
  nlattr a;
  a.nla_type = type;
  a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
  buf_.append(reinterpret_cast<const char*>(&a), sizeof a);
  if (len) buf_.append(static_cast<const char*>(data), len);
  buf_.append(Align(len) - len, '\0');
}

size_t Message::Begin(uint16_t type) {
  size_t off = buf_.size();
  Put(static_cast<uint16_t>(type | NLA_F_NESTED), nullptr, 0);
  return off;
}

void Message::End(size_t offset) {
  nlattr a;
  memcpy(&a, buf_.data() + offset, sizeof a);
  a.nla_len = static_cast<uint16_t>(buf_.size() - offset);
  memcpy(&buf_[offset], &a, sizeof a);
}

const std::string& Message::Bytes() {
  Header()->nlmsg_len = static_cast<uint32_t>(buf_.size());
  return buf_;
}

// ---- Attrs ---------------------------------------------------------------------------------------

Attrs::Attrs(const void* data, size_t len, uint16_t max) : table_(max + 1, nullptr) {
  const char* p = static_cast<const char*>(data);
  while (len >= NLA_HDRLEN) {
    const nlattr* a = reinterpret_cast<const nlattr*>(p);
    if (a->nla_len < NLA_HDRLEN || a->nla_len > len) break;
    uint16_t type = a->nla_type & NLA_TYPE_MASK;
    if (type <= max) table_[type] = a;
    size_t step = Align(a->nla_len);
    if (step > len) break;
    p += step;
    len -= step;
  }
}

uint32_t Attrs::U32(uint16_t type, uint32_t dflt) const {
  const nlattr* a = Get(type);
  if (!a || Len(a) < 4) return dflt;
  uint32_t v;
  memcpy(&v, Data(a), 4);
  return v;
}

std::string Attrs::Str(uint16_t type) const {
  const nlattr* a = Get(type);
  if (!a) return {};
  const char* s = static_cast<const char*>(Data(a));
  return std::string(s, strnlen(s, Len(a)));
}

// ---- Socket --------------------------------------------------------------------------------------

Socket::~Socket() {
  if (fd_ >= 0) close(fd_);
}

bool Socket::Open(Error& e) {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) return e.Set(errno, "netlink socket");
  int one = 1;
  // Error messages carry the kernel's explanation; acks do not repeat our request.
  setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return e.Set(errno, "netlink bind");
  rx_.resize(64 * 1024);
  return true;
}

bool Socket::Do(Message& m, Error& e, const std::string& op, const std::function<void(const nlmsghdr*)>& reply) {
  m.Header()->nlmsg_flags |= NLM_F_ACK;
  m.Header()->nlmsg_seq = ++seq_;
  const std::string& b = m.Bytes();
  if (send(fd_, b.data(), b.size(), 0) < 0) return e.Set(errno, op);
  return Receive(seq_, false, e, op, reply);
}

bool Socket::Dump(Message& m, Error& e, const std::string& op, const std::function<void(const nlmsghdr*)>& each) {
  m.Header()->nlmsg_flags |= NLM_F_DUMP;
  m.Header()->nlmsg_seq = ++seq_;
  const std::string& b = m.Bytes();
  if (send(fd_, b.data(), b.size(), 0) < 0) return e.Set(errno, op);
  return Receive(seq_, true, e, op, each);
}

namespace {
// The kernel's extended-ack message text (NLMSGERR_ATTR_MSG), when it sent one.
std::string ExtackText(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  const nlmsgerr* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  size_t skip = sizeof(nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) skip += err->msg.nlmsg_len - NLMSG_HDRLEN;
  if (h->nlmsg_len < NLMSG_HDRLEN + skip) return {};
  Attrs a(reinterpret_cast<const char*>(NLMSG_DATA(h)) + skip, h->nlmsg_len - NLMSG_HDRLEN - skip, NLMSGERR_ATTR_MAX);
  return a.Str(NLMSGERR_ATTR_MSG);
}
}  // namespace

bool Socket::Receive(uint32_t seq, bool dump, Error& e, const std::string& op, const std::function<void(const nlmsghdr*)>& each) {
  for (;;) {
    // MSG_TRUNC: the real length, so a message larger than the buffer is an error, not cut.
    // (Dump messages are at most 32 KiB: the kernel caps them at that.)
    ssize_t n = recv(fd_, rx_.data(), rx_.size(), MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return e.Set(errno, op);
    }
    if (static_cast<size_t>(n) > rx_.size()) return e.Set(EMSGSIZE, op, "netlink reply larger than the buffer");
    size_t len = static_cast<size_t>(n);
    for (const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(rx_.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const nlmsgerr* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (err->error == 0) {
          if (!dump) return true;
          continue;
        }
        return e.Set(-err->error, op, ExtackText(h));
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        int code = 0;
        if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof(int)) memcpy(&code, NLMSG_DATA(h), sizeof code);
        if (code < 0) return e.Set(-code, op);
        return true;
      }
      if (each) each(h);
    }
  }
}

// ---- namespaces ----------------------------------------------------------------------------------

bool NetnsSwitch::Enter(int fd, Error& e) {
  if (fd < 0) return true;
  saved_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved_ < 0) return e.Set(errno, "open /proc/thread-self/ns/net");
  if (setns(fd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(saved_);
    saved_ = -1;
    return e.Set(err, "setns into the network namespace");
  }
  return true;
}

void NetnsSwitch::Leave() {
  if (saved_ < 0) return;
  // A worker thread left in another namespace would silently do later work there: never.
  if (setns(saved_, CLONE_NEWNET) != 0) abort();
  close(saved_);
  saved_ = -1;
}

bool OpenIn(int nsfd, Socket& s, Error& e) {
  NetnsSwitch sw;
  if (!sw.Enter(nsfd, e)) return false;
  return s.Open(e);
}

// ---- helpers -------------------------------------------------------------------------------------

std::string FormatIpv4(uint32_t a) {
  char b[INET_ADDRSTRLEN];
  uint32_t n = htonl(a);
  inet_ntop(AF_INET, &n, b, sizeof b);
  return b;
}

namespace {

ifinfomsg LinkHeader(int index = 0, bool up = false) {
  ifinfomsg i = {};
  i.ifi_family = AF_UNSPEC;
  i.ifi_index = index;
  if (up) {
    i.ifi_flags = IFF_UP;
    i.ifi_change = IFF_UP;
  }
  return i;
}

// Index and kind of a link by name; index 0 when there is none.
bool GetLink(Socket& s, const std::string& name, int& index, std::string* kind, Error& e) {
  ifinfomsg i = LinkHeader();
  Message m(RTM_GETLINK, 0, &i, sizeof i);
  m.PutStr(IFLA_IFNAME, name);
  index = 0;
  bool ok = s.Do(m, e, "get link " + name, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    const ifinfomsg* r = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    index = r->ifi_index;
    if (kind) {
      Attrs a(IFLA_RTA(r), IFLA_PAYLOAD(h), IFLA_MAX);
      if (const nlattr* li = a.Get(IFLA_LINKINFO)) *kind = Attrs(Attrs::Data(li), Attrs::Len(li), IFLA_INFO_MAX).Str(IFLA_INFO_KIND);
    }
  });
  if (!ok && e.err == ENODEV) {
    e = Error();
    return true;
  }
  return ok;
}

bool DeleteLink(Socket& s, const std::string& name, Error& e) {
  ifinfomsg i = LinkHeader();
  Message m(RTM_DELLINK, 0, &i, sizeof i);
  m.PutStr(IFLA_IFNAME, name);
  if (s.Do(m, e, "delete link " + name)) return true;
  if (e.err == ENODEV) {
    e = Error();
    return true;
  }
  return false;
}

bool AddAddress(Socket& s, int index, const Ipv4Cidr& c, const std::string& dev, Error& e) {
  ifaddrmsg a = {};
  a.ifa_family = AF_INET;
  a.ifa_prefixlen = c.prefix;
  a.ifa_index = static_cast<uint32_t>(index);
  // Replace: re-running on an existing bridge after a restart is not an error.
  Message m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &a, sizeof a);
  uint32_t addr = htonl(c.addr);
  m.Put(IFA_LOCAL, &addr, 4);
  m.Put(IFA_ADDRESS, &addr, 4);
  if (c.prefix < 31) {
    uint32_t bcast = htonl(c.addr | (c.prefix == 0 ? ~0u : ~0u >> c.prefix));
    m.Put(IFA_BROADCAST, &bcast, 4);
  }
  return s.Do(m, e, "add address " + FormatIpv4(c.addr) + "/" + std::to_string(c.prefix) + " to " + dev);
}

bool SetUp(Socket& s, int index, const std::string& dev, Error& e) {
  ifinfomsg i = LinkHeader(index, true);
  Message m(RTM_NEWLINK, 0, &i, sizeof i);
  return s.Do(m, e, "set " + dev + " up");
}

// route_localnet on a device: a DNAT of 127.0.0.1 towards a container may leave through it.
bool SetRouteLocalnet(Socket& s, int index, const std::string& dev, Error& e) {
  ifinfomsg i = LinkHeader(index);
  Message m(RTM_NEWLINK, 0, &i, sizeof i);
  size_t spec = m.Begin(IFLA_AF_SPEC);
  size_t inet = m.Begin(AF_INET);
  size_t conf = m.Begin(IFLA_INET_CONF);
  m.PutU32(IPV4_DEVCONF_ROUTE_LOCALNET, 1);
  m.End(conf);
  m.End(inet);
  m.End(spec);
  return s.Do(m, e, "set route_localnet on " + dev);
}

// Creates the bridge (up, its MAC fixed, multicast snooping off), or accepts an existing bridge
// of that name; then makes sure it has the gateway address, is up and routes localnet.
bool EnsureBridgeOn(Socket& s, const ContainerNetSpec& spec, int& index, bool& created, Error& e) {
  ifinfomsg i = LinkHeader(0, true);
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &i, sizeof i);
  m.PutStr(IFLA_IFNAME, spec.bridge);
  m.PutU32(IFLA_MTU, spec.mtu);
  m.Put(IFLA_ADDRESS, spec.bridgeMac, 6);
  size_t li = m.Begin(IFLA_LINKINFO);
  m.PutStr(IFLA_INFO_KIND, "bridge");
  size_t data = m.Begin(IFLA_INFO_DATA);
  m.PutU8(IFLA_BR_MCAST_SNOOPING, 0);
  m.End(data);
  m.End(li);
  created = s.Do(m, e, "create bridge " + spec.bridge);
  bool exists = !created && e.err == EEXIST;
  if (!created && !exists) return false;
  e = Error();
  std::string kind;
  if (!GetLink(s, spec.bridge, index, &kind, e)) return false;
  if (index == 0) return e.Set(ENODEV, "create bridge " + spec.bridge, "it vanished right after creation");
  if (kind != "bridge") return e.Set(EEXIST, "create bridge " + spec.bridge, "a link of that name exists and is not a bridge");
  if (!AddAddress(s, index, spec.gateway, spec.bridge, e)) return false;
  if (exists && !SetUp(s, index, spec.bridge, e)) return false;
  if (spec.routeLocalnet && !SetRouteLocalnet(s, index, spec.bridge, e)) return false;
  return true;
}

}  // namespace

// ---- container setup -----------------------------------------------------------------------------

bool SetupContainer(const ContainerNetSpec& spec, ContainerNetResult& out, Error& e) {
  Socket host, cont;
  int contNs = -1;
  {
    NetnsSwitch sw;
    if (!sw.Enter(spec.containerNs, e)) return false;
    if (!cont.Open(e)) return false;
    // A namespace fd for IFLA_NET_NS_FD (containerNs may be a pidfd).
    contNs = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (contNs < 0) return e.Set(errno, "open the container's network namespace");
  }
  bool vethMade = false;
  auto fail = [&]() {
    Error ignored;
    if (vethMade) DeleteLink(host, spec.hostVeth, ignored);
    if (out.bridgeCreated) DeleteLink(host, spec.bridge, ignored);
    close(contNs);
    return false;
  };
  if (!OpenIn(spec.hostNs, host, e)) return fail();
  if (spec.bridgeIndex > 0) {
    out.bridgeIndex = spec.bridgeIndex;
  } else if (!EnsureBridgeOn(host, spec, out.bridgeIndex, out.bridgeCreated, e)) {
    return fail();
  }

  // The pair, with its container end made directly inside the container's namespace (moving an
  // existing link there costs ~30 ms of RCU waits), both ends up, the host end enslaved. One TX
  // and one RX queue asked for on each end: that is what a veth uses anyway, but a veth made
  // with the default (one per possible CPU) is cut down to one after its registration, and each
  // cut waits for an expedited RCU grace period (IPIs to every CPU: two per pair).
  ifinfomsg i = LinkHeader(0, true);
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &i, sizeof i);
  m.PutStr(IFLA_IFNAME, spec.hostVeth);
  m.PutU32(IFLA_MTU, spec.mtu);
  m.PutU32(IFLA_NUM_TX_QUEUES, 1);
  m.PutU32(IFLA_NUM_RX_QUEUES, 1);
  m.PutU32(IFLA_MASTER, static_cast<uint32_t>(out.bridgeIndex));
  if (spec.txQueueLen) m.PutU32(IFLA_TXQLEN, spec.txQueueLen);
  size_t li = m.Begin(IFLA_LINKINFO);
  m.PutStr(IFLA_INFO_KIND, "veth");
  size_t data = m.Begin(IFLA_INFO_DATA);
  size_t peer = m.Begin(VETH_INFO_PEER);
  // Not up yet: a veth end cannot open before its peer exists (ENOTCONN).
  ifinfomsg pi = LinkHeader();
  m.Raw(&pi, sizeof pi);
  m.PutStr(IFLA_IFNAME, spec.containerVeth);
  m.PutU32(IFLA_MTU, spec.mtu);
  m.PutU32(IFLA_NUM_TX_QUEUES, 1);
  m.PutU32(IFLA_NUM_RX_QUEUES, 1);
  m.PutU32(IFLA_NET_NS_FD, static_cast<uint32_t>(contNs));
  m.End(peer);
  m.End(data);
  m.End(li);
  if (!host.Do(m, e, "create veth " + spec.hostVeth)) return fail();
  vethMade = true;

  if (!GetLink(cont, spec.containerVeth, out.containerIndex, nullptr, e)) return fail();
  if (out.containerIndex == 0) {
    e.Set(ENODEV, "find " + spec.containerVeth + " in the container");
    return fail();
  }
  if (!AddAddress(cont, out.containerIndex, spec.address, spec.containerVeth, e)) return fail();
  if (!SetUp(cont, out.containerIndex, spec.containerVeth, e)) return fail();
  rtmsg r = {};
  r.rtm_family = AF_INET;
  r.rtm_table = RT_TABLE_MAIN;
  r.rtm_protocol = RTPROT_BOOT;
  r.rtm_scope = RT_SCOPE_UNIVERSE;
  r.rtm_type = RTN_UNICAST;
  Message route(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &r, sizeof r);
  uint32_t gw = htonl(spec.gateway.addr);
  route.Put(RTA_GATEWAY, &gw, 4);
  route.PutU32(RTA_OIF, static_cast<uint32_t>(out.containerIndex));
  if (!cont.Do(route, e, "add the default route via " + FormatIpv4(spec.gateway.addr))) return fail();
  if (spec.loopbackUp) {
    int lo = 0;
    if (!GetLink(cont, "lo", lo, nullptr, e)) return fail();
    if (lo == 0) {
      e.Set(ENODEV, "find lo in the container");
      return fail();
    }
    if (!SetUp(cont, lo, "lo", e)) return fail();
  }
  close(contNs);
  return true;
}

bool EnsureBridge(const ContainerNetSpec& spec, int& index, bool& created, Error& e) {
  Socket s;
  return OpenIn(spec.hostNs, s, e) && EnsureBridgeOn(s, spec, index, created, e);
}

bool DeleteLinks(int nsfd, const std::vector<std::string>& names, Error& e) {
  Socket s;
  if (!OpenIn(nsfd, s, e)) return false;
  if (names.size() == 1) return DeleteLink(s, names[0], e);
  // Several at once: put them in a fresh link group and delete the group, so the kernel
  // unregisters them in one batch and pays its RCU waits (~35 ms a link here) once, not per link.
  uint32_t group = 0;
  while (group == 0) {
    if (getrandom(&group, sizeof group, 0) != sizeof group) return e.Set(errno, "getrandom");
  }
  size_t grouped = 0;
  for (const auto& n : names) {
    ifinfomsg i = LinkHeader();
    Message m(RTM_NEWLINK, 0, &i, sizeof i);
    m.PutStr(IFLA_IFNAME, n);
    m.PutU32(IFLA_GROUP, group);
    if (s.Do(m, e, "group link " + n)) {
      grouped++;
    } else if (e.err == ENODEV) {
      e = Error();
    } else {
      return false;
    }
  }
  if (grouped == 0) return true;
  ifinfomsg i = LinkHeader();
  Message m(RTM_DELLINK, 0, &i, sizeof i);
  m.PutU32(IFLA_GROUP, group);
  return s.Do(m, e, "delete link group");
}

// ---- dumps ---------------------------------------------------------------------------------------

bool ListLinks(int nsfd, std::vector<LinkInfo>& out, Error& e) {
  Socket s;
  if (!OpenIn(nsfd, s, e)) return false;
  ifinfomsg i = LinkHeader();
  Message m(RTM_GETLINK, 0, &i, sizeof i);
  return s.Dump(m, e, "list links", [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    const ifinfomsg* r = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    Attrs a(IFLA_RTA(r), IFLA_PAYLOAD(h), IFLA_MAX);
    LinkInfo l;
    l.index = r->ifi_index;
    l.flags = r->ifi_flags;
    l.name = a.Str(IFLA_IFNAME);
    l.master = static_cast<int>(a.U32(IFLA_MASTER));
    l.mtu = a.U32(IFLA_MTU);
    if (const nlattr* li = a.Get(IFLA_LINKINFO)) l.kind = Attrs(Attrs::Data(li), Attrs::Len(li), IFLA_INFO_MAX).Str(IFLA_INFO_KIND);
    if (const nlattr* st = a.Get(IFLA_STATS64); st && Attrs::Len(st) >= sizeof(rtnl_link_stats64)) {
      rtnl_link_stats64 s64;
      memcpy(&s64, Attrs::Data(st), sizeof s64);
      l.rxBytes = s64.rx_bytes;
      l.txBytes = s64.tx_bytes;
      l.rxPackets = s64.rx_packets;
      l.txPackets = s64.tx_packets;
      l.rxDropped = s64.rx_dropped;
      l.txDropped = s64.tx_dropped;
    }
    out.push_back(std::move(l));
  });
}

bool ListAddrs(int nsfd, std::vector<AddrInfo>& out, Error& e) {
  Socket s;
  if (!OpenIn(nsfd, s, e)) return false;
  ifaddrmsg a = {};
  a.ifa_family = AF_INET;
  Message m(RTM_GETADDR, 0, &a, sizeof a);
  return s.Dump(m, e, "list addresses", [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWADDR) return;
    const ifaddrmsg* r = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
    if (r->ifa_family != AF_INET) return;
    Attrs at(IFA_RTA(r), IFA_PAYLOAD(h), IFA_MAX);
    const nlattr* v = at.Get(IFA_LOCAL) ? at.Get(IFA_LOCAL) : at.Get(IFA_ADDRESS);
    if (!v || Attrs::Len(v) < 4) return;
    AddrInfo ai;
    ai.index = static_cast<int>(r->ifa_index);
    ai.prefix = r->ifa_prefixlen;
    uint32_t n;
    memcpy(&n, Attrs::Data(v), 4);
    ai.addr = ntohl(n);
    out.push_back(ai);
  });
}

bool ListRoutes(int nsfd, std::vector<RouteInfo>& out, Error& e) {
  Socket s;
  if (!OpenIn(nsfd, s, e)) return false;
  rtmsg r = {};
  r.rtm_family = AF_INET;
  Message m(RTM_GETROUTE, 0, &r, sizeof r);
  return s.Dump(m, e, "list routes", [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWROUTE) return;
    const rtmsg* rm = static_cast<const rtmsg*>(NLMSG_DATA(h));
    if (rm->rtm_family != AF_INET || rm->rtm_type != RTN_UNICAST) return;
    Attrs at(RTM_RTA(rm), RTM_PAYLOAD(h), RTA_MAX);
    RouteInfo ri;
    ri.table = at.U32(RTA_TABLE, rm->rtm_table);
    if (ri.table != RT_TABLE_MAIN) return;
    ri.dstLen = rm->rtm_dst_len;
    ri.dst = ntohl(at.U32(RTA_DST));
    ri.gateway = ntohl(at.U32(RTA_GATEWAY));
    ri.prefsrc = ntohl(at.U32(RTA_PREFSRC));
    ri.oif = static_cast<int>(at.U32(RTA_OIF));
    out.push_back(ri);
  });
}

// ---- bandwidth -----------------------------------------------------------------------------------

namespace {

tcmsg TcHeader(int index, uint32_t parent, uint32_t handle, uint32_t info = 0) {
  tcmsg t = {};
  t.tcm_family = AF_UNSPEC;
  t.tcm_ifindex = index;
  t.tcm_parent = parent;
  t.tcm_handle = handle;
  t.tcm_info = info;
  return t;
}

// tbf as root qdisc of `index`: `rate` bytes/s with a bucket of `burst` bytes, and a queue of
// 50 ms at that rate on top of the bucket.
bool ReplaceTbf(Socket& s, int index, const std::string& dev, uint64_t rate, uint32_t burst, Error& e) {
  tcmsg t = TcHeader(index, TC_H_ROOT, 0x10000);
  Message m(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, &t, sizeof t);
  m.PutStr(TCA_KIND, "tbf");
  size_t o = m.Begin(TCA_OPTIONS);
  tc_tbf_qopt q = {};
  q.rate.rate = rate >= (uint64_t{1} << 32) ? ~0u : static_cast<uint32_t>(rate);
  q.rate.linklayer = TC_LINKLAYER_ETHERNET;
  uint64_t limit = burst + rate / 20;
  q.limit = limit > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(limit);
  m.Put(TCA_TBF_PARMS, &q, sizeof q);
  if (rate >= (uint64_t{1} << 32)) m.PutU64(TCA_TBF_RATE64, rate);
  m.PutU32(TCA_TBF_BURST, burst);
  m.End(o);
  return s.Do(m, e, "set tbf on " + dev);
}

bool DeleteQdisc(Socket& s, int index, uint32_t parent, const std::string& dev, Error& e) {
  tcmsg t = TcHeader(index, parent, 0);
  Message m(RTM_DELQDISC, 0, &t, sizeof t);
  if (s.Do(m, e, "delete qdisc of " + dev)) return true;
  // Nothing there (ENOENT; EINVAL for a default root qdisc) is what we wanted.
  if (e.err == ENOENT || e.err == EINVAL) {
    e = Error();
    return true;
  }
  return false;
}

// Everything arriving on `index` (what the container sends) is redirected to the ifb's egress.
bool RedirectIngress(Socket& s, int index, int ifbIndex, const std::string& dev, Error& e) {
  tcmsg t = TcHeader(index, TC_H_INGRESS, 0xffff0000);
  Message q(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &t, sizeof t);
  q.PutStr(TCA_KIND, "ingress");
  if (!s.Do(q, e, "add ingress qdisc to " + dev)) return false;

  tcmsg f = TcHeader(index, 0xffff0000, 0, TC_H_MAKE(1u << 16, htons(ETH_P_ALL)));
  Message m(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &f, sizeof f);
  m.PutStr(TCA_KIND, "u32");
  size_t o = m.Begin(TCA_OPTIONS);
  // One key, mask 0 at offset 0: matches every packet (tc_u32_sel ends in a flexible array).
  char sel[sizeof(tc_u32_sel) + sizeof(tc_u32_key)] = {};
  tc_u32_sel head = {};
  head.flags = TC_U32_TERMINAL;
  head.nkeys = 1;
  memcpy(sel, &head, sizeof head);
  m.Put(TCA_U32_SEL, sel, sizeof sel);
  size_t acts = m.Begin(TCA_U32_ACT);
  size_t a1 = m.Begin(1);
  m.PutStr(TCA_ACT_KIND, "mirred");
  size_t ao = m.Begin(TCA_ACT_OPTIONS);
  tc_mirred mp = {};
  mp.action = TC_ACT_STOLEN;
  mp.eaction = TCA_EGRESS_REDIR;
  mp.ifindex = static_cast<uint32_t>(ifbIndex);
  m.Put(TCA_MIRRED_PARMS, &mp, sizeof mp);
  m.End(ao);
  m.End(a1);
  m.End(acts);
  m.End(o);
  return s.Do(m, e, "redirect ingress of " + dev);
}

}  // namespace

bool SetBandwidth(const BandwidthSpec& spec, Error& e) {
  Socket s;
  if (!OpenIn(spec.hostNs, s, e)) return false;
  int index = 0;
  if (!GetLink(s, spec.hostVeth, index, nullptr, e)) return false;
  if (index == 0) return e.Set(ENODEV, "set bandwidth", "no link " + spec.hostVeth);
  // Start from nothing: the ingress redirect names the ifb by index, so both are made afresh.
  if (!DeleteQdisc(s, index, TC_H_INGRESS, spec.hostVeth, e)) return false;
  if (spec.rate == 0) {
    if (!DeleteQdisc(s, index, TC_H_ROOT, spec.hostVeth, e)) return false;
    return DeleteLink(s, spec.ifb, e);
  }
  int ifb = 0;
  std::string kind;
  if (!GetLink(s, spec.ifb, ifb, &kind, e)) return false;
  if (ifb != 0 && kind != "ifb") return e.Set(EEXIST, "create ifb " + spec.ifb, "a link of that name exists and is not an ifb");
  if (ifb == 0) {
    ifinfomsg i = LinkHeader(0, true);
    Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &i, sizeof i);
    m.PutStr(IFLA_IFNAME, spec.ifb);
    m.PutU32(IFLA_MTU, spec.mtu);
    size_t li = m.Begin(IFLA_LINKINFO);
    m.PutStr(IFLA_INFO_KIND, "ifb");
    m.End(li);
    if (!s.Do(m, e, "create ifb " + spec.ifb)) return false;
    if (!GetLink(s, spec.ifb, ifb, nullptr, e)) return false;
    if (ifb == 0) return e.Set(ENODEV, "create ifb " + spec.ifb);
  }
  return ReplaceTbf(s, index, spec.hostVeth, spec.rate, spec.burst, e) &&
         ReplaceTbf(s, ifb, spec.ifb, spec.rate, spec.burst, e) && RedirectIngress(s, index, ifb, spec.hostVeth, e);
}

// ---- sysctl --------------------------------------------------------------------------------------

bool WriteSysctl(int nsfd, const std::string& key, const std::string& value, Error& e) {
  // /proc/sys/net resolves to the namespace of the thread that opens the file.
  NetnsSwitch sw;
  if (!sw.Enter(nsfd, e)) return false;
  std::string path = "/proc/sys/" + key;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return e.Set(errno, "open " + path);
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) return e.Set(n < 0 ? err : EIO, "write " + path);
  return true;
}

bool ReadSysctl(int nsfd, const std::string& key, std::string& value, Error& e) {
  NetnsSwitch sw;
  if (!sw.Enter(nsfd, e)) return false;
  std::string path = "/proc/sys/" + key;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return e.Set(errno, "open " + path);
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  int err = errno;
  close(fd);
  if (n < 0) return e.Set(err, "read " + path);
  value.assign(buf, static_cast<size_t>(n));
  return true;
}

}  // namespace garden::net
