// The seed's cells [6]-[10]: batch normalization before each ELU, GD 0.01, batch 200, 20 epochs.
// The seed printed "Epoch: 0 Validation Accuracy: 0.8848" ... "Epoch: 19 ... 0.9726".
//
// --control-deps builds the alternative the seed describes: minimize() inside
// control_dependencies(UPDATE_OPS), so a single target trains and updates the moving averages.
#include <cstring>

#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  bool control_deps = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--control-deps") == 0) control_deps = true;
    else args.push_back(argv[i]);
  }
  const auto flags = examples::parse_flags(static_cast<int>(args.size()), args.data(), 20, " [--control-deps]");
  const auto mnist = examples::load_mnist_or_exit(flags);
  const int64_t n_inputs = 28 * 28, n_hidden1 = 300, n_hidden2 = 100, n_outputs = 10;

  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, n_inputs}, "X");
  // Whether batch norm uses the mini-batch's statistics or the moving averages of the whole set.
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  // The seed's functools.partial(tf.layers.batch_normalization, training=training, momentum=0.9).
  auto batch_norm_layer = [&](const Output& x) {
    return layers::batch_normalization(x, {.training = training, .momentum = 0.9});
  };

  auto hidden1 = layers::dense(X, n_hidden1, {.name = "hidden1"});
  auto bn1_act = nn::elu(batch_norm_layer(hidden1));
  auto hidden2 = layers::dense(bn1_act, n_hidden2, {.name = "hidden2"});
  auto bn2_act = nn::elu(batch_norm_layer(hidden2));
  auto logits_before_bn = layers::dense(bn2_act, n_outputs, {.name = "outputs"});
  auto logits = batch_norm_layer(logits_before_bn);

  auto y = placeholder(g, i32, Shape::unknown(), "y");
  auto x_entropy = nn::sparse_softmax_cross_entropy_with_logits(y, logits);
  auto loss = reduce_mean(x_entropy, {}, "loss");
  // These extra ops update the moving averages batch norm uses at inference time.
  auto extra_update_ops = g.get_collection(GraphKeys::UPDATE_OPS);
  Operation* training_op;
  if (control_deps) {
    auto scope = g.name_scope("train");
    std::vector<Operation*> updates;
    for (const auto& item : extra_update_ops) updates.push_back(as_operation(item));
    auto deps = g.control_dependencies(updates);
    training_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  } else {
    training_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  }
  auto correct = nn::in_top_k(logits, y, 1);
  auto accuracy = reduce_mean(cast(correct, f32));
  auto init = global_variables_initializer(g);

  examples::summarize(flags, loss, accuracy);
  Session sess(g);
  sess.run(init);
  auto step = control_deps ? sess.make_callable({training, X, y}, {}, {training_op})
                           : sess.make_callable({training, X, y}, {}, {training_op, extra_update_ops});
  const Tensor on(true);
  examples::run_epochs(flags, mnist, flags.batch_size > 0 ? flags.batch_size : 200, sess, X, y, accuracy,
                       [&](const Tensor& xb, const Tensor& yb) { step({on, xb, yb}); });
  return 0;
}
