// The hot kernels of the seed's MLPs at their training shapes (batch 200, 784-300-100-10), each
// run through a Session on a cached plan (make_callable) so the figure includes what a training
// step pays per op: plan dispatch, the output allocation, the kernel.
//
//   build-bench/kernels_bench                                 # all, ~1 minute
//   build-bench/kernels_bench --benchmark_filter=MatMul       # the GEMMs only
//
// Times are wall-clock (UseRealTime): the kernels run on the pool's threads besides the caller.
// Counters: GFLOP/s for GEMMs (2*M*N*K per product; this machine's 2-thread FMA peak is ~190),
// GB/s for the memory-bound kernels (bytes of every input read once + every output written once;
// at these sizes the operands sit in L2, so these are cache bandwidths, not DRAM's).
//
// Inputs are fed from tensors the benchmark keeps, so a kernel that would overwrite its input in
// place when it is the last reader (as inside a training step) allocates here instead.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/gemm.h"
#include "core/parallel.h"
#include "flowgraph.h"
#include "graph/op_registry.h"

namespace fg {
namespace {

constexpr int64_t kBatch = 200;

Tensor uniform(const Shape& shape, float lo, float hi, uint64_t seed) {
  Tensor t = Tensor::empty(f32, shape);
  RandomEngine rng(seed);
  for (float& v : t.flat<float>()) v = lo + (hi - lo) * float(rng.next_u32() >> 8) * (1.0f / 16777216.0f);
  return t;
}

// One graph, its fed placeholders with their values, and the timed loop over a cached plan.
class Harness {
 public:
  Graph g;

  Output feed(const Tensor& value, const std::string& name) {
    Output p = placeholder(g, value.dtype(), value.shape(), name);
    feeds_.push_back(p);
    values_.push_back(value);
    return p;
  }
  // Feeds an op's output (any tensor can be fed), so the plan stops there.
  void feed_as(const Output& o, const Tensor& value) {
    feeds_.push_back(o);
    values_.push_back(value);
  }
  Output feed_uniform(const Shape& shape, const std::string& name, float lo = -1, float hi = 1) {
    return feed(uniform(shape, lo, hi, 1000 + feeds_.size()), name);
  }

  // The fetches' values with the current feeds (for inputs computed by a forward op).
  std::vector<Tensor> eval(const std::vector<Output>& fetches) {
    Session s(g);
    FeedDict feeds;
    for (size_t i = 0; i < feeds_.size(); ++i) feeds.emplace_back(feeds_[i], values_[i]);
    return s.run(feeds, fetches);
  }

  // Times `fetches` / `targets` per run; `flops` and `bytes` per run become GFLOP/s and GB/s.
  void run(benchmark::State& state, const std::vector<Output>& fetches, const Targets& targets, double flops,
           double bytes) {
    Session s(g);
    if (!global_variables(g).empty()) s.run(global_variables_initializer(g));
    auto f = s.make_callable(feeds_, fetches, targets);
    f(values_);  // the first run warms caches and the allocator
    for (auto _ : state) benchmark::DoNotOptimize(f(values_));
    if (flops > 0) state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    if (bytes > 0) state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  }

 private:
  std::vector<Output> feeds_;
  std::vector<Tensor> values_;
};

double f32_bytes(std::initializer_list<int64_t> elements) {
  double n = 0;
  for (int64_t e : elements) n += double(e);
  return 4 * n;
}

// ---- the machine's FMA peak, the roofline every GEMM figure is read against

// 12 independent FMA chains per thread (enough to cover the FMA latency on 2 pipes), on every
// OpenMP thread; returns a value depending on all chains so nothing is optimized away.
#define FG_FMA_LOOP(V, FMA, SET1, LANES)                                                        \
  float sink = 0;                                                                              \
  _Pragma("omp parallel reduction(+ : sink)") {                                                \
    V a[12];                                                                                   \
    for (auto& x : a) x = SET1(1.0f);                                                          \
    const V m = SET1(0.999999f), c = SET1(1e-7f);                                              \
    for (int64_t i = 0; i < iters; ++i)                                                        \
      for (auto& x : a) x = FMA(x, m, c);                                                      \
    float lanes[LANES];                                                                        \
    V t = a[0];                                                                                \
    for (int j = 1; j < 12; ++j) t = FMA(t, m, a[j]);                                          \
    __builtin_memcpy(lanes, &t, sizeof lanes);                                                 \
    sink += lanes[0];                                                                          \
  }                                                                                            \
  return sink;

__attribute__((target("avx2,fma"))) float fma_avx2(int64_t iters) {
  FG_FMA_LOOP(__m256, _mm256_fmadd_ps, _mm256_set1_ps, 8)
}
__attribute__((target("avx512f"))) float fma_avx512(int64_t iters) {
  FG_FMA_LOOP(__m512, _mm512_fmadd_ps, _mm512_set1_ps, 16)
}
#undef FG_FMA_LOOP

// Issue 6's "190 GFLOP/s FMA peak" is the AVX2 figure (8 lanes x 2 FMA pipes x 2 FLOP per core and
// cycle); this machine also has AVX-512 (Eigen uses it under -march=native), whose peak is ~2x that.
void BM_FmaPeak(benchmark::State& state, bool avx512) {
  if (avx512 ? !__builtin_cpu_supports("avx512f") : !__builtin_cpu_supports("fma")) {
    state.SkipWithError("this CPU lacks the instructions");
    return;
  }
  const int64_t iters = 1 << 20;
  for (auto _ : state) benchmark::DoNotOptimize(avx512 ? fma_avx512(iters) : fma_avx2(iters));
  const double flops = 2.0 * (avx512 ? 16 : 8) * 12 * double(iters) * omp_get_max_threads();
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = omp_get_max_threads();
}
BENCHMARK_CAPTURE(BM_FmaPeak, avx2, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_FmaPeak, avx512, true)->UseRealTime();

// What every barrier and every shared GEMM panel costs between the two CPUs: a cache line bounced
// from CPU 0 to CPU 1 and back (ns per round trip). On this VM it is 440-610 ns.
void BM_CacheLineRoundTrip(benchmark::State& state) {
  if (std::thread::hardware_concurrency() < 2) {
    state.SkipWithError("needs two CPUs");
    return;
  }
  auto pin = [](int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  };
  alignas(64) std::atomic<int64_t> flag{0};
  std::atomic<bool> done{false};
  std::thread partner([&] {
    pin(1);
    int64_t seen = 0;
    while (!done.load(std::memory_order_relaxed)) {
      const int64_t v = flag.load(std::memory_order_acquire);
      if (v != seen && (v & 1)) {
        flag.store(v + 1, std::memory_order_release);
        seen = v + 1;
      }
    }
  });
  pin(0);
  int64_t v = 0;
  for (auto _ : state) {
    flag.store(++v, std::memory_order_release);  // odd: the partner's turn
    while (flag.load(std::memory_order_acquire) != v + 1) {
    }
    ++v;
  }
  done = true;
  partner.join();
  cpu_set_t all;
  CPU_ZERO(&all);
  for (unsigned c = 0; c < std::thread::hardware_concurrency(); ++c) CPU_SET(c, &all);
  pthread_setaffinity_np(pthread_self(), sizeof all, &all);  // unpin: later benchmarks use every CPU
}
BENCHMARK(BM_CacheLineRoundTrip)->UseRealTime();

// What one parallel region costs: hand a block to the pool's worker, run nothing, join (the price
// every kernel above core/parallel.h's threshold pays, and what the threshold is set from).
void BM_ParallelRegion(benchmark::State& state) {
  std::atomic<int64_t> sink{0};
  for (auto _ : state) {
    parallel_for(2, kParallelThreshold, [&](int64_t b, int64_t e) { sink.fetch_add(e - b, std::memory_order_relaxed); });
  }
  benchmark::DoNotOptimize(sink.load());
}
BENCHMARK(BM_ParallelRegion)->UseRealTime();

// The same through libgomp (what parallel_for used before it had its own pool): fork the OpenMP
// team, run nothing, join.
void BM_OpenMpRegion(benchmark::State& state) {
  std::atomic<int64_t> sink{0};
  for (auto _ : state) {
#pragma omp parallel num_threads(2)
    sink.fetch_add(1, std::memory_order_relaxed);
  }
  benchmark::DoNotOptimize(sink.load());
}
BENCHMARK(BM_OpenMpRegion)->UseRealTime();

// ---- GEMMs: C[m,n] = op(A) op(B) with the operand layouts the graph really has.

// Forward: [batch, k] x [k, n].
void BM_MatMul(benchmark::State& state, int64_t m, int64_t k, int64_t n, bool ta, bool tb) {
  Harness h;
  auto a = h.feed_uniform(ta ? Shape{k, m} : Shape{m, k}, "a");
  auto b = h.feed_uniform(tb ? Shape{n, k} : Shape{k, n}, "b");
  auto c = matmul(a, b, {.transpose_a = ta, .transpose_b = tb});
  h.run(state, {c}, {}, 2.0 * m * n * k, 0);
}
// Layer 1 (784 -> 300): forward X W1, weight gradient X^T dZ1, and the input gradient dZ1 W1^T that
// training never computes (X is fed, not a variable) but PyTorch-style accounting often counts.
BENCHMARK_CAPTURE(BM_MatMul, L1_fwd_200x784x300, kBatch, 784, 300, false, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, L1_dW_784x200x300_ta, 784, kBatch, 300, true, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, L1_dX_200x300x784_tb_unused, kBatch, 300, 784, false, true)->UseRealTime();
// Layer 2 (300 -> 100).
BENCHMARK_CAPTURE(BM_MatMul, L2_fwd_200x300x100, kBatch, 300, 100, false, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, L2_dW_300x200x100_ta, 300, kBatch, 100, true, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, L2_dX_200x100x300_tb, kBatch, 100, 300, false, true)->UseRealTime();
// Layer 3 (100 -> 10).
BENCHMARK_CAPTURE(BM_MatMul, L3_fwd_200x100x10, kBatch, 100, 10, false, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, L3_dW_100x200x10_ta, 100, kBatch, 10, true, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, L3_dX_200x10x100_tb, kBatch, 10, 100, false, true)->UseRealTime();
// train_dnn's hidden 300 -> 300 layers.
BENCHMARK_CAPTURE(BM_MatMul, H_fwd_200x300x300, kBatch, 300, 300, false, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, H_dW_300x200x300_ta, 300, kBatch, 300, true, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, H_dX_200x300x300_tb, kBatch, 300, 300, false, true)->UseRealTime();
// Batch 50 (plain50): the same layers on a quarter of the rows.
BENCHMARK_CAPTURE(BM_MatMul, B50_L1_fwd_50x784x300, 50, 784, 300, false, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, B50_L1_dW_784x50x300_ta, 784, 50, 300, true, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, B50_L2_fwd_50x300x100, 50, 300, 100, false, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, B50_L2_dW_300x50x100_ta, 300, 50, 100, true, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatMul, B50_L2_dX_50x100x300_tb, 50, 100, 300, false, true)->UseRealTime();

// The GEMM backends side by side, called directly (no Session), with core/gemm.h's per-product
// thread choice: the measurement behind its default backend. Names: backend/shape (M x K x N).
void BM_Gemm(benchmark::State& state, GemmBackend backend, int64_t m, int64_t k, int64_t n, bool ta, bool tb) {
  if (!gemm_backend_available(backend)) return state.SkipWithError("backend not built in");
  const GemmBackend saved = gemm_backend();
  set_gemm_backend(backend);
  const Tensor a = uniform(ta ? Shape{k, m} : Shape{m, k}, -1, 1, 1), b = uniform(tb ? Shape{n, k} : Shape{k, n}, -1, 1, 2);
  Tensor c = Tensor::empty(f32, {m, n});
  for (auto _ : state) {
    gemm<float>(ta, tb, m, n, k, 1.0f, a.data<float>(), ta ? m : k, b.data<float>(), tb ? k : n, 0.0f,
                c.data<float>(), n);
    benchmark::ClobberMemory();
  }
  set_gemm_backend(saved);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = gemm_threads(m, n, k);
}
const bool kGemmRegistered = [] {
  struct Shape3 { const char* name; int64_t m, k, n; bool ta, tb; };
  const Shape3 shapes[] = {
      {"L1_fwd_200x784x300", kBatch, 784, 300, false, false}, {"L1_dW_784x200x300_ta", 784, kBatch, 300, true, false},
      {"L2_fwd_200x300x100", kBatch, 300, 100, false, false}, {"L2_dW_300x200x100_ta", 300, kBatch, 100, true, false},
      {"L2_dX_200x100x300_tb", kBatch, 100, 300, false, true}, {"L3_fwd_200x100x10", kBatch, 100, 10, false, false},
      {"L3_dW_100x200x10_ta", 100, kBatch, 10, true, false},   {"L3_dX_200x10x100_tb", kBatch, 10, 100, false, true},
      {"H_fwd_200x300x300", kBatch, 300, 300, false, false},  {"B50_L1_fwd_50x784x300", 50, 784, 300, false, false},
      {"B50_L1_dW_784x50x300_ta", 784, 50, 300, true, false},  {"B50_L2_fwd_50x300x100", 50, 300, 100, false, false},
      {"B50_L2_dW_300x50x100_ta", 300, 50, 100, true, false},  {"B50_L2_dX_50x100x300_tb", 50, 100, 300, false, true},
      {"infer_1x784x300", 1, 784, 300, false, false},          {"infer_1x300x100", 1, 300, 100, false, false},
  };
  for (GemmBackend backend : {GemmBackend::kEigen, GemmBackend::kOneDnn})
    for (const Shape3& s : shapes)
      benchmark::RegisterBenchmark((std::string("BM_Gemm/") + gemm_backend_name(backend) + "/" + s.name).c_str(),
                                   BM_Gemm, backend, s.m, s.k, s.n, s.ta, s.tb)
          ->UseRealTime();
  return true;
}();

// ---- bias and activations: [200, 300] (layer 1) and [200, 100] (layer 2); rows x cols = range(0) x range(1)

void BM_BiasAdd(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto x = h.feed_uniform({r, c}, "x");
  auto b = h.feed_uniform({c}, "b");
  h.run(state, {nn::bias_add(x, b)}, {}, 0, f32_bytes({r * c, c, r * c}));
}
BENCHMARK(BM_BiasAdd)->Args({kBatch, 300})->Args({kBatch, 100})->UseRealTime();

void BM_BiasAddGrad(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto x = h.feed_uniform({r, c}, "x");
  auto b = h.feed_uniform({c}, "b");
  auto dy = h.feed_uniform({r, c}, "dy");
  auto db = gradients({nn::bias_add(x, b)}, {b}, {dy})[0];  // BiasAddGrad(dy); BiasAdd is pruned
  h.run(state, {db}, {}, 0, f32_bytes({r * c, c}));
}
BENCHMARK(BM_BiasAddGrad)->Args({kBatch, 300})->Args({kBatch, 100})->UseRealTime();

void BM_Relu(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto x = h.feed_uniform({r, c}, "x");
  h.run(state, {nn::relu(x)}, {}, 0, f32_bytes({r * c, r * c}));
}
BENCHMARK(BM_Relu)->Args({kBatch, 300})->Args({kBatch, 100})->UseRealTime();

void BM_ReluGrad(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto x = h.feed_uniform({r, c}, "x");
  auto dy = h.feed_uniform({r, c}, "dy");
  auto dx = gradients({nn::relu(x)}, {x}, {dy})[0];  // ReluGrad(dy, x)
  h.run(state, {dx}, {}, 0, f32_bytes({r * c, r * c, r * c}));
}
BENCHMARK(BM_ReluGrad)->Args({kBatch, 300})->Args({kBatch, 100})->UseRealTime();

void BM_Elu(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto x = h.feed_uniform({r, c}, "x", -3, 3);
  h.run(state, {nn::elu(x)}, {}, 0, f32_bytes({r * c, r * c}));
}
BENCHMARK(BM_Elu)->Args({kBatch, 300})->Args({kBatch, 100})->UseRealTime();

void BM_EluGrad(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto x = h.feed_uniform({r, c}, "x", -3, 3);
  auto dy = h.feed_uniform({r, c}, "dy");
  auto y = nn::elu(x);
  auto dx = gradients({y}, {x}, {dy})[0];  // EluGrad(dy, y)
  h.feed_as(y, uniform({r, c}, -1, 3, 9));  // Elu's output fed: the plan holds EluGrad alone
  h.run(state, {dx}, {}, 0, f32_bytes({r * c, r * c, r * c}));
}
BENCHMARK(BM_EluGrad)->Args({kBatch, 300})->Args({kBatch, 100})->UseRealTime();

// ---- element-wise math on [200, 300]: a second operand of the same shape, a row broadcast over the
// rows, a scalar; and one transcendental activation

void BM_BinaryOp(benchmark::State& state, const char* op, bool row, bool scalar) {
  const int64_t r = kBatch, c = 300;
  Harness h;
  auto x = h.feed_uniform({r, c}, "x");
  auto y = h.feed_uniform(scalar ? Shape{} : row ? Shape{c} : Shape{r, c}, "y", 0.5f, 1.5f);
  const std::string o = op;
  Output z = o == "Add" ? x + y : o == "Mul" ? x * y : o == "Maximum" ? maximum(x, y) : x / y;
  h.run(state, {z}, {}, 0, f32_bytes({r * c, scalar ? 1 : row ? c : r * c, r * c}));
}
BENCHMARK_CAPTURE(BM_BinaryOp, Add_same, "Add", false, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_BinaryOp, Add_row, "Add", true, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_BinaryOp, Mul_scalar, "Mul", false, true)->UseRealTime();
BENCHMARK_CAPTURE(BM_BinaryOp, Div_row, "RealDiv", true, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_BinaryOp, Maximum_same, "Maximum", false, false)->UseRealTime();

void BM_Sigmoid(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto x = h.feed_uniform({r, c}, "x", -3, 3);
  h.run(state, {nn::sigmoid(x)}, {}, 0, f32_bytes({r * c, r * c}));
}
BENCHMARK(BM_Sigmoid)->Args({kBatch, 300})->UseRealTime();

// ---- a dense layer's fused kernels (plan-level fusions): MatMul -> BiasAdd -> activation forward,
// and the input gradient's MatMul -> activation gradient, at layer 1's shapes

void BM_DenseFused(benchmark::State& state, const char* activation) {
  Harness h;
  auto x = h.feed_uniform({kBatch, 784}, "x");
  auto w = h.feed_uniform({784, 300}, "w", -0.05f, 0.05f);
  auto b = h.feed_uniform({300}, "b");
  auto z = nn::bias_add(matmul(x, w), b);
  const std::string a = activation;
  Output y = a == "Relu" ? nn::relu(z) : a == "Elu" ? nn::elu(z) : z;
  h.run(state, {y}, {}, 2.0 * kBatch * 784 * 300, 0);
}
BENCHMARK_CAPTURE(BM_DenseFused, BiasAdd, "")->UseRealTime();
BENCHMARK_CAPTURE(BM_DenseFused, Relu, "Relu")->UseRealTime();
BENCHMARK_CAPTURE(BM_DenseFused, Elu, "Elu")->UseRealTime();

// dX of layer 2 (dZ2 W2^T, [200,100] x [100,300]) into layer 1's activation gradient.
void BM_DenseGradFused(benchmark::State& state, const char* grad_op) {
  Harness h;
  auto dz = h.feed_uniform({kBatch, 100}, "dz");
  auto w = h.feed_uniform({300, 100}, "w", -0.1f, 0.1f);
  auto y = h.feed_uniform({kBatch, 300}, "y", -1, 2);
  auto dx = matmul(dz, w, {.transpose_b = true});
  h.run(state, {OpBuilder(dx, grad_op, "").input(dx).input(y).build_output()}, {}, 2.0 * kBatch * 100 * 300, 0);
}
BENCHMARK_CAPTURE(BM_DenseGradFused, ReluGrad, "ReluGrad")->UseRealTime();
BENCHMARK_CAPTURE(BM_DenseGradFused, EluGrad, "EluGrad")->UseRealTime();

// ---- loss, [200, 10]

void BM_SparseSoftmaxXent(benchmark::State& state) {
  Harness h;
  auto logits = h.feed_uniform({kBatch, 10}, "logits", -3, 3);
  std::vector<int32_t> labels(kBatch);
  for (int64_t i = 0; i < kBatch; ++i) labels[i] = int32_t(i % 10);
  auto y = h.feed(Tensor::from_vector(labels), "y");
  auto xent = nn::sparse_softmax_cross_entropy_with_logits(y, logits);
  // One kernel computes both outputs: the per-example loss and the backprop training reads.
  h.run(state, {xent, Output(xent.op(), 1)}, {}, 0, f32_bytes({kBatch * 10, kBatch, kBatch, kBatch * 10}));
}
BENCHMARK(BM_SparseSoftmaxXent)->UseRealTime();

// ---- batch normalization (training mode): [200, 300], [200, 100], [200, 10] = range(0) x range(1)

struct BatchNormGraph {
  Output x, scale, offset;
  nn::FusedBatchNormResult bn;
};
BatchNormGraph batch_norm_graph(Harness& h, int64_t r, int64_t c) {
  BatchNormGraph b;
  b.x = h.feed_uniform({r, c}, "x", -3, 3);
  b.scale = h.feed_uniform({c}, "scale", 0.5f, 1.5f);
  b.offset = h.feed_uniform({c}, "offset");
  b.bn = nn::fused_batch_norm(b.x, b.scale, b.offset, Output(), Output(), 1e-3);
  return b;
}

void BM_FusedBatchNorm_fwd(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto b = batch_norm_graph(h, r, c);
  h.run(state, {b.bn.y, b.bn.batch_mean, b.bn.batch_variance}, {}, 0, f32_bytes({r * c, c, c, r * c, c, c}));
}
BENCHMARK(BM_FusedBatchNorm_fwd)->Args({kBatch, 300})->Args({kBatch, 100})->Args({kBatch, 10})->UseRealTime();

// The gradient kernel alone: its reserve spaces come from a forward run and are fed.
void BM_FusedBatchNorm_bwd(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto b = batch_norm_graph(h, r, c);
  const auto saved = h.eval({b.bn.op->output(3), b.bn.op->output(4)});
  auto dy = h.feed_uniform({r, c}, "dy");
  auto m = h.feed(saved[0], "reserve_space_1");
  auto v = h.feed(saved[1], "reserve_space_2");
  Operation* grad = OpBuilder(dy, "FusedBatchNormGrad", "FusedBatchNormGrad")
                        .input(dy).input(b.x).input(b.scale).input(m).input(v).attr("epsilon", 1e-3f).build();
  h.run(state, {grad->output(0), grad->output(1), grad->output(2)}, {}, 0,
        f32_bytes({r * c, r * c, c, c, c, r * c, c, c}));
}
BENCHMARK(BM_FusedBatchNorm_bwd)->Args({kBatch, 300})->Args({kBatch, 100})->Args({kBatch, 10})->UseRealTime();

// The whole gradient the graph builds for the fused op, for comparison.
void BM_FusedBatchNorm_graph_bwd(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1);
  Harness h;
  auto b = batch_norm_graph(h, r, c);
  auto dy = h.feed_uniform({r, c}, "dy");
  auto g = gradients({b.bn.y}, {b.x, b.scale, b.offset}, {dy});
  h.run(state, g, {}, 0, f32_bytes({r * c, r * c, c, r * c, c, c}));
}
BENCHMARK(BM_FusedBatchNorm_graph_bwd)->Args({kBatch, 300})->UseRealTime();

// ---- optimizer updates: the first layer's kernel [784, 300] and the second's [300, 100]

Variable zeros_variable(Graph& g, const std::string& name, int64_t rows, int64_t cols) {
  return get_variable(g, name, {.shape = Shape{rows, cols}, .initializer = zeros_initializer()});
}

void BM_ApplyGradientDescent(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1), n = r * c;
  Harness h;
  auto grad = h.feed_uniform({r, c}, "grad");
  auto w = zeros_variable(h.g, "w", r, c);
  auto up = apply_gradient_descent(w, scalar_constant(h.g, 0.01, f32), grad);
  h.run(state, {}, {up.op()}, 0, f32_bytes({n, n, n}));  // read var, grad; write var
}
BENCHMARK(BM_ApplyGradientDescent)->Args({784, 300})->Args({300, 100})->UseRealTime();

void BM_ApplyMomentum(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1), n = r * c;
  Harness h;
  auto grad = h.feed_uniform({r, c}, "grad");
  auto w = zeros_variable(h.g, "w", r, c), accum = zeros_variable(h.g, "accum", r, c);
  auto up = apply_momentum(w, accum, scalar_constant(h.g, 0.01, f32), grad, scalar_constant(h.g, 0.9, f32), false);
  h.run(state, {}, {up.op()}, 0, f32_bytes({n, n, n, n, n}));
}
BENCHMARK(BM_ApplyMomentum)->Args({784, 300})->UseRealTime();

void BM_ApplyAdam(benchmark::State& state) {
  const int64_t r = state.range(0), c = state.range(1), n = r * c;
  Harness h;
  auto grad = h.feed_uniform({r, c}, "grad");
  auto w = zeros_variable(h.g, "w", r, c), m = zeros_variable(h.g, "m", r, c), v = zeros_variable(h.g, "v", r, c);
  auto k = [&](double x) { return scalar_constant(h.g, x, f32); };
  auto up = apply_adam(w, m, v, k(0.9), k(0.999), k(0.001), k(0.9), k(0.999), k(1e-8), grad);
  h.run(state, {}, {up.op()}, 0, f32_bytes({n, n, n, n, n, n, n}));
}
BENCHMARK(BM_ApplyAdam)->Args({784, 300})->UseRealTime();

// ---- the whole step, for the budget: the kernels above vs one training step of the plain MLP

// Gathering a shuffled batch out of the 55,000 x 784 training images (data::shuffle_batch's work):
// uint8 pixels, as data::load_mnist keeps them, scaled / 255 into a float32 batch on the way.
void BM_GatherBatch(benchmark::State& state) {
  const int64_t batch = state.range(0), n = 55000;
  Tensor images = Tensor::empty(u8, {n, 784});
  RandomEngine rng(1);
  for (uint8_t& v : images.flat<uint8_t>()) v = uint8_t(rng.next_u32() % 256);
  const auto perm = rng.permutation(n);
  int64_t begin = 0;
  for (auto _ : state) {
    if (begin + batch > n) begin = 0;
    benchmark::DoNotOptimize(data::gather_rows(images, perm, begin, begin + batch));
    begin += batch;
  }
  // 1 byte read + 4 bytes written per pixel.
  state.counters["GB/s"] = benchmark::Counter((1 + 4.0) * batch * 784 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GatherBatch)->Arg(200)->Arg(50)->UseRealTime();

// One GradientDescent step of the seed's models on a fixed batch (no gathering): plain (784-300-100-10
// ReLU), batch_norm (examples/batch_norm.cpp's graph, moving-average updates included).
void BM_TrainStep(benchmark::State& state, bool batch_norm) {
  const int64_t batch = state.range(0);
  Graph g;
  g.set_random_seed(42);
  auto X = placeholder(g, f32, {-1, 784}, "X");
  auto y = placeholder(g, i32, {-1}, "y");
  Output logits;
  if (batch_norm) {
    auto training = placeholder_with_default(g, Tensor(true), {}, "training");
    auto bn = [&](const Output& x) { return layers::batch_normalization(x, {.training = training, .momentum = 0.9}); };
    auto a1 = nn::elu(bn(layers::dense(X, 300, {.name = "hidden1"})));
    auto a2 = nn::elu(bn(layers::dense(a1, 100, {.name = "hidden2"})));
    logits = bn(layers::dense(a2, 10, {.name = "outputs"}));
  } else {
    auto h1 = layers::dense(X, 300, {.activation = nn::relu, .name = "hidden1"});
    auto h2 = layers::dense(h1, 100, {.activation = nn::relu, .name = "hidden2"});
    logits = layers::dense(h2, 10, {.name = "outputs"});
  }
  auto loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits));
  Operation* train_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  Session s(g);
  s.run(global_variables_initializer(g));
  auto step = s.make_callable({X, y}, {}, {train_op, g.get_collection(GraphKeys::UPDATE_OPS)});
  const Tensor xb = uniform({batch, 784}, 0, 1, 11);
  std::vector<int32_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i) labels[i] = int32_t(i % 10);
  const Tensor yb = Tensor::from_vector(labels);
  step({xb, yb});
  for (auto _ : state) step({xb, yb});
  // The GEMMs both frameworks must do (forward, weight gradients, input gradients but the first's).
  const double flops = 2.0 * batch * ((784 * 300 + 300 * 100 + 100 * 10) * 2 + 300 * 100 + 100 * 10);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  // seconds per step x steps per epoch: the epoch time if gathering and the loop cost nothing.
  state.counters["s_per_epoch"] = benchmark::Counter(double(batch) / 55000.0, benchmark::Counter::kIsIterationInvariantRate |
                                                                                  benchmark::Counter::kInvert);
}
BENCHMARK_CAPTURE(BM_TrainStep, plain, false)->Arg(200)->Arg(50)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainStep, batch_norm, true)->Arg(200)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace fg
