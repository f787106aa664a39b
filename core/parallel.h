// The one parallel-for every kernel uses: OpenMP over contiguous [begin, end) blocks.
//
//   parallel_for(n, /*cost_per_item=*/4, [&](int64_t begin, int64_t end) {
//     for (int64_t i = begin; i < end; ++i) out[i] = in[i] * 2;
//   });
//
// Small jobs run inline: waking the OpenMP team and joining it costs 3.5 us on the 2-core VM the
// benchmarks run on (kernels_bench BM_ParallelRegion), so a loop must have about 10 us of work
// before a second thread pays (BM_Relu/ReluGrad/BiasAddGrad/FusedBatchNorm at [200,300] are all
// faster inline; ApplyGradientDescent on [784,300] is faster on two).
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>

namespace fg {

// Work (items x cost_per_item; cost 1 = a streaming element-wise op) below which a loop runs on the
// calling thread.
inline constexpr int64_t kParallelThreshold = int64_t{1} << 19;

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
  // An exception may not leave an OpenMP region (the runtime would terminate): the first one a
  // block throws is carried out and rethrown on the calling thread.
  std::exception_ptr error;
  std::atomic<bool> failed{false};
#pragma omp parallel for num_threads(blocks) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = n * b / blocks, end = n * (b + 1) / blocks;
    try {
      fn(begin, end);
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace fg
