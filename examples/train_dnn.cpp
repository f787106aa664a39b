// The seed's cell [19]: a five-layer ReLU DNN on MNIST, GD 0.01, batch 200, 20 epochs.
//
// Ported as written, bug included (see build_cell19): the cell loops over (300, 100, 50, 20) but
// passes n_hidden1 (300) to every hidden layer, so all four hidden layers have 300 units. The
// seed printed "Epoch: 0 Validation set accuracy: 0.8142" ... "Epoch: 17 ... 0.9588".
#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  const auto flags = examples::parse_flags(argc, argv, 20);
  const auto mnist = examples::load_mnist_or_exit(flags);
  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  const examples::Cell19 m = examples::build_cell19(g);
  examples::summarize(flags, m.loss, m.accuracy);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  // The cell feeds `training: True`; nothing in the graph reads it.
  auto step = sess.make_callable({m.X, m.y, m.training}, {}, {m.training_op});
  const Tensor on(true);
  examples::run_epochs(flags, mnist, flags.batch_size > 0 ? flags.batch_size : 200, sess, m.X, m.y, m.accuracy,
                       [&](const Tensor& xb, const Tensor& yb) { step({xb, yb, on}); }, "Validation set accuracy");
  return 0;
}
