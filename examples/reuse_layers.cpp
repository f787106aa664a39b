// The seed's cells [19] and [20]: reusing the lower layers of a trained model.
//
// [19] trains the five-layer DNN (train_dnn's graph, n_hidden1 bug kept: all four hidden layers
// have 300 units) for 20 epochs and saves every variable with Saver() to my_model.ckpt.
// [20] runs the initializer again in a new session of the same graph, restores only
// hidden1-3 through Saver(reuse_vars), reuse_vars = GLOBAL_VARIABLES matching "hidden[123]"
// (a regex matched from the start of the name), trains 20 more epochs and saves everything to
// my_model_new.ckpt. The seed printed "Epoch: 0 Validation set accuracy: 0.9404" ...
// "Epoch: 15 ... 0.9696" for [20] (its output stops at epoch 15).
//
// Standalone by default: [19] trains for --pretrain-epochs (20) into --dir (default a new
// directory under $TMPDIR, kept); its lines read "Epoch: N [19] Validation set accuracy". With
// --pretrained PREFIX, [19] is skipped and [20] restores from that checkpoint.
#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  const auto opts = examples::parse_reuse_flags(argc, argv, 20);
  const auto& flags = opts.flags;
  const auto mnist = examples::load_mnist_or_exit(flags);
  const int64_t batch_size = flags.batch_size > 0 ? flags.batch_size : 200;
  const examples::CheckpointDir dir(opts.dir, "reuse_layers");

  // Both cells run on one graph, as in the seed.
  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  const examples::Cell19 m = examples::build_cell19(g);

  // "Defining the savers": reuse_vars are hidden1-3's kernels and biases.
  auto reuse_vars = g.get_variables(GraphKeys::GLOBAL_VARIABLES, "hidden[123]");
  train::Saver reuse_saver(reuse_vars);
  auto init = global_variables_initializer(g);
  train::Saver saver(g);
  std::printf("reuse_vars:");
  for (const auto& v : reuse_vars) std::printf(" %s", v.name().c_str());
  std::printf("\n");

  const Tensor on(true);
  std::string model_path;
  examples::summarize(flags, m.loss, m.accuracy);
  if (opts.pretrained) {
    model_path = *opts.pretrained;
  } else {
    // [19]: train once to get the lower layers.
    Session sess(g);
    sess.run(init);
    std::printf("[19] training the lower layers for %d epochs\n", opts.pretrain_epochs);
    examples::Flags pf = flags;
    pf.epochs = opts.pretrain_epochs;
    pf.logdir = examples::pretrain_logdir(flags);
    auto step = sess.make_callable({m.X, m.y, m.training}, {}, {m.training_op});
    examples::run_epochs(pf, mnist, batch_size, sess, m.X, m.y, m.accuracy,
                         [&](const Tensor& xb, const Tensor& yb) { step({xb, yb, on}); },
                         "[19] Validation set accuracy");
    model_path = saver.save(sess, dir / "my_model.ckpt");
    std::printf("[19] saved %s\n", model_path.c_str());
  }

  // [20]: train again, this time starting from the restored lower layers.
  Session sess(g);
  sess.run(init);
  if (!examples::restore_pretrained(sess, reuse_saver, model_path)) return 1;
  auto step = sess.make_callable({m.X, m.y, m.training}, {}, {m.training_op});
  examples::run_epochs(flags, mnist, batch_size, sess, m.X, m.y, m.accuracy,
                       [&](const Tensor& xb, const Tensor& yb) { step({xb, yb, on}); },
                       "Validation set accuracy");
  examples::save_new_model(sess, saver, dir);
  return 0;
}
