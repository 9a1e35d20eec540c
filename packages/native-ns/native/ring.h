// On-disk output ring: header "GRDNRING" | capacity u64 | head u64 | delivered u64, then data.
// Byte at stream offset o lives at kRingHeader + o % capacity. The ring itself overwrites the
// oldest bytes when full; the shim only lets it while no client is attached (see shim.cc).
// `head` is written by the shim only; `delivered` by the consumers only (the server side, after it
// has handed bytes on: src/process.ts), so a consumer dying with bytes in flight never counts them
// as delivered. The shim reads it for an attacher asking for what is undelivered.
#pragma once
#include <cstdint>
#include <string>

namespace garden {

constexpr uint64_t kRingHeader = 32;

class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring();

  /** Creates (truncating) the ring file at dirfd/name; returns false with errno set. */
  bool Create(int dirfd, const char* name, uint64_t capacity);
  /** Opens an existing ring file read-write; returns false with errno set. */
  bool Open(int dirfd, const char* name);
  /** Appends bytes, overwriting the oldest when full. Returns false on I/O error. */
  bool Append(const char* data, size_t len);
  /** Copies up to `max` bytes starting at stream offset `from` (clamped to the oldest kept byte,
   *  written back to `from`) without wrapping; returns the count (0 when nothing is available). */
  size_t Read(uint64_t& from, char* buf, size_t max) const;
  /** The consumers' delivered mark, read from the file (0 when unreadable). */
  uint64_t Delivered() const;
  /** Raises the delivered mark to `offset` (what a consumer does; the TypeScript side writes the
   *  same 8 bytes). Returns false on I/O error. */
  bool MarkDelivered(uint64_t offset);

  uint64_t head() const { return head_; }
  uint64_t capacity() const { return capacity_; }
  uint64_t oldest() const { return head_ > capacity_ ? head_ - capacity_ : 0; }

 private:
  bool WriteHeader();
  int fd_ = -1;
  uint64_t capacity_ = 0;
  uint64_t head_ = 0;
};

}  // namespace garden
