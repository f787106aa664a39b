// The one parallel-for every kernel uses: contiguous [begin, end) blocks on flowgraph's thread pool.
//
//   parallel_for(n, /*cost_per_item=*/4, [&](int64_t begin, int64_t end) {
//     for (int64_t i = begin; i < end; ++i) out[i] = in[i] * 2;
//   });
//
// The calling thread runs the first block and the pool's workers the others. The thread count is
// OpenMP's (OMP_NUM_THREADS, or omp_set_num_threads on the calling thread), so users set it the
// way they know, capped at the machine's CPUs. The pool is flowgraph's own, not libgomp's: a
// hand-off to it and back costs a fraction of a libgomp fork/join (kernels_bench
// BM_ParallelRegion against BM_OpenMpRegion; figures in bench/README.md), which is what lets
// single-sample inference use both cores. Workers spin briefly after a job,
// then sleep. Loops nested in a block, loops called inside an OpenMP parallel region of the
// application, and loops whose caller finds the pool busy with another thread's job run inline.
// Safe to call from several threads at once.
//
// Small jobs run inline all the same: a loop must have several microseconds of work before a
// second core pays for the cache lines it has to fetch.
#pragma once
#include <algorithm>
#include <cstdint>

namespace fg {

// Work (items x cost_per_item; cost 1 = a streaming element-wise op) below which a loop runs on the
// calling thread.
inline constexpr int64_t kParallelThreshold = int64_t{1} << 19;

// Threads a parallel_for on this thread may use: 1 inside a block or an OpenMP parallel region,
// else omp_get_max_threads() capped by the pool's size.
int num_threads();

namespace detail {
// Runs block(ctx, b) for b in [0, blocks) on up to `blocks` threads (the caller's and the pool's;
// blocks <= num_threads()); the first exception a block throws is rethrown here after every block
// has finished.
void run_blocks(int64_t blocks, void (*block)(void* ctx, int64_t b), void* ctx);
}  // namespace detail

template <typename Fn>
void parallel_for(int64_t n, int64_t cost_per_item, Fn&& fn) {
  if (n <= 0) return;
  if (n < 2 || n * std::max<int64_t>(cost_per_item, 1) < kParallelThreshold) {
    fn(int64_t{0}, n);
    return;
  }
  const int threads = num_threads();
  if (threads <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  struct Ctx {
    Fn& fn;
    int64_t n, blocks;
  } ctx{fn, n, std::min<int64_t>(threads, n)};
  detail::run_blocks(
      ctx.blocks,
      [](void* p, int64_t b) {
        auto& c = *static_cast<Ctx*>(p);
        c.fn(c.n * b / c.blocks, c.n * (b + 1) / c.blocks);
      },
      &ctx);
}

}  // namespace fg
