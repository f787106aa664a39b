// The one parallel-for every kernel uses: OpenMP over contiguous [begin, end) blocks.
//
//   parallel_for(n, /*cost_per_item=*/4, [&](int64_t begin, int64_t end) {
//     for (int64_t i = begin; i < end; ++i) out[i] = in[i] * 2;
//   });
//
// Small jobs run inline: waking a team costs a few microseconds, more than a short loop.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace fg {

// Work (items x cost) below which a loop runs on the calling thread.
inline constexpr int64_t kParallelThreshold = 1 << 15;

inline int num_threads() { return omp_get_max_threads(); }

template <typename Fn>
void parallel_for(int64_t n, int64_t cost_per_item, Fn&& fn) {
  if (n <= 0) return;
  const int threads = omp_in_parallel() ? 1 : num_threads();
  if (threads <= 1 || n * std::max<int64_t>(cost_per_item, 1) < kParallelThreshold || n < 2) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t blocks = std::min<int64_t>(threads, n);
#pragma omp parallel for num_threads(blocks) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = n * b / blocks, end = n * (b + 1) / blocks;
    fn(begin, end);
  }
}

}  // namespace fg
