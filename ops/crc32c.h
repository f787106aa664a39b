// CRC-32C (Castagnoli), the checksum LevelDB and TensorFlow's checkpoints store.
//
//   uint32_t c = crc32c::value(bytes.data(), bytes.size());
//   c = crc32c::extend(c, more.data(), more.size());   // == value(bytes + more)
//   entry.set_crc32c(crc32c::mask(c));                 // as stored in a BundleEntryProto
//
// Stored crcs are masked because a crc of data that itself contains crcs is weak.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fg::crc32c {

// Continues a crc computed over earlier bytes (0 for none).
uint32_t extend(uint32_t crc, const void* data, size_t n);
inline uint32_t value(const void* data, size_t n) { return extend(0, data, n); }

// The portable path, whatever the CPU: tests check the hardware path against it.
uint32_t extend_table_driven(uint32_t crc, const void* data, size_t n);

inline constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t unmask(uint32_t masked) {
  const uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace fg::crc32c
