// Tests of the network layer (netlink.h, nft.h), run under valgrind and LeakSanitizer by
// scripts/leakcheck.sh. The message builder is tested everywhere; as root the process first moves
// into a private network namespace of its own (the "host"), forks a "container" holding another
// one, and exercises every operation there: nothing touches the machine's own namespace.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "netlink.h"
#include "nft.h"

using namespace garden::net;

#define CHECK_OK(expr, e)                                                                                       \
  do {                                                                                                          \
    if (!(expr)) {                                                                                              \
      fprintf(stderr, "%s:%d: %s failed: %s: %s %s\n", __FILE__, __LINE__, #expr, (e).op.c_str(), strerror((e).err), \
              (e).detail.c_str());                                                                              \
      failures++;                                                                                               \
    }                                                                                                           \
  } while (0)

static void TestMessage() {
  ifinfomsg i = {};
  i.ifi_index = 7;
  Message m(RTM_NEWLINK, NLM_F_CREATE, &i, sizeof i);
  m.PutStr(IFLA_IFNAME, "abc");
  size_t li = m.Begin(IFLA_LINKINFO);
  m.PutStr(IFLA_INFO_KIND, "bridge");
  size_t d = m.Begin(IFLA_INFO_DATA);
  m.PutU8(IFLA_BR_MCAST_SNOOPING, 0);
  m.End(d);
  m.End(li);
  m.PutU32(IFLA_MTU, 1400);
  const std::string& b = m.Bytes();
  const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(b.data());
  CHECK(h->nlmsg_len == b.size());
  CHECK(b.size() % 4 == 0);
  CHECK((h->nlmsg_flags & (NLM_F_REQUEST | NLM_F_CREATE)) == (NLM_F_REQUEST | NLM_F_CREATE));
  const ifinfomsg* r = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  CHECK(r->ifi_index == 7);
  Attrs a(IFLA_RTA(r), IFLA_PAYLOAD(h), IFLA_MAX);
  CHECK(a.Str(IFLA_IFNAME) == "abc");
  CHECK(a.U32(IFLA_MTU) == 1400);
  const nlattr* link = a.Get(IFLA_LINKINFO);
  CHECK(link != nullptr);
  if (link) {
    CHECK(link->nla_type & NLA_F_NESTED);
    Attrs info(Attrs::Data(link), Attrs::Len(link), IFLA_INFO_MAX);
    CHECK(info.Str(IFLA_INFO_KIND) == "bridge");
    const nlattr* data = info.Get(IFLA_INFO_DATA);
    CHECK(data != nullptr && Attrs::Len(data) == 8);  // one u8 attribute, padded
  }
  CHECK(a.Get(IFLA_ADDRESS) == nullptr);
  CHECK(a.U32(IFLA_TXQLEN, 42) == 42);
  // A truncated buffer yields what is complete and no more.
  Attrs cut(IFLA_RTA(r), 8, IFLA_MAX);
  CHECK(cut.Str(IFLA_IFNAME) == "abc" && cut.Get(IFLA_MTU) == nullptr);
  CHECK(FormatIpv4(0x0afe0002) == "10.254.0.2");
}

static const LinkInfo* Find(const std::vector<LinkInfo>& links, const std::string& name) {
  for (const auto& l : links)
    if (l.name == name) return &l;
  return nullptr;
}

static void TestLive() {
  // The process's own namespace becomes a private one: the test's "host".
  if (unshare(CLONE_NEWNET) != 0) {
    perror("unshare(CLONE_NEWNET)");
    failures++;
    return;
  }
  int sync[2];
  if (pipe(sync) != 0) return;
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
    (void)!write(sync[1], &c, 1);
    pause();
    _exit(0);
  }
  char c = 0;
  (void)!read(sync[0], &c, 1);
  close(sync[0]);
  close(sync[1]);
  CHECK(c == 'y');
  // A namespace file (valgrind 3.19 lacks pidfd_open; the pidfd form is tested from TypeScript).
  std::string nsPath = "/proc/" + std::to_string(child) + "/ns/net";
  int pidfd = open(nsPath.c_str(), O_RDONLY | O_CLOEXEC);
  CHECK(pidfd >= 0);

  Error e;
  ContainerNetSpec spec;
  spec.containerNs = pidfd;
  spec.bridge = "tnb-0afe0000";
  spec.gateway = {0x0afe0001, 30};
  spec.address = {0x0afe0002, 30};
  uint8_t mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  memcpy(spec.bridgeMac, mac, 6);
  spec.hostVeth = "tnv-test";
  spec.containerVeth = "eth0";
  spec.mtu = 1400;
  spec.txQueueLen = 1;
  ContainerNetResult res;
  CHECK_OK(SetupContainer(spec, res, e), e);
  CHECK(res.bridgeCreated && res.bridgeIndex > 0 && res.containerIndex > 0);

  std::vector<LinkInfo> links;
  CHECK_OK(ListLinks(-1, links, e), e);
  const LinkInfo* br = Find(links, "tnb-0afe0000");
  const LinkInfo* veth = Find(links, "tnv-test");
  CHECK(br && br->kind == "bridge" && br->mtu == 1400 && (br->flags & 1));
  CHECK(veth && veth->kind == "veth" && br && veth->master == br->index && veth->mtu == 1400);
  CHECK(Find(links, "eth0") == nullptr);  // created in the container, not here

  std::vector<AddrInfo> addrs;
  CHECK_OK(ListAddrs(-1, addrs, e), e);
  bool gw = false;
  for (const auto& a : addrs) gw |= br && a.index == br->index && a.addr == 0x0afe0001 && a.prefix == 30;
  CHECK(gw);

  std::vector<LinkInfo> inside;
  CHECK_OK(ListLinks(pidfd, inside, e), e);
  const LinkInfo* eth0 = Find(inside, "eth0");
  CHECK(eth0 && eth0->kind == "veth" && eth0->mtu == 1400 && (eth0->flags & 1));
  std::vector<AddrInfo> caddrs;
  CHECK_OK(ListAddrs(pidfd, caddrs, e), e);
  bool cip = false;
  for (const auto& a : caddrs) cip |= eth0 && a.index == eth0->index && a.addr == 0x0afe0002 && a.prefix == 30;
  CHECK(cip);
  std::vector<RouteInfo> routes;
  CHECK_OK(ListRoutes(pidfd, routes, e), e);
  bool dflt = false;
  for (const auto& r : routes) dflt |= r.dstLen == 0 && r.gateway == 0x0afe0001;
  CHECK(dflt);

  // A second container on the same subnet reuses the bridge; a duplicate veth name fails and
  // leaves the bridge (not created by that call) alone.
  ContainerNetResult again;
  spec.address.addr = 0x0afe0003;
  CHECK(!SetupContainer(spec, again, e));
  CHECK(e.err == EEXIST);
  CHECK(!again.bridgeCreated);
  links.clear();
  CHECK_OK(ListLinks(-1, links, e), e);
  CHECK(Find(links, "tnb-0afe0000") != nullptr);

  // A link of the bridge's name that is not a bridge is refused.
  spec.bridge = "tnv-test";
  spec.hostVeth = "tnv-other";
  CHECK(!SetupContainer(spec, again, e));
  CHECK(e.err == EEXIST && e.detail.find("not a bridge") != std::string::npos);

  BandwidthSpec bw;
  bw.hostVeth = "tnv-test";
  bw.ifb = "tni-test";
  bw.rate = 1000000;
  bw.burst = 20000;
  bw.mtu = 1400;
  CHECK_OK(SetBandwidth(bw, e), e);
  CHECK_OK(SetBandwidth(bw, e), e);  // again: replaced, not duplicated
  links.clear();
  CHECK_OK(ListLinks(-1, links, e), e);
  const LinkInfo* ifb = Find(links, "tni-test");
  CHECK(ifb && ifb->kind == "ifb");
  bw.rate = 0;
  CHECK_OK(SetBandwidth(bw, e), e);
  links.clear();
  CHECK_OK(ListLinks(-1, links, e), e);
  CHECK(Find(links, "tni-test") == nullptr);

  CHECK_OK(WriteSysctl(-1, "net/ipv4/ip_forward", "1", e), e);
  CHECK(!WriteSysctl(-1, "net/ipv4/no_such_key", "1", e) && e.err == ENOENT);

  std::string out, err;
  int r = NftRun(-1, "add table ip nettest\nadd set ip nettest s { type ipv4_addr; }\nadd element ip nettest s { 10.0.0.1 }\n", false, out, err);
  if (r == ENOSYS) {
    fprintf(stderr, "net-tests: %s\n", err.c_str());
    failures++;
  } else {
    CHECK(r == 0);
    r = NftRun(-1, "list set ip nettest s", true, out, err);
    CHECK(r == 0 && out.find("\"10.0.0.1\"") != std::string::npos);
    // A failing transaction applies nothing and explains itself (nft's text; libnftables 1.0.6
    // points at the wrong line of a multi-line batch, so only the reason is checked).
    r = NftRun(-1, "add element ip nettest s { 10.0.0.2 }\nadd element ip nettest nosuch { 10.0.0.3 }\n", false, out, err);
    CHECK(r != 0 && err.find("No such file or directory") != std::string::npos);
    r = NftRun(-1, "list set ip nettest s", false, out, err);
    CHECK(r == 0 && out.find("10.0.0.2") == std::string::npos);
    // The namespace's context is kept between runs; a released one is opened again.
    NftRelease(-1);
    r = NftRun(-1, "list set ip nettest s", false, out, err);
    CHECK(r == 0 && out.find("10.0.0.1") != std::string::npos);
    CHECK(NftRun(-1, "delete table ip nettest", false, out, err) == 0);
    NftRelease(-1);
  }

  CHECK_OK(DeleteLinks(-1, {"tnv-test", "tnb-0afe0000", "tnx-missing"}, e), e);
  links.clear();
  CHECK_OK(ListLinks(-1, links, e), e);
  CHECK(Find(links, "tnv-test") == nullptr && Find(links, "tnb-0afe0000") == nullptr);

  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(pidfd);
}

int main() {
  TestMessage();
  if (geteuid() == 0) {
    TestLive();
  } else {
    fprintf(stderr, "net-tests: the live netlink tests need root\n");
    failures++;
  }
  if (failures) {
    fprintf(stderr, "net-tests: %d failure(s)\n", failures);
    return 1;
  }
  printf("net-tests: ok\n");
  return 0;
}
