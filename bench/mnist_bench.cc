// One training epoch of the seed's models on MNIST-shaped data (synthetic pixels, so the
// benchmark needs no dataset): images/s and seconds per epoch.
//   build/mnist_bench --benchmark_filter=TrainDnn
#include <benchmark/benchmark.h>

#include "flowgraph.h"

namespace fg {
namespace {

struct Mlp {
  Graph g;
  Output X, y, loss;
  Operation* train_op;
};

// The seed's cell [19]: four hidden layers of 300 (its n_hidden1 bug) + outputs, ReLU, GD 0.01.
void build_train_dnn(Mlp& m) {
  m.g.set_random_seed(42);
  m.X = placeholder(m.g, f32, {-1, 784}, "X");
  m.y = placeholder(m.g, i32, {-1}, "y");
  Output layer = m.X;
  for (int i = 1; i <= 4; ++i) layer = nn::relu(layers::dense(layer, 300, {.name = "hidden" + std::to_string(i)}));
  Output logits = layers::dense(layer, 10, {.name = "outputs"});
  m.loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(m.y, logits));
  m.train_op = train::GradientDescentOptimizer(0.01).minimize(m.loss);
}

void BM_TrainDnnEpoch(benchmark::State& state) {
  const int64_t batch = state.range(0), n_train = 55000;
  Mlp m;
  build_train_dnn(m);
  Session s(m.g);
  s.run(global_variables_initializer(m.g));
  // uint8 pixels like data::load_mnist's training split: shuffle_batch scales each batch / 255.
  Tensor images = Tensor::empty(u8, {n_train, 784});
  Tensor labels = Tensor::empty(i32, {n_train});
  RandomEngine rng(1);
  for (uint8_t& v : images.flat<uint8_t>()) v = uint8_t(rng.next_u32() % 256);
  for (int32_t& v : labels.flat<int32_t>()) v = int32_t(rng.next_u32() % 10);
  auto step = s.make_callable({m.X, m.y}, {}, {m.train_op});
  for (auto _ : state) {
    for (auto& [xb, yb] : data::shuffle_batch(images, labels, batch, rng)) step({xb, yb});
  }
  state.counters["images_per_s"] =
      benchmark::Counter(double(n_train), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_TrainDnnEpoch)->Arg(200)->Unit(benchmark::kSecond)->Iterations(2);

}  // namespace
}  // namespace fg
