// The seed's batch-normalized MLP (cells [6]-[10]: 784-300-100-10, ELU, BN momentum 0.9, GD 0.01),
// trained a few steps on deterministic random data: the model the toolbelt tests freeze, export
// and draw.
#pragma once
#include <vector>

#include "graph/graph.h"
#include "layers/core.h"
#include "layers/normalization.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/state.h"
#include "runtime/session.h"
#include "tests/test_util.h"
#include "train/optimizer.h"

namespace fg::testing {

struct BatchNormMlp {
  Output X, y, training, logits, loss, accuracy;
  Operation* training_op = nullptr;
  std::vector<CollectionItem> update_ops;
};

inline BatchNormMlp build_batch_norm_mlp(Graph& g, int64_t n_inputs = 784) {
  BatchNormMlp m;
  g.set_random_seed(42);
  m.X = placeholder(g, f32, {-1, n_inputs}, "X");
  m.training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto bn = [&](const Output& x) { return layers::batch_normalization(x, {.training = m.training, .momentum = 0.9}); };
  auto hidden1 = layers::dense(m.X, 300, {.name = "hidden1"});
  auto hidden2 = layers::dense(nn::elu(bn(hidden1)), 100, {.name = "hidden2"});
  m.logits = bn(layers::dense(nn::elu(bn(hidden2)), 10, {.name = "outputs"}));
  m.y = placeholder(g, i32, Shape::unknown(), "y");
  m.loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(m.y, m.logits), {}, "loss");
  m.update_ops = g.get_collection(GraphKeys::UPDATE_OPS);
  m.training_op = train::GradientDescentOptimizer(0.01).minimize(m.loss);
  m.accuracy = reduce_mean(cast(nn::in_top_k(m.logits, m.y, 1), f32), {}, "accuracy");
  return m;
}

// Random inputs in [0, 1) and labels 0-9 for `n` samples.
inline std::pair<Tensor, Tensor> random_batch(int64_t n, int64_t n_inputs, uint64_t seed) {
  Tensor x = random_tensor({n, n_inputs}, seed, 0.0, 1.0, f32);
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = static_cast<int32_t>((i * 7 + seed) % 10);
  return {x, Tensor::from_vector<int32_t>(labels)};
}

// Initializes and runs `steps` training steps (with the moving-average updates).
inline void train_steps(Session& sess, const BatchNormMlp& m, int steps, int64_t n_inputs = 784) {
  sess.run(global_variables_initializer(*m.X.graph()));
  for (int s = 0; s < steps; ++s) {
    auto [x, y] = random_batch(50, n_inputs, 100 + s);
    sess.run({{m.X, x}, {m.y, y}, {m.training, Tensor(true)}}, {}, {m.training_op, m.update_ops});
  }
}

}  // namespace fg::testing
