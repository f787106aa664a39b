// The seed's gradient-clipping cell: ELU layers, batch norm on the logits only, and gradients
// clipped to [-1, 1] between compute_gradients and apply_gradients (threshold 1.0). The seed
// built the graph without training it; this trains it like the batch-norm cell (GD 0.01,
// batch 200) and prints per-epoch accuracy.
#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  const auto flags = examples::parse_flags(argc, argv, 20);
  const auto mnist = examples::load_mnist_or_exit(flags);
  const int64_t n_inputs = 28 * 28, n_hidden1 = 300, n_hidden2 = 100, n_outputs = 10;

  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, n_inputs}, "X");
  auto y = placeholder(g, i32, Shape::unknown(), "y");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto batch_norm_layer = [&](const Output& x) {
    return layers::batch_normalization(x, {.training = training, .momentum = 0.9});
  };
  auto hidden1 = layers::dense(X, n_hidden1, {.name = "hidden1"});
  auto hidden1_act = nn::elu(hidden1);
  auto hidden2 = layers::dense(hidden1_act, n_hidden2, {.name = "hidden2"});
  auto hidden2_act = nn::elu(hidden2);
  auto logits_before_bn = layers::dense(hidden2_act, n_outputs, {.name = "outputs"});
  auto logits = batch_norm_layer(logits_before_bn);

  auto x_entropy = nn::sparse_softmax_cross_entropy_with_logits(y, logits);
  auto loss = reduce_mean(x_entropy, {}, "loss");

  // Gradient clipping is here.
  const double threshold = 1.0;
  train::GradientDescentOptimizer optimizer(0.01);
  auto grads_and_vars = optimizer.compute_gradients(loss);
  std::vector<train::GradAndVar> capped_gvs;
  for (const auto& [grad, var] : grads_and_vars) capped_gvs.push_back({clip_by_value(grad, -threshold, threshold), var});
  auto training_op = optimizer.apply_gradients(capped_gvs);

  auto accuracy = reduce_mean(cast(nn::in_top_k(logits, y, 1), f32), {}, "accuracy");
  auto extra_update_ops = g.get_collection(GraphKeys::UPDATE_OPS);
  examples::summarize(flags, loss, accuracy);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  auto step = sess.make_callable({training, X, y}, {}, {training_op, extra_update_ops});
  const Tensor on(true);
  examples::run_epochs(flags, mnist, flags.batch_size > 0 ? flags.batch_size : 200, sess, X, y, accuracy,
                       [&](const Tensor& xb, const Tensor& yb) { step({on, xb, yb}); });
  return 0;
}
