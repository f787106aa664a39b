// The seed's cell [26] (and the graph cell before it): freezing the lower layers with
// stop_gradient.
//
// The five layers of cell [19] (n_hidden1 bug kept: every hidden layer has 300 units) with
// tf.stop_gradient on relu2's output, so no gradient reaches hidden1 or hidden2 and plain
// minimize(loss) trains only hidden3, hidden4 and outputs. hidden1-3 are restored from the model
// cell [19] saved (reuse_vars = GLOBAL_VARIABLES matching "hidden[123]"). The seed printed
// "Epoch: 0 Validation set accuracy: 0.9440" ... "Epoch: 16 ... 0.9584" (its output stops at
// epoch 17). Every step still runs X through the frozen hidden1 and hidden2; cache_frozen (cell
// [27]) removes that cost, and compares its "mean epoch time" line with this program's.
//
// Standalone by default: cell [19] trains for --pretrain-epochs (20) into --dir (default a
// new directory under $TMPDIR, kept), its lines reading "Epoch: N [19] Validation set
// accuracy"; --pretrained PREFIX restores from an existing [19] checkpoint instead.
#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  const auto opts = examples::parse_reuse_flags(argc, argv, 20);
  const auto& flags = opts.flags;
  const auto mnist = examples::load_mnist_or_exit(flags);
  const examples::CheckpointDir dir(opts.dir, "stop_gradient");
  const std::string model_path = examples::cell19_checkpoint(opts, mnist, dir);

  const int64_t n_inputs = 28 * 28, n_hidden1 = 300, n_outputs = 10;
  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, n_inputs}, "X");
  auto y = placeholder(g, i32, {-1}, "y");
  // Declared (shape=None) and fed by the cell, read by nothing.
  auto training = placeholder_with_default(g, Tensor(false), Shape::unknown());

  Output logits, hidden2;
  {
    auto scope = g.name_scope("dnn");
    Output layer = X;
    int i = 0;
    for (int64_t n_hidden : {300, 100, 50, 20}) {
      (void)n_hidden;  // the seed's bug: every layer gets n_hidden1 units
      Output hidden = layers::dense(layer, n_hidden1, {.name = "hidden" + std::to_string(i + 1)});
      layer = nn::relu(hidden, "relu" + std::to_string(i + 1));
      // New code here: everything below relu2 is frozen.
      if (i == 1) {
        hidden2 = layer;
        layer = stop_gradient(layer);
      }
      ++i;
    }
    logits = layers::dense(layer, n_outputs, {.name = "outputs"});
  }
  Output loss;
  {
    auto scope = g.name_scope("loss");
    auto x_entropy = nn::sparse_softmax_cross_entropy_with_logits(y, logits);
    loss = reduce_mean(x_entropy, {}, "loss");
  }
  Operation* training_op;
  {
    // hidden1 and hidden2 get no gradient, so the optimizer leaves them out (as TF does).
    auto scope = g.name_scope("train");
    training_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  }
  Output accuracy;
  {
    auto scope = g.name_scope("eval");
    auto correct = nn::in_top_k(logits, y, 1);
    accuracy = reduce_mean(cast(correct, f32), {}, "accuracy");
  }
  auto reuse_vars = g.get_variables(GraphKeys::GLOBAL_VARIABLES, "hidden[123]");
  train::Saver reuse_saver(reuse_vars);
  auto init = global_variables_initializer(g);
  train::Saver saver(g);

  // [26]
  examples::summarize(flags, loss, accuracy);
  Session sess(g);
  sess.run(init);
  if (!examples::restore_pretrained(sess, reuse_saver, model_path)) return 1;
  auto step = sess.make_callable({X, y, training}, {}, {training_op});
  const Tensor on(true);
  examples::run_epochs(flags, mnist, flags.batch_size > 0 ? flags.batch_size : 200, sess, X, y, accuracy,
                       [&](const Tensor& xb, const Tensor& yb) { step({xb, yb, on}); }, "Validation set accuracy");
  examples::save_new_model(sess, saver, dir);
  return 0;
}
