// Session::run overhead on a cached plan, and one epoch of the seed's train_dnn.
//   build/session_bench --benchmark_filter=Overhead
#include <benchmark/benchmark.h>

#include "flowgraph.h"

namespace fg {
namespace {

// A chain of `n` Identity ops after a fed scalar: measures per-run and per-node overhead.
void BM_RunOverheadChain(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Graph g;
  auto x = placeholder(g, f32, {}, "x");
  Output y = x;
  for (int i = 0; i < n; ++i) y = identity(y);
  Session s(g);
  const Tensor v(1.0f);
  FeedDict feeds{{x, v}};
  for (auto _ : state) benchmark::DoNotOptimize(s.run(feeds, y));
  state.counters["us_per_node"] =
      benchmark::Counter(n, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_RunOverheadChain)->Arg(0)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

void BM_CallableOverheadChain(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Graph g;
  auto x = placeholder(g, f32, {}, "x");
  Output y = x;
  for (int i = 0; i < n; ++i) y = identity(y);
  Session s(g);
  auto f = s.make_callable({x}, {y});
  const Tensor v(1.0f);
  for (auto _ : state) benchmark::DoNotOptimize(f({v}));
}
BENCHMARK(BM_CallableOverheadChain)->Arg(0)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

void BM_EmptyRun(benchmark::State& state) {
  Graph g;
  Operation* n = no_op(g, "n");
  Session s(g);
  for (auto _ : state) s.run(n);
}
BENCHMARK(BM_EmptyRun)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace fg
