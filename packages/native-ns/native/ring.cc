#include "ring.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "protocol.h"

namespace garden {

static const char kMagic[8] = {'G', 'R', 'D', 'N', 'R', 'I', 'N', 'G'};

Ring::~Ring() {
  if (fd_ >= 0) close(fd_);
}

bool Ring::WriteHeader() {
  char h[kRingHeader];
  std::memcpy(h, kMagic, 8);
  PutU64(h + 8, capacity_);
  PutU64(h + 16, head_);
  PutU64(h + 24, 0);  // delivered: nothing yet
  return pwrite(fd_, h, sizeof h, 0) == static_cast<ssize_t>(sizeof h);
}

bool Ring::Create(int dirfd, const char* name, uint64_t capacity) {
  if (capacity == 0) {
    errno = EINVAL;
    return false;
  }
  fd_ = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) return false;
  capacity_ = capacity;
  head_ = 0;
  return WriteHeader();
}

bool Ring::Open(int dirfd, const char* name) {
  fd_ = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd_ < 0) return false;
  char h[kRingHeader];
  if (pread(fd_, h, sizeof h, 0) != static_cast<ssize_t>(sizeof h) || std::memcmp(h, kMagic, 8) != 0) {
    errno = EINVAL;
    return false;
  }
  capacity_ = GetU64(h + 8);
  head_ = GetU64(h + 16);
  return capacity_ != 0;
}

bool Ring::Append(const char* data, size_t len) {
  // Only the newest `capacity` bytes can survive; skip the rest up front.
  if (len > capacity_) {
    head_ += len - capacity_;
    data += len - capacity_;
    len = capacity_;
  }
  while (len > 0) {
    uint64_t pos = head_ % capacity_;
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(len, capacity_ - pos));
    ssize_t n = pwrite(fd_, data, chunk, static_cast<off_t>(kRingHeader + pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    head_ += static_cast<uint64_t>(n);
    data += n;
    len -= static_cast<size_t>(n);
  }
  char b[8];
  PutU64(b, head_);
  return pwrite(fd_, b, 8, 16) == 8;
}

size_t Ring::Read(uint64_t& from, char* buf, size_t max) const {
  if (from < oldest()) from = oldest();
  if (from >= head_) return 0;
  uint64_t pos = from % capacity_;
  size_t want = static_cast<size_t>(std::min<uint64_t>({head_ - from, capacity_ - pos, max}));
  ssize_t n;
  do {
    n = pread(fd_, buf, want, static_cast<off_t>(kRingHeader + pos));
  } while (n < 0 && errno == EINTR);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

uint64_t Ring::Delivered() const {
  char b[8];
  ssize_t n;
  do {
    n = pread(fd_, b, 8, 24);
  } while (n < 0 && errno == EINTR);
  return n == 8 ? GetU64(b) : 0;
}

bool Ring::MarkDelivered(uint64_t offset) {
  if (offset <= Delivered()) return true;
  char b[8];
  PutU64(b, offset);
  return pwrite(fd_, b, 8, 24) == 8;
}

}  // namespace garden
