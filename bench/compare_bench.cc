// flowgraph's side of the PyTorch comparison (bench/compare.sh, issue 6): trains the seed's models
// on real MNIST with exactly the protocol of bench/peers/torch_mlp.{py,cpp} and prints JSON lines.
//
//   build-bench/compare_bench --model plain200|plain50|batch_norm|train_dnn [--epochs N] [--data DIR] [--seed S]
//   build-bench/compare_bench --benchmark_filter=.     # Google Benchmark: one epoch of each model
//   build-bench/compare_bench --model plain50 --epochs 2 --profile   # + where a step's time goes
//   build-bench/compare_bench --model plain50 --no-fusion            # plan-level fusions off (A/B)
//
// Protocol: MNIST IDX, pixels / 255 (the training images are held as uint8 and scaled per batch as
// it is gathered, data/mnist.h), first 5,000 training images as validation, Glorot-uniform
// kernels and zero biases (layers::dense defaults), GradientDescent lr 0.01, the seed's
// shuffle_batch (a fresh permutation per epoch, len // batch nearly equal batches). An epoch's time
// covers the training loop only (batch gathering included, validation excluded), as in the peers.
// The graphs are those of examples/train_dnn.cpp and examples/batch_norm.cpp (plain: the same MLP
// with hidden layers 300 and 100).
//
// A Google Benchmark binary (CMake builds bench/*_bench.cc only) whose own main takes the flags
// above; with no --model it runs the registered benchmarks instead.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "flowgraph.h"

namespace fg {
namespace {

struct ModelSpec {
  std::string kind;  // plain, batch_norm, train_dnn
  int64_t batch;
};

bool spec_for(const std::string& model, ModelSpec& out) {
  if (model == "plain200") out = {"plain", 200};
  else if (model == "plain50") out = {"plain", 50};
  else if (model == "batch_norm") out = {"batch_norm", 200};
  else if (model == "train_dnn") out = {"train_dnn", 200};
  else return false;
  return true;
}

// A model ready to train: the graph, a session with initialized variables, the cached training
// step (X, y) -> {} and the validation accuracy.
struct Trainer {
  Graph g;
  Output X, y, training, accuracy;
  std::unique_ptr<Session> sess;
  std::unique_ptr<Callable> step;
  bool has_training_flag = false;

  explicit Trainer(const std::string& kind, int64_t seed, bool fusions = true) {
    g.set_random_seed(seed);
    X = placeholder(g, f32, {-1, 784}, "X");
    y = placeholder(g, i32, {-1}, "y");
    Output logits;
    if (kind == "plain") {
      auto h1 = layers::dense(X, 300, {.activation = nn::relu, .name = "hidden1"});
      auto h2 = layers::dense(h1, 100, {.activation = nn::relu, .name = "hidden2"});
      logits = layers::dense(h2, 10, {.name = "outputs"});
    } else if (kind == "train_dnn") {
      Output layer = X;
      for (int i = 1; i <= 4; ++i)  // the seed's n_hidden1 bug: every hidden layer has 300 units
        layer = nn::relu(layers::dense(layer, 300, {.name = "hidden" + std::to_string(i)}));
      logits = layers::dense(layer, 10, {.name = "outputs"});
    } else {  // batch_norm, as examples/batch_norm.cpp
      training = placeholder_with_default(g, Tensor(false), {}, "training");
      has_training_flag = true;
      auto bn = [&](const Output& x) { return layers::batch_normalization(x, {.training = training, .momentum = 0.9}); };
      auto a1 = nn::elu(bn(layers::dense(X, 300, {.name = "hidden1"})));
      auto a2 = nn::elu(bn(layers::dense(a1, 100, {.name = "hidden2"})));
      logits = bn(layers::dense(a2, 10, {.name = "outputs"}));
    }
    auto loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits), {}, "loss");
    Operation* train_op = train::GradientDescentOptimizer(0.01).minimize(loss);
    accuracy = reduce_mean(cast(nn::in_top_k(logits, y, 1), f32));
    auto init = global_variables_initializer(g);
    sess = std::make_unique<Session>(g);
    sess->set_fusions_enabled(fusions);
    sess->run(init);
    if (has_training_flag)
      step = std::make_unique<Callable>(
          sess->make_callable({training, X, y}, {}, {train_op, g.get_collection(GraphKeys::UPDATE_OPS)}));
    else
      step = std::make_unique<Callable>(sess->make_callable({X, y}, {}, {train_op}));
  }

  // One epoch over `split`; returns its wall-clock seconds (and the process's CPU seconds in `cpu`).
  double epoch(const data::Split& split, int64_t batch, RandomEngine& rng, double* cpu = nullptr) {
    const Tensor on(true);
    const double c0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& [xb, yb] : data::shuffle_batch(split.images, split.labels, batch, rng)) {
      if (has_training_flag) (*step)({on, xb, yb});
      else (*step)({xb, yb});
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (cpu) *cpu = process_cpu_seconds() - c0;
    return wall;
  }

  // CPU time of every thread of the process: with one thread, the work itself, which another job
  // on the machine barely changes (wall time it changes a lot); with more, spin-waiting counts too.
  static double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }

  float validate(const data::Split& v) { return sess->run({{X, v.images}, {y, v.labels}}, accuracy).scalar<float>(); }
};

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// One more epoch with the Session's per-op timing on, summed by op type: what a real step (inside
// the loop, data gathered from the shuffled dataset) spends where. Printed as a markdown table.
void print_profile(Trainer& t, const data::Split& train, int64_t batch, RandomEngine& rng) {
  t.sess->reset_profile();
  t.sess->set_profiling(true);
  const double wall = t.epoch(train, batch, rng);
  t.sess->set_profiling(false);
  const double steps = double(train.size() / batch);
  std::map<std::string, std::pair<double, int64_t>> by_type;  // type -> (us, op count)
  double in_ops = 0;
  for (const auto& p : t.sess->profile()) {
    by_type[p.type].first += p.total_us;
    by_type[p.type].second += 1;
    in_ops += p.total_us;
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(by_type.begin(), by_type.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  const double step_us = wall * 1e6 / steps;
  std::printf("\n| op type | ops per step | us per step | share of the step |\n|---|---:|---:|---:|\n");
  for (const auto& [type, v] : rows)
    std::printf("| %s | %lld | %.1f | %.1f %% |\n", type.c_str(), static_cast<long long>(v.second), v.first / steps,
                100.0 * v.first / steps / step_us);
  std::printf("| outside the kernels: batch gathering, feeding, dispatch | | %.1f | %.1f %% |\n",
              step_us - in_ops / steps, 100.0 * (1.0 - in_ops / steps / step_us));
  std::printf("| **whole step** (%.0f steps, %.3f s epoch with timing on) | | **%.1f** | 100 %% |\n", steps, wall,
              step_us);
  std::printf("\n| the longest ops | type | us per step |\n|---|---|---:|\n");
  int shown = 0;
  for (const auto& p : t.sess->profile()) {
    if (++shown > 12) break;
    std::printf("| %s | %s | %.1f |\n", p.name.c_str(), p.type.c_str(), p.total_us / steps);
  }
}

int train_main(const std::string& model, int epochs, const std::string& dir, int64_t seed, bool profile,
               bool fusions) {
  ModelSpec spec;
  if (!spec_for(model, spec)) {
    std::cerr << "unknown --model " << model << " (plain200|plain50|batch_norm|train_dnn)\n";
    return 2;
  }
  data::Mnist mnist;
  try {
    mnist = data::load_mnist(dir);
  } catch (const Error& e) {
    std::cerr << e.what() << "\nInstall MNIST with scripts/get_mnist.sh (or pass --data DIR).\n";
    return 1;
  }
  // The peak so far: the dataset as loaded (what training adds on top is the rest of the peak).
  const double rss_after_load = peak_rss_mb();
  Trainer t(spec.kind, seed, fusions);
  RandomEngine rng(static_cast<uint64_t>(seed));
  std::vector<double> times, cpu_times;
  float acc = 0;
  for (int e = 0; e < epochs; ++e) {
    double cpu = 0;
    times.push_back(t.epoch(mnist.train, spec.batch, rng, &cpu));
    cpu_times.push_back(cpu);
    acc = t.validate(mnist.validation);
    std::printf("{\"framework\": \"flowgraph\", \"model\": \"%s\", \"epoch\": %d, \"seconds\": %.6f, "
                "\"cpu_seconds\": %.6f, \"accuracy\": %.6f}\n",
                model.c_str(), e, times.back(), cpu, acc);
    std::fflush(stdout);
  }
  auto join = [](const std::vector<double>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s;
  };
  std::printf("{\"framework\": \"flowgraph\", \"model\": \"%s\", \"summary\": true, \"epoch_seconds\": [%s], "
              "\"epoch_cpu_seconds\": [%s], \"accuracy\": %.6f, \"peak_rss_mb\": %.1f, \"peak_rss_after_load_mb\": %.1f, "
              "\"threads\": %d}\n",
              model.c_str(), join(times).c_str(), join(cpu_times).c_str(), acc, peak_rss_mb(), rss_after_load,
              num_threads());
  if (profile) print_profile(t, mnist.train, spec.batch, rng);
  return 0;
}

// ---- Google Benchmark mode: one real-MNIST epoch per iteration.

const data::Mnist& cached_mnist() {
  static const data::Mnist m = data::load_mnist(data::default_mnist_dir());
  return m;
}

void BM_Epoch(benchmark::State& state, const std::string& model) {
  ModelSpec spec;
  spec_for(model, spec);
  const data::Mnist* mnist = nullptr;
  try {
    mnist = &cached_mnist();
  } catch (const Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  Trainer t(spec.kind, 42);
  RandomEngine rng(42);
  for (auto _ : state) {
    const double s = t.epoch(mnist->train, spec.batch, rng);
    state.SetIterationTime(s);
  }
  state.counters["images_per_s"] =
      benchmark::Counter(double(mnist->train.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_Epoch, plain200, std::string("plain200"))->Unit(benchmark::kSecond)->Iterations(2)->UseManualTime();
BENCHMARK_CAPTURE(BM_Epoch, plain50, std::string("plain50"))->Unit(benchmark::kSecond)->Iterations(2)->UseManualTime();
BENCHMARK_CAPTURE(BM_Epoch, batch_norm, std::string("batch_norm"))->Unit(benchmark::kSecond)->Iterations(2)->UseManualTime();
BENCHMARK_CAPTURE(BM_Epoch, train_dnn, std::string("train_dnn"))->Unit(benchmark::kSecond)->Iterations(2)->UseManualTime();

}  // namespace
}  // namespace fg

int main(int argc, char** argv) {
  std::string model, dir = fg::data::default_mnist_dir();
  int epochs = 3;
  int64_t seed = 42;
  bool profile = false, fusions = true;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!std::strcmp(argv[i], "--model") && has_value) model = argv[++i];
    else if (!std::strcmp(argv[i], "--epochs") && has_value) epochs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--data") && has_value) dir = argv[++i];
    else if (!std::strcmp(argv[i], "--seed") && has_value) seed = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--profile")) profile = true;
    else if (!std::strcmp(argv[i], "--no-fusion")) fusions = false;
  }
  if (!model.empty()) return fg::train_main(model, epochs, dir, seed, profile, fusions);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
