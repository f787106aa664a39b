#include "core/random.h"

#include <numeric>
#include <random>

namespace fg {

std::pair<int64_t, int64_t> resolve_seeds(std::optional<int64_t> graph_seed, std::optional<int64_t> op_seed,
                                          int64_t op_index) {
  if (graph_seed && op_seed) return {*graph_seed, *op_seed};
  if (graph_seed) return {*graph_seed, op_index};
  // TF1: an op seed alone pairs with the default graph seed 87654321.
  if (op_seed) return {87654321, *op_seed};
  std::random_device rd;
  const auto draw = [&] { return (static_cast<int64_t>(rd()) << 31) ^ rd(); };
  return {draw(), draw()};
}

uint32_t RandomEngine::next_u32() {
  if (used_ == 4) {
    block_ = gen_();
    used_ = 0;
  }
  return block_[used_++];
}

uint64_t RandomEngine::uniform(uint64_t n) {
  // Rejection sampling keeps the distribution exactly uniform.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = (static_cast<uint64_t>(next_u32()) << 32) | next_u32();
  } while (x >= limit);
  return x % n;
}

std::vector<int64_t> RandomEngine::permutation(int64_t n) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[uniform(i + 1)]);
  return p;
}

}  // namespace fg
