// Resets every signal disposition to SIG_DFL and empties the mask with raw syscalls: glibc's
// sigaction() refuses its internal signals (32, 33), whose SIG_IGN would survive exec otherwise.
// Async-signal-safe.
#pragma once
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace garden {

inline void ResetSignals() {
  struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    unsigned long mask;
  } dfl = {nullptr, 0, nullptr, 0};  // SIG_DFL
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(unsigned long));
  }
  unsigned long none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
}

}  // namespace garden
