// Resets every signal disposition to SIG_DFL and empties the mask with raw syscalls: glibc's
// sigaction() refuses its internal signals (32, 33), whose SIG_IGN would survive exec otherwise.
// Async-signal-safe.
#pragma once
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace garden {

// `which`: a mask of the signals to reset (bit sig - 1); all of them by default.
inline void ResetSignals(unsigned long long which = ~0ull) {
  struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    unsigned long mask;
  } dfl = {nullptr, 0, nullptr, 0};  // SIG_DFL
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || !((which >> (sig - 1)) & 1)) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(unsigned long));
  }
  unsigned long none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
}

// garden-shim resets every disposition once when it starts, then ignores SIGPIPE: all its
// children still have to reset (62 syscalls fewer between clone and exec than ResetSignals()).
constexpr unsigned long long kShimSignals = 1ull << (SIGPIPE - 1);

}  // namespace garden
