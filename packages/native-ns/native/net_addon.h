// Registers the network bindings (net_addon.cc) on the addon's exports.
#pragma once
#include <napi.h>

namespace garden {
void RegisterNet(Napi::Env env, Napi::Object exports);
}
