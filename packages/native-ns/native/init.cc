// garden-init: pid 1 of every container. Blocks every signal and consumes them with sigwaitinfo,
// so nothing sent from inside the container can kill it (only SIGKILL from the host, which
// cannot be blocked, ends it and with it the pid namespace). SIGCHLD reaps every orphan.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main() {
  // The binary is exec'd from a memfd, so the kernel-derived comm is a number; name it.
  prctl(PR_SET_NAME, "garden-init", 0, 0, 0);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  if (chdir("/") != 0) return 1;
  // fd 3, when present, is the creator's readiness pipe: we are named and immune to signals now.
  if (write(3, "r", 1) == 1) close(3);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig == SIGCHLD) {
      while (waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
  }
}
