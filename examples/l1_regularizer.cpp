// The seed's cells [41]-[42]: l1_regularizer(0.001) as every dense layer's kernel_regularizer
// (the seed's functools.partial), losses summed with add_n from REGULARIZATION_LOSSES,
// 300-100-10 ReLU, GD 0.01, batch 200, 20 epochs.
// The seed printed "Epoch: 0 Accuracy: 0.6510" ... "Epoch: 19 Accuracy: 0.9146".
#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  const auto flags = examples::parse_flags(argc, argv, 20);
  const auto mnist = examples::load_mnist_or_exit(flags);
  const int64_t n_inputs = 28 * 28, n_hidden1 = 300, n_hidden2 = 100, n_outputs = 10;
  const double scale = 0.001;

  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, n_inputs}, "X");
  auto y = placeholder(g, i32, Shape::unknown(), "y");
  auto regularized_dense_layer = [&](const Output& x, int64_t units, const std::string& name) {
    return layers::dense(x, units, {.activation = nn::relu, .kernel_regularizer = layers::l1_regularizer(scale),
                                    .name = name});
  };
  Output logits;
  {
    auto s = g.name_scope("dnn");
    auto hidden1 = regularized_dense_layer(X, n_hidden1, "hidden1");
    auto hidden2 = regularized_dense_layer(hidden1, n_hidden2, "hidden2");
    // As in the seed, the partial applies ReLU to the logits too.
    logits = regularized_dense_layer(hidden2, n_outputs, "outputs");
  }
  Output loss;
  {
    auto s = g.name_scope("loss");
    auto x_entropy = nn::sparse_softmax_cross_entropy_with_logits(y, logits);
    auto base_loss = reduce_mean(x_entropy, {}, "avg_x_entropy");
    std::vector<Output> losses = {base_loss};
    for (const Output& r : layers::get_regularization_losses(g)) losses.push_back(r);
    loss = add_n(losses, "loss");
  }
  Output accuracy;
  {
    auto s = g.name_scope("eval");
    accuracy = reduce_mean(cast(nn::in_top_k(logits, y, 1), f32), {}, "accuracy");
  }
  Operation* training_op;
  {
    auto s = g.name_scope("train");
    training_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  }
  examples::summarize(flags, loss, accuracy);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  auto step = sess.make_callable({X, y}, {}, {training_op});
  examples::run_epochs(flags, mnist, flags.batch_size > 0 ? flags.batch_size : 200, sess, X, y, accuracy,
                       [&](const Tensor& xb, const Tensor& yb) { step({xb, yb}); }, "Accuracy");
  return 0;
}
