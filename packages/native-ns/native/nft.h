// nftables transactions through libnftables (loaded with dlopen on first use, so the addon still
// loads on a host without it). One call = one nft script = one kernel transaction: it applies
// completely or not at all.
#pragma once
#include <string>

namespace garden::net {

/**
 * Runs an nft script (`nft -f` syntax) in the network namespace of `nsfd` (< 0: the calling
 * thread's own). With `json`, listings come back as JSON. Calls are serialised process-wide
 * (libnftables does not promise thread safety; the kernel serialises transactions anyway) and
 * each uses a fresh context (~0.03 ms), which holds no reference to a namespace afterwards.
 * Returns 0, or an errno with nft's own message (or the dlopen error) in `error`.
 */
int NftRun(int nsfd, const std::string& script, bool json, std::string& output, std::string& error);

}  // namespace garden::net
