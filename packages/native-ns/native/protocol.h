// Wire format shared by garden-shim and its clients (the TypeScript side mirrors it in
// src/protocol.ts). Frames: type u8 | stream u8 | len u32le | value u64le | payload[len].
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace garden {

constexpr size_t kFrameHeader = 14;
constexpr uint32_t kMaxClientPayload = 1u << 20;   // STDIN/ATTACH frames from a client
constexpr uint32_t kMaxSpecPayload = 16u << 20;    // the first SPEC frame
constexpr uint32_t kMaxOutputChunk = 64u << 10;    // OUTPUT frames from the shim

// server -> shim
enum ClientFrame : uint8_t {
  kSpec = 1,
  kAttach = 2,    // payload: from-offset stdout u64, from-offset stderr u64 (~0 = undelivered);
                  // value: flags (kAttachStatusOnly)
  kStdin = 3,
  kStdinEof = 4,
  kSignal = 5,    // value: signal number
  kResize = 6,    // value: cols << 16 | rows
  kCreate = 7,    // first frame instead of SPEC: EncodeCreateOptions payload, garden-init's sealed
                  // memfd as SCM_RIGHTS; the shim creates the container (CLONE_PARENT) and exits
};

// shim -> server
enum ShimFrame : uint8_t {
  kStarted = 101,  // value: host pid
  kError = 102,    // value: errno, payload: stage name
  kOutput = 103,   // stream, value: offset of the first byte, payload: bytes
  kEof = 104,      // stream, value: final offset
  kExit = 105,     // value: exit status (code, or 128 + signal)
  kCreated = 106,  // answer to CREATE: value: init's host pid, its pidfd as SCM_RIGHTS. A failed
                   // CREATE answers ERROR (payload: stage NUL syscall), with the killed child's
                   // pidfd attached when clone had succeeded (the server reaps it)
  kCloned = 107,   // during CREATE, before its answer: the child exists and has its go-ahead;
                   // value: its host pid, its pidfd as SCM_RIGHTS (for work on its namespaces
                   // that overlaps its setup, e.g. its network devices)
};

constexpr uint64_t kFromUndelivered = ~uint64_t{0};
// ATTACH flag: send only EXIT (no OUTPUT/EOF), so the rings' delivered marks never move.
constexpr uint64_t kAttachStatusOnly = 1;

inline void PutU32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }  // little-endian hosts only
inline void PutU64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint32_t GetU32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint64_t GetU64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
inline uint16_t GetU16(const char* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }

/** Appends one frame to `out`. */
inline void AppendFrame(std::string& out, uint8_t type, uint8_t stream, uint64_t value,
                        const char* payload, uint32_t len) {
  char h[kFrameHeader];
  h[0] = static_cast<char>(type);
  h[1] = static_cast<char>(stream);
  PutU32(h + 2, len);
  PutU64(h + 6, value);
  out.append(h, kFrameHeader);
  if (len) out.append(payload, len);
}

}  // namespace garden
