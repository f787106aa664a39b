// Philox4x32-10 counter-based generator and TF1's seed rules.
//
//   auto [s1, s2] = resolve_seeds(graph_seed, op_seed, op_index);   // tf.get_seed
//   PhiloxRandom gen(s1, s2);
//   gen.skip(block);  auto r = gen();   // four uint32
//
// Counter-based: element i of a random tensor depends only on (seed, seed2, i), so kernels fill
// disjoint blocks in parallel and still produce the same tensor on every run and thread count.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace fg {

class PhiloxRandom {
 public:
  using Result = std::array<uint32_t, 4>;
  PhiloxRandom(uint64_t seed, uint64_t seed2) {
    key_ = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
    counter_ = {0, 0, static_cast<uint32_t>(seed2), static_cast<uint32_t>(seed2 >> 32)};
  }
  // Advances the 128-bit counter by n blocks (each block yields 4 uint32).
  void skip(uint64_t n) {
    const uint32_t lo = static_cast<uint32_t>(n);
    uint32_t hi = static_cast<uint32_t>(n >> 32);
    counter_[0] += lo;
    if (counter_[0] < lo) ++hi;
    counter_[1] += hi;
    if (counter_[1] < hi && ++counter_[2] == 0) ++counter_[3];
  }
  Result operator()() {
    Result c = counter_;
    std::array<uint32_t, 2> k = key_;
    for (int round = 0; round < 10; ++round) {
      c = single_round(c, k);
      k[0] += 0x9E3779B9;
      k[1] += 0xBB67AE85;
    }
    skip(1);
    return c;
  }

 private:
  static Result single_round(const Result& c, const std::array<uint32_t, 2>& k) {
    const uint64_t p0 = uint64_t{0xD2511F53} * c[0];
    const uint64_t p1 = uint64_t{0xCD9E8D57} * c[2];
    return {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
            static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
  }
  Result counter_;
  std::array<uint32_t, 2> key_;
};

// uint32 -> float in [0, 1) using the top 23 bits, as TF does.
inline float uint32_to_unit_float(uint32_t x) {
  const uint32_t bits = (127u << 23) | (x & 0x7fffffu);
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f - 1.0f;
}
// Two uint32 -> double in [0, 1) using 52 bits.
inline double uint32s_to_unit_double(uint32_t a, uint32_t b) {
  const uint64_t mant = ((static_cast<uint64_t>(a) << 32) | b) & ((uint64_t{1} << 52) - 1);
  const uint64_t bits = (uint64_t{1023} << 52) | mant;
  double d;
  __builtin_memcpy(&d, &bits, 8);
  return d - 1.0;
}

// TF1's tf.get_seed: with a graph seed and no op seed, the op seed is the op's index in the graph;
// with neither, both come from the OS entropy source (so runs differ, as in TF).
std::pair<int64_t, int64_t> resolve_seeds(std::optional<int64_t> graph_seed, std::optional<int64_t> op_seed,
                                          int64_t op_index);

// A seeded source of permutations and integers for the data pipeline (np.random.permutation's role).
class RandomEngine {
 public:
  explicit RandomEngine(uint64_t seed) : gen_(seed, 0x5eed) {}
  uint32_t next_u32();
  // Uniform integer in [0, n).
  uint64_t uniform(uint64_t n);
  // A random permutation of 0..n-1 (Fisher-Yates).
  std::vector<int64_t> permutation(int64_t n);

 private:
  PhiloxRandom gen_;
  PhiloxRandom::Result block_{};
  int used_ = 4;
};

}  // namespace fg
