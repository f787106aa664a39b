// The seed's "Faster Optimizers" and "Learning Rate Scheduling" cells, each training the
// 784-300-100-10 ReLU net on MNIST (batch 200): GD 0.01, Momentum 0.9, Nesterov, Adagrad 0.01,
// RMSProp, Adam 0.001, and Momentum 0.9 on exponential_decay(0.1, step, 10000, 0.1).
//
// Ported as written, bug included: the seed's RMSProp cell passes `epsilon=True`, which Python
// reads as epsilon = 1.0 (TF1's default is 1e-10).
// Prints one line per optimizer per epoch and a final table. --only NAME runs one optimizer.
#include <cstring>
#include <functional>

#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

namespace {

struct Case {
  const char* name;
  std::function<Operation*(Graph&, const Output& loss)> make_training_op;
};

struct Result {
  std::string name;
  float accuracy = 0;
  double seconds_per_epoch = 0;
};

Result train_one(const Case& c, const examples::Flags& flags, const data::Mnist& mnist) {
  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, 784}, "X");
  auto y = placeholder(g, i32, {-1}, "y");
  Output logits;
  {
    auto s = g.name_scope("dnn");
    auto hidden1 = layers::dense(X, 300, {.activation = nn::relu, .name = "hidden1"});
    auto hidden2 = layers::dense(hidden1, 100, {.activation = nn::relu, .name = "hidden2"});
    logits = layers::dense(hidden2, 10, {.name = "outputs"});
  }
  Output loss, accuracy;
  {
    auto s = g.name_scope("loss");
    loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits), {}, "loss");
  }
  Operation* training_op;
  {
    auto s = g.name_scope("train");
    training_op = c.make_training_op(g, loss);
  }
  {
    auto s = g.name_scope("eval");
    accuracy = reduce_mean(cast(nn::in_top_k(logits, y, 1), f32), {}, "accuracy");
  }
  examples::export_graph(flags, g, c.name);
  // With --logdir, each optimizer is a run of its own (LOGDIR/<name>), as TensorBoard compares them.
  examples::Flags run_flags = flags;
  if (!run_flags.logdir.empty()) run_flags.logdir += "/" + std::string(c.name);
  examples::summarize(run_flags, loss, accuracy);
  examples::SummaryLog log(run_flags.logdir, g);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  auto step = sess.make_callable({X, y}, {}, {training_op});
  RandomEngine rng(flags.seed);
  Result r{c.name};
  double total = 0;
  for (int epoch = 0; epoch < flags.epochs; ++epoch) {
    examples::Stopwatch watch;
    auto batches = data::shuffle_batch(mnist.train.images, mnist.train.labels,
                                       flags.batch_size > 0 ? flags.batch_size : 200, rng);
    examples::Progress progress(epoch, batches.num_batches());
    int64_t done = 0;
    for (auto& [xb, yb] : batches) {
      step({xb, yb});
      progress.update(++done);
    }
    total += watch.seconds();
    const FeedDict validation = {{X, mnist.validation.images}, {y, mnist.validation.labels}};
    if (log.active()) {
      auto fetched = sess.run(validation, {accuracy, log.merged()});
      r.accuracy = fetched[0].scalar<float>();
      log.add(fetched[1], (epoch + 1) * batches.num_batches());
    } else {
      r.accuracy = sess.run(validation, accuracy).scalar<float>();
    }
    std::printf("%-22s Epoch: %d Validation accuracy: %.4f\n", c.name, epoch, r.accuracy);
    std::fflush(stdout);
  }
  r.seconds_per_epoch = flags.epochs > 0 ? total / flags.epochs : 0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    else args.push_back(argv[i]);
  }
  const auto flags = examples::parse_flags(static_cast<int>(args.size()), args.data(), 10, " [--only NAME]");
  const auto mnist = examples::load_mnist_or_exit(flags);
  const std::vector<Case> cases = {
      {"GradientDescent", [](Graph&, const Output& loss) { return train::GradientDescentOptimizer(0.01).minimize(loss); }},
      {"Momentum", [](Graph&, const Output& loss) { return train::MomentumOptimizer(0.01, 0.9).minimize(loss); }},
      {"Nesterov", [](Graph&, const Output& loss) {
         return train::MomentumOptimizer(0.01, 0.9, {.use_nesterov = true}).minimize(loss);
       }},
      {"Adagrad", [](Graph&, const Output& loss) { return train::AdagradOptimizer(0.01).minimize(loss); }},
      {"RMSProp", [](Graph&, const Output& loss) {
         // epsilon=True in the seed: 1.0.
         return train::RMSPropOptimizer(0.1, {.decay = 0.9, .momentum = 0.9, .epsilon = 1.0}).minimize(loss);
       }},
      {"Adam", [](Graph&, const Output& loss) { return train::AdamOptimizer(0.001).minimize(loss); }},
      {"Momentum+ExpDecay", [](Graph& g, const Output& loss) {
         auto global_step = variable(constant(g, Tensor(int64_t{0})), {.name = "global_step", .trainable = false});
         auto learning_rate = train::exponential_decay(0.1, global_step.value(), 10000, 0.1);
         return train::MomentumOptimizer(learning_rate, 0.9).minimize(loss, {.global_step = global_step});
       }},
  };
  std::vector<Result> results;
  for (const Case& c : cases)
    if (only.empty() || only == c.name) results.push_back(train_one(c, flags, mnist));
  if (results.empty()) {
    std::fprintf(stderr, "no optimizer named '%s'\n", only.c_str());
    return 2;
  }
  std::printf("\n| optimizer | validation accuracy after %d epochs | seconds per epoch |\n|---|---|---|\n",
              flags.epochs);
  for (const Result& r : results)
    std::printf("| %s | %.4f | %.2f |\n", r.name.c_str(), r.accuracy, r.seconds_per_epoch);
  return 0;
}
