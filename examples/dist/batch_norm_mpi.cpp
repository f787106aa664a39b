// The seed's batch-norm program (examples/batch_norm.cpp: cells [6]-[10], BN + ELU, GD 0.01,
// batch 200) trained data-parallel on MPI, Horovod's way:
//
//   mpirun -np 2 build/batch_norm_mpi --epochs 20
//
// Every rank builds the same graph; DistributedOptimizer averages the gradients over the ranks;
// the variables start from rank 0's values; each step, each rank takes its part of the same
// shuffled batch of 200 (--batch-size is the global batch), so the ranks together take the steps
// one process would. Batch-norm statistics stay per rank, as in Horovod: each rank normalizes by
// its own part's mean and variance and keeps its own moving averages (rank 0's are evaluated and
// saved). Only rank 0 prints the per-epoch line and saves the model (into --dir, else a new
// directory under $TMPDIR, which stays after exit).
#include "dist/dist.h"
#include "flowgraph.h"
#include "examples/example_util.h"

using namespace fg;

int main(int argc, char** argv) {
  dist::init(&argc, &argv);
  std::vector<char*> args(argv, argv + argc);
  const auto dir = examples::take_flag(args, "--dir");
  const auto flags = examples::parse_flags(static_cast<int>(args.size()), args.data(), 20, " [--dir DIR]");
  const bool root = dist::rank() == 0;
  const auto mnist = examples::load_mnist_or_exit(flags);
  const int64_t n_inputs = 28 * 28, n_hidden1 = 300, n_hidden2 = 100, n_outputs = 10;

  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, n_inputs}, "X");
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

  auto y = placeholder(g, i32, Shape::unknown(), "y");
  auto x_entropy = nn::sparse_softmax_cross_entropy_with_logits(y, logits);
  auto loss = reduce_mean(x_entropy, {}, "loss");
  auto extra_update_ops = g.get_collection(GraphKeys::UPDATE_OPS);
  dist::DistributedOptimizer optimizer(train::GradientDescentOptimizer(0.01));
  Operation* training_op = optimizer.minimize(loss);
  auto accuracy = reduce_mean(cast(nn::in_top_k(logits, y, 1), f32), {}, "accuracy");
  auto init = global_variables_initializer(g);
  train::Saver saver(g);

  Session sess(g);
  sess.run(init);
  dist::broadcast_global_variables(sess);
  auto step = sess.make_callable({training, X, y}, {}, {training_op, extra_update_ops});
  const Tensor on(true);
  examples::run_epochs(flags, mnist, flags.batch_size > 0 ? flags.batch_size : 200, sess, X, y, accuracy,
                       [&](const Tensor& xb, const Tensor& yb) { step({on, xb, yb}); }, "Validation Accuracy",
                       {dist::rank(), dist::size()}, root);
  if (root) {
    examples::CheckpointDir checkpoints(dir, "batch_norm_mpi");
    std::printf("saved %s (%d ranks)\n", saver.save(sess, checkpoints / "my_model_final.ckpt").c_str(), dist::size());
  }
  return 0;
}
