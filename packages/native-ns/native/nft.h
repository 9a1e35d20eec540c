// nftables transactions through libnftables (loaded with dlopen on first use, so the addon still
// loads on a host without it). One call = one nft script = one kernel transaction: it applies
// completely or not at all.
#pragma once
#include <string>

namespace garden::net {

/**
 * Runs an nft script (`nft -f` syntax) in the network namespace of `nsfd` (< 0: the calling
 * thread's own). With `json`, listings come back as JSON. Calls are serialised process-wide
 * (libnftables does not promise thread safety; the kernel serialises transactions anyway). The
 * namespace's context (its netlink socket) stays open for the next call until it has been idle
 * for 5 s or NftRelease: closing one right after a commit stalls the namespace's device creation
 * for an RCU grace period (see nft.cc). An open context keeps its namespace alive.
 * Returns 0, or an errno with nft's own message (or the dlopen error) in `error`.
 */
int NftRun(int nsfd, const std::string& script, bool json, std::string& output, std::string& error);

/** Closes the context NftRun keeps for the namespace of `nsfd` (< 0: the thread's own), if any. */
void NftRelease(int nsfd);

}  // namespace garden::net
