// The seed's cells [38]-[39]: l1 regularization added to the loss by hand,
// scale * (sum|W1| + sum|W2|), one ReLU hidden layer of 300, GD 0.01, batch 200, 20 epochs.
// The seed printed "Epoch: 0 Accuracy: 0.8238" ... "Epoch: 19 Accuracy: 0.9046".
#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  const auto flags = examples::parse_flags(argc, argv, 20);
  const auto mnist = examples::load_mnist_or_exit(flags);
  const int64_t n_inputs = 28 * 28, n_hidden1 = 300, n_outputs = 10;

  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, n_inputs}, "X");
  auto y = placeholder(g, i32, Shape::unknown(), "y");
  Output logits;
  {
    auto scope = g.name_scope("dnn");
    auto hidden1 = layers::dense(X, n_hidden1, {.activation = nn::relu, .name = "hidden1"});
    logits = layers::dense(hidden1, n_outputs, {.name = "outputs"});
  }
  auto W1 = g.get_tensor_by_name("hidden1/kernel:0");
  auto W2 = g.get_tensor_by_name("outputs/kernel:0");

  const float scale = 0.001f;  // l1 regularization parameter
  Output loss;
  {
    auto s = g.name_scope("loss");
    auto x_entropy = nn::sparse_softmax_cross_entropy_with_logits(y, logits);
    auto base_loss = reduce_mean(x_entropy, {}, "avg_x_entropy");
    auto reg_losses = reduce_sum(abs(W1)) + reduce_sum(abs(W2));
    loss = add(base_loss, scale * reg_losses, "loss");
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
