// The seed's cells [48]-[49]: dropout (rate 0.5) on the input and both hidden layers,
// 300-100-10 ReLU, GD 0.01, batch 50, 20 epochs.
// The seed printed "Epoch: 0 Accuracy: 0.9066" ... "Epoch: 19 Accuracy: 0.9742".
//
// Ported as written, bug included: the seed's loop never feeds `training: True`, so its dropout
// layers stay off while training (which is why it reaches 0.9742 at batch 50). Pass
// --feed-training to train with dropout really on.
#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  const auto flags = examples::parse_flags(argc, argv, 20, " [--feed-training]");
  const auto mnist = examples::load_mnist_or_exit(flags);
  const int64_t n_inputs = 28 * 28, n_hidden1 = 300, n_hidden2 = 100, n_outputs = 10;
  const double dropout_rate = 0.5;  // == 1 - keep_rate

  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, n_inputs}, "X");
  auto y = placeholder(g, i32, Shape::unknown(), "y");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");

  auto X_drop = layers::dropout(X, dropout_rate, {.training = training});
  Output logits;
  {
    auto s = g.name_scope("dnn");
    auto hidden1 = layers::dense(X_drop, n_hidden1, {.activation = nn::relu, .name = "hidden1"});
    auto hidden1_drop = layers::dropout(hidden1, dropout_rate, {.training = training});
    auto hidden2 = layers::dense(hidden1_drop, n_hidden2, {.activation = nn::relu, .name = "hidden2"});
    auto hidden2_drop = layers::dropout(hidden2, dropout_rate, {.training = training});
    logits = layers::dense(hidden2_drop, n_outputs, {.name = "outputs"});
  }
  Output loss;
  {
    auto s = g.name_scope("loss");
    loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits), {}, "loss");
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
  const int64_t batch_size = flags.batch_size > 0 ? flags.batch_size : 50;
  if (flags.feed_training) {
    auto step = sess.make_callable({training, X, y}, {}, {training_op});
    const Tensor on(true);
    examples::run_epochs(flags, mnist, batch_size, sess, X, y, accuracy,
                         [&](const Tensor& xb, const Tensor& yb) { step({on, xb, yb}); }, "Accuracy");
  } else {
    auto step = sess.make_callable({X, y}, {}, {training_op});
    examples::run_epochs(flags, mnist, batch_size, sess, X, y, accuracy,
                         [&](const Tensor& xb, const Tensor& yb) { step({xb, yb}); }, "Accuracy");
  }
  return 0;
}
