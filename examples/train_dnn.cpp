// The seed's cell [19]: a five-layer ReLU DNN on MNIST, GD 0.01, batch 200, 20 epochs.
//
// Ported as written, bug included: the cell loops over (300, 100, 50, 20) but passes n_hidden1
// (300) to every hidden layer, so all four hidden layers have 300 units. The seed printed
// "Epoch: 0 Validation set accuracy: 0.8142" ... "Epoch: 17 ... 0.9588".
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
  auto y = placeholder(g, i32, {-1}, "y");
  // The cell declares it (shape=None) and feeds it, but nothing reads it.
  auto training = placeholder_with_default(g, Tensor(false), Shape::unknown(), "training");

  Output logits;
  {
    auto scope = g.name_scope("dnn");
    Output layer = X;
    int i = 0;
    for (int64_t n_hidden : {300, 100, 50, 20}) {
      (void)n_hidden;  // the seed's bug: every layer gets n_hidden1 units
      ++i;
      Output hidden = layers::dense(layer, n_hidden1, {.name = "hidden" + std::to_string(i)});
      layer = nn::relu(hidden, "relu" + std::to_string(i));
    }
    logits = layers::dense(layer, n_outputs, {.name = "outputs"});
  }
  Output loss;
  {
    auto scope = g.name_scope("loss");
    auto xentropy = nn::sparse_softmax_cross_entropy_with_logits(y, logits);
    loss = reduce_mean(xentropy, {}, "loss");
  }
  Operation* training_op;
  {
    auto scope = g.name_scope("train");
    training_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  }
  Output accuracy;
  {
    auto scope = g.name_scope("eval");
    auto correct = nn::in_top_k(logits, y, 1);
    accuracy = reduce_mean(cast(correct, f32), {}, "accuracy");
  }
  auto init = global_variables_initializer(g);

  Session sess(g);
  sess.run(init);
  auto step = sess.make_callable({X, y, training}, {}, {training_op});
  const Tensor train_flag(true);
  examples::run_epochs(flags, mnist, flags.batch_size > 0 ? flags.batch_size : 200, sess, X, y, accuracy,
                       [&](const Tensor& xb, const Tensor& yb) { step({xb, yb, train_flag}); },
                       "Validation set accuracy");
  return 0;
}
