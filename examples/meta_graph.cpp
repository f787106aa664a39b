// The seed's "Reusing a TensorFlow model" cells: save a model, look its nodes up by name, list
// the first 20 operations ([14]), put the important ones in a collection, and bring everything
// back in a fresh graph with import_meta_graph.
//
// The graph is cell [8]'s batch-normalized MLP (300-100-10, ELU, BN momentum 0.9, GD 0.01) with
// the names the cells give it. The seed's two "define and save" cells are the same graph, the
// second also adding X, y, accuracy and training_op to the collection "my_important_ops"; they
// are built once here, with the collection added before Saver::save writes my_model.ckpt.meta.
// Bug kept: the cells create a second `training` placeholder after the layers (TF names it
// "training_1"); nothing reads it.
//
// The seed saved right after init.run(), so the default is --epochs 0; with --epochs N the model
// first trains like cell [10] (training op plus UPDATE_OPS, training=True), printing
// "Epoch: N Validation Accuracy: ...". The seed printed, for [14]:
//   X, y, training/input, training, hidden1/kernel/Initializer/random_uniform/shape, ...,
//   hidden1/bias/read, hidden1/MatMul, hidden1/BiasAdd
//
// Then, beyond what the seed shows: a Session over the imported graph restores the checkpoint
// with the Saver import_meta_graph returned, and the accuracy (and loss) of the restored graph on
// the validation set must equal the original's exactly, as must the accuracy after one step of
// the restored training_op; the program prints both and exits 1 if they differ.
// --dir DIR keeps the checkpoint there (default: a new directory under $TMPDIR, also kept).
#include <cstring>

#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  const auto dir_flag = examples::take_flag(args, "--dir");
  const auto flags = examples::parse_flags(static_cast<int>(args.size()), args.data(), 0, " [--dir DIR]");
  const auto mnist = examples::load_mnist_or_exit(flags);
  const examples::CheckpointDir dir(dir_flag, "meta_graph");
  const int64_t n_inputs = 28 * 28, n_hidden1 = 300, n_hidden2 = 100, n_outputs = 10;

  // ---- Defining the original graph.
  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, n_inputs}, "X");
  auto y = placeholder(g, i32, Shape::unknown(), "y");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto batch_norm_layer = [&](const Output& x) {
    return layers::batch_normalization(x, {.training = training, .momentum = 0.9});
  };
  auto hidden1 = layers::dense(X, n_hidden1, {.name = "hidden1"});
  auto bn1_act = nn::elu(batch_norm_layer(hidden1));
  auto hidden2 = layers::dense(bn1_act, n_hidden2, {.name = "hidden2"});
  auto bn2_act = nn::elu(batch_norm_layer(hidden2));
  auto logits_before_bn = layers::dense(bn2_act, n_outputs, {.name = "outputs"});
  auto logits = batch_norm_layer(logits_before_bn);
  // The seed's duplicate: this one is "training_1", and the layers above keep using the first.
  placeholder_with_default(g, Tensor(false), {}, "training");

  auto x_entropy = nn::sparse_softmax_cross_entropy_with_logits(y, logits);
  auto loss = reduce_mean(x_entropy, {}, "loss");
  Operation* training_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  auto correct = nn::in_top_k(logits, y, 1);
  auto accuracy = reduce_mean(cast(correct, f32), {}, "accuracy");
  auto init = global_variables_initializer(g);

  // New code here!
  for (const CollectionItem& item : {CollectionItem(X), CollectionItem(y), CollectionItem(accuracy),
                                     CollectionItem(training_op)})
    g.add_to_collection("my_important_ops", item);

  train::Saver saver(g);
  examples::summarize(flags, loss, accuracy);
  Session sess(g);
  sess.run(init);
  if (flags.epochs > 0) {
    auto extra_update_ops = g.get_collection(GraphKeys::UPDATE_OPS);
    auto step = sess.make_callable({training, X, y}, {}, {training_op, extra_update_ops});
    const Tensor on(true);
    examples::run_epochs(flags, mnist, flags.batch_size > 0 ? flags.batch_size : 200, sess, X, y, accuracy,
                         [&](const Tensor& xb, const Tensor& yb) { step({on, xb, yb}); });
  }
  const std::string model_path = saver.save(sess, dir / "my_model.ckpt");
  std::printf("saved %s (.index, .data-00000-of-00001, .meta)\n", model_path.c_str());

  // ---- Getting nodes in the previous graph for reuse.
  const bool same_nodes = g.get_tensor_by_name("X:0") == X && g.get_tensor_by_name("y:0") == y &&
                          g.get_tensor_by_name("accuracy:0") == accuracy &&
                          g.get_operation_by_name("GradientDescent") == training_op;
  std::printf("get_tensor_by_name('X:0'), ('y:0'), ('accuracy:0'), get_operation_by_name('GradientDescent'): %s\n",
              same_nodes ? "the same nodes" : "OTHER NODES");

  // ---- [14] Listing the operations in the predefined graph, truncated for readability.
  std::printf("\n");
  const auto ops = g.get_operations();
  for (size_t i = 0; i < ops.size() && i < 20; ++i) std::printf("%s\n", ops[i]->name().c_str());
  std::printf("\n");

  // ---- Restoring the graph and getting the operations from the collection.
  Graph restored;
  std::optional<train::Saver> restored_saver;
  try {
    restored_saver = train::import_meta_graph(restored, model_path + ".meta");
  } catch (const Error& e) {
    std::fprintf(stderr, "import_meta_graph: %s\n", e.what());
    return 1;
  }
  if (!restored_saver) {
    std::fprintf(stderr, "%s.meta has no SaverDef\n", model_path.c_str());
    return 1;
  }
  const auto important = restored.get_collection("my_important_ops");
  if (important.size() != 4 || !std::holds_alternative<Output>(important[0]) ||
      !std::holds_alternative<Output>(important[1]) || !std::holds_alternative<Output>(important[2]) ||
      !std::holds_alternative<Operation*>(important[3])) {
    std::fprintf(stderr, "my_important_ops does not hold 3 tensors and an op (%zu items)\n", important.size());
    return 1;
  }
  // X, y, accuracy, training_op = tf.get_collection('my_important_ops')
  const Output X2 = std::get<Output>(important[0]), y2 = std::get<Output>(important[1]),
               accuracy2 = std::get<Output>(important[2]);
  Operation* training_op2 = std::get<Operation*>(important[3]);
  std::printf("my_important_ops: %s, %s, %s, %s\n", X2.name().c_str(), y2.name().c_str(), accuracy2.name().c_str(),
              training_op2->name().c_str());

  Session sess2(restored);
  try {
    restored_saver->restore(sess2, model_path);
  } catch (const Error& e) {
    std::fprintf(stderr, "restore: %s\n", e.what());
    return 1;
  }
  const Output loss2 = restored.get_tensor_by_name("loss:0");
  const FeedDict valid = {{X, mnist.validation.images}, {y, mnist.validation.labels}};
  const FeedDict valid2 = {{X2, mnist.validation.images}, {y2, mnist.validation.labels}};
  const auto original = sess.run(valid, {accuracy, loss});
  const auto restored_vals = sess2.run(valid2, {accuracy2, loss2});
  const float acc = original[0].scalar<float>(), acc2 = restored_vals[0].scalar<float>();
  const float l = original[1].scalar<float>(), l2 = restored_vals[1].scalar<float>();
  std::printf("original graph: validation accuracy %.4f, loss %.6f\n", acc, l);
  std::printf("restored graph: validation accuracy %.4f, loss %.6f\n", acc2, l2);

  // The restored training_op trains: one step on the same batch in both graphs.
  const int64_t n = std::min<int64_t>(200, mnist.train.size());
  std::vector<int64_t> first(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) first[static_cast<size_t>(i)] = i;
  const Tensor xb = data::gather_rows(mnist.train.images, first, 0, n);
  const Tensor yb = data::gather_rows(mnist.train.labels, first, 0, n);
  sess.run({{X, xb}, {y, yb}}, {}, {training_op});
  sess2.run({{X2, xb}, {y2, yb}}, {}, {training_op2});
  const float step_acc = sess.run(valid, accuracy).scalar<float>();
  const float step_acc2 = sess2.run(valid2, accuracy2).scalar<float>();
  std::printf("after one step of training_op: original %.4f, restored %.4f\n", step_acc, step_acc2);

  // Bitwise: the same weights through the same kernels give the same floats.
  const bool equal = same_nodes && std::memcmp(&acc, &acc2, sizeof acc) == 0 && std::memcmp(&l, &l2, sizeof l) == 0 &&
                     std::memcmp(&step_acc, &step_acc2, sizeof step_acc) == 0;
  std::printf("restored graph evaluates %s\n", equal ? "equal" : "DIFFERENT");
  return equal ? 0 : 1;
}
