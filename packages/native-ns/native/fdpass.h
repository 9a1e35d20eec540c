// Passing file descriptors over unix stream sockets (SCM_RIGHTS), shared by the addon, garden-shim
// and the native tests. Plain syscalls on caller-provided memory only (no allocation), so a
// freshly forked child may use SendMsgFd too.
#pragma once
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace garden {

/** One sendmsg (EINTR retried, MSG_NOSIGNAL) with `fd` (if >= 0) as SCM_RIGHTS. */
inline ssize_t SendMsgFd(int sock, const void* data, size_t len, int fd) {
  struct iovec iov = {const_cast<void*>(data), len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    std::memset(&u, 0, sizeof u);
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

/** Sends all of `data`, `fd` (if >= 0) riding on the first byte; false with errno set on failure. */
inline bool SendAllFd(int sock, const char* data, size_t len, int fd) {
  while (len > 0) {
    ssize_t n = SendMsgFd(sock, data, len, fd);
    if (n <= 0) return false;
    fd = -1;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

/**
 * One recvmsg (EINTR retried, fds close-on-exec) of up to `len` bytes. The first SCM_RIGHTS fd
 * that arrives lands in `fd` if it is still -1; any other received fd is closed. Returns what
 * recvmsg returned.
 */
inline ssize_t RecvMsgFd(int sock, void* data, size_t len, int& fd) {
  struct iovec iov = {data, len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return n;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int got;
    std::memcpy(&got, CMSG_DATA(c), sizeof(int));
    if (fd < 0) {
      fd = got;
    } else {
      close(got);
    }
  }
  return n;
}

/** Reads exactly `len` bytes with RecvMsgFd; false at EOF (errno EPIPE) or on an error. */
inline bool RecvAllFd(int sock, char* data, size_t len, int& fd) {
  while (len > 0) {
    ssize_t n = RecvMsgFd(sock, data, len, fd);
    if (n <= 0) {
      if (n == 0) errno = EPIPE;
      return false;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace garden
