// Registers the network bindings (net_addon.cc) on the addon's exports.
#pragma once
#include <napi.h>

#include <string>

#include "netlink.h"

namespace garden {
void RegisterNet(Napi::Env env, Napi::Object exports);

// A container's veth pair and bridge (netSetupContainer's arguments but the container's
// namespace): parsed on the JS thread, made on a worker by SetupContainerLink.
struct ContainerLink {
  net::ContainerNetSpec spec;
  std::string hostNetns;  // namespace file of the bridge and host end; "" = the worker's own
};
void ParseContainerLink(const Napi::Object& o, ContainerLink& out);
// Makes the link with its container end in `containerNs` (a netns fd or an init's pidfd).
bool SetupContainerLink(const ContainerLink& link, int containerNs, net::ContainerNetResult& out, net::Error& e);
// A network failure as a JS error (message, errno, code, syscall, stage, detail).
Napi::Error NetError(Napi::Env env, const net::Error& e, const char* stage);
}
